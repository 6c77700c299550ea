"""The action plan (pure): gaps turned into one item per piece of pre-work, in the guidance's three steps.

* one item per section a gap comes from, however many questions point to it; its tasks are those gaps' to-dos
  (in the words of the level answered) and, for unknown answers, what to confirm first;
* the step, the owner role and the done-criterion of each section come from the rubric (`plan.sections`);
* order: step 1 → 3; within a step, confirmed gaps before items that only need confirming, the most severe first,
  then the heavier shortfall, then the guidance's order;
* a ready company (or one without gaps) also gets `plan.watch` (after the step's gaps): what to keep doing and what to watch — the
  failure scenarios of chapter 2 and chapter 7's 慢就是快 — so the plan is never empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.interview.rubric import PlanSection, Rubric
from bot.interview.scoring import SEVERITY_RANK
from bot.report.model import GapItem, PlanItem

if TYPE_CHECKING:
    from bot.report.build import Citer

CONFIRM_PREFIX = "先确认："


def _section_order(rubric: Rubric) -> dict[str, int]:
    order: dict[str, int] = {}
    for q in rubric.questions:
        order.setdefault(q.section, len(order))
    return order


def _gap_item(rubric: Rubric, spec: PlanSection, gaps: Sequence[GapItem]) -> PlanItem:
    known = [g for g in gaps if not g.unknown]
    tasks = [g.todo for g in known]
    for g in gaps:
        if g.unknown:
            try:
                tasks.append(CONFIRM_PREFIX + rubric.question(g.question_id).text)
            except KeyError:
                tasks.append(CONFIRM_PREFIX + g.missing)
    cited = next((g for g in known if g.quote), None) or next((g for g in gaps if g.quote), None)
    severity = min((g.severity for g in known), key=lambda s: SEVERITY_RANK.get(s, 9)) if known else ""
    return PlanItem(
        step=spec.step, section=spec.section, item=spec.item, owner_role=spec.owner_role, done_when=spec.done_when,
        quote_section=cited.quote_section if cited else "", quote=cited.quote if cited else "",
        quote_title=cited.quote_title if cited else "", kb_version=cited.kb_version if cited else "",
        tasks=tuple(dict.fromkeys(tasks)), questions=tuple(g.question_id for g in gaps), severity=severity,
        kind="gap" if known else "confirm",
    )


def _watch_item(spec: PlanSection, citer: Citer | None) -> PlanItem:
    cite = citer.cite(spec.section, f"{spec.item} {spec.done_when}") if citer else None
    return PlanItem(
        step=spec.step, section=spec.section, item=spec.item, owner_role=spec.owner_role, done_when=spec.done_when,
        quote_section=cite.section if cite else "", quote=cite.quote if cite else "",
        quote_title=cite.title if cite else "", kb_version=cite.kb_version if cite else "", kind="watch",
    )


def build_plan(rubric: Rubric, gaps: Sequence[GapItem], citer: Citer | None, *, ready: bool) -> tuple[PlanItem, ...]:
    """The ordered, de-duplicated plan for these gaps (never empty when the rubric has watch items)."""
    by_section: dict[str, list[GapItem]] = {}
    for g in gaps:
        by_section.setdefault(g.section, []).append(g)
    order = _section_order(rubric)
    items: list[tuple[tuple[int, int, int, float, int], PlanItem]] = []
    for section, section_gaps in by_section.items():
        spec = rubric.plan.sections.get(section)
        if spec is None:  # a rubric without a plan entry for it (validation requires one)
            continue
        item = _gap_item(rubric, spec, section_gaps)
        weight = max(g.priority for g in section_gaps)
        key = (item.step, item.kind != "gap", SEVERITY_RANK.get(item.severity, 9), -weight, order.get(section, 99))
        items.append((key, item))
    plan = [item for _, item in sorted(items, key=lambda pair: pair[0])]
    if ready or not plan:
        plan += [_watch_item(w, citer) for w in rubric.plan.watch]
    return tuple(sorted(plan, key=lambda p: p.step))  # stable: gaps, then confirmations, then watch items
