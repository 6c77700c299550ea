"""Guidance administration over chat: status, validated uploads, re-ingest and rollback, through the ingest engine.

The engine is `bot.knowledge.ingest.Ingestor` — the same one `ingest.py` runs — called in a worker thread. A new
version becomes active with one write; the running `KnowledgeBase` notices it on its next query.

Uploads live in `DATA_DIR/uploads` and are part of every re-ingest, so only a validated document may land there:

1. `prepare` checks the bytes (UTF-8, ≤ 2 MB, headings, sections) and dry-runs the whole corpus with the file in a
   staging folder (duplicate document ids, sections the rubric cites); nothing is written to `uploads/`;
2. `commit` ingests the corpus with the staged file and only after the new version exists moves the file into
   `uploads/` (a file it replaces is archived). A failure deletes the staged copy: the active version and
   `uploads/` stay as they were.

A rollback moves the uploads that are not part of the version rolled back to into `uploads/.archive/` (and brings
back archived uploads that are), so a later re-ingest rebuilds what is active instead of undoing the rollback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bot.coordination import Coordinator
from bot.db import Database
from bot.errors import GuidanceError, IngestBusyError
from bot.knowledge.documents import (
    MAX_DOCUMENT_BYTES,
    GuidanceDocument,
    decode_document,
    load_document,
    parse_document,
    slugify,
)
from bot.knowledge.ingest import (
    BUSY,
    GUIDANCE_SUFFIXES,
    INGEST_LOCK,
    INGEST_LOCK_TTL,
    Diff,
    Ingestor,
    IngestResult,
    collect_sources,
)
from bot.knowledge.store import VersionInfo, VersionStore

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
STAGING = ".staging"
ARCHIVE = ".archive"
KEEP_ARCHIVED = 20  # archived uploads kept (oldest removed first)
PENDING_TTL = 3600.0  # seconds a validated upload waits for its confirm button
MAX_PENDING = 10


@dataclass(frozen=True)
class KbStatus:
    """The active version and the kept versions, newest first."""

    active: VersionInfo | None
    versions: tuple[VersionInfo, ...]


@dataclass(frozen=True)
class Prepared:
    """A validated upload waiting for confirmation: what it is and what ingesting it would change."""

    token: str
    filename: str
    size: int
    title: str
    sections: int
    replaces: bool  # an upload of the same name exists and would be archived
    diff: Diff
    unchanged: bool  # the corpus with this file is the active version already


@dataclass(frozen=True)
class Committed:
    """An ingested upload."""

    filename: str
    result: IngestResult
    before: str | None  # the version active before


@dataclass(frozen=True)
class RolledBack:
    """A rollback: the versions before and after, and the uploads moved to keep `uploads/` in step."""

    before: str | None
    after: VersionInfo
    archived: tuple[str, ...]
    restored: tuple[str, ...]


@dataclass
class _Pending:
    owner: int
    filename: str
    data: bytes
    since: float  # Unix time of the preview


class PendingUploads(Protocol):
    """Previewed uploads by token, each kept for PENDING_TTL seconds (at most MAX_PENDING)."""

    async def put(self, token: str, pending: _Pending) -> None:
        """Keeps a previewed upload (the oldest go past MAX_PENDING)."""
        ...

    async def get(self, token: str) -> _Pending | None:
        """The upload, unless it expired."""
        ...

    async def pop(self, token: str) -> bool:
        """Removes it; False when it was gone already."""
        ...

    async def forget(self, user_id: int) -> int:
        """Removes the uploads a user previewed."""
        ...


class LocalPendingUploads:
    """In this process (tests, and a GuidanceService without a database)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._items: dict[str, _Pending] = {}
        self.clock = clock

    async def put(self, token: str, pending: _Pending) -> None:
        """Keeps it in memory."""
        self._items = {t: p for t, p in self._items.items() if self.clock() - p.since <= PENDING_TTL}
        while len(self._items) >= MAX_PENDING:
            del self._items[next(iter(self._items))]
        self._items[token] = pending

    async def get(self, token: str) -> _Pending | None:
        """From memory."""
        pending = self._items.get(token)
        return pending if pending is not None and self.clock() - pending.since <= PENDING_TTL else None

    async def pop(self, token: str) -> bool:
        """From memory."""
        return self._items.pop(token, None) is not None

    async def forget(self, user_id: int) -> int:
        """From memory."""
        mine = [t for t, p in self._items.items() if p.owner == user_id]
        for token in mine:
            del self._items[token]
        return len(mine)


