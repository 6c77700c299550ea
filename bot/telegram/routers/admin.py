"""Admin commands in a private chat: /kb, guidance uploads, /reingest, /rollback, /rubric, /stats, /audit.

Admins are the user ids in ADMIN_IDS. Anyone else gets a polite refusal, and the attempt is written to the audit
log; so is every admin action, with its result. The work happens in `bot.admin`; handlers parse and render.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.dispatcher.flags import get_flag
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from bot.admin.audit import AuditLog
from bot.admin.events import EventLog
from bot.admin.guidance import GuidanceService, upload_name
from bot.admin.rubric import reload_rubric
from bot.admin.stats import usage_stats
from bot.config import Settings
from bot.errors import GuidanceError, IngestBusyError, RubricError
from bot.interview.rubric import RubricHolder
from bot.knowledge.documents import MAX_DOCUMENT_BYTES
from bot.llm import ChatModel
from bot.telegram import render_admin as r
from bot.telegram.callbacks import AdminAct, AdminCb
from bot.telegram.flow import safe_edit
from bot.telegram.keyboards import rollback_keyboard, upload_keyboard
from bot.telegram.render import esc, split_message

logger = logging.getLogger(__name__)

T = TypeVar("T")
ADMIN_COMMANDS = [
    ("kb", "知识库版本与状态"), ("reingest", "从 knowledge/ 与上传文件重新导入"), ("rollback", "回滚到上一个版本"),
    ("rubric", "校验并重新加载 rubric.yaml"), ("stats", "使用统计（7 天 / 30 天）"), ("audit", "最近 20 条管理操作"),
    ("ingest", "如何上传指导文档"), ("llm", "聊天模型的配置与连通性测试"),
]
PROGRESS_EVERY = 3.0  # seconds between progress edits of a long ingest
AUDIT_ROWS = 20


def who(user: User | None) -> tuple[int, str]:
    """(id, display name) of the acting user."""
    if user is None:
        return 0, ""
    name = user.full_name + (f" @{user.username}" if user.username else "")
    return user.id, name


def created_by(user: User | None) -> str:
    """How a version records the admin who made it."""
    uid, name = who(user)
    return f"{name} (tg:{uid})"


class AdminOnly(BaseMiddleware):
    """Lets admins through; refuses everyone else politely and writes the attempt to the audit log."""

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                       event: TelegramObject, data: dict[str, Any]) -> Any:
        """Runs the handler for admins only."""
        settings: Settings | None = data.get("settings")
        user = getattr(event, "from_user", None)
        if user is not None and settings is not None and user.id in settings.admin_ids:
            return await handler(event, data)
        action = get_flag(data, "admin_action") or "admin"
        uid, name = who(user)
        detail = ""
        if isinstance(event, Message):
            detail = (event.document.file_name or "") if event.document else (event.text or "")[:100]
        audit: AuditLog | None = data.get("audit")
        if audit is not None:
            await audit.refused(user_id=uid, user_name=name, action=action, detail=detail)
        logger.info("refused %s for a non-admin", action)  # who it was is in the audit log (and /forget-able)
        text = r.NOT_ADMIN_UPLOAD if action == "upload" else r.NOT_ADMIN
        if isinstance(event, CallbackQuery):
            await event.answer(r.NOT_ADMIN, show_alert=True)
        elif isinstance(event, Message):
            await event.answer(text)
        return None


async def _reply(message: Message, html: str, **kwargs: Any) -> Message:
    parts = split_message(html)
    for part in parts[:-1]:
        await message.answer(part)
    return await message.answer(parts[-1], **kwargs)


class _Progress:
    """The latest (done, total) of an ingest, written from the worker thread."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total


async def _with_progress(status: Message, label: str, progress: _Progress,
                         work: Coroutine[Any, Any, T]) -> T:
    """Awaits `work`, editing `status` with the embedding progress while it takes long."""
    task = asyncio.ensure_future(work)
    shown = ""
    while True:
        done, _ = await asyncio.wait({task}, timeout=PROGRESS_EVERY)
        if done:
            return task.result()
        if progress.total:
            text = f"⏳ {label}… 已处理 {progress.done}/{progress.total} 个片段"
            if text != shown and await safe_edit(status, text, None):
                shown = text


