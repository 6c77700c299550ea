"""Reads a free-text answer as one of a question's graded options, deterministically (no LLM).

Two voices are combined:
* the question's own words — its option labels, example answers and phrases — matched by containment and by
  character-bigram similarity;
* general readiness cues ("已经…有负责人" → ready, "正在做/一部分" → in between, "还没/不清楚" → not ready),
  negation-aware ("不是没做" is done, "没有书面方案" is not "有书面方案").
When neither is confident the reader says so, and the interview asks again offering the options.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.interview.rubric import Question

# General cues as readiness fractions: 1.0 ready, 0.5 partly, 0.0 not ready.
READY_CUES = (
    "已经做", "已做", "做完", "完成", "已完成", "都做了", "做好了", "做了", "都有", "已有", "已经有", "已建立", "建立了",
    "书面", "写进", "写成", "文档", "负责人", "专人", "专职", "复盘", "每月", "每周", "定期", "跑通", "上线", "落地了",
    "很清楚", "非常清楚", "明确", "定好", "定了", "全部", "齐全", "完善", "系统", "成熟", "done", "ready", "完整",
    "清楚", "有", "是的", "对", "当然", "没问题", "肯定",
)
PARTIAL_CUES = (
    "部分", "一部分", "一半", "正在", "在做", "还在", "进行中", "初步", "大概", "大致", "粗略", "有一些", "有些", "有点",
    "刚开始", "刚起步", "试点", "计划", "准备做", "打算", "差一点", "不太完整", "不完整", "没写下来", "没落地",
    "不够", "不全", "零散", "偶尔", "临时", "口头", "心里有数", "雏形", "草稿", "in progress", "partly", "一点",
)
NOT_READY_CUES = (
    "还没", "没有", "没做", "完全没", "不清楚", "不知道", "没想过", "没开始", "没考虑", "空白", "从没", "从来没",
    "没搞", "没弄", "没有做", "不了解", "不确定", "无", "没", "不懂", "no", "not yet", "none", "不会", "没人",
    "谈不上", "一片空白", "零",
)
# Phrases that flip a negative cue back to done ("不是没做" = it is done).
DOUBLE_NEGATIONS = ("不是没", "并非没", "不是还没", "哪有没", "怎么会没")
UNSURE = ("看情况", "不好说", "说不准", "看吧", "这个嘛", "差不多吧", "随便", "都行", "再说", "嗯", "啊", "哈哈", "?", "？")
_NEGATORS = ("没有", "没", "未", "不", "无", "缺")
_SPLIT_RE = re.compile(r"[，,；;。.!！?？、\s]+|但是|但|不过|只是|可是|就是")


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip()


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"[\W_]+", "", text)
    return {t[i : i + 2] for i in range(len(t) - 1)} or ({t} if t else set())


def _similarity(a: set[str], b: set[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / (len(a) ** 0.5 * len(b) ** 0.5)


def _negated(text: str, start: int) -> bool:
    """Whether the phrase at `start` is preceded closely by a negator (没有书面方案 ≠ 有书面方案)."""
    window = text[max(0, start - 3) : start]
    return any(n in window for n in _NEGATORS)


@dataclass(frozen=True)
class Reading:
    """The reader's verdict: the level, or None when unsure (then the interview asks again)."""

    level: int | None
    confidence: float
    reason: str


class AnswerReader:
    """Maps free text to an option level; `threshold` is the confidence below which it asks again."""

    def __init__(self, *, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def cue_fraction(self, text: str) -> float | None:
        """Readiness implied by general cues, 0–1, or None when there are none."""
        t = _norm(text)
        clauses = [c for c in _SPLIT_RE.split(t) if c]
        scores: list[float] = []
        for clause in clauses:
            if any(d in clause for d in DOUBLE_NEGATIONS):
                scores.append(1.0)
                continue
            neg = next((c for c in NOT_READY_CUES if c in clause and not _is_ascii_fragment(c, clause)), None)
            part = next((c for c in PARTIAL_CUES if c in clause), None)
            ready = next((c for c in READY_CUES if c in clause and not _negated(clause, clause.find(c))), None)
            if part:
                scores.append(0.5)
            elif neg and ready and clause.find(ready) < clause.find(neg):
                # "有方案但没执行" style inside one clause: something is there, not all.
                scores.append(0.5)
            elif neg:
                scores.append(0.0)
            elif ready:
                scores.append(1.0)
        if not scores:
            return None
        if len(set(scores)) > 1 and 0.0 in scores and 1.0 in scores:
            return 0.5  # "有负责人，但还没有SOP": some of it is in place.
        return sum(scores) / len(scores)

    def read(self, question: Question, text: str) -> Reading:
        """Reads one answer to `question`."""
        t = _norm(text)
        if not t:
            return Reading(None, 0.0, "empty")
        top = question.max_level
        # 1. The question's own phrases and labels, contained in the answer (and not negated).
        hits: dict[int, float] = {}
        for opt in question.options:
            for phrase in (opt.label, *opt.phrases):
                p = _norm(phrase)
                pos = t.find(p)
                if p and pos >= 0 and not (_negated(t, pos) and opt.level == top):
                    hits[opt.level] = max(hits.get(opt.level, 0.0), min(1.0, 0.5 + len(p) / 12))
        # 2. Similarity to the options' example answers.
        grams = _bigrams(t)
        sims = {
            opt.level: max((_similarity(grams, _bigrams(_norm(e))) for e in (opt.label, *opt.examples)), default=0.0)
            for opt in question.options
        }
        # 3. General cues.
        cue = self.cue_fraction(t)
        scores: dict[int, float] = {}
        for opt in question.options:
            s = 1.2 * hits.get(opt.level, 0.0) + 1.5 * sims[opt.level]
            if cue is not None:
                s += 1.0 - abs(cue - opt.level / top) * 1.5
            scores[opt.level] = s
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        (best, s1), (_, s2) = ranked[0], ranked[1]
        if any(u == t or (u in t and len(t) <= len(u) + 2) for u in UNSURE) and not hits:
            return Reading(None, 0.0, "vague")
        evidence = max(hits.values(), default=0.0) + sims[best] + (0.6 if cue is not None else 0.0)
        margin = s1 - s2
        confidence = min(1.0, 0.5 * margin + 0.5 * min(evidence, 1.0))
        if confidence < self.threshold or evidence < 0.35:
            return Reading(None, confidence, f"unsure (best {best}, margin {margin:.2f}, evidence {evidence:.2f})")
        return Reading(best, confidence, f"hits={hits} cue={cue} sims={ {k: round(v, 2) for k, v in sims.items()} }")


def _is_ascii_fragment(cue: str, clause: str) -> bool:
    """'no' inside 'know' or 'none' inside a word is not a negation."""
    if not cue.isascii():
        return False
    return re.search(rf"(?<![a-z]){re.escape(cue)}(?![a-z])", clause) is None
