"""Toneless pinyin typed instead of characters ("fenceng diaoyan zenme zuo", "hai mei kaishi"), read as the
characters the reader of it would mean: the words of the text it is about.

A `Transcriber` knows a vocabulary — the active guidance's words for search; for the interview, every run of one to
four characters seen at least twice in a question, its options and labelled answers — plus a few general words
(negators, aspect and question words), and the readings of each character (pypinyin's character table, every
reading of a polyphone). A run of ASCII words that splits entirely into pinyin syllables is read as the sequence of
vocabulary entries covering its syllables with the fewest, longest, most used pieces. It is converted only when
words of two or more characters cover most of it; English ("SOP done", "not yet"), names and anything the vocabulary
does not know are left as typed. Nothing here is fitted to a labelled set: the vocabulary is whatever the texts
are, and the few constants say how pinyin is typed (longer pieces and common readings first).

The character table is read on the first run that looks like pinyin (most messages have none), from pypinyin's data
file directly: importing pypinyin itself would load its phrase dictionaries, ~57 MB.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from bot.errors import ConfigError

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c",
             "s", "y", "w", "")
_FINALS = ("a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "er", "i", "ia", "ie", "iao", "iu",
           "ian", "in", "iang", "ing", "iong", "u", "ua", "uo", "uai", "ui", "uan", "un", "uang", "ueng", "v", "ve",
           "ue", "van", "vn")
# Over-generates a little (initial × final); precise enough to tell pinyin from English words.
# Syllables without an initial are only these (yi, wu, yu … are spelt with y and w).
_BARE = frozenset({"a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "er"})
SYLLABLES = frozenset(i + f for i in _INITIALS[:-1] for f in _FINALS) | _BARE
_MAXSYL = max(len(s) for s in SYLLABLES)
_MAX_CHARS = 4  # the longest run of a text taken as an entry
_MAX_SYLLABLES = 6  # the longest entry (a guidance's word)
_MAX_WORD_LETTERS = 60  # a longer word is not pinyin
_MAX_RUN_LETTERS = 300  # a longer run of pinyin words is left as typed
_MAX_READINGS = 8  # readings kept per entry (polyphones multiply)
_RUN_RE = re.compile(r"[A-Za-z]+(?:[ '\-]+[A-Za-z]+)*")
_HAN_RUN_RE = re.compile(r"[\u4e00-\u9fff]+")
_HAN_WORD_RE = re.compile(r"[\u4e00-\u9fff]{1,6}")  # a guidance's words: up to six characters (_MAX_SYLLABLES)
_GENERAL_COUNT = 50  # a general word counts as seen this often
_RARE_READING = 3.0  # what reading a character by one of its later readings costs
_PIECE = 1.5  # what each piece costs: "huanjie" is 环节, not four lone characters
_COVERED = 0.6  # share of a run's syllables that words of two or more characters must cover

# General words: what a message about any guidance says around its topic words (typed as pinyin, syllables spaced).
GENERAL = ("没有 没 还没 还没有 不 未 已经 了 过 做 做了 做过 做完 完成 搞定 好 开始 正在 在做 部分 一部分 一半 一些 有些 "
           "打算 计划 准备 不知道 不清楚 清楚 有 都 还 只 一定 可能 应该 差不多 大概 全部 完全 根本 压根 "
           "但 但是 就是 而且 还是 或者 因为 所以 如果 怎么 怎样 怎么样 如何 什么 为什么 为啥 哪些 哪个 多少 是不是 能不能 要不要 吗 呢 吧 我们 我 你们 你 他们 "
           "是 的 在 和 就 也 要 会 能 可以 需要 一个 这个 那个 现在 以后 之前 比较 合适 问题 方法 木有")


@functools.cache
def split_syllables(word: str, precise: bool = False) -> tuple[str, ...] | None:
    """The word (lower case ASCII) as pinyin syllables, fewest first; None when it is not pinyin. `precise`: only
    the syllables characters are read as (loads the character table), else the cheap initial × final set."""
    if not word:
        return ()
    if len(word) > _MAX_WORD_LETTERS:
        return None  # no one types that much pinyin without a space (and "hahaha…" × 2,500 would recurse too deep)
    known = _spoken() if precise else SYLLABLES
    best: tuple[str, ...] | None = None
    for n in range(min(_MAXSYL, len(word)), 0, -1):
        if word[:n] in known:
            rest = split_syllables(word[n:], precise)
            if rest is not None and (best is None or len(rest) + 1 < len(best)):
                best = (word[:n], *rest)
    return best


def _toneless(reading: str) -> tuple[str, ...]:
    """The reading without tones; ü typed as v and, as most people type it, as u ("lüe" → lve, lue)."""
    t = unicodedata.normalize("NFD", reading)
    plain = "".join(ch for ch in t if not unicodedata.combining(ch))  # ü decomposes to u + diaeresis
    with_v = "".join("v" if ch == "u" and t[i + 1 : i + 2] == "\u0308" else ch
                     for i, ch in enumerate(t) if not unicodedata.combining(ch))
    return (plain,) if plain == with_v else (with_v, plain)


@functools.cache
def _readings() -> dict[str, tuple[str, ...]]:
    """Character → its toneless readings (common CJK characters), from pypinyin's character table."""
    # Found, not imported: importing pypinyin loads its phrase dictionaries (~57 MB).
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("pypinyin is not installed (pip install -e .)")
    table = Path(next(iter(spec.submodule_search_locations))) / "pinyin_dict.json"
    raw = json.loads(table.read_text(encoding="utf-8"))
    out: dict[str, tuple[str, ...]] = {}
    for code, readings in raw.items():
        c = int(code)
        if 0x4E00 <= c <= 0x9FFF:
            out[chr(c)] = tuple(dict.fromkeys(t for r in readings.split(",") for t in _toneless(r)))
    return out