# ---------------------------------------------------------------------------- /kb, /stats, /audit


async def kb_command(message: Message, guidance: GuidanceService, audit: AuditLog) -> None:
    """The active version and the last three versions."""
    status = await guidance.status()
    await _reply(message, r.kb_html(status))
    uid, name = who(message.from_user)
    await audit.record(user_id=uid, user_name=name, action="kb",
                       result=f"active {status.active.id}" if status.active else "no version")


async def stats_command(message: Message, events: EventLog, audit: AuditLog) -> None:
    """Usage over the last 7 and 30 days."""
    periods = await usage_stats(events.conn)
    await _reply(message, r.stats_html(periods))
    uid, name = who(message.from_user)
    await audit.record(user_id=uid, user_name=name, action="stats", result="shown")


async def audit_command(message: Message, audit: AuditLog) -> None:
    """The last 20 admin actions."""
    entries = await audit.last(AUDIT_ROWS)
    await _reply(message, r.audit_html(entries))
    uid, name = who(message.from_user)
    await audit.record(user_id=uid, user_name=name, action="audit", result=f"{len(entries)} rows shown")


# ---------------------------------------------------------------------------- uploads


async def document_received(message: Message, bot: Bot, guidance: GuidanceService, audit: AuditLog) -> None:
    """A guidance document: validated and previewed (confirm button), or ingested at once with caption /ingest."""
    doc = message.document
    assert doc is not None  # the filter
    uid, name = who(message.from_user)
    filename = doc.file_name or "document"
    at_once = (message.caption or "").strip().split("@")[0].split(" ")[0] == "/ingest"
    status: Message | None = None

    async def tell(text: str) -> None:  # the "importing…" message becomes the outcome, or a new reply
        if status is None or not await safe_edit(status, text, None):
            await message.answer(text)

    try:
        if doc.file_size is not None and doc.file_size > MAX_DOCUMENT_BYTES:
            raise GuidanceError(f"file is larger than 2 MB ({doc.file_size / 1024 / 1024:.1f} MB)", path=filename)
        upload_name(filename)  # refuse other file types before downloading
        data = (await bot.download(doc.file_id)).read()  # type: ignore[union-attr]
        if not at_once:
            prepared = await guidance.prepare(filename, data, owner=uid)
            await _reply(message, r.prepared_html(prepared),
                         reply_markup=None if prepared.unchanged else upload_keyboard(prepared.token))
            await audit.record(user_id=uid, user_name=name, action="upload", detail=prepared.filename,
                               result="validated; waiting for confirmation")
            return
        status = await message.answer(f"⏳ 正在导入 {esc(filename)}…")
        progress = _Progress()
        started = time.monotonic()
        committed = await _with_progress(status, "正在导入", progress, guidance.upload(
            filename, data, owner=uid, created_by=created_by(message.from_user), progress=progress))
    except IngestBusyError:
        await tell(r.BUSY)
        await audit.record(user_id=uid, user_name=name, action="upload", detail=filename, result="busy", ok=False)
        return
    except GuidanceError as e:
        await tell(r.refused_html(e.reason, filename))
        await audit.record(user_id=uid, user_name=name, action="upload", detail=filename,
                           result=f"refused: {e.reason}", ok=False)
        return
    parts = split_message(r.committed_html(committed, time.monotonic() - started))
    await tell(parts[0])
    for part in parts[1:]:
        await message.answer(part)
    await audit.record(user_id=uid, user_name=name, action="ingest", detail=committed.filename,
                       result=_result_text(committed.result.status, committed.before, committed.result))


def _result_text(status: str, before: str | None, result: Any) -> str:
    if status == "unchanged":
        return f"unchanged ({before})"
    d = result.diff
    return (f"{before} -> {result.version.id}: +{len(d.sections_added)} ~{len(d.sections_changed)} "
            f"-{len(d.sections_removed)} sections")


async def ingest_command(message: Message) -> None:
    """/ingest without a file: how to upload."""
    await message.answer("请发送 .md 或 .txt 指导文档（UTF-8，≤ 2 MB，含 # 标题），附言写 /ingest 可直接导入；"
                         "不写附言则先校验并预览变化，再点按钮确认。")


