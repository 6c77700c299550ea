"""Builders the composition roots (`python -m bot`, `ingest.py`) share: knowledge base, rubric, interview."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from bot.config import Settings
from bot.interview.rubric import Rubric, load_rubric
from bot.knowledge.embeddings import make_embeddings
from bot.knowledge.search import KnowledgeBase
from bot.knowledge.store import VersionStore, make_client

logger = logging.getLogger(__name__)


def build_store(settings: Settings) -> VersionStore:
    """The versioned Chroma store with lazily loaded embeddings."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    client = make_client(data_dir=settings.data_dir, chroma_url=settings.chroma_url)
    return VersionStore(client, make_embeddings(settings.embedding_backend, settings.embedding_model))


def ensure_knowledge(settings: Settings) -> None:
    """Builds the knowledge base from knowledge/ on first start, so a fresh clone works with one command."""
    from bot.knowledge.ingest import LOCK_FILE, Ingestor, collect_sources

    store = build_store(settings)
    if store.active_id() is not None:
        mismatch = store.model_mismatch()
        if mismatch:
            logger.warning("%s (run python ingest.py, or /reingest)", mismatch)
        return
    logger.info("first start: ingesting the guidance in %s", settings.knowledge_dir)
    print("首次启动：正在导入 knowledge/ 中的指导文章…", file=sys.stderr)
    rubric = build_rubric(settings) if rubric_path(settings).exists() else None
    result = Ingestor(store, lock_path=settings.data_dir / LOCK_FILE).ingest(
        collect_sources(settings.knowledge_dir, settings.uploads_dir),
        created_by="first-start",
        required_sections=rubric.cited_sections() if rubric else (),
    )
    print(f"知识库 {result.version.id if result.version else '?'} 已就绪（{result.chunks} 个片段）。", file=sys.stderr)


def build_knowledge(settings: Settings) -> KnowledgeBase:
    """The knowledge base the bot searches and cites from."""
    return KnowledgeBase(build_store(settings))


def rubric_path(settings: Settings) -> Path:
    """knowledge/rubric.yaml."""
    return settings.knowledge_dir / "rubric.yaml"


def build_rubric(settings: Settings) -> Rubric:
    """The validated rubric."""
    return load_rubric(rubric_path(settings))


@contextlib.asynccontextmanager
async def open_interview(settings: Settings, *, knowledge: KnowledgeBase, rubric: Rubric,
                         llm: object | None = None, on_event: object | None = None) -> AsyncIterator[object]:
    """An InterviewService on a SQLite checkpointer under DATA_DIR, closed on exit."""
    from bot.interview.graph import build_graph
    from bot.interview.reader import reader_for
    from bot.interview.service import InterviewService

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with open_checkpointer(settings.checkpoint_path) as checkpointer:
        graph = build_graph(rubric=rubric, checkpointer=checkpointer, citer=knowledge, llm=llm,
                            reader=reader_for(knowledge.store.embeddings))
        yield InterviewService(graph=graph, rubric=rubric, section_title=knowledge.section_title,
                               on_event=on_event)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def open_checkpointer(path: Path) -> AsyncIterator[object]:
    """The interview checkpointer on a SQLite file (see bot.interview.checkpoint)."""
    from bot.interview.checkpoint import open_saver

    gen = open_saver(path)
    saver = next(gen)
    try:
        yield saver
    finally:
        gen.close()


def interview_event_hook(events: object):  # type: ignore[no-untyped-def]
    """Turns InterviewService events of private chats ("chat:<id>") into usage events for /stats."""
    from bot.admin.events import INTERVIEW_COMPLETED, INTERVIEW_STARTED, EventLog, report_summary

    assert isinstance(events, EventLog)

    async def hook(kind: str, thread_id: str, data: dict[str, object]) -> None:
        if not thread_id.startswith("chat:"):
            return
        chat_id = int(thread_id.split(":", 1)[1])
        if kind == "started":
            await events.record(INTERVIEW_STARTED, user_id=chat_id, chat_id=chat_id)
        elif kind == "completed":
            await events.record(INTERVIEW_COMPLETED, user_id=chat_id, chat_id=chat_id,
                                data=report_summary(data["report"]))  # type: ignore[arg-type]

    return hook