class StoredPendingUploads:
    """In the bot database's `pending_uploads`, so whichever instance receives the confirm button finds it."""

    def __init__(self, conn: Database, *, clock: Callable[[], float] = time.time) -> None:
        self.conn = conn
        self.clock = clock

    async def put(self, token: str, pending: _Pending) -> None:
        """Stores it; drops expired ones and the oldest past MAX_PENDING."""
        await self.conn.execute("DELETE FROM pending_uploads WHERE since < ?", (self.clock() - PENDING_TTL,))
        await self.conn.execute(
            "DELETE FROM pending_uploads WHERE token NOT IN (SELECT token FROM pending_uploads ORDER BY since DESC"
            " LIMIT ?)", (MAX_PENDING - 1,))
        await self.conn.execute("INSERT INTO pending_uploads(token, owner, filename, data, since) VALUES (?, ?, ?, ?, ?)",
                                (token, pending.owner, pending.filename, pending.data, pending.since))
        await self.conn.commit()

    async def get(self, token: str) -> _Pending | None:
        """Reads it, unless it expired."""
        rows = await self.conn.execute_fetchall(
            "SELECT owner, filename, data, since FROM pending_uploads WHERE token = ? AND since >= ?",
            (token, self.clock() - PENDING_TTL))
        return _Pending(int(rows[0][0]), str(rows[0][1]), bytes(rows[0][2]), float(rows[0][3])) if rows else None

    async def pop(self, token: str) -> bool:
        """Deletes it (one instance wins when two are confirming at once)."""
        cur = await self.conn.execute("DELETE FROM pending_uploads WHERE token = ?", (token,))
        await self.conn.commit()
        return cur.rowcount > 0

    async def forget(self, user_id: int) -> int:
        """Deletes the user's previewed uploads."""
        cur = await self.conn.execute("DELETE FROM pending_uploads WHERE owner = ?", (user_id,))
        await self.conn.commit()
        return cur.rowcount


def upload_name(filename: str) -> str:
    """The name an upload is kept under (its stem is the document id); GuidanceError for other file types."""
    name = Path(filename.replace("\\", "/")).name
    suffix = Path(name).suffix.lower()
    if suffix not in GUIDANCE_SUFFIXES:
        raise GuidanceError(f"only Markdown or text files ({', '.join(GUIDANCE_SUFFIXES)}) are accepted",
                            path=name or "file")
    stem = slugify(Path(name).stem)
    if stem.lower() == "readme":
        raise GuidanceError("README files are not guidance documents; rename the file", path=name)
    return f"{stem}{suffix}"


def _validate(name: str, data: bytes) -> GuidanceDocument:
    """The parsed document; GuidanceError naming the reason (size, encoding, headings, sections)."""
    if len(data) > MAX_DOCUMENT_BYTES:  # before decoding: a huge file is refused without reading it through
        raise GuidanceError(f"file is larger than 2 MB ({len(data) / 1024 / 1024:.1f} MB)", path=name)
    return parse_document(decode_document(data, name), path=name)


