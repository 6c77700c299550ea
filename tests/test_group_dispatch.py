"""Group sessions through the real Dispatcher (`feed_update`): control rights, escaping, coalesced edits."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetChatMember, SendMessage, SendPhoto
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)

from bot.db import open_db
from bot.group.service import GroupService
from bot.interview.graph import build_graph
from bot.interview.service import InterviewService
from bot.telegram.app import build_dispatcher
from bot.telegram.testing import Recorded, RecordingSession

GROUP = -100777


class GroupSession(RecordingSession):
    """The recording session, also answering getChatMember (`admins` are the group's owners)."""

    admins: set[int]

    async def make_request(self, bot: Bot, method: Any, timeout: int | None = None) -> Any:
        if isinstance(method, GetChatMember):
            user = User(id=method.user_id, is_bot=False, first_name="x")
            result: Any = (ChatMemberOwner(user=user, is_anonymous=False)
                           if method.user_id in self.admins else ChatMemberMember(user=user))
            self.requests.append(Recorded(method, result))
            return result
        return await super().make_request(bot, method, timeout)


class Team:
    """Several members of one group acting through the same dispatcher."""

    def __init__(self, dp: Any, admins: set[int]) -> None:
        self.dp = dp
        self.session = GroupSession()
        self.session.admins = admins
        self.bot = Bot("42:TEST", session=self.session)
        self.chat = Chat(id=GROUP, type="supergroup", title="团队")
        self._ids = itertools.count(1)

    def user(self, user_id: int, name: str) -> User:
        return User(id=user_id, is_bot=False, first_name=name)

    async def send(self, user: User, text: str) -> None:
        message = Message(message_id=next(self._ids), date=datetime.now(UTC), chat=self.chat, from_user=user,
                          text=text)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._ids), message=message))

    def keyboard_messages(self) -> list[Message]:
        return [r.result for r in self.session.requests
                if isinstance(r.method, SendMessage) and isinstance(r.method.reply_markup, InlineKeyboardMarkup)]

    async def press(self, user: User, text: str | None = None, *, data: str | None = None,
                    message: Message | None = None) -> str:
        """Presses a button of the latest keyboard message; returns the bot's answer text."""
        message = message or self.keyboard_messages()[-1]
        if data is None:
            buttons = [b for row in message.reply_markup.inline_keyboard for b in row]  # type: ignore[union-attr]
            data = next(b.callback_data for b in buttons if text and text in b.text)
        query_id = f"q{next(self._ids)}"
        query = CallbackQuery(id=query_id, from_user=user, chat_instance="ci", data=data, message=message)
        await self.dp.feed_update(self.bot, Update(update_id=next(self._ids), callback_query=query))
        answers = [m for m in self.session.of(AnswerCallbackQuery) if m.callback_query_id == query_id]
        assert len(answers) == 1, "every press is answered exactly once"
        return answers[0].text or ""

    def edits_of(self, message_id: int) -> list[EditMessageText]:
        return [m for m in self.session.of(EditMessageText) if m.message_id == message_id]


@pytest.fixture
async def team(tmp_path: Path, checkpointer, rubric, knowledge) -> AsyncIterator[Team]:  # type: ignore[no-untyped-def]
    async with open_db(tmp_path / "bot.sqlite") as conn:
        graph = build_graph(rubric=rubric, checkpointer=checkpointer, citer=knowledge)
        interview = InterviewService(graph=graph, rubric=rubric, section_title=knowledge.section_title)
        groups = GroupService(conn, rubric=rubric, citer=knowledge)
        dp = build_dispatcher(group_edit_interval=0.05, interview=interview, knowledge=knowledge, groups=groups)
        t = Team(dp, admins={3})
        yield t
        await dp["group_view"].tallies.drain()


async def test_only_the_starter_or_an_admin_controls_and_names_are_escaped(team: Team) -> None:
    alice, bob, admin = team.user(1, "<b>Alice</b>"), team.user(2, "Bob"), team.user(3, "管理员")
    await team.send(alice, "/diagnose")
    lobby = team.keyboard_messages()[-1]
    assert "&lt;b&gt;Alice&lt;/b&gt;" in lobby.text  # type: ignore[operator]
    assert "只有发起人或群管理员" in await team.press(bob, "开始答题")
    assert len(team.keyboard_messages()) == 1
    await team.press(admin, "开始答题")
    assert "第 1/20 题" in (team.keyboard_messages()[-1].text or "")


async def test_vote_counts_are_coalesced_and_choices_stay_hidden(team: Team) -> None:
    members = [team.user(i, f"成员{i}") for i in range(1, 5)]
    await team.send(members[0], "/diagnose")
    for m in members[1:]:
        await team.press(m, "加入", message=team.keyboard_messages()[0])
    await team.press(members[0], "开始答题", message=team.keyboard_messages()[0])
    question = team.keyboard_messages()[-1]
    rows = question.reply_markup.inline_keyboard  # type: ignore[union-attr]
    options = [row[0].callback_data for row in rows if row[0].callback_data.startswith("gv1:")]
    for m in members[:3]:
        assert "已记录" in await team.press(m, data=options[0], message=question)
    assert not team.edits_of(question.message_id), "the count edit waits for the coalescing interval"
    await team.dp["group_view"].tallies.drain()
    edits = team.edits_of(question.message_id)
    assert len(edits) == 1, "three votes in a moment: one merged edit"
    assert "已投票 3/4" in edits[0].text and "成员3" in edits[0].text and "等待：成员4" in edits[0].text
    assert not any(label in edits[0].text for label in ("1 █", "结果")), "choices are hidden while open"
    await team.press(members[3], data=options[1], message=question)  # the last member: the question closes
    edits = team.edits_of(question.message_id)
    assert len(edits) == 2 and "已结束" in edits[-1].text and "结果（4 人作答）" in edits[-1].text
    assert "第 2/20 题" in (team.keyboard_messages()[-1].text or "")
    assert not team.session.of(SendPhoto)


async def test_a_second_diagnose_offers_to_resume_or_restart(team: Team) -> None:
    alice, bob = team.user(1, "Alice"), team.user(2, "Bob")
    await team.send(alice, "/diagnose")
    first_lobby = team.keyboard_messages()[-1]
    await team.send(bob, "/diagnose")
    offer = team.keyboard_messages()[-1]
    assert "已有一场进行中" in (offer.text or "")
    assert "只有发起人或群管理员" in await team.press(bob, "重新开始", message=offer)
    await team.press(bob, "继续当前诊断", message=offer)  # anyone may bring the session back to the bottom
    reposted = team.keyboard_messages()[-1]
    assert reposted.message_id != first_lobby.message_id and "加入" in str(reposted.reply_markup)
    await team.press(alice, "重新开始", message=offer)
    assert any("已取消" in e.text for e in team.edits_of(reposted.message_id))
    fresh = team.keyboard_messages()[-1]
    assert fresh.message_id != reposted.message_id and "已加入（1）：Alice" in (fresh.text or "")
    assert "已失效" in await team.press(bob, "加入", message=reposted), "the old session's buttons are dead"
    assert "已加入" in await team.press(bob, "加入", message=fresh)
