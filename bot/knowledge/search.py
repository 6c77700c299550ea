"""Hybrid retrieval over the active version: jieba BM25 first-class, dense (Chroma) as a weighted second voice.

A chunk's score is a weighted sum of max-normalised parts: BM25 over the chunk's words (section title + text),
BM25 over its heading path (the titles name what a section is about), BM25 over character bigrams, and the dense
cosine similarity. A question is answered only when its words carry enough *topic evidence*: the general-language
rarity (`ChineseTokenizer.background_idf`) of every query word the guidance contains, above a floor, so that
企业/公司/问题 count for nothing, 私域/竞品/割韭菜 count a lot, and words the guidance never uses (天气, 红烧肉)
count for nothing either. Weights and thresholds are measured with `python -m bench.retrieval_eval`.
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
    """Tunable retrieval parameters, chosen on tune + holdout jointly (52 + 120 questions in bench/data/).

    Measured with these defaults (MiniLM at 64 word pieces, 400-character chunks), `python -m bench.retrieval_eval
    --set tune|holdout|holdout2` — hit@1 / hit@3 / MRR / in-scope answered / off-topic refused:
    tune (40 + 12) 0.975 / 1.000 / 0.988 / 1.000 / 1.000; holdout (90 + 30) 0.867 / 0.956 / 0.907 / 0.978 / 0.900;
    holdout2 (90 + 30, written independently and run once after tuning) 0.822 / 0.956 / 0.880 / 0.967 / 0.900.
    On tune + holdout (`--grid`) hit@1 sits on a flat plateau of 0.89–0.91 for k1 0.9–1.5, b 0.75–1.0 (strong length
    normalisation: short chapter intros otherwise lose to long sections), heading-path weight 0.2–0.3, bigrams 0–0.1
    and dense 0–0.2; the chosen point is in its middle. The gains came from vocabulary (stopwords for fillers such as
    或者/大多数/具体/必要, everyday synonyms), not from the weights. MiniLM alone scores hit@1 0.08–0.27 on Chinese, so
    the dense voice keeps a small weight.
    Off-topic rule: with generic words (background IDF < 8: 企业, 公司, 问题, 方面) counting for nothing, in-scope
    questions carry ≥ 7.5 evidence except two of 130 (0阶段是什么意思 6.7), and off-topic ones ≤ 6.7 except the three
    that name the article's channels (企业微信/视频号/公众号 + how-to) at ~8; a question of generic words only
    (企业 公司 问题 方面 准备 目标) scores 4.8.
    """

    k1: float = 1.2
    b: float = 0.9
    title_weight: float = 0.3  # BM25 over the heading path
    bigram_weight: float = 0.1  # BM25 over character bigrams (built only when > 0)
    dense_weight: float = 0.05  # cosine similarity of the embedding model
    dense_candidates: int = 20
    evidence_min_rarity: float = 8.0  # words more common than this in general Chinese are no evidence at all
    evidence_floor: float = 6.0  # a word's evidence is its background IDF above this (准备 8.2 → 2.2, 私域 17.9 → cap)
    evidence_cap: float = 4.0  # no single word answers a question on its own
    min_evidence: float = 7.0  # topic evidence a question needs to be answered
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
    body: BM25Index
    titles: BM25Index
    bigrams: BM25Index | None
    by_id: dict[str, int]
    sections: np.ndarray  # section id of every chunk, for the section filter
    key: tuple[float, float, bool]  # the parameters the index was built with

    def knows(self, word: str) -> bool:
        return word in self.body or word in self.titles


def _normalised(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else scores


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
        """A copy with other parameters that shares the store, the tokenizer and (when k1/b agree) the index."""
        kb = KnowledgeBase(self.store, tokenizer=self.tokenizer, params=replace(self.params, **changes))  # type: ignore[arg-type]
        kb._index = self._index
        return kb

    def _current(self) -> _Index | None:
        active = self.store.active_id()
        if active is None:
            return None
        wanted = (self.params.k1, self.params.b, self.params.bigram_weight > 0)
        index = self._index
        if index is not None and index.version.id == active and index.key == wanted:
            return index
        with self._lock:
            index = self._index
            if index is None or index.version.id != active or index.key != wanted:
                index = self._build(active)
                self._index = index
        return index

    def _build(self, version_id: str) -> _Index:
        info = self.store.version(version_id)
        if info is None:  # pragma: no cover - the registry always lists the active version
            raise LookupError(version_id)
        chunks = self.store.load_chunks(version_id)
        tk, p = self.tokenizer, self.params
        body = BM25Index([tk.words(c.index_text) for c in chunks], k1=p.k1, b=p.b)
        title_words: dict[str, list[str]] = {}  # the chunks of a section share its headings: cut them once
        for c in chunks:
            if c.title_text not in title_words:
                title_words[c.title_text] = tk.words(c.title_text)
        titles = BM25Index([title_words[c.title_text] for c in chunks], k1=p.k1, b=p.b)
        bigrams = None
        if p.bigram_weight > 0:
            bigrams = BM25Index([tk.bigrams(f"{c.title_text}\n{c.text}") for c in chunks], k1=p.k1, b=p.b)
        logger.info("knowledge base %s loaded: %d chunks", version_id, len(chunks))
        return _Index(info, chunks, body, titles, bigrams, {c.chunk_id: i for i, c in enumerate(chunks)},
                      np.array([c.section for c in chunks], dtype=object), (p.k1, p.b, bigrams is not None))

    def active_version(self) -> VersionInfo | None:
        """The version queries are answered from."""
        index = self._current()
        return index.version if index else None

    def warm_up(self) -> None:
        """Loads the active index and the tokenizer (and the embedding model when dense search is on)."""
        self.tokenizer.warm_up()
        self._current()
        warm = getattr(self.store.embeddings, "warm_up", None)
        if self.params.use_dense and self.params.dense_weight > 0 and callable(warm):
            warm()

    def _dense(self, index: _Index, query: str, section: str | None) -> dict[int, float]:
        if not self.params.use_dense or self.params.dense_weight <= 0:
            return {}
        try:
            hits = self.store.dense_search(index.version.id, query, k=self.params.dense_candidates, section=section)
        except Exception:  # noqa: BLE001 - dense is the second voice: lexical still answers without it
            logger.exception("dense search failed; answering from lexical search only")
            return {}
        return {index.by_id[cid]: sim for cid, sim in hits if cid in index.by_id}

    def evidence(self, query: str) -> float:
        """Topic evidence of a question against the active version (compare with `params.min_evidence`)."""
        index = self._current()
        return self._evidence(index, query) if index else 0.0

    def _evidence(self, index: _Index, query: str) -> float:
        p, tk = self.params, self.tokenizer
        total = 0.0
        seen: set[str] = set()
        for word, terms in tk.query_words(query):
            if word in seen:
                continue
            seen.add(word)
            rarity = tk.background_idf(word)
            if not index.knows(word):
                # An everyday word counts through the article's term for it, but never as more than itself.
                known = [tk.background_idf(t) for t in terms if index.knows(t)]
                if not known:
                    continue
                rarity = min(rarity, max(known))
            if rarity >= p.evidence_min_rarity:  # 企业 7.5, 公司 7.2, 问题 7.0, 方面 7.7 count for nothing
                total += min(rarity - p.evidence_floor, p.evidence_cap)
        return total

    def _scores(self, index: _Index, query: str, section: str | None) -> np.ndarray:
        """Fused score of every chunk (0 for chunks outside the section filter)."""
        p = self.params
        words = self.tokenizer.tokens(query, query=True)
        mask = None if section is None else (index.sections == section)

        def part(scores: np.ndarray) -> np.ndarray:
            return _normalised(scores if mask is None else np.where(mask, scores, 0.0))

        fused = part(index.body.scores(words))
        if p.title_weight:
            fused = fused + p.title_weight * part(index.titles.scores(words))
        if p.bigram_weight and index.bigrams is not None:
            fused = fused + p.bigram_weight * part(index.bigrams.scores(self.tokenizer.bigrams(query)))
        if p.dense_weight and p.use_dense:
            for i, sim in self._dense(index, query, section).items():
                if mask is None or mask[i]:
                    fused[i] += p.dense_weight * max(sim, 0.0)
        return fused

    def search(self, query: str, *, k: int = 3, section: str | None = None, off_topic: bool = True) -> list[Passage]:
        """The k best passages (one per section), or [] when the guidance does not cover the question."""
        index = self._current()
        if index is None or not query.strip() or not index.chunks:
            return []
        if off_topic and self._evidence(index, query) < self.params.min_evidence:
            return []
        scores = self._scores(index, query, section)
        # Within a section every chunk is a candidate (callers asking for a section want a passage from it).
        candidates = np.flatnonzero(index.sections == section) if section is not None else np.flatnonzero(scores > 0)
        # Enough candidates to fill k distinct sections without sorting every chunk of a large corpus.
        n = max(8 * k, 32)
        if len(candidates) > n:
            top = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
            if len({index.chunks[i].section for i in top.tolist()}) < k:
                top = candidates
        else:
            top = candidates
        order = sorted(top.tolist(), key=lambda i: (-scores[i], i))
        out: list[Passage] = []
        seen: set[tuple[str, str]] = set()
        for i in order:
            c = index.chunks[i]
            key = (c.doc_id, c.section)
            if key in seen:
                continue
            seen.add(key)
            out.append(Passage(c.section, c.section_title, c.doc_id, c.doc_title, float(scores[i]), c.text,
                               c.chunk_id, index.version.id))
            if len(out) >= k:
                break
        return out

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
                toks = set(self.tokenizer.words(text))
                weight = sum(index.body.idf(t) for t in q_tokens & toks)
                score = weight / (1.0 + 0.004 * len(text))
                if best is None or score > best[0]:
                    best = (score, i, text)
        if best is None:
            c = index.chunks[in_section[0]]
            text = c.text.strip()
        else:
            c, text = index.chunks[best[1]], best[2]
        return Citation(section, c.section_title, c.doc_id, text, index.version.id)
