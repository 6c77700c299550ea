"""GuidanceService: validated uploads, re-ingest, rollback and the one-at-a-time rule, on a real Chroma store."""

from __future__ import annotations

import asyncio
import fcntl
from pathlib import Path

import pytest

from bot.admin.guidance import ARCHIVE, STAGING, GuidanceService, upload_name
from bot.errors import GuidanceError, IngestBusyError
from bot.knowledge.embeddings import E5Embeddings
from bot.knowledge.ingest import LOCK_FILE
from bot.knowledge.search import KnowledgeBase
from bot.knowledge.store import VersionStore, make_client
from tests.conftest import KNOWLEDGE

NEW_DOC = """---
title: 社群裂变活动手册
---
# 社群裂变活动手册

## 裂变海报设计 {#fission.poster}

裂变海报要把利益点写在第一屏：一句话说清楚用户扫码进群能得到什么，再配上倒计时和名额限制，制造紧迫感。

## 裂变活动风控 {#fission.risk}

裂变活动要提前设置防刷规则：同一设备只计一次邀请，异常账号的助力不计入奖励，并准备好奖品发放的客服话术。
""".encode()

CHANGED_DOC = NEW_DOC.replace("倒计时和名额限制".encode(), "倒计时、名额限制和真实案例".encode())


@pytest.fixture
def rubric_sections(rubric):  # type: ignore[no-untyped-def]
    return lambda: rubric.cited_sections()


@pytest.fixture
def store(data_dir: Path) -> VersionStore:
    return VersionStore(make_client(data_dir=data_dir, chroma_url=None), E5Embeddings())


@pytest.fixture
def service(store: VersionStore, data_dir: Path, rubric_sections) -> GuidanceService:  # type: ignore[no-untyped-def]
    return GuidanceService(store, knowledge_dir=KNOWLEDGE, uploads_dir=data_dir / "uploads",
                           lock_path=data_dir / LOCK_FILE, required_sections=rubric_sections)


def uploads(service: GuidanceService) -> list[str]:
    folder = service.uploads_dir
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


async def test_a_validated_upload_is_previewed_then_ingested_and_found(service: GuidanceService,
                                                                       store: VersionStore) -> None:
    kb = KnowledgeBase(store)
    before = store.active_id()
    assert not any(p.section == "fission.poster" for p in kb.search("裂变海报怎么设计", k=3))

    prepared = await service.prepare("裂变手册.md", NEW_DOC, owner=7)
    assert prepared.sections == 2 and not prepared.unchanged
    assert set(prepared.diff.sections_added) == {"裂变手册#fission.poster", "裂变手册#fission.risk"}
    assert store.active_id() == before and uploads(service) == []  # a preview writes nothing

    committed = await service.commit(prepared.token, owner=7, created_by="admin (tg:7)")
    assert committed.result.status == "created" and committed.before == before
    assert store.active_id() == committed.result.version.id != before
    assert store.active().created_by == "admin (tg:7)"
    assert uploads(service) == ["裂变手册.md"]
    hits = kb.search("裂变海报怎么设计", k=3)  # the same KnowledgeBase object: no restart
    assert hits and hits[0].section == "fission.poster"


async def test_a_token_is_for_its_owner_only_and_used_once(service: GuidanceService) -> None:
    prepared = await service.prepare("a.md", NEW_DOC, owner=7)
    with pytest.raises(GuidanceError):
        await service.commit(prepared.token, owner=8, created_by="x")
    await service.commit(prepared.token, owner=7, created_by="x")
    with pytest.raises(GuidanceError, match="expired"):
        await service.commit(prepared.token, owner=7, created_by="x")


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("notes.pdf", NEW_DOC, "only Markdown or text"),
    ("README.md", NEW_DOC, "README"),
    ("latin1.md", "# 标题\n\n正文".encode("gbk"), "not UTF-8"),
    ("plain.txt", "没有任何标题的一段文字。".encode(), "no Markdown headings"),
    ("empty.md", b"  \n", "empty"),
    ("huge.md", b"# h\n\n" + b"x" * (2 * 1024 * 1024), "larger than 2 MB"),
    # would shadow the article's document
    ("other.md", b"---\ndoc_id: private-domain-prework\n---\n# other\n\n## a\n\ntext", "also used by"),
    ("dup.md", b"# t\n\n## 1.1 a\n\nx\n\n## 1.1 b\n\ny", "duplicate section id"),
])
async def test_bad_files_are_refused_and_leave_nothing(service: GuidanceService, store: VersionStore,
                                                       name: str, data: bytes, reason: str) -> None:
    before = store.active_id()
    with pytest.raises(GuidanceError, match=reason):
        await service.prepare(name, data, owner=1)
    with pytest.raises(GuidanceError, match=reason):
        await service.upload(name, data, owner=1, created_by="x")
    assert store.active_id() == before
    assert uploads(service) == []
    assert not any((service.uploads_dir / STAGING).rglob("*.*"))


