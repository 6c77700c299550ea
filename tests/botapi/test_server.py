"""Tests of the fake Telegram Bot API server (tests/botapi), driven by a real aiogram Bot."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from aiohttp import web

from . import BotAPIServer, EntityParseError, SentMessage, parse_html, parse_markdown_v2, utf16_len

TOKEN = "123456:TEST"
OTHER_TOKEN = "654321:NOPE"
GROUP = -1001234567890
BASIC_GROUP = -4242


class FakeClock:
    """Manually advanced monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_bot(server: BotAPIServer, token: str = TOKEN, parse_mode: str | None = None) -> Bot:
    return Bot(
        token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(server.base)),
        default=DefaultBotProperties(parse_mode=parse_mode),
    )


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def kb(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows]
    )


@pytest_asyncio.fixture
async def server() -> AsyncIterator[BotAPIServer]:
    async with BotAPIServer(token=TOKEN, bot_username="readiness_bot", flood_enabled=False) as srv:
        yield srv


@pytest_asyncio.fixture
async def bot(server: BotAPIServer) -> AsyncIterator[Bot]:
    client = make_bot(server)
    yield client
    await client.session.close()


@pytest_asyncio.fixture
async def html_bot(server: BotAPIServer) -> AsyncIterator[Bot]:
    client = make_bot(server, parse_mode="HTML")
    yield client
    await client.session.close()


@contextlib.asynccontextmanager
async def server_and_bot(**options: Any) -> AsyncIterator[tuple[BotAPIServer, Bot]]:
    """A test server with its own `options` (limits, a clock) and a bot on it."""
    async with BotAPIServer(token=TOKEN, **options) as server:
        bot = make_bot(server)
        try:
            yield server, bot
        finally:
            await bot.session.close()


