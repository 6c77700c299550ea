"""InterviewService: the one entry point front ends use (Telegram, terminal); returns plain frozen values."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.coordination import Coordinator, LocalCoordinator
from bot.errors import InterviewError
from bot.interview.rubric import Question, Rubric
from bot.interview.state import (
    BACK,
    CANCEL,
    RESTART,
    SKIP,
    Answer,
    ChooseOption,
    InputKind,
    Resume,
    Revisit,
    TypeText,
    as_value,
)
from bot.ports import EventSink, InterviewCompleted, InterviewStarted, ReportArchive
from bot.report.build import answer_label
from bot.report.model import Report

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
    total: int = 0  # questions in the interview
    section_label: str = ""  # "4.2 用户洞察与画像"

    @property
    def progress(self) -> str:
        """`第 5/18 题 ·「4.2 用户洞察与画像」` of the answered question."""
        return f"第 {self.index + 1}/{self.total} 题 ·「{self.section_label}」"

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

PRIVATE_PREFIX = "chat:"


def private_thread(chat_id: int) -> str:
    """The interview thread of a private chat (its chat id is the user's id)."""
    return f"{PRIVATE_PREFIX}{chat_id}"


def user_of_thread(thread_id: str) -> int | None:
    """The user of a private chat's thread; None for any other thread (the terminal, a group member's copy)."""
    if not thread_id.startswith(PRIVATE_PREFIX):
        return None
    try:
        return int(thread_id[len(PRIVATE_PREFIX):])
    except ValueError:
        return None


def _short_title(title: str) -> str:
    """'4.2 用户洞察与画像:了解你的私域对象' → '4.2 用户洞察与画像'."""
    return re.split(r"[:：]", title, maxsplit=1)[0].strip()


class InterviewService:
    """Runs interviews on the compiled graph; one thread per chat (or per member of a group session)."""

    def __init__(self, *, graph: Any, rubric: Rubric,
                 section_title: Callable[[str], str | None] | None = None,
                 events: EventSink | None = None, archive: ReportArchive | None = None,
                 locks: Coordinator | None = None) -> None:
        self.graph = graph
        self.rubric = rubric
        self._section_title = section_title
        self._events = events
        self._archive_to = archive
        # Serialises the actions of one thread: in this process, or across instances (Redis) when several serve the
        # same users. The checkpoint is the only record of where a thread stands (nothing about a thread is cached
        # here, so a restart or another instance sees the same).
        self.locks: Coordinator = locks or LocalCoordinator()
        self._titles: dict[str, tuple[float, str]] = {}  # section labels of the knowledge base (a derived cache)

    def _lock(self, thread_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        return self.locks.lock(f"thread:{thread_id}")

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

    async def _emit(self, thread_id: str, report: dict[str, Any] | None = None) -> None:
        """A usage event of a private chat: the interview started, or completed with this report.json."""
        user = user_of_thread(thread_id)
        if self._events is None or user is None:
            return
        event = InterviewStarted(user) if report is None else InterviewCompleted(user, report)
        try:
            await self._events.emit(event)
        except Exception:  # noqa: BLE001 - usage statistics must never break an interview
            logger.exception("event sink failed for %s", event.kind)

    async def _archive(self, thread_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Keeps the new report in the user's history, which adds the comparison with their previous diagnosis
        and the benchmark; the checkpoint then holds that report. A failing archive never loses the report."""
        user = user_of_thread(thread_id)
        if self._archive_to is None or user is None:
            return values
        try:
            report = dict(await self._archive_to.archive(user, values["report"]))
        except Exception:  # noqa: BLE001 - the report itself is already safe in the checkpoint
            logger.exception("could not archive a report")
            return values
        await self.graph.aupdate_state(self._config(thread_id), {"report": report, "last_report": report})
        return {**values, "report": report, "last_report": report}

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
                              total=len(self.rubric.questions), section_label=self.section_label(q),
                              text=str(answer.get("text", "")), label=answer_label(q, level, via))

    def _step(self, thread_id: str, values: dict[str, Any], *, notice: str | None = None,
              after_input: bool = False) -> Step:
        """The step the values describe; `after_input` adds what the user's input just recorded or asked."""
        finished = bool(values.get("done") and values.get("report"))
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
        """Whether a question is waiting for an answer (one checkpoint read)."""
        snap = await self._snapshot(thread_id)
        return bool(snap.values) and bool(snap.next)

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
            await self._emit(thread_id)
        return step

    @staticmethod
    def _fresh_run(*, index: int, answers: dict[str, Any], notice: str) -> dict[str, Any]:
        """The input of a new graph run that asks question `index` with `answers` already given."""
        return {
            "index": index, "answers": answers, "clarifying": False, "notice": notice, "incoming": None,
            "route": "ask", "recorded": "", "aside": "", "done": False, "report": None, "cancelled": False,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }

    async def _resume(self, thread_id: str, resume: Resume, *, expect_qid: str | None = None) -> Step:
        """Resumes the thread's graph with the user's input (the checkpoint is read once, under the thread's lock)."""
        async with self._lock(thread_id):
            snap = await self._snapshot(thread_id)
            if not (snap.values and snap.next):
                raise NoInterview("no interview is running")
            if expect_qid is not None:
                current = self._question_at(int(snap.values.get("index", 0)))
                if current.id != expect_qid:
                    raise StaleAction(f"button for {expect_qid}, current question is {current.id}")
            from langgraph.types import Command  # imported late: keeps langgraph off the bot's start-up path

            values = await self.graph.ainvoke(Command(resume=as_value(resume)), self._config(thread_id),
                                              durability=DURABILITY)
            if values.get("done") and values.get("report"):
                values = await self._archive(thread_id, values)
            step = self._step(thread_id, values, after_input=True)
        if resume.kind is InputKind.RESTART:
            await self._emit(thread_id)
        if isinstance(step, Finished):
            await self._emit(thread_id, values["report"])
        return step

    async def answer_option(self, thread_id: str, question_id: str, level: int) -> Step:
        """Answers the current question with an option (StaleAction if the button is not for it)."""
        try:
            q = self.rubric.question(question_id)
        except KeyError as e:
            raise StaleAction(f"unknown question {question_id}") from e
        if not 0 <= level <= q.max_level:
            raise StaleAction(f"level {level} out of range for {question_id}")
        return await self._resume(thread_id, ChooseOption(level), expect_qid=question_id)

    async def answer_text(self, thread_id: str, text: str) -> Step:
        """Answers the current question in free text (a bare option number picks that option: the reader knows)."""
        return await self._resume(thread_id, TypeText(text))

    async def skip(self, thread_id: str) -> Step:
        """Skips the current question (recorded as unknown)."""
        return await self._resume(thread_id, SKIP)

    async def back(self, thread_id: str) -> Step:
        """Goes back to the previous question."""
        return await self._resume(thread_id, BACK)

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
                values = await self.graph.ainvoke(Command(resume=as_value(Revisit(question_id))),
                                                  self._config(thread_id), durability=DURABILITY)
            else:
                run = self._fresh_run(index=index, answers=answers,
                                      notice=NOTICE_REOPENED if reopened else NOTICE_RESUMED)
                if not reopened:  # paused with /cancel: the same run goes on
                    run["started_at"] = values.get("started_at", run["started_at"])
                values = await self.graph.ainvoke(run, self._config(thread_id), durability=DURABILITY)
            step = self._step(thread_id, values, after_input=True)
        if reopened:
            await self._emit(thread_id)
        return step

    async def restart(self, thread_id: str) -> Step:
        """Starts over from the first question."""
        try:
            return await self._resume(thread_id, RESTART)
        except NoInterview:
            return await self.start(thread_id, fresh=True)

    async def cancel(self, thread_id: str) -> bool:
        """Pauses the running interview (answers kept; `start` continues it). False if none was running."""
        try:
            await self._resume(thread_id, CANCEL)
        except NoInterview:
            return False
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

    async def forget_thread(self, thread_id: str) -> None:
        """Deletes every checkpoint of this thread."""
        async with self._lock(thread_id):
            await self.graph.checkpointer.adelete_thread(thread_id)

    async def forget(self, user_id: int) -> int:
        """Deletes the user's private interview (answers, progress, reports), overwriting the freed pages."""
        from bot.interview.checkpoint import secure_delete  # imported late: keeps langgraph off the start-up path

        async with secure_delete(self.graph.checkpointer):
            await self.forget_thread(private_thread(user_id))
        return 1
