"""End-to-end: a team runs a diagnosis in a group — the real bot process against the Bot API test server with
privacy mode on and the per-group flood limit enforced (scaled down in time so a test takes seconds)."""

from __future__ import annotations

import json

import pytest

from tests.botapi import BotAPIServer, SentMessage, SimUser
from tests.e2e.harness import GUIDANCE, BotProcess, group_bot_env, group_server_options, is_question
from tests.report.pdf_tools import pdf_text

TIMEOUT = 120  # generous: a slow, shared machine, and the bot paces itself to the group limit
GROUP = -1001234567890
TOPIC = 7
# Telegram's rule is 20 messages a minute per group; the same 20, in an 8-second window, keeps tests short.
WINDOW = 8


@pytest.fixture
def server_options() -> dict[str, object]:
    """Privacy mode on and the per-group flood limit enforced, scaled to the window."""
    return group_server_options(WINDOW)


@pytest.fixture
def bot_env() -> dict[str, str]:
    """The bot paces itself to the same scaled limit; timers scaled down."""
    return group_bot_env(WINDOW, GROUP_GRACE_SECONDS="1")


def team(server: BotAPIServer) -> list[SimUser]:
    """张三 (starts), 李四, 王五, 赵六 (group admin), 钱七."""
    users = [server.user(2000 + i, first_name=name) for i, name in enumerate(["张三", "李四", "王五", "赵六", "钱七"])]
    server.add_group(GROUP, "增长团队", members=users[:3] + users[4:], admins=[users[3]], type="supergroup",
                     is_forum=True, topics=[TOPIC])
    return users


def closed(n: int):  # type: ignore[no-untyped-def]
    return lambda m: f"第 {n}/20 题" in m.text and "已结束" in m.text and not m.buttons


def divided(n: int):  # type: ignore[no-untyped-def]
    """Closed with a spread of two levels or more: waiting for the controller's 🔁 重新投票 or ⏭ 下一题."""
    return lambda m: f"第 {n}/20 题" in m.text and "已结束" in m.text and "🔁 重新投票" in m.button_texts


def votes_of(message: SentMessage) -> list[str]:
    return [b.data for b in message.flat_buttons if b.data.startswith("gv1:")]


async def press(server: BotAPIServer, user: SimUser, message: SentMessage, button: str | None = None, *,
                data: str | None = None) -> str:
    """Presses a button and waits for the bot's callback answer; returns its text."""
    query = user.press(message, button, callback_data=data)
    answer = await server.wait_for_callback_answer(query, timeout=TIMEOUT)
    return answer.text or ""


