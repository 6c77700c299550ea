"""End-to-end: the report's life after the interview — a second diagnosis compared with the first, /history, the
re-diagnosis reminder across a restart (a scaled day), /reminders, /benchmark and /forget — with the real bot
process against the Bot API test server."""

from __future__ import annotations

import json

import pytest

from tests.botapi import BotAPIServer
from tests.e2e.harness import BotProcess, StartBot, is_question
from tests.report.pdf_tools import pdf_text

TIMEOUT = 90
DAY = 0.05  # REMINDER_DAY_SECONDS: 30 days = 1.5 s


@pytest.fixture
def bot_env() -> dict[str, str]:
    return {"REMINDER_DAY_SECONDS": str(DAY)}


async def _diagnose(server: BotAPIServer, user, option: int, command: str = "/diagnose") -> None:  # type: ignore[no-untyped-def]
    """Answers all 20 questions with the same option (0 = ready … -1 = not ready) and waits for the radar."""
    sent = user.send(command)
    for n in range(1, 21):
        message = await server.wait_for_message(user.chat_id, is_question(n), after=sent, timeout=TIMEOUT)
        options = [b for b in message.flat_buttons if b.data.startswith("a1:")]
        user.press(message, callback_data=options[option].data)
    await server.wait_for_message(user.chat_id, lambda m: m.photo is not None, after=sent, timeout=TIMEOUT)


async def test_history_comparison_reminder_across_a_restart_and_forget(server: BotAPIServer, bot: BotProcess,
                                                                     start_bot: StartBot) -> None:
    user = server.user(3001, first_name="周九")
    await _diagnose(server, user, -1)
    first = next(m for m in server.messages(user.chat_id) if "诊断结论" in m.text)
    assert "行动计划" in first.text and "第 1 步" in first.text
    assert "待确认" not in first.text.split("行动计划")[0] or "回答未知" in first.text

    await _diagnose(server, user, 0, "/restart")
    reports = [m for m in server.messages(user.chat_id) if "诊断结论" in m.text]
    assert len(reports) == 2
    second = reports[-1]
    assert "与上次诊断相比" in second.text and "已补上" in second.text and "↑" in second.text
    assert "持续关注" in second.text, "a ready company's plan says what to keep doing and watch"
    last = [m for m in server.messages(user.chat_id) if m.buttons and "天后提醒我复诊" in " ".join(m.button_texts)]
    assert last, "reminder buttons under the report"

    sent = user.send("/history")
    listing = await server.wait_for_message(user.chat_id, lambda m: "历次诊断" in m.text, after=sent, timeout=TIMEOUT)
    assert len(listing.flat_buttons) == 2
    query = user.press(listing, callback_data=listing.flat_buttons[1].data)  # the older one
    await server.wait_for_callback_answer(query, timeout=TIMEOUT)
    again = await server.wait_for_message(user.chat_id, lambda m: "诊断结论" in m.text, after=sent, timeout=TIMEOUT)
    assert "尚未准备好" in again.text and "与上次诊断相比" not in again.text

    sent = user.send("/export")
    docs = await server.wait_for_messages(user.chat_id, 3, lambda m: m.document is not None, after=sent,
                                          timeout=TIMEOUT)
    data = json.loads(next(d for d in docs if d.document.filename.endswith(".json")).document.data)
    assert data["previous"]["overall"] < data["overall"] and data["plan"]
    pages = pdf_text(next(d for d in docs if d.document.filename.endswith(".pdf")).document.data)
    assert data["verdict_label"] in pages[0]

    # A reminder in 30 (scaled) days, then a restart before it is due: it is sent once, after the restart.
    query = user.press(last[-1], "30 天后提醒我复诊")
    answer = await server.wait_for_callback_answer(query, timeout=TIMEOUT)
    assert "30 天后" in answer.text
    sent = user.send("/reminders")
    await server.wait_for_message(user.chat_id, lambda m: "待发送的复诊提醒" in m.text, after=sent, timeout=TIMEOUT)
    assert await bot.restart() == 0, bot.log()
    reminder = await server.wait_for_message(user.chat_id, lambda m: m.text.startswith("⏰ 复诊提醒"),
                                             after=sent, timeout=TIMEOUT)
    assert "30 天" in reminder.text
    sent = user.send("/reminders")
    await server.wait_for_message(user.chat_id, lambda m: "没有待发送" in m.text, after=sent, timeout=TIMEOUT)
    assert sum(m.text.startswith("⏰ 复诊提醒") for m in server.messages(user.chat_id)) == 1, "sent once"
    assert reminder.buttons, "a button to start the next diagnosis"

    # /forget: the history goes, and so does a reminder that was still pending.
    query = user.press(last[-1], "90 天后提醒我复诊")
    await server.wait_for_callback_answer(query, timeout=TIMEOUT)
    sent = user.send("/forget")
    confirm = await server.wait_for_message(user.chat_id, lambda m: bool(m.buttons), after=sent, timeout=TIMEOUT)
    query = user.press(confirm, 0)
    await server.wait_for_callback_answer(query, timeout=TIMEOUT)
    await server.wait_for_message(user.chat_id, lambda m: "已删除" in m.text, after=sent, timeout=TIMEOUT)
    sent = user.send("/history")
    await server.wait_for_message(user.chat_id, lambda m: "还没有完成的诊断报告" in m.text, after=sent, timeout=TIMEOUT)
    sent = user.send("/reminders")
    await server.wait_for_message(user.chat_id, lambda m: "没有待发送" in m.text, after=sent, timeout=TIMEOUT)
    server.assert_no_errors()


async def test_benchmark_off_and_on(server: BotAPIServer, bot: BotProcess) -> None:
    user = server.user(3002, first_name="吴十")
    sent = user.send("/benchmark")
    await server.wait_for_message(user.chat_id, lambda m: "目前为：开启" in m.text, after=sent, timeout=TIMEOUT)
    sent = user.send("/benchmark off")
    await server.wait_for_message(user.chat_id, lambda m: "已关闭" in m.text, after=sent, timeout=TIMEOUT)
    await _diagnose(server, user, 1)
    report = [m for m in server.messages(user.chat_id) if "与其他用户对比" in m.text]
    assert report and "/benchmark on" in report[-1].text
    sent = user.send("/benchmark on")
    await server.wait_for_message(user.chat_id, lambda m: "已开启" in m.text, after=sent, timeout=TIMEOUT)
    await _diagnose(server, user, 1, "/restart")
    report = [m for m in server.messages(user.chat_id) if "与其他用户对比" in m.text]
    assert "至少 20 位用户" in report[-1].text, "below the threshold: one line saying why"
    server.assert_no_errors()
