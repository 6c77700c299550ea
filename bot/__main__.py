"""Composition root: `python -m bot [run|chat|search]`.

* `python -m bot` — the Telegram bot when BOT_TOKEN is set (long polling, or a webhook with WEBHOOK_URL),
  otherwise the terminal chat;
* `python -m bot chat` — the terminal chat;
* `python -m bot search "问题" [--k 3] [--json]` — ranked passages from the guidance.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import os
import sys
from collections.abc import Sequence

from bot.config import Settings, load_settings
from bot.errors import BotError

logger = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="私域启动准备度诊断机器人")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the Telegram bot (needs BOT_TOKEN)")
    sub.add_parser("chat", help="run the interview in the terminal")
    search = sub.add_parser("search", help="search the guidance")
    search.add_argument("query")
    search.add_argument("--k", type=int, default=3)
    search.add_argument("--json", action="store_true")
    return parser


def _search(settings: Settings, query: str, k: int, as_json: bool) -> int:
    # A single search needs the store and the index only: no database, no checkpointer, no LangGraph.
    from bot.services import build_knowledge_base, build_store

    kb = build_knowledge_base(settings, build_store(settings))
    if kb.active_version() is None:
        print("知识库为空：请先运行 python ingest.py", file=sys.stderr)
        return 2
    hits = kb.search(query, k=max(1, k))
    if as_json:
        print(json.dumps([h.to_json() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("指导文章中没有涉及这个问题。")
        return 0
    for i, h in enumerate(hits, 1):
        print(f"{i}. [{h.section}] {h.title} — {h.doc} (score {h.score:.3f})")
        print(f"   {h.text}")
    return 0


async def _chat(settings: Settings) -> int:
    from bot.services import open_services
    from bot.terminal import run_terminal

    async with open_services(settings) as services:
        # While the first question is read: the reader's examples are embedded (question by question, in order).
        warm = asyncio.create_task(asyncio.to_thread(services.reader.warm_up, services.rubrics.current.questions))
        warm.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            return await run_terminal(services.interview, reports_dir=settings.reports_dir,
                                      knowledge=services.knowledge, llm=services.llm)
        finally:
            services.reader.stop_warm_up()  # a short piped run does not wait for the rest


async def _telegram(settings: Settings) -> int:
    import functools

    from bot.services import open_services
    from bot.telegram.app import run_telegram

    return await run_telegram(settings, functools.partial(open_services, settings))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = _parser().parse_args(argv)
    settings = load_settings(prefix="配置错误: ")
    if settings is None:
        return errno.EINVAL
    command = args.command or ("run" if settings.bot_token else "chat")
    # The terminal chat is for people: only warnings on stderr unless LOG_LEVEL asks for more.
    level = settings.log_level if command != "chat" or "LOG_LEVEL" in os.environ else "WARNING"
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if settings.log_format == "json":
        from bot.ops import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    for noisy in ("httpx", "chromadb", "sentence_transformers", "aiogram.event", "fontTools", "fpdf"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if args.command == "search":
            return _search(settings, args.query, args.k, args.json)
        if command == "run" and not settings.bot_token:
            print("BOT_TOKEN 未设置：无法启动 Telegram 机器人（不带参数运行将进入终端对话）。", file=sys.stderr)
            return errno.EINVAL
        if command == "chat":
            if args.command is None:
                print("未设置 BOT_TOKEN，启动终端对话模式。", file=sys.stderr)
            return asyncio.run(_chat(settings))
        return asyncio.run(_telegram(settings))
    except BotError as e:
        print(f"错误: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
