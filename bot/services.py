"""The composition root: `open_services(settings)` builds every service once, wires the seams, and closes them.

The Telegram bot, the terminal chat, `ingest.py`, the benchmarks and the tests all open the same `Services`;
nothing else builds a service. The wiring, in one picture:

```
Settings ─┬─ VersionStore(Chroma, embeddings) ── KnowledgeBase ──────────── (Citer, section titles)
          ├─ RubricHolder ─ subscribers: InterviewService (rebuilds its graph), GroupService (reads `current`)
          ├─ checkpointer ── graph(rubric) ── InterviewService ── EventSink ─┐ ── ReportArchive ─┐
          └─ bot.sqlite ─┬─ EventLog (the EventSink) ◀─ GroupService ───────┘                    │
                         ├─ DiagnosisHistory (the ReportArchive: history, comparison, benchmark) ◀┘
                         ├─ AuditLog, QuestionMessages, Scheduler ── Reminders (re-diagnosis)
                         └─ ForgetService(interview, events, groups, audit, question messages, scheduler,
                                          history)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.admin.audit import AuditLog
from bot.admin.events import EventLog
from bot.admin.forget import ForgetService
from bot.admin.guidance import GuidanceService, StoredPendingUploads
from bot.config import Settings, offline_guards
from bot.coordination import Coordinator, LocalCoordinator, RedisCoordinator, SharedSeenUpdates
from bot.db import Database, QuestionMessages, SeenUpdates, is_postgres_url, open_db
from bot.errors import BotError
from bot.group.service import GroupService
from bot.interview.rubric import Rubric, RubricHolder, load_rubric
from bot.interview.service import InterviewService
from bot.knowledge.embeddings import make_embeddings
from bot.knowledge.ingest import INGEST_LOCK, LOCK_FILE, Ingestor, collect_sources
from bot.knowledge.questions import QuestionBank
from bot.knowledge.search import KnowledgeBase
from bot.knowledge.store import VersionStore, make_client
from bot.llm import ChatModel, build_chat_model
from bot.ops import Metrics, Readiness, TeeSink
from bot.report.history import DiagnosisHistory
from bot.report.reminders import Reminders
from bot.scheduler import Scheduler

if TYPE_CHECKING:
    from bot.interview.reader import AnswerReader

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """Every service of a running bot, built once by `open_services`; handlers receive them by these names."""

    settings: Settings
    knowledge: KnowledgeBase
    rubrics: RubricHolder
    interview: InterviewService
    db: Database
    events: EventLog
    groups: GroupService
    audit: AuditLog
    guidance: GuidanceService
    privacy: ForgetService
    question_messages: QuestionMessages
    scheduler: Scheduler
    history: DiagnosisHistory
    reminders: Reminders
    metrics: Metrics
    readiness: Readiness
    coordinator: Coordinator
    seen_updates: SeenUpdates | SharedSeenUpdates
    llm: ChatModel | None  # the optional chat model (LLM_MODEL); None: the deterministic path only
    reader: AnswerReader  # reads free-text answers (warmed up in the background)

    def handler_data(self) -> dict[str, Any]:
        """The services by name, for the dispatcher's handler data."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def build_coordinator(settings: Settings) -> Coordinator:
    """What instances share: in Redis with REDIS_URL, else in this process."""
    return RedisCoordinator.from_url(settings.redis_url) if settings.redis_url else LocalCoordinator()