def test_upload_names_keep_the_document_id_rule() -> None:
    assert upload_name("../../etc/Guide Book.MD") == "guide-book.md"
    assert upload_name("C:\\docs\\手册.txt") == "手册.txt"


async def test_two_operations_never_run_at_once(service: GuidanceService) -> None:
    await service.upload("a.md", NEW_DOC, owner=1, created_by="x")
    first = asyncio.create_task(service.reingest(created_by="x"))
    await asyncio.sleep(0)  # let it take the lock
    with pytest.raises(IngestBusyError):
        await service.reingest(created_by="y")
    with pytest.raises(IngestBusyError):
        await service.upload("b.md", CHANGED_DOC, owner=1, created_by="y")
    _, result = await first
    assert result.status == "unchanged"


async def test_another_process_ingesting_makes_it_busy(service: GuidanceService, data_dir: Path) -> None:
    with open(data_dir / LOCK_FILE, "a+") as handle:  # what `python ingest.py` holds while it runs
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IngestBusyError):
            await service.reingest(created_by="x")
        fcntl.flock(handle, fcntl.LOCK_UN)


async def test_rollback_restores_the_old_version_and_keeps_uploads_in_step(service: GuidanceService,
                                                                          store: VersionStore) -> None:
    kb = KnowledgeBase(store)
    original = store.active_id()
    await service.upload("fission.md", NEW_DOC, owner=1, created_by="x")
    second = store.active_id()
    await service.upload("fission.md", CHANGED_DOC, owner=1, created_by="x")
    assert "真实案例" in kb.search("裂变海报怎么设计", k=1)[0].text

    active, target = await service.rollback_target()
    assert target.id == second
    with pytest.raises(GuidanceError, match="changed"):
        await service.rollback(expected="v999", created_by="x")
    done = await service.rollback(expected=second, created_by="x")
    assert done.after.id == second and store.active_id() == second
    assert done.archived == ("fission.md",) and done.restored == ("fission.md",)  # the older upload is back
    assert "真实案例" not in kb.search("裂变海报怎么设计", k=1)[0].text
    _, result = await service.reingest(created_by="x")
    assert result.status == "unchanged"  # a re-ingest rebuilds what is active, not what was rolled back

    await service.rollback(expected=original, created_by="x")
    assert store.active_id() == original and uploads(service) == []
    assert (service.uploads_dir / ARCHIVE).is_dir()
    assert not any(p.section == "fission.poster" for p in kb.search("裂变海报怎么设计", k=3))
    with pytest.raises(GuidanceError, match="no earlier version"):
        await service.rollback_target()


async def test_an_upload_previewed_on_one_instance_is_confirmed_on_another(
        store: VersionStore, data_dir: Path, tmp_path: Path, rubric_sections, database: Path | str) -> None:  # type: ignore[no-untyped-def]
    from bot.admin.guidance import StoredPendingUploads
    from bot.db import open_db

    shared_uploads = tmp_path / "shared-uploads"  # UPLOADS_DIR: one folder for every instance
    async with open_db(database) as db_a, open_db(database) as db_b:
        a, b = (GuidanceService(store, knowledge_dir=KNOWLEDGE, uploads_dir=shared_uploads,
                                lock_path=tmp_path / name / LOCK_FILE, required_sections=rubric_sections,
                                pending=StoredPendingUploads(db), staging_dir=tmp_path / name / "staging")
                for name, db in (("a", db_a), ("b", db_b)))
        prepared = await a.prepare("fission.md", NEW_DOC, owner=7)
        assert await b.pending_name(prepared.token, owner=7) == "fission.md"
        assert await b.pending_name(prepared.token, owner=8) is None, "only the admin who sent it"
        committed = await b.commit(prepared.token, owner=7, created_by="admin")
        assert committed.result.version is not None and (shared_uploads / "fission.md").read_bytes() == NEW_DOC
        with pytest.raises(GuidanceError):  # confirmed once: the other instance's button has expired
            await a.commit(prepared.token, owner=7, created_by="admin")
        again = await a.prepare("fission.md", CHANGED_DOC, owner=7)
        assert await b.pending.forget(7) == 1 and await a.pending_name(again.token, owner=7) is None
