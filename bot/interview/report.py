"""The readiness report as plain frozen values, built from the answers, the scores and verbatim citations.

`Report.to_json()` is the `report.json` contract (see README); renderers live in `bot.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.interview.rubric import Question, Rubric
from bot.interview.scoring import SEVERITY_LABELS, VERDICT_LABELS, GapScore, Scores, score

PENDING_LABEL = "待确认"  # an unknown answer that still has to be confirmed (unclear twice), and unknown gaps
SKIPPED_LABEL = "未知（跳过）"


def answer_label(question: Question, level: int | None, via: str) -> str:
    """How a recorded answer is named: the option's label, 待确认 when unclear twice, 未知（跳过） when skipped."""
    if level is not None:
        return question.option(level).label
    return PENDING_LABEL if via == "unclear" else SKIPPED_LABEL


class CitationLike(Protocol):
    """What a knowledge-base citation offers (bot.knowledge.search.Citation)."""

    @property
    def section(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def quote(self) -> str: ...

    @property
    def kb_version(self) -> str: ...


class Citer(Protocol):
    """Finds a verbatim quote in a section (KnowledgeBase.cite)."""

    def cite(self, section: str, query: str) -> CitationLike | None: ...

    def section_title(self, section: str) -> str | None: ...


@dataclass(frozen=True)
class DimensionScore:
    """One radar axis."""

    id: str
    section: str
    title: str
    score: float


@dataclass(frozen=True)
class RiskFlag:
    """A chapter-2 failure scenario and whether the answers point to it."""

    id: str
    section: str
    title: str
    triggered: bool


@dataclass(frozen=True)
class GapItem:
    """One gap: what is missing, why it matters, what to do, and the guidance that prescribes it."""

    question_id: str
    section: str
    title: str
    severity: str
    missing: str
    why: str
    why_section: str
    todo: str
    quote: str
    quote_section: str
    quote_title: str
    kb_version: str
    unknown: bool = False  # skipped: a possible gap
    priority: float = 0.0

    @property
    def severity_label(self) -> str:
        """严重 / 中等 / 轻微 (or 待确认 for unknown)."""
        return PENDING_LABEL if self.unknown else SEVERITY_LABELS.get(self.severity, self.severity)


@dataclass(frozen=True)
class AnswerItem:
    """One answer as given."""

    question_id: str
    section: str
    answer_text: str
    level: int | None
    max_level: int
    label: str  # the option's label, or 待确认 / 未知（跳过） (see `answer_label`)
    via: str  # option / text / skip / unclear (free text still unclear after one re-ask: unknown, 待确认)

    @property
    def pending(self) -> bool:
        """Recorded as unknown because the free-text answer stayed unclear: shown as 待确认."""
        return self.via == "unclear"


@dataclass(frozen=True)
class Report:
    """A finished diagnosis."""

    verdict: str
    overall: float
    dimensions: tuple[DimensionScore, ...]
    risks: tuple[RiskFlag, ...]
    gaps: tuple[GapItem, ...]
    answers: tuple[AnswerItem, ...]
    kb_version: str
    created_at: str
    title: str = "私域启动准备度诊断"
    closing_quote: str = ""
    closing_section: str = ""
    closing_title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict_label(self) -> str:
        """The verdict in Chinese."""
        return VERDICT_LABELS[self.verdict]

    @property
    def triggered_risks(self) -> tuple[RiskFlag, ...]:
        """Risk flags that are raised."""
        return tuple(r for r in self.risks if r.triggered)

    def to_json(self) -> dict[str, Any]:
        """The report.json contract (extra fields included)."""
        return {
            "verdict": self.verdict,
            "verdict_label": self.verdict_label,
            "overall": self.overall,
            "dimensions": [asdict(d) for d in self.dimensions],
            "risks": [asdict(r) for r in self.risks],
            "gaps": [asdict(g) for g in self.gaps],
            "answers": [asdict(a) for a in self.answers],
            "kb_version": self.kb_version,
            "created_at": self.created_at,
            "title": self.title,
            "closing": {"quote": self.closing_quote, "section": self.closing_section, "title": self.closing_title},
            **self.extra,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """Rebuilds a report from `to_json` output (as kept in the checkpoint)."""
        closing = data.get("closing") or {}
        known = {"verdict", "verdict_label", "overall", "dimensions", "risks", "gaps", "answers", "kb_version",
                 "created_at", "title", "closing"}
        return cls(
            verdict=data["verdict"],
            overall=float(data["overall"]),
            dimensions=tuple(DimensionScore(**d) for d in data["dimensions"]),
            risks=tuple(RiskFlag(**r) for r in data["risks"]),
            gaps=tuple(GapItem(**g) for g in data["gaps"]),
            answers=tuple(AnswerItem(**a) for a in data["answers"]),
            kb_version=data["kb_version"],
            created_at=data["created_at"],
            title=data.get("title", "私域启动准备度诊断"),
            closing_quote=closing.get("quote", ""),
            closing_section=closing.get("section", ""),
            closing_title=closing.get("title", ""),
            extra={k: v for k, v in data.items() if k not in known},
        )


def cite_gaps(rubric: Rubric, gap_scores: Sequence[GapScore], citer: Citer | None) -> tuple[GapItem, ...]:
    """Gap items with, for each, a verbatim passage of the gap's own section that prescribes the pre-work."""
    gaps = []
    for g in gap_scores:
        q = g.question
        cite = citer.cite(q.section, f"{q.gap.todo} {q.gap.missing} {q.text}") if citer else None
        title = (citer.section_title(q.section) if citer else None) or (cite.title if cite else q.section)
        gaps.append(
            GapItem(
                question_id=q.id, section=q.section, title=title, severity=g.severity, missing=q.gap.missing,
                why=q.gap.why, why_section=q.gap.why_section, todo=q.gap.todo,
                quote=cite.quote if cite else "", quote_section=cite.section if cite else "",
                quote_title=cite.title if cite else "", kb_version=cite.kb_version if cite else "",
                unknown=g.unknown, priority=round(g.priority, 3),
            )
        )
    return tuple(gaps)


def assemble_report(rubric: Rubric, scores: Scores, answers: Sequence[AnswerItem], citer: Citer | None) -> Report:
    """A report from scores and answer items: cited gaps, chapter 7's closing, the knowledge-base version(s)."""
    gaps = cite_gaps(rubric, scores.gaps, citer)
    kb_versions = {g.kb_version for g in gaps if g.kb_version}
    closing = citer.cite(rubric.closing_section, rubric.closing_text) if citer else None
    if closing:
        kb_versions.add(closing.kb_version)
    return Report(
        verdict=scores.verdict,
        overall=scores.overall,
        dimensions=tuple(DimensionScore(d.id, d.section, d.title, scores.dimensions[d.id]) for d in rubric.dimensions),
        risks=tuple(RiskFlag(r.id, r.section, r.title, scores.risks[r.id]) for r in rubric.risks),
        gaps=gaps,
        answers=tuple(answers),
        kb_version=",".join(sorted(kb_versions)) or "none",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        title=rubric.title,
        closing_quote=closing.quote if closing else rubric.closing_text,
        closing_section=closing.section if closing else rubric.closing_section,
        closing_title=closing.title if closing else "",
    )


def build_report(rubric: Rubric, answers: Mapping[str, Mapping[str, Any]], citer: Citer | None) -> Report:
    """Scores the answers and cites, for every gap, the passage of the guidance that prescribes the pre-work."""
    levels = {qid: a.get("level") for qid, a in answers.items()}
    answer_items = []
    for q in rubric.questions:
        a = answers.get(q.id)
        if a is None:
            continue
        level = a.get("level")
        via = str(a.get("via", "option"))
        answer_items.append(
            AnswerItem(q.id, q.section, str(a.get("text", "")), level, q.max_level, answer_label(q, level, via), via)
        )
    return assemble_report(rubric, score(rubric, levels), answer_items, citer)