def build_store(settings: Settings) -> VersionStore:
    """The versioned Chroma store with the configured (lazily loaded) embedding model."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    client = make_client(data_dir=settings.data_dir, chroma_url=settings.chroma_url)
    return VersionStore(client, make_embeddings(settings.embedding_backend, settings.embedding_model))


def build_knowledge_base(settings: Settings, store: VersionStore) -> KnowledgeBase:
    """Search over the store's active version, with the labelled questions of KNOWLEDGE_DIR/questions (and their
    vectors, KNOWLEDGE_DIR/question_vectors.npz) and the gate and ranker fitted on them (KNOWLEDGE_DIR/search_model.yaml;
    without the file, the hand-set rules and the fused order)."""
    from bot.knowledge.embeddings import TextVectors
    from bot.knowledge.ranking import SearchModel

    path = settings.search_model_path
    model = SearchModel.load(path) if path.exists() else None
    # The labelled questions' vectors serve the fitted model only (fitted for one embedding model).
    vectors = (TextVectors(store.embeddings, settings.question_vectors_cache_path,  # type: ignore[arg-type]
                           seed=settings.question_vectors_path)
               if model is not None and model.model_id == store.model_id else None)
    return KnowledgeBase(store, questions=QuestionBank.load(settings.questions_dir), model=model,
                         question_vectors=vectors)


def build_reader(settings: Settings, embeddings: object) -> AnswerReader:
    """The free-text reader: the embedding model's voice (e5), the labelled answers of KNOWLEDGE_DIR/answers, the
    decision fitted on them (KNOWLEDGE_DIR/reader_model.yaml; without the file, the hand-set agreement rules), and
    the examples' vectors kept in DATA_DIR for the next start."""
    from bot.interview.answers import AnswerBank
    from bot.interview.calibration import ReaderModel
    from bot.interview.reader import reader_for

    path = settings.reader_model_path
    model = ReaderModel.load(path) if path.exists() else None
    return reader_for(embeddings, AnswerBank.load(settings.answers_dir), vectors_path=settings.reader_vectors_path,
                      model=model)


def warm_reader(settings: Settings) -> None:
    """Embeds the reader's examples into DATA_DIR now (a bot started afterwards finds them, as after a restart)."""
    rubric = load_rubric_if_present(settings)
    if rubric is not None:
        reader = build_reader(settings, make_embeddings(settings.embedding_backend, settings.embedding_model))
        reader.warm_up(rubric.questions)


def ensure_knowledge(settings: Settings, store: VersionStore, rubric: Rubric | None) -> None:
    """Builds the knowledge base from knowledge/ on first start (so a fresh clone works with one command); says in
    one line when the active version was embedded by another model."""
    if store.active_id() is not None:
        mismatch = store.model_mismatch()
        if mismatch:
            logger.warning("%s (run python ingest.py, or /reingest)", mismatch)
        return
    logger.info("first start: ingesting the guidance in %s", settings.knowledge_dir)
    print("首次启动：正在导入 knowledge/ 中的指导文章…", file=sys.stderr)
    result = Ingestor(store, lock_path=settings.data_dir / LOCK_FILE).ingest(
        collect_sources(settings.knowledge_dir, settings.uploads_dir),
        created_by="first-start",
        required_sections=rubric.cited_sections() if rubric else (),
    )
    print(f"知识库 {result.version.id if result.version else '?'} 已就绪（{result.chunks} 个片段）。", file=sys.stderr)


def load_rubric_if_present(settings: Settings) -> Rubric | None:
    """The validated rubric of KNOWLEDGE_DIR (None when the folder has none, as in a bare guidance folder)."""
    return load_rubric(settings.rubric_path) if settings.rubric_path.exists() else None


@contextlib.asynccontextmanager
async def open_checkpointer(target: Path | str) -> AsyncIterator[Any]:
    """The interview checkpointer, closed on exit: LangGraph's Postgres saver for a postgresql:// URL
    (DATABASE_URL), else its SQLite saver on that file (see bot.interview.checkpoint)."""
    if is_postgres_url(target):
        from bot.postgres import open_postgres_saver

        async with open_postgres_saver(str(target)) as saver:
            yield saver
        return
    from bot.interview.checkpoint import open_saver

    with contextlib.contextmanager(open_saver)(Path(target)) as saver:
        yield saver


async def _ping_saver(saver: Any) -> None:
    """One query on the checkpointer's connection, under its lock (it is shared with the saver's own calls)."""
    from bot.interview.checkpoint import InlineSqliteSaver

    if not isinstance(saver, InlineSqliteSaver):
        from bot.postgres import ping_saver

        await ping_saver(saver)
        return

    def ping() -> None:
        with saver.lock:
            saver.conn.execute("SELECT 1")

    await asyncio.to_thread(ping)


async def _report_model(llm: ChatModel) -> None:
    """Sends the chat model one test prompt and logs, once, whether it answers."""
    status = await llm.probe()
    if status.ok:
        logger.info("chat model %s at %s answered in %.1f s", status.model, status.endpoint, status.seconds)
    else:
        logger.warning("chat model %s at %s is not answering (%s): the bot runs on the deterministic path until it "
                       "does", status.model, status.endpoint, status.detail)


