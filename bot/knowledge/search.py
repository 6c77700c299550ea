"""Hybrid retrieval over the active version: jieba BM25 and dense e5 similarity, fused; off-topic refused.

A chunk's score is a weighted sum of normalised parts: BM25 over the chunk's words (section title + text), BM25
over its heading path, BM25 over character bigrams (each max-normalised), and the dense cosine similarity of the
question to the chunk (min-max normalised over the version). The dense voice reads Chinese, English and
everyday wording the guidance never uses; BM25 keeps exact terms (KPI, SOP, 0阶段) sharp. Before it is normalised,
the dense similarity is corrected for hubness: a chunk's mean similarity to everyday probe questions (a lead or a
summary resembles every question a little) is subtracted, so the section that answers the question comes first.

Whether the guidance covers a question at all is decided from two signals computed on the active version itself,
so they hold for any document an admin uploads:
* **dense margin**: the best chunk's similarity minus the mean best similarity of everyday probe questions
  (`lexicon.yaml`, nothing to do with any guidance) to the same version's chunks, in the question's script (e5
  rates a question in the passages' language higher) — calibrated per version;
* **topic evidence**: the *keyness* of the question's words — how much more often the version uses a word than
  general Chinese does (jieba's dictionary): 私域/竞品 are key, 企业/问题 are not, 天气 is absent;
* **vocabulary coverage**: the share of the question's content words (weighted by their rarity in general Chinese)
  that the version uses at all — a question on the guidance's topic about things it never mentions (a shop
  platform's back-office settings, beside a membership guide) is refused unless its dense margin is clear.
Weights and thresholds are measured with `python -m bench.retrieval_eval`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from bot.knowledge.chunking import Chunk, split_sentences
from bot.knowledge.lexical import BM25Index, ChineseTokenizer
from bot.knowledge.pinyin import Transcriber, looks_like_pinyin
from bot.knowledge.questions import DenseLabels, QuestionBank
from bot.knowledge.ranking import CANDIDATES, CoverageEvidence, SearchModel, SectionEvidence
from bot.knowledge.store import VersionInfo, VersionStore

if TYPE_CHECKING:
    from bot.knowledge.embeddings import TextVectors

logger = logging.getLogger(__name__)
RERANK_DEPTH = 3  # how deep among the passages a like-worded labelled question's section is looked for


@dataclass(frozen=True)
class SearchParams:
    """Tunable retrieval parameters (chosen with `python -m bench.retrieval_eval --grid` on the tuning sets)."""

    k1: float = 0.9
    b: float = 0.6
    title_weight: float = 0.3  # BM25 over the heading path
    bigram_weight: float = 0.2  # BM25 over character bigrams (built only when > 0)
    dense_weight: float = 1.0  # cosine similarity of the embedding model, normalised over the top `dense_depth`
    dense_depth: int = 0  # 0: min-max over every chunk; N: the N-th best chunk maps to 0 (sharper among the best)
    # Hubness reduction: a chunk's similarity to the question minus this times its mean similarity to everyday
    # probe questions (in the question's script). e5 rates a lead or a summary that touches everything close to any
    # question, above the section that answers it; the probes measure that pull on this version's own chunks.
    hub_weight: float = 1.0
    use_dense: bool = True
    use_lexical: bool = True
    # Off-topic: the best chunk's cosine similarity minus the mean best similarity of everyday probe questions in
    # the question's script to this version (the dense margin), together with the question's topic evidence.
    dense_margin_alone: float = 0.05  # answered on the dense voice alone at or above this margin
    dense_margin_min: float = 0.03  # never answered below this margin (but for strong evidence, below)
    min_evidence: float = 6.0  # between the two: answered when the topic evidence reaches this
    evidence_cap: float = 3.0  # no single word answers a question on its own
    lexical_min_evidence: float = 7.0  # without a dense voice (a version of another model), evidence alone decides
    # Vocabulary coverage: the share of the question's content words (weighted by how rare they are in general
    # Chinese) that this version uses. A question about a shop platform's back-office settings near a membership
    # guide is on its topic (high margin, key words) but asks about things it never mentions. Below `min_coverage`
    # a question is answered only on a clear dense margin (`coverage_margin`).
    min_coverage: float = 0.55
    coverage_margin: float = 0.05
    # Strong lexical evidence: a question made of the version's own key terms and nothing else ("战术勤奋、战略懒惰是
    # 什么意思") is answered on a smaller margin (a short definition question resembles no passage closely).
    strong_evidence: float = 10.0
    strong_coverage: float = 0.9
    strong_margin: float = 0.015
    coverage_idf_cap: float = 12.0  # a word jieba has never seen weighs like a rare one, not like ten
    # Labelled questions (knowledge/questions/): a question this close (cosine of character bigrams) to a labelled one
    # is answered from that one's section when search found it among the passages anyway (0: not used) ...
    question_match: float = 0.6
    # ... and one whose nearest labelled question is labelled "not covered", this close, is refused unless its dense
    # margin reaches `off_topic_margin` (a document that does cover it).
    off_topic_match: float = 0.4
    off_topic_margin: float = 0.08


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
    vectors: np.ndarray | None  # unit vectors of the chunks; None when the version was embedded by another model
    key: tuple[float, float, bool]  # the parameters the index was built with
    keyness: dict[str, float] = field(default_factory=dict)  # word → log-ratio of its use here vs general Chinese
    bigram_vocab: frozenset[str] = frozenset()  # every character bigram of the version's texts
    latin_share: float = 0.0  # share of the version's words written in Latin letters
    null: dict[str, tuple[float, float]] | None = None  # per script: mean, spread of the probes' best similarity
    hub: dict[str, np.ndarray] | None = None  # per script: every chunk's mean similarity to the probe questions
    # Per document: its chunks' positions and, per script, the probes' mean best similarity to that document alone.
    doc_null: dict[str, tuple[np.ndarray, dict[str, float]]] | None = None
    documents: frozenset[str] | None = None  # the version's document ids (computed on first use)
    pinyin: Transcriber | None = None  # pinyin read as the version's words (made on first use)

    def knows(self, word: str) -> bool:
        return word in self.body or word in self.titles


def _normalised(scores: np.ndarray) -> np.ndarray:
    top = float(scores.max()) if scores.size else 0.0
    return scores / top if top > 0 else scores


def _min_max(scores: np.ndarray, depth: int = 0) -> np.ndarray:
    """Scores scaled to 0–1: the best is 1, the lowest (or the `depth`-th best) and anything below it 0."""
    if not scores.size:
        return scores
    high = float(scores.max())
    low = float(scores.min()) if depth <= 0 or depth >= scores.size else float(np.partition(scores, -depth)[-depth])
    return np.clip((scores - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(scores)


class KnowledgeBase:
    """Searches the active knowledge-base version; notices a newly activated version on the next query."""

    def __init__(self, store: VersionStore, *, tokenizer: ChineseTokenizer | None = None,
                 params: SearchParams | None = None, probes: Sequence[str] | None = None,
                 questions: QuestionBank | None = None, model: SearchModel | None = None,
                 question_vectors: TextVectors | None = None) -> None:
        self.store = store
        self.questions = questions or QuestionBank()
        # The labelled questions' vectors in the store's model (knowledge/question_vectors.npz): the fitted model
        # reads how like a question is to them by meaning.
        self.question_vectors = question_vectors
        self._meaning: DenseLabels | None = None
        # The fitted gate and order of the candidate sections (bot/knowledge/ranking.py), used when the store's
        # embedding model is the one it was fitted for; otherwise the hand-set rules and the fused order.
        self.model = model
        self.tokenizer = tokenizer or ChineseTokenizer()
        self.params = params or SearchParams()
        self._probes = tuple(probes) if probes is not None else self.tokenizer.lexicon.probes
        self._probe_vectors: np.ndarray | None = None
        self._index: _Index | None = None
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def with_params(self, **changes: object) -> KnowledgeBase:
        """A copy with other parameters that shares the store, the tokenizer and (when k1/b agree) the index."""
        kb = KnowledgeBase(self.store, tokenizer=self.tokenizer, params=replace(self.params, **changes),  # type: ignore[arg-type]
                           probes=self._probes, questions=self.questions, model=self.model,
                           question_vectors=self.question_vectors)
        kb._index = self._index
        kb._probe_vectors = self._probe_vectors
        kb._meaning = self._meaning
        return kb

    def with_questions(self, questions: QuestionBank) -> KnowledgeBase:
        """A copy with other labelled questions (sharing the store, the tokenizer and the index)."""
        kb = self.with_params()
        kb.questions = questions
        return kb

    def with_model(self, model: SearchModel | None) -> KnowledgeBase:
        """A copy with another fitted search model, or none (sharing the store, the tokenizer and the index)."""
        kb = self.with_params()
        kb.model = model
        return kb

    def _fitted(self) -> SearchModel | None:
        """The search model, if it was fitted for the store's embedding model (its cosine features are that model's)."""
        model = self.model
        if model is not None and not self.questions.rows:
            if "questions" not in self._warned:  # its features read the labelled questions: without them, the rules
                self._warned.add("questions")
                logger.warning("no labelled questions: the search model is not used, the hand-set rules are")
            return None
        if model is None or model.model_id != self.store.model_id:
            if model is not None and "model" not in self._warned:
                self._warned.add("model")
                logger.warning("the search model was fitted for %s, not %s: using the hand-set rules",
                               model.model_id, self.store.model_id)
            return None
        return model

    def _labels_by_meaning(self) -> DenseLabels | None:
        """The labelled questions' vectors (None without any); texts the vector file lacks are embedded once."""
        if self.question_vectors is None or not self.questions.rows:
            return None
        found = self._meaning
        if found is None or found.bank is not self.questions:
            matrix = self.question_vectors.matrix([r.q for r in self.questions.rows])
            try:
                self.question_vectors.save()
            except OSError as e:  # a read-only KNOWLEDGE_DIR: they are embedded again next start
                logger.warning("cannot keep the labelled questions' vectors (%s)", e)
            found = self._meaning = DenseLabels(self.questions, matrix)
        return found

    def _meanings(self, qv: np.ndarray | None) -> tuple[DenseLabels, np.ndarray] | None:
        """The labelled questions by meaning and the query's cosine to each (None: no vectors)."""
        labels = self._labels_by_meaning() if qv is not None else None
        return (labels, labels.similarities(qv)) if labels is not None and qv is not None else None

    def coverage_evidence(self, query: str) -> CoverageEvidence | None:
        """What the gate reads of a question (None: no dense voice, so the gate cannot judge it)."""
        index = self._current()
        if index is None or not query.strip() or not index.chunks:
            return None
        query = self._readable(index, query)
        qv = self._query_vector(index, query)
        if qv is None:
            return None
        meanings = self._meanings(qv)
        cands = self._candidates(index, query, self._parts(index, query, qv, None), meanings=meanings)
        return self._coverage_evidence(index, query, qv, cands, meanings)

    def _readable(self, index: _Index, query: str) -> str:
        """The query with toneless pinyin read as the version's words (jieba's, as BM25 indexes them)."""
        if not looks_like_pinyin(query):
            return query
        if index.pinyin is None:
            vocab = index.body.vocab
            index.pinyin = Transcriber(words={w: int(index.body.df[i]) for w, i in vocab.items()})
        return index.pinyin.transcribe(query)

    @staticmethod
    def _documents(index: _Index) -> frozenset[str]:
        """The documents of the version."""
        if index.documents is None:
            index.documents = frozenset(c.doc_id for c in index.chunks)
        return index.documents

    def _coverage_evidence(self, index: _Index, query: str, qv: np.ndarray, cands: Sequence[SectionEvidence],
                           meanings: tuple[DenseLabels, np.ndarray] | None = None) -> CoverageEvidence:
        documents = self._documents(index)
        like_not, _ = self.questions.nearest(query, covered=False, documents=documents)
        like, _ = self.questions.nearest(query, covered=True)
        meant = (0.0, 0.0, 0.0)
        if meanings is not None:
            labels, sims = meanings
            meant = (labels.nearest(sims, covered=False, documents=documents), labels.nearest(sims, covered=True),
                     labels.nearest(sims, covered=False, documents=documents, holding=False))
        return CoverageEvidence(self._margin(index, query, qv) or 0.0, self._evidence(index, query),
                                self._coverage(index, query), like_not, like, _script(query) == "en",
                                tuple(cands[:CANDIDATES]), *meant)

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
                reuse = index if index is not None and index.version.id == active else None
                index = self._build(active, reuse)
                self._index = index
        return index

    def _build(self, version_id: str, reuse: _Index | None = None) -> _Index:
        info = self.store.version(version_id)
        if info is None:  # pragma: no cover - the registry always lists the active version
            raise LookupError(version_id)
        if reuse is not None:
            chunks, vectors = reuse.chunks, reuse.vectors
        else:
            mismatch = self.store.model_mismatch(info)
            if mismatch and version_id not in self._warned:
                self._warned.add(version_id)
                logger.warning(mismatch)
            chunks, vectors = self.store.load(version_id, vectors=mismatch is None)
        tk, p = self.tokenizer, self.params
        words = [tk.words(c.index_text) for c in chunks]
        body = BM25Index(words, k1=p.k1, b=p.b)
        title_words: dict[str, list[str]] = {}  # the chunks of a section share its headings: cut them once
        for c in chunks:
            if c.title_text not in title_words:
                title_words[c.title_text] = tk.words(c.title_text)
        titles = BM25Index([title_words[c.title_text] for c in chunks], k1=p.k1, b=p.b)
        bigrams = None
        if p.bigram_weight > 0:
            bigrams = BM25Index([tk.bigrams(f"{c.title_text}\n{c.text}") for c in chunks], k1=p.k1, b=p.b)
        keyness = reuse.keyness if reuse is not None else self._keyness(words)
        null = reuse.null if reuse is not None else None
        hub = reuse.hub if reuse is not None else None
        doc_null = reuse.doc_null if reuse is not None else None
        if reuse is not None:
            bigram_vocab, latin_share = reuse.bigram_vocab, reuse.latin_share
        else:
            bigram_vocab = frozenset(bigrams.vocab) if bigrams is not None else frozenset(
                g for c in chunks for g in tk.bigrams(f"{c.title_text}\n{c.text}"))
            n_words = sum(len(ws) for ws in words)
            latin_share = sum(1 for ws in words for w in ws if _LATIN_WORD_RE.match(w)) / max(n_words, 1)
        logger.info("knowledge base %s loaded: %d chunks", version_id, len(chunks))
        return _Index(info, chunks, body, titles, bigrams, {c.chunk_id: i for i, c in enumerate(chunks)},
                      np.array([c.section for c in chunks], dtype=object), vectors,
                      (p.k1, p.b, bigrams is not None), keyness, bigram_vocab, latin_share, null, hub, doc_null)

    def _keyness(self, words: Sequence[Sequence[str]]) -> dict[str, float]:
        """log(share of the word in this version / share in general Chinese), for the version's words."""
        counts: dict[str, int] = {}
        for ws in words:
            for w in ws:
                counts[w] = counts.get(w, 0) + 1
        total = max(sum(counts.values()), 1)
        tk = self.tokenizer
        return {w: math.log((n / total) / tk.background_share(w)) for w, n in counts.items()}

    def _null(self, index: _Index, script: str) -> tuple[float, float] | None:
        """Mean and spread of the best similarity of everyday probe questions in the question's script ("zh" or
        "en") to this version, computed once per version: e5 scores a question in the passages' language higher."""
        if index.vectors is None or not self._probes:
            return None
        self._calibrate(index)
        return index.null.get(script) if index.null is not None else None

    def _hub(self, index: _Index, script: str) -> np.ndarray | None:
        """Every chunk's mean similarity to the everyday probe questions in the question's script: how much a chunk
        resembles any question at all (a lead or a summary that touches everything does)."""
        if index.vectors is None or not self._probes:
            return None
        self._calibrate(index)
        return index.hub.get(script) if index.hub is not None else None

    def _calibrate(self, index: _Index) -> None:
        """The probes' similarities to this version, once per version: the null of the dense margin and the hubs."""
        if index.vectors is None:
            return
        if index.null is None or index.hub is None or index.doc_null is None:
            if self._probe_vectors is None:
                embed_many = getattr(self.store.embeddings, "embed_queries", None)
                rows = embed_many(list(self._probes)) if callable(embed_many) else [
                    self.store.embeddings.embed_query(q) for q in self._probes]
                self._probe_vectors = _unit(np.asarray(rows, dtype=np.float32))
            sims = self._probe_vectors @ index.vectors.T
            best = sims.max(axis=1)
            scripts = np.array([_script(q) for q in self._probes])
            null: dict[str, tuple[float, float]] = {}
            hub: dict[str, np.ndarray] = {}
            for name in ("zh", "en"):
                mask = scripts == name if (scripts == name).sum() >= 3 else np.ones(len(scripts), dtype=bool)
                values = best[mask]
                null[name] = (float(values.mean()), max(float(values.std()), 0.01))
                hub[name] = sims[mask].mean(axis=0).astype(np.float64)
            docs = np.array([c.doc_id for c in index.chunks], dtype=object)
            doc_null: dict[str, tuple[np.ndarray, dict[str, float]]] = {}
            for doc in dict.fromkeys(docs.tolist()):
                rows = np.flatnonzero(docs == doc)
                doc_best = sims[:, rows].max(axis=1)
                doc_null[doc] = (rows, {name: float(doc_best[scripts == name].mean()) if (scripts == name).sum() >= 3
                                        else float(doc_best.mean()) for name in ("zh", "en")})
            index.null, index.hub, index.doc_null = null, hub, doc_null

    def active_version(self) -> VersionInfo | None:
        """The version queries are answered from."""
        index = self._current()
        return index.version if index else None

    def active_version_id(self) -> str | None:
        """The id of the version queries are answered from."""
        version = self.active_version()
        return version.id if version else None

    def warm_up(self) -> None:
        """Loads the tokenizer, the active index and the embedding model, and calibrates the off-topic signal."""
        self.tokenizer.warm_up()
        index = self._current()
        if index is not None and self.params.use_dense and index.vectors is not None:
            self._null(index, "zh")

    def _query_vector(self, index: _Index, query: str) -> np.ndarray | None:
        if not self.params.use_dense or index.vectors is None:
            return None
        try:
            return _unit(np.asarray(self.store.embeddings.embed_query(query), dtype=np.float32))
        except Exception:  # noqa: BLE001 - dense is one voice: lexical still answers without it
            logger.exception("embedding the query failed; answering from lexical search only")
            return None

    def evidence(self, query: str) -> float:
        """Topic evidence of a question against the active version (compare with `params.min_evidence`)."""
        index = self._current()
        return self._evidence(index, self._readable(index, query)) if index else 0.0

    def _evidence(self, index: _Index, query: str) -> float:
        p, tk = self.params, self.tokenizer
        total = 0.0
        seen: set[str] = set()
        for word, terms in tk.query_words(query):
            if word in seen:
                continue
            seen.add(word)
            # An everyday word counts through the guidance's term for it, but never as more than the term.
            key = max([index.keyness.get(t, 0.0) for t in (word, *terms)])
            total += min(max(key, 0.0), p.evidence_cap)
        return total

    def coverage(self, query: str) -> float:
        """Vocabulary coverage of a question by the active version (compare with `params.min_coverage`)."""
        index = self._current()
        return self._coverage(index, self._readable(index, query)) if index else 0.0

    def _coverage(self, index: _Index, query: str) -> float:
        """The share of the question's content words this version uses, each weighted by its rarity in general
        Chinese (capped): a word counts as used when the version has it, the guidance's term for it, or every one of
        its character bigrams (jieba cuts a phrase differently in a question and in a text). Single characters
        carry little, and Latin words count only in a version that writes a fair share of them (an English
        document): in a Chinese one, an English word says nothing about whether the text covers it."""
        tk, p = self.tokenizer, self.params
        known = unknown = 0.0
        seen: set[str] = set()
        for word, terms in tk.query_words(query):
            if word in seen or len(word) < 2 or word.isdigit():
                continue
            seen.add(word)
            if _LATIN_WORD_RE.match(word) and index.latin_share < _LATIN_SHARE_MIN:
                continue
            weight = min(tk.background_idf(word), p.coverage_idf_cap)
            pairs = tk.bigrams(word)
            used = (index.knows(word) or any(index.knows(t) for t in terms)
                    or (bool(pairs) and all(g in index.bigram_vocab for g in pairs)))
            if used:
                known += weight
            else:
                unknown += weight
        return known / (known + unknown) if known + unknown > 0 else 1.0

    def _margin(self, index: _Index, query: str, qv: np.ndarray) -> float | None:
        """The dense margin: how much closer the question is to some document than everyday questions are to that
        same document, at its best (each document calibrated on its own: an uploaded document whose passages resemble
        any question less than the article's do is not held to the article's level)."""
        if index.vectors is None or self._null(index, _script(query)) is None or index.doc_null is None:
            return None
        sims = index.vectors @ qv
        script = _script(query)
        return max(float(sims[rows].max()) - null[script] for rows, null in index.doc_null.values())

    def _covered(self, index: _Index, query: str, qv: np.ndarray | None) -> bool:
        p = self.params
        evidence = self._evidence(index, query)
        margin = None if qv is None else self._margin(index, query, qv)
        if p.off_topic_match:
            similarity, nearest = self.questions.nearest(query, documents=self._documents(index))
            if (nearest is not None and nearest.section is None and similarity >= p.off_topic_match
                    and (margin is None or margin < p.off_topic_margin)):
                return False  # asked like a question labelled "not covered", and no passage is clearly close
        if margin is None:  # no dense voice: topic evidence alone decides
            return evidence >= p.lexical_min_evidence
        if margin < p.coverage_margin and self._coverage(index, query) < p.min_coverage:
            return False
        if margin >= p.dense_margin_alone:
            return True
        if _script(query) == "en":
            # The lexical index reads Chinese words only: for an English question there is no evidence to wait for.
            return margin >= p.dense_margin_min
        if margin >= p.dense_margin_min and evidence >= p.min_evidence:
            return True
        return (margin >= p.strong_margin and evidence >= p.strong_evidence
                and self._coverage(index, query) >= p.strong_coverage)

    def _parts(self, index: _Index, query: str, qv: np.ndarray | None, section: str | None) -> dict[str, np.ndarray]:
        """Every voice's score of every chunk (0 outside the section filter), and their weighted sum "fused"."""
        p = self.params
        n = len(index.chunks)
        mask = None if section is None else (index.sections == section)

        def part(scores: np.ndarray) -> np.ndarray:
            return _normalised(scores if mask is None else np.where(mask, scores, 0.0))

        zero = np.zeros(n, dtype=np.float64)
        parts = {"words": zero, "headings": zero, "bigrams": zero, "dense": zero, "cosine": zero, "adjusted": zero}
        if p.use_lexical:
            words = self.tokenizer.tokens(query, query=True)
            parts["words"] = part(index.body.scores(words))
            if p.title_weight:
                parts["headings"] = part(index.titles.scores(words))
            if p.bigram_weight and index.bigrams is not None:
                parts["bigrams"] = part(index.bigrams.scores(self.tokenizer.bigrams(query)))
        if qv is not None and index.vectors is not None and p.dense_weight:
            sims = (index.vectors @ qv).astype(np.float64)
            parts["cosine"] = sims
            hub = self._hub(index, _script(query)) if p.hub_weight else None
            if hub is not None:
                sims = sims - p.hub_weight * hub
            parts["adjusted"] = sims
            dense = _min_max(sims, p.dense_depth)
            parts["dense"] = dense if mask is None else np.where(mask, dense, 0.0)
        parts["fused"] = (parts["words"] + p.title_weight * parts["headings"] + p.bigram_weight * parts["bigrams"]
                          + p.dense_weight * parts["dense"])
        return parts

    def _scores(self, index: _Index, query: str, qv: np.ndarray | None, section: str | None) -> np.ndarray:
        """Fused score of every chunk (0 for chunks outside the section filter)."""
        return self._parts(index, query, qv, section)["fused"]

    def _candidates(self, index: _Index, query: str, parts: dict[str, np.ndarray], n: int = CANDIDATES, *,
                    meanings: tuple[DenseLabels, np.ndarray] | None = None) -> list[SectionEvidence]:
        fused = parts["fused"]
        pool = np.flatnonzero(fused > 0)
        depth = 8 * n
        if len(pool) > depth:  # the best chunks hold the best sections (and their best values)
            pool = pool[np.argpartition(-fused[pool], depth - 1)[:depth]]
        best: dict[tuple[str, str], dict[str, float]] = {}
        for i in sorted(pool.tolist(), key=lambda i: (-fused[i], i)):
            c = index.chunks[i]
            values = best.get((c.doc_id, c.section))
            if values is None:
                best[(c.doc_id, c.section)] = {"chunk": i, **{k: float(v[i]) for k, v in parts.items()}}
            else:
                for k, v in parts.items():
                    values[k] = max(values[k], float(v[i]))
        labelled = self.questions.section_similarities(query) if self.questions.rows else {}
        meant = meanings[0].section_similarities(meanings[1]) if meanings is not None else {}
        return [SectionEvidence(doc, section, int(v["chunk"]), v["fused"], v["words"], v["headings"], v["bigrams"],
                                v["dense"], v["cosine"], v["adjusted"], labelled.get((doc, section), 0.0),
                                meant.get((doc, section), 0.0))
                for (doc, section), v in list(best.items())[:n]]

    def search(self, query: str, *, k: int = 3, section: str | None = None, off_topic: bool = True) -> list[Passage]:
        """The k best passages (one per section), or [] when the guidance does not cover the question."""
        index = self._current()
        if index is None or not query.strip() or not index.chunks:
            return []
        query = self._readable(index, query)
        qv = self._query_vector(index, query)
        model = self._fitted()
        if model is not None and qv is not None:
            meanings = self._meanings(qv)
            cands = self._candidates(index, query, self._parts(index, query, qv, None), max(k, CANDIDATES),
                                     meanings=meanings)
            if off_topic and not model.gate.answers(self._coverage_evidence(index, query, qv, cands, meanings)):
                return []
            if section is None:
                return [self._passage(index, c.chunk, c.fused) for c in model.ranker.order(cands)[:k]]
        elif off_topic and not self._covered(index, query, qv):
            return []
        scores = self._scores(index, query, qv, section)
        wanted = max(k, RERANK_DEPTH)  # a labelled question's section may come first if it is among these
        # Within a section every chunk is a candidate (callers asking for a section want a passage from it).
        candidates = np.flatnonzero(index.sections == section) if section is not None else np.flatnonzero(scores > 0)
        # Enough candidates to fill k distinct sections without sorting every chunk of a large corpus.
        n = max(8 * wanted, 32)
        if len(candidates) > n:
            top = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
            if len({index.chunks[i].section for i in top.tolist()}) < wanted:
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
            out.append(self._passage(index, i, float(scores[i])))
            if len(out) >= wanted:
                break
        return self._as_labelled(query, out)[:k]

    @staticmethod
    def _passage(index: _Index, i: int, score: float) -> Passage:
        c = index.chunks[i]
        return Passage(c.section, c.section_title, c.doc_id, c.doc_title, score, c.text, c.chunk_id, index.version.id)

    def _as_labelled(self, query: str, passages: list[Passage]) -> list[Passage]:
        """The passages, the one a like-worded labelled question is answered by first (if search found it)."""
        if not self.params.question_match or len(passages) < 2:
            return passages
        similarity, nearest = self.questions.nearest(query, covered=True)
        if nearest is None or similarity < self.params.question_match:
            return passages
        answers = set(nearest.answers)
        i = next((i for i, p in enumerate(passages) if (p.doc, p.section) in answers), 0)
        return [passages[i], *passages[:i], *passages[i + 1 :]]

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

    def still_cites(self, section: str, quote: str) -> bool:
        """Whether the active version still has `quote`, word for word, in `section` (spacing ignored)."""
        index = self._current()
        if index is None:
            return False
        wanted = _squash(quote)
        texts = [_squash(c.text) for c in index.chunks if c.section == section]
        return bool(wanted) and (any(wanted in t for t in texts) or wanted in "".join(texts))

    def cite(self, section: str, query: str) -> Citation | None:
        """A verbatim quote of one or two sentences from `section` that best matches `query`."""
        index = self._current()
        if index is None:
            return None
        in_section = [i for i, c in enumerate(index.chunks) if c.section == section]
        if not in_section:
            return None
        query = self._readable(index, query)
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


def _squash(text: str) -> str:
    """Text without whitespace, to compare quotes across re-chunking."""
    return "".join(text.split())


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows (or a vector) scaled to length 1."""
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 0, norm, 1.0)


_CJK_RE = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD_RE = re.compile(r"^[a-z][a-z0-9'._+-]*$")
# Latin words count towards vocabulary coverage only in a version where at least this share of words are Latin
# (an English or bilingual document; the Chinese article's KPI, SOP, SCRM are ~1% of its words).
_LATIN_SHARE_MIN = 0.2
_LETTER_RE = re.compile(r"[A-Za-z]")


def _script(text: str) -> str:
    """"zh" when the text is mostly Chinese characters, else "en" (pinyin and English alike)."""
    cjk = len(_CJK_RE.findall(text))
    return "zh" if cjk and cjk * 3 >= len(_LETTER_RE.findall(text)) else "en"
