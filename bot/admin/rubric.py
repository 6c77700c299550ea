"""Reloading `knowledge/rubric.yaml` in a running bot: validate, then put it in force through the rubric holder.

What happens to interviews in progress: they carry on with the new rubric at the same position (clamped to the
last question); answers are kept by question id and answers to removed questions are ignored in scoring. An old
question's button that no longer matches is refused as outdated (/diagnose shows the current question). So that
an answer already given always stays a valid level, a question that keeps its id must keep its number of options
(give it a new id to change them); such a rubric is refused with the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import RubricError
from bot.interview.rubric import Rubric, RubricHolder, load_rubric


@dataclass(frozen=True)
class RubricChange:
    """What a reload changed."""

    questions: int
    dimensions: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    reworded: tuple[str, ...]  # same id, other text, options or sections


def compatibility_problems(old: Rubric, new: Rubric) -> list[str]:
    """Reasons a new rubric cannot replace the old one under running interviews."""
    problems = []
    before = {q.id: q for q in old.questions}
    for q in new.questions:
        prev = before.get(q.id)
        if prev is not None and len(prev.options) != len(q.options):
            problems.append(f"question {q.id}: {len(prev.options)} options before, {len(q.options)} now "
                            "(answers already given would not fit; give the changed question a new id)")
    return problems


def rubric_change(old: Rubric, new: Rubric) -> RubricChange:
    """Questions added, removed and changed."""
    before = {q.id: q for q in old.questions}
    after = {q.id: q for q in new.questions}
    return RubricChange(
        questions=len(new.questions),
        dimensions=len(new.dimensions),
        added=tuple(q for q in after if q not in before),
        removed=tuple(q for q in before if q not in after),
        reworded=tuple(q for q in after if q in before and after[q] != before[q]),
    )


async def reload_rubric(path: Path, *, rubrics: RubricHolder, knowledge: Any) -> RubricChange:
    """Validates the rubric file against the active knowledge base and puts it in force (the holder tells the
    interview and the group room); RubricError lists the reasons and the old rubric stays."""
    new = await asyncio.to_thread(load_rubric, path)
    old = rubrics.current
    problems = compatibility_problems(old, new)
    missing = await asyncio.to_thread(lambda: sorted(s for s in new.cited_sections() if not knowledge.has_section(s)))
    if missing:
        problems.append(f"sections not in the active knowledge base: {', '.join(missing)}")
    if problems:
        raise RubricError(problems, path=str(path))
    rubrics.replace(new)
    return rubric_change(old, new)