class GuidanceService:
    """Status, upload, re-ingest and rollback of the guidance knowledge base; one operation at a time."""

    def __init__(self, store: VersionStore, *, knowledge_dir: Path, uploads_dir: Path, lock_path: Path,
                 required_sections: Callable[[], Iterable[str]], chunk_size: int | None = None,
                 observer: Callable[[str, str], None] | None = None, locks: Coordinator | None = None,
                 pending: PendingUploads | None = None, staging_dir: Path | None = None) -> None:
        self.store = store
        self.observer = observer  # told (action, outcome) of every ingest run: the metrics
        self.knowledge_dir = knowledge_dir
        self.uploads_dir = uploads_dir
        self.ingestor = Ingestor(store, lock_path=lock_path, chunk_size=chunk_size)
        self.required_sections = required_sections
        self._lock = asyncio.Lock()
        self.locks = locks  # the ingest lock every instance respects (Redis), beside this process's lock
        # Previewed uploads waiting for their confirm button: in the bot database when given (any instance can
        # confirm them), else in this process.
        self.pending: PendingUploads = pending or LocalPendingUploads()
        # This instance's own staging folder (uploads/ may be shared by several instances).
        self.staging_dir = staging_dir or uploads_dir / STAGING
        # Left over by a crash mid-operation: staged files were never validated into a version.
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    @property
    def busy(self) -> bool:
        """Whether an operation is running in this process."""
        return self._lock.locked()

    @contextlib.asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        # Refuse rather than queue: the admin is told at once (the engine's file lock covers other processes on
        # this host, the shared lock other instances).
        if self._lock.locked():
            raise IngestBusyError(BUSY)
        async with self._lock:
            if self.locks is None:
                yield
                return
            async with self.locks.try_lock(INGEST_LOCK, INGEST_LOCK_TTL) as taken:
                if not taken:
                    raise IngestBusyError(BUSY)
                yield

    async def status(self) -> KbStatus:
        """The active version and the kept versions."""
        versions = tuple(await asyncio.to_thread(self.store.versions))
        return KbStatus(next((v for v in versions if v.active), None), versions)

    # ------------------------------------------------------------------ uploads

    def _sources(self, staged: Path | None = None) -> list[Path]:
        sources = collect_sources(self.knowledge_dir, self.uploads_dir)
        if staged is not None:
            sources = [p for p in sources if not (p.parent == self.uploads_dir and p.name == staged.name)]
            sources.append(staged)
        return sources

    def _stage(self, filename: str, data: bytes) -> Path:
        folder = self.staging_dir / secrets.token_hex(6)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / filename
        path.write_bytes(data)
        return path

    @staticmethod
    def _unstage(path: Path) -> None:
        shutil.rmtree(path.parent, ignore_errors=True)

    async def prepare(self, filename: str, data: bytes, *, owner: int) -> Prepared:
        """Validates an upload and dry-runs the ingest with it; GuidanceError (nothing kept) when it is refused."""
        name = upload_name(filename)
        doc = await asyncio.to_thread(_validate, name, data)
        async with self._exclusive():
            staged = self._stage(name, data)
            try:
                result = await asyncio.to_thread(
                    self.ingestor.ingest, self._sources(staged), created_by="dry-run", dry_run=True,
                    required_sections=set(self.required_sections()))
            finally:
                self._unstage(staged)
        token = secrets.token_hex(4)
        await self.pending.put(token, _Pending(owner, name, data, time.time()))
        return Prepared(token=token, filename=name, size=len(data), title=doc.title, sections=len(doc.sections),
                        replaces=(self.uploads_dir / name).exists(), diff=result.diff,
                        unchanged=result.status == "unchanged")

    async def discard(self, token: str, *, owner: int) -> bool:
        """Forgets a prepared upload; False when there was none (expired, or someone else's)."""
        pending = await self.pending.get(token)
        if pending is None or pending.owner != owner:
            return False
        return await self.pending.pop(token)

    async def pending_name(self, token: str, *, owner: int) -> str | None:
        """The file name of a prepared upload of this owner, if it is still waiting."""
        pending = await self.pending.get(token)
        return pending.filename if pending is not None and pending.owner == owner else None

    async def commit(self, token: str, *, owner: int, created_by: str, progress: Progress | None = None) -> Committed:
        """Ingests a prepared upload as a new version and keeps the file in uploads/."""
        pending = await self.pending.get(token)
        if pending is None or pending.owner != owner:
            raise GuidanceError("this upload has expired; send the file again")
        async with self._exclusive():
            if not await self.pending.pop(token):  # confirmed on another instance meanwhile
                raise GuidanceError("this upload has expired; send the file again")
            return await self._ingest_upload(pending.filename, pending.data, created_by=created_by,
                                             progress=progress)

    async def upload(self, filename: str, data: bytes, *, owner: int, created_by: str,
                     progress: Progress | None = None) -> Committed:
        """Validates and ingests an upload at once (the `/ingest` caption)."""
        name = upload_name(filename)
        await asyncio.to_thread(_validate, name, data)
        async with self._exclusive():
            return await self._ingest_upload(name, data, created_by=created_by, progress=progress)

    async def _ingest_upload(self, name: str, data: bytes, *, created_by: str, progress: Progress | None) -> Committed:
        before = await asyncio.to_thread(self.store.active_id)
        staged = self._stage(name, data)
        try:
            with self._observed("upload") as outcome:
                result = await asyncio.to_thread(
                    self.ingestor.ingest, self._sources(staged), created_by=created_by,
                    required_sections=set(self.required_sections()), progress=progress)
                outcome.append(result.status)
            await asyncio.to_thread(self._install, staged)
        finally:
            self._unstage(staged)
        logger.info("upload %s ingested by %s: %s", name, created_by, result.status)
        return Committed(name, result, before)

    def _install(self, staged: Path) -> None:
        """Moves a staged file into uploads/, archiving the file of the same name it replaces."""
        target = self.uploads_dir / staged.name
        if target.exists():
            if target.read_bytes() == staged.read_bytes():
                return
            self._archive(target)
        # Copied next to the target first, then renamed: uploads/ may be another volume (shared by instances).
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        shutil.copyfile(staged, partial)
        partial.replace(target)

    # ------------------------------------------------------------------ re-ingest and rollback

    async def reingest(self, *, created_by: str, progress: Progress | None = None) -> tuple[str | None, IngestResult]:
        """Rebuilds from knowledge/ plus uploads/; returns the version active before and the result."""
        async with self._exclusive():
            sources = await asyncio.to_thread(self._sources)
            if not sources:
                raise GuidanceError("no guidance documents (.md, .markdown, .txt) found")
            before = await asyncio.to_thread(self.store.active_id)
            with self._observed("reingest") as outcome:
                result = await asyncio.to_thread(self.ingestor.ingest, sources, created_by=created_by,
                                                 required_sections=set(self.required_sections()), progress=progress)
                outcome.append(result.status)
            return before, result

    @contextlib.contextmanager
    def _observed(self, action: str) -> Iterator[list[str]]:
        """Tells the observer how an ingest run ended: the status appended inside, or "failed"."""
        outcome: list[str] = []
        try:
            yield outcome
        except Exception:
            if self.observer is not None:
                self.observer(action, "failed")
            raise
        if self.observer is not None:
            self.observer(action, outcome[-1] if outcome else "done")

    async def rollback_target(self) -> tuple[VersionInfo, VersionInfo]:
        """(active version, the version a rollback would activate); GuidanceError when there is none."""
        return await asyncio.to_thread(self.store.rollback_target)

    async def rollback(self, *, expected: str | None, created_by: str) -> RolledBack:
        """Activates the previous version (only if it is still `expected`) and brings uploads/ in step with it."""
        async with self._exclusive():
            active, target = await self.rollback_target()
            if expected is not None and target.id != expected:
                raise GuidanceError(f"the versions changed since (a rollback would now activate {target.id}); "
                                    "send /rollback again")
            with self._observed("rollback"):
                after = await asyncio.to_thread(self.ingestor.rollback, created_by=created_by)
            archived, restored = await asyncio.to_thread(self._sync_uploads, after)
            return RolledBack(active.id, after, archived, restored)

    def _archive(self, path: Path) -> None:
        folder = self.uploads_dir / ARCHIVE / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(2)}"
        folder.mkdir(parents=True, exist_ok=True)
        path.replace(folder / path.name)
        kept = sorted((self.uploads_dir / ARCHIVE).iterdir())
        for old in kept[:-KEEP_ARCHIVED]:
            shutil.rmtree(old, ignore_errors=True)

    def _sync_uploads(self, version: VersionInfo) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Archives uploads that are not in `version` and restores archived ones that are."""
        wanted = {(d.doc_id, d.content_hash) for d in version.documents}
        archived: list[str] = []
        present: set[str] = set()
        for path in collect_sources(self.uploads_dir):
            try:
                doc = load_document(path)
            except GuidanceError:
                doc = None
            if doc is not None and (doc.doc_id, doc.content_hash) in wanted:
                present.add(doc.doc_id)
                continue
            self._archive(path)
            archived.append(path.name)
        restored: list[str] = []
        archive = self.uploads_dir / ARCHIVE
        folders = sorted(archive.iterdir(), reverse=True) if archive.is_dir() else []
        for folder in folders:  # newest first
            for path in collect_sources(folder):
                try:
                    doc = load_document(path)
                except GuidanceError:
                    continue
                target = self.uploads_dir / path.name
                if (doc.doc_id, doc.content_hash) in wanted and doc.doc_id not in present and not target.exists():
                    path.replace(target)
                    present.add(doc.doc_id)
                    restored.append(path.name)
        return tuple(archived), tuple(restored)