@contextlib.asynccontextmanager
async def serve(app: web.Application, path: str) -> AsyncIterator[str]:
    """Runs `app` on a free port of 127.0.0.1 while the block runs; yields the URL of `path`."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
    finally:
        await runner.cleanup()


async def raw_post(server: BotAPIServer, method: str, token: str = TOKEN, **kwargs: Any) -> tuple[int, dict, dict]:
    url = f"{server.base}/bot{token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.json(), dict(response.headers)


# =========================================================================== basics


@pytest.mark.asyncio
async def test_get_me_and_base_url(server: BotAPIServer, bot: Bot) -> None:
    assert server.base.startswith("http://127.0.0.1:")
    me = await bot.get_me()
    assert me.id == 123456
    assert me.username == "readiness_bot"
    assert me.is_bot
    assert me.can_read_all_group_messages is False
    assert server.calls_to("getMe", ok=True)


@pytest.mark.asyncio
async def test_wrong_token_and_unknown_method(server: BotAPIServer) -> None:
    other = make_bot(server, token=OTHER_TOKEN)
    try:
        with pytest.raises(TelegramUnauthorizedError) as exc:
            await other.get_me()
        assert exc.value.message == "Unauthorized"
    finally:
        await other.session.close()
    status, body, _ = await raw_post(server, "sendSomethingWeird", data={"chat_id": "1"})
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
    # method names are case-insensitive, GET and query strings work
    async with aiohttp.ClientSession() as session, session.get(f"{server.base}/bot{TOKEN}/GETME") as response:
        assert response.status == 200
        assert (await response.json())["result"]["username"] == "readiness_bot"
    assert [c.error_code for c in server.errors] == [401, 404]


@pytest.mark.asyncio
async def test_json_and_urlencoded_bodies(server: BotAPIServer) -> None:
    user = server.user(1001, started=True)
    status, body, _ = await raw_post(
        server,
        "sendMessage",
        json={
            "chat_id": user.id,
            "text": "<b>json</b>",
            "parse_mode": "HTML",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]},
        },
    )
    assert status == 200, body
    assert body["result"]["text"] == "json"
    status, body, _ = await raw_post(server, "sendMessage", data={"chat_id": str(user.id), "text": "form"})
    assert status == 200, body
    assert [m.text for m in server.messages(user.id)] == ["json", "form"]
    assert server.messages(user.id)[0].buttons == [[("a", "a")]]


# =========================================================================== updates


@pytest.mark.asyncio
async def test_user_send_reaches_get_updates(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001, first_name="张三", username="zhang")
    sent = user.send("/start payload")
    assert sent["chat"] == {"id": 1001, "type": "private", "first_name": "张三", "username": "zhang"}
    updates = await bot.get_updates()
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/start payload"
    assert message.from_user is not None and message.from_user.first_name == "张三"
    assert message.entities is not None and message.entities[0].type == "bot_command"
    assert message.entities[0].length == len("/start")
    # not confirmed yet -> returned again; confirmed with offset -> gone
    assert [u.update_id for u in await bot.get_updates()] == [updates[0].update_id]
    assert await bot.get_updates(offset=updates[0].update_id + 1) == []
    assert server.pending_updates == []


@pytest.mark.asyncio
async def test_long_poll_wakes_when_update_arrives(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001)
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=25))
    await server.wait_for(lambda: server.polling, timeout=10, description="the long poll to start")
    user.send("wake up")
    updates = await asyncio.wait_for(poll, timeout=10)
    assert loop.time() - started < 10
    assert [u.message.text for u in updates if u.message] == ["wake up"]


@pytest.mark.asyncio
async def test_second_get_updates_terminates_the_first(server: BotAPIServer, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=25))
    await server.wait_for(lambda: server.polling, timeout=10)
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError) as exc:
        await asyncio.wait_for(first, timeout=10)
    assert exc.value.message == (
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    )
    assert await asyncio.wait_for(second, timeout=10) == []


@pytest.mark.asyncio
async def test_allowed_updates_filter(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001, started=True)
    message = await bot.send_message(user.id, "pick", reply_markup=kb([("x", "x")]))
    user.send("text")
    user.press(server.messages(user.id)[0], "x")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert len(updates) == 1 and updates[0].callback_query is not None
    assert updates[0].callback_query.message is not None
    assert updates[0].callback_query.message.message_id == message.message_id
    assert [u.reason for u in server.undelivered] == ["allowed_updates"]


@pytest.mark.asyncio
async def test_webhook_delivery_conflict_and_secret(server: BotAPIServer, bot: Bot) -> None:
    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        update = received[-1][0]
        # answer with a method call, which Telegram executes
        return web.json_response({"method": "sendMessage", "chat_id": update["message"]["chat"]["id"], "text": "pong"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app, "/hook") as url:
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.set_webhook(url, secret_token="bad secret!")
        assert exc.value.message == "Bad Request: secret token contains unallowed characters"
        assert await bot.set_webhook(url, secret_token="s3cr3t_-TOKEN")
        info = await bot.get_webhook_info()
        assert info.url == url
        with pytest.raises(TelegramConflictError) as conflict:
            await bot.get_updates()
        assert conflict.value.message == (
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first"
        )
        user = server.user(1001)
        user.send("ping")
        reply = await server.wait_for_message(user.id, lambda m: m.text == "pong", timeout=10)
        assert reply.text == "pong"
        assert received[0][0]["message"]["text"] == "ping"
        assert received[0][1] == "s3cr3t_-TOKEN"
        assert server.calls_to("sendMessage")[0].source == "webhook-reply"
        assert await bot.delete_webhook()
        assert await bot.get_updates() == []


# =========================================================================== text rules


@pytest.mark.asyncio
async def test_text_length_counts_visible_utf16_units(server: BotAPIServer, bot: Bot, html_bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    await bot.send_message(chat, "中" * 4096)
    await bot.send_message(chat, "😀" * 2048)
    await html_bot.send_message(chat, "&lt;" * 4096)
    await html_bot.send_message(chat, "<b>" + "a" * 4095 + "</b>!")
    for text, client in (("中" * 4097, bot), ("😀" * 2048 + "a", bot), ("<i>" + "&amp;" * 4097 + "</i>", html_bot)):
        with pytest.raises(TelegramBadRequest) as exc:
            await client.send_message(chat, text)
        assert exc.value.message == "Bad Request: message is too long"
    assert server.messages(chat)[2].text == "<" * 4096
    for empty in ("", "   \n ", "<b></b>"):
        with pytest.raises(TelegramBadRequest) as exc:
            await html_bot.send_message(chat, empty)
        assert exc.value.message == "Bad Request: message text is empty"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("Hello <br> world", 'Unsupported start tag "br" at byte offset 6'),
        ("你好<br>", 'Unsupported start tag "br" at byte offset 6'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("a&nbsp;b", 'Unsupported HTML entity "&nbsp;" at byte offset 1'),
        ("<p>para</p>", 'Unsupported start tag "p" at byte offset 0'),
    ],
)
async def test_html_parse_errors(server: BotAPIServer, html_bot: Bot, text: str, description: str) -> None:
    chat = server.user(1001, started=True).id
    with pytest.raises(TelegramBadRequest) as exc:
        await html_bot.send_message(chat, text)
    assert exc.value.message == "Bad Request: can't parse entities: " + description


@pytest.mark.asyncio
async def test_html_entities_are_stored(server: BotAPIServer, html_bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    html = (
        '<b>粗<i>斜</i></b> <a href="https://e.x/?a=1&amp;b=2">链接</a> <code>x&lt;y</code> '
        '<pre><code class="language-python">print(1)</code></pre> <span class="tg-spoiler">s</span> '
        "<blockquote expandable>quote</blockquote> &#128512;&#x41;"
    )
    message = await html_bot.send_message(chat, html)
    assert message.text == "粗斜 链接 x<y print(1) s quote 😀A"
    sent = server.messages(chat)[0]
    assert sent.html == html and sent.text == message.text
    types = {e["type"]: e for e in sent.entities}
    assert types["bold"] == {"type": "bold", "offset": 0, "length": 2}
    assert types["text_link"]["url"] == "https://e.x/?a=1&b=2"
    assert types["pre"]["language"] == "python"
    assert "code" in types and "spoiler" in types and "expandable_blockquote" in types


@pytest.mark.asyncio
async def test_markdown_v2_and_unknown_parse_mode(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_message(chat, "Version 1.0 is out!", parse_mode="MarkdownV2")
    assert exc.value.message == (
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"
    )
    ok = await bot.send_message(chat, r"*Version* 1\.0 is out\!", parse_mode="MarkdownV2")
    assert ok.text == "Version 1.0 is out!"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_message(chat, "x", parse_mode="BBCode")
    assert exc.value.message == "Bad Request: unsupported parse_mode"


@pytest.mark.asyncio
async def test_caption_limit(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    doc = BufferedInputFile(b"data", filename="a.txt")
    await bot.send_document(chat, doc, caption="中" * 1024)
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_document(chat, BufferedInputFile(b"data", filename="a.txt"), caption="中" * 1025)
    assert exc.value.message == "Bad Request: message caption is too long"


# =========================================================================== keyboards


@pytest.mark.asyncio
async def test_inline_keyboard_rules(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    await bot.send_message(chat, "ok", reply_markup=kb([("64 bytes", "é" * 32)]))

    async def expect(markup: InlineKeyboardMarkup, description: str) -> None:
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.send_message(chat, "x", reply_markup=markup)
        assert exc.value.message == description

    await expect(kb([("65 bytes", "é" * 32 + "x")]), "Bad Request: BUTTON_DATA_INVALID")
    await expect(
        InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="no action")]]),
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
    )
    await expect(kb([(str(i), str(i)) for i in range(9)]), "Bad Request: reply markup is too long")
    await expect(
        kb(
            *[[(str(r * 8 + i), "d") for i in range(8)] for r in range(12)],
            [("x", "x"), ("y", "y"), ("z", "z"), ("w", "w"), ("v", "v")],
        ),
        "Bad Request: reply markup is too long",
    )
    await bot.send_message(
        chat, "100", reply_markup=kb(*[[(str(r * 10 + i), "d") for i in range(5)] for r in range(20)])
    )
    assert len(server.messages(chat)) == 2


# =========================================================================== edit / delete / reply


@pytest.mark.asyncio
async def test_edit_delete_and_reply_rules(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    markup = kb([("a", "a")])
    message = await bot.send_message(chat, "hello", reply_markup=markup)
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.edit_message_text("hello", chat_id=chat, message_id=message.message_id, reply_markup=markup)
    assert exc.value.message == (
        "Bad Request: message is not modified: specified new message content and reply markup are "
        "exactly the same as a current content and reply markup of the message"
    )
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.edit_message_reply_markup(chat_id=chat, message_id=message.message_id, reply_markup=markup)
    assert exc.value.message.startswith("Bad Request: message is not modified")
    # same text without markup removes the keyboard: a modification
    await bot.edit_message_text("hello", chat_id=chat, message_id=message.message_id)
    sent = server.messages(chat)[0]
    assert sent.buttons == [] and sent.edits == 1
    await bot.edit_message_text("hello <b>again</b>", chat_id=chat, message_id=message.message_id, parse_mode="HTML")
    assert sent.text == "hello again" and sent.edits == 2 and sent.history == ["hello", "hello"]
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.edit_message_text("x", chat_id=chat, message_id=999)
    assert exc.value.message == "Bad Request: message to edit not found"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.edit_message_text("x" * 4097, chat_id=chat, message_id=message.message_id)
    assert exc.value.message == "Bad Request: MESSAGE_TOO_LONG"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_message(chat, "reply", reply_to_message_id=999)
    assert exc.value.message == "Bad Request: message to be replied not found"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_message(chat, "reply", reply_parameters=ReplyParameters(message_id=999))
    assert exc.value.message == "Bad Request: message to be replied not found"
    await bot.send_message(
        chat, "reply", reply_parameters=ReplyParameters(message_id=999, allow_sending_without_reply=True)
    )
    await bot.send_message(chat, "reply", reply_to_message_id=999, allow_sending_without_reply=True)
    replied = await bot.send_message(chat, "reply", reply_parameters=ReplyParameters(message_id=message.message_id))
    assert replied.reply_to_message is not None and replied.reply_to_message.message_id == message.message_id
    assert await bot.delete_message(chat, message.message_id)
    assert [m.message_id for m in server.messages(chat, include_deleted=True) if m.deleted] == [message.message_id]
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.delete_message(chat, message.message_id)
    assert exc.value.message == "Bad Request: message to delete not found"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.edit_message_text("x", chat_id=chat, message_id=message.message_id)
    assert exc.value.message == "Bad Request: message to edit not found"


# =========================================================================== callback queries


@pytest.mark.asyncio
async def test_callback_queries(server: BotAPIServer, bot: Bot) -> None:
    clock = FakeClock()
    server.clock = clock
    user = server.user(1001, first_name="张三", started=True)
    await bot.send_message(user.id, "menu", reply_markup=kb([("一", "one"), ("二", "two")], [("三", "three")]))
    sent = server.messages(user.id)[0]
    assert sent.buttons == [[("一", "one"), ("二", "two")], [("三", "three")]]
    q1 = user.press(sent, "二")
    q2 = user.press(sent, 2)
    q3 = user.press(sent, callback_data="one")
    forged = user.press_raw(None, sent.message_id, data="forged")
    with pytest.raises(LookupError):
        user.press(sent, "四")
    updates = await bot.get_updates()
    assert [u.callback_query.data for u in updates if u.callback_query] == ["two", "three", "one", "forged"]
    assert updates[0].callback_query is not None and updates[0].callback_query.id == q1

    with pytest.raises(TelegramBadRequest) as exc:
        await bot.answer_callback_query(q1, text="x" * 201)
    assert exc.value.message == "Bad Request: MESSAGE_TOO_LONG"
    assert await bot.answer_callback_query(q1, text="好的", show_alert=True)
    answer = server.callback_answers(q1)
    assert answer is not None and answer.text == "好的" and answer.show_alert
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.answer_callback_query(q1)
    assert exc.value.message == too_old
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.answer_callback_query("no-such-query")
    assert exc.value.message == too_old
    clock.advance(14.9)
    assert await bot.answer_callback_query(q2)
    clock.advance(0.2)
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.answer_callback_query(q3)
    assert exc.value.message == too_old
    assert server.callback_answers(forged) is None


# =========================================================================== files


@pytest.mark.asyncio
async def test_upload_limits_and_stored_files(tmp_path: Path) -> None:
    async with server_and_bot(flood_enabled=False, max_document_size=1000, max_photo_size=2000, max_download_size=300) as (server, bot):
        chat = server.user(1001, started=True).id
        await bot.send_document(chat, BufferedInputFile(b"# guide\n", filename="g.md"), caption="说明")
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.send_document(chat, BufferedInputFile(b"x" * 1001, filename="big.bin"))
        assert exc.value.message == "Bad Request: file is too big"
        image = png(40, 30)
        photo = await bot.send_photo(chat, BufferedInputFile(image, filename="p.png"), caption="chart")
        assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (40, 30)
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.send_photo(chat, BufferedInputFile(b"x" * 2001, filename="p.png"))
        assert exc.value.message == "Bad Request: file is too big"
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.send_photo(chat, BufferedInputFile(b"not an image", filename="p.png"))
        assert exc.value.message == "Bad Request: IMAGE_PROCESS_FAILED"
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.send_photo(chat, BufferedInputFile(png(1, 30), filename="thin.png"))
        assert exc.value.message == "Bad Request: PHOTO_INVALID_DIMENSIONS"

        doc_msg, photo_msg = server.messages(chat)[:2]
        assert doc_msg.kind == "document" and doc_msg.text == "说明"
        assert doc_msg.document is not None and doc_msg.document.data == b"# guide\n"
        assert doc_msg.document.filename == "g.md" and doc_msg.document.mime_type == "text/markdown"
        assert photo_msg.photo is not None and photo_msg.photo.data == image
        assert [f.filename for f in server.uploads] == ["g.md", "p.png"]
        streamed = tmp_path / "streamed.csv"
        streamed.write_bytes(b"a,b\n1,2\n")
        await bot.send_document(chat, FSInputFile(streamed))
        assert server.messages(chat)[-1].document.data == b"a,b\n1,2\n"
        assert server.messages(chat)[-1].document.filename == "streamed.csv"
        # re-send by file_id
        await bot.send_document(chat, doc_msg.document.file_id)
        assert server.messages(chat)[-1].document is doc_msg.document

        big = server.user(1002).send_document(None, "big.txt", b"y" * 301)
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.get_file(big["document"]["file_id"])
        assert exc.value.message == "Bad Request: file is too big"


@pytest.mark.asyncio
async def test_user_document_get_file_and_download(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001)
    content = "# 指南\n内容".encode()
    message = user.send_document(None, "g.md", content, caption="/ingest now")
    updates = await bot.get_updates()
    incoming = updates[0].message
    assert incoming is not None and incoming.document is not None
    assert incoming.caption == "/ingest now"
    assert incoming.caption_entities is not None and incoming.caption_entities[0].type == "bot_command"
    assert incoming.document.file_name == "g.md" and incoming.document.file_size == len(content)
    file = await bot.get_file(incoming.document.file_id)
    assert file.file_path and file.file_size == len(content)
    downloaded = await bot.download(incoming.document.file_id)
    assert downloaded is not None and downloaded.read() == content
    assert server.downloads == [file.file_path]
    assert message["document"]["file_id"] == incoming.document.file_id
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.get_file("nope")
    assert exc.value.message == "Bad Request: invalid file_id"


# =========================================================================== flood control


@pytest.mark.asyncio
async def test_private_chat_flood_limit() -> None:
    clock = FakeClock()
    async with server_and_bot(clock=clock) as (server, bot):
        chat = server.user(1001, started=True).id
        for i in range(5):
            await bot.send_message(chat, f"burst {i}")
        with pytest.raises(TelegramRetryAfter) as exc:
            await bot.send_message(chat, "too fast")
        assert exc.value.retry_after == 1
        assert "Too Many Requests: retry after 1" in exc.value.message  # aiogram adds a prefix
        assert server.errors[-1].description == "Too Many Requests: retry after 1"
        clock.advance(1.0)
        await bot.send_message(chat, "after waiting")
        # edits count too
        with pytest.raises(TelegramRetryAfter):
            await bot.edit_message_text("edited", chat_id=chat, message_id=server.messages(chat)[0].message_id)
        clock.advance(3.0)
        await bot.edit_message_text("edited", chat_id=chat, message_id=server.messages(chat)[0].message_id)
        status, body, headers = await raw_post(server, "sendMessage", data={"chat_id": str(chat), "text": "x"})
        assert status == 200
        server.flood.force_429(1, retry_after=7)
        status, body, headers = await raw_post(server, "sendMessage", data={"chat_id": str(chat), "text": "x"})
        assert status == 429 and headers["Retry-After"] == "7"
        assert body == {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        }


@pytest.mark.asyncio
async def test_group_and_global_flood_limits() -> None:
    clock = FakeClock()
    async with server_and_bot(clock=clock) as (server, bot):
        server.add_group(GROUP, "群组", members=[1001])
        first = await bot.send_message(GROUP, "0")
        clock.advance(10)
        for i in range(1, 19):
            await bot.send_message(GROUP, str(i))
        await bot.edit_message_text("edited", chat_id=GROUP, message_id=first.message_id)  # 20th
        with pytest.raises(TelegramRetryAfter) as exc:
            await bot.send_message(GROUP, "21")
        assert exc.value.retry_after == 50
        clock.advance(50)
        await bot.send_message(GROUP, "one slot freed")

        clock.advance(1.0)  # leave the global 1 s window of the group messages
        server.flood.configure(global_limit=3, private_burst=100)
        for uid in (2001, 2002, 2003):
            await bot.send_message(server.user(uid, started=True).id, "hi")
        with pytest.raises(TelegramRetryAfter) as exc:
            await bot.send_message(server.user(2004, started=True).id, "hi")
        assert exc.value.retry_after == 1


@pytest.mark.asyncio
async def test_force_429_storm_and_disabled_flood() -> None:
    async with server_and_bot(flood_enabled=False) as (server, bot):
        chat = server.user(1001, started=True).id
        for i in range(40):
            await bot.send_message(chat, f"m{i}")
        server.flood.force_429(3, retry_after=2)
        for _ in range(3):
            with pytest.raises(TelegramRetryAfter) as exc:
                await bot.send_message(chat, "storm")
            assert exc.value.retry_after == 2
        assert server.flood.forced_remaining == 0
        await bot.send_message(chat, "through")
        assert [c.error_code for c in server.errors] == [429, 429, 429]
        server.assert_no_errors(except_codes={429})
        with pytest.raises(AssertionError, match="3 Bot API call"):
            server.assert_no_errors()


# =========================================================================== blocked / kicked


@pytest.mark.asyncio
async def test_blocked_user_kicked_bot_and_unknown_chats(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001)
    with pytest.raises(TelegramForbiddenError) as exc:
        await bot.send_message(user.id, "unsolicited")
    assert exc.value.message == "Forbidden: bot can't initiate conversation with a user"
    with pytest.raises(TelegramBadRequest) as bad:
        await bot.send_message(777, "nobody")
    assert bad.value.message == "Bad Request: chat not found"

    user.send("/start")
    await bot.send_message(user.id, "welcome")
    server.block_user(user.id)
    with pytest.raises(TelegramForbiddenError) as exc:
        await bot.send_message(user.id, "still there?")
    assert exc.value.message == "Forbidden: bot was blocked by the user"
    updates = await bot.get_updates()
    member_update = updates[-1].my_chat_member
    assert member_update is not None and member_update.new_chat_member.status == "kicked"
    user.send("/start")  # writing to the bot unblocks it
    await bot.send_message(user.id, "welcome back")

    server.add_group(GROUP, "super", members=[user])
    server.add_group(BASIC_GROUP, "basic", members=[user], type="group")
    server.kick_bot(GROUP)
    server.kick_bot(BASIC_GROUP)
    with pytest.raises(TelegramForbiddenError) as exc:
        await bot.send_message(GROUP, "hi")
    assert exc.value.message == "Forbidden: bot was kicked from the supergroup chat"
    with pytest.raises(TelegramForbiddenError) as exc:
        await bot.send_message(BASIC_GROUP, "hi")
    assert exc.value.message == "Forbidden: bot was kicked from the group chat"


# =========================================================================== groups


@pytest.mark.asyncio
async def test_privacy_mode_filters_group_messages(server: BotAPIServer, bot: Bot) -> None:
    alice = server.user(1001, first_name="Alice")
    bob = server.user(1002, first_name="Bob")
    server.add_group(GROUP, "群", members=[alice, bob])
    bot_message = await bot.send_message(GROUP, "I am a bot")
    sent = server.messages(GROUP)[0]

    alice.send("just chatting", chat=GROUP)
    alice.send("/help", chat=GROUP)
    alice.send("/help@readiness_bot", chat=GROUP)
    alice.send("/help@other_bot", chat=GROUP)
    bob.send("answer to bot", chat=GROUP, reply_to=sent)
    bob.send("answer to alice", chat=GROUP, reply_to=server.history(GROUP)[1])
    carol = server.user(1003, first_name="Carol")
    carol.join(GROUP)
    updates = await bot.get_updates()
    texts = [u.message.text for u in updates if u.message and u.message.text]
    assert texts == ["/help", "/help@readiness_bot", "answer to bot"]
    joined = [u.message for u in updates if u.message and u.message.new_chat_members]
    assert joined and joined[0].new_chat_members[0].id == 1003
    reasons = {u.update["message"]["text"]: u.reason for u in server.undelivered}
    assert reasons == {
        "just chatting": "privacy_mode",
        "/help@other_bot": "command_for_other_bot",
        "answer to alice": "privacy_mode",
    }
    assert bot_message.chat.type == "supergroup"

    with pytest.raises(ValueError, match="not a member"):
        server.user(1009).send("intruder", chat=GROUP)

    await bot.get_updates(offset=updates[-1].update_id + 1)
    server.set_bot_admin(GROUP)
    alice.send("now visible", chat=GROUP)
    server.set_bot_admin(GROUP, False)
    server.privacy_mode = False
    bob.send("also visible", chat=GROUP)
    later = await bot.get_updates(allowed_updates=["message"])
    assert [u.message.text for u in later if u.message] == ["now visible", "also visible"]


@pytest.mark.asyncio
async def test_chat_members_and_admins(server: BotAPIServer, bot: Bot) -> None:
    owner = server.user(1, first_name="Owner")
    admin = server.user(2, first_name="Admin")
    member = server.user(3, first_name="Member")
    outsider = server.user(4, first_name="Outsider")
    server.add_group(GROUP, "Team", members=[member], admins=[admin], creator=owner)
    statuses = {u.id: (await bot.get_chat_member(GROUP, u.id)).status for u in (owner, admin, member, outsider)}
    assert statuses == {1: "creator", 2: "administrator", 3: "member", 4: "left"}
    bot_member = await bot.get_chat_member(GROUP, server.bot_id)
    assert bot_member.status == "member"
    admins = await bot.get_chat_administrators(GROUP)
    assert [a.user.id for a in admins] == [1, 2]
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Team" and chat.type == "supergroup"
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.get_chat_member(GROUP, 999999)
    assert exc.value.message == "Bad Request: user not found"
    outsider.send("/start")
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.get_chat_administrators(outsider.id)
    assert exc.value.message == "Bad Request: there are no administrators in the private chat"


@pytest.mark.asyncio
async def test_forum_threads(server: BotAPIServer, bot: Bot) -> None:
    user = server.user(1001)
    server.add_group(GROUP, "Forum", members=[user], is_forum=True, topics=[7])
    incoming = user.send("/ask in topic", chat=GROUP, thread_id=7)
    assert incoming["message_thread_id"] == 7 and incoming["is_topic_message"]
    reply = await bot.send_message(GROUP, "answer", reply_to_message_id=incoming["message_id"])
    assert reply.message_thread_id == 7
    await bot.send_message(GROUP, "explicit", message_thread_id=7)
    assert [m.thread_id for m in server.messages(GROUP)] == [7, 7]
    with pytest.raises(TelegramBadRequest) as exc:
        await bot.send_message(GROUP, "lost", message_thread_id=99)
    assert exc.value.message == "Bad Request: message thread not found"


# =========================================================================== commands, actions


@pytest.mark.asyncio
async def test_my_commands(server: BotAPIServer, bot: Bot) -> None:
    commands = [BotCommand(command="start", description="开始"), BotCommand(command="ask_2", description="提问")]
    assert await bot.set_my_commands(commands)
    assert [c.command for c in await bot.get_my_commands()] == ["start", "ask_2"]
    for bad in (
        BotCommand(command="Start", description="upper"),
        BotCommand(command="x" * 33, description="long"),
        BotCommand(command="bad-dash", description="dash"),
        BotCommand(command="ok", description=""),
        BotCommand(command="ok", description="d" * 257),
    ):
        with pytest.raises(TelegramBadRequest) as exc:
            await bot.set_my_commands([bad])
        assert exc.value.message == "Bad Request: BOT_COMMAND_INVALID", bad
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    assert server.commands() == []


@pytest.mark.asyncio
async def test_chat_action_and_misc(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    assert await bot.send_chat_action(chat, "typing")
    assert server.chat_actions(chat) == ["typing"]
    status, body, _ = await raw_post(server, "sendChatAction", data={"chat_id": str(chat), "action": "dancing"})
    assert status == 400 and body["description"] == "Bad Request: wrong parameter action in request"
    assert await bot.log_out()
    assert await bot.close()
    server.inject_error(502, "Bad Gateway", method="sendMessage")
    status, body, _ = await raw_post(server, "sendMessage", data={"chat_id": str(chat), "text": "x"})
    assert status == 502 and body["description"] == "Bad Gateway"
    await bot.send_message(chat, "fine again")


# =========================================================================== waiting helpers


@pytest.mark.asyncio
async def test_wait_for_message_reports_what_was_sent(server: BotAPIServer, bot: Bot) -> None:
    chat = server.user(1001, started=True).id
    await bot.send_message(chat, "第 1/3 页")
    found = await server.wait_for_message(chat, lambda m: "第 1/" in m.text, timeout=5)
    assert isinstance(found, SentMessage) and found.text == "第 1/3 页"
    with pytest.raises(AssertionError) as exc:
        await server.wait_for_message(chat, lambda m: "第 9/" in m.text, timeout=0.2)
    report = str(exc.value)
    assert "第 9/" in report and "'第 1/3 页'" in report


# =========================================================================== aiogram end to end


@pytest.mark.asyncio
async def test_aiogram_dispatcher_polling_end_to_end(server: BotAPIServer) -> None:
    bot = make_bot(server, parse_mode="HTML")
    router = Router()

    @router.message(CommandStart())
    async def on_start(message: Message) -> None:
        await message.answer(
            "<b>你好</b>，第 1/3 页",
            reply_markup=kb([("上一页", "page:0"), ("下一页", "page:2")]),
        )

    @router.message(Command("help"))
    async def on_help(message: Message) -> None:
        await message.reply("help text")

    @router.callback_query(F.data.startswith("page:"))
    async def on_page(query: CallbackQuery) -> None:
        page = query.data.split(":")[1] if query.data else "?"
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"第 {page}/3 页", reply_markup=query.message.reply_markup)
        await query.answer(f"page {page}")

    dp = Dispatcher()
    dp.include_router(router)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    try:
        user = server.user(1001, first_name="张三")
        sent = user.send("/start")
        menu = await server.wait_for_message(user.id, lambda m: "第 1/" in m.text, after=sent, timeout=15)
        assert menu.text == "你好，第 1/3 页"
        assert menu.button_texts == ["上一页", "下一页"]
        query_id = user.press(menu, "下一页")
        answer = await server.wait_for_callback_answer(query_id, timeout=15)
        assert answer.text == "page 2"
        assert menu.text == "第 2/3 页" and menu.edits == 1 and menu.buttons[0][1] == ("下一页", "page:2")

        server.add_group(GROUP, "Group", members=[user])
        user.send("chatter", chat=GROUP)
        asked = user.send("/help@readiness_bot", chat=GROUP)
        help_reply = await server.wait_for_message(GROUP, after=asked, timeout=15)
        assert help_reply.text == "help text" and help_reply.reply_to_message_id == asked["message_id"]
        await server.wait_updates_consumed(timeout=15)
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, timeout=15)
        await bot.session.close()
    server.assert_no_errors()
    assert [m.text for m in server.messages(GROUP)] == ["help text"]


@pytest.mark.asyncio
async def test_aiogram_webhook_end_to_end(server: BotAPIServer, bot: Bot) -> None:
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token="right_secret").register(app, path="/tg")
    async with serve(app, "/tg") as url:
        user = server.user(1001)
        await bot.set_webhook(url, secret_token="wrong_secret")
        user.send("first")
        await server.wait_for(lambda: server.webhook_last_error, timeout=15, description="a webhook error")
        assert "401" in (server.webhook_last_error or "")
        await bot.set_webhook(url, secret_token="right_secret")
        reply = await server.wait_for_message(user.id, lambda m: m.text == "echo: first", timeout=15)
        assert reply.text == "echo: first"
        await bot.delete_webhook()


@pytest.mark.asyncio
async def test_webhook_redelivers_after_an_error_answer_or_a_dropped_connection_and_keeps_the_chat_in_order(
        server: BotAPIServer, bot: Bot) -> None:
    # Like Telegram: only a 2xx answer confirms an update; a non-2xx answer or a connection dropped before the
    # answer delivers it again (after the Retry-After the webhook asked for, if any); the chat's next update waits.
    arrivals: list[tuple[int, float]] = []
    answers = iter(["500", "drop", "429", "200"])

    async def hook(request: web.Request) -> web.StreamResponse:
        update = await request.json()
        arrivals.append((update["update_id"], asyncio.get_running_loop().time()))
        if len(arrivals) > 4:
            return web.json_response({})
        answer = next(answers)
        if answer == "drop":  # as when the instance dies while handling the update
            assert request.transport is not None
            request.transport.abort()
            return web.json_response({})
        if answer == "429":
            return web.json_response({"ok": False}, status=429, headers={"Retry-After": "1"})
        return web.json_response({}, status=int(answer))

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app, "/hook") as url:
        user = server.user(1001)
        user.send("one")
        user.send("two")
        assert await bot.set_webhook(url)
        await server.wait_for(lambda: not server.pending_updates, timeout=15, description="both updates confirmed")
        await bot.delete_webhook()
    deliveries = [(d.update_id, d.status) for d in server.webhook_deliveries]
    one, two = (u["update_id"] for u in server.updates)
    assert deliveries == [(one, 500), (one, None), (one, 429), (one, 200), (two, 200)]
    assert [u for u, _ in arrivals] == [one, one, one, one, two], "the chat's next update waited for the first"
    assert server.webhook_deliveries[2].retry_after == 1
    assert arrivals[3][1] - arrivals[2][1] >= 0.9, "the Retry-After the webhook asked for was waited out"
    assert server.fetched_update_ids >= {one, two}


@pytest.mark.asyncio
async def test_webhook_delivers_other_chats_while_one_update_is_in_flight(server: BotAPIServer, bot: Bot) -> None:
    # Telegram keeps up to max_connections deliveries open, one per queue (a chat, a user's presses): an update
    # being handled holds back only the updates of its own queue.
    alice, bob = server.user(1001), server.user(1002)
    arrived: list[str] = []
    bob_arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        text = (await request.json())["message"]["text"]
        arrived.append(text)
        if text == "alice 1":
            await bob_arrived.wait()  # never set if deliveries went one at a time
        if text == "bob":
            bob_arrived.set()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    async with serve(app, "/hook") as url:
        alice.send("alice 1")
        alice.send("alice 2")
        bob.send("bob")
        assert await bot.set_webhook(url)
        await server.wait_for(lambda: not server.pending_updates, timeout=15, description="every update confirmed")
        await bot.delete_webhook()
    assert arrived.index("bob") < arrived.index("alice 2"), arrived
    assert arrived.index("alice 1") < arrived.index("alice 2"), "alice's second message waited for her first"


# =========================================================================== parser units


def test_utf16_length() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("中文") == 2
    assert utf16_len("😀") == 2
    assert utf16_len("👨‍👩‍👧") == 8


def test_html_parser_offsets_and_nesting() -> None:
    parsed = parse_html("😀<b>a<i>b</i></b><u>中</u>")
    assert parsed.text == "😀ab中"
    assert parsed.entities == [
        {"type": "bold", "offset": 2, "length": 2},
        {"type": "italic", "offset": 3, "length": 1},
        {"type": "underline", "offset": 4, "length": 1},
    ]
    assert parse_html("<a href='tg://user?id=42'>me</a>").entities[0]["type"] == "text_mention"
    assert parse_html("<B>upper</B>").entities[0]["type"] == "bold"
    assert parse_html("<b>x</>").entities[0]["type"] == "bold"
    assert parse_html("a&nbsp;b", strict_entities=False).text == "a&nbsp;b"
    assert parse_html("&#60;&#x3e;&quot;&amp;").text == '<>"&'
    with pytest.raises(EntityParseError, match='Unsupported start tag "br/" at byte offset 3'):
        parse_html("中<br/>")
    with pytest.raises(EntityParseError, match='Tag "span" must have class "tg-spoiler"'):
        parse_html('<span class="x">a</span>')


def test_markdown_v2_parser() -> None:
    parsed = parse_markdown_v2(r"*b _i_* __u__ ~s~ ||sp|| `c.` [l](https://x\.y) \. ```py" + "\ncode\n```")
    assert parsed.text == "b i u s sp c. l . code\n"
    kinds = [e["type"] for e in parsed.entities]
    assert kinds == ["bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link", "pre"]
    with pytest.raises(EntityParseError, match="Can't find end of Bold entity at byte offset 0"):
        parse_markdown_v2("*open")
    with pytest.raises(EntityParseError, match="Character '-' is reserved"):
        parse_markdown_v2("a-b")