async def test_team_session_with_privacy_mode_simultaneous_votes_a_restart_and_the_report(
        server: BotAPIServer, bot: BotProcess) -> None:
    zhang, li, wang, zhao, qian = team(server)

    # Privacy mode: ordinary group talk never reaches the bot; the command (with @botname) does.
    li.send("大家好，今天开会做诊断", GROUP, thread_id=TOPIC)
    sent = zhang.send("/diagnose@readiness_bot", GROUP, thread_id=TOPIC)
    lobby = await server.wait_for_message(GROUP, lambda m: "🙋 加入" in m.button_texts, after=sent, timeout=TIMEOUT)
    assert lobby.thread_id == TOPIC, "answers stay in the forum topic"
    assert any(u.reason == "privacy_mode" for u in server.undelivered)
    for member in (li, wang, zhao):
        assert "已加入" in await press(server, member, lobby, "🙋 加入")
    await server.wait_for_message(GROUP, lambda m: m.message_id == lobby.message_id and "已加入（4）" in m.text,
                                  timeout=TIMEOUT)
    # Only the starter or a group admin controls the session.
    assert "只有发起人或群管理员" in await press(server, li, lobby, "开始答题")
    assert "第 1/20 题" not in "".join(m.text for m in server.messages(GROUP))
    # A second /diagnose does not start a second session.
    sent = wang.send("/diagnose", GROUP, thread_id=TOPIC)
    await server.wait_for_message(GROUP, lambda m: "已有一场进行中" in m.text, after=sent, timeout=TIMEOUT)
    await press(server, zhang, lobby, "开始答题")

    # Questions 1–4: everybody presses at once; 王五 is far from the others (disagreement); 李四 changes his mind.
    for n in range(1, 5):
        message = await server.wait_for_message(GROUP, is_question(n), timeout=TIMEOUT)
        assert message.thread_id == TOPIC
        options = votes_of(message)
        await press(server, li, message, data=options[-1])  # 李四's first choice, changed below
        queries = [u.press(message, callback_data=options[0]) for u in (zhang, li, zhao)]  # all at the same moment
        queries.append(wang.press(message, callback_data=options[-1]))
        for q in queries:
            await server.wait_for_callback_answer(q, timeout=TIMEOUT)
        paused = await server.wait_for_message(GROUP, divided(n), timeout=TIMEOUT)
        await press(server, zhang, paused, "下一题")  # discussed; the host moves on without a re-vote
        await server.wait_for_message(GROUP, closed(n), timeout=TIMEOUT)
    shown = server.last_message(GROUP)
    q4 = next(m for m in server.messages(GROUP) if "第 4/20 题" in m.text)
    assert "分歧较大" in q4.text and "王五" in q4.text, "the closed question shows who chose what"

    # The bot restarts in the middle of question 5: votes already cast and the open question survive.
    message = await server.wait_for_message(GROUP, is_question(5), timeout=TIMEOUT)
    options = votes_of(message)
    await press(server, zhang, message, data=options[0])
    # The bot paced itself under the group limit. (A new process starts with an empty pacer while Telegram still
    # counts the old one's messages, so after the restart a 429 may happen; it is waited out and retried.)
    assert server.flood.rejected == 0
    assert await bot.restart() == 0, bot.log()
    for u in (li, wang, zhao):
        await press(server, u, message, data=options[1])
    await server.wait_for_message(GROUP, closed(5), timeout=TIMEOUT)

    # Question 6: a member who is not a controller cannot move on; the group admin can.
    message = await server.wait_for_message(GROUP, is_question(6), timeout=TIMEOUT)
    await press(server, qian, message, data=votes_of(message)[0])  # voting joins 钱七
    assert "只有发起人或群管理员" in await press(server, li, message, "下一题")
    await press(server, zhao, message, "下一题")
    message = await server.wait_for_message(GROUP, is_question(7), timeout=TIMEOUT)
    await press(server, zhang, message, data=votes_of(message)[0])
    await press(server, zhang, message, "结束")

    photo = await server.wait_for_message(GROUP, lambda m: m.photo is not None, timeout=TIMEOUT)
    assert photo.photo.data.startswith(b"\x89PNG") and photo.thread_id == TOPIC
    report = next(m for m in server.messages(GROUP) if "团队诊断结论" in m.text)
    assert "分歧最大的问题" in report.text and "王五" in report.text
    assert "https://t.me/readiness_bot?start=g" in report.text

    # Every question was posted exactly once.
    for n in range(1, 8):
        assert sum(f"第 {n}/20 题" in m.text for m in server.messages(GROUP)) == 1, server.describe(GROUP)
    assert shown is not None

    sent = zhao.send("/export", GROUP, thread_id=TOPIC)
    docs = await server.wait_for_messages(GROUP, 3, lambda m: m.document is not None, after=sent, timeout=TIMEOUT)
    data = json.loads(next(d for d in docs if d.document.filename.endswith(".json")).document.data)
    people = {p["user_id"]: p for p in data["participants"]}
    assert set(people) == {u.id for u in (zhang, li, wang, zhao, qian)}
    assert people[zhang.id]["answered"] == 6 and people[qian.id]["answered"] == 1 and people[wang.id]["answered"] == 5
    first = data["questions"][0]
    assert first["votes"][str(li.id)] == first["votes"][str(zhang.id)], "李四's last choice counted, once"
    assert len(first["votes"]) == 4 and first["disagreement"] and first["spread"] >= 2
    assert not data["questions"][4]["disagreement"]
    assert data["verdict"] in {"ready", "partly", "not_ready"} and len(data["questions"]) == 7
    for gap in data["gaps"]:
        assert gap["quote"] in GUIDANCE and gap["quote_section"] == gap["section"]
    assert data["plan"] and {p["section"] for p in data["plan"] if p["kind"] != "watch"} <= {
        g["section"] for g in data["gaps"]}
    assert people[qian.id]["questions"] and len(people[qian.id]["questions"]) == 1, "which questions each answered"
    pdf = next(d for d in docs if d.document.filename.endswith(".pdf")).document.data
    assert data["verdict_label"] in pdf_text(pdf)[0]

    # The deep link opens a personal copy in private, for participants only.
    sent = wang.send(f"/start g{data_session(report.text)}")
    mine = await server.wait_for_message(wang.chat_id, lambda m: "你的回答与团队平均" in m.text, after=sent,
                                         timeout=TIMEOUT)
    assert "你：" in mine.text
    outsider = server.user(2999, first_name="路人")
    sent = outsider.send(f"/start g{data_session(report.text)}")
    await server.wait_for_message(outsider.chat_id, lambda m: "没有找到你参与过" in m.text, after=sent, timeout=TIMEOUT)


