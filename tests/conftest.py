"""Shared fixtures: offline guards, one ingested knowledge base per session, the rubric, a fresh checkpointer."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# No hub, no telemetry, ever: tests must pass with no internet.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"


def write_set(folder: Path, name: str, text: str) -> Path:
    """Writes one labelled set (`<folder>/<name>.yaml`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def kb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the guidance ingested once (real Chroma, the default e5 embeddings)."""
    from bot.config import Settings
    from bot.interview.rubric import load_rubric
    from bot.knowledge.embeddings import E5Embeddings
    from bot.knowledge.ingest import LOCK_FILE, Ingestor, collect_sources
    from bot.knowledge.store import VersionStore, make_client
    from bot.services import warm_reader

    data = tmp_path_factory.mktemp("kb-template")
    store = VersionStore(make_client(data_dir=data, chroma_url=None), E5Embeddings())
    rubric = load_rubric(KNOWLEDGE / "rubric.yaml")
    Ingestor(store, lock_path=data / LOCK_FILE).ingest(collect_sources(KNOWLEDGE),
                                                       required_sections=rubric.cited_sections())
    # The reader's examples embedded once for every bot a test starts on a copy of this data dir.
    warm_reader(Settings(_env_file=None, data_dir=data, knowledge_dir=KNOWLEDGE))  # type: ignore[call-arg]
    return data


@pytest.fixture
def data_dir(kb_template: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the ingested data dir for one test."""
    target = tmp_path / "data"
    shutil.copytree(kb_template, target)
    yield target


@pytest.fixture(scope="session")
def rubric():  # type: ignore[no-untyped-def]
    """The validated rubric."""
    from bot.interview.rubric import load_rubric

    return load_rubric(KNOWLEDGE / "rubric.yaml")


@pytest.fixture(scope="session")
def knowledge(kb_template: Path):  # type: ignore[no-untyped-def]
    """A KnowledgeBase on the session's ingested data (read-only use)."""
    from bot.knowledge.embeddings import E5Embeddings, TextVectors
    from bot.knowledge.questions import DEFAULT_QUESTION_VECTORS
    from bot.knowledge.search import KnowledgeBase
    from bot.knowledge.store import VersionStore, make_client

    e5 = E5Embeddings()
    # The labelled questions' shipped vectors (read, never written: tests' own questions stay in memory).
    vectors = TextVectors(e5, seed=DEFAULT_QUESTION_VECTORS)
    return KnowledgeBase(VersionStore(make_client(data_dir=kb_template, chroma_url=None), e5), question_vectors=vectors)


@pytest.fixture
async def checkpointer(tmp_path: Path) -> AsyncIterator[object]:
    """A fresh SQLite checkpointer on disk: the production one (`InlineSqliteSaver`, through the root)."""
    from bot.services import open_checkpointer

    async with open_checkpointer(tmp_path / "checkpoints.sqlite") as saver:
        yield saver


ADMIN_ID = 9001  # the admin of the `settings` fixture


@pytest.fixture
def settings(data_dir: Path):  # type: ignore[no-untyped-def]
    """Settings on the test's data dir and the real knowledge/ folder, with one admin; no .env file is read."""
    from bot.config import Settings

    return Settings(_env_file=None, data_dir=data_dir, knowledge_dir=KNOWLEDGE,  # type: ignore[call-arg]
                    admin_ids=frozenset({ADMIN_ID}))


@pytest.fixture
async def services(settings):  # type: ignore[no-untyped-def]
    """Every service, opened by the composition root on the test's copy of the ingested knowledge base."""
    from bot.services import open_services

    async with open_services(settings, first_start=False) as opened:
        yield opened


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One throwaway PostgreSQL server for the session (tests.servers.postgres_server); each test makes its own
    database on it."""
    from tests.servers import postgres_server

    with postgres_server() as url:
        yield url


_databases = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's bot database lives, once per engine: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "bot.sqlite"
    from tests.servers import new_database

    return new_database(request.getfixturevalue("postgres_url"), f"t{next(_databases)}")


async def finish_interview(interview, thread_id: str, first_answer: str) -> None:  # type: ignore[no-untyped-def]
    """Starts an interview, answers the first question in free text and skips the rest to the report."""
    from bot.interview.service import Finished, QuestionStep

    step = await interview.start(thread_id)
    step = await interview.answer_text(thread_id, first_answer)
    while isinstance(step, QuestionStep):
        step = await interview.skip(thread_id)
    assert isinstance(step, Finished)
