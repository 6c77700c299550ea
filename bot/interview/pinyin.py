"""Toneless pinyin typed instead of characters ("hai mei kaishi", "yijing zuo le"), read as the characters of the
general readiness words, so the reader's cues and negation apply to it as to Chinese text.

Only a run of ASCII words that splits entirely into pinyin syllables is converted, and within it only the words of
a small general vocabulary (negators, aspect words, "done", "partly", "plan"): everything else — English ("done",
"not yet", "SOP"), names, topic words — is left as typed."""

from __future__ import annotations

import functools
import re

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c",
             "s", "y", "w", "")
_FINALS = ("a", "o", "e", "ai", "ei", "ao", "ou", "an", "en", "ang", "eng", "ong", "er", "i", "ia", "ie", "iao", "iu",
           "ian", "in", "iang", "ing", "iong", "u", "ua", "uo", "uai", "ui", "uan", "un", "uang", "ueng", "v", "ve",
           "ue", "van", "vn")
# Over-generates a little (initial × final); precise enough to tell pinyin from English words.
_SYLLABLES = frozenset(i + f for i in _INITIALS for f in _FINALS) - {"", "i", "u", "v", "ue", "ve", "van", "vn"}
_MAXSYL = max(len(s) for s in _SYLLABLES)

# General readiness vocabulary, syllables joined: the same words the cue lexicon reads in characters.
WORDS = {
    "meiyou": "没有", "mei": "没", "muyou": "没有", "haimei": "还没", "haimeiyou": "还没有", "bu": "不", "wei": "未",
    "yijing": "已经", "le": "了", "guo": "过", "zuo": "做", "zuole": "做了", "zuoguo": "做过", "zuowan": "做完",
    "wancheng": "完成", "gaoding": "搞定", "hao": "好", "kaishi": "开始", "zhengzai": "正在", "zaizuo": "在做",
    "bufen": "部分", "yibufen": "一部分", "yiban": "一半", "yixie": "一些", "youxie": "有些", "dasuan": "打算",
    "jihua": "计划", "zhunbei": "准备", "buzhidao": "不知道", "buqingchu": "不清楚", "qingchu": "清楚",
    "you": "有", "dou": "都", "hai": "还", "zhi": "只", "yiding": "一定", "keneng": "可能", "yinggai": "应该",
    "chabuduo": "差不多", "dagai": "大概", "quanbu": "全部", "wanquan": "完全", "genben": "根本", "yaogen": "压根",
}
_MAXWORD = max(len(w) for w in WORDS)
_RUN_RE = re.compile(r"[a-z]+(?:[ '\-]+[a-z]+)*")


@functools.cache
def _split(word: str) -> tuple[str, ...] | None:
    """The word as pinyin syllables (fewest syllables), or None when it is not pinyin."""
    if not word:
        return ()
    best: tuple[str, ...] | None = None
    for n in range(min(_MAXSYL, len(word)), 0, -1):
        if word[:n] in _SYLLABLES:
            rest = _split(word[n:])
            if rest is not None and (best is None or len(rest) + 1 < len(best)):
                best = (word[:n], *rest)
    return best


def _convert_run(run: str) -> str:
    words = [w for w in re.split(r"[ '\-]+", run) if w]
    syllables: list[str] = []
    for w in words:
        s = _split(w)
        if s is None:
            return run  # an English word (or a name) in the run: it is not pinyin
        syllables.extend(s)
    if len(syllables) < 2 or not any("".join(syllables[i:j]) in WORDS for i in range(len(syllables))
                                     for j in range(i + 1, len(syllables) + 1)):
        return run
    out: list[str] = []
    i = 0
    while i < len(syllables):
        for j in range(len(syllables), i, -1):
            joined = "".join(syllables[i:j])
            if len(joined) <= _MAXWORD and joined in WORDS:
                out.append(WORDS[joined])
                i = j
                break
        else:
            out.append(" " + syllables[i] + " ")
            i += 1
    return re.sub(r"\s+", " ", "".join(out)).strip()


def pinyin_to_hanzi(text: str) -> str:
    """`text` (lower case) with its runs of toneless pinyin read as the general words' characters."""
    return _RUN_RE.sub(lambda m: _convert_run(m.group(0)), text)
