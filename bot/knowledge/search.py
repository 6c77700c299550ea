"""Hybrid retrieval over the active version: jieba BM25 first-class, dense (Chroma) as a weighted second voice.

Fusion is a weighted sum of the max-normalised BM25 score and the dense cosine similarity, with weights and the
off-topic thresholds chosen by measurement (`python -m bench.retrieval_eval`). The English MiniLM model is weak on
Chinese, so its weight is small; a Chinese model (EMBEDDING_MODEL) can be given more through `SearchParams`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

import numpy as np

from bot.knowledge.chunking import Chunk, split_sentences
from bot.knowledge.lexical import BM25Index, ChineseTokenizer
from bot.knowledge.store import VersionInfo, VersionStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchParams:
    """Tunable retrieval parameters (defaults measured on bench/data/retrieval_tune.yaml)."""

    k1: float = 1.2
    b: float = 0.5
    dense_weight: float = 0.15
    dense_candidates: int = 20
    min_coverage: float = 0.30  # share of the query's IDF mass the best chunk must contain
    min_score: float = 2.0  # raw BM25 score the best chunk must reach
    use_dense: bool = True


@dataclass(frozen=True)
class Passage:
    """A retrieved passage with everything needed to show and cite it."""

    section: str
    title: str
    doc: str
    doc_title: str
    score: float
    text: str
    chunk_id: str
    kb_version: str

    def to_json(self) -> dict[str, object]:
        """The `python -m bot search --json` shape."""
        return {"section": self.section, "title": self.title, "doc": self.doc, "score": round(self.score, 4),
                "text": self.text}


@dataclass(frozen=True)
class Citation:
    """A verbatim quote (one or two sentences) from one section of the guidance."""

    section: str
    title: str
    doc: str
    quote: str
    kb_version: str


@dataclass
class _Index:
    version: VersionInfo
    chunks: list[Chunk]
    bm25: BM25Index
    by_id: dict[str, int]


class KnowledgeBase:
    """Searches the active knowledge-base version; notices a newly activated version on the next query."""

    def __init__(self, store: VersionStore, *, tokenizer: ChineseTokenizer | None = None,
                 params: SearchParams | None = None) -> None:
        self.store = store
        self.tokenizer = tokenizer or ChineseTokenizer()
        self.params = params or SearchParams()
        self._index: _Index | None = None
        self._lock = threading.Lock()

    def with_params(self, **changes: object) -> KnowledgeBase:
        """A copy with other parameters that shares the store and tokenizer (for evaluation)."""
        return KnowledgeBase(self.store, tokenizer=self.tokenizer, params=replace(self.params, **changes))  # type: ignore[arg-type]

    def _current(self) -> _Index | None:
        active = self.store.active_id()
        if active is None:
            return None
        index = self._index
        if index is not None and index.version.id == active and (index.bm25.k1, index.bm25.b) == (
            self.params.k1, self.params.b
        ):
            return index
        with self._lock:
            index = self._index
            if index is None or index.version.id != active or (index.bm25.k1, index.bm25.b) != (
                self.params.k1, self.params.b
            ):
                index = self._build(active)
                self._index = index
        return index

    def _build(self, version_id: str) -> _Index:
        info = self.store.version(version_id)
        if info is None:  # pragma: no cover - the registry always lists the active version
            raise LookupError(version_id)
        chunks = self.store.load_chunks(version_id)
        tokens = [self.tokenizer.tokens(c.index_text) for c in chunks]
        bm25 = BM25Index(tokens, k1=self.params.k1, b=self.params.b)
        logger.info("knowledge base %s loaded: %d chunks", version_id, len(chunks))
        return _Index(info, chunks, bm25, {c.chunk_id: i for i, c in enumerate(chunks)})

    def active_version(self) -> VersionInfo | None:
        """The version queries are answered from."""
        index = self._current()
        return index.version if index else None

    def warm_up(self) -> None:
        """Loads the active index and the tokenizer (and the embedding model when dense search is on)."""
        self.tokenizer.warm_up()
        self._current()

    def _dense(self, index: _Index, query: str, section: str | None) -> dict[int, float]:
        if not self.params.use_dense or self.params.dense_weight <= 0:
            return {}
        try:
            hits = self.store.dense_search(index.version.id, query, k=self.params.dense_candidates, section=section)
        except Exception:  # noqa: BLE001 - dense is the second voice: lexical still answers without it
            logger.exception("dense search failed; answering from lexical search only")
            return {}
        return {index.by_id[cid]: sim for cid, sim in hits if cid in index.by_id}

    def _rank(self, index: _Index, query: str, section: str | None) -> list[tuple[int, float, float]]:
        """(chunk index, fused score, coverage) for candidate chunks, best first."""
        q_tokens = self.tokenizer.tokens(query, query=True)
        lex = index.bm25.scores(q_tokens)
        allowed = np.ones(len(index.chunks), dtype=bool)
        if section is not None:
            allowed = np.array([c.section == section for c in index.chunks], dtype=bool)
        lex = np.where(allowed, lex, 0.0)
        top = float(lex.max()) if lex.size else 0.0
        dense = self._dense(index, query, section)
        candidates = set(np.flatnonzero(lex > 0).tolist()) | set(dense)
        if section is not None:
            candidates |= set(np.flatnonzero(allowed).tolist())
        ranked = []
        for i in candidates:
            lex_n = float(lex[i]) / top if top > 0 else 0.0
            score = lex_n + self.params.dense_weight * max(dense.get(i, 0.0), 0.0)
            ranked.append((i, score, index.bm25.coverage(q_tokens, i), float(lex[i])))
        ranked.sort(key=lambda r: (-r[1], r[0]))
        return [(i, s, cov) for i, s, cov, _ in ranked] if not ranked or self._on_topic(ranked) else []

    def _on_topic(self, ranked: list[tuple[int, float, float, float]]) -> bool:
        best_lex = max(r[3] for r in ranked[:5])
        best_cov = max(r[2] for r in ranked[:5])
        return best_cov >= self.params.min_coverage and best_lex >= self.params.min_score

    def search(self, query: str, *, k: int = 3, section: str | None = None, off_topic: bool = True) -> list[Passage]:
        """The k best passages (one per section), or [] when the guidance does not cover the question."""
        index = self._current()
        if index is None or not query.strip():
            return []
        if off_topic:
            ranked = self._rank(index, query, section)
        else:
            ranked = self._rank_all(index, query, section)
        out: list[Passage] = []
        seen: set[tuple[str, str]] = set()
        for i, score, _ in ranked:
            c = index.chunks[i]
            key = (c.doc_id, c.section)
            if key in seen:
                continue
            seen.add(key)
            out.append(Passage(c.section, c.section_title, c.doc_id, c.doc_title, score, c.text, c.chunk_id,
                               index.version.id))
            if len(out) >= k:
                break
        return out

    def _rank_all(self, index: _Index, query: str, section: str | None) -> list[tuple[int, float, float]]:
        saved = self.params
        self.params = replace(saved, min_coverage=0.0, min_score=0.0)
        try:
            return self._rank(index, query, section)
        finally:
            self.params = saved

    def has_section(self, section: str) -> bool:
        """Whether the active version contains that section id."""
        index = self._current()
        return bool(index) and any(c.section == section for c in index.chunks)  # type: ignore[union-attr]

    def section_title(self, section: str) -> str | None:
        """The title of a section in the active version."""
        index = self._current()
        if index is None:
            return None
        return next((c.section_title for c in index.chunks if c.section == section), None)

    def cite(self, section: str, query: str) -> Citation | None:
        """A verbatim quote of one or two sentences from `section` that best matches `query`."""
        index = self._current()
        if index is None:
            return None
        in_section = [i for i, c in enumerate(index.chunks) if c.section == section]
        if not in_section:
            return None
        q_tokens = set(self.tokenizer.tokens(query, query=True))
        best: tuple[float, int, str] | None = None
        for i in in_section:
            sentences = split_sentences(index.chunks[i].text)
            for j, sentence in enumerate(sentences):
                text = sentence.strip()
                if len(text) < 8:
                    continue
                # Short sentences read badly alone: pair them with the next one.
                if len(text) < 30 and j + 1 < len(sentences):
                    text = (sentence + sentences[j + 1]).strip()
                toks = set(self.tokenizer.tokens(text))
                weight = sum(index.bm25.idf(t) for t in q_tokens & toks)
                score = weight / (1.0 + 0.004 * len(text))
                if best is None or score > best[0]:
                    best = (score, i, text)
        if best is None:
            c = index.chunks[in_section[0]]
            text = c.text.strip()
        else:
            c, text = index.chunks[best[1]], best[2]
        return Citation(section, c.section_title, c.doc_id, text, index.version.id)
