"""Admin commands and /forget through the real Dispatcher (`feed_update`), with a recording Bot API session."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import aiosqlite
import pytest
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import Document, Message, Update

from bot.admin.audit import NOT_ADMIN
from bot.telegram.app import build_dispatcher
from bot.telegram.testing import BotClient
from tests.conftest import ADMIN_ID

ADMIN, USER = ADMIN_ID, 1001
_ids = itertools.count(10_000)


@pytest.fixture
def dp(services):  # type: ignore[no-untyped-def]
    return build_dispatcher(**services.handler_data())


async def send_document(client: BotClient, filename: str, caption: str | None = None) -> None:
    """The user sends a file (the bot never gets to download it in these tests)."""
    message = Message(message_id=next(_ids), date=datetime.now(UTC), chat=client.chat, from_user=client.user,
                      caption=caption, document=Document(file_id="f", file_unique_id="f", file_name=filename,
                                                         file_size=100))
    await client.dp.feed_update(client.bot, Update(update_id=next(_ids), message=message))


async def audit_rows(db: aiosqlite.Connection) -> list[tuple]:
    rows = await db.execute_fetchall("SELECT user_id, action, result, ok FROM audit ORDER BY id")
    return [tuple(r) for r in rows]


async def test_non_admins_are_refused_politely_and_the_attempt_is_logged(dp, services) -> None:  # type: ignore[no-untyped-def]
    user = BotClient(dp, user_id=USER, first_name="路人")
    for command in ("/kb", "/reingest", "/rollback", "/rubric", "/stats", "/audit"):
        await user.send(command)
        assert "仅供管理员使用" in user.last_text(), command
    await send_document(user, "guide.md", caption="/ingest")
    assert "只有管理员可以上传" in user.last_text()
    await user.send("/start")
    forged = await user.click(data="ad1:rb:v1")  # a forged admin button
    assert user.answers_to(forged)[0].show_alert
    rows = await audit_rows(services.db)
    assert [r[1] for r in rows] == ["kb", "reingest", "rollback", "rubric", "stats", "audit", "upload", "rollback"]
    assert all(r[0] == USER and r[2] == NOT_ADMIN and r[3] == 0 for r in rows)
    assert services.knowledge.store.active_id() == "v1"


async def test_admin_status_stats_audit_and_rubric(dp, services) -> None:  # type: ignore[no-untyped-def]
    admin = BotClient(dp, user_id=ADMIN, first_name="管理员")
    user = BotClient(dp, user_id=USER)
    await user.send("/diagnose")
    await admin.send("/kb")
    text = admin.last_text()
    assert "当前知识库版本：v1" in text and "private-domain-prework" not in text and "guidance.md" in text
    await admin.send("/stats")
    assert "最近 7 天" in admin.last_text() and "开始 1 次" in admin.last_text()
    await admin.send("/rollback")
    assert "无法回滚" in admin.last_text()
    await admin.send("/rubric")
    assert "评估题库已重新加载：20 道题" in admin.last_text()
    await send_document(admin, "slides.pdf")
    assert "已拒绝" in admin.last_text() and "当前知识库版本保持不变" in admin.last_text()
    await admin.send("/audit")
    text = admin.last_text()
    for action in ("kb", "stats", "rollback", "rubric", "upload"):
        assert f"<b>{action}</b>" in text
    rows = await audit_rows(services.db)
    assert [r[1] for r in rows] == ["kb", "stats", "rollback", "rubric", "upload", "audit"]
    assert [r[3] for r in rows] == [1, 1, 0, 1, 0, 1]


async def test_forget_asks_first_then_deletes_the_users_data(dp, services) -> None:  # type: ignore[no-untyped-def]
    user = BotClient(dp, user_id=USER)
    await user.send("/diagnose")
    await user.click("已明确并写成方案")
    await user.send("/kb")  # a refused attempt, to be forgotten too
    await user.send("/forget")
    assert "删除后无法恢复" in user.last_text()
    await user.click("取消")
    assert "什么都没有删除" in user.last_text()
    assert await services.interview.in_progress(f"chat:{USER}")

    await user.send("/forget")
    query = await user.click("确认删除我的数据")
    assert user.answers_to(query) and "已删除" in user.last_text()
    assert await services.interview.current(f"chat:{USER}") is None
    db = services.db
    assert (await db.execute_fetchall("SELECT count(*) FROM events WHERE user_id = ?", (USER,)))[0][0] == 0
    assert (await db.execute_fetchall("SELECT count(*) FROM audit WHERE user_id = ?", (USER,)))[0][0] == 0
    await user.send("/report")
    assert "还没有完成的诊断报告" in user.last_text()
    assert all(m.text for m in user.session.of(AnswerCallbackQuery) if m.show_alert)


async def test_help_says_what_is_stored_and_for_how_long(dp) -> None:  # type: ignore[no-untyped-def]
    user = BotClient(dp, user_id=USER)
    await user.send("/help")
    text = user.last_text()
    assert "/forget" in text and "没有自动过期" in text and "不发送给任何第三方" in text
