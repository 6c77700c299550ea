"""InterviewService: the one entry point front ends use (Telegram, terminal); returns plain frozen values."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.errors import InterviewError
from bot.interview.report import Report, answer_label
from bot.interview.rubric import Question, Rubric
from bot.interview.state import Answer

logger = logging.getLogger(__name__)

NOTICE_RESUMED = "欢迎回来，继续上次的诊断。"
NOTICE_REOPENED = "报告已生成。请重新回答这一题，之后的回答都会保留，答完会生成新的报告。"
# One checkpoint per user action (written when the graph pauses for the next answer), not one per node:
# a crash mid-action loses only that action, and a step costs ~2 ms instead of ~12 ms (bench/interview_bench.py).
DURABILITY = "exit"
TITLE_TTL = 60.0  # seconds a section label is cached


class StaleAction(InterviewError):
    """A button or command that does not apply to the interview as it is now (old, forged or foreign)."""


class NoInterview(InterviewError):
    """No interview is running in this thread."""


@dataclass(frozen=True)
class RecordedAnswer:
    """What the user's last input recorded, to show back as 记录为：「label」 with a way to correct it."""

    question: Question
    index: int  # 0-based position of the question
    level: int | None
    via: str  # option / text / skip / unclear
    text: str  # what the user typed (or the option label)
    label: str  # the option's label; 待确认 when unclear twice; 未知（跳过） when skipped

    @property
    def pending(self) -> bool:
        """Recorded as unknown because the free text stayed unclear (待确认)."""
        return self.via == "unclear"


@dataclass(frozen=True)
class QuestionStep:
    """The interview waits for an answer to `question`."""

    thread_id: str
    question: Question
    index: int  # 0-based
    total: int
    section_label: str  # "4.2 用户洞察与画像"
    clarify: bool
    notice: str
    previous: Answer | None  # the answer given before, when the user went back
    recorded: RecordedAnswer | None = None  # what the input that led here recorded (None: nothing, or a re-read)
    aside: str | None = None  # a side question the user asked instead of answering: answer it, then re-show this

    @property
    def progress(self) -> str:
        """`第 5/18 题 ·「4.2 用户洞察与画像」`."""
        return f"第 {self.index + 1}/{self.total} 题 ·「{self.section_label}」"

    @property
    def previous_shown(self) -> str | None:
        """The earlier answer as shown to the user: what was typed or chosen, 待确认, or 跳过 (None if none)."""
        if self.previous is None:
            return None
        via = self.previous.get("via", "option")
        if via == "unclear":
            return answer_label(self.question, None, via)
        return self.previous.get("text") or "跳过"


@dataclass(frozen=True)
class Finished:
    """The interview is over; here is the report."""

    thread_id: str
    report: Report
    notice: str = ""
    recorded: RecordedAnswer | None = None  # what the last input recorded (the last question's answer)


Step = QuestionStep | Finished

# (kind, thread id, data): "started" {} when a new interview begins, "completed" {"report": report.json}.
EventHook = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def _short_title(title: str) -> str:
    """'4.2 用户洞察与画像:了解你的私域对象' → '4.2 用户洞察与画像'."""
    return re.split(r"[:：]", title, maxsplit=1)[0].strip()


