"""Versioned knowledge base in Chroma: one collection per version, a registry collection with the active pointer.

Chroma is the single source of truth, so several bot instances sharing a Chroma server (`CHROMA_URL`) see
the same versions. A version is built completely in its own collection and only then made active by one
metadata write on the registry (`kb_registry.metadata["active"]`): readers never see a half-built index.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.errors import GuidanceError
from bot.knowledge.chunking import Chunk
from bot.knowledge.embeddings import model_id_of

if TYPE_CHECKING:  # annotations only: LangChain stays off the bot's start-up path
    from langchain_core.embeddings import Embeddings

logger = logging.getLogger(__name__)

REGISTRY = "kb_registry"
KEEP_VERSIONS = 3
_BATCH = 256


@dataclass(frozen=True)
class DocumentInfo:
    """What a version knows of one document: identity, hash, and each section's hash."""

    doc_id: str
    title: str
    path: str
    content_hash: str
    sections: dict[str, str] = field(default_factory=dict)  # section id → content hash
    section_titles: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionInfo:
    """One knowledge-base version as listed by `ingest.py --status` and `/kb`."""

    id: str
    seq: int
    created_at: str
    created_by: str
    content_hash: str
    documents: tuple[DocumentInfo, ...]
    chunks: int
    active: bool = False
    embedding_model: str = ""  # id of the model that embedded its chunks ("" for versions made before it was kept)

    @property
    def sections(self) -> int:
        """Number of sections across documents."""
        return sum(len(d.sections) for d in self.documents)

    @property
    def collection(self) -> str:
        """The Chroma collection that holds this version's chunks."""
        return f"kb_{self.id}"

    def to_json(self) -> dict[str, Any]:
        """Serialisable form (also what the registry stores)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "content_hash": self.content_hash,
            "chunks": self.chunks,
            "embedding_model": self.embedding_model,
            "documents": [d.__dict__ for d in self.documents],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, active: bool) -> VersionInfo:
        """Reads what `to_json` wrote."""
        docs = tuple(DocumentInfo(**d) for d in data["documents"])
        return cls(
            id=data["id"],
            seq=int(data["seq"]),
            created_at=data["created_at"],
            created_by=data.get("created_by", ""),
            content_hash=data["content_hash"],
            documents=docs,
            chunks=int(data["chunks"]),
            active=active,
            embedding_model=str(data.get("embedding_model") or ""),
        )


def make_client(*, data_dir: Path, chroma_url: str | None) -> Any:
    """A Chroma client: embedded under DATA_DIR/chroma, or HttpClient when CHROMA_URL is set; telemetry off."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if chroma_url:
        from urllib.parse import urlparse

        url = urlparse(chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=settings,
        )
    path = data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


