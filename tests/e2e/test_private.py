"""End-to-end: the real bot process against the Bot API test server, acting as users in private chats."""

from __future__ import annotations

import json

from tests.botapi import BotAPIServer, SentMessage
from tests.e2e.harness import GUIDANCE, BotProcess, StartBot, free_port, is_question
from tests.report.pdf_tools import pdf_text

TIMEOUT = 90  # generous: a slow, shared machine


async def answer_by_buttons(server: BotAPIServer, user, start: int, end: int, option: int = 0) -> SentMessage:  # type: ignore[no-untyped-def]
    """Presses option `option` on questions start..end-1, waiting for each edit."""
    message = await server.wait_for_message(user.chat_id, is_question(start), timeout=TIMEOUT)
    for n in range(start, end):
        message = await server.wait_for_message(user.chat_id, is_question(n), timeout=TIMEOUT)
        query = user.press(message, option)
        await server.wait_for_callback_answer(query, timeout=TIMEOUT)
    return message


async def test_whole_interview_with_a_restart_in_the_middle(server: BotAPIServer, bot: BotProcess) -> None:
    user = server.user(1001, first_name="张三")
    sent = user.send("/start")
    welcome = await server.wait_for_message(user.chat_id, lambda m: "开始诊断" in m.button_texts, after=sent,
                                            timeout=TIMEOUT)
    assert {c["command"] for c in server.commands()} >= {"start", "diagnose", "report", "export", "ask"}
    user.press(welcome, "开始诊断")
    await answer_by_buttons(server, user, 1, 8, option=0)
    await server.wait_for_message(user.chat_id, is_question(8), timeout=TIMEOUT)

    # The bot restarts: the interview resumes exactly where it stopped.
    assert await bot.restart() == 0, bot.log()  # SIGTERM finishes cleanly
    sent = user.send("/diagnose")
    resumed = await server.wait_for_message(user.chat_id, is_question(8), after=sent, timeout=TIMEOUT)
    assert "欢迎回来" in resumed.text
    sent = user.send("还没有，完全没做")  # a free-text answer
    await server.wait_for_message(user.chat_id, is_question(9), after=sent, timeout=TIMEOUT)
    for n in range(9, 21):
        message = await server.wait_for_message(user.chat_id, is_question(n), timeout=TIMEOUT)
        options = [b for b in message.flat_buttons if b.data.startswith("a1:")]
        user.press(message, callback_data=options[-1].data)  # the not-ready option
    photo = await server.wait_for_message(user.chat_id, lambda m: m.photo is not None, timeout=TIMEOUT)
    assert photo.photo.data.startswith(b"\x89PNG")
    report = [m for m in server.messages(user.chat_id) if "诊断结论" in m.text]
    assert report and ("尚未准备好" in report[0].text or "需补课" in report[0].text)

    sent = user.send("/export")
    docs = await server.wait_for_messages(user.chat_id, 3, lambda m: m.document is not None, after=sent,
                                          timeout=TIMEOUT)
    data = json.loads(next(d for d in docs if d.document.filename.endswith(".json")).document.data)
    assert data["verdict"] in {"ready", "partly", "not_ready"} and len(data["answers"]) == 20
    pdf = next(d for d in docs if d.document.filename.endswith(".pdf")).document.data
    first_page = pdf_text(pdf)[0]
    assert data["verdict_label"] in first_page and data["plan"][0]["item"][:8] in first_page.replace("\n", "")
    assert data["answers"][7]["answer_text"] == "还没有，完全没做"
    for gap in data["gaps"]:
        assert gap["quote"] in GUIDANCE and gap["quote_section"] == gap["section"]
    server.assert_no_errors()


async def test_a_typed_answer_shows_what_was_recorded_and_can_be_corrected(
        server: BotAPIServer, bot: BotProcess) -> None:
    user = server.user(1009, first_name="孙八")
    sent = user.send("/diagnose")
    await server.wait_for_message(user.chat_id, is_question(1), after=sent, timeout=TIMEOUT)
    sent = user.send("还没开始")
    answered = await server.wait_for_message(user.chat_id, lambda m: "记录为：「还没想清楚」" in m.text, timeout=TIMEOUT)
    assert answered.button_texts == ["✏️ 改一下"] and "还没开始" in answered.text
    second = await server.wait_for_message(user.chat_id, is_question(2), after=sent, timeout=TIMEOUT)

    query = user.press(answered, "✏️ 改一下")
    await server.wait_for_callback_answer(query, timeout=TIMEOUT)
    again = await server.wait_for_message(user.chat_id, is_question(1), after=second, timeout=TIMEOUT)
    assert "之前的回答：还没开始" in again.text
    await server.wait_for(lambda: not second.buttons, TIMEOUT, description="question 2's buttons to be removed")

    assert not answered.buttons  # the used button is gone

    sent = user.send("已经全部完成")
    corrected = await server.wait_for_message(user.chat_id, lambda m: "记录为：「已明确并写成方案」" in m.text,
                                              timeout=TIMEOUT)
    assert corrected.message_id == again.message_id and corrected.button_texts == ["✏️ 改一下"]
    await server.wait_for_message(user.chat_id, is_question(2), after=sent, timeout=TIMEOUT)
    server.assert_no_errors()


