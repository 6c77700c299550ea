"""Builds the private report (pure): scores, gaps in the words of the level answered, each citing its own section
verbatim, and the action plan in the guidance's order (`bot.report.plan`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.interview.rubric import Question, Rubric
from bot.interview.scoring import GapScore, Scores, score
from bot.report.model import PENDING_LABEL, SKIPPED_LABEL, AnswerItem, DimensionScore, GapItem, Report, RiskFlag
from bot.report.plan import build_plan


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


def nearest_level(question: Question, level: float | None) -> int | None:
    """The option level closest to a (team's mean) level; None stays None."""
    if level is None:
        return None
    return min((o.level for o in question.options), key=lambda v: (abs(v - level), v))


def cite_gaps(gap_scores: Sequence[GapScore], citer: Citer | None) -> tuple[GapItem, ...]:
    """Gap items in the words of the level answered, each with a verbatim passage of its own section."""
    gaps = []
    for g in gap_scores:
        q = g.question
        level = nearest_level(q, g.level)
        text = q.gap.for_level(level)
        cite = citer.cite(q.section, f"{text.todo} {text.missing} {q.text}") if citer else None
        title = (citer.section_title(q.section) if citer else None) or (cite.title if cite else q.section)
        gaps.append(
            GapItem(
                question_id=q.id, section=q.section, title=title, severity=g.severity, missing=text.missing,
                why=q.gap.why, why_section=q.gap.why_section, todo=text.todo,
                quote=cite.quote if cite else "", quote_section=cite.section if cite else "",
                quote_title=cite.title if cite else "", kb_version=cite.kb_version if cite else "",
                unknown=g.unknown, priority=round(g.priority, 3), level=level,
                answer_label=q.option(level).label if level is not None else PENDING_LABEL,
            )
        )
    return tuple(gaps)


def assemble_report(rubric: Rubric, scores: Scores, answers: Sequence[AnswerItem], citer: Citer | None,
                    *, gap_filter: set[str] | None = None) -> Report:
    """A report from scores and answer items: cited gaps (only those in `gap_filter` when given), the plan,
    chapter 7's closing, the knowledge-base version(s)."""
    gaps = cite_gaps([g for g in scores.gaps if gap_filter is None or g.question.id in gap_filter], citer)
    plan = build_plan(rubric, gaps, citer, ready=scores.verdict == "ready")
    kb_versions = {g.kb_version for g in gaps if g.kb_version} | {p.kb_version for p in plan if p.kb_version}
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
        plan=plan,
        plan_steps=dict(rubric.plan.steps),
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
        answer_items.append(AnswerItem(q.id, q.section, str(a.get("text", "")), level, q.max_level,
                                       answer_label(q, level, via), via, q.text))
    return assemble_report(rubric, score(rubric, levels), answer_items, citer)