@contextlib.asynccontextmanager
async def open_services(settings: Settings, *, first_start: bool = True, store: VersionStore | None = None,
                        ) -> AsyncIterator[Services]:
    """Opens every service (the knowledge base is built on first start unless `first_start` is False); closes them.

    `store` replaces the Chroma store built from the settings (tests pass one with a stand-in embedding model).
    With LLM_MODEL set, the chat model is built and sent one test prompt in the background; a model that does not
    answer is reported once, and every use of it falls back to the deterministic path.
    """
    from bot.interview.graph import build_graph

    offline_guards(settings)
    if store is None:
        store = await asyncio.to_thread(build_store, settings)
    rubric = await asyncio.to_thread(load_rubric_if_present, settings)
    if rubric is None:
        raise FileNotFoundError(f"no rubric at {settings.rubric_path}")
    async with contextlib.AsyncExitStack() as stack:
        coordinator = build_coordinator(settings)
        stack.push_async_callback(coordinator.close)
        if first_start:  # instances starting together build the knowledge base once (the others wait, then find it)
            async with coordinator.lock(INGEST_LOCK):
                await asyncio.to_thread(ensure_knowledge, settings, store, rubric)
        knowledge = await asyncio.to_thread(build_knowledge_base, settings, store)
        rubrics = RubricHolder(rubric)
        try:
            llm = build_chat_model(settings)
        except BotError as e:  # a provider that cannot be built is a configuration problem, not a reason to stop
            logger.error("chat model not available (%s): the bot runs on the deterministic path", e)
            llm = None

        if llm is not None:  # in the background: an unreachable model must not hold up the start
            probe = asyncio.create_task(_report_model(llm))
            stack.callback(probe.cancel)
        db = await stack.enter_async_context(open_db(settings.database))
        checkpointer = await stack.enter_async_context(open_checkpointer(settings.database_url or settings.checkpoint_path))
        events = EventLog(db)
        metrics = Metrics()
        sink = TeeSink(events, metrics)  # what the rooms emit is stored (/stats) and counted (/metrics)
        reader = await asyncio.to_thread(build_reader, settings, store.embeddings)

        def graph_for(current: Rubric) -> Any:
            return build_graph(rubric=current, checkpointer=checkpointer, citer=knowledge, reader=reader, llm=llm)

        history = DiagnosisHistory(db, benchmark_min_users=settings.benchmark_min_users)
        interview = InterviewService(graph=graph_for(rubric), rubric=rubric, section_title=knowledge.section_title,
                                     events=sink, archive=history, locks=coordinator)
        rubrics.subscribe(lambda new: interview.reload(graph_for(new), new))
        scheduler = Scheduler(db, leader=coordinator if settings.redis_url else None)
        groups = GroupService(db, rubric=rubrics, citer=knowledge, events=sink, scheduler=scheduler, locks=coordinator,
                              grace_seconds=settings.group_grace_seconds,
                              time_box_scale=settings.group_time_box_scale)
        audit = AuditLog(db)
        question_messages = QuestionMessages(db)
        reminders = Reminders(scheduler, day_seconds=settings.reminder_day_seconds)
        guidance = GuidanceService(store, knowledge_dir=settings.knowledge_dir, uploads_dir=settings.uploads_dir,
                                   lock_path=settings.data_dir / LOCK_FILE,
                                   required_sections=lambda: rubrics.current.cited_sections(),
                                   observer=metrics.ingest_run,
                                   locks=coordinator if settings.redis_url else None,
                                   pending=StoredPendingUploads(db), staging_dir=settings.data_dir / "staging")
        readiness = Readiness()
        readiness.add("database", lambda: db.execute_fetchall("SELECT 1"))
        readiness.add("checkpointer", lambda: _ping_saver(checkpointer))
        readiness.add("chroma", lambda: asyncio.to_thread(store.heartbeat))
        if settings.redis_url:
            readiness.add("redis", coordinator.ping)
        privacy = ForgetService(db, interview=interview, events=events, groups=groups, audit=audit,
                                others=(question_messages, scheduler, history, guidance.pending))
        yield Services(settings=settings, knowledge=knowledge, rubrics=rubrics, interview=interview, db=db,
                       events=events, groups=groups, audit=audit, guidance=guidance, privacy=privacy,
                       question_messages=question_messages, scheduler=scheduler, history=history,
                       reminders=reminders, metrics=metrics, readiness=readiness, coordinator=coordinator,
                       seen_updates=SharedSeenUpdates(coordinator) if settings.redis_url else SeenUpdates(db),
                       llm=llm, reader=reader)