@functools.cache
def _spoken() -> frozenset[str]:
    """Every syllable a character is read as ("we", "no", "gei" are, "ong", "ua" are not)."""
    return frozenset(r for rs in _readings().values() for r in rs) & SYLLABLES  # not the interjections m, ng, hm


def _acronym(word: str) -> bool:
    """API, SOP, KPI: capitals are not how pinyin is typed."""
    return len(word) >= 2 and word.isupper()


def looks_like_pinyin(text: str) -> bool:
    """Whether the text holds two or more pinyin syllables in a row (cheap: no vocabulary, no table)."""
    for m in _RUN_RE.finditer(text):
        n = 0
        for w in re.split(r"[ '\-]+", m.group(0)):
            s = split_syllables(w.lower()) if w and not _acronym(w) else None if w else ()
            n = 0 if s is None else n + len(s)
            if n >= 2:
                return True
    return False


class Transcriber:
    """Reads pinyin runs as the characters of a vocabulary: every run of one to four characters seen at least twice in
    `texts` (small texts: a question and its examples), and `words` with their counts (a guidance's words, however large it is),
    with their characters; and the general words."""

    def __init__(self, texts: Iterable[str] = (), *, words: Mapping[str, int] | None = None) -> None:
        self._texts = tuple(texts)
        self._words = words
        self._entries: dict[tuple[str, ...], tuple[str, float]] | None = None

    def _table(self) -> dict[tuple[str, ...], tuple[str, float]]:
        """Syllables → the most used entry read so, with its weight (built on first use)."""
        if self._entries is None:
            counts: Counter[str] = Counter()
            for text in self._texts:
                for run in _HAN_RUN_RE.findall(text):
                    for n in range(1, _MAX_CHARS + 1):
                        counts.update(run[i : i + n] for i in range(len(run) - n + 1))
            # A run seen once is mostly two words' edges ("域运" of 私域运营): only those seen again are entries.
            counts = Counter({e: n for e, n in counts.items() if n > 1 or len(e) == 1})
            for word, n in (self._words or {}).items():
                if _HAN_WORD_RE.fullmatch(word):
                    if len(word) > 1:
                        counts[word] += n
                    for ch in word:
                        counts[ch] += n
            for w in GENERAL.split():
                counts[w] += _GENERAL_COUNT  # the usual reading of a lone syllable ("zuo" 做, not 作 of 工作)
            readings = _readings()
            entries: dict[tuple[str, ...], tuple[str, float]] = {}
            for entry, count in counts.items():
                options = [readings.get(ch) for ch in entry]
                if any(o is None for o in options):
                    continue
                for combo in itertools.islice(itertools.product(*(enumerate(o) for o in options)),  # type: ignore[arg-type]
                                              _MAX_READINGS):
                    # A character's later readings are rarer (内 is nei before na): "baokuo naxie" is 包括哪些, not
                    # 包括内 (of 包括内容) + 些.
                    weight = 0.1 * math.log1p(count) - _RARE_READING * sum(1 for rank, _ in combo if rank)
                    key = tuple(reading for _, reading in combo)
                    held = entries.get(key)
                    if held is None or weight > held[1]:
                        entries[key] = (entry, weight)
            self._entries = entries
        return self._entries

    def transcribe(self, text: str) -> str:
        """`text` with each convertible pinyin run replaced by characters; the rest as typed."""
        if not looks_like_pinyin(text):
            return text
        return _RUN_RE.sub(lambda m: self._ascii_run(m.group(0)), text)

    def _ascii_run(self, run: str) -> str:
        """Each stretch of pinyin words in a run of ASCII words converted ("SOP yinggai baokuo naxie huanjie")."""
        parts = re.split(r"([ '\-]+)", run)  # words at even positions, separators between
        out: list[str] = []
        stretch: list[str] = []
        for i, part in enumerate(parts):
            if i % 2 == 1:
                (stretch if stretch else out).append(part)
            elif not _acronym(part) and split_syllables(part.lower(), True) is not None:
                stretch.append(part)
            else:
                if stretch:
                    out.append(self._run("".join(stretch).rstrip(" '-")))
                    out.append(" ")
                    stretch = []
                out.append(part)
        if stretch:
            out.append(self._run("".join(stretch)))
        return "".join(out)

    def _run(self, run: str) -> str:
        words = [w for w in re.split(r"[ '\-]+", run.lower()) if w]
        if any(split_syllables(w, True) is None for w in words):
            return run  # an English word (or a name) in the run: it is not pinyin
        spoken = _spoken()
        letters = "".join(words)
        n = len(letters)
        if n > _MAX_RUN_LETTERS:
            return run  # a pasted wall of letters: left as typed, not read in quadratic time
        ends = set(itertools.accumulate(len(w) for w in words))  # a syllable never spans two typed words
        table = self._table()

        def syllables_at(i: int) -> list[int]:
            """Where a syllable starting at letter i can end."""
            out = []
            for j in range(i + 1, min(n, i + _MAXSYL) + 1):
                if letters[i:j] in spoken and not any(i < e < j for e in ends):
                    out.append(j)
            return out

        # best[i]: score and pieces of letters[:i]; a piece is (characters or None, its syllables).
        best: list[tuple[float, list[tuple[str | None, tuple[str, ...]]]] | None] = [None] * (n + 1)
        best[0] = (0.0, [])
        for i in range(n):
            here = best[i]
            if here is None:
                continue
            steps: list[tuple[float, str | None, tuple[str, ...], int]] = []
            paths: list[tuple[tuple[str, ...], int]] = [((), i)]
            for _ in range(_MAX_SYLLABLES):
                paths = [((*syl, letters[at:j]), j) for syl, at in paths for j in syllables_at(at)]
                for syl, j in paths:
                    if len(syl) == 1:
                        steps.append((-1.0, None, syl, j))  # left as typed
                    found = table.get(syl)
                    if found is not None:
                        steps.append((len(syl) ** 2 - _PIECE + found[1], found[0], syl, j))
            for score, chars, syl, j in steps:
                total = here[0] + score
                held = best[j]
                if held is None or total > held[0]:
                    best[j] = (total, [*here[1], (chars, syl)])
        final = best[n]
        if final is None:
            return run
        syllables = sum(len(syl) for _, syl in final[1])
        covered = sum(len(syl) for chars, syl in final[1] if chars is not None and len(syl) >= 2)
        if syllables < 2 or covered < _COVERED * syllables:
            return run
        out = [chars if chars is not None else f" {' '.join(syl)} " for chars, syl in final[1]]
        return re.sub(r"\s+", " ", "".join(out)).strip()
