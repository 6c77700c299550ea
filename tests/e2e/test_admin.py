"""End-to-end: admins update the guidance over Telegram; /forget leaves nothing of a user in the databases.

The real bot process against the Bot API test server, with ADMIN_IDS set; users and admins act through it.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import sqlite3
from pathlib import Path

import pytest

from bot.knowledge.ingest import LOCK_FILE
from tests.botapi import BotAPIServer, SentMessage
from tests.e2e.harness import NEW_DOC, BotProcess, is_question

TIMEOUT = 90  # generous: a slow, shared machine
ADMIN = 9001
QUESTION = "/ask 裂变海报怎么设计"
NEW_SECTION = "裂变海报设计"
SORRY = "抱歉，处理这条消息时出错了"


@pytest.fixture
def bot_env() -> dict[str, str]:
    """One admin."""
    return {"ADMIN_IDS": str(ADMIN)}


def uploads(data_dir: Path) -> list[str]:
    folder = data_dir / "uploads"
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


async def ask(server: BotAPIServer, user, question: str = QUESTION) -> SentMessage:  # type: ignore[no-untyped-def]
    sent = user.send(question)
    return await server.wait_for_message(user.chat_id, after=sent, timeout=TIMEOUT)


async def kb_version(server: BotAPIServer, admin) -> str:  # type: ignore[no-untyped-def]
    sent = admin.send("/kb")
    reply = await server.wait_for_message(admin.chat_id, lambda m: "当前知识库版本" in m.text, after=sent,
                                          timeout=TIMEOUT)
    return reply.text.split("当前知识库版本：", 1)[1].split()[0]


async def test_admin_uploads_guidance_users_find_it_and_rollback_restores_it(
        server: BotAPIServer, bot: BotProcess, data_dir: Path) -> None:
    admin = server.user(ADMIN, first_name="管理员")
    user = server.user(1101, first_name="张三")
    assert NEW_SECTION not in (await ask(server, user)).text
    assert await kb_version(server, admin) == "v1"
    admin_menu = {c["command"] for c in server.commands({"type": "chat", "chat_id": ADMIN})}
    assert {"kb", "reingest", "rollback", "rubric", "stats", "audit", "forget"} <= admin_menu
    assert "kb" not in {c["command"] for c in server.commands()}

    # A non-admin's upload is refused.
    sent = user.send_document(None, "fission.md", NEW_DOC, caption="/ingest")
    reply = await server.wait_for_message(user.chat_id, after=sent, timeout=TIMEOUT)
    assert "只有管理员可以上传" in reply.text

    # A bad file is refused with its reason; the active version and uploads/ are as they were.
    for name, data, reason in (("bad.md", "# 标题\n\n正文".encode("gbk"), "not UTF-8"),
                               ("notes.txt", "没有标题的一段话。".encode(), "no Markdown headings")):
        sent = admin.send_document(None, name, data, caption="/ingest")
        reply = await server.wait_for_message(admin.chat_id, lambda m: "已拒绝" in m.text, after=sent,
                                              timeout=TIMEOUT)
        assert reason in reply.text and "当前知识库版本保持不变" in reply.text
    assert await kb_version(server, admin) == "v1" and uploads(data_dir) == []

    # A good file: previewed with the sections it adds, ingested on the button, found by the next question.
    sent = admin.send_document(None, "fission.md", NEW_DOC)
    preview = await server.wait_for_message(admin.chat_id, lambda m: "导入为新版本" in m.button_texts, after=sent,
                                            timeout=TIMEOUT)
    assert "新增章节（2）" in preview.text and "fission#fission.poster" in preview.text
    admin.press(preview, "导入为新版本")
    done = await server.wait_for_message(admin.chat_id, lambda m: "导入完成" in m.text, timeout=TIMEOUT)
    assert "v2" in done.text and "新增章节（2）" in done.text and "删除章节（0）" in done.text
    assert uploads(data_dir) == ["fission.md"]
    reply = await ask(server, user)
    assert NEW_SECTION in reply.text.split("\n\n")[1]  # the top passage, from the new document, no restart

    # Rollback (with its confirm button) restores the old answers.
    sent = admin.send("/rollback")
    prompt = await server.wait_for_message(admin.chat_id, lambda m: m.buttons, after=sent, timeout=TIMEOUT)
    assert "确认回滚到 v1" in prompt.button_texts
    admin.press(prompt, "确认回滚到 v1")
    await server.wait_for_message(admin.chat_id, lambda m: "已回滚" in m.text, timeout=TIMEOUT)
    assert NEW_SECTION not in (await ask(server, user)).text
    assert await kb_version(server, admin) == "v1" and uploads(data_dir) == []

    sent = admin.send("/audit")
    log = await server.wait_for_message(admin.chat_id, lambda m: "管理操作" in m.text, after=sent, timeout=TIMEOUT)
    for line in ("张三（1101）· upload fission.md → refused: not an admin", "管理员（9001）· upload bad.md → refused",
                 "管理员（9001）· ingest fission.md → v1 -> v2", "管理员（9001）· rollback archived fission.md → v2 -> v1"):
        assert line in log.text, line
    assert SORRY not in "".join(m.text for m in server.all_messages())
    server.assert_no_errors()


async def answer(server: BotAPIServer, user, start: int, end: int) -> None:  # type: ignore[no-untyped-def]
    """Presses the not-ready option (gaps, so citations) on questions start..end-1; after the last, the report."""
    for n in range(start, end):
        message = await server.wait_for_message(user.chat_id, is_question(n), timeout=TIMEOUT)
        options = [b for b in message.flat_buttons if b.data.startswith("a1:")]
        query = user.press(message, callback_data=options[-1].data)
        reply = await server.wait_for_callback_answer(query, timeout=TIMEOUT)
        assert not reply.text, reply.text  # no "outdated" or error notice
    if end > 20:
        await server.wait_for_message(user.chat_id, lambda m: m.photo is not None, timeout=TIMEOUT)


async def test_an_ingest_while_20_users_are_mid_interview_gives_none_an_error(
        server: BotAPIServer, bot: BotProcess, data_dir: Path) -> None:
    admin = server.user(ADMIN, first_name="管理员")
    users = [server.user(1200 + i, first_name=f"用户{i}") for i in range(20)]
    for user in users:
        user.send("/diagnose")
    for user in users:
        message = await server.wait_for_message(user.chat_id, is_question(1), timeout=TIMEOUT)
        user.press(message, 0)
    for user in users:
        await server.wait_for_message(user.chat_id, is_question(2), timeout=TIMEOUT)

    # A re-ingest (a document an operator put into uploads/) builds v2 and switches while the users keep answering.
    (data_dir / "uploads").mkdir(exist_ok=True)
    (data_dir / "uploads" / "fission.md").write_bytes(NEW_DOC)
    reingest = admin.send("/reingest")
    await asyncio.gather(*(answer(server, user, 2, 10) for user in users))  # while it runs
    done = await server.wait_for_message(admin.chat_id, lambda m: "重新导入完成" in m.text, after=reingest,
                                         timeout=TIMEOUT)
    assert "v2" in done.text and "新增章节（2）" in done.text
    await asyncio.gather(*(answer(server, user, 10, 21) for user in users))  # and after the switch

    # Never two ingests at once: while another one holds the lock (here `python ingest.py`), /reingest is refused.
    with open(data_dir / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        sent = admin.send("/reingest")
        await server.wait_for_message(admin.chat_id, lambda m: "另一个导入正在进行" in m.text, after=sent,
                                      timeout=TIMEOUT)
        fcntl.flock(lock, fcntl.LOCK_UN)
    sent = admin.send("/reingest")
    await server.wait_for_message(admin.chat_id, lambda m: "内容没有变化：v2 仍是当前版本" in m.text, after=sent,
                                  timeout=TIMEOUT)

    for user in users:
        texts = [m.text for m in server.messages(user.chat_id)]
        assert not any(SORRY in t or "已失效" in t for t in texts), user
        assert any("诊断结论" in t for t in texts), user
    server.assert_no_errors()
    assert await bot.stop() == 0, bot.log()
    with sqlite3.connect(data_dir / "bot.sqlite") as conn:
        rows = conn.execute("SELECT data FROM events WHERE kind = 'interview_completed'").fetchall()
    versions = [json.loads(r[0])["kb_version"] for r in rows]
    assert versions == ["v2"] * 20  # begun on v1, finished after the switch: each report names what it cited


async def test_forget_leaves_nothing_of_the_user_in_the_databases(
        server: BotAPIServer, bot: BotProcess, data_dir: Path) -> None:
    user = server.user(1301, first_name="MARKER-name-1301")
    admin = server.user(ADMIN, first_name="管理员")
    other = server.user(1302, first_name="李四")
    for who in (user, other):
        sent = who.send("/diagnose")
        await server.wait_for_message(who.chat_id, is_question(1), after=sent, timeout=TIMEOUT)
    sent = user.send("还没有，完全没做 MARKER-answer-1301")  # free text: kept as typed
    reply = await server.wait_for_message(user.chat_id, lambda m: "第 2/20 题" in m.text or "没能确定" in m.text,
                                          after=sent, timeout=TIMEOUT)
    if "没能确定" in reply.text:  # asked once more: the text is in the checkpoint either way
        user.send("还没有，完全没做")
    await answer(server, user, 2, 21)
    sent = other.send("还没有，完全没做")
    await server.wait_for_message(other.chat_id, after=sent, timeout=TIMEOUT)
    sent = user.send("/stats")  # refused: recorded in the audit log
    await server.wait_for_message(user.chat_id, lambda m: "仅供管理员使用" in m.text, after=sent, timeout=TIMEOUT)
    sent = admin.send("/kb")
    await server.wait_for_message(admin.chat_id, after=sent, timeout=TIMEOUT)

    def rows() -> dict[str, int]:
        with sqlite3.connect(data_dir / "bot.sqlite") as db, sqlite3.connect(data_dir / "checkpoints.sqlite") as cp:
            return {
                "events": db.execute("SELECT count(*) FROM events WHERE user_id = ? OR chat_id = ?",
                                     (user.id, user.id)).fetchone()[0],
                "audit": db.execute("SELECT count(*) FROM audit WHERE user_id = ?", (user.id,)).fetchone()[0],
                "checkpoints": cp.execute("SELECT count(*) FROM checkpoints WHERE thread_id = ?",
                                          (f"chat:{user.id}",)).fetchone()[0],
                "writes": cp.execute("SELECT count(*) FROM writes WHERE thread_id = ?",
                                     (f"chat:{user.id}",)).fetchone()[0],
            }

    before = rows()
    assert before["events"] >= 2 and before["audit"] == 1 and before["checkpoints"] > 0

    sent = user.send("/forget")
    prompt = await server.wait_for_message(user.chat_id, lambda m: "确认删除我的数据" in m.button_texts, after=sent,
                                           timeout=TIMEOUT)
    user.press(prompt, "确认删除我的数据")
    await server.wait_for_message(user.chat_id, lambda m: "已删除你的全部数据" in m.text, timeout=TIMEOUT)
    assert rows() == {"events": 0, "audit": 0, "checkpoints": 0, "writes": 0}  # while the bot runs
    sent = user.send("/report")
    await server.wait_for_message(user.chat_id, lambda m: "还没有完成的诊断报告" in m.text, after=sent, timeout=TIMEOUT)

    assert await bot.stop() == 0, bot.log()
    assert rows() == {"events": 0, "audit": 0, "checkpoints": 0, "writes": 0}
    with sqlite3.connect(data_dir / "bot.sqlite") as db:
        assert db.execute("SELECT count(*) FROM audit WHERE user_id = ?", (ADMIN,)).fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM events WHERE user_id = ?", (other.id,)).fetchone()[0] == 1
    raw = b"".join(p.read_bytes() for p in data_dir.iterdir() if p.name.startswith(("bot.sqlite", "checkpoints")))
    assert b"MARKER-answer-1301" not in raw and b"MARKER-name-1301" not in raw
    server.assert_no_errors()

