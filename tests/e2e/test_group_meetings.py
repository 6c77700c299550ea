"""End-to-end: team sessions run like real meetings — the real bot process against the Bot API test server with
privacy mode on and the group flood limit enforced (timers scaled down: a 1 s grace period, time boxes 20× shorter).

Covered: the host alone joined before 开始答题 and members voting later, the grace period for late joiners, 🔔
提醒未投票, discuss-and-re-vote, claiming and assigning plan items (the owner told in private), an anonymous
time-boxed session with no member name in any group message or export — and a restart in the middle of each."""

from __future__ import annotations

import json

import pytest

from tests.botapi import BotAPIServer, SentMessage, SimUser
from tests.e2e.harness import BotProcess, group_bot_env, group_server_options, is_question
from tests.e2e.test_group import closed, divided, press, votes_of
from tests.report.pdf_tools import pdf_text

TIMEOUT = 120
GROUP = -1009876543210
WINDOW = 8
NAMES = ["张三", "李四", "王五", "赵六", "钱七"]


@pytest.fixture
def server_options() -> dict[str, object]:
    """Privacy mode on and the per-group flood limit enforced, scaled to the window."""
    return group_server_options(WINDOW)


@pytest.fixture
def bot_env() -> dict[str, str]:
    """The bot paces itself to the same scaled limit; timers scaled down."""
    return group_bot_env(WINDOW, GROUP_GRACE_SECONDS="1", GROUP_TIME_BOX_SCALE="0.05")


def team(server: BotAPIServer) -> list[SimUser]:
    users = [server.user(4000 + i, first_name=name) for i, name in enumerate(NAMES)]
    server.add_group(GROUP, "运营周会", members=users[:3] + users[4:], admins=[users[3]], type="supergroup")
    return users


def question(n: int):  # type: ignore[no-untyped-def]
    """The open question n (its first or second round)."""
    return lambda m: is_question(n)(m) and "已结束" not in m.text and any(b.startswith("gv1:") for b in
                                                                         [x.data for x in m.flat_buttons])


async def vote(server: BotAPIServer, user: SimUser, message: SentMessage, option: int) -> str:
    return await press(server, user, message, data=votes_of(message)[option])


