"""Labelled questions: what people really asked, and which section answers it (or that none does).

`knowledge/questions/<set>.yaml` (each row `q`, `doc` (default: the article), `section` (null: nothing in the
guidance answers it), optional `also`) holds the questions the team and independent writers labelled. Search uses
them two ways, both by the character bigrams a question shares with them (no model, nothing to embed):

* a question worded like a labelled one is answered from that one's section — when that section is among the
  passages search found anyway (a labelled question about a section an updated guidance no longer has, or about a
  document not loaded, changes nothing);
* a question whose nearest labelled question is one labelled "not covered" ("企业微信一天能加多少好友") is refused
  unless the dense voice finds a passage clearly close to it (an uploaded document that does cover it).

The fitted search model (bot/knowledge/ranking.py) also reads them by meaning: `DenseLabels` holds their unit
vectors in the knowledge base's embedding model (kept in knowledge/question_vectors.npz, so nobody embeds 3,100
questions at start-up), and says how close a question is to the nearest labelled question of each section, to the
nearest one labelled "not covered" and to the nearest answered one — questions written by different people about
the same section are closer to each other than to the section's text.

A set can be left out (`without`) so that it is measured on a knowledge base that never saw it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.errors import ConfigError
from bot.labelled import load_sets, read_yaml, set_names

DEFAULT_QUESTIONS = Path(__file__).resolve().parent.parent.parent / "knowledge" / "questions"
DEFAULT_QUESTION_VECTORS = DEFAULT_QUESTIONS.parent / "question_vectors.npz"  # their e5 vectors (written by the fit)
ARTICLE_DOC = "private-domain-prework"
_NOISE_RE = re.compile(r"[\s\W_]+")


@dataclass(frozen=True)
class LabelledQuestion:
    """One question and the (document, section) that answers it; `section` None: nothing in the guidance does."""

    set: str
    q: str
    section: str | None
    doc: str = ARTICLE_DOC
    also: tuple[str, ...] = ()

    @property
    def answers(self) -> tuple[tuple[str, str], ...]:
        """The (document, section) pairs that answer it."""
        return tuple((self.doc, s) for s in (self.section, *self.also) if s) if self.section else ()

    def holds_for(self, documents: frozenset[str] | None) -> bool:
        """Whether the label is about a knowledge base of these documents. "Not covered" was judged against the
        article and the question's own document: it says nothing about a document uploaded since (which may cover
        it). A section label always holds (search only uses it when it finds that section)."""
        if self.section is not None or documents is None:
            return True
        return documents <= {ARTICLE_DOC, self.doc}


def bigram_vector(text: str) -> Counter[str]:
    """The character bigrams of a text (lower-cased, without spaces and punctuation), counted."""
    t = _NOISE_RE.sub("", text.lower())
    return Counter(t[i : i + 2] for i in range(len(t) - 1)) if len(t) > 1 else Counter(t)


@dataclass(frozen=True, eq=False)
class QuestionBank:
    """The labelled questions, indexed by character bigram."""

    rows: tuple[LabelledQuestion, ...] = ()
    _postings: dict[str, list[tuple[int, float]]] = field(init=False, repr=False)
    _last: tuple[str, dict[int, float]] | None = field(init=False, repr=False, default=None, compare=False)

    def __post_init__(self) -> None:
        postings: dict[str, list[tuple[int, float]]] = {}
        for i, row in enumerate(self.rows):
            v = bigram_vector(row.q)
            norm = math.sqrt(sum(c * c for c in v.values())) or 1.0
            for g, c in v.items():
                postings.setdefault(g, []).append((i, c / norm))
        object.__setattr__(self, "_postings", postings)

    @classmethod
    def load(cls, folder: Path = DEFAULT_QUESTIONS) -> QuestionBank:
        """Every `<set>.yaml` in `folder` (none: an empty bank)."""
        return cls(load_sets(folder, read_set))

    @property
    def sets(self) -> tuple[str, ...]:
        """The sets' names, in load order."""
        return set_names(self.rows)

    def without(self, *names: str) -> QuestionBank:
        """The bank minus some sets."""
        return QuestionBank(tuple(r for r in self.rows if r.set not in names))

    def _similarities(self, query: str) -> dict[int, float]:
        """Each labelled question sharing a bigram with `query`: its cosine similarity (by row). One search asks for
        them three times (the gate's two nearest labels, the candidates' labels): the last query's are kept."""
        last = self._last
        if last is not None and last[0] == query:
            return last[1]
        sims = self._compute_similarities(query)
        object.__setattr__(self, "_last", (query, sims))
        return sims

    def _compute_similarities(self, query: str) -> dict[int, float]:
        v = bigram_vector(query)
        norm = math.sqrt(sum(c * c for c in v.values()))
        if not norm:
            return {}
        sims: dict[int, float] = {}
        for g, c in v.items():
            for i, w in self._postings.get(g, ()):
                sims[i] = sims.get(i, 0.0) + w * c
        return {i: s / norm for i, s in sims.items()}

    def section_similarities(self, query: str) -> dict[tuple[str, str], float]:
        """Per (document, section): the similarity of the most similar labelled question it answers."""
        out: dict[tuple[str, str], float] = {}
        for i, s in self._similarities(query).items():
            for key in self.rows[i].answers:
                if s > out.get(key, 0.0):
                    out[key] = s
        return out

    def nearest(self, query: str, *, covered: bool | None = None,
                documents: frozenset[str] | None = None) -> tuple[float, LabelledQuestion | None]:
        """The labelled question most like `query` (cosine of character bigrams) and the similarity; `covered`
        True / False: among those with / without a section only; `documents`: only labels about a knowledge base of
        these documents (`LabelledQuestion.holds_for`)."""
        best, best_sim = None, 0.0
        for i, s in self._similarities(query).items():
            row = self.rows[i]
            if (covered is not None and (row.section is not None) != covered) or not row.holds_for(documents):
                continue
            if s > best_sim or (s == best_sim and best is not None and i < best):
                best, best_sim = i, s
        return (best_sim, self.rows[best]) if best is not None else (0.0, None)