async def test_hostile_input_is_escaped_and_loses_nothing(server: BotAPIServer, bot: BotProcess) -> None:
    user = server.user(1002, first_name="<b>Eve</b>")
    sent = user.send("/diagnose")
    question = await server.wait_for_message(user.chat_id, is_question(1), after=sent, timeout=TIMEOUT)

    hostile = "<b>还没有</b> <script>alert(1)</script> & 完全没做"
    sent = user.send(hostile)
    reply = await server.wait_for_message(user.chat_id, lambda m: is_question(2)(m) or (
        "我没能确定" in m.text and is_question(1)(m)), after=sent, timeout=TIMEOUT)
    if not is_question(2)(reply):  # asked again: the same answer again is recorded (read, or 待确认)
        sent = user.send(hostile)
        await server.wait_for_message(user.chat_id, is_question(2), after=sent, timeout=TIMEOUT)
    # Shown back as text, not markup: the server parsed it as HTML and the tags survived as characters.
    assert any("<script>alert(1)</script>" in m.text for m in server.messages(user.chat_id))

    long_answer = "我们还没有开始做" + "很长的说明" * 1000  # ~5,000 characters
    sent = user.send(long_answer)
    # Read (the next question) or, when the reader is unsure of so much unread text, asked again with the options:
    # either way the bot answers within Telegram's limits and the interview goes on.
    reply = await server.wait_for_message(user.chat_id, lambda m: is_question(3)(m) or (
        "我没能确定" in m.text and is_question(2)(m)), after=sent, timeout=TIMEOUT)
    if not is_question(3)(reply):
        user.press(reply, "还没有指标")
        await server.wait_for_message(user.chat_id, is_question(3), after=sent, timeout=TIMEOUT)

    for data in ("a1:goal_purpose:0", "a1:goal_kpi:99", "not-ours", "n1:zzz", "a1:" + "x" * 40 + ":1"):
        query = user.press_raw(None, question.message_id, data)
        answer = await server.wait_for_callback_answer(query, timeout=TIMEOUT)
        assert answer.text, data
    current = server.messages(user.chat_id)[-1]
    assert "第 3/20 题" in current.text  # the forged buttons changed nothing
    server.assert_no_errors()


async def test_questions_are_answered_from_the_guidance(server: BotAPIServer, bot: BotProcess) -> None:
    user = server.user(1003, first_name="李四")
    sent = user.send("老板只想多拉人进群，不考虑留存，会有什么问题？")
    reply = await server.wait_for_message(user.chat_id, after=sent, timeout=TIMEOUT)
    assert "2.2" in reply.text
    sent = user.send("/ask 今天北京天气怎么样")
    reply = await server.wait_for_message(user.chat_id, after=sent, timeout=TIMEOUT)
    assert "没有涉及" in reply.text
    server.assert_no_errors()


async def test_429_storm_waits_and_loses_nothing(server: BotAPIServer, bot: BotProcess) -> None:
    user = server.user(1004, first_name="王五")
    server.flood.force_429(6, retry_after=1)
    sent = user.send("/start")
    await server.wait_for_message(user.chat_id, lambda m: "开始诊断" in m.button_texts, after=sent, timeout=TIMEOUT)
    sent = user.send("/diagnose")
    await server.wait_for_message(user.chat_id, is_question(1), after=sent, timeout=TIMEOUT)
    assert sum(c.error_code == 429 for c in server.errors) >= 6
    server.assert_no_errors(except_codes={429})


async def test_a_blocked_user_does_not_stop_the_bot(server: BotAPIServer, bot: BotProcess) -> None:
    blocked = server.user(1005, first_name="走了")
    # The user writes, then blocks the bot before it answers (writing to a bot would unblock it otherwise).
    server.inject_error(403, "Forbidden: bot was blocked by the user", chat_id=blocked.chat_id, count=5)
    blocked.send("/start")
    other = server.user(1006, first_name="还在")
    sent = other.send("/start")
    await server.wait_for_message(other.chat_id, after=sent, timeout=TIMEOUT)
    await server.wait_for(lambda: any(c.error_code == 403 for c in server.errors), TIMEOUT,
                          description="the bot's reply to the blocked user to fail with 403")
    sent = other.send("/help")  # still serving after the 403
    await server.wait_for_message(other.chat_id, after=sent, timeout=TIMEOUT)
    server.assert_no_errors(except_codes={403})


async def test_network_errors_are_retried(server: BotAPIServer, bot: BotProcess) -> None:
    user = server.user(1007, first_name="赵六")
    server.inject_error(502, "Bad Gateway", method="sendMessage", chat_id=user.chat_id, count=2)
    sent = user.send("/help")
    reply = await server.wait_for_message(user.chat_id, after=sent, timeout=TIMEOUT)
    assert "/diagnose" in reply.text
    assert sum(c.error_code == 502 for c in server.errors) == 2


async def test_webhook_mode_with_secret(server: BotAPIServer, start_bot: StartBot) -> None:
    port = free_port()
    proc = await start_bot(WEBHOOK_URL=f"http://127.0.0.1:{port}/tg-hook", WEBHOOK_SECRET="s3cret-Token_1",
                           WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port))
    try:
        assert server.webhook_url == f"http://127.0.0.1:{port}/tg-hook"
        user = server.user(1008, first_name="钱七")
        sent = user.send("/start")
        reply = await server.wait_for_message(user.chat_id, after=sent, timeout=TIMEOUT)
        assert "开始诊断" in reply.button_texts
    finally:
        assert await proc.stop() == 0, proc.log()
    server.assert_no_errors()
