"""Shows group sessions in the chat: questions posted once, vote counts edited at most every few seconds,
the distribution when a question closes, and the team report with its radar band.

Telegram allows about 20 messages a minute in a group, edits included. A session costs one message per question
plus one edit when it closes; vote-count edits are coalesced (`Coalescer`), and the request-level `GroupPacer`
keeps whatever remains under the limit, so a normal session never draws a 429 (and one that does is retried).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable

from aiogram import Bot
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

from bot.group.service import (
    DEADLINE_JOB,
    Advance,
    GroupService,
    QuestionState,
    QuestionStatus,
    Session,
    SessionStatus,
    StaleGroupAction,
)
from bot.interview.rubric import Question, Rubric
from bot.report.exports import export_files, radar_for
from bot.report.model import TeamReport
from bot.report.team import Member
from bot.scheduler import Job
from bot.telegram.flow import drop_buttons, edit_html
from bot.telegram.group_render import (
    closed_question_html,
    group_report_html,
    lobby_html,
    open_question_html,
    plan_html,
    reminder_html,
)
from bot.telegram.keyboards import (
    group_discuss_keyboard,
    group_lobby_keyboard,
    group_question_keyboard,
    plan_keyboard,
)
from bot.telegram.render import CAPTION_LIMIT, clip, esc, split_message

logger = logging.getLogger(__name__)


class Coalescer:
    """Runs an action for a key at most once every `interval` seconds; requests in between merge into one.

    Trailing edge: the first request also waits `interval`, so a team that votes within a few seconds costs no
    count edit at all (the question closes first and cancels it); each member sees their own vote at once in
    the button's notice.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last: dict[Hashable, float] = {}
        self._pending: dict[Hashable, asyncio.Task[None]] = {}

    def request(self, key: Hashable, action: Callable[[], Awaitable[None]]) -> None:
        """Schedules `action` now, or once the interval since the last run has passed (merging requests)."""
        if key in self._pending:
            return  # the pending run will show the latest state
        now = time.monotonic()
        delay = max(self.interval, self._last.get(key, float("-inf")) + self.interval - now)
        self._pending[key] = asyncio.create_task(self._run(key, delay, action))

    async def _run(self, key: Hashable, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            self._pending.pop(key, None)
        self._last[key] = time.monotonic()
        try:
            await action()
        except Exception:  # noqa: BLE001 - a missed count update is cosmetic; the next vote retries
            logger.exception("coalesced update %s failed", key)

    def cancel(self, key: Hashable) -> None:
        """Drops a pending run and the key's history (the message is about to become final)."""
        self._last.pop(key, None)  # the message is final: nothing more to pace for this key
        task = self._pending.pop(key, None)
        if task is not None:
            task.cancel()

    async def drain(self) -> None:
        """Waits for pending runs (tests and shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)


EDIT_MARK_SECONDS = 3600.0  # how long a tally message's last content is remembered


async def edit_once(bot: Bot, groups: GroupService, chat_id: int, message_id: int, text: str,
                    markup: InlineKeyboardMarkup | None) -> bool:
    """A coalesced tally edit, skipped when the message already shows this content, whichever instance sent it (each
    instance coalesces the votes it received; two of them would otherwise both send the final tally, and every edit
    counts against the group's 20 messages a minute)."""
    digest = hashlib.sha1(text.encode() + (markup.model_dump_json().encode() if markup else b"")).hexdigest()[:16]
    if await groups.locks.swap(f"shown:{chat_id}:{message_id}", digest, EDIT_MARK_SECONDS) == digest:
        return True
    return await edit_html(bot, chat_id, message_id, text, markup)


class GroupView:
    """Renders group sessions; one per dispatcher (holds the coalescer and the per-session order locks)."""

    def __init__(self, *, edit_interval: float = 5.0) -> None:
        self.tallies = Coalescer(edit_interval)
        self._locks: dict[int, asyncio.Lock] = {}

    def lock(self, session_id: int) -> asyncio.Lock:
        """Keeps the chat's messages of one session in order (close → next question → report)."""
        return self._locks.setdefault(session_id, asyncio.Lock())

    # ------------------------------------------------------------------ lobby
    async def post_lobby(self, bot: Bot, groups: GroupService, session: Session) -> None:
        """Sends the lobby message with join / begin / cancel."""
        members = await groups.members(session.id)
        sent = await bot.send_message(session.chat_id, lobby_html(session, members),
                                      reply_markup=group_lobby_keyboard(session),
                                      message_thread_id=session.topic_id)
        await groups.set_intro_message(session.id, sent.message_id)

    def refresh_lobby(self, bot: Bot, groups: GroupService, session_id: int) -> None:
        """Updates the member list of the lobby (coalesced)."""

        async def update() -> None:
            session = await groups.get(session_id)
            if session is None or session.status != SessionStatus.ACTIVE or not session.in_lobby or not session.intro_message_id:
                return
            await edit_once(bot, groups, session.chat_id, session.intro_message_id,
                            lobby_html(session, await groups.members(session_id)), group_lobby_keyboard(session))

        self.tallies.request(("lobby", session_id), update)

    async def close_lobby(self, bot: Bot, groups: GroupService, session: Session) -> None:
        """The lobby message without buttons, once answering has begun."""
        self.tallies.cancel(("lobby", session.id))
        if session.intro_message_id:
            await edit_html(bot, session.chat_id, session.intro_message_id,
                            lobby_html(session, await groups.members(session.id), started=True), None)

    async def close_session(self, bot: Bot, groups: GroupService, session: Session) -> None:
        """A cancelled session: its lobby says so, and its open question loses its buttons."""
        self.tallies.cancel(("lobby", session.id))
        if session.intro_message_id and session.in_lobby:
            await edit_html(bot, session.chat_id, session.intro_message_id, "团队诊断已取消。发送 /diagnose 重新开始。", None)
        if not session.in_lobby:
            self.tallies.cancel(("question", session.id, session.index))
            state = await groups.question_state(session.id, session.index)
            if state.message_id is not None:
                await drop_buttons(bot, session.chat_id, state.message_id)

    # ------------------------------------------------------------------ questions
    async def post_question(self, bot: Bot, groups: GroupService, session: Session, state: QuestionState,
                            label: str) -> None:
        """Posts a question once, with its vote buttons and the controller's buttons."""
        sent = await bot.send_message(session.chat_id, open_question_html(state, label,
                                                                          grace_seconds=groups.grace_seconds),
                                      reply_markup=group_question_keyboard(session.id, state.index, state.question,
                                                                           reminded=state.reminded),
                                      message_thread_id=session.topic_id)
        await groups.set_question_message(session.id, state.index, sent.message_id)

    def refresh_question(self, bot: Bot, groups: GroupService, session_id: int, index: int,
                         label_of: Callable[[Question], str]) -> None:
        """Updates who has voted on an open question (coalesced: at most one edit every few seconds)."""

        async def update() -> None:
            try:
                state = await groups.question_state(session_id, index)
            except StaleGroupAction:
                return
            session = await groups.get(session_id)
            if session is None or state.status != QuestionStatus.OPEN or state.message_id is None or session.index != index:
                return
            await edit_once(bot, groups, session.chat_id, state.message_id,
                            open_question_html(state, label_of(state.question), grace_seconds=groups.grace_seconds),
                            group_question_keyboard(session_id, index, state.question, reminded=state.reminded))

        self.tallies.request(("question", session_id, index), update)

    async def show_advance(self, bot: Bot, groups: GroupService, rubric: Rubric, adv: Advance,
                           label_of: Callable[[Question], str], *, deep_link: str | None = None) -> None:
        """After moving on: the closed question shows its distribution, then the next question or the report."""
        session = adv.session
        if adv.closed is not None:
            self.tallies.cancel(("question", session.id, adv.closed.index))
            markup = group_discuss_keyboard(session.id, adv.closed.index) if adv.paused else None
            if adv.closed.message_id is not None:
                await edit_html(bot, session.chat_id, adv.closed.message_id,
                                closed_question_html(adv.closed, label_of(adv.closed.question)), markup)
        if adv.opened is not None:
            await self.post_question(bot, groups, session, adv.opened, label_of(adv.opened.question))
        if adv.report is not None:
            await self.send_report(bot, session.chat_id, adv.report, rubric, topic_id=session.topic_id,
                                   deep_link=deep_link)
            await self.post_plan(bot, session.chat_id, session.id, adv.report, topic_id=session.topic_id)

    async def post_plan(self, bot: Bot, chat_id: int, session_id: int, report: TeamReport, *,
                        topic_id: int | None = None) -> None:
        """The team plan with its 认领 / 指派 buttons."""
        parts = split_message(plan_html(report))
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            await bot.send_message(chat_id, part, reply_markup=plan_keyboard(session_id, report) if last else None,
                                   message_thread_id=topic_id)

    async def show_reminder(self, bot: Bot, session: Session, state: QuestionState,
                            waiting: tuple[Member, ...]) -> None:
        """🔔 提醒未投票: one message mentioning who has not voted; the button leaves the question."""
        await bot.send_message(session.chat_id, reminder_html(state, waiting), message_thread_id=session.topic_id)

    async def on_due(self, bot: Bot, groups: GroupService, job: Job, label_of: Callable[[Question], str],
                     deep_link: Callable[[int], Awaitable[str | None]]) -> None:
        """A grace period or a time box ended (a scheduler row): closes the question if it is still due."""
        payload = job.payload
        adv = await groups.close_due(int(payload["s"]), int(payload["i"]), int(payload["r"]),
                                     deadline=job.kind == DEADLINE_JOB)
        if adv is None:
            return
        async with self.lock(adv.session.id):
            link = await deep_link(adv.session.id) if adv.report is not None else None
            await self.show_advance(bot, groups, groups.rubric, adv, label_of, deep_link=link)

    async def repost_current(self, bot: Bot, groups: GroupService, session: Session,
                             label_of: Callable[[Question], str]) -> None:
        """Shows the session again at the bottom of the chat (after /diagnose → 继续): old buttons removed."""
        if session.in_lobby:
            if session.intro_message_id:
                await drop_buttons(bot, session.chat_id, session.intro_message_id)
            await self.post_lobby(bot, groups, session)
            return
        state = await groups.question_state(session.id, session.index)
        self.tallies.cancel(("question", session.id, state.index))
        if state.message_id is not None:
            await drop_buttons(bot, session.chat_id, state.message_id)
        if state.status != QuestionStatus.OPEN:  # closed and waiting for the controller: 🔁 or ⏭
            sent = await bot.send_message(
                session.chat_id, closed_question_html(state, label_of(state.question)),
                reply_markup=group_discuss_keyboard(session.id, state.index), message_thread_id=session.topic_id)
            await groups.set_question_message(session.id, state.index, sent.message_id)
            return
        await self.post_question(bot, groups, session, state, label_of(state.question))

    # ------------------------------------------------------------------ report
    async def send_report(self, bot: Bot, chat_id: int, report: TeamReport, rubric: Rubric, *,
                          topic_id: int | None = None, deep_link: str | None = None, warning: str = "") -> None:
        """The team report as ≤ 4096-character messages, then the radar chart of the team with its band."""
        for part in split_message(group_report_html(report, rubric, deep_link=deep_link, warning=warning)):
            await bot.send_message(chat_id, part, message_thread_id=topic_id)
        png = await asyncio.to_thread(radar_for, report)
        caption = clip(f"团队平均（线）与成员最低–最高（阴影）· 结论：{report.verdict_label} · 综合 {report.overall:.0f}",
                       CAPTION_LIMIT)
        await bot.send_photo(chat_id, BufferedInputFile(png, filename="team-radar.png"), caption=esc(caption),
                             message_thread_id=topic_id)

    async def send_export(self, bot: Bot, chat_id: int, report: TeamReport, *, topic_id: int | None = None) -> None:
        """The team report as PDF, Markdown and JSON documents."""
        for f in await asyncio.to_thread(export_files, report):
            await bot.send_document(chat_id, BufferedInputFile(f.data, f.name), caption=f.caption,
                                    message_thread_id=topic_id)
