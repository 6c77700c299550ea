"""Chinese lexical search: jieba words with a domain dictionary and synonyms, character bigrams, BM25.

Three things make plain jieba BM25 work on everyday questions about the guidance (the word lists are data, in
`knowledge/lexicon.yaml` under `search:`):

* a domain dictionary, so the article's terms (私域, 竞品, 用户画像 …) stay whole words;
* synonyms on the query side: the everyday word people type (同行, 摸底, 栽跟头, 客户) also searches for the
  article's term (竞品, 调研, 失败, 用户); the original word is kept, so it still counts where the article uses it;
* character bigrams next to the words, so a word jieba cuts differently in the question and in the text still meets.

The same tokenizer tells domain words from everyday ones for the off-topic rule: `background_share` is a word's
share of general Chinese in jieba's dictionary (企业, 公司 and 问题 are common; 私域 and 竞品 are not in it at all).
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from bot.errors import GuidanceError

logger = logging.getLogger(__name__)

# A character bigram made only of these characters says nothing about the topic.
_BIGRAM_STOP_CHARS = frozenset("的了是在和与及或也都就而并但又很更最把被让给对从向到为以于之其这那我你他她它们么吗呢吧啊呀个些有没不要会能")
_CJK_RUN_RE = re.compile(r"[\u3400-\u9fff]+")
_TOKEN_CLEAN_RE = re.compile(r"^[\W_]+$")


def normalise(text: str) -> str:
    """NFKC (full-width → half-width) and lower case, so 'ＫＰＩ', 'KPI' and 'kpi' are one word."""
    return unicodedata.normalize("NFKC", text).lower()



DEFAULT_LEXICON = Path(__file__).resolve().parent.parent.parent / "knowledge" / "lexicon.yaml"


def _invert(groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for term, words in groups.items():
        for word in words:
            out.setdefault(normalise(word), []).append(normalise(term))
    return {w: tuple(dict.fromkeys(t for t in terms if t != w)) for w, terms in out.items()}


@dataclass(frozen=True)
class SearchLexicon:
    """The `search:` part of knowledge/lexicon.yaml: domain words, synonyms, stopwords, off-topic probes."""

    domain_words: tuple[str, ...] = ()
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # term → everyday words for it
    stopwords: frozenset[str] = frozenset()
    probes: tuple[str, ...] = ()

    @property
    def synonyms(self) -> dict[str, tuple[str, ...]]:
        """Everyday word → the guidance's terms it also searches for."""
        return _invert(self.groups)

    @classmethod
    def load(cls, path: Path | None = None) -> SearchLexicon:
        """Reads the `search:` mapping of a lexicon file (GuidanceError naming the file when it is malformed)."""
        path = path or DEFAULT_LEXICON
        try:
            data = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("search") or {}
            return cls(
                domain_words=tuple(str(w) for w in data.get("domain_words") or ()),
                groups={str(k): tuple(str(w) for w in v) for k, v in (data.get("synonyms") or {}).items()},
                stopwords=frozenset(str(data.get("stopwords") or "").split()),
                probes=tuple(str(q) for q in data.get("offtopic_probes") or ()),
            )
        except (OSError, yaml.YAMLError, AttributeError, TypeError) as e:
            raise GuidanceError(f"cannot read the search lexicon ({e.__class__.__name__}: {e})", path=str(path)) from e




# jieba's dictionary without its rarest words (frequency < 5: 61% of its 349k entries): 24 MB in memory instead of
# 63 MB, loaded in 0.2 s instead of 0.7 s; the guidance's own terms come back through the domain dictionary, and a
# word jieba no longer knows is cut into characters, which the bigram index still matches (bench/retrieval_eval.py).
DICTIONARY_MIN_FREQ = 5