def data_session(text: str) -> str:
    """The session id of the report's deep link."""
    return text.split("start=g", 1)[1].split()[0]


async def test_a_429_storm_in_the_group_loses_nothing(server: BotAPIServer, bot: BotProcess) -> None:
    zhang, li, wang, *_ = team(server)
    server.kick_bot(GROUP)
    server.add_bot_to_group(GROUP, by=zhang)  # the founder adds the bot: it says how team sessions work
    await server.wait_for_message(GROUP, lambda m: "/diagnose" in m.text and "团队诊断" in m.text, timeout=TIMEOUT)
    sent = zhang.send("/diagnose", GROUP)
    lobby = await server.wait_for_message(GROUP, lambda m: "🙋 加入" in m.button_texts, after=sent, timeout=TIMEOUT)
    await press(server, li, lobby, "🙋 加入")
    await press(server, wang, lobby, "🙋 加入")
    server.flood.force_429(4, retry_after=1, chat_id=GROUP)  # Telegram says "retry after 1" four times
    await press(server, zhang, lobby, "开始答题")
    for n in (1, 2):
        message = await server.wait_for_message(GROUP, is_question(n), timeout=TIMEOUT)
        for u in (zhang, li, wang):
            await press(server, u, message, data=votes_of(message)[0])
        await server.wait_for_message(GROUP, closed(n), timeout=TIMEOUT)
    assert server.flood.rejected >= 4
    await server.wait_for_message(GROUP, is_question(3), timeout=TIMEOUT)


async def test_forged_and_foreign_buttons_change_nothing(server: BotAPIServer, bot: BotProcess) -> None:
    zhang, li, *_ = team(server)
    sent = zhang.send("/diagnose", GROUP)
    lobby = await server.wait_for_message(GROUP, lambda m: "🙋 加入" in m.button_texts, after=sent, timeout=TIMEOUT)
    await press(server, zhang, lobby, "开始答题")
    message = await server.wait_for_message(GROUP, is_question(1), timeout=TIMEOUT)
    session = votes_of(message)[0].split(":")[1]
    for forged in (f"gv1:{session}:5:0", f"gv1:{session}:0:9", "gv1:999:0:0", f"gc1:{session}:next:3", "zz:1"):
        answer = await server.wait_for_callback_answer(zhang.press_raw(GROUP, message.message_id, forged),
                                                       timeout=TIMEOUT)
        assert "已失效" in (answer.text or ""), forged  # even from the controller
    # The same session's buttons pressed from a private chat do nothing either.
    server.user(li.id, started=True)
    answer = await server.wait_for_callback_answer(li.press_raw(None, message.message_id, votes_of(message)[0]),
                                                   timeout=TIMEOUT)
    assert "已失效" in (answer.text or "")
    assert "已投票 0/1" in server.last_message(GROUP).text  # type: ignore[union-attr]
