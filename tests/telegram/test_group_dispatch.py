"""Group sessions through the real Dispatcher (`feed_update`): control rights, escaping, coalesced edits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Dispatcher
from aiogram.methods import SendPhoto

from bot.db import open_db
from bot.group.service import GroupService
from bot.interview.graph import build_graph
from bot.interview.service import InterviewService
from bot.telegram.app import build_dispatcher
from bot.telegram.testing import GroupClient

GROUP = -100777


@pytest.fixture
async def dp(tmp_path: Path, checkpointer, rubric, knowledge) -> AsyncIterator[Dispatcher]:  # type: ignore[no-untyped-def]
    async with open_db(tmp_path / "bot.sqlite") as conn:
        graph = build_graph(rubric=rubric, checkpointer=checkpointer, citer=knowledge)
        interview = InterviewService(graph=graph, rubric=rubric, section_title=knowledge.section_title)
        # No grace period here: the last vote closes the question at once (the grace period has its own tests).
        groups = GroupService(conn, rubric=rubric, citer=knowledge, grace_seconds=0)
        dp = build_dispatcher(group_edit_interval=0.05, interview=interview, knowledge=knowledge, groups=groups)
        yield dp
        await dp["group_view"].tallies.drain()


async def test_only_the_starter_or_an_admin_controls_and_names_are_escaped(dp: Dispatcher) -> None:
    group = GroupClient(dp, GROUP, members={1: "<b>Alice</b>", 2: "Bob", 3: "管理员"}, admins={3})
    alice, bob, admin = group.members
    await group.command(alice, "/diagnose")
    lobby = group.keyboard_messages()[-1]
    assert "&lt;b&gt;Alice&lt;/b&gt;" in lobby.text  # type: ignore[operator]
    assert "只有发起人或群管理员" in await group.press(bob, "开始答题")
    assert len(group.keyboard_messages()) == 1
    await group.press(admin, "开始答题")
    assert "第 1/20 题" in (group.keyboard_messages()[-1].text or "")


async def test_vote_counts_are_coalesced_and_choices_stay_hidden(dp: Dispatcher) -> None:
    group = GroupClient(dp, GROUP, members={i: f"成员{i}" for i in range(1, 5)}, admins={3})
    members = group.members
    await group.command(members[0], "/diagnose")
    for m in members[1:]:
        await group.press(m, "加入", message=group.keyboard_messages()[0])
    await group.press(members[0], "开始答题", message=group.keyboard_messages()[0])
    question = group.keyboard_messages()[-1]
    options = group.vote_options(question)
    for m in members[:3]:
        assert "已记录" in await group.press(m, data=options[0], message=question)
    assert not group.edits_of(question.message_id), "the count edit waits for the coalescing interval"
    await group.settle()
    edits = group.edits_of(question.message_id)
    assert len(edits) == 1, "three votes in a moment: one merged edit"
    assert "已投票 3/4" in edits[0].text and "成员3" in edits[0].text and "还在等：成员4" in edits[0].text
    assert not any(label in edits[0].text for label in ("1 █", "结果")), "choices are hidden while open"
    await group.press(members[3], data=options[1], message=question)  # the last member: the question closes
    edits = group.edits_of(question.message_id)
    assert len(edits) == 2 and "已结束" in edits[-1].text and "结果（4 人作答）" in edits[-1].text
    assert "第 2/20 题" in (group.keyboard_messages()[-1].text or "")
    assert not group.session.of(SendPhoto)


async def test_a_second_diagnose_offers_to_resume_or_restart(dp: Dispatcher) -> None:
    group = GroupClient(dp, GROUP, members={1: "Alice", 2: "Bob"})
    alice, bob = group.members
    await group.command(alice, "/diagnose")
    first_lobby = group.keyboard_messages()[-1]
    await group.command(bob, "/diagnose")
    offer = group.keyboard_messages()[-1]
    assert "已有一场进行中" in (offer.text or "")
    assert "只有发起人或群管理员" in await group.press(bob, "重新开始", message=offer)
    await group.press(bob, "继续当前诊断", message=offer)  # anyone may bring the session back to the bottom
    reposted = group.keyboard_messages()[-1]
    assert reposted.message_id != first_lobby.message_id and "加入" in str(reposted.reply_markup)
    await group.press(alice, "重新开始", message=offer)
    assert any("已取消" in e.text for e in group.edits_of(reposted.message_id))
    fresh = group.keyboard_messages()[-1]
    assert fresh.message_id != reposted.message_id and "已加入（1）：Alice" in (fresh.text or "")
    assert "已失效" in await group.press(bob, "加入", message=reposted), "the old session's buttons are dead"
    assert "已加入" in await group.press(bob, "加入", message=fresh)


async def test_diagnose_anonymous_names_nobody_from_the_first_message_on(dp: Dispatcher) -> None:
    group = GroupClient(dp, GROUP, members={1: "张三", 2: "李四"})
    zhang, li = group.members
    await group.command(zhang, "/diagnose 匿名")
    await group.press(li, "加入", message=group.keyboard_messages()[0])
    await group.press(zhang, "开始答题", message=group.keyboard_messages()[0])
    await group.settle()
    texts = [m.text or "" for m in group.keyboard_messages()] + [e.text for e in group.edits_of(
        group.keyboard_messages()[0].message_id)]
    assert "模式：匿名" in texts[0] and "发起人" in texts[0]
    assert not any("张三" in t or "李四" in t for t in texts), texts


async def test_forged_meeting_and_plan_buttons_get_a_notice_and_change_nothing(dp: Dispatcher) -> None:
    group = GroupClient(dp, GROUP, members={1: "Alice", 2: "Bob"})
    alice, bob = group.members
    await group.command(alice, "/diagnose")
    lobby = group.keyboard_messages()[0]
    sid = lobby.reply_markup.inline_keyboard[0][0].callback_data.split(":")[1]  # type: ignore[union-attr]
    for data in (f"gc1:{sid}:tbox:45", f"gc1:{sid}:tbox:-7", f"gc1:{sid}:revote:0", f"gc1:{sid}:remind:3",
                 f"gp1:{sid}:0:claim:0", f"gp1:{sid}:999:pick:2", "gp1:999:0:done:0", "gp1:x:y:z:0"):
        assert await group.press(alice, data=data, message=lobby), data
    groups = dp["groups"]
    session = await groups.get(int(sid))
    assert session.time_box == 0 and session.in_lobby, "nothing changed"
    await group.press(alice, "开始答题", message=lobby)
    question = group.keyboard_messages()[-1]
    assert "已失效" in await group.press(alice, data=f"gc1:{sid}:revote:0", message=question)
    assert await groups.current(int(sid)) is not None
    assert (await groups.question_state(int(sid), 0)).round == 1, "a question that is open cannot be re-voted"