async def test_a_meeting_late_joiners_grace_reminder_revote_plan_and_restarts(server: BotAPIServer,
                                                                             bot: BotProcess) -> None:
    zhang, li, wang, zhao, qian = team(server)
    sent = li.send("/start")  # 李四 has started the bot in private: he can be told what he owns
    await server.wait_for_message(li.chat_id, after=sent, timeout=TIMEOUT)

    sent = zhang.send("/diagnose", GROUP)
    lobby = await server.wait_for_message(GROUP, lambda m: "🙋 加入" in m.button_texts, after=sent, timeout=TIMEOUT)
    await press(server, zhang, lobby, "开始答题")  # only the host has joined

    # Q1: the host's vote alone never closes it; 李四 and 王五 vote later and are counted.
    q1 = await server.wait_for_message(GROUP, question(1), timeout=TIMEOUT)
    assert "已记录" in await vote(server, zhang, q1, 0)
    await server.wait_for_message(GROUP, lambda m: m.message_id == q1.message_id and "至少两人" in m.text,
                                  timeout=TIMEOUT)
    assert "已记录" in await vote(server, li, q1, 0), "a late member's press is not refused"
    assert "已记录" in await vote(server, wang, q1, 0), "…nor one within the grace period"
    done = await server.wait_for_message(GROUP, closed(1), timeout=TIMEOUT)
    assert "结果（3 人作答）" in done.text

    # Q2: 🔔 提醒未投票 mentions who is still expected, once; a restart while the grace period runs keeps it.
    q2 = await server.wait_for_message(GROUP, question(2), timeout=TIMEOUT)
    await vote(server, zhang, q2, 0)
    await vote(server, li, q2, 0)
    assert "只有发起人或群管理员" in await press(server, li, q2, "提醒未投票")
    assert "已提醒 1 位" in await press(server, zhang, q2, "提醒未投票")
    reminder = await server.wait_for_message(GROUP, lambda m: m.text.startswith("🔔"), timeout=TIMEOUT)
    assert "王五" in reminder.text and "张三" not in reminder.text
    assert f"tg://user?id={wang.id}" in reminder.html, "a mention notifies him"
    remind_data = next(b.data for b in q2.flat_buttons if "remind" in b.data)
    assert "提醒过" in await press(server, zhang, q2, data=remind_data)
    assert server.flood.rejected == 0, "paced under the group limit, edits included"
    assert await bot.restart() == 0, bot.log()
    assert "提醒过" in await press(server, zhang, q2, data=remind_data), "once per question, across a restart"
    await vote(server, wang, q2, 1)
    assert await bot.restart() == 0, bot.log()  # while the grace period runs
    await server.wait_for_message(GROUP, closed(2), timeout=TIMEOUT)

    # Q3: a spread of two levels or more: the two ends are named and invited to explain; a restart; one re-vote.
    q3 = await server.wait_for_message(GROUP, question(3), timeout=TIMEOUT)
    await vote(server, zhang, q3, 0)
    await vote(server, li, q3, 0)
    await vote(server, wang, q3, -1)
    paused = await server.wait_for_message(GROUP, divided(3), timeout=TIMEOUT)
    assert "王五" in paused.text and "张三" in paused.text and "说说各自的依据" in paused.text
    assert await bot.restart() == 0, bot.log()
    assert "只有发起人或群管理员" in await press(server, li, paused, "重新投票")
    await press(server, zhang, paused, "重新投票")
    again = await server.wait_for_message(GROUP, lambda m: "第 3/20 题（重新投票）" in m.text and bool(m.buttons),
                                          timeout=TIMEOUT)
    for user, option in ((zhang, 0), (li, 1), (wang, 1)):
        await vote(server, user, again, option)
    await server.wait_for_message(GROUP, lambda m: m.message_id == again.message_id and "已结束" in m.text
                                  and not m.buttons, timeout=TIMEOUT)
    # Q4 and Q5: only the host answers (not ready), moving on himself; then he ends the session.
    q4 = await server.wait_for_message(GROUP, question(4), timeout=TIMEOUT)
    await vote(server, zhang, q4, -1)
    await press(server, zhang, q4, "下一题")
    q5 = await server.wait_for_message(GROUP, question(5), timeout=TIMEOUT)
    await vote(server, zhang, q5, -1)
    await press(server, zhang, q5, "结束")

    # The team report marks the discussed question and keeps both rounds; then the plan with its buttons.
    report = await server.wait_for_message(GROUP, lambda m: "团队诊断结论" in m.text, timeout=TIMEOUT)
    assert "讨论后重新投票" in report.text
    plan = await server.wait_for_message(GROUP, lambda m: "团队行动计划" in m.text and bool(m.buttons),
                                         timeout=TIMEOUT)
    assert "已认领第 1 项" in await press(server, li, plan, "认领 1")
    told = await server.wait_for_message(li.chat_id, lambda m: "负责" in m.text, timeout=TIMEOUT)
    assert "完成标准" in told.text
    assert "只有参与了这场诊断" in await press(server, qian, plan, "认领 2"), "钱七 did not take part"
    assert "已认领第 2 项" in await press(server, wang, plan, "认领 2")  # never started the bot: not told, no error
    await press(server, zhang, plan, "指派 3")
    picker = await server.wait_for_message(GROUP, lambda m: "指派给谁" in m.text, timeout=TIMEOUT)
    assert "只有发起人或群管理员" in await press(server, li, picker, "王五")
    await press(server, zhao, picker, "王五")  # the group admin assigns
    await server.wait_for_message(GROUP, lambda m: "负责人：王五" in m.text and "负责人：李四" in m.text,
                                  timeout=TIMEOUT)

    assert await bot.restart() == 0, bot.log()
    sent = zhang.send("/plan", GROUP)
    shown = await server.wait_for_message(GROUP, lambda m: "团队行动计划" in m.text, after=sent, timeout=TIMEOUT)
    assert shown.text.count("负责人：王五") == 2 and "负责人：李四" in shown.text
    sent = zhang.send("/export", GROUP)
    docs = await server.wait_for_messages(GROUP, 3, lambda m: m.document is not None, after=sent, timeout=TIMEOUT)
    data = json.loads(next(d for d in docs if d.document.filename.endswith(".json")).document.data)
    items = data["plan"]
    assert items[0]["owner_user_id"] == li.id and items[0]["status"] == "claimed"
    assert items[1]["owner_user_id"] == items[2]["owner_user_id"] == wang.id
    assert all(i["owner_user_id"] is None and i["status"] == "open" for i in items[3:])
    q3_data = data["questions"][2]
    assert q3_data["discussed"] and q3_data["rounds"][0][str(wang.id)] == 0 and q3_data["first_spread"] >= 2
    people = {p["user_id"]: p for p in data["participants"]}
    asked = [q["question_id"] for q in data["questions"]]
    assert people[zhang.id]["answered"] == 5 and people[wang.id]["questions"] == asked[:3], "which questions each answered"
    # 403: 王五 never started the bot, so he cannot be told in private; 429: a restarted process starts with an
    # empty pacer while Telegram still counts the old one's messages (waited out and retried, see test_group).
    server.assert_no_errors(except_codes={403, 429})