async def _confirmed(query: CallbackQuery, cancelled: bool, cancelled_text: str) -> Message | None:
    """The confirmation's message when the admin confirmed; None when the button is stale or was 取消 (answered)."""
    message = query.message
    if not isinstance(message, Message):
        await query.answer("这个按钮已失效。", show_alert=True)
        return None
    if cancelled:
        await query.answer("已取消")
        await safe_edit(message, cancelled_text, None)
        return None
    return message


async def upload_button(query: CallbackQuery, callback_data: AdminCb, guidance: GuidanceService,
                        audit: AuditLog) -> None:
    """导入为新版本 / 取消 under a validated upload."""
    uid, name = who(query.from_user)
    filename = await guidance.pending_name(callback_data.arg, owner=uid) or "?"
    dropped = callback_data.act is AdminAct.DROP_UPLOAD
    if dropped and isinstance(query.message, Message):
        await guidance.discard(callback_data.arg, owner=uid)
    message = await _confirmed(query, dropped, f"已取消导入 {esc(filename)}。")
    if message is None:
        return
    await query.answer("开始导入…")
    await safe_edit(message, f"⏳ 正在导入 {esc(filename)}…", None)
    progress = _Progress()
    started = time.monotonic()
    try:
        committed = await _with_progress(message, "正在导入", progress, guidance.commit(
            callback_data.arg, owner=uid, created_by=created_by(query.from_user), progress=progress))
    except IngestBusyError:
        await safe_edit(message, r.BUSY, upload_keyboard(callback_data.arg))
        await audit.record(user_id=uid, user_name=name, action="ingest", detail=filename, result="busy", ok=False)
        return
    except GuidanceError as e:
        await safe_edit(message, r.refused_html(e.reason, filename), None)
        await audit.record(user_id=uid, user_name=name, action="ingest", detail=filename,
                           result=f"refused: {e.reason}", ok=False)
        return
    parts = split_message(r.committed_html(committed, time.monotonic() - started))
    await safe_edit(message, parts[0], None)
    for part in parts[1:]:
        await message.answer(part)
    await audit.record(user_id=uid, user_name=name, action="ingest", detail=committed.filename,
                       result=_result_text(committed.result.status, committed.before, committed.result))


# ---------------------------------------------------------------------------- /reingest, /rollback, /rubric


async def reingest_command(message: Message, guidance: GuidanceService, audit: AuditLog) -> None:
    """Rebuilds from knowledge/ plus the uploads."""
    uid, name = who(message.from_user)
    if guidance.busy:
        await message.answer(r.BUSY)
        await audit.record(user_id=uid, user_name=name, action="reingest", result="busy", ok=False)
        return
    status = await message.answer("⏳ 正在从 knowledge/ 和 uploads/ 重新导入…")
    progress = _Progress()
    started = time.monotonic()
    try:
        before, result = await _with_progress(status, "正在重新导入", progress, guidance.reingest(
            created_by=created_by(message.from_user), progress=progress))
    except IngestBusyError:
        await safe_edit(status, r.BUSY, None)
        await audit.record(user_id=uid, user_name=name, action="reingest", result="busy", ok=False)
        return
    except (GuidanceError, RubricError) as e:
        reason = e.reason if isinstance(e, GuidanceError) else "; ".join(e.problems)
        await safe_edit(status, r.refused_html(reason, getattr(e, "path", None)), None)
        await audit.record(user_id=uid, user_name=name, action="reingest", result=f"refused: {reason}", ok=False)
        return
    parts = split_message(r.ingest_html(result, before, time.monotonic() - started, what="重新导入"))
    await safe_edit(status, parts[0], None)
    for part in parts[1:]:
        await message.answer(part)
    await audit.record(user_id=uid, user_name=name, action="reingest",
                       result=_result_text(result.status, before, result))


