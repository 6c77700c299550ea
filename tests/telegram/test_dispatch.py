"""Handlers through the real Dispatcher (`feed_update`) with a recording session: the user's script, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMessage,
    SendPhoto,
)

from bot.services import open_services
from bot.telegram.app import build_dispatcher
from bot.telegram.testing import BotClient


@pytest.fixture
async def client(services) -> AsyncIterator[BotClient]:  # type: ignore[no-untyped-def]
    yield BotClient(build_dispatcher(**services.handler_data()))


async def test_start_offers_a_button_and_begins(client: BotClient) -> None:
    await client.send("/start")
    assert "私域启动准备度诊断" in client.last_text()
    query = await client.click("开始诊断")
    assert client.answers_to(query), "every callback query is answered"
    assert "第 1/20 题" in client.last_text()


async def test_button_answers_edit_the_question_in_place(client: BotClient) -> None:
    await client.send("/diagnose")
    first = client.last_keyboard_message().result.message_id
    await client.click("已明确并写成方案")
    edits = client.session.of(EditMessageText)
    assert edits and edits[-1].message_id == first and "第 2/20 题" in edits[-1].text


async def test_free_text_answer_and_clarification(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.send("看情况吧")
    assert "没能确定" in client.last_text()
    await client.send("还没有，完全没做")
    assert "第 2/20 题" in client.last_text()


async def test_html_in_answers_is_escaped(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.send("<b>还没有</b> & <script>")
    texts = [m.text for m in client.session.of(EditMessageText)]
    assert any("&lt;b&gt;还没有&lt;/b&gt; &amp; &lt;script&gt;" in t for t in texts)


async def test_forged_and_stale_buttons_get_a_notice_and_change_nothing(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.click("已明确并写成方案")  # now on question 2
    before = len(client.session.of(SendMessage)) + len(client.session.of(EditMessageText))
    for data in ("a1:goal_purpose:0", "a1:goal_kpi:9", "zz:garbage", "a1:nope:1", "n1:explode"):
        query = await client.click(data=data)
        answers = client.answers_to(query)
        assert answers and answers[0].text, data
    after = len(client.session.of(SendMessage)) + len(client.session.of(EditMessageText))
    assert after == before


async def test_whole_interview_report_and_export(client: BotClient) -> None:
    await client.send("/diagnose")
    for _ in range(20):
        await client.click(client.last_keyboard_message().method.reply_markup.inline_keyboard[-2][0].text)
    assert client.session.of(SendPhoto), "the radar chart is sent"
    report_texts = [m.text for m in client.session.of(SendMessage) if "诊断结论" in m.text]
    assert report_texts and all(len(t) <= 4096 for t in client.texts())
    await client.send("/export")
    docs = client.session.of(SendDocument)
    assert [d.document.filename.rsplit(".", 1)[1] for d in docs] == ["pdf", "md", "json"]
    await client.send("/report")
    assert "诊断结论" in client.last_text() or client.session.of(SendPhoto)


async def test_questions_outside_an_interview_are_answered_from_the_guidance(client: BotClient) -> None:
    await client.send("竞争对手的私域是怎么做的，我们要不要先研究一下")
    assert "5.3" in client.last_text()
    await client.send("/ask 红烧肉怎么做")
    assert "没有涉及" in client.last_text()


async def test_cancel_then_free_text_is_a_question(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.send("/cancel")
    assert "已暂停" in client.last_text()
    await client.send("用户分层怎么做")
    assert "指导文章" in client.last_text()
    await client.send("/diagnose")
    assert "第 1/20 题" in client.last_text()


async def test_callback_answered_once(client: BotClient) -> None:
    await client.send("/diagnose")
    query = await client.click("跳过")
    assert len(client.answers_to(query)) == 1
    assert isinstance(client.session.of(AnswerCallbackQuery)[0], AnswerCallbackQuery)


async def test_report_and_export_before_any_interview(client: BotClient) -> None:
    await client.send("/report")
    assert "还没有完成的诊断报告" in client.last_text()
    await client.send("/export")
    assert "还没有完成的诊断报告" in client.last_text()
    assert not client.session.of(SendDocument)


# Answers whose reading does not depend on the reader's tuning.
CLEAR_LOW, CLEAR_TOP, UNCLEAR, SIDE_QUESTION = "还没开始", "已经全部完成", "今天天气不错", "社群一般建多大比较合适？"


def buttons_of(recorded) -> list[str]:  # type: ignore[no-untyped-def]
    markup = recorded.method.reply_markup
    return [b.text for row in markup.inline_keyboard for b in row] if markup else []


async def test_a_text_answer_shows_what_was_recorded_and_fix_asks_it_again(client: BotClient) -> None:
    await client.send("/diagnose")
    first = client.last_keyboard_message().result.message_id
    await client.send(CLEAR_LOW)
    answered = client.keyboard_with("改一下")
    assert answered.method.message_id == first  # the question message became the answered one
    assert "记录为：「还没想清楚」" in answered.method.text and CLEAR_LOW in answered.method.text
    assert buttons_of(answered) == ["✏️ 改一下"]  # the option buttons are gone
    second = client.last_keyboard_message()
    assert "第 2/20 题" in second.method.text
    await client.click("指标和目标值都已定好")  # question 2 by button: now on question 3
    assert "第 3/20 题" in client.last_text()

    query = await client.click("改一下", on=answered)
    assert [a.text for a in client.answers_to(query)] == ["请重新回答这一题"]
    again = client.last_keyboard_message()
    assert "第 1/20 题" in again.method.text and "之前的回答：还没开始" in again.method.text
    assert again.result.message_id not in (first, second.result.message_id)
    dropped = {m.message_id for m in client.session.of(EditMessageReplyMarkup) if m.reply_markup is None}
    assert {first, second.result.message_id} <= dropped  # neither the used button nor question 3's stay pressable

    await client.send(CLEAR_TOP)
    assert "记录为：「已明确并写成方案」" in client.keyboard_with("改一下").method.text
    nxt = client.last_keyboard_message()
    assert "第 2/20 题" in nxt.method.text and "之前的回答：指标和目标值都已定好" in nxt.method.text  # kept


async def test_a_fixed_question_can_be_answered_by_button(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.send(CLEAR_LOW)
    await client.click("改一下", on=client.keyboard_with("改一下"))
    await client.click("已明确并写成方案")
    assert "第 2/20 题" in client.last_text()


async def test_unclear_twice_is_recorded_as_pending(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.send(UNCLEAR)
    assert "没能确定" in client.last_text() and "第 1/20 题" in client.last_text()
    await client.send(UNCLEAR)
    answered = client.keyboard_with("改一下")
    assert "记录为：「待确认」" in answered.method.text and "✅" not in answered.method.text
    assert "第 2/20 题" in client.last_keyboard_message().method.text
    await client.send("/back")
    assert "之前的回答：待确认" in client.last_text()


async def test_a_side_question_gets_the_guidance_then_the_same_question(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.send(f"/ask {SIDE_QUESTION}")
    asked = client.texts()[1:]  # what /ask answers (passages, or the not-covered message)
    assert asked
    sent_before = len(client.session.of(SendMessage))
    await client.send(SIDE_QUESTION)
    sent = [m.text for m in client.session.of(SendMessage)[sent_before:]]
    assert sent[:-1] == asked  # the same search and rendering as /ask
    assert "第 1/20 题" in sent[-1] and "记录为" not in "".join(sent)
    await client.send(UNCLEAR)  # the side question was not the one re-ask
    assert "没能确定" in client.last_text() and "第 1/20 题" in client.last_text()
    await client.click("已明确并写成方案")  # the re-shown question's buttons work
    assert "第 2/20 题" in client.last_text()


async def test_forged_and_stale_fix_buttons_get_a_notice_and_change_nothing(client: BotClient) -> None:
    await client.send("/diagnose")
    await client.send(CLEAR_LOW)
    before = len(client.texts())
    for data in ("f1:no_such_question", "f1:", "f1:goal_kpi", "f1:" + "x" * 50):  # goal_kpi: not answered yet
        query = await client.click(data=data)
        answers = client.answers_to(query)
        assert answers and answers[0].text, data
    assert len(client.texts()) == before
    await client.send("/restart")
    query = await client.click("改一下", on=client.keyboard_with("改一下"))  # from before /restart
    assert client.answers_to(query)[0].text and "第 1/20 题" in client.last_text()


async def test_recorded_line_is_sent_when_the_question_message_is_unknown(client: BotClient, services) -> None:  # type: ignore[no-untyped-def]
    await client.send("/diagnose")
    await services.question_messages.pop(client.chat.id)  # the question message is not known (e.g. deleted)
    await client.send(CLEAR_LOW)
    recorded = client.keyboard_with("改一下")
    assert isinstance(recorded.method, SendMessage) and "记录为：「还没想清楚」" in recorded.method.text
    assert "第 2/20 题" in client.last_keyboard_message().method.text
    await client.click("改一下", on=recorded)
    assert "第 1/20 题" in client.last_text()


async def test_the_current_questions_buttons_are_removed_after_a_restart(settings) -> None:  # type: ignore[no-untyped-def]
    """Regression: the current question message lived in a process-wide dict and was lost on restart, so the old
    question kept its buttons. It is a row of the bot database now."""
    async with open_services(settings, first_start=False) as before:
        first = BotClient(build_dispatcher(**before.handler_data()))
        await first.send("/start")  # (message ids of the two recording sessions must differ)
        await first.send("/diagnose")
        question = first.last_keyboard_message().result.message_id
    async with open_services(settings, first_start=False) as after:  # the bot process restarted
        second = BotClient(build_dispatcher(**after.handler_data()))
        await second.send("/back")  # a new question message is sent: the old one must lose its keyboard
        cleared = [m for m in second.session.of(EditMessageReplyMarkup) + second.session.of(EditMessageText)
                   if m.message_id == question]
        assert cleared and all(getattr(m, "reply_markup", None) is None or "改一下" in str(m.reply_markup)
                               for m in cleared)
        assert await after.question_messages.get(second.chat.id) == second.last_keyboard_message().result.message_id
        assert second.last_keyboard_message().result.message_id != question
