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

Confidence reflects agreement between the three voices: it drops when only general cues speak and they cover
little of the answer (clauses with content but no cue may say the opposite), and when another option's examples are
clearly closer or another option's phrase is present. The threshold (THRESHOLD) is calibrated on dev + holdout.

A bare option number or label ("1", "第二个", exact label) is that option. Empty, off-topic, hedged ("应该可以吧")
or vague ("看情况") answers, and answers whose evidence is weak or split, read as None: the interview then asks
again offering the options — asking again is cheaper than misreading.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.interview.rubric import Question

# ---------------------------------------------------------------------------------------------------------------
# Lexicon. Kinds: R done, P partly, N not done, I impatience (not done; negated → done), NEG negator,
# DN double negation (done), X neutral (consumed, says nothing), H hedge, U vague/unsure, PL plan (not done yet).
# Each entry: cue → (kind, value, value when negated or None if negation does not apply).
# ---------------------------------------------------------------------------------------------------------------
_LEX: dict[str, tuple[str, float, float | None]] = {}
# "Partly" leans a little towards done: on four-option questions the second option is the "partly done" one.
PARTLY = 0.6
SIM_FLOOR = 0.08
# Calibrated on dev + holdout jointly (`python -m bench.reader_eval --sweep`): the lowest threshold keeping misreads
# on their union ≤ 2% (well under 5%), leaving room for the higher misread rate on unseen answers.
THRESHOLD = 0.35


def _add(kind: str, value: float, negated: float | None, words: str) -> None:
    for w in words.split():
        _LEX[w.lower()] = (kind, value, negated)