def _common_dictionary(jieba: object) -> Path:
    """jieba's dict.txt without its rarest words, written once to the temporary folder (jieba caches it there too)."""
    source = Path(jieba.__file__).parent / "dict.txt"  # type: ignore[attr-defined]
    stat = source.stat()
    target = Path(tempfile.gettempdir()) / f"siyu-jieba-{DICTIONARY_MIN_FREQ}-{stat.st_size}-{int(stat.st_mtime)}.txt"
    if not target.exists():
        lines = []
        with source.open(encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= DICTIONARY_MIN_FREQ:
                    lines.append(line)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text("".join(lines), encoding="utf-8")
        os.replace(partial, target)  # atomic: another process never reads half a dictionary
    return target


class ChineseTokenizer:
    """jieba with the domain dictionary; thread-safe lazy initialisation (loading jieba takes ~1 s)."""

    def __init__(self, *, lexicon: SearchLexicon | None = None, extra_words: Sequence[str] = ()) -> None:
        self.lexicon = lexicon or SearchLexicon.load()
        self._synonyms = self.lexicon.synonyms
        self._stopwords = self.lexicon.stopwords
        self._extra = tuple(extra_words)
        self._jieba: object | None = None
        self._background: dict[str, int] = {}  # general-Chinese frequency of the words added to the dictionary
        self._freq: dict[str, int] = {}
        self._total = 1
        self._lock = threading.Lock()

    def _tokenizer(self):  # type: ignore[no-untyped-def]
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    tk = jieba.Tokenizer(dictionary=str(_common_dictionary(jieba)))
                    tk.initialize()
                    self._total = int(tk.total)
                    targets = {t for terms in self._synonyms.values() for t in terms}
                    words = [normalise(w) for w in (*self.lexicon.domain_words, *self._synonyms, *sorted(targets),
                                                     *self._extra)]
                    # Remember the general-Chinese frequency before the domain dictionary overrides it.
                    freq = tk.FREQ
                    self._background = {w: int(freq.get(w) or 0) for w in words}
                    self._freq = freq
                    for word in words:
                        tk.add_word(word, freq=200_000)
                    self._jieba = tk
        return self._jieba

    def warm_up(self) -> None:
        """Loads the dictionary now rather than on the first query."""
        self._tokenizer()

    def _cut(self, text: str) -> list[str]:
        return self._tokenizer().lcut_for_search(normalise(text))  # type: ignore[attr-defined,no-any-return]

    def words(self, text: str) -> list[str]:
        """jieba's fine-grained cut without stopwords and punctuation."""
        out = []
        for token in self._cut(text):
            token = token.strip()
            if token and token not in self._stopwords and not _TOKEN_CLEAN_RE.match(token):
                out.append(token)
        return out

    def query_words(self, text: str) -> list[tuple[str, tuple[str, ...]]]:
        """Each query word with the article's terms it also stands for."""
        return [(w, self._synonyms.get(w, ())) for w in self.words(text)]

    def tokens(self, text: str, *, query: bool = False) -> list[str]:
        """Search words; on the query side each everyday word is followed by the article's terms for it."""
        if not query:
            return self.words(text)
        out: list[str] = []
        for word, terms in self.query_words(text):
            out.append(word)
            out.extend(terms)
        return out

    @staticmethod
    def bigrams(text: str) -> list[str]:
        """Overlapping CJK character bigrams (single-character runs kept whole), skipping all-function-word pairs."""
        out: list[str] = []
        for run in _CJK_RUN_RE.findall(normalise(text)):
            if len(run) == 1:
                if run not in _BIGRAM_STOP_CHARS:
                    out.append(run)
                continue
            for i in range(len(run) - 1):
                pair = run[i : i + 2]
                if not (pair[0] in _BIGRAM_STOP_CHARS and pair[1] in _BIGRAM_STOP_CHARS):
                    out.append(pair)
        return out

    def background_share(self, word: str) -> float:
        """A word's share of general Chinese (jieba's dictionary), smoothed: unknown words are the rarest."""
        self._tokenizer()
        freq = self._background.get(word)
        if freq is None:
            freq = int(self._freq.get(word) or 0)
        return (freq + 1) / self._total

    def background_idf(self, word: str) -> float:
        """How rare a word is in general Chinese (jieba's dictionary); words it does not know are the rarest."""
        self._tokenizer()
        freq = self._background.get(word)
        if freq is None:
            freq = int(self._freq.get(word) or 0)
        return math.log(self._total / (freq + 1))



class BM25Index:
    """Okapi BM25 over pre-tokenised texts as one sparse matrix: a query is a weighted sum of its words' columns.

    A query word repeated (or added again as a synonym's target) counts with its multiplicity.
    """

    def __init__(self, token_lists: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.5) -> None:
        from scipy import sparse

        self.size = len(token_lists)
        self.k1, self.b = k1, b
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths = np.zeros(self.size, dtype=np.float64)
        for i, tokens in enumerate(token_lists):
            tf: dict[str, int] = {}
            for token in tokens:
                tf[token] = tf.get(token, 0) + 1
            lengths[i] = len(tokens)
            for token, n in tf.items():
                rows.append(i)
                cols.append(vocab.setdefault(token, len(vocab)))
                counts.append(n)
        self.vocab = vocab
        n_docs = max(self.size, 1)
        tf_arr = np.asarray(counts, dtype=np.float64)
        row_arr = np.asarray(rows, dtype=np.int64)
        col_arr = np.asarray(cols, dtype=np.int64)
        self.df = np.bincount(col_arr, minlength=len(vocab)) if counts else np.zeros(0, dtype=np.int64)
        self._idf = np.log(1 + (n_docs - self.df + 0.5) / (self.df + 0.5))
        avg = max(float(lengths.mean()) if self.size else 0.0, 1.0)
        weight = tf_arr * (k1 + 1) / (tf_arr + k1 * (1 - b + b * lengths[row_arr] / avg)) * self._idf[col_arr]
        self._matrix = sparse.csc_matrix((weight, (row_arr, col_arr)), shape=(self.size, len(vocab)))
        # A word no text contains weighs as much as the rarest word.
        self._unknown_idf = float(np.log(1 + (n_docs + 0.5) / 0.5))

    def __contains__(self, token: object) -> bool:
        return token in self.vocab

    def idf(self, token: str) -> float:
        """Inverse document frequency (the unknown-word weight for words no text contains)."""
        j = self.vocab.get(token)
        return self._unknown_idf if j is None else float(self._idf[j])

    def scores(self, query_tokens: Iterable[str]) -> np.ndarray:
        """BM25 score of every text for the query."""
        weights: dict[int, float] = {}
        for token in query_tokens:
            j = self.vocab.get(token)
            if j is not None:
                weights[j] = weights.get(j, 0.0) + 1.0
        if not weights:
            return np.zeros(self.size, dtype=np.float64)
        cols = np.fromiter(weights, dtype=np.int64)
        return np.asarray(self._matrix[:, cols] @ np.fromiter(weights.values(), dtype=np.float64)).ravel()