class VersionStore:
    """Creates, lists, activates and prunes knowledge-base versions in Chroma."""

    def __init__(self, client: Any, embeddings: Embeddings) -> None:
        self._client = client
        self._embeddings = embeddings
        self._vector_stores: dict[str, Any] = {}  # version id → langchain Chroma (a version's content never changes)

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model used for this store."""
        return self._embeddings

    def heartbeat(self) -> None:
        """Raises when Chroma (embedded or the server of CHROMA_URL) does not answer."""
        self._client.heartbeat()

    @property
    def model_id(self) -> str:
        """Id of the embedding model new versions are embedded with (and queries are embedded with)."""
        return model_id_of(self._embeddings)

    def model_mismatch(self, version: VersionInfo | None = None) -> str | None:
        """One line saying that `version` (default: the active one) was embedded by another model, or None."""
        version = version or self.active()
        if version is None or version.embedding_model == self.model_id:
            return None
        return (f"knowledge base {version.id} was embedded with {version.embedding_model or 'an unrecorded model'}, "
                f"not {self.model_id}: dense search is off until the next ingest re-embeds it")

    def _registry(self) -> Any:
        return self._client.get_or_create_collection(REGISTRY, metadata={"active": ""})

    def active_id(self) -> str | None:
        """The active version id (one metadata read), or None before the first ingest."""
        meta = self._registry().metadata or {}
        return str(meta.get("active") or "") or None

    def versions(self) -> list[VersionInfo]:
        """All kept versions, newest first."""
        reg = self._registry()
        active = (reg.metadata or {}).get("active")
        got = reg.get(include=["documents"])
        out = [
            VersionInfo.from_json(json.loads(doc), active=(vid == active))
            for vid, doc in zip(got["ids"], got["documents"] or [], strict=False)
        ]
        return sorted(out, key=lambda v: v.seq, reverse=True)

    def version(self, version_id: str) -> VersionInfo | None:
        """One version's info."""
        return next((v for v in self.versions() if v.id == version_id), None)

    def active(self) -> VersionInfo | None:
        """The active version's info."""
        active = self.active_id()
        return self.version(active) if active else None

    def rollback_target(self) -> tuple[VersionInfo, VersionInfo]:
        """(the active version, the version a rollback activates: the newest older one); GuidanceError when none."""
        versions = self.versions()
        active = next((v for v in versions if v.active), None)
        if active is None:
            raise GuidanceError("there is no active version (so no earlier version to roll back to)")
        older = [v for v in versions if v.seq < active.seq]
        if not older:
            raise GuidanceError("there is no earlier version to roll back to")
        return active, older[0]

    def load_chunks(self, version_id: str) -> list[Chunk]:
        """Every chunk of a version, in document order."""
        return self.load(version_id, vectors=False)[0]

    def load(self, version_id: str, *, vectors: bool = True) -> tuple[list[Chunk], np.ndarray | None]:
        """Every chunk of a version in document order and, when asked, its unit vectors (one row per chunk)."""
        col = self._client.get_collection(f"kb_{version_id}")
        include = ["documents", "metadatas", "embeddings"] if vectors else ["documents", "metadatas"]
        got = col.get(include=include)
        chunks = [
            Chunk.from_metadata(text, meta)
            for text, meta in zip(got["documents"] or [], got["metadatas"] or [], strict=False)
        ]
        order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_id, chunks[i].start))
        matrix = None
        if vectors and got.get("embeddings") is not None and len(got["embeddings"]) == len(chunks) and chunks:
            raw = np.asarray(got["embeddings"], dtype=np.float32)[order]
            norms = np.linalg.norm(raw, axis=1, keepdims=True)
            matrix = raw / np.where(norms > 0, norms, 1.0)
        return [chunks[i] for i in order], matrix

    def create(
        self,
        *,
        documents: Sequence[DocumentInfo],
        chunks: Sequence[Chunk],
        content_hash: str,
        created_by: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> VersionInfo:
        """Builds a new, inactive version; embeddings of unchanged chunks are copied from the active version."""
        existing = self.versions()
        seq = (existing[0].seq + 1) if existing else 1
        info = VersionInfo(
            id=f"v{seq}",
            seq=seq,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            created_by=created_by,
            content_hash=content_hash,
            documents=tuple(documents),
            chunks=len(chunks),
            embedding_model=self.model_id,
        )
        reuse = self._reusable_embeddings()
        # Leftovers of a crashed build; chroma raises different types for "does not exist" by version.
        with contextlib.suppress(Exception):
            self._client.delete_collection(info.collection)
        col = self._client.create_collection(info.collection, metadata={"hnsw:space": "cosine"})
        done = 0
        try:
            for i in range(0, len(chunks), _BATCH):
                batch = chunks[i : i + _BATCH]
                missing = [c for c in batch if c.content_hash not in reuse]
                if missing:
                    fresh = self._embeddings.embed_documents([c.index_text for c in missing])
                    reuse.update({c.content_hash: e for c, e in zip(missing, fresh, strict=True)})
                col.upsert(
                    ids=[c.chunk_id for c in batch],
                    embeddings=[list(reuse[c.content_hash]) for c in batch],
                    documents=[c.text for c in batch],
                    metadatas=[c.metadata() for c in batch],
                )
                done += len(batch)
                if progress:
                    progress(done, len(chunks))
            if col.count() != len(chunks):
                raise GuidanceError(f"built {col.count()} chunks, expected {len(chunks)} (duplicate chunk ids?)")
        except BaseException:
            self._client.delete_collection(info.collection)
            raise
        self._registry().upsert(ids=[info.id], embeddings=[[1.0]], documents=[json.dumps(info.to_json())])
        return info

    def _reusable_embeddings(self) -> dict[str, Sequence[float]]:
        active = self.active()
        if active is None or active.embedding_model != self.model_id:
            return {}  # another model's vectors are never mixed into a version
        try:
            got = self._client.get_collection(active.collection).get(include=["embeddings", "metadatas"])
        except Exception:  # noqa: BLE001 - a missing collection just means nothing to reuse
            return {}
        embeddings = got["embeddings"] if got["embeddings"] is not None else []
        return {
            str(meta["content_hash"]): emb for meta, emb in zip(got["metadatas"] or [], embeddings, strict=False)
        }

    def activate(self, version_id: str) -> None:
        """Makes a version active with one metadata write."""
        if self.version(version_id) is None:
            raise GuidanceError(f"version {version_id} does not exist")
        self._registry().modify(metadata={"active": version_id})

    def prune(self, keep: int = KEEP_VERSIONS) -> list[str]:
        """Deletes all but the newest `keep` versions (never the active one); returns the deleted ids."""
        versions = self.versions()
        drop = [v for v in versions[keep:] if not v.active]
        for v in drop:
            try:
                self._client.delete_collection(v.collection)
            except Exception:  # noqa: BLE001
                logger.warning("could not delete collection %s", v.collection)
            self._registry().delete(ids=[v.id])
        return [v.id for v in drop]
