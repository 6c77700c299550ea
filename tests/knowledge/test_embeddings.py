"""Embedding backends: e5 by default (no torch), sentence-transformers on request, and one model per version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError
from bot.knowledge.embeddings import (
    E5_MODEL_ID,
    MINILM_ID,
    E5Embeddings,
    SentenceTransformerEmbeddings,
    make_embeddings,
    resolve_backend,
)
from bot.knowledge.ingest import Ingestor, collect_sources
from bot.knowledge.search import KnowledgeBase
from bot.knowledge.store import VersionStore, make_client
from tests.conftest import ROOT
from tests.knowledge.fakes import HashEmbeddings


def test_backend_defaults_to_e5_and_follows_an_embedding_model() -> None:
    assert resolve_backend(None, None) == "e5"
    assert resolve_backend(None, "BAAI/bge-small-zh-v1.5") == "sentence-transformers"  # an existing setting keeps working
    assert resolve_backend("sentence-transformers", None) == "sentence-transformers"
    assert resolve_backend("E5", "some/model") == "e5"
    with pytest.raises(ConfigError):
        resolve_backend("word2vec", None)
    assert isinstance(make_embeddings(), E5Embeddings)
    assert isinstance(make_embeddings(None, "some/model"), SentenceTransformerEmbeddings)


def test_e5_reads_chinese_and_english() -> None:
    e5 = E5Embeddings()
    q = np.asarray(e5.embed_query("怎么给用户分层"))
    passages = np.asarray(e5.embed_documents(["分层调研：高价值用户、潜力用户和普通用户要区别对待", "今天的天气很好，适合去公园散步"]))
    assert q.shape == (384,) and abs(float(np.linalg.norm(q)) - 1.0) < 1e-3
    assert float(passages[0] @ q) > float(passages[1] @ q)
    english = np.asarray(e5.embed_query("how to segment users by value"))
    assert float(passages[0] @ english) > float(passages[1] @ english)
    # e5's own prefixes: the same text as a query and as a passage are different vectors.
    assert not np.allclose(e5.embed_query("用户分层"), e5.embed_documents(["用户分层"])[0])
    assert e5.model_id == E5_MODEL_ID


def test_sentence_transformers_backend_with_the_packaged_minilm() -> None:
    st = SentenceTransformerEmbeddings()
    v = st.embed_query("private domain operations")
    assert len(v) == 384 and st.loaded and st.model_id == MINILM_ID


def test_search_cli_does_not_import_torch(kb_template: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(kb_template, data)
    code = ("import sys, bot.__main__ as m; rc = m.main(['search', '竞争对手的私域怎么研究', '--json']); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc)")
    env = {**os.environ, "DATA_DIR": str(data), "EMBEDDING_BACKEND": "", "EMBEDDING_MODEL": ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert '"section": "5.3"' in out.stdout and out.stdout.strip().endswith("NO-TORCH 0")


class ModelA(HashEmbeddings):
    model_id = "test/hash-a"


class ModelB(HashEmbeddings):
    model_id = "test/hash-b"

    def _vector(self, text: str) -> list[float]:
        return list(reversed(super()._vector(text)))


def test_a_version_embedded_by_another_model_is_never_mixed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sources = collect_sources(ROOT / "knowledge")
    store_a = VersionStore(make_client(data_dir=data, chroma_url=None), ModelA())
    v1 = Ingestor(store_a, lock_path=data / "kb.lock").ingest(sources).version
    assert v1 is not None and v1.embedding_model == "test/hash-a" and store_a.model_mismatch() is None

    store_b = VersionStore(make_client(data_dir=data, chroma_url=None), ModelB())
    line = store_b.model_mismatch()
    assert line is not None and "test/hash-a" in line and "test/hash-b" in line and "\n" not in line
    kb = KnowledgeBase(store_b)
    assert kb._current().vectors is None  # noqa: SLF001 - dense is off: model B's queries never meet model A's vectors
    assert kb.search("竞争对手的私域怎么研究")[0].section == "5.3"  # lexical search still answers

    result = Ingestor(store_b, lock_path=data / "kb.lock").ingest(sources)
    assert result.status == "created"  # same documents, another model: a new version, re-embedded
    v2 = result.version
    assert v2 is not None and v2.embedding_model == "test/hash-b" and store_b.model_mismatch() is None
    chunks, vectors = store_b.load(v2.id)
    expected = np.asarray(ModelB().embed_documents([c.index_text for c in chunks[:3]]))
    assert vectors is not None and np.allclose(vectors[:3], expected, atol=1e-5)
    assert Ingestor(store_b, lock_path=data / "kb.lock").ingest(sources).status == "unchanged"


class Counting:
    """A stand-in query model: a text's vector is its length and first character (counts its calls)."""

    model_id = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls += len(texts)
        return [[float(len(t)), float(ord(t[0]) % 7) + 1.0] for t in texts]


def test_text_vectors_are_unit_rows_kept_across_restarts(tmp_path: Path) -> None:
    from bot.knowledge.embeddings import TextVectors

    path = tmp_path / "vectors.npz"
    model = Counting()
    vectors = TextVectors(model, path)
    rows = vectors.matrix(["已经写好", "还没", "已经写好"])
    assert rows.shape == (3, 2) and np.allclose(np.linalg.norm(rows, axis=1), 1.0)
    assert model.calls == 2  # each text once
    vectors.save()
    again = Counting()
    restarted = TextVectors(again, path)
    assert np.allclose(restarted.matrix(["还没", "已经写好"]), rows[[1, 0]])
    assert again.calls == 0

    class Other(Counting):
        model_id = "another-model"

    other = Other()
    TextVectors(other, path).matrix(["还没"])
    assert other.calls == 1  # vectors of another model are never reused


def test_a_damaged_vector_file_is_rebuilt(tmp_path: Path) -> None:
    from bot.knowledge.embeddings import TextVectors

    path = tmp_path / "vectors.npz"
    path.write_bytes(b"not a numpy file")
    model = Counting()
    vectors = TextVectors(model, path)
    vectors.matrix(["还没"])
    vectors.save()
    assert len(TextVectors(Counting(), path)) == 1


def test_vectors_of_two_instances_on_one_file_are_both_kept_and_a_seed_is_never_written(tmp_path: Path) -> None:
    from bot.knowledge.embeddings import TextVectors

    path, seed = tmp_path / "vectors.npz", tmp_path / "shipped.npz"
    first, second = TextVectors(Counting(), path), TextVectors(Counting(), path)  # both read it before either wrote
    first.matrix(["已经写好"])
    second.matrix(["还没"])
    first.save()
    second.save()
    assert len(TextVectors(Counting(), path)) == 2
    shipped = TextVectors(Counting(), seed)
    shipped.matrix(["做了一半"])
    shipped.save()
    model = Counting()
    seeded = TextVectors(model, tmp_path / "cache.npz", seed=seed)
    seeded.matrix(["做了一半", "下个月"])
    assert model.calls == 1  # the seed's vector is used
    seeded.save()
    assert len(TextVectors(Counting(), seed)) == 1 and len(TextVectors(Counting(), tmp_path / "cache.npz")) == 2
