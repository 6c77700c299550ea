"""A short answer written by the optional chat model from the retrieved passages only, each claim marked with its
section id — or None, and the passages are shown alone.

The model is never asked without passages. Its answer is kept only when every section id it cites is one of the
passages' sections and it cites at least one; "NOT_COVERED" (the prompt's word for "the passages do not answer
this") and any failure fall back to the passages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from bot.knowledge.search import Passage
from bot.llm import prompt
from bot.ports import Completer

logger = logging.getLogger(__name__)

_CITED_RE = re.compile(r"[\[【]\s*([0-9A-Za-z][0-9A-Za-z._-]{0,31})\s*[\]】]")
NOT_COVERED = "NOT_COVERED"


def cited_sections(answer: str) -> set[str]:
    """The section ids an answer marks ([4.2] or 【4.2】)."""
    return set(_CITED_RE.findall(answer))


async def grounded_answer(model: Completer | None, question: str, passages: Sequence[Passage]) -> str | None:
    """The model's short answer from `passages`, or None (no model, no passages, not covered, or not grounded)."""
    if model is None or not passages:
        return None
    blocks = "\n\n".join(f"[{p.section}] {p.title}\n{p.text}" for p in passages)
    reply = await model.complete(prompt("grounded_answer").format(question=question, passages=blocks))
    if reply is None or NOT_COVERED in reply:
        return None
    cited, allowed = cited_sections(reply), {p.section for p in passages}
    if not cited or not cited <= allowed:
        logger.info("chat model answer cites %s, retrieved %s: showing the passages only", sorted(cited),
                    sorted(allowed))
        return None
    return reply.strip()