class InterviewService:
    """Runs interviews on the compiled graph; one thread per chat (or per member of a group session)."""

    def __init__(self, *, graph: Any, rubric: Rubric,
                 section_title: Callable[[str], str | None] | None = None,
                 on_event: EventHook | None = None) -> None:
        self.graph = graph
        self.rubric = rubric
        self._section_title = section_title
        self._on_event = on_event
        self._locks: dict[str, asyncio.Lock] = {}
        # Where each thread stands after its last step in this process (waiting, question index), so a button
        # press costs one graph run instead of a checkpoint read plus a run. The checkpoint stays the truth:
        # a thread not in the cache (e.g. after a restart) is read from it.
        self._position: dict[str, tuple[bool, int]] = {}
        self._titles: dict[str, tuple[float, str]] = {}

    def _lock(self, thread_id: str) -> asyncio.Lock:
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        return lock

    @staticmethod
    def _config(thread_id: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id}}

    def _question_at(self, index: int) -> Question:
        """The question at a position, clamped: a reloaded rubric may have fewer questions than a running interview."""
        return self.rubric.questions[min(index, len(self.rubric.questions) - 1)]

    def section_label(self, question: Question) -> str:
        """Section id and short title of the question's section (cached for a minute)."""
        cached = self._titles.get(question.section)
        if cached is not None and time.monotonic() - cached[0] < TITLE_TTL:
            return cached[1]
        label = self._compute_label(question)
        self._titles[question.section] = (time.monotonic(), label)
        return label

    def _compute_label(self, question: Question) -> str:
        title = None
        if self._section_title is not None:
            try:
                title = self._section_title(question.section)
            except Exception:  # noqa: BLE001 - a missing knowledge base must not stop the interview
                logger.exception("section title lookup failed")
        if title:
            short = _short_title(title)
            return short if short.startswith(question.section) else f"{question.section} {short}"
        dim = next((d.title for d in self.rubric.dimensions if d.id == question.dimension), "")
        return f"{question.section} {dim}".strip()

    async def _emit(self, kind: str, thread_id: str, data: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            await self._on_event(kind, thread_id, data)
        except Exception:  # noqa: BLE001 - usage statistics must never break an interview
            logger.exception("event hook failed for %s", kind)

    async def _snapshot(self, thread_id: str) -> Any:
        return await self.graph.aget_state(self._config(thread_id))

    def _recorded(self, values: dict[str, Any]) -> RecordedAnswer | None:
        """The answer the last input recorded, as named to the user (None when it recorded none)."""
        qid = str(values.get("recorded") or "")
        answer = (values.get("answers") or {}).get(qid) if qid else None
        if answer is None:
            return None
        try:
            q = self.rubric.question(qid)
        except KeyError:  # a rubric reloaded between the answer and now
            return None
        level, via = answer.get("level"), str(answer.get("via", "option"))
        return RecordedAnswer(question=q, index=self.rubric.questions.index(q), level=level, via=via,
                              text=str(answer.get("text", "")), label=answer_label(q, level, via))

    def _step(self, thread_id: str, values: dict[str, Any], *, notice: str | None = None,
              after_input: bool = False) -> Step:
        """The step the values describe; `after_input` adds what the user's input just recorded or asked."""
        finished = bool(values.get("done") and values.get("report"))
        waiting = not finished and not values.get("cancelled")
        self._position[thread_id] = (waiting, int(values.get("index", 0)))
        recorded = self._recorded(values) if after_input else None
        if finished:
            return Finished(thread_id, Report.from_json(values["report"]), notice or "", recorded)
        q = self._question_at(int(values.get("index", 0)))
        index = self.rubric.questions.index(q)
        return QuestionStep(
            thread_id=thread_id,
            question=q,
            index=index,
            total=len(self.rubric.questions),
            section_label=self.section_label(q),
            clarify=bool(values.get("clarifying")),
            notice=notice if notice is not None else str(values.get("notice") or ""),
            previous=(values.get("answers") or {}).get(q.id),
            recorded=recorded,
            aside=(str(values.get("aside") or "") or None) if after_input else None,
        )

    async def current(self, thread_id: str) -> Step | None:
        """Where this thread stands: the pending question, the finished report, or None."""
        snap = await self._snapshot(thread_id)
        if not snap.values:
            return None
        if snap.next or (snap.values.get("done") and not snap.values.get("cancelled")):
            return self._step(thread_id, snap.values)
        return None

    async def in_progress(self, thread_id: str) -> bool:
        """Whether a question is waiting for an answer."""
        known = self._position.get(thread_id)
        if known is not None:
            return known[0]
        snap = await self._snapshot(thread_id)
        waiting = bool(snap.values) and bool(snap.next)
        self._position[thread_id] = (waiting, int((snap.values or {}).get("index", 0)))
        return waiting

    async def start(self, thread_id: str, *, fresh: bool = False) -> Step:
        """Starts an interview, or returns the pending question of one already running (unless `fresh`)."""
        async with self._lock(thread_id):
            snap = await self._snapshot(thread_id)
            if snap.values and snap.next and not fresh:
                return self._step(thread_id, snap.values, notice=NOTICE_RESUMED)
            initial = self._fresh_run(index=0, answers={}, notice="")
            resumed = bool(snap.values and snap.values.get("cancelled") and not fresh)
            if resumed:
                # Paused with /cancel: continue where it stopped, answers kept.
                initial.update(index=snap.values.get("index", 0), answers=snap.values.get("answers") or {},
                               notice=NOTICE_RESUMED, started_at=snap.values.get("started_at", initial["started_at"]))
            values = await self.graph.ainvoke(initial, self._config(thread_id), durability=DURABILITY)
            step = self._step(thread_id, values)
        if not resumed:
            await self._emit("started", thread_id, {})
        return step

    @staticmethod
    def _fresh_run(*, index: int, answers: dict[str, Any], notice: str) -> dict[str, Any]:
        """The input of a new graph run that asks question `index` with `answers` already given."""
        return {
            "index": index, "answers": answers, "clarifying": False, "notice": notice, "incoming": None,
            "route": "ask", "recorded": "", "aside": "", "done": False, "report": None, "cancelled": False,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    async def _resume(self, thread_id: str, value: dict[str, Any], *, expect_qid: str | None = None) -> Step:
        async with self._lock(thread_id):
            known = self._position.get(thread_id)
            if known is None:
                snap = await self._snapshot(thread_id)
                known = (bool(snap.values) and bool(snap.next), int((snap.values or {}).get("index", 0)))
                self._position[thread_id] = known
            waiting, index = known
            if not waiting:
                raise NoInterview("no interview is running")
            if expect_qid is not None:
                current = self._question_at(index)
                if current.id != expect_qid:
                    raise StaleAction(f"button for {expect_qid}, current question is {current.id}")
            from langgraph.types import Command  # imported late: keeps langgraph off the bot's start-up path

            values = await self.graph.ainvoke(Command(resume=value), self._config(thread_id), durability=DURABILITY)
            step = self._step(thread_id, values, after_input=True)
        if value.get("kind") == "restart":
            await self._emit("started", thread_id, {})
        if isinstance(step, Finished):
            await self._emit("completed", thread_id, {"report": step.report.to_json()})
        return step

    async def answer_option(self, thread_id: str, question_id: str, level: int) -> Step:
        """Answers the current question with an option (StaleAction if the button is not for it)."""
        try:
            q = self.rubric.question(question_id)
        except KeyError as e:
            raise StaleAction(f"unknown question {question_id}") from e
        if not 0 <= level <= q.max_level:
            raise StaleAction(f"level {level} out of range for {question_id}")
        return await self._resume(thread_id, {"kind": "option", "level": level}, expect_qid=question_id)

    async def answer_text(self, thread_id: str, text: str) -> Step:
        """Answers the current question in free text (a bare number picks option N as shown)."""
        stripped = text.strip()
        if re.fullmatch(r"[1-4]", stripped) and await self.in_progress(thread_id):
            q = self._question_at(self._position[thread_id][1])
            number = int(stripped)
            if number <= len(q.options):
                # Options are shown ready-first and numbered from 1.
                return await self.answer_option(thread_id, q.id, q.options[number - 1].level)
        return await self._resume(thread_id, {"kind": "text", "text": text})

    async def skip(self, thread_id: str) -> Step:
        """Skips the current question (recorded as unknown)."""
        return await self._resume(thread_id, {"kind": "skip"})

    async def back(self, thread_id: str) -> Step:
        """Goes back to the previous question."""
        return await self._resume(thread_id, {"kind": "back"})

    async def revisit(self, thread_id: str, question_id: str) -> Step:
        """Asks an answered question again (by id); the answers after it are kept and the interview continues from it.

        A finished interview is reopened at that question (its next report counts as a new completion, as after
        /restart); a paused one continues from it. StaleAction when the id is unknown or that question has no
        answer in this interview (a forged button, or one from before /restart); NoInterview when there is none.
        """
        try:
            q = self.rubric.question(question_id)
        except KeyError as e:
            raise StaleAction(f"unknown question {question_id}") from e
        async with self._lock(thread_id):
            snap = await self._snapshot(thread_id)
            values = snap.values or {}
            if not values:
                raise NoInterview("no interview in this thread")
            answers = dict(values.get("answers") or {})
            if question_id not in answers:
                raise StaleAction(f"{question_id} has no answer in this interview")
            from langgraph.types import Command

            index = self.rubric.questions.index(q)
            reopened = not snap.next and bool(values.get("done"))
            if snap.next:
                values = await self.graph.ainvoke(Command(resume={"kind": "revisit", "question_id": question_id}),
                                                  self._config(thread_id), durability=DURABILITY)
            else:
                run = self._fresh_run(index=index, answers=answers,
                                      notice=NOTICE_REOPENED if reopened else NOTICE_RESUMED)
                if not reopened:  # paused with /cancel: the same run goes on
                    run["started_at"] = values.get("started_at", run["started_at"])
                values = await self.graph.ainvoke(run, self._config(thread_id), durability=DURABILITY)
            step = self._step(thread_id, values, after_input=True)
        if reopened:
            await self._emit("started", thread_id, {})
        return step

    async def restart(self, thread_id: str) -> Step:
        """Starts over from the first question."""
        if await self.in_progress(thread_id):
            return await self._resume(thread_id, {"kind": "restart"})
        return await self.start(thread_id, fresh=True)

    async def cancel(self, thread_id: str) -> bool:
        """Pauses the running interview (answers kept; `start` continues it). False if none was running."""
        if not await self.in_progress(thread_id):
            return False
        from langgraph.types import Command

        async with self._lock(thread_id):
            await self.graph.ainvoke(Command(resume={"kind": "cancel"}), self._config(thread_id),
                                    durability=DURABILITY)
            self._position[thread_id] = (False, self._position.get(thread_id, (False, 0))[1])
        return True

    async def last_report(self, thread_id: str) -> Report | None:
        """The most recent finished report of this thread."""
        snap = await self._snapshot(thread_id)
        data = (snap.values or {}).get("last_report")
        return Report.from_json(data) if data else None

    def reload(self, graph: Any, rubric: Rubric) -> None:
        """Switches to a new rubric and its compiled graph (same checkpointer); running interviews carry on.

        A running interview keeps its answers (by question id) and its position, clamped to the last question;
        answers to questions the new rubric no longer has are ignored in scoring.
        """
        self.graph = graph
        self.rubric = rubric
        self._titles.clear()

    async def forget(self, thread_id: str) -> None:
        """Deletes every checkpoint of this thread."""
        async with self._lock(thread_id):
            checkpointer = self.graph.checkpointer
            await checkpointer.adelete_thread(thread_id)
            self._position.pop(thread_id, None)