async def test_an_anonymous_time_boxed_session_names_nobody(server: BotAPIServer, bot: BotProcess) -> None:
    zhang, li, wang, _zhao, _qian = team(server)
    sent = zhang.send("/diagnose", GROUP)
    lobby = await server.wait_for_message(GROUP, lambda m: "🙋 加入" in m.button_texts, after=sent, timeout=TIMEOUT)
    assert "只有发起人或群管理员" in await press(server, li, lobby, "模式")
    assert "匿名" in await press(server, zhang, lobby, "模式")
    assert "60 秒" in await press(server, zhang, lobby, "每题限时")  # 不限时 → 60 s (3 s in this test)
    for user in (li, wang):
        await press(server, user, lobby, "加入")
    await server.wait_for_message(GROUP, lambda m: m.message_id == lobby.message_id and "已加入（3）" in m.text
                                  and "匿名" in m.text and "60 秒" in m.text, timeout=TIMEOUT)
    await press(server, zhang, lobby, "开始答题")

    # Q1: two of three vote; the time box closes it anyway. The distribution shows no names; so does the spread.
    q1 = await server.wait_for_message(GROUP, question(1), timeout=TIMEOUT)
    assert "截止" in q1.text
    await vote(server, zhang, q1, 0)
    await vote(server, li, q1, -1)
    done = await server.wait_for_message(GROUP, lambda m: m.message_id == q1.message_id and "已结束" in m.text,
                                         timeout=TIMEOUT)
    assert "结果（2 人作答）" in done.text and "相差" in done.text
    await press(server, zhang, done, "下一题")  # divided: the host moves on

    # Q2: a restart while its time box runs: the deadline is a database row, so it still closes.
    q2 = await server.wait_for_message(GROUP, question(2), timeout=TIMEOUT)
    await vote(server, wang, q2, 0)
    assert server.flood.rejected == 0, "paced under the group limit, edits included"
    assert await bot.restart() == 0, bot.log()
    await server.wait_for_message(GROUP, lambda m: m.message_id == q2.message_id and "已结束" in m.text,
                                  timeout=TIMEOUT)
    q3 = await server.wait_for_message(GROUP, question(3), timeout=TIMEOUT)
    sent = li.send("/diagnose", GROUP)  # a second /diagnose names nobody either
    await server.wait_for_message(GROUP, lambda m: "已有一场进行中" in m.text and "发起人" in m.text, after=sent,
                                  timeout=TIMEOUT)
    await vote(server, zhang, q3, 0)
    assert "已提醒 2 位" in await press(server, zhang, q3, "提醒未投票")
    await server.wait_for_message(GROUP, lambda m: m.text.startswith("🔔") and "2 位成员" in m.text, timeout=TIMEOUT)
    await press(server, zhang, q3, "结束")
    plan = await server.wait_for_message(GROUP, lambda m: "团队行动计划" in m.text and bool(m.buttons),
                                         timeout=TIMEOUT)
    await press(server, li, plan, "认领 1")
    await server.wait_for_message(GROUP, lambda m: m.message_id == plan.message_id and "负责人：成员 2" in m.text,
                                  timeout=TIMEOUT)

    sent = zhang.send("/export", GROUP)
    docs = await server.wait_for_messages(GROUP, 3, lambda m: m.document is not None, after=sent, timeout=TIMEOUT)
    data = json.loads(next(d for d in docs if d.document.filename.endswith(".json")).document.data)
    assert data["anonymous"] is True and [p["name"] for p in data["participants"]] == ["成员 1", "成员 2", "成员 3"]
    assert {p["user_id"] for p in data["participants"]} == {"m1", "m2", "m3"}
    assert set(data["questions"][0]["votes"]) == {"m1", "m2"} and data["plan"][0]["owner_user_id"] == "m2"
    exported = [d.document.data.decode() for d in docs if not d.document.filename.endswith(".pdf")]
    exported += pdf_text(next(d for d in docs if d.document.filename.endswith(".pdf")).document.data)
    # Every group message as it reads now, and every earlier version of it — except the lobby's first text, posted
    # before the host switched to 匿名 (it named the host and the first member; the switch removed them).
    group_texts = [t for m in server.messages(GROUP)
                   for t in [m.text, *(m.history if m.message_id != lobby.message_id else [])]]
    for name in NAMES:
        assert not any(name in t for t in group_texts), f"{name} shown in the group"
        assert not any(name in t for t in exported), f"{name} in the export"
    for uid in (zhang.id, li.id, wang.id):
        assert not any(str(uid) in t for t in exported[:2]), "no user id in the JSON or Markdown"

    # Each member's personal copy still compares their own answers with the team's.
    link = next(m for m in server.messages(GROUP) if "start=g" in m.text).text
    payload = link.split("start=")[1].split()[0]
    sent = li.send(f"/start {payload}")
    mine = await server.wait_for_message(li.chat_id, lambda m: "你的回答与团队平均" in m.text, after=sent,
                                         timeout=TIMEOUT)
    assert "你：" in mine.text
    server.assert_no_errors(except_codes={403, 429})
