"""Builds the dispatcher and runs the bot: long polling, or a webhook when WEBHOOK_URL is set (each delivery answered
once its update was handled, and each update handled once across instances)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand, TelegramObject
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bot.config import Settings
from bot.report.reminders import Reminder
from bot.telegram.keyboards import start_keyboard
from bot.telegram.middlewares import (
    ApiMetrics,
    GroupPacer,
    LateCallbackAnswers,
    PinResponseTypes,
    RetryMiddleware,
    UpdateObserver,
)
from bot.telegram.render import REMINDER_TEXT
from bot.telegram.routers import admin, ask, common, errors, group, interview, privacy, reports

if TYPE_CHECKING:
    from bot.coordination import SharedSeenUpdates
    from bot.db import SeenUpdates
    from bot.scheduler import Job
    from bot.services import Services

logger = logging.getLogger(__name__)

# What the composition root hands the adapter: opens the services (and closes them on exit).
OpenServices = Callable[[], AbstractAsyncContextManager["Services"]]

COMMANDS = [
    ("start", "开始使用"), ("diagnose", "开始或继续准备度诊断"), ("back", "上一题"), ("skip", "跳过当前题"),
    ("restart", "重新开始诊断"), ("cancel", "暂停诊断"), ("report", "查看最近的报告"),
    ("export", "导出完整报告（PDF/Markdown/JSON）"), ("history", "历次诊断与对比"), ("reminders", "复诊提醒"),
    ("benchmark", "与其他用户对比：on / off"), ("ask", "向指导文章提问"), ("forget", "删除我的全部数据"),
    ("help", "帮助"),
]


def build_dispatcher(*, group_edit_interval: float = 5.0, **services: Any) -> Dispatcher:
    """The dispatcher with every router; services reach handlers by parameter name."""
    from bot.telegram.group_flow import GroupView

    dp = Dispatcher(group_view=GroupView(edit_interval=group_edit_interval), **services)
    dp.include_routers(group.make_router(), common.make_router(), admin.make_router(), privacy.make_router(),
                       reports.make_router(), interview.make_router(), ask.make_router(), errors.make_router())
    return dp


class ServicesGate(BaseMiddleware):
    """Hands the services to handlers once they are built; updates that arrive earlier wait for them.

    Polling starts before the knowledge base and the interview graph are opened (importing Chroma and
    LangGraph takes seconds), so the bot is reachable at once and no update is lost meanwhile.
    """

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.services: dict[str, Any] = {}

    def provide(self, **services: Any) -> None:
        """Publishes the services and releases waiting updates."""
        self.services.update(services)
        self.ready.set()

    async def __call__(self, handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
                      event: TelegramObject, data: dict[str, Any]) -> Any:
        """Injects the services into the handler data."""
        await self.ready.wait()
        data.update(self.services)
        return await handler(event, data)


def build_bot(settings: Settings, *, api_metrics: ApiMetrics | None = None, pacer: GroupPacer | None = None) -> Bot:
    """A Bot on the configured Bot API server, with the retry middleware, the group pacer, the error counter
    (`api_metrics`, which gets the metrics once the services are open), late callback answers let go and HTML parse
    mode."""
    assert settings.bot_token is not None  # checked by the caller
    api = TelegramAPIServer.from_base(settings.bot_api_base) if settings.bot_api_base else None
    session = AiohttpSession(api=api) if api else AiohttpSession()
    session.middleware(LateCallbackAnswers())
    # The pacer sits inside the retry loop's reach: every attempt, retries included, waits for a group slot.
    session.middleware(RetryMiddleware())
    session.middleware(pacer or GroupPacer(limit=settings.group_rate_limit, window=settings.group_rate_window))
    session.middleware(api_metrics or ApiMetrics())  # every attempt's error is counted
    session.middleware(PinResponseTypes())
    return Bot(settings.bot_token.get_secret_value(), session=session,
               default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True))


async def _warm_up(services: Services) -> None:
    """Loads jieba, the index and the embedding model, then embeds the reader's examples, in the background, after
    the bot is answering."""
    try:
        await asyncio.to_thread(services.knowledge.warm_up)  # tokenizer, index and (when dense is on) the model
        logger.info("knowledge base warmed up")
        await asyncio.to_thread(services.reader.warm_up, services.rubrics.current.questions)
        logger.info("answer reader warmed up")
    except Exception:  # noqa: BLE001 - warm-up is an optimisation; queries load on demand
        logger.exception("warm-up failed")


async def _open_services(settings: Settings, bot: Bot, dp: Dispatcher, gate: ServicesGate,
                         stack: contextlib.AsyncExitStack, open_services: OpenServices,
                         api_metrics: ApiMetrics, pacer: GroupPacer) -> None:
    """Opens the services the root hands over (off the start-up path), registers commands, starts the scheduler
    loop and warms up."""
    from aiogram.types import BotCommandScopeChat

    services = await stack.enter_async_context(open_services())
    stack.callback(services.reader.stop_warm_up)  # a stopping bot does not wait for the reader's warm-up
    api_metrics.metrics = services.metrics
    if settings.redis_url:  # every instance paces each group in the one window Redis keeps
        pacer.coordinator = services.coordinator
    gate.provide(**services.handler_data())
    logger.info("services ready")
    services.reminders.on_due(functools.partial(send_reminder, bot))
    _run_group_timers(bot, dp, services)
    scheduler = asyncio.create_task(services.scheduler.run_forever())
    stack.push_async_callback(_cancel, scheduler)
    await bot.set_my_commands([BotCommand(command=c, description=d) for c, d in COMMANDS])
    for admin_id in sorted(settings.admin_ids):
        try:  # Telegram refuses a chat scope for a user who has not started the bot yet
            await bot.set_my_commands([BotCommand(command=c, description=d)
                                       for c, d in COMMANDS + admin.ADMIN_COMMANDS],
                                      scope=BotCommandScopeChat(chat_id=admin_id))
        except Exception as e:  # noqa: BLE001 - the commands still work; only the menu lacks them
            logger.warning("could not set the admin command menu for %s: %s", admin_id, e)
    await _warm_up(services)


def _run_group_timers(bot: Bot, dp: Dispatcher, services: Services) -> None:
    """Group questions close from scheduler rows too: a grace period for late joiners, a time box."""
    from bot.group.service import CLOSE_JOB, DEADLINE_JOB
    from bot.telegram.routers.group import deep_link

    async def due(job: Job) -> None:
        await dp["group_view"].on_due(bot, services.groups, job, services.interview.section_label,
                                      functools.partial(deep_link, bot))

    for kind in (CLOSE_JOB, DEADLINE_JOB):
        services.scheduler.register(kind, due)


async def send_reminder(bot: Bot, reminder: Reminder) -> None:
    """Sends a due re-diagnosis reminder (a user who blocked the bot is skipped, not retried)."""
    from aiogram.exceptions import TelegramForbiddenError

    try:
        await bot.send_message(reminder.user_id, REMINDER_TEXT.format(days=reminder.days),
                               reply_markup=start_keyboard())
    except TelegramForbiddenError:
        logger.info("a reminder was not delivered: the user blocked the bot")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_telegram(settings: Settings, open_services: OpenServices) -> int:
    """Runs the bot until SIGINT/SIGTERM on the services `open_services()` opens (the root's: this package builds
    none); closes them and the session on the way out."""
    api_metrics = ApiMetrics()
    pacer = GroupPacer(limit=settings.group_rate_limit, window=settings.group_rate_window)
    bot = build_bot(settings, api_metrics=api_metrics, pacer=pacer)
    gate = ServicesGate()
    dp = build_dispatcher(group_edit_interval=settings.group_edit_interval)
    dp.update.outer_middleware(gate)
    dp.update.outer_middleware(UpdateObserver())
    async with contextlib.AsyncExitStack() as stack:
        opening = asyncio.create_task(_open_services(settings, bot, dp, gate, stack, open_services, api_metrics,
                                                      pacer))
        opening.add_done_callback(_report_failure)
        try:
            if settings.webhook_url:
                await _serve_webhook(dp, bot, settings, gate)
            else:
                await bot.delete_webhook(drop_pending_updates=False)
                logger.info("polling %s", settings.bot_api_base or "api.telegram.org")
                await dp.start_polling(bot, handle_signals=True, close_bot_session=True)
        finally:
            opening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await opening
            await bot.session.close()
    return 0


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("start-up failed: %r", task.exception(), exc_info=task.exception())


def ops_routes(app: web.Application, gate: ServicesGate) -> None:
    """`/healthz` (the process answers), `/readyz` (database, checkpointer and Chroma reachable: 200, else 503 with
    what failed) and `/metrics` (Prometheus) on the webhook server."""
    from bot.ops import CONTENT_TYPE

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        readiness = gate.services.get("readiness")
        if readiness is None:
            return web.json_response({"ready": False, "checks": [], "detail": "starting"}, status=503)
        checks = await readiness.run()
        ready = all(c.ok for c in checks)
        return web.json_response({"ready": ready, "checks": [
            {"name": c.name, "ok": c.ok, "detail": c.detail, "seconds": round(c.seconds, 4)} for c in checks]},
            status=200 if ready else 503)

    async def metrics(_: web.Request) -> web.Response:
        registry = gate.services.get("metrics")
        if registry is None:
            return web.Response(status=503, text="starting")
        return web.Response(body=registry.exposition(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


class WebhookHandler(SimpleRequestHandler):
    """The webhook: a delivery is answered once its update was handled, and each update is handled once.

    Telegram delivers an update again, to any instance behind the webhook URL, when a delivery got no 2xx answer
    (the instance died, the connection dropped), so the 200 comes only after the handler finished — a handler error
    included (the error router told the user; an update that always fails must not come back forever). Each
    delivery first claims its update id (`seen_updates`, with a lease): one of an update handled before is answered
    200 and dropped; one that another delivery is handling is answered 429 with Retry-After, so Telegram tries again
    later; one whose claim lapsed (its instance died) is handled. The secret header is checked first (401).
    """

    BUSY_RETRY_AFTER = 5  # seconds at most before Telegram asks again about an update another delivery handles

    def __init__(self, *, dispatcher: Dispatcher, bot: Bot, gate: ServicesGate, secret_token: str | None) -> None:
        super().__init__(dispatcher=dispatcher, bot=bot, handle_in_background=False, secret_token=secret_token)
        self.gate = gate
        self._releasing: set[asyncio.Future[None]] = set()  # claims given up by handlers a shutdown cancelled

    def register(self, app: web.Application, /, path: str, **kwargs: Any) -> None:
        """The route, and a clean-up that waits for the claims cancelled handlers give up (the database closes
        after the server, so the next delivery need not wait for their leases)."""
        super().register(app, path=path, **kwargs)
        app.on_cleanup.append(self._finish_releases)

    async def _finish_releases(self, app: web.Application) -> None:
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        """Claims the update, handles it (aiogram's answer after handling), marks it done; or drops or defers it."""
        raw = await request.json(loads=bot.session.json_loads)
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if not isinstance(update_id, int):
            return await super()._handle_request(bot, request)  # not an update: aiogram refuses it
        await self.gate.ready.wait()  # the claims live in the services, opened after the server starts
        seen: SeenUpdates | SharedSeenUpdates = self.gate.services["seen_updates"]
        claim = await seen.claim(update_id)
        if claim.status == "done":
            logger.info("update %s delivered again: handled once", update_id)
            if (metrics := self.gate.services.get("metrics")) is not None:
                metrics.duplicates.inc()
            return web.json_response({})
        if claim.status == "busy":
            wait = max(1, min(self.BUSY_RETRY_AFTER, math.ceil(claim.retry_after)))
            logger.info("update %s delivered again while another delivery handles it: asked to retry in %d s",
                        update_id, wait)
            return web.json_response(
                {"ok": False, "error_code": 429, "description": f"update {update_id} is being handled",
                 "parameters": {"retry_after": wait}}, status=429, headers={"Retry-After": str(wait)})
        try:
            response = await super()._handle_request(bot, request)
        except asyncio.CancelledError:
            # Stopped in a live process (shutdown): the next delivery need not wait for the lease to lapse. The
            # release runs on its own (this task is being cancelled) and the server's clean-up waits for it.
            release = asyncio.ensure_future(seen.release(claim))
            self._releasing.add(release)
            release.add_done_callback(self._releasing.discard)
            raise
        except Exception:  # noqa: BLE001 - an error the error router let through: acknowledged all the same
            logger.warning("update %s failed outside the error router: acknowledged, not retried", update_id)
            await seen.done(claim)
            return web.json_response({})
        await seen.done(claim)
        return response


def webhook_app(dp: Dispatcher, bot: Bot, gate: ServicesGate, *, path: str, secret: str | None) -> web.Application:
    """The webhook server's application: the webhook at `path` (`WebhookHandler`) and the operations endpoints."""
    app = web.Application()
    WebhookHandler(dispatcher=dp, bot=bot, gate=gate, secret_token=secret).register(app, path=path)
    ops_routes(app, gate)
    setup_application(app, dp, bot=bot)
    return app


async def _serve_webhook(dp: Dispatcher, bot: Bot, settings: Settings, gate: ServicesGate) -> None:
    """Serves the webhook (and the operations endpoints) with aiohttp until SIGTERM/SIGINT."""
    import signal
    from urllib.parse import urlparse

    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    path = urlparse(settings.webhook_url or "").path or "/webhook"
    runner = web.AppRunner(webhook_app(dp, bot, gate, path=path, secret=secret))
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
    await site.start()
    await bot.set_webhook(settings.webhook_url or "", secret_token=secret)
    logger.info("webhook on %s:%s%s", settings.webhook_host, settings.webhook_port, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
