"""The ingest engine behind `ingest.py` and the admin commands: validate → build a new version → switch atomically."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.errors import GuidanceError, IngestBusyError
from bot.knowledge.chunking import Chunk, chunk_document
from bot.knowledge.documents import GuidanceDocument, load_document
from bot.knowledge.store import DocumentInfo, VersionInfo, VersionStore

logger = logging.getLogger(__name__)

GUIDANCE_SUFFIXES = (".md", ".markdown", ".txt")
LOCK_FILE = "ingest.lock"  # under DATA_DIR: one ingest at a time per data directory
INGEST_LOCK = "ingest"  # the shared lock (REDIS_URL): one ingest at a time across instances
INGEST_LOCK_TTL = 600.0  # seconds after which the shared lock of an instance that died frees itself
BUSY = "another ingest is in progress; try again when it has finished"


@dataclass(frozen=True)
class Diff:
    """What a new version changes against the active one."""

    docs_added: tuple[str, ...] = ()
    docs_changed: tuple[str, ...] = ()
    docs_removed: tuple[str, ...] = ()
    sections_added: tuple[str, ...] = ()  # "doc_id#section"
    sections_changed: tuple[str, ...] = ()
    sections_removed: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing changes."""
        return not any(getattr(self, f) for f in self.__dataclass_fields__)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = []
        for label, values in (
            ("documents added", self.docs_added), ("documents changed", self.docs_changed),
            ("documents removed", self.docs_removed), ("sections added", self.sections_added),
            ("sections changed", self.sections_changed), ("sections removed", self.sections_removed),
        ):
            if values:
                shown = ", ".join(values[:12]) + (f" … (+{len(values) - 12})" if len(values) > 12 else "")
                out.append(f"{label} ({len(values)}): {shown}")
        return out


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one ingest: `created`, `unchanged` or `dry-run`."""

    status: str
    diff: Diff
    documents: int
    sections: int
    chunks: int
    version: VersionInfo | None = None
    pruned: tuple[str, ...] = field(default_factory=tuple)


def collect_sources(*folders: Path) -> list[Path]:
    """Guidance files (.md/.markdown/.txt) directly in the given folders, sorted; README files are skipped."""
    paths: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        paths.extend(
            p for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in GUIDANCE_SUFFIXES and p.stem.lower() != "readme"
        )
    return paths


def load_corpus(paths: Sequence[Path]) -> list[GuidanceDocument]:
    """Parses every file; the first bad one raises GuidanceError naming it."""
    if not paths:
        raise GuidanceError("no guidance documents (.md/.txt) found")
    docs: list[GuidanceDocument] = []
    seen: dict[str, str] = {}
    for path in paths:
        doc = load_document(path)
        if doc.doc_id in seen:
            raise GuidanceError(f"document id {doc.doc_id!r} is also used by {seen[doc.doc_id]}", path=str(path))
        seen[doc.doc_id] = str(path)
        docs.append(doc)
    return docs


def document_info(doc: GuidanceDocument) -> DocumentInfo:
    """The registry's record of a document."""
    return DocumentInfo(
        doc_id=doc.doc_id,
        title=doc.title,
        path=Path(doc.path).name,
        content_hash=doc.content_hash,
        sections={s.id: s.content_hash for s in doc.sections},
        section_titles={s.id: s.title for s in doc.sections},
    )


def corpus_hash(infos: Iterable[DocumentInfo], *, model_id: str = "") -> str:
    """Hash of the whole corpus and the model that embeds it: same content, same model → same hash → no new version."""
    h = hashlib.sha256()
    if model_id:
        h.update(f"model\0{model_id}\n".encode())
    for info in sorted(infos, key=lambda i: i.doc_id):
        h.update(f"{info.doc_id}\0{info.content_hash}\n".encode())
    return h.hexdigest()[:16]


def diff_versions(old: VersionInfo | None, new_docs: Sequence[DocumentInfo]) -> Diff:
    """Documents and sections added, changed and removed."""
    before = {d.doc_id: d for d in (old.documents if old else ())}
    after = {d.doc_id: d for d in new_docs}
    s_added: list[str] = []
    s_changed: list[str] = []
    s_removed: list[str] = []
    for doc_id in sorted(before.keys() | after.keys()):
        a = before[doc_id].sections if doc_id in before else {}
        b = after[doc_id].sections if doc_id in after else {}
        s_added += [f"{doc_id}#{s}" for s in b if s not in a]
        s_removed += [f"{doc_id}#{s}" for s in a if s not in b]
        s_changed += [f"{doc_id}#{s}" for s in b if s in a and a[s] != b[s]]
    return Diff(
        docs_added=tuple(sorted(after.keys() - before.keys())),
        docs_changed=tuple(sorted(d for d in after.keys() & before.keys()
                                  if after[d].content_hash != before[d].content_hash)),
        docs_removed=tuple(sorted(before.keys() - after.keys())),
        sections_added=tuple(s_added),
        sections_changed=tuple(s_changed),
        sections_removed=tuple(s_removed),
    )


class Ingestor:
    """Builds versions from guidance files; one at a time per data directory (a file lock)."""

    def __init__(self, store: VersionStore, *, lock_path: Path, chunk_size: int | None = None) -> None:
        self.store = store
        self.lock_path = lock_path
        self.chunk_size = chunk_size

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as e:
                raise IngestBusyError(BUSY) from e
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _chunks(self, docs: Sequence[GuidanceDocument]) -> list[Chunk]:
        out: list[Chunk] = []
        for doc in docs:
            out.extend(chunk_document(doc) if self.chunk_size is None else chunk_document(doc, chunk_size=self.chunk_size))
        return out

    def ingest(
        self,
        paths: Sequence[Path],
        *,
        created_by: str = "cli",
        dry_run: bool = False,
        required_sections: Iterable[str] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestResult:
        """Validates the files, builds a new version, switches to it and prunes old ones."""
        docs = load_corpus(paths)
        present = {s.id for d in docs for s in d.sections}
        missing = sorted(set(required_sections) - present, key=_section_key)
        if missing:
            raise GuidanceError(f"sections cited by the rubric are missing: {', '.join(missing)}",
                                path=", ".join(Path(p).name for p in paths))
        infos = [document_info(d) for d in docs]
        chash = corpus_hash(infos, model_id=self.store.model_id)
        chunks = self._chunks(docs)
        n_sections = sum(len(d.sections) for d in docs)
        with self._exclusive():
            active = self.store.active()
            diff = diff_versions(active, infos)
            if active is not None and active.content_hash == chash:
                return IngestResult("unchanged", diff, len(docs), n_sections, len(chunks), active)
            if dry_run:
                return IngestResult("dry-run", diff, len(docs), n_sections, len(chunks), None)
            version = self.store.create(documents=infos, chunks=chunks, content_hash=chash,
                                        created_by=created_by, progress=progress)
            self.store.activate(version.id)
            pruned = self.store.prune()
            logger.info("knowledge base %s active (%d chunks)", version.id, len(chunks))
            return IngestResult("created", diff, len(docs), n_sections, len(chunks),
                                replace_active(version), tuple(pruned))

    def rollback(self, *, created_by: str = "cli") -> VersionInfo:
        """Makes the version before the active one active again."""
        with self._exclusive():
            _, target = self.store.rollback_target()
            self.store.activate(target.id)
            logger.info("rolled back to %s by %s", target.id, created_by)
            return replace_active(target)


def replace_active(v: VersionInfo) -> VersionInfo:
    """The same version info, marked active."""
    return replace(v, active=True)


def _section_key(section: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in section.split("."))