async def rollback_command(message: Message, guidance: GuidanceService, audit: AuditLog) -> None:
    """Shows what a rollback would activate, with a confirm button."""
    try:
        active, target = await guidance.rollback_target()
    except GuidanceError as e:
        uid, name = who(message.from_user)
        await message.answer(f"无法回滚：{esc(e.reason)}")
        await audit.record(user_id=uid, user_name=name, action="rollback", result=f"refused: {e.reason}", ok=False)
        return
    await message.answer(r.rollback_prompt_html(active, target), reply_markup=rollback_keyboard(target.id))


async def rollback_button(query: CallbackQuery, callback_data: AdminCb, guidance: GuidanceService,
                          audit: AuditLog) -> None:
    """确认回滚 / 取消."""
    uid, name = who(query.from_user)
    message = await _confirmed(query, callback_data.act is AdminAct.KEEP_VERSION, "已取消回滚，当前版本不变。")
    if message is None:
        return
    await query.answer("正在回滚…")
    try:
        done = await guidance.rollback(expected=callback_data.arg, created_by=created_by(query.from_user))
    except IngestBusyError:
        await safe_edit(message, r.BUSY, rollback_keyboard(callback_data.arg))
        await audit.record(user_id=uid, user_name=name, action="rollback", result="busy", ok=False)
        return
    except GuidanceError as e:
        await safe_edit(message, f"无法回滚：{esc(e.reason)}", None)
        await audit.record(user_id=uid, user_name=name, action="rollback", result=f"refused: {e.reason}", ok=False)
        return
    await safe_edit(message, r.rolled_back_html(done), None)
    detail = ", ".join(f"archived {n}" for n in done.archived)
    await audit.record(user_id=uid, user_name=name, action="rollback", detail=detail,
                       result=f"{done.before} -> {done.after.id}")


async def rubric_command(message: Message, rubrics: RubricHolder, knowledge: Any, settings: Settings,
                         audit: AuditLog) -> None:
    """Validates knowledge/rubric.yaml and puts it in force."""
    uid, name = who(message.from_user)
    try:
        change = await reload_rubric(settings.rubric_path, rubrics=rubrics, knowledge=knowledge)
    except RubricError as e:
        await _reply(message, r.rubric_refused_html(e.problems))
        await audit.record(user_id=uid, user_name=name, action="rubric",
                           result=f"refused: {'; '.join(e.problems)}", ok=False)
        return
    await _reply(message, r.rubric_html(change))
    await audit.record(user_id=uid, user_name=name, action="rubric",
                       result=f"{change.questions} questions (+{len(change.added)} -{len(change.removed)} "
                              f"~{len(change.reworded)})")


async def llm_command(message: Message, audit: AuditLog, llm: ChatModel | None = None) -> None:
    """The configured chat model and endpoint (never the key), and one test prompt's reply time or exact error."""
    uid, name = who(message.from_user)
    if llm is None:
        await _reply(message, r.llm_html(None))
        await audit.record(user_id=uid, user_name=name, action="llm", result="no model configured")
        return
    status = await llm.probe()
    await _reply(message, r.llm_html(status))
    await audit.record(user_id=uid, user_name=name, action="llm", detail=status.model,
                       result=f"ok {status.seconds:.1f} s" if status.ok else f"failed: {status.detail}", ok=status.ok)


def make_router() -> Router:
    """A fresh router with this flow's handlers (one per dispatcher)."""
    router = Router(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    gate = AdminOnly()
    router.message.middleware(gate)
    router.callback_query.middleware(gate)

    def command(handler: Callable[..., Any], name: str) -> None:
        router.message.register(handler, Command(name), flags={"admin_action": name})

    # First: a document's caption (/ingest) would otherwise match the command filters.
    router.message.register(document_received, F.document, flags={"admin_action": "upload"})
    command(kb_command, "kb")
    command(reingest_command, "reingest")
    command(rollback_command, "rollback")
    command(rubric_command, "rubric")
    command(stats_command, "stats")
    command(llm_command, "llm")
    command(audit_command, "audit")
    command(ingest_command, "ingest")
    router.callback_query.register(upload_button, AdminCb.filter(F.act.in_({"up", "upx"})),
                                   flags={"admin_action": "ingest"})
    router.callback_query.register(rollback_button, AdminCb.filter(F.act.in_({"rb", "rbx"})),
                                   flags={"admin_action": "rollback"})
    return router