# Facts: done, negated → not done.
_add("R", 1.0, 0.0, """
    已经 已 做了 做过 做完 做好 做好了 已做 已完成 完成了 完成 弄好 搞定 搞好了 建好 建立了 搭好 搭好了 跑通 跑过
    试跑 落地了 有了 都有 已有 有专人 有人负责 负责人 专人 专职 专门的 都定了 定了 定好 定好了 定下来 拍板
    确认过 确认了 写好 写好了 写进 写了 写清楚 写成 算过 算好 算清楚 谈好 谈好了 签字 签了字 定稿 批了 一目了然 清清楚楚 门儿清 评估过 评估完 梳理完 梳理过 理清 理清了 排好 排好了
    测过 测试过 研究过 分析了 分了 分过 拆了 拆解 总结了 访谈 深访 有文档 报告 看板 每月 每周 每天 定期 复盘
    培训过 齐了 都齐 能追踪 能追 能区分 能分清 分得清 都能看到 都做过 都做了 都做完 都写了 清楚 很清楚 非常清楚 一清二楚 明确 很明确 共识
    认可 认同 接受 预留 留了 够用 足够 够了 稳定 全天 到位 成熟 完善 齐全 是的 对的 当然 肯定 没问题 有的 yes done
    ready clear align aligned finished 做到
""")
# Quality words: done; negated, "not quite" ("没有书面方案", "没系统整理") — between partly and not done, so
# "没有书面方案，但心里有数" is partly and "没有书面方案，也没有负责人" is not done.
_add("R", 1.0, 0.3, """
    书面 纸面 成文 文档 形成文档 系统 系统化 体系 完整 全部 细化 细算 细 固定 正式 量化 验证 验证过 落地 成体系 全流程 单独
    专门 详细 数据验证
""")
# Partly.
_add("P", PARTLY, 0.0, """
    部分 一部分 一半 一些 有些 有一些 有点 初步 大概 大致 心里有数 有数 雏形 草稿 一版 大部分 正在 在做 还在 进行中
    刚开始 刚起步 试点 差一点 不太完整 不完整 不够 不全 不成体系 不细 没细算 没细化 没系统 没有系统 不系统 没写下来
    没落到纸面 没落地 没统一 没定下来 没拍 还没拍 没验证 未验证 不确定够不够 理论上 道理都懂 道理 嘴上 口号 不及时
    顾不上 顾不过来 勉强 不稳定 不固定 没固定 没有固定 只做了 只写了 只分了 只规划了 只导出 就分了 具体怎么 细节没定
    细节还没 还行 凑合 partly partially half partial in_progress 心里都有数 都有数 脑子里 在心里 隔天 才回 经常忘
    跟不上 别的没 别的都没 其他还没 其他都没 其余还没 有想法 想法 考虑过 讨论过 讨论 商量 还在讨论 还在写 还在算
    还在谈 在谈 看过一些 听说 聊过 混在 潜水 截图 大促 想过 感觉是 零零碎碎 零碎 有点印象 印象 心里没底
    忙不过来 能对付 对付 拖到
""")
# Partly, the lower end: makeshift staffing, occasional or rough work (兼职/顺手兼, 偶尔, 粗略, 只有基础信息).
_add("P", 0.35, 0.0, """
    只有 兼职 兼着 兼一下 顺手 顺带 顺便 兼 全包 就我一个 偶尔 临时 口头 粗略 比较粗 粗 零散 基础信息
    基础标签 一轮 试了一下 碰过 口口相传
""")
# Not done.
_add("N", 0.0, 1.0, """
    没有 没 还没 还没有 尚未 未 无 缺 没做 没做过 没开始 还没开始 没搞 没弄 没想过 没考虑 没考虑过 没关注 没关注过
    没碰 没顾上 完全没 完全没有 完全没做 一点都没 一点也没 压根 压根没 根本没 从没 从来没 从未 空白 一片空白 零 没人
    没人管 没人负责 没团队 不清楚 不知道 不了解 不懂 搞不清 搞不太清 搞不清楚 说不清 不太清楚 不会 谈不上 随缘 随机
    想到什么 想到啥 凭经验 全凭 凭感觉 自己发挥 一刀切 都一样 一样对待 差不多 跟风 跟着做 先试试 试试 再说
    走一步看一步 乱着 混在一起 区分不了 分不清 不能 做不到 没能力 不行 没想好 没区分 想到啥就发啥 想到什么发什么
    临时想到 没人看 没人去看 都不一样 各做各的 想起来就 想发就发 有空就发 跟着搞 跟着干 一视同仁 说不上来 说不上 不需要 没必要 糊涂账 一笔糊涂账 none no not_yet nope never
""")
# Impatience (mindset): not done; negated ("不急着见效", "不看短期") → done.
_add("I", 0.0, 1.0, """
    马上 立刻 立马 尽快 赶紧 短期 见效 看到效果 出业绩 冲业绩 回本 立竿见影 一两个月 两三个月 下个月 下个月就 这个月
    不行就撤 不行就停 不行就 就撤 就停 卖货 卖多少 卖了多少 多卖 gmv 营收 销量 没起色 砍掉 等不起
""")
# Plans for the future: not done yet ("下周就开会定", "打算…").
_add("PL", 0.25, None, """
    打算 准备 计划 想着 想做 下周 回头 接下来 以后 将来 后面再 到时候 即将 待定
""")
# Negators (scope the next cue within a few characters).
_add("NEG", 0.0, None, "不 没 没有 未 无 非 不是 并非 不再 还没 尚未 没怎么 不是为了 不只是 不只 不仅")
# Double negation: done.
_add("DN", 1.0, None, """
    不是没 并非没 不是还没 哪有没 怎么会没 没有什么没 没什么没 不能说没 不是不够 不是没有 并不是没 不是不清楚
    不是不了解 不看单月 不看单次 不看短期 不看roi 不怕慢 慢慢来 慢一点 长期 从没断 没断过 急不来 急不得 从没停 没停过 从不断
""")
# Patience: done, and the impatience that follows is negated ("不急着见效", "不求马上回本").
_add("DI", 1.0, None, "不急 不着急 不求 不追求 不指望 不要求 没指望")
# Neutral: consumed, says nothing ("不是不想做": wanting is not doing).
_add("X", 0.0, None, """
    不是不想 不想 想不想 不差钱 说实话 完全 一半以上 都在做 在做的 别人都在做 说白了 其实 目前 现在 暂时 主要 基本
    基本上 反正 我们 这块 这个 那个 那头 这边 对接 不错 还是 也 不过 但 就是 说是 觉得 大家 问问 不只是 不仅 不只
    不少 不够再 半年 一次 统一发
""")
# Hedges: lower confidence ("应该可以吧").
_add("H", 0.0, None, """
    应该 可能 估计 好像 也许 或许 似乎 大概吧 差不多吧 应该吧 可以吧 我猜 听说能 说能做
""")
# Vague / unsure / off-topic.
_add("U", 0.0, None, """
    看情况 不好说 说不准 说不好 不一定 一般般 一般 还行吧 随便 都行 不确定 不清楚吧 要问 问老板 得问 not_sure maybe
    看吧 这个嘛 嗯 嗯嗯 哈哈 呵呵 ok 好的 知道了 干嘛 是什么 什么意思 为什么
""")
# "还没…", "都没…", "也没…", "一直没…" read like "没…".
for _w, _v in list(_LEX.items()):
    if _v[0] in ("N", "P", "NEG") and _w[0] in "没未不":
        for _pre in ("还", "都", "也", "一直", "完全", "根本", "从来"):
            _LEX.setdefault(_pre + _w, _v)
_LEX_MAXLEN = max(len(k) for k in _LEX)
# Bigrams that are general cues themselves ("还没", "已经", "做了"): the cue voice reads them, so example similarity
# ignores them and stays an independent voice (otherwise "还没有" resembles every example with "还没").
_CUE_BIGRAMS = {w for w in _LEX if len(w) == 2} | {
    w[i : i + 2] for w, (kind, _, _) in _LEX.items() if kind in ("NEG", "N", "X", "H", "U", "DN") and len(w) <= 3
    for i in range(len(w) - 1)}