class DenseLabels:
    """The labelled questions' unit vectors, one row per bank row: how like a question is to them by meaning."""

    def __init__(self, bank: QuestionBank, matrix: np.ndarray) -> None:
        if len(matrix) != len(bank.rows):
            raise ValueError(f"{len(matrix)} vectors for {len(bank.rows)} labelled questions")
        self.bank = bank
        self.matrix = matrix
        self._covered = np.array([r.section is not None for r in bank.rows], dtype=bool)
        self._by_answer: dict[tuple[str, str], np.ndarray] = {}
        for i, r in enumerate(bank.rows):
            for key in r.answers:
                self._by_answer.setdefault(key, np.zeros(len(bank.rows), dtype=bool))[i] = True
        self._holding: dict[frozenset[str] | None, np.ndarray] = {}

    def similarities(self, qv: np.ndarray) -> np.ndarray:
        """The cosine of a query's unit vector to every labelled question."""
        return (self.matrix @ qv).astype(np.float64) if len(self.matrix) else np.zeros(0)

    def _holds(self, documents: frozenset[str] | None) -> np.ndarray:
        found = self._holding.get(documents)
        if found is None:
            found = self._holding[documents] = np.array([r.holds_for(documents) for r in self.bank.rows], dtype=bool)
        return found

    def nearest(self, sims: np.ndarray, *, covered: bool, documents: frozenset[str] | None = None,
                holding: bool = True) -> float:
        """The highest similarity among labelled questions answered (`covered`) or "not covered"; `holding` False:
        among the "not covered" labels that do not hold for these documents (judged against other documents)."""
        mask = self._covered if covered else ~self._covered
        mask = mask & (self._holds(documents) if holding else ~self._holds(documents))
        return float(sims[mask].max()) if mask.any() else 0.0

    def section_similarities(self, sims: np.ndarray) -> dict[tuple[str, str], float]:
        """Per (document, section): the similarity of the most similar labelled question it answers."""
        return {key: float(sims[mask].max()) for key, mask in self._by_answer.items()}


def read_set(path: Path) -> Sequence[LabelledQuestion]:
    """The rows of one labelled set; a malformed row names the file and row."""
    raw = read_yaml(path) or []
    if not isinstance(raw, list):
        raise ConfigError(f"{path.name}: expected a list of labelled questions")
    out = []
    for i, row in enumerate(raw, 1):
        try:
            section = row.get("section")
            out.append(LabelledQuestion(path.stem, str(row["q"]), None if section is None else str(section),
                                        str(row.get("doc") or ARTICLE_DOC), tuple(map(str, row.get("also") or ()))))
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"{path.name} row {i}: {e!r}") from e
    return out
