"""GroupService: team diagnosis sessions in group chats, kept in the bot database so they survive a restart.

A session starts in a lobby (members join), then walks the rubric's questions one at a time. Every member votes
on the open question by level; a vote is one row keyed by (session, question, member), so a press counted twice
or two presses at once still leave exactly one vote — the last choice. A question closes when every joined member
has voted or when the controller (the starter or a group admin) moves on; the session ends with the team report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import aiosqlite

from bot.db import now_iso
from bot.errors import BotError
from bot.interview.rubric import Question, Rubric, RubricHolder
from bot.ports import EventSink, GroupCompleted, GroupStarted, RubricSource
from bot.report.build import Citer
from bot.report.compare import with_previous
from bot.report.history import HistoryEntry
from bot.report.model import TeamReport
from bot.report.team import Member, build_group_report

logger = logging.getLogger(__name__)

LOBBY = -1  # question_index of a session whose first question is not open yet


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

    @property
    def voters(self) -> tuple[Member, ...]:
        """Members who voted, in joining order."""
        return tuple(m for m in self.members if m.user_id in self.votes)

    @property
    def all_voted(self) -> bool:
        """Every joined member has voted."""
        return bool(self.members) and all(m.user_id in self.votes for m in self.members)


@dataclass(frozen=True)
class VoteOutcome:
    """A recorded vote."""

    state: QuestionState
    level: int
    changed: bool  # the member had voted differently before
    joined: bool  # the vote made them a participant


@dataclass(frozen=True)
class Advance:
    """What moving on did: the question it closed, the question it opened, or the finished report."""

    session: Session
    closed: QuestionState | None
    opened: QuestionState | None
    report: TeamReport | None


def _session(row: Any) -> Session:
    return Session(id=row["id"], chat_id=row["chat_id"], topic_id=row["topic_id"], starter_id=row["starter_id"],
                   starter_name=row["starter_name"], status=row["status"], index=row["question_index"],
                   intro_message_id=row["intro_message_id"], created_at=row["created_at"])


class GroupService:
    """Runs group sessions on the bot database (one active session per group)."""

    def __init__(self, conn: aiosqlite.Connection, *, rubric: Rubric | RubricSource, citer: Citer | None = None,
                 events: EventSink | None = None) -> None:
        self.conn = conn
        # The rubric holder of the root (a bare rubric is held as is): a reload is seen on the next question.
        self._rubrics: RubricSource = rubric if not isinstance(rubric, Rubric) else RubricHolder(rubric)
        self.citer = citer
        self.events = events
        self._locks: dict[int, asyncio.Lock] = {}  # serialises one session's votes within this process

    @property
    def rubric(self) -> Rubric:
        """The rubric in force."""
        return self._rubrics.current

    def _lock(self, session_id: int) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

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
            "SELECT user_id, name FROM group_participants WHERE session_id = ? ORDER BY joined_at, rowid",
            (session_id,)))
        return tuple(Member(r["user_id"], r["name"]) for r in rows)

    async def question_state(self, session_id: int, index: int) -> QuestionState:
        """The state of question `index` of a session (StaleGroupAction if it was never opened)."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT * FROM group_questions WHERE session_id = ? AND idx = ?", (session_id, index)))
        if not rows:
            raise StaleGroupAction(f"question {index} of session {session_id} was not opened")
        row = rows[0]
        votes = await self.conn.execute_fetchall(
            "SELECT user_id, level FROM group_votes WHERE session_id = ? AND question_id = ?",
            (session_id, row["question_id"]))
        return QuestionState(
            session_id=session_id, index=index, total=len(self.rubric.questions),
            question=self.rubric.question(row["question_id"]), status=row["status"], message_id=row["message_id"],
            votes={v["user_id"]: v["level"] for v in votes}, members=await self.members(session_id))

    async def current(self, session_id: int) -> QuestionState | None:
        """The open question of a session (None in the lobby or after the end)."""
        session = await self.get(session_id)
        if session is None or session.status != SessionStatus.ACTIVE or session.in_lobby:
            return None
        return await self.question_state(session_id, session.index)

    async def report(self, session_id: int) -> TeamReport | None:
        """The stored report of a finished session."""
        rows = list(await self.conn.execute_fetchall("SELECT report FROM group_sessions WHERE id = ?", (session_id,)))
        return TeamReport.from_json(json.loads(rows[0]["report"])) if rows and rows[0]["report"] else None

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
        return TeamReport.from_json(json.loads(rows[0]["report"])) if rows else None

    async def last_report(self, chat_id: int) -> tuple[int, TeamReport] | None:
        """The group's most recent finished session and its report."""
        rows = list(await self.conn.execute_fetchall(
            "SELECT id, report FROM group_sessions WHERE chat_id = ? AND status = 'finished' AND report IS NOT NULL"
            " ORDER BY id DESC LIMIT 1", (chat_id,)))
        return (rows[0]["id"], TeamReport.from_json(json.loads(rows[0]["report"]))) if rows else None

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
            cur = await self.conn.execute(
                "INSERT INTO group_sessions(chat_id, topic_id, starter_id, starter_name, status, question_index,"
                " created_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
                (chat_id, topic_id, starter.user_id, starter.name, LOBBY, now))
        except sqlite3.IntegrityError as e:  # a concurrent /diagnose won the race
            await self.conn.rollback()
            existing = await self.active(chat_id)
            if existing is None:
                raise GroupError("could not start a session") from e
            raise SessionExists(existing) from e
        session_id = int(cur.lastrowid or 0)
        await self.conn.execute(
            "INSERT INTO group_participants(session_id, user_id, name, joined_at) VALUES (?, ?, ?, ?)",
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
        await self.conn.execute(
            "INSERT INTO group_participants(session_id, user_id, name, joined_at) VALUES (?, ?, ?, ?)",
            (session_id, member.user_id, member.name, now_iso()))
        await self.conn.commit()
        return True

    async def vote(self, session_id: int, index: int, member: Member, level: int) -> VoteOutcome:
        """Records a member's choice on the open question (last choice wins); joins them if needed."""
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or session.index != index:
                raise StaleGroupAction(f"question {index} of session {session_id} is not open")
            state = await self.question_state(session_id, index)
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
            await self.conn.commit()
            state = replace(state, votes={**state.votes, member.user_id: level},
                            members=state.members + (member,) if joined else state.members)
            return VoteOutcome(state, level, changed=before is not None and before != level, joined=joined)

    async def advance(self, session_id: int, expect_index: int, *, skip: bool = False) -> Advance:
        """Closes question `expect_index` (or the lobby) and opens the next one, or finishes after the last.

        `skip` drops the votes of the closed question (it counts as unknown). StaleGroupAction when the session
        has already moved on — two controllers pressing 下一题 at once advance it once.
        """
        async with self._lock(session_id):
            session = await self.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or session.index != expect_index:
                raise StaleGroupAction(f"session {session_id} is not at question {expect_index}")
            closed = await self._close(session, skip=skip)
            nxt = session.index + 1
            if nxt >= len(self.rubric.questions):
                report = await self._finish(session)
                return Advance(await self._reload(session), closed, None, report)
            opened = await self._open(session, nxt)
            return Advance(await self._reload(session), closed, opened, None)

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
        await self.conn.execute(
            "INSERT OR REPLACE INTO group_questions(session_id, idx, question_id, message_id, status, opened_at)"
            " VALUES (?, ?, ?, NULL, 'open', ?)", (session.id, index, question.id, now_iso()))
        await self.conn.execute("UPDATE group_sessions SET question_index = ? WHERE id = ?", (index, session.id))
        await self.conn.commit()
        return await self.question_state(session.id, index)

    async def _finish(self, session: Session) -> TeamReport:
        rows = list(await self.conn.execute_fetchall(
            "SELECT question_id FROM group_questions WHERE session_id = ?", (session.id,)))
        asked = [r["question_id"] for r in rows]
        votes: dict[str, dict[int, int]] = {}
        for v in await self.conn.execute_fetchall(
                "SELECT question_id, user_id, level FROM group_votes WHERE session_id = ?", (session.id,)):
            votes.setdefault(v["question_id"], {})[v["user_id"]] = v["level"]
        members = await self.members(session.id)
        report = await asyncio.to_thread(build_group_report, self.rubric, votes, members, self.citer, asked=asked)
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

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group upgraded to a supergroup gets a new id: its sessions and reports move with it."""
        await self.conn.execute("UPDATE group_sessions SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id))
        await self.conn.commit()

    async def forget(self, user_id: int) -> int:
        """Deletes a member's votes and participation, and removes them from stored group reports."""
        cur = await self.conn.execute("DELETE FROM group_votes WHERE user_id = ?", (user_id,))
        removed = cur.rowcount
        await self.conn.execute("DELETE FROM group_participants WHERE user_id = ?", (user_id,))
        await self.conn.execute(
            "UPDATE group_sessions SET starter_id = 0, starter_name = '' WHERE starter_id = ?", (user_id,))
        rows = list(await self.conn.execute_fetchall("SELECT id, report FROM group_sessions WHERE report IS NOT NULL"))
        for row in rows:
            data = json.loads(row["report"])
            before = json.dumps(data, ensure_ascii=False)
            data["participants"] = [p for p in data.get("participants", []) if p.get("user_id") != user_id]
            for q in data.get("questions", []):
                q.get("votes", {}).pop(str(user_id), None)
                q.get("choices", {}).pop(str(user_id), None)
            after = json.dumps(data, ensure_ascii=False)
            if after != before:
                await self.conn.execute("UPDATE group_sessions SET report = ? WHERE id = ?", (after, row["id"]))
        await self.conn.commit()
        return removed
