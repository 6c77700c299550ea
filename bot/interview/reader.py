"""Reads a free-text answer as one of a question's graded options, deterministically (no LLM).

Three voices are combined:
* the question's own words — its option phrases and labels (rubric `phrases:`), matched by containment, and
  ignored when negated ("没有书面方案" is not "书面方案"; "问卷没发过" is not "问卷");
* similarity to the options' labels and example answers: weighted cosine of character bigrams, where a bigram
  found in several options' examples weighs less, the answer's bigrams outside the examples' vocabulary (names,
  numbers, details) are ignored, and bigrams that are general cues ("还没", "做了") are left to the cue voice;
* general readiness cues, read clause by clause: a small lexicon scanned by longest match, where each cue is
  "done" (1.0), "partly" (0.5) or "not done" (0.0). A negator before a cue flips it — to "not done" for plain
  facts ("没有负责人"), to "partly" for quality words ("没有书面方案", "没系统整理"), to "done" for impatience
  ("不急着见效"); double negation ("不是没做", "没有什么没考虑到") reads as done. Clauses are then combined: done
  in one clause and not done in another ("A 做了，B 还没") is partly; the clause after a contrast (但/不过/只是)
  weighs more than the one before it.

With e5, the product's reader decides from the voices with a model fitted on the labelled answers
(bot/interview/calibration.py, knowledge/reader_model.yaml): each option's probability, and that of "no option", from
the e5 similarities, the rules' scores, the phrases, the cues, the answer's shape and its likeness to labelled
non-answers; the most likely option is recorded when its probability reaches the model's threshold (chosen so that
misreads stay at most 2% of all answers on sets the fit never saw), otherwise the interview asks again. Without the
model file (or with the rules alone), the hand-set agreement rules below decide.

Confidence reflects agreement between the three voices: it drops when only general cues speak and they cover
little of the answer (clauses with content but no cue may say the opposite), and when another option's examples are
clearly closer or another option's phrase is present. The threshold (THRESHOLD) is calibrated on dev + holdout.

The shape of the answer bounds what may be recorded, whichever voice proposes it: a split answer ("A 做了，B 还没")
is neither end of the scale unless the question's own phrase for that end is in it; "A 做好了，但 <unread words>" is
not the top (the contrast announces a reservation); a statement that is itself hedged ("应该能吧", "差不多了吧应该")
or dodged ("一两句讲不清楚", "depends") is never recorded. Rules not sure on their own but pointing at the
embedding's nearest option (with a small lead) are two independent voices agreeing, and are recorded. Toneless pinyin
("hai mei kaishi", "yijing xie cheng fangan le") is read as the characters of the question's own words and the
general ones (bot/knowledge/pinyin.py), 木有 as 没有; a message with an
asking clause ("…指什么？…"), a modal or copula A-not-A ("是不是…就行") or a modal before an asking word ("一般要…
多少") is a side question unless it embeds the question in a statement ("人够不够都不知道").

A bare option number or label ("1", "第二个", exact label) is that option. Empty, off-topic, hedged ("应该可以吧")
or vague ("看情况") answers, and answers whose evidence is weak or split, read as None: the interview then asks
again offering the options — asking again is cheaper than misreading.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import yaml

from bot.errors import RubricError
from bot.interview.answers import AnswerBank
from bot.interview.calibration import ReaderModel, Voices
from bot.interview.rubric import Option, Question
from bot.knowledge.embeddings import E5_MODEL_ID, TextVectors
from bot.knowledge.lexical import DEFAULT_LEXICON
from bot.knowledge.pinyin import Transcriber

# "Partly" leans a little towards done: on four-option questions the second option is the "partly done" one.
PARTLY = 0.6
SIM_FLOOR = 0.08
# Calibrated on dev + holdout jointly: the lowest threshold keeping the rules' misreads on their union ≤ 2%.
THRESHOLD = 0.35
_PREFIXES = ("还", "都", "也", "一直", "完全", "根本", "从来")


@dataclass(frozen=True)
class ReaderLexicon:
    """The `reader:` part of knowledge/lexicon.yaml: cue → (kind, value, value when negated or None)."""

    entries: dict[str, tuple[str, float, float | None]]
    maxlen: int
    # Bigrams that are general cues themselves ("还没", "已经", "做了"): the cue voice reads them, so example
    # similarity ignores them and stays an independent voice.
    cue_bigrams: frozenset[str]

    @classmethod
    def load(cls, path: Path | None = None) -> ReaderLexicon:
        """Reads and expands the cue groups ("还没…", "都没…" read like "没…")."""
        path = path or DEFAULT_LEXICON
        try:
            groups = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["reader"]["cues"]
            lex: dict[str, tuple[str, float, float | None]] = {}
            for g in groups:
                value = PARTLY if g["value"] == "partly" else float(g["value"])
                negated = None if g.get("negated") is None else float(g["negated"])
                for w in str(g["words"]).split():
                    lex[w.lower()] = (str(g["kind"]), value, negated)
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
            raise RubricError([f"cannot read the reader lexicon ({e.__class__.__name__}: {e})"], path=str(path)) from e
        for w, v in list(lex.items()):
            if v[0] in ("N", "P", "NEG") and w[0] in "没未不":
                for pre in _PREFIXES:
                    lex.setdefault(pre + w, v)
        bigrams = {w for w in lex if len(w) == 2} | {
            w[i : i + 2] for w, (kind, _, _) in lex.items() if kind in ("NEG", "N", "X", "H", "U", "DN") and len(w) <= 3
            for i in range(len(w) - 1)}
        return cls(lex, max(len(k) for k in lex), frozenset(bigrams))


@functools.cache
def default_lexicon() -> ReaderLexicon:
    """The packaged lexicon, read once."""
    return ReaderLexicon.load()


# Contrast conjunctions: the clause after weighs more.
_CONTRAST_RE = re.compile(r"但是|但|不过|(?<!不)只是|可是|然而|却")
# A clause opening with a bare 可 is a contrast too ("老板是认的，可季度目标里还是…"), not 可以/可能/可靠….
_OPENING_KE_RE = re.compile(r"^可(?![以能行靠控信爱惜视用选是])")
_CLAUSE_RE = re.compile(r"[，,；;。!！?？:：\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_PUNCT_RE = re.compile(r"[\s\W_]+")
# Bare option choices.
_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4, "a": 1, "b": 2, "c": 3, "d": 4}
_CHOICE_RE = re.compile(r"^(?:选|选择|我选|答案是|是)?(?:第)?([一二两三四1234])(?:个|项|条|号|个选项|选项)?吧?$"
                        r"|^(?:选|选择|我选)?(?:选项)?([abcd1234])$")
# "只" + up to two characters + 了 ("只规划了", "只分了"): a part of the work.
_ONLY_RE = re.compile(r"只[\u4e00-\u9fff]{1,2}了")
# "就/只/才 + a small number": merely that much ("就一页 PPT", "总共就几百家客户").
_ONLY_FEW_RE = re.compile(r"(?:就|只|才|仅)(?:有)?(?:一|两|几|1|2)(?:十|百|千)?(?:个|页|张|次|条|份|家|人|点|些|句)")
# A verb with the resultative complement 好了 ("列好了", "装好了"): done; not 还好了, 就好了, 最好了….
_RESULT_DONE_RE = re.compile(r"(?<![还就最挺很太更正刚只友良美爱不没])[\u4e00-\u9fff]好了")
# "别的/其他…还没": something is done, the rest is not.
_REST_NOT_RE = re.compile(r"(?:别的|其他|其余|剩下的?)[\u4e00-\u9fff]{0,4}?(?:还|都|也)?(?:没|未)")
# "只关心/只看…": a narrow, rough view.
_ONLY_LOW_RE = re.compile(r"只(?:关心|看|盯|在乎|管|要|图)")
# "有" in a clause with no other cue: something is there ("门店有二维码物料，线上还没设计").
_HAS_RE = re.compile(r"(?<![没无])有(?!没有|点|些|一些|想法|个数)")
# "连…都没有": a strong none.
_EVEN_NOT_RE = re.compile(r"连[\u4e00-\u9fff\w]{1,10}?(?:都|也)(?:没|不|未)")
# "具体…还没…", "细节…没…": the outline exists, the details do not.
_DETAIL_NOT_RE = re.compile(r"(?:具体|细节|细的|详细)[^，,；;。]{0,10}?(?:还|都|也)?(?:没|未)")
_FUTURE_RE = re.compile(r"(?:下周|下个?月|明年|回头|过两天|年后)[\u4e00-\u9fff]{0,2}(?:开会|再|定|做|弄|搞|上)")


_EN_PHRASE_RE = re.compile(r"\b(not|in)\s+(yet|sure|progress)\b")


# Internet and dialect spellings of the general negator (木有 = 没有, Cantonese 冇).
_SLANG = {"木有": "没有", "冇": "没有"}
_SLANG_RE = re.compile("|".join(_SLANG))


_PEERS = 10  # labelled answers to other questions the peer voice reads
_PEER_SHARPNESS = 50.0  # how much more the nearest of them counts (a cosine 0.02 further: e^-1)
_GENERAL_PINYIN = Transcriber(())  # the general words only ("hai mei kaishi" → 还没开始)


def _norm(text: str, pinyin: Transcriber = _GENERAL_PINYIN) -> str:
    """NFKC, lower case, slang and pinyin read as characters (`pinyin`: the question's vocabulary)."""
    t = pinyin.transcribe(unicodedata.normalize("NFKC", text).strip()).lower()  # before lower case: KPI is no pinyin
    t = _SLANG_RE.sub(lambda m: _SLANG[m.group(0)], t)
    return _EN_PHRASE_RE.sub(lambda m: m.group(1) + "_" + m.group(2), t)  # "not yet" is one cue


def _bigrams(text: str) -> set[str]:
    t = _PUNCT_RE.sub("", text)
    return {t[i : i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def _similarity(a: set[str], b: set[str], weight: dict[str, float]) -> float:
    """Weighted cosine of two bigram sets; `a` is already restricted to the question's example vocabulary."""
    shared = a & b
    if len(shared) < 2:
        return 0.0  # one shared bigram ("了一" in "做了一半" / "给了一年") is chance
    num = sum(weight.get(g, 1.0) for g in shared)
    return num / ((sum(weight.get(g, 1.0) for g in a) * sum(weight.get(g, 1.0) for g in b)) ** 0.5)


ReadingKind = Literal["answer", "unclear", "question"]


@dataclass(frozen=True)
class Reading:
    """The reader's verdict: the level, or None when unsure (then the interview asks again).

    `kind` is "answer" when `level` is set, "unclear" when the reader is unsure, and "question" when the message
    is a side question ("社群一般建多大比较合适？") rather than an answer: it must never be recorded as one.
    """

    level: int | None
    confidence: float
    reason: str
    kind: ReadingKind = "answer"


_QUESTION_END_RE = re.compile(r"(?:[?？]|吗)\s*[~～。.!！]*$")
_QUESTION_START_RE = re.compile(r"^(?:请问|想问|问一下|想知道|怎么|如何|为什么|为啥|多少|哪些|哪个|什么是|是不是应该|要不要|能不能|"
                                r"该不该|有没有|会不会|可不可以|能否|咋|how|what|why|should|which|when|is it|do we|can we)")
# Asking words inside a sentence ("KPI一般定哪几个比较好"): a question unless the text also reads as a state.
_QUESTION_WORD_RE = re.compile(r"哪(?:几|些|种|方面)|多少|多大|多久|多长|几个|怎么(?:做|办|弄|搞|定|分|写|设计|判断|算)|"
                               r"咋(?:做|办|弄|搞|定|分|写|算|整)?|是啥|啥(?:意思|区别|叫)|什么(?:意思|区别)|有(?:什么|啥)区别|指什么|"
                               r"如何|什么样|为什么|为啥|要不要|该不该|能不能|可不可以|是否(?:需要|应该|要)|好不好|"
                               r"比较好|合适|有没有必要")  # English asks up front ("what …", "how …") or with "?"
# A-not-A ("能不能", "会不会", "有没有", "够不够"): the interrogative form of a verb; of a modal or the copula
# ("是不是", "要不要", "能不能") it asks for advice even inside a sentence.
_A_NOT_A_RE = re.compile(r"([\u4e00-\u9fff])[不没]\1")
_MODAL_A_NOT_A_RE = re.compile(r"是不是|能不能|要不要|该不该|可不可以|行不行|需不需要|用不用|应不应该")
# A question embedded in a statement ("不知道该看哪些指标", "人够不够都不知道", "看老板怎么定"): it answers.
_EMBEDDING_RE = re.compile(r"不知道|不清楚|不确定|不了解|说不好|说不准|没想好|没想过|没定|还没|看(?!看)|取决|考虑|评估|商量|讨论|拿不准|没底|没数")
# A modal before an asking word ("一般要访谈多少人才够", "该建几个群"): asks for advice, whatever cue it contains.
_MODAL_ASK_RE = re.compile(r"(?:一般|通常|应该|需要|该|要|得)[^，,；;。]{0,8}?(?:多少|几(?:个|次|人|天|家)|哪(?:些|几|个)|多久|多大|多长)")
# A clause ending in a question mark that holds an asking word ("三个维度具体指什么？心理维度咋做"); a bare topic
# echoed with a question mark ("画像？没有") is not one.
_ASK_CLAUSE_RE = re.compile(r"([^，,；;。!！?？]*)[?？]")
_ASK_WORD_RE = re.compile(r"吗|什么|啥|咋|怎么|怎样|如何|哪|多少|几[个次种]|为什么|为啥|是不是|\b(?:what|how|why|which|who|when)\b")


def is_side_question(text: str) -> bool:
    """Whether a message asks something rather than answers ("社群一般建多大比较合适？", "KPI一般定哪几个比较好")."""
    t = text.strip().lower()
    if _QUESTION_END_RE.search(t) or _QUESTION_START_RE.match(t):
        return True
    if any(_ASK_WORD_RE.search(m.group(1)) or _A_NOT_A_RE.search(m.group(1)) for m in _ASK_CLAUSE_RE.finditer(t)):
        return True
    embedded = bool(_EMBEDDING_RE.search(t))
    if not embedded and (_MODAL_A_NOT_A_RE.search(t) or _MODAL_ASK_RE.search(t)):
        return True  # "小团队是不是一个人身兼多职就行", "深度调研一般要访谈多少人才够"
    # "不知道该看哪些指标" answers (not done); "一般定哪几个比较好" asks: a readiness cue makes it an answer.
    return bool(_QUESTION_WORD_RE.search(t)) and not embedded and not any(c.values for c in _clauses(_norm(t)))


class Embedder(Protocol):
    """What the reader needs of an embedding model (the knowledge base's `E5Embeddings` is one)."""

    def embed_query(self, text: str) -> list[float]:
        """Embeds one text."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeds several texts in one batch."""
        ...


@dataclass(frozen=True)
class SemanticParams:
    """How the embedding voice is combined with the rules (chosen with `python -m bench.reader_eval --grid` on the
    team's three sets: the point with the fewest misreads among those keeping most answers read)."""

    accept_margin: float = 0.03  # the nearest option's examples beat the next option's by this cosine margin
    min_similarity: float = 0.78  # ... and are at least this close (further: the answer is about something else)
    veto_confidence: float = 0.5  # sure rules pointing two or more levels away veto the embedding (one level: +0.2)
    tie_margin: float = 0.005  # sure rules decide alone only where the embedding cannot tell the options apart
    # Rules not sure on their own but pointing at the embedding's nearest option, which leads by this margin: two
    # independent voices agree, with at least this rule confidence.
    agree_margin: float = 0.01
    agree_confidence: float = 0.2
    # A message closer, by this margin, to a labelled vague, off-topic or side-question message than to any option's
    # examples is not an answer (None: not used).
    non_answer_margin: float | None = 0.01
    neighbours: int = 1  # an option's similarity: the mean of the answer's `neighbours` closest examples of it


@dataclass(frozen=True)
class _RuleVerdict:
    level: int
    confidence: float
    evidence: float
    detail: str
    scores: dict[int, float] = field(default_factory=dict)  # each level's rule score (phrases + bigrams + cues)
    # The answer hedges or dodges its own statement ("应该可以吧", "看情况", "差不多了吧应该"): nobody may record it.
    abstain: bool = False
    hits: dict[int, float] = field(default_factory=dict)  # the question's own phrases found, per level
    mixed: bool = False  # done here, not there: neither end of the scale
    # "A 做好了，但 <words the rules cannot read>": the contrast announces a reservation, so not the top level.
    reservation: bool = False
    cue: float | None = None  # readiness implied by the general cues, 0–1 (None: none read)
    coverage: float = 0.0  # how much of the answer the cues read

    def sure(self, threshold: float) -> bool:
        return self.confidence >= threshold and self.evidence >= 0.4


@dataclass
class _Clause:
    text: str
    weight: float
    values: list[float]
    hedged: bool
    vague: bool
    phrase: bool = False  # one of the question's own option phrases is in it


def _tokens(clause: str) -> list[tuple[int, str, str, float, float | None]]:
    """Longest-match scan of the lexicon: (position, cue, kind, value, negated value)."""
    lex = default_lexicon()
    out = []
    i, n = 0, len(clause)
    while i < n:
        ch = clause[i]
        if ch.isascii() and ch.isalpha():  # an ASCII word: look it up whole ("no" is not inside "know")
            j = i
            while j < n and (clause[j].isascii() and (clause[j].isalnum() or clause[j] == "_")):
                j += 1
            word = clause[i:j]
            if word in lex.entries:
                out.append((i, word, *lex.entries[word]))
            i = j
            continue
        for ln in range(min(lex.maxlen, n - i), 0, -1):
            w = clause[i : i + ln]
            if w in lex.entries:
                out.append((i, w, *lex.entries[w]))
                i += ln
                break
        else:
            i += 1
    return out


# A wh-word with 都/也 is "any, every" ("啥人都有", "什么都行"), not a readiness statement.
_WH_ANY_RE = re.compile(r"(?:啥|什么|谁|哪[里儿个种]?)[\u4e00-\u9fff]{0,3}?(?:都|也)(?:有|行|可以|是|能)")


def _read_clause(clause: str) -> tuple[list[float], bool, bool]:
    """Readiness values found in one clause, whether it hedges, whether it is vague."""
    if _EVEN_NOT_RE.search(clause):
        return [0.0], False, False  # "连一个专职运营都没有"
    clause = _WH_ANY_RE.sub(lambda m: "·" * len(m.group(0)), clause)
    toks = _tokens(clause)
    values: list[float] = []
    hedged = vague = False
    last_neg = ""
    imp_neg_end: int | None = None
    modifiers: list[tuple[int, float]] = []  # quality words read as done, with their negated value
    neg_end: int | None = None  # end position of the last negator; its scope is a few characters
    for pos, cue, kind, value, negated in toks:
        if kind == "NEG":
            neg_end, last_neg = pos + len(cue), cue.lstrip("还都也一直完全根本从来")
            continue
        if kind == "X":
            continue
        if kind == "H":
            hedged = True
            continue
        if kind == "U":
            vague = True
            continue
        neg = neg_end is not None and pos - neg_end <= 4
        if kind == "I" and neg and (clause[pos + len(cue) : pos + len(cue) + 2].lstrip().startswith("就")
                                    or "就" in clause[neg_end or 0 : pos]):
            values.append(value)  # "一个月不见效就砍", "三个月没效果就砍掉": a condition, not patience
            continue
        if kind == "I" and imp_neg_end is not None and pos - imp_neg_end <= 3:
            values.append(1.0)
            continue
        if kind == "DI":
            values.append(1.0)
            imp_neg_end = pos + len(cue)
            continue
        if kind == "DN":
            values.append(1.0)
        elif kind == "R" and negated is not None and 0.0 < negated < 1.0 and not neg:
            values.append(value)
            modifiers.append((len(values) - 1, negated))  # a quality word ("专门", "系统"): it may be negated later
        elif neg and negated is not None:
            values.append(negated)
        elif neg and kind == "PL":
            values.append(0.0)
        else:
            values.append(value)
        if kind == "N" and (cue[-1] in "没不未无" or cue.endswith("没有")):
            neg_end, last_neg = pos + len(cue), "没"  # "压根没做过": the negation scopes what follows
    # "专门给冷启动的钱和时间没谈过": a negated predicate after a quality word negates the thing it qualifies.
    if modifiers and neg_end is not None and last_neg[:1] in ("没", "未"):
        last_mod = max(p for p, _, k, _, n in toks if k == "R" and n is not None and 0.0 < n < 1.0)
        plain_after = any(p > last_mod and k == "R" and n == 0.0 for p, _, k, _, n in toks)
        others = [v for i, v in enumerate(values) if i not in {j for j, _ in modifiers}]
        if neg_end > last_mod + 1 and not plain_after and all(v <= 0.9 for v in others):
            for j, nv in modifiers:
                values[j] = nv
    if not values and neg_end is None and _RESULT_DONE_RE.search(clause):
        values.append(1.0)  # "KPI 列好了": a verb with the resultative 好了 is done
    if neg_end is not None and not values and (last_neg[0] in "没未" or len(clause) <= 3):
        values.append(0.0)  # a bare negator ("还没", "人还没安排"); a bare 不 only alone ("不打扰" says little)
    if _ONLY_FEW_RE.search(clause) and values and max(values) >= 0.9:
        values = [PARTLY if v >= 0.9 else v for v in values]  # "做了个 persona，就一页 PPT"
    elif _ONLY_FEW_RE.search(clause) and not values:
        values = [0.35]
    if _ONLY_LOW_RE.search(clause):
        values = [0.35]  # "老板只关心加了多少好友"
    if _ONLY_RE.search(clause) and 1.0 in values:
        values = [PARTLY if v == 1.0 else v for v in values]
    if _REST_NOT_RE.search(clause):
        values = [PARTLY]
    if _DETAIL_NOT_RE.search(clause):
        values = [PARTLY]  # "具体给什么还没想好": the outline is there, the details are not
    if _FUTURE_RE.search(clause):
        values = [v for v in values if v < 1.0] or [0.25]
    return values, hedged, vague


def _unread_chars(text: str) -> int:
    """How many of a clause's characters no cue of the lexicon covers (its content the cues cannot read)."""
    return len(_PUNCT_RE.sub("", text)) - sum(len(tok[1]) for tok in _tokens(text))


def _clause_value(vs: list[float]) -> float:
    if max(vs) >= 0.9 and min(vs) <= 0.1:
        return PARTLY  # "有方案没执行" inside one clause
    if max(vs) >= 0.9 and min(vs) <= 0.6:
        return PARTLY  # "做了一半": a quantity word bounds the done
    return sum(vs) / len(vs)


def _clauses(text: str) -> list[_Clause]:
    out: list[_Clause] = []
    parts = [p for p in _CLAUSE_RE.split(text) if p and p.strip()]
    for part in parts:
        # A contrast inside a clause splits it too: "有方案但没执行"; the part after it weighs more.
        bounds = [0] + [m.start() for m in _CONTRAST_RE.finditer(part) if m.start() > 0] + [len(part)]
        for k in range(len(bounds) - 1):
            piece = part[bounds[k] : bounds[k + 1]]
            after = bool(_CONTRAST_RE.match(piece))
            piece = _CONTRAST_RE.sub("", piece, count=1) if after else piece
            if not after and k == 0 and out and _OPENING_KE_RE.match(piece.strip()):
                after, piece = True, piece.strip()[1:]
            piece = piece.strip()
            if not piece:
                continue
            values, hedged, vague = _read_clause(piece)
            out.append(_Clause(piece, 1.5 if after else 1.0, values, hedged, vague))
    for i in range(len(out) - 1):
        if out[i + 1].weight > 1.0 and out[i].weight == 1.0:
            out[i].weight = 0.75  # the clause before a contrast weighs less
    return out


def _combine(clauses: list[_Clause]) -> tuple[float | None, bool]:
    """One readiness fraction from the clauses' values, and whether they were mixed (done here, not there)."""
    for before, after in zip(clauses, clauses[1:], strict=False):
        # "人是够的，但还没实际跑过": a contrast turns the polarity, so the clause before a not-done one says something
        # is there, even in words no cue reads.
        if (before.weight < 1.0 and after.weight > 1.0 and not before.values and after.values
                and max(after.values) <= 0.1 and _unread_chars(before.text) >= 2):
            before.values.append(1.0)
    if sum(1 for c in clauses if c.values) >= 1 and len(clauses) > 1:
        for c in clauses:
            if not c.values and _HAS_RE.search(c.text) and "哪" not in c.text and not _WH_ANY_RE.search(c.text):
                c.values.append(1.0)  # not "哪里有人就往哪拉", "啥人都有"
    per = [(_clause_value(c.values), c.weight) for c in clauses if c.values]
    if not per:
        return None, False
    vals = [v for v, _ in per]
    done_w = sum(w for v, w in per if v >= 0.9)
    part_w = sum(w for v, w in per if 0.1 < v < 0.9)
    if done_w and min(vals) <= 0.1:
        return PARTLY, True  # "A 做了，B 还没"
    if done_w and part_w >= 0.5 * done_w:
        return PARTLY, True  # "A 做好了，B 还在做"; one rough detail among several done ones is not a split
    if max(vals) >= 0.5 and min(vals) <= 0.1:
        return PARTLY, True  # "没有书面方案，但心里有数"
    if max(vals) <= 0.3 and min(vals) <= 0.1:
        return 0.0, False  # "没有书面方案，也没有负责人": nothing positive anywhere
    return sum(v * w for v, w in per) / sum(w for _, w in per), False


class AnswerReader:
    """Maps free text to an option level; `threshold` is the confidence below which it asks again."""

    def __init__(self, *, threshold: float = THRESHOLD, embedder: Embedder | None = None,
                 params: SemanticParams | None = None, bank: AnswerBank | None = None,
                 vectors: TextVectors | None = None, model: ReaderModel | None = None) -> None:
        self.threshold = threshold
        self.embedder = embedder
        # The fitted decision (bot/interview/calibration.py); without it, the hand-set agreement rules below.
        self.model = model if embedder is not None else None
        self.semantic = params or SemanticParams()
        self.bank = bank or AnswerBank()
        self._vectors = vectors if vectors is not None else (TextVectors(embedder) if embedder is not None else None)
        self._non_answers: tuple[np.ndarray, tuple[str, ...]] | None = None
        self._warming = threading.Event()
        self._last: tuple[str, np.ndarray] | None = None
        self._cache: dict[Question, tuple] = {}
        self._option_vectors: dict[Question, list[tuple[int, np.ndarray]]] = {}
        self._transcribers: dict[Question, Transcriber] = {}
        self._peer_rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _examples(self, question: Question, option: Option) -> tuple[str, ...]:
        """The option's examples: the rubric's, then the labelled answers to this question meaning this level."""
        return (*option.examples, *self.bank.examples(question.id, option.level))

    def _pinyin(self, question: Question) -> Transcriber:
        """Pinyin read as the words of the question, its options and their examples."""
        found = self._transcribers.get(question)
        if found is None:
            texts = [question.text, *(t for o in question.options for t in (o.label, *self._examples(question, o)))]
            found = self._transcribers[question] = Transcriber(texts)
        return found

    def _options_matrix(self, question: Question) -> list[tuple[int, np.ndarray]]:
        """Each option's level with the unit vectors of its label and examples (embedded once per question)."""
        cached = self._option_vectors.get(question)
        if cached is None:
            assert self._vectors is not None
            texts = [(o.level, t) for o in question.options for t in (o.label, *self._examples(question, o))]
            rows = self._vectors.matrix([t for _, t in texts])
            cached = [(lv, rows[[i for i, (level, _) in enumerate(texts) if level == lv]])
                      for lv in sorted({lv for lv, _ in texts})]
            self._option_vectors[question] = cached
        return cached

    def warm_up(self, questions: Sequence[Question]) -> None:
        """Embeds every option's examples and the labelled non-answers now (and keeps them for the next start), so
        that no user's first answer waits for it."""
        if self._vectors is None:
            return
        self._warming.clear()
        for question in questions:
            if self._warming.is_set():
                break
            self._options_matrix(question)
        else:
            self._non_answer_matrix()
            self._vectors.embed([r.answer for r in self.bank.rows if r.example])  # the peers' (questions' own)
        self._vectors.save()

    def stop_warm_up(self) -> None:
        """Ends a running `warm_up` after the question it is at (what is embedded by then is kept)."""
        self._warming.set()

    def _vector(self, text: str) -> np.ndarray:
        """The answer's unit vector (the voices of one reading share it)."""
        last = self._last
        if last is not None and last[0] == text:
            return last[1]
        assert self.embedder is not None
        v = np.asarray(self.embedder.embed_query(text), dtype=np.float32)
        v /= max(float(np.linalg.norm(v)), 1e-9)
        self._last = (text, v)
        return v

    def semantic_scores(self, question: Question, text: str) -> dict[int, float]:
        """Per level: the answer's best cosine similarity to the option's label and examples."""
        v = self._vector(text)
        k = self.semantic.neighbours
        if k <= 1:
            return {lv: float((rows @ v).max()) for lv, rows in self._options_matrix(question)}
        return {lv: float(np.sort(rows @ v)[-k:].mean()) for lv, rows in self._options_matrix(question)}

    def _peer_matrix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Every labelled example answer's unit vector, readiness (level over its question's top level in the bank)
        and question — once warm-up has embedded them all (they are the options' examples: until then, None)."""
        if self._peer_rows is None:
            assert self._vectors is not None
            rows = [r for r in self.bank.rows if r.example]
            if not self._vectors.has([r.answer for r in rows]):
                return None
            tops: dict[str, int] = {}
            for r in rows:
                tops[r.question] = max(tops.get(r.question, 0), int(r.level or 0))
            readiness = np.array([(r.level or 0) / max(tops[r.question], 1) for r in rows], dtype=np.float64)
            self._peer_rows = (self._vectors.matrix([r.answer for r in rows]), readiness,
                               np.array([r.question for r in rows], dtype=object))
        return self._peer_rows

    def _peers(self, question: Question, text: str) -> dict[int, float] | None:
        """Per level of `question`: the readiness closeness of the most similar labelled answers to other
        questions (similarity-weighted), 1 = the same readiness. None without any."""
        peers = self._peer_matrix()
        if peers is None:
            return None
        vectors, readiness, questions = peers
        others = questions != question.id
        n = int(others.sum())
        if not n:
            return None
        # Every row's similarity at once (no copy of the matrix per answer); the question's own rows never count.
        sims = np.where(others, (vectors @ self._vector(text)).astype(np.float64), -np.inf)
        k = min(_PEERS, n)
        near = np.argpartition(-sims, k - 1)[:k]
        w = np.exp((sims[near] - sims[near].max()) * _PEER_SHARPNESS)
        top = max(question.max_level, 1)
        return {o.level: float((w * (1.0 - np.abs(readiness[near] - o.level / top))).sum() / w.sum())
                for o in question.options}

    def _non_answer_matrix(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """The labelled non-answers' unit vectors and kinds (embedded once)."""
        if self._non_answers is None:
            assert self._vectors is not None
            rows = self.bank.non_answers
            self._non_answers = (self._vectors.matrix([r.answer for r in rows]), tuple(r.kind for r in rows))
        return self._non_answers

    def _non_answer(self, text: str) -> tuple[float, str]:
        """The closest labelled non-answer: its cosine similarity and kind (0, "" without any)."""
        vectors, kinds = self._non_answer_matrix()
        if not kinds:
            return 0.0, ""
        sims = vectors @ self._vector(text)
        best = int(sims.argmax())
        return float(sims[best]), kinds[best]

    @staticmethod
    def _allowed(question: Question, rules: _RuleVerdict, level: int) -> bool:
        """Whether the rules' reading of the answer's shape admits `level`: a split answer ("A 做了，B 还没") is neither
        end of the scale unless the question's own phrase for that end is in it ("SCRM 已经买了，人还没安排" may be
        the lowest option when its words say so), and a done answer with an unread reservation ("…做好了，但…") is
        not the top."""
        if rules.mixed and level in (0, question.max_level) and not rules.hits.get(level):
            return False
        return not (rules.reservation and level == question.max_level)

    def voices(self, question: Question, text: str) -> Voices | Reading:
        """What each voice says about an answer, or the reading when a plain rule decides it first (empty, an option
        chosen by number or label, a side question, a hedged statement)."""
        first = self._rules(question, text)
        return first if isinstance(first, Reading) else self._voices(question, *first)

    def _rules(self, question: Question, text: str) -> Reading | tuple[str, _RuleVerdict]:
        """The normalised text and the rules' verdict, or the reading when a plain rule decides it first."""
        t = _norm(text, self._pinyin(question))
        early = self._early(question, t)
        if early is not None:
            return early
        rules = self._read_rules(question, t)
        if rules.abstain:
            return Reading(None, min(rules.confidence, 0.2), f"unsure (hedged or vague) {rules.detail}", "unclear")
        return t, rules

    def _voices(self, question: Question, t: str, rules: _RuleVerdict) -> Voices:
        near, kind = self._non_answer(t)
        sims = self.semantic_scores(question, t)
        return Voices(sims, rules.scores, rules.level, rules.confidence, rules.evidence, rules.sure(self.threshold),
                      rules.hits, rules.cue, rules.coverage, rules.mixed, rules.reservation,
                      {lv: self._allowed(question, rules, lv) for lv in sims}, near, kind, question.max_level,
                      self._peers(question, t))

    def _decide_model(self, question: Question, t: str, rules: _RuleVerdict, model: ReaderModel) -> Reading:
        """The fitted decision: the most likely option if likely enough, else ask again (a side question when the
        message is most like a labelled one)."""
        v = self._voices(question, t, rules)
        probs = model.probabilities(v)
        # Below the threshold, the hand-set rules reading the same option are a second, independent opinion.
        hand = self._decide_hand(question, t, rules).level if model.wants_second_opinion(probs) else None
        level, p = model.choose(probs, hand)
        detail = f"p={p:.2f} {rules.detail} e5={ {k: round(x, 3) for k, x in v.e5.items()} } near={v.near:.3f}"
        if level is not None:
            return Reading(level, p, f"model{'+rules' if hand == level else ''} {detail}")
        margin = self.semantic.non_answer_margin or 0.0
        if v.near_kind == "question" and v.near >= max(v.e5.values()) + margin:
            return Reading(None, 0.0, f"like a labelled side question {detail}", "question")
        return Reading(None, min(p, 0.5), f"unsure (model) {detail}", "unclear")

    def _decide(self, question: Question, t: str, rules: _RuleVerdict) -> Reading:
        """The fitted decision when there is a model, else the hand-set one."""
        if self.model is not None:
            return self._decide_model(question, t, rules, self.model)
        return self._decide_hand(question, t, rules)

    def _decide_hand(self, question: Question, t: str, rules: _RuleVerdict) -> Reading:
        """The embedding's nearest option, checked by the rules; unsure (asks again) when they disagree."""
        margin = self.semantic.non_answer_margin
        if margin is not None:
            near, kind = self._non_answer(t)
            top = max(self.semantic_scores(question, t).values())
            if near and near >= top + margin:
                return Reading(None, 0.0, f"like a labelled {kind} message ({near:.3f} vs {top:.3f})",
                               "question" if kind == "question" else "unclear")
        reading = self._decide_voices(question, t, rules)
        if reading.level is not None and not self._allowed(question, rules, reading.level):
            return Reading(None, min(reading.confidence, 0.3), f"unsure (shape) {reading.reason}", "unclear")
        return reading

    def _decide_voices(self, question: Question, t: str, rules: _RuleVerdict) -> Reading:
        p = self.semantic
        sims = self.semantic_scores(question, t)
        ranked = sorted(sims.items(), key=lambda kv: -kv[1])
        (e_best, e_top), (_, e_second) = ranked[0], ranked[1]
        e_margin = e_top - e_second
        detail = f"{rules.detail} e5={ {k: round(v, 3) for k, v in sims.items()} }"
        sure = rules.sure(self.threshold)
        unsure = Reading(None, rules.confidence, f"unsure (rules {rules.level}, e5 {e_best}) {detail}", "unclear")
        if e_top < p.min_similarity:  # nothing like any option's examples
            return Reading(rules.level, rules.confidence, f"rules {detail}") if sure and e_margin < p.tie_margin \
                else unsure
        if sure and rules.level == e_best:
            return Reading(e_best, max(rules.confidence, 0.5), f"rules+e5 {detail}")
        if (rules.level == e_best and e_margin >= p.agree_margin and rules.confidence >= p.agree_confidence
                and rules.evidence >= 0.4):
            return Reading(e_best, max(rules.confidence, 0.4), f"rules~e5 {detail}")
        if e_margin >= p.accept_margin:
            far = abs(rules.level - e_best) >= 2
            if sure and ((far and rules.confidence >= p.veto_confidence)
                         or rules.confidence >= p.veto_confidence + 0.2):
                return unsure  # two voices, two answers: ask rather than guess
            return Reading(e_best, min(1.0, e_margin / (2 * p.accept_margin)), f"e5 {detail}")
        if sure and e_margin < p.tie_margin:
            return Reading(rules.level, rules.confidence, f"rules {detail}")
        return unsure

    def cue_fraction(self, text: str) -> float | None:
        """Readiness implied by general cues, 0–1, or None when there are none."""
        return _combine(_clauses(_norm(text)))[0]

    def _question_data(self, question: Question) -> tuple:
        key = question  # frozen, hashable: a changed rubric is a different key
        data = self._cache.get(key)
        if data is None:
            phrases = []
            for opt in question.options:
                for p in (opt.label, *opt.phrases):
                    q = _PUNCT_RE.sub("", _norm(p))
                    if q:
                        phrases.append((q, opt.level, any(n in q for n in ("没", "不", "未", "无"))))
            phrases.sort(key=lambda x: -len(x[0]))
            grams = {o.level: [_bigrams(_norm(e)) - default_lexicon().cue_bigrams
                               for e in (o.label, *self._examples(question, o))]
                     for o in question.options}
            # A bigram found in the examples of several options says little about which one: weight 1/options.
            df: dict[str, int] = {}
            for gs in grams.values():
                for g in set().union(*gs):
                    df[g] = df.get(g, 0) + 1
            weight = {g: 1.0 / n for g, n in df.items()}
            labels = {_PUNCT_RE.sub("", _norm(o.label)): o.level for o in question.options}
            data = (phrases, (grams, weight), labels)
            self._cache[key] = data
        return data

    def choice(self, question: Question, text: str) -> int | None:
        """The level of a bare option number as shown ("1", "第二个") or of an exact label; None otherwise."""
        return self._choice(question, _norm(text))

    def _choice(self, question: Question, t: str) -> int | None:
        """A bare option number ("1", "第二个") or an exact label, as a level."""
        compact = _PUNCT_RE.sub("", t)
        m = _CHOICE_RE.match(compact)
        if m:
            idx = _CN_NUM.get(m.group(1) or m.group(2))
            if idx is not None and 1 <= idx <= len(question.options):
                return question.options[idx - 1].level
        _, _, labels = self._question_data(question)
        return labels.get(compact)

    def _clause_hits(self, question: Question, clause: _Clause, hits: dict[int, float]) -> None:
        """Adds the option phrases present in the clause (and not negated) to `hits` and to the clause's values.

        A phrase of a lower option that is negated ("不只是问卷", "问卷没发过") says the answer is not that option,
        so the clause's own negation is about that thing and is dropped rather than read as "not done"."""
        phrases, _, _ = self._question_data(question)
        top = question.max_level
        ct = _PUNCT_RE.sub("", clause.text)
        taken: list[tuple[int, int]] = []
        phrase_values: list[float] = []
        for p, level, has_neg in phrases:
            start = ct.find(p)
            while start >= 0 and any(s < start + len(p) and start < e for s, e in taken):
                start = ct.find(p, start + 1)
            if start < 0:
                continue
            end = start + len(p)
            taken.append((start, end))
            before = ct[max(0, start - 4) : start]
            if has_neg:
                if re.search(r"不是|并非|不能说|哪有|怎么会|没有什么|没什么", before):
                    continue  # "不能说没有SOP"
            else:
                if re.search(r"[没未无]|不", before[-3:]) or re.match(r"(?:还|都|也|一直)?[没未]", ct[end : end + 3]):
                    if level < top:
                        clause.values[:] = [v for v in clause.values if v > 0.1]
                    continue  # "没有书面方案", "问卷没发过": the option's thing is absent
            strength = min(1.0, 0.45 + len(p) / 10) * (1.2 if clause.weight > 1.0 else 1.0)
            hits[level] = max(hits.get(level, 0.0), strength)
            phrase_values.append(level / top)
        if phrase_values:  # the question's own words outweigh general cues in the same clause
            clause.values[:] = phrase_values
            clause.phrase = True

    def read(self, question: Question, text: str) -> Reading:
        """Reads one answer to `question`."""
        first = self._rules(question, text)
        if isinstance(first, Reading):
            return first
        t, rules = first
        if self.embedder is None:
            if rules.sure(self.threshold) and self._allowed(question, rules, rules.level):
                return Reading(rules.level, rules.confidence, rules.detail)
            return Reading(None, rules.confidence, f"unsure (best {rules.level}) {rules.detail}", "unclear")
        return self._decide(question, t, rules)

    def _early(self, question: Question, t: str) -> Reading | None:
        """Empty, an option chosen by number or label, or a side question: decided before any voice is heard."""
        if not _PUNCT_RE.sub("", t):
            return Reading(None, 0.0, "empty", "unclear")
        choice = self._choice(question, t)
        if choice is not None:
            return Reading(choice, 1.0, "option chosen by number or label")
        if is_side_question(t):
            return Reading(None, 0.0, "a question, not an answer", "question")
        return None

    def _read_rules(self, question: Question, t: str) -> _RuleVerdict:
        """The rules' best level and confidence (phrases, example bigrams, readiness cues)."""
        top = question.max_level
        clauses = _clauses(t)
        hits: dict[int, float] = {}
        for c in clauses:
            self._clause_hits(question, c, hits)
        cue, mixed = _combine(clauses)
        if mixed:  # a split answer is not either end, whatever single phrase it contains
            hits = {lv: (h * 0.5 if lv in (0, top) else h) for lv, h in hits.items()}
        _, (grams_by_level, weight), _ = self._question_data(question)
        # Only the answer's words that occur in some example count: the rest (names, numbers, details) is neutral.
        grams = {g for g in _bigrams(t) if g in weight and g not in default_lexicon().cue_bigrams}
        # Small overlaps ("做了", "还没") are common to every option's examples: only the excess counts.
        sims = {lv: max(0.0, max((_similarity(grams, g, weight) for g in gs), default=0.0) - SIM_FLOOR)
                for lv, gs in grams_by_level.items()}
        # A short answer trailing off with 吧 ("有一些吧", "差不多吧") is a shrug, not a statement.
        shrug = len(_PUNCT_RE.sub("", t)) <= 5 and t.rstrip("。.!！~～ ").endswith("吧")
        hedged = shrug or any(c.hedged for c in clauses)
        vague = any(c.vague for c in clauses)
        # The statement itself is hedged: a clause that is only a hedge ("应该能吧，具体我不太清楚"), or every clause
        # that says something about the state hedges it ("差不多了吧应该"). Hedged details of a plain statement
        # ("需求应该是提分，没具体分析过") are not.
        valued = [c for c in clauses if c.values]
        bare_hedge = (shrug and not any(hits.values())) or any(
            c.hedged and not c.phrase and _unread_chars(c.text) <= 3 for c in clauses)
        # Vague ("看情况", "说不准，要问老板"): dodged, unless a plain clause states something.
        dodged = vague and not any(hits.values()) and not any(c.values and not c.vague for c in clauses)
        abstain = bare_hedge or (all(c.hedged for c in valued) and any(c.hedged for c in clauses)) or dodged
        # "A 做好了，但 <unread>": the clause after the contrast says what is missing in words the rules cannot read.
        reservation = False
        for i, c in enumerate(clauses):
            if c.weight > 1.0 and not c.values and _unread_chars(c.text) >= 4:
                before = [_clause_value(b.values) for b in clauses[:i] if b.values]
                after = [b for b in clauses[i + 1 :] if b.values]
                reservation = reservation or (bool(before) and min(before) >= 0.9 and not after)

        scores: dict[int, float] = {}
        for opt in question.options:
            lv = opt.level
            s = 1.0 * hits.get(lv, 0.0) + 1.2 * sims[lv]
            if mixed and top >= 3:
                s += 0.8 if 0 < lv < top else 0.0  # split answer, four options: a middle one, the words say which
            elif cue is not None:
                s += 1.0 - abs(cue - lv / top) * max(2.0, top)
            scores[lv] = s
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        (best, s1), (_, s2) = ranked[0], ranked[1]
        margin = s1 - s2
        # The cue is evidence for the level it points at, not for a level it falls between.
        cue_ev = 0.0 if cue is None else 0.6 * max(0.0, 1.0 - abs(cue - best / top) * 3.0)
        if mixed and top >= 3:
            cue_ev *= 0.5  # "A 做了，B 还没" on a four-option question: which middle option is for the words to say
        evidence = hits.get(best, 0.0) + sims[best] + cue_ev
        confidence = min(1.0, 0.6 * margin + 0.5 * min(evidence, 1.0))
        # How much of the answer was understood: content clauses with no cue at all may say the opposite of
        # the ones that were read ("后台只按首单打了个标，金额那块没看" reads "没看" only).
        # An unread clause counts by its characters outside the lexicon ("不是不想做" has one: it is no content).
        read_len = sum(len(_PUNCT_RE.sub("", c.text)) for c in clauses if c.values)
        unread = [len(_PUNCT_RE.sub("", c.text)) - sum(len(tok[1]) for tok in _tokens(c.text))
                  for c in clauses if not c.values]
        unread_len = sum(n for n in unread if n >= 4)
        coverage = read_len / (read_len + unread_len) if read_len + unread_len else 0.0
        if not hits.get(best):
            confidence *= 0.5 + 0.5 * coverage
        # Independent voices for `best`: the question's phrases, similarity to its examples, general cues. General
        # cues alone, over an answer they only partly cover, are thin evidence.
        support = [name for name, ok in (("phrase", hits.get(best, 0.0) > 0),
                                         ("sim", sims[best] >= 0.06 and sims[best] == max(sims.values())),
                                         ("cue", cue_ev >= 0.3)) if ok]
        if support == ["cue"] and coverage < 0.6:
            confidence *= 0.6
        # A voice pointing elsewhere: examples of another option clearly closer, or that option's own phrase.
        rival_sim = max((v for lv, v in sims.items() if lv != best), default=0.0)
        rival_hit = max((v for lv, v in hits.items() if lv != best), default=0.0)
        conflict = rival_sim - sims[best] >= 0.15 or (rival_hit > 0 and rival_hit >= hits.get(best, 0.0))
        if conflict:
            confidence *= 0.6
            support.append("conflict")
        if hedged:
            confidence *= 0.55
        if vague and not hits.get(best):
            confidence *= 0.4
        detail = (f"cue={None if cue is None else round(cue, 2)}{' mixed' if mixed else ''} cov={coverage:.2f} "
                  f"support={'+'.join(support)} hits={ {k: round(v, 2) for k, v in hits.items()} } "
                  f"sims={ {k: round(v, 2) for k, v in sims.items()} } margin={margin:.2f}")
        if abstain:
            detail += " abstain"
        if reservation:
            detail += " reservation"
        return _RuleVerdict(best, confidence, evidence, detail, scores, abstain, hits, mixed, reservation, cue,
                            coverage)


def reader_for(embeddings: object, bank: AnswerBank | None = None, *, vectors_path: Path | None = None,
               model: ReaderModel | None = None) -> AnswerReader:
    """The reader for the knowledge base's embedding model: rules plus the e5 voice (its thresholds are e5's), or the
    rules alone for any other model; both compare answers with the labelled answers of `bank` too. The examples'
    vectors are kept in `vectors_path`. With e5, `model` (knowledge/reader_model.yaml) decides from the voices; its
    features are e5's, so the rules alone never use it."""
    if getattr(embeddings, "model_id", None) == E5_MODEL_ID and hasattr(embeddings, "embed_queries"):
        vectors = TextVectors(embeddings, vectors_path)  # type: ignore[arg-type]
        return AnswerReader(embedder=embeddings, bank=bank, vectors=vectors, model=model)  # type: ignore[arg-type]
    return AnswerReader(bank=bank)