# Contrast conjunctions: the clause after weighs more.
_CONTRAST_RE = re.compile(r"但是|但|不过|(?<!不)只是|可是|然而|却")
_CLAUSE_RE = re.compile(r"[，,；;。!！?？:：\n]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_PUNCT_RE = re.compile(r"[\s\W_]+")
# Bare option choices.
_CN_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4, "a": 1, "b": 2, "c": 3, "d": 4}
_CHOICE_RE = re.compile(r"^(?:选|选择|我选|答案是|是)?(?:第)?([一二两三四1234])(?:个|项|条|号|个选项|选项)?吧?$"
                        r"|^(?:选|选择|我选)?(?:选项)?([abcd1234])$")
# "只" + up to two characters + 了 ("只规划了", "只分了"): a part of the work.
_ONLY_RE = re.compile(r"只[\u4e00-\u9fff]{1,2}了")
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


def _norm(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower().strip()
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


@dataclass(frozen=True)
class Reading:
    """The reader's verdict: the level, or None when unsure (then the interview asks again)."""

    level: int | None
    confidence: float
    reason: str


@dataclass
class _Clause:
    text: str
    weight: float
    values: list[float]
    hedged: bool
    vague: bool


def _tokens(clause: str) -> list[tuple[int, str, str, float, float | None]]:
    """Longest-match scan of the lexicon: (position, cue, kind, value, negated value)."""
    out = []
    i, n = 0, len(clause)
    while i < n:
        ch = clause[i]
        if ch.isascii() and ch.isalpha():  # an ASCII word: look it up whole ("no" is not inside "know")
            j = i
            while j < n and (clause[j].isascii() and (clause[j].isalnum() or clause[j] == "_")):
                j += 1
            word = clause[i:j]
            if word in _LEX:
                out.append((i, word, *_LEX[word]))
            i = j
            continue
        for ln in range(min(_LEX_MAXLEN, n - i), 0, -1):
            w = clause[i : i + ln]
            if w in _LEX:
                out.append((i, w, *_LEX[w]))
                i += ln
                break
        else:
            i += 1
    return out


def _read_clause(clause: str) -> tuple[list[float], bool, bool]:
    """Readiness values found in one clause, whether it hedges, whether it is vague."""
    if _EVEN_NOT_RE.search(clause):
        return [0.0], False, False  # "连一个专职运营都没有"
    toks = _tokens(clause)
    values: list[float] = []
    hedged = vague = False
    last_neg = ""
    imp_neg_end: int | None = None
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
        if kind == "I" and imp_neg_end is not None and pos - imp_neg_end <= 3:
            values.append(1.0)
            continue
        if kind == "DI":
            values.append(1.0)
            imp_neg_end = pos + len(cue)
            continue
        if kind == "DN":
            values.append(1.0)
        elif neg and negated is not None:
            values.append(negated)
        elif neg and kind == "PL":
            values.append(0.0)
        else:
            values.append(value)
        if kind == "N" and (cue[-1] in "没不未无" or cue.endswith("没有")):
            neg_end, last_neg = pos + len(cue), "没"  # "压根没做过": the negation scopes what follows
    if neg_end is not None and not values and (last_neg[0] in "没未" or len(clause) <= 3):
        values.append(0.0)  # a bare negator ("还没", "人还没安排"); a bare 不 only alone ("不打扰" says little)
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
    if sum(1 for c in clauses if c.values) >= 1 and len(clauses) > 1:
        for c in clauses:
            if not c.values and _HAS_RE.search(c.text) and "哪" not in c.text:  # not "哪里有人就往哪拉"
                c.values.append(1.0)
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

    def __init__(self, *, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self._cache: dict[Question, tuple] = {}

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
            grams = {o.level: [_bigrams(_norm(e)) - _CUE_BIGRAMS for e in (o.label, *o.examples)]
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

    def read(self, question: Question, text: str) -> Reading:
        """Reads one answer to `question`."""
        t = _norm(text)
        if not _PUNCT_RE.sub("", t):
            return Reading(None, 0.0, "empty")
        choice = self._choice(question, t)
        if choice is not None:
            return Reading(choice, 1.0, "option chosen by number or label")
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
        grams = {g for g in _bigrams(t) if g in weight and g not in _CUE_BIGRAMS}
        # Small overlaps ("做了", "还没") are common to every option's examples: only the excess counts.
        sims = {lv: max(0.0, max((_similarity(grams, g, weight) for g in gs), default=0.0) - SIM_FLOOR)
                for lv, gs in grams_by_level.items()}
        # A short answer trailing off with 吧 ("有一些吧", "差不多吧") is a shrug, not a statement.
        shrug = len(_PUNCT_RE.sub("", t)) <= 5 and t.rstrip("。.!！~～ ").endswith("吧")
        hedged = shrug or any(c.hedged for c in clauses)
        vague = any(c.vague for c in clauses)

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
        if confidence < self.threshold or evidence < 0.4:
            return Reading(None, confidence, f"unsure (best {best}) {detail}")
        return Reading(best, confidence, detail)
