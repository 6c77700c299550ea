"""/history, /reminders, /benchmark and the buttons under a report, through the real Dispatcher (`feed_update`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram.methods import SendMessage, SendPhoto

from bot.telegram.app import build_dispatcher
from bot.telegram.testing import BotClient


@pytest.fixture
async def client(services) -> AsyncIterator[BotClient]:  # type: ignore[no-untyped-def]
    yield BotClient(build_dispatcher(**services.handler_data()))


async def _finish(client: BotClient) -> None:
    await client.send("/diagnose")
    for _ in range(20):
        await client.click(client.last_keyboard_message().method.reply_markup.inline_keyboard[-2][0].text)
    assert client.session.of(SendPhoto)


async def test_nothing_to_list_before_a_diagnosis(client: BotClient) -> None:
    await client.send("/history")
    assert "还没有完成的诊断报告" in client.last_text()
    await client.send("/reminders")
    assert "没有待发送的复诊提醒" in client.last_text()


async def test_reminder_buttons_schedule_replace_and_cancel(client: BotClient, services) -> None:  # type: ignore[no-untyped-def]
    await _finish(client)
    query = await client.click("60 天后提醒我复诊")
    assert "60 天后" in client.answers_to(query)[0].text
    await client.click("30 天后提醒我复诊")
    pending = await services.reminders.pending(client.user.id)
    assert [r.days for r in pending] == [30], "one pending reminder: the last choice"
    await client.send("/reminders")
    assert "待发送的复诊提醒" in client.last_text()
    query = await client.click("取消提醒")
    assert "已取消" in client.answers_to(query)[0].text
    assert await services.reminders.pending(client.user.id) == []


async def test_forged_reminder_and_history_buttons_change_nothing(client: BotClient, services) -> None:  # type: ignore[no-untyped-def]
    await _finish(client)
    for data in ("rm1:7", "rm1:-30", "h1:999", "h1:abc"):
        before = len(client.session.of(SendMessage))
        query = await client.click(data=data)
        answers = client.answers_to(query)
        assert answers and answers[0].text, data
        assert len(client.session.of(SendMessage)) == before, data
    assert await services.reminders.pending(client.user.id) == []


async def test_history_lists_each_diagnosis_and_shows_it_again(client: BotClient) -> None:
    await _finish(client)
    await client.click("重新诊断")
    for _ in range(20):
        await client.click(client.last_keyboard_message().method.reply_markup.inline_keyboard[0][0].text)
    await client.send("/history")
    assert "共 2 次" in client.last_text()
    listing = client.last_keyboard_message()
    labels = [b.text for row in listing.method.reply_markup.inline_keyboard for b in row]
    assert len(labels) == 2 and "已准备好" in labels[0] and "尚未准备好" in labels[1], "newest first"
    before = len(client.session.of(SendMessage))
    await client.click(labels[1], on=listing)
    assert any("诊断结论：尚未准备好" in m.text for m in client.session.of(SendMessage)[before:])


async def test_benchmark_setting(client: BotClient, services) -> None:  # type: ignore[no-untyped-def]
    await client.send("/benchmark off")
    assert "已关闭" in client.last_text()
    assert not await services.history.benchmark_enabled(client.user.id)
    await client.send("/benchmark")
    assert "目前为：关闭" in client.last_text()
    await client.send("/benchmark on")
    assert await services.history.benchmark_enabled(client.user.id)

