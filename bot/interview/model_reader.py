"""Reading an unclear free-text answer with the optional chat model: a small JSON reply, validated here.

Used only when the deterministic reader is unsure (it never overrides a confident reading). The model is asked
for plain JSON in the prompt — not schema-structured output, which many OpenAI-compatible servers reject — and the
reply is accepted only when it parses and names a level the question has (or says the message is a question).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from bot.interview.reader import Reading
from bot.interview.rubric import Question
from bot.llm import prompt
from bot.ports import Completer

logger = logging.getLogger(__name__)

_JSON_RE = re.compile(r"\{.*\}", re.S)
MODEL_CONFIDENCE = 0.5  # what a validated model reading counts as (between the rules' thresholds)


def _json_object(reply: str) -> dict[str, Any] | None:
    """The first JSON object in a reply (models wrap it in prose or ```json fences), or None."""
    match = _JSON_RE.search(reply)
    if match is None:
        return None
    try:
        data = json.loads(match.group())
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


async def read_with_model(model: Completer, question: Question, text: str) -> Reading | None:
    """The model's reading of an answer the rules could not read: an option level, a side question, or None."""
    options = "\n".join(f"level {o.level}: {o.label}" for o in sorted(question.options, key=lambda o: -o.level))
    reply = await model.complete(prompt("read_answer").format(question=question.text, options=options, answer=text))
    if reply is None:
        return None
    data = _json_object(reply)
    if data is None:
        logger.info("chat model reply is not JSON; asking the user again")
        return None
    reason = str(data.get("reason") or "")[:80]
    kind, level = data.get("kind"), data.get("level")
    if kind == "question":
        return Reading(None, MODEL_CONFIDENCE, f"model: {reason}", "question")
    if kind == "answer" and isinstance(level, int) and not isinstance(level, bool) and \
            level in {o.level for o in question.options}:
        return Reading(level, MODEL_CONFIDENCE, f"model: {reason}")
    if kind == "answer":
        logger.info("chat model named level %r, which %s does not have; asking again", level, question.id)
    return None
