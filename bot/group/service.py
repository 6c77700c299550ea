"""GroupService: team diagnosis sessions in group chats, kept in the bot database so they survive a restart.

A session starts in a lobby (members join; the controller picks 实名/匿名 and an optional time box), then walks the
rubric's questions one at a time. Every member votes on the open question by level; a vote is one row keyed by
(session, question, member), so a press counted twice or two presses at once still leave exactly one vote — the last
choice. Meetings have late joiners, so a question closes on its own only when at least two members voted, every
joined member has, and `grace_seconds` have passed since the last new voter (a due row of the scheduler, so a
restart keeps it); the controller (the starter or a group admin) can close it at once, and a time box closes it at
its deadline whatever the count. A question closed with a spread of two levels or more waits for the controller:
discuss, then 🔁 重新投票 once (the first round is kept) or ⏭ 下一题. The session ends with the team report, whose plan
items members take (认领) or the controller assigns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.coordination import Coordinator, LocalCoordinator
from bot.db import Database, IntegrityError, now_iso
from bot.errors import BotError
from bot.interview.rubric import Question, Rubric, RubricHolder
from bot.ports import EventSink, GroupCompleted, GroupStarted, RubricSource
from bot.report.build import Citer
from bot.report.compare import with_previous
from bot.report.history import HistoryEntry
from bot.report.model import PlanOwner, TeamReport
from bot.report.team import DISAGREEMENT_LEVELS, Member, build_group_report, level_spread, pseudonym

if TYPE_CHECKING:
    from bot.scheduler import Scheduler

logger = logging.getLogger(__name__)

LOBBY = -1  # question_index of a session whose first question is not open yet
MIN_VOTERS = 2  # a question never closes on its own with fewer voters (the host alone must not close it)
TIME_BOXES = (0, 60, 90, 180)  # seconds a question may stay open (0: 不限时), chosen in the lobby
CLOSE_JOB = "group_close"  # scheduler kinds: the grace period ended, the time box ended
DEADLINE_JOB = "group_deadline"


class SessionStatus(StrEnum):
    """`group_sessions.status`."""

    ACTIVE = "active"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class QuestionStatus(StrEnum):
    """`group_questions.status`."""

    OPEN = "open"
    CLOSED = "closed"
    SKIPPED = "skipped"


class GroupError(BotError):
    """A group-session action that cannot be done now."""


class SessionExists(GroupError):
    """The group already has an active session."""

    def __init__(self, session: Session) -> None:
        super().__init__(f"group {session.chat_id} already has session {session.id}")
        self.session = session


class StaleGroupAction(GroupError):
    """A button for a question or session that is no longer current (closed, ended, forged)."""


@dataclass(frozen=True)
class Session:
    """A group session as stored."""

    id: int
    chat_id: int
    topic_id: int | None
    starter_id: int
    starter_name: str
    status: str  # active / finished / cancelled
    index: int  # LOBBY before the first question
    intro_message_id: int | None
    created_at: str
    anonymous: bool = False
    time_box: int = 0  # seconds (0: no limit)

    @property
    def in_lobby(self) -> bool:
        """No question has been opened yet."""
        return self.index == LOBBY


@dataclass(frozen=True)
class QuestionState:
    """One question of a session: who has joined, who voted what."""

    session_id: int
    index: int
    total: int
    question: Question
    status: str  # open / closed / skipped
    message_id: int | None
    votes: Mapping[int, int]  # user id → level
    members: tuple[Member, ...]  # joined, in joining order
    round: int = 1  # 2 once voted again after discussion
    last_joined: float | None = None  # Unix time of the latest member's first vote on it
    deadline: float | None = None  # Unix time the time box ends
    reminded: bool = False  # 🔔 提醒未投票 was sent
    anonymous: bool = False

    @property
    def voters(self) -> tuple[Member, ...]:
        """Members who voted, in joining order."""
        return tuple(m for m in self.members if m.user_id in self.votes)

    @property
    def waiting(self) -> tuple[Member, ...]:
        """Joined members who have not voted yet."""
        return tuple(m for m in self.members if m.user_id not in self.votes)

    @property
    def all_voted(self) -> bool:
        """Every joined member has voted."""
        return bool(self.members) and all(m.user_id in self.votes for m in self.members)

    @property
    def ready(self) -> bool:
        """Enough to close on its own once the grace period has passed: two or more voters, nobody missing."""
        return len(self.votes) >= MIN_VOTERS and self.all_voted

    @property
    def spread(self) -> int:
        """Highest minus lowest level chosen."""
        return level_spread(list(self.votes.values()))

    @property
    def can_revote(self) -> bool:
        """Closed in its first round with a spread of two levels or more: the team may discuss and vote again."""
        return self.status == QuestionStatus.CLOSED and self.round == 1 and self.spread >= DISAGREEMENT_LEVELS


@dataclass(frozen=True)
class VoteOutcome:
    """A recorded vote."""

    state: QuestionState
    level: int
    changed: bool  # the member had voted differently before
    joined: bool  # the vote made them a participant
    closes_at: float | None = None  # when the question closes on its own (None: not yet ready)


@dataclass(frozen=True)
class Advance:
    """What moving on did: the question it closed, the question it opened, or the finished report."""

    session: Session
    closed: QuestionState | None
    opened: QuestionState | None
    report: TeamReport | None

    @property
    def paused(self) -> bool:
        """The closed question awaits the controller (discuss, then re-vote or move on)."""
        return self.closed is not None and self.opened is None and self.report is None


def _session(row: Any) -> Session:
    return Session(id=row["id"], chat_id=row["chat_id"], topic_id=row["topic_id"], starter_id=row["starter_id"],
                   starter_name=row["starter_name"], status=row["status"], index=row["question_index"],
                   intro_message_id=row["intro_message_id"], created_at=row["created_at"],
                   anonymous=bool(row["anonymous"]), time_box=int(row["time_box"] or 0))


class GroupService:
    """Runs group sessions on the bot database (one active session per group)."""

    def __init__(self, conn: Database, *, rubric: Rubric | RubricSource, citer: Citer | None = None,
                 events: EventSink | None = None, scheduler: Scheduler | None = None, grace_seconds: float = 20.0,
                 time_box_scale: float = 1.0, clock: Callable[[], float] = time.time,
                 locks: Coordinator | None = None) -> None:
        self.conn = conn
        # Per-session locks: in this process, or shared (Redis) when several instances serve the group.
        self.locks: Coordinator = locks or LocalCoordinator()
        self.scheduler = scheduler
        self.grace_seconds = grace_seconds
        self.time_box_scale = time_box_scale  # seconds a time-box second lasts (tests shorten it)
        self.clock = scheduler.clock if scheduler is not None else clock
        # The rubric holder of the root (a bare rubric is held as is): a reload is seen on the next question.
        self._rubrics: RubricSource = rubric if not isinstance(rubric, Rubric) else RubricHolder(rubric)
        self.citer = citer
        self.events = events

    @property
    def rubric(self) -> Rubric:
        """The rubric in force."""
        return self._rubrics.current

    def _lock(self, session_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """Serialises one session's writes (across instances when the coordinator is shared)."""
        return self.locks.lock(f"session:{session_id}")

    # ------------------------------------------------------------------ reading
    async def get(self, session_id: int) -> Session | None:
        """A session by id."""
        rows = list(await self.conn.execute_fetchall("SELECT * FROM group_sessions WHERE id = ?", (session_id,)))
        return _session(rows[0]) if rows else None

    async def active(self, chat_id: int) -> Session | None:
        """The group's active session."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT * FROM group_sessions WHERE chat_id = ? AND status = 'active'", (chat_id,)))
        return _session(rows[0]) if rows else None

    async def members(self, session_id: int) -> tuple[Member, ...]:
        """Joined members, in joining order."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT user_id, name, alias FROM group_participants WHERE session_id = ?"
            " ORDER BY joined_at, LENGTH(alias), alias", (session_id,)))
        return tuple(Member(r["user_id"], r["name"], r["alias"]) for r in rows)

    async def question_state(self, session_id: int, index: int, *, session: Session | None = None) -> QuestionState:
        """The state of question `index` of a session (StaleGroupAction if it was never opened); `session`, when the
        caller has just read it, saves reading it again."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT * FROM group_questions WHERE session_id = ? AND idx = ?", (session_id, index)))
        if not rows:
            raise StaleGroupAction(f"question {index} of session {session_id} was not opened")
        row = rows[0]
        votes = await self.conn.execute_fetchall(
            "SELECT user_id, level FROM group_votes WHERE session_id = ? AND question_id = ?",
            (session_id, row["question_id"]))
        session = session or await self.get(session_id)
        return QuestionState(
            session_id=session_id, index=index, total=len(self.rubric.questions),
            question=self.rubric.question(row["question_id"]), status=row["status"], message_id=row["message_id"],
            votes={v["user_id"]: v["level"] for v in votes}, members=await self.members(session_id),
            round=int(row["round"] or 1), last_joined=row["last_joined"], deadline=row["deadline"],
            reminded=bool(row["reminded"]), anonymous=bool(session and session.anonymous))

    async def current(self, session_id: int) -> QuestionState | None:
        """The open question of a session (None in the lobby or after the end)."""
        session = await self.get(session_id)
        if session is None or session.status != SessionStatus.ACTIVE or session.in_lobby:
            return None
        return await self.question_state(session_id, session.index)

    async def report(self, session_id: int) -> TeamReport | None:
        """The stored report of a finished session, with its plan's owners as they stand."""
        rows = list(await self.conn.execute_fetchall("SELECT report FROM group_sessions WHERE id = ?", (session_id,)))
        if not rows or not rows[0]["report"]:
            return None
        return await self._with_owners(session_id, TeamReport.from_json(json.loads(rows[0]["report"])))

    async def _with_owners(self, session_id: int, report: TeamReport) -> TeamReport:
        session = await self.get(session_id)
        members = {m.user_id: m for m in await self.members(session_id)}
        rows = await self.conn.execute_fetchall(
            "SELECT idx, owner_user_id, status FROM group_plan WHERE session_id = ?", (session_id,))
        owners = []
        for r in rows:
            uid = r["owner_user_id"]
            m = members.get(uid) if uid is not None else None
            anonymous = bool(session and session.anonymous)
            shown: int | str | None = uid if not anonymous or m is None else m.alias
            name = "" if m is None else pseudonym(m.alias) if anonymous else m.name
            owners.append(PlanOwner(int(r["idx"]), shown if m is not None else None, name,
                                    r["status"] if m is not None else "open"))
        return replace(report, owners=tuple(owners))

    async def history(self, chat_id: int, *, limit: int = 20) -> list[HistoryEntry]:
        """The group's finished sessions, newest first."""
        rows = await self.conn.execute_fetchall(
            "SELECT id, finished_at, report FROM group_sessions WHERE chat_id = ? AND status = 'finished'"
            " AND report IS NOT NULL ORDER BY id DESC LIMIT ?", (chat_id, limit))
        out = []
        for r in rows:
            data = json.loads(r["report"])
            out.append(HistoryEntry(r["id"], data.get("created_at") or r["finished_at"] or "", data["verdict"],
                                    float(data["overall"]), data.get("kb_version", "")))
        return out

    async def session_report(self, chat_id: int, session_id: int) -> TeamReport | None:
        """A finished session's report, if it belongs to this group."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT report FROM group_sessions WHERE id = ? AND chat_id = ? AND report IS NOT NULL",
            (session_id, chat_id)))
        return await self._with_owners(session_id, TeamReport.from_json(json.loads(rows[0]["report"]))) if rows else None

    async def last_report(self, chat_id: int) -> tuple[int, TeamReport] | None:
        """The group's most recent finished session and its report."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT id, report FROM group_sessions WHERE chat_id = ? AND status = 'finished' AND report IS NOT NULL"
            " ORDER BY id DESC LIMIT 1", (chat_id,)))
        if not rows:
            return None
        return rows[0]["id"], await self._with_owners(rows[0]["id"], TeamReport.from_json(json.loads(rows[0]["report"])))

    async def is_member(self, session_id: int, user_id: int) -> bool:
        """Whether the user joined the session."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT 1 FROM group_participants WHERE session_id = ? AND user_id = ?", (session_id, user_id)))
        return bool(rows)

    async def member_votes(self, session_id: int, user_id: int) -> dict[str, int]:
        """question id → level this member chose."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT question_id, level FROM group_votes WHERE session_id = ? AND user_id = ?", (session_id, user_id)))
        return {r["question_id"]: r["level"] for r in rows}

    # ------------------------------------------------------------------ writing
    async def start(self, chat_id: int, starter: Member, *, topic_id: int | None = None) -> Session:
        """Opens a session in the lobby with the starter joined (SessionExists if the group has one)."""
        existing = await self.active(chat_id)
        if existing is not None:
            raise SessionExists(existing)
        now = now_iso()
        try:
            inserted = await self.conn.execute_fetchall(
                "INSERT INTO group_sessions(chat_id, topic_id, starter_id, starter_name, status, question_index,"
                " created_at) VALUES (?, ?, ?, ?, 'active', ?, ?) RETURNING id",
                (chat_id, topic_id, starter.user_id, starter.name, LOBBY, now))
        except IntegrityError as e:  # a concurrent /diagnose won the race
            await self.conn.rollback()
            existing = await self.active(chat_id)
            if existing is None:
                raise GroupError("could not start a session") from e
            raise SessionExists(existing) from e
        session_id = int(inserted[0][0])
        await self.conn.execute(
            "INSERT INTO group_participants(session_id, user_id, name, joined_at, alias) VALUES (?, ?, ?, ?, 'm1')",
            (session_id, starter.user_id, starter.name, now))
        await self.conn.commit()
        if self.events is not None:
            await self.events.emit(GroupStarted(starter.user_id, chat_id))
        session = await self.get(session_id)
        assert session is not None
        return session

    async def cancel(self, session_id: int) -> bool:
        """Ends a session without a report; False if it was not active."""
        async with self._lock(session_id):
            cur = await self.conn.execute(
                "UPDATE group_sessions SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'active'",
                (now_iso(), session_id))
            await self.conn.commit()
            return cur.rowcount > 0

    async def set_intro_message(self, session_id: int, message_id: int) -> None:
        """Remembers the lobby message (edited as members join)."""
        await self.conn.execute("UPDATE group_sessions SET intro_message_id = ? WHERE id = ?", (message_id, session_id))
        await self.conn.commit()

    async def set_question_message(self, session_id: int, index: int, message_id: int) -> None:
        """Remembers the message that shows question `index`."""
        await self.conn.execute("UPDATE group_questions SET message_id = ? WHERE session_id = ? AND idx = ?",
                                (message_id, session_id, index))
        await self.conn.commit()

    async def join(self, session_id: int, member: Member) -> bool:
        """Adds a participant; False if they had joined already (StaleGroupAction if the session is over)."""
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE:
                raise StaleGroupAction(f"session {session_id} is not active")
            return await self._join(session_id, member)

    async def _join(self, session_id: int, member: Member) -> bool:
        rows = list(await self.conn.execute_fetchall(
            "SELECT name FROM group_participants WHERE session_id = ? AND user_id = ?", (session_id, member.user_id)))
        if rows:
            if rows[0]["name"] != member.name:  # renamed since: show the current name
                await self.conn.execute("UPDATE group_participants SET name = ? WHERE session_id = ? AND user_id = ?",
                                        (member.name, session_id, member.user_id))
                await self.conn.commit()
            return False
        count = (await self.conn.execute_fetchall(
            "SELECT COUNT(*) FROM group_participants WHERE session_id = ?", (session_id,)))[0][0]  # type: ignore[index]
        await self.conn.execute(
            "INSERT INTO group_participants(session_id, user_id, name, joined_at, alias) VALUES (?, ?, ?, ?, ?)",
            (session_id, member.user_id, member.name, now_iso(), f"m{int(count) + 1}"))
        await self.conn.commit()
        return True

    async def set_options(self, session_id: int, *, anonymous: bool | None = None,
                          time_box: int | None = None) -> Session:
        """Lobby choices of the controller: 实名/匿名 and the per-question time box (StaleGroupAction once started)."""
        if time_box is not None and time_box not in TIME_BOXES:
            raise StaleGroupAction(f"time box {time_box} is not offered")
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or not session.in_lobby:
                raise StaleGroupAction(f"session {session_id} is not in its lobby")
            if anonymous is not None:
                await self.conn.execute("UPDATE group_sessions SET anonymous = ? WHERE id = ?",
                                        (int(anonymous), session_id))
            if time_box is not None:
                await self.conn.execute("UPDATE group_sessions SET time_box = ? WHERE id = ?", (time_box, session_id))
            await self.conn.commit()
            return await self._reload(session)

    async def vote(self, session_id: int, index: int, member: Member, level: int) -> VoteOutcome:
        """Records a member's choice on the open question (last choice wins); joins them if needed."""
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or session.index != index:
                raise StaleGroupAction(f"question {index} of session {session_id} is not open")
            state = await self.question_state(session_id, index, session=session)
            if state.status != QuestionStatus.OPEN:
                raise StaleGroupAction(f"question {index} of session {session_id} is closed")
            if not 0 <= level <= state.question.max_level:
                raise StaleGroupAction(f"level {level} out of range")
            joined = member.user_id not in {m.user_id for m in state.members}
            if joined:
                await self._join(session_id, member)
            before = state.votes.get(member.user_id)
            await self.conn.execute(
                "INSERT INTO group_votes(session_id, question_id, user_id, level, voted_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(session_id, question_id, user_id) DO UPDATE SET level = excluded.level,"
                " voted_at = excluded.voted_at",
                (session_id, state.question.id, member.user_id, level, now_iso()))
            last_joined = state.last_joined
            if before is None:  # a new voter on this question: the grace period starts again
                last_joined = self.clock()
                await self.conn.execute("UPDATE group_questions SET last_joined = ? WHERE session_id = ? AND idx = ?",
                                        (last_joined, session_id, index))
            await self.conn.commit()
            state = replace(state, votes={**state.votes, member.user_id: level}, last_joined=last_joined,
                            members=state.members + (await self.members(session_id))[-1:] if joined else state.members)
            closes_at = await self._schedule_close(state)
            return VoteOutcome(state, level, changed=before is not None and before != level, joined=joined,
                               closes_at=closes_at)

    def _job_key(self, kind: str, state: QuestionState) -> str:
        return f"{kind}:{state.session_id}:{state.index}:{state.round}"

    async def _schedule_close(self, state: QuestionState) -> float | None:
        """When the question is ready, its closing after the grace period (a due row); None when not ready."""
        if not state.ready:
            if self.scheduler is not None:
                await self.scheduler.cancel(self._job_key(CLOSE_JOB, state))
            return None
        closes_at = (state.last_joined or self.clock()) + self.grace_seconds
        if self.scheduler is not None and self.grace_seconds > 0:
            await self.scheduler.schedule(CLOSE_JOB, due_at=closes_at, key=self._job_key(CLOSE_JOB, state),
                                          payload={"s": state.session_id, "i": state.index, "r": state.round})
        return closes_at

    async def close_due(self, session_id: int, index: int, round_: int, *, deadline: bool = False) -> Advance | None:
        """Closes question `index` if it is still open in that round and due: its grace period has passed with
        everyone voted (or, with `deadline`, its time box has ended); None when nothing is to be done."""
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or session.index != index:
                return None
            state = await self.question_state(session_id, index)
            now = self.clock()
            if state.status != QuestionStatus.OPEN or state.round != round_:
                return None
            if deadline:
                due = state.deadline is not None and now >= state.deadline
            else:
                due = state.ready and now >= (state.last_joined or 0) + self.grace_seconds
            if not due:
                return None
            return await self._advance(session, skip=False)

    async def advance(self, session_id: int, expect_index: int, *, skip: bool = False) -> Advance:
        """Closes question `expect_index` (or the lobby) and opens the next one, or finishes after the last.

        `skip` drops the votes of the closed question (it counts as unknown). StaleGroupAction when the session
        has already moved on — two controllers pressing 下一题 at once advance it once.
        """
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or session.index != expect_index:
                raise StaleGroupAction(f"session {session_id} is not at question {expect_index}")
            return await self._advance(session, skip=skip)

    async def _advance(self, session: Session, *, skip: bool) -> Advance:
        """Closes the open question — pausing there when it can be voted again after discussion — or opens the
        next one (finishing after the last)."""
        was_open = not session.in_lobby and (await self.question_state(session.id, session.index)).status \
            == QuestionStatus.OPEN
        closed = await self._close(session, skip=skip)
        if closed is not None and was_open and closed.can_revote:
            return Advance(await self._reload(session), closed, None, None)  # discuss first: 🔁 or ⏭
        nxt = session.index + 1
        if nxt >= len(self.rubric.questions):
            report = await self._finish(session)
            return Advance(await self._reload(session), closed, None, report)
        opened = await self._open(session, nxt)
        return Advance(await self._reload(session), closed, opened, None)

    async def revote(self, session_id: int, index: int) -> QuestionState:
        """Opens a closed, divided question for a second round (once): the first round's votes are kept apart."""
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or session.index != index:
                raise StaleGroupAction(f"session {session_id} is not at question {index}")
            state = await self.question_state(session_id, index)
            if not state.can_revote:
                raise StaleGroupAction(f"question {index} of session {session_id} cannot be voted again")
            await self.conn.execute(
                "INSERT INTO group_rounds(session_id, question_id, round, votes) VALUES (?, ?, 1, ?)"
                " ON CONFLICT(session_id, question_id, round) DO UPDATE SET votes = excluded.votes",
                (session_id, state.question.id, json.dumps({str(u): lv for u, lv in state.votes.items()})))
            await self.conn.execute("DELETE FROM group_votes WHERE session_id = ? AND question_id = ?",
                                    (session_id, state.question.id))
            deadline = self.clock() + session.time_box * self.time_box_scale if session.time_box else None
            await self.conn.execute(
                "UPDATE group_questions SET status = 'open', round = 2, last_joined = NULL, reminded = 0,"
                " deadline = ?, message_id = NULL, closed_at = NULL WHERE session_id = ? AND idx = ?",
                (deadline, session_id, index))
            await self.conn.commit()
            reopened = await self.question_state(session_id, index)
            await self._schedule_deadline(reopened)
            return reopened

    async def remind(self, session_id: int, index: int) -> tuple[Member, ...]:
        """Marks the open question as reminded and returns who has not voted (StaleGroupAction the second time)."""
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or session.index != index:
                raise StaleGroupAction(f"session {session_id} is not at question {index}")
            state = await self.question_state(session_id, index)
            if state.status != QuestionStatus.OPEN or state.reminded:
                raise StaleGroupAction(f"question {index} of session {session_id}: already reminded or closed")
            if state.waiting:
                await self.conn.execute("UPDATE group_questions SET reminded = 1 WHERE session_id = ? AND idx = ?",
                                        (session_id, index))
                await self.conn.commit()
            return state.waiting

    async def end(self, session_id: int) -> Advance:
        """Ends the session now: the open question closes with its votes, and the report covers what was asked."""
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE:
                raise StaleGroupAction(f"session {session_id} is not active")
            closed = await self._close(session, skip=False)
            report = await self._finish(session)
            return Advance(await self._reload(session), closed, None, report)

    async def _reload(self, session: Session) -> Session:
        fresh = await self.get(session.id)
        assert fresh is not None
        return fresh

    async def _close(self, session: Session, *, skip: bool) -> QuestionState | None:
        if session.in_lobby:
            return None
        state = await self.question_state(session.id, session.index)
        if state.status != QuestionStatus.OPEN:
            return state
        if skip:
            await self.conn.execute("DELETE FROM group_votes WHERE session_id = ? AND question_id = ?",
                                    (session.id, state.question.id))
        await self.conn.execute(
            "UPDATE group_questions SET status = ?, closed_at = ? WHERE session_id = ? AND idx = ?",
            (QuestionStatus.SKIPPED if skip else QuestionStatus.CLOSED, now_iso(), session.id, session.index))
        await self.conn.commit()
        return await self.question_state(session.id, session.index)

    async def _open(self, session: Session, index: int) -> QuestionState:
        question = self.rubric.questions[index]
        deadline = self.clock() + session.time_box * self.time_box_scale if session.time_box else None
        await self.conn.execute(
            "INSERT INTO group_questions(session_id, idx, question_id, message_id, status, opened_at, deadline)"
            " VALUES (?, ?, ?, NULL, 'open', ?, ?) ON CONFLICT(session_id, idx) DO UPDATE SET"
            " question_id = excluded.question_id, message_id = NULL, status = 'open', opened_at = excluded.opened_at,"
            " closed_at = NULL, round = 1, last_joined = NULL, deadline = excluded.deadline, reminded = 0", (session.id, index, question.id, now_iso(), deadline))
        await self.conn.execute("UPDATE group_sessions SET question_index = ? WHERE id = ?", (index, session.id))
        await self.conn.commit()
        state = await self.question_state(session.id, index)
        await self._schedule_deadline(state)
        return state

    async def _schedule_deadline(self, state: QuestionState) -> None:
        if self.scheduler is not None and state.deadline is not None:
            await self.scheduler.schedule(DEADLINE_JOB, due_at=state.deadline, key=self._job_key(DEADLINE_JOB, state),
                                          payload={"s": state.session_id, "i": state.index, "r": state.round})

    async def _finish(self, session: Session) -> TeamReport:
        rows = list(await self.conn.execute_fetchall(
            "SELECT question_id FROM group_questions WHERE session_id = ?", (session.id,)))
        asked = [r["question_id"] for r in rows]
        votes: dict[str, dict[int, int]] = {}
        for v in await self.conn.execute_fetchall(
                "SELECT question_id, user_id, level FROM group_votes WHERE session_id = ?", (session.id,)):
            votes.setdefault(v["question_id"], {})[v["user_id"]] = v["level"]
        members = await self.members(session.id)
        rounds: dict[str, dict[int, int]] = {}
        for r in await self.conn.execute_fetchall(
                "SELECT question_id, votes FROM group_rounds WHERE session_id = ? AND round = 1", (session.id,)):
            rounds[r["question_id"]] = {int(u): int(lv) for u, lv in json.loads(r["votes"]).items()}
        report = await asyncio.to_thread(build_group_report, self.rubric, votes, members, self.citer, asked=asked,
                                         rounds=rounds, anonymous=session.anonymous)
        before = await self.last_report(session.chat_id)
        report = with_previous(report, before[1] if before else None)
        data = report.to_json()
        await self.conn.execute(
            "UPDATE group_sessions SET status = 'finished', finished_at = ?, report = ? WHERE id = ?",
            (now_iso(), json.dumps(data, ensure_ascii=False), session.id))
        await self.conn.commit()
        if self.events is not None:
            await self.events.emit(GroupCompleted(session.starter_id, session.chat_id, data))
        return report

    # ------------------------------------------------------------------ the team plan
    async def _plan_index(self, session_id: int, index: int) -> TeamReport:
        report = await self.report(session_id)
        if report is None or not 0 <= index < len(report.plan):
            raise StaleGroupAction(f"session {session_id} has no plan item {index}")
        return report

    async def _set_owner(self, session_id: int, index: int, user_id: int | None, status: str) -> None:
        await self.conn.execute(
            "INSERT INTO group_plan(session_id, idx, owner_user_id, status, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(session_id, idx) DO UPDATE SET owner_user_id = excluded.owner_user_id,"
            " status = excluded.status, updated_at = excluded.updated_at",
            (session_id, index, user_id, status, now_iso()))
        await self.conn.commit()

    async def claim(self, session_id: int, index: int, member: Member) -> TeamReport:
        """A participant takes plan item `index` (认领); returns the report with its owners."""
        async with self._lock(session_id):
            await self._plan_index(session_id, index)
            if not await self.is_member(session_id, member.user_id):
                raise StaleGroupAction(f"{member.user_id} did not take part in session {session_id}")
            await self._set_owner(session_id, index, member.user_id, "claimed")
        return await self._plan_index(session_id, index)

    async def assign(self, session_id: int, index: int, user_id: int) -> TeamReport:
        """The controller gives plan item `index` to a participant."""
        async with self._lock(session_id):
            await self._plan_index(session_id, index)
            if not await self.is_member(session_id, user_id):
                raise StaleGroupAction(f"{user_id} did not take part in session {session_id}")
            await self._set_owner(session_id, index, user_id, "claimed")
        return await self._plan_index(session_id, index)

    async def complete(self, session_id: int, index: int, user_id: int) -> TeamReport:
        """The owner marks plan item `index` done."""
        async with self._lock(session_id):
            rows = list(await self.conn.execute_fetchall(
                "SELECT owner_user_id FROM group_plan WHERE session_id = ? AND idx = ?", (session_id, index)))
            if not rows or rows[0]["owner_user_id"] != user_id:
                raise StaleGroupAction(f"plan item {index} of session {session_id} is not {user_id}'s")
            await self._set_owner(session_id, index, user_id, "done")
        return await self._plan_index(session_id, index)

    async def owned_by(self, session_id: int, user_id: int) -> list[int]:
        """The plan items a member owns."""
        rows = await self.conn.execute_fetchall(
            "SELECT idx FROM group_plan WHERE session_id = ? AND owner_user_id = ? ORDER BY idx", (session_id, user_id))
        return [int(r["idx"]) for r in rows]

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group upgraded to a supergroup gets a new id: its sessions and reports move with it."""
        await self.conn.execute("UPDATE group_sessions SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id))
        await self.conn.commit()

    async def forget(self, user_id: int) -> int:
        """Deletes a member's votes and participation, and removes them from stored group reports."""
        aliases = {r["session_id"]: r["alias"] for r in await self.conn.execute_fetchall(
            "SELECT session_id, alias FROM group_participants WHERE user_id = ?", (user_id,))}
        cur = await self.conn.execute("DELETE FROM group_votes WHERE user_id = ?", (user_id,))
        removed = cur.rowcount
        await self.conn.execute("DELETE FROM group_participants WHERE user_id = ?", (user_id,))
        await self.conn.execute(
            "UPDATE group_plan SET owner_user_id = NULL, status = 'open', updated_at = ? WHERE owner_user_id = ?",
            (now_iso(), user_id))
        for row in list(await self.conn.execute_fetchall("SELECT session_id, question_id, round, votes FROM group_rounds")):
            round_votes = json.loads(row["votes"])
            if round_votes.pop(str(user_id), None) is not None:
                await self.conn.execute(
                    "UPDATE group_rounds SET votes = ? WHERE session_id = ? AND question_id = ? AND round = ?",
                    (json.dumps(round_votes), row["session_id"], row["question_id"], row["round"]))
        await self.conn.execute(
            "UPDATE group_sessions SET starter_id = 0, starter_name = '' WHERE starter_id = ?", (user_id,))
        rows = list(await self.conn.execute_fetchall("SELECT id, report FROM group_sessions WHERE report IS NOT NULL"))
        for row in rows:
            data = json.loads(row["report"])
            before = json.dumps(data, ensure_ascii=False)
            keys = {str(user_id)} | ({aliases[row["id"]]} if data.get("anonymous") and aliases.get(row["id"]) else set())
            data["participants"] = [p for p in data.get("participants", []) if str(p.get("user_id")) not in keys]
            for q in data.get("questions", []):
                for key in keys:
                    q.get("votes", {}).pop(key, None)
                    q.get("choices", {}).pop(key, None)
                    for earlier in q.get("rounds", []):
                        earlier.pop(key, None)
            for item in data.get("plan", []):
                if str(item.get("owner_user_id")) in keys:
                    item.update(owner_user_id=None, owner_name="", status="open")
            after = json.dumps(data, ensure_ascii=False)
            if after != before:
                await self.conn.execute("UPDATE group_sessions SET report = ? WHERE id = ?", (after, row["id"]))
        await self.conn.commit()
        return removed
