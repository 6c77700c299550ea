"""A fake of the embeddings seam for knowledge tests: deterministic vectors, no model to load."""

from __future__ import annotations

import hashlib
import math

from langchain_core.embeddings import Embeddings


class HashEmbeddings(Embeddings):
    """Deterministic bag-of-characters vectors: enough for Chroma, no model to load."""

    dim = 32

    def _vector(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for ch in text:
            v[int(hashlib.md5(ch.encode()).hexdigest()[:4], 16) % self.dim] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
