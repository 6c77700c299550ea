"""Graph nodes: verb-named functions that return partial state updates; dependencies come in through `Deps`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langgraph.types import interrupt

from bot.interview.model_reader import read_with_model
from bot.interview.reader import AnswerReader
from bot.interview.rubric import Rubric
from bot.interview.state import Answer, ChooseOption, InputKind, InterviewState, Revisit, TypeText, parse_resume
from bot.ports import Completer
from bot.report.build import Citer, build_report

logger = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 1000  # what is kept of a free-text answer (the rest is noted as cut)

NOTICE_BACK = "已返回上一题，可以重新作答。"
NOTICE_FIRST = "这已经是第一题了。"
NOTICE_RESTART = "已重新开始诊断。"
NOTICE_CLARIFY = "我没能确定你的意思。请直接点选最接近的选项，或换个说法再描述一下（例如“还没开始”“做了一部分”“已经完成并有负责人”）。"
NOTICE_UNKNOWN = "仍无法判断，这题先记为「待确认」，报告中会列为待确认的缺口。"
NOTICE_REVISIT = "请重新回答这一题，之后的回答都会保留。"
NOTICE_ASIDE = "以上是指导文章中与你的问题相关的内容。回到这一题："


@dataclass(frozen=True)
class Deps:
    """What the nodes need, injected by `build_graph`."""

    rubric: Rubric
    reader: AnswerReader
    citer: Citer | None = None
    llm: Completer | None = None  # the optional chat model (bot.llm.ChatModel); None by default


async def ask(state: InterviewState) -> dict[str, Any]:
    """Pauses for the user's answer to the current question (idempotent: it re-runs on resume)."""
    value = interrupt({"index": state.get("index", 0), "clarify": state.get("clarifying", False)})
    return {"incoming": value}


def make_interpret(deps: Deps):  # type: ignore[no-untyped-def]
    """Builds the node that turns the user's input into an answer, a clarification, a side question, or navigation."""

    async def read_input(state: InterviewState) -> dict[str, Any]:
        incoming = parse_resume(state.get("incoming"))
        # Clamped: a rubric reloaded with fewer questions must not strand an interview past its end.
        index = min(state.get("index", 0), len(deps.rubric.questions) - 1)
        question = deps.rubric.questions[index]
        answers = dict(state.get("answers") or {})
        if incoming.kind is InputKind.BACK:
            if index == 0:
                return {"route": "ask", "notice": NOTICE_FIRST, "clarifying": False}
            return {"route": "ask", "index": index - 1, "notice": NOTICE_BACK, "clarifying": False}
        if isinstance(incoming, Revisit):
            target = next((i for i, q in enumerate(deps.rubric.questions) if q.id == incoming.question_id), None)
            if target is None:  # the service checks the id first; only a rubric reloaded in between lands here
                return {"route": "ask"}
            return {"route": "ask", "index": target, "notice": NOTICE_REVISIT, "clarifying": False}
        if incoming.kind is InputKind.CANCEL:
            return {"route": "end", "cancelled": True, "clarifying": False, "notice": ""}
        if incoming.kind is InputKind.RESTART:
            return {"route": "ask", "index": 0, "answers": {}, "notice": NOTICE_RESTART, "clarifying": False,
                    "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        if incoming.kind is InputKind.SKIP:
            answers[question.id] = Answer(level=None, text="", via="skip")
            return {"route": "advance", "answers": answers, "notice": "", "recorded": question.id}
        if isinstance(incoming, ChooseOption):
            answers[question.id] = Answer(level=incoming.level, text=question.option(incoming.level).label,
                                          via="option")
            return {"route": "advance", "answers": answers, "notice": "", "recorded": question.id}
        text = incoming.text.strip() if isinstance(incoming, TypeText) else ""
        kept = text if len(text) <= MAX_ANSWER_CHARS else text[:MAX_ANSWER_CHARS] + "…（已截断）"
        chosen = deps.reader.choice(question, text)
        if chosen is not None:  # "1" or an option's exact label: the same as pressing its button
            answers[question.id] = Answer(level=chosen, text=question.option(chosen).label, via="option")
            return {"route": "advance", "answers": answers, "notice": "", "recorded": question.id}
        # Off the event loop: the embedding voice costs ~15–25 ms of CPU a reading.
        reading = await asyncio.to_thread(deps.reader.read, question, text[:MAX_ANSWER_CHARS])
        if reading.kind == "unclear" and deps.llm is not None:  # the model reads only what the rules could not
            reading = await read_with_model(deps.llm, question, text[:MAX_ANSWER_CHARS]) or reading
        if reading.kind == "question":
            # Not an answer: nothing is recorded and `clarifying` is left as it was (this is not the re-ask).
            return {"route": "ask", "aside": text[:MAX_ANSWER_CHARS], "notice": NOTICE_ASIDE}
        if reading.level is not None:
            answers[question.id] = Answer(level=reading.level, text=kept, via="text")
            return {"route": "advance", "answers": answers, "notice": "", "recorded": question.id}
        if not state.get("clarifying"):
            return {"route": "ask", "clarifying": True, "notice": NOTICE_CLARIFY}
        answers[question.id] = Answer(level=None, text=kept, via="unclear")
        return {"route": "advance", "answers": answers, "notice": NOTICE_UNKNOWN, "recorded": question.id}

    async def interpret(state: InterviewState) -> dict[str, Any]:
        """Reads the input: option, free text (an answer, unclear, or a side question), skip, back, revisit, restart."""
        # `recorded` and `aside` describe this one input only: cleared unless the input sets them.
        return {"recorded": "", "aside": "", **await read_input(state)}

    return interpret


def make_advance(deps: Deps):  # type: ignore[no-untyped-def]
    """Builds the node that moves to the next question."""

    async def advance(state: InterviewState) -> dict[str, Any]:
        """Moves to the next question (the report comes after the last)."""
        return {"index": state.get("index", 0) + 1, "clarifying": False}

    return advance


def make_report(deps: Deps):  # type: ignore[no-untyped-def]
    """Builds the node that scores the answers and writes the report."""

    def report(state: InterviewState) -> dict[str, Any]:
        """Builds the report with verbatim citations and finishes the interview."""
        built = build_report(deps.rubric, state.get("answers") or {}, deps.citer).to_json()
        return {"report": built, "last_report": built, "done": True, "notice": ""}

    return report
