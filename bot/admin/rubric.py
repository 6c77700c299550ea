"""Reloading `knowledge/rubric.yaml` in a running bot: validate, rebuild the graph, swap it in.

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
from bot.interview.reader import reader_for
from bot.interview.rubric import Rubric, load_rubric
from bot.interview.service import InterviewService


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


async def reload_rubric(path: Path, *, interview: InterviewService, knowledge: Any,
                        groups: Any | None = None) -> RubricChange:
    """Validates the rubric file against the active knowledge base and swaps it in; RubricError lists the reasons."""
    new = await asyncio.to_thread(load_rubric, path)
    problems = compatibility_problems(interview.rubric, new)
    missing = await asyncio.to_thread(lambda: sorted(s for s in new.cited_sections() if not knowledge.has_section(s)))
    if missing:
        problems.append(f"sections not in the active knowledge base: {', '.join(missing)}")
    if problems:
        raise RubricError(problems, path=str(path))
    from bot.interview.graph import build_graph  # imported late: keeps LangGraph off the bot's start-up path

    graph = build_graph(rubric=new, checkpointer=interview.graph.checkpointer, citer=knowledge,
                        reader=reader_for(knowledge.store.embeddings))
    change = rubric_change(interview.rubric, new)
    interview.reload(graph, new)
    if groups is not None:
        groups.rubric = new
    return change
