"""Versions and `ingest.py`: build beside the active version, switch atomically, refuse bad input, roll back.

These tests use a small deterministic embedding (no model load) so they run in seconds; the real MiniLM model is
exercised by tests/knowledge/test_search.py.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from bot.errors import GuidanceError, IngestBusyError
from bot.knowledge.ingest import LOCK_FILE, Ingestor, collect_sources
from bot.knowledge.search import KnowledgeBase
from bot.knowledge.store import KEEP_VERSIONS, VersionStore, make_client
from tests.conftest import KNOWLEDGE, ROOT
from tests.knowledge.fakes import HashEmbeddings

QUESTION = "怎么给私域用户做画像，要从哪些维度去看"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private copy of the guidance."""
    target = tmp_path / "knowledge"
    target.mkdir()
    shutil.copy(KNOWLEDGE / "guidance.md", target / "guidance.md")
    return target


@pytest.fixture
def store(tmp_path: Path) -> VersionStore:
    return VersionStore(make_client(data_dir=tmp_path / "data", chroma_url=None), HashEmbeddings())


@pytest.fixture
def ingestor(store: VersionStore, tmp_path: Path) -> Ingestor:
    return Ingestor(store, lock_path=tmp_path / "data" / LOCK_FILE)


def _edit_section_41(folder: Path, extra: str = "企业还要写清楚预算。") -> None:
    path = folder / "guidance.md"
    text = path.read_text(encoding="utf-8")
    marker = "只有战略目标明确,后续的动作才能围绕目标展开"
    assert marker in text
    path.write_text(text.replace(marker, extra + marker), encoding="utf-8")


def test_ingest_creates_v1_and_the_same_content_creates_nothing(ingestor, store, folder) -> None:
    first = ingestor.ingest(collect_sources(folder))
    assert first.status == "created" and first.version and first.version.id == "v1"
    assert (first.documents, first.sections) == (1, 28) and first.chunks == store.active().chunks
    assert store.active_id() == "v1"
    again = ingestor.ingest(collect_sources(folder))
    assert again.status == "unchanged" and again.version.id == "v1" and again.diff.empty
    assert [v.id for v in store.versions()] == ["v1"]


def test_a_changed_section_makes_v2_and_the_diff_names_it(ingestor, store, folder) -> None:
    ingestor.ingest(collect_sources(folder))
    _edit_section_41(folder)
    result = ingestor.ingest(collect_sources(folder))
    assert result.status == "created" and result.version.id == "v2" and store.active_id() == "v2"
    assert result.diff.sections_changed == ("private-domain-prework#4.1",)
    assert result.diff.docs_changed == ("private-domain-prework",)
    assert not result.diff.sections_added and not result.diff.sections_removed
    assert any("sections changed (1): private-domain-prework#4.1" in line for line in result.diff.lines())


def test_dry_run_writes_nothing(ingestor, store, folder) -> None:
    ingestor.ingest(collect_sources(folder))
    _edit_section_41(folder)
    result = ingestor.ingest(collect_sources(folder), dry_run=True)
    assert result.status == "dry-run" and result.diff.sections_changed == ("private-domain-prework#4.1",)
    assert [v.id for v in store.versions()] == ["v1"] and store.active_id() == "v1"


def test_rollback_reactivates_the_previous_version(ingestor, store, folder) -> None:
    ingestor.ingest(collect_sources(folder))
    _edit_section_41(folder)
    ingestor.ingest(collect_sources(folder))
    assert ingestor.rollback().id == "v1"
    assert store.active_id() == "v1"
    with pytest.raises(GuidanceError, match="no earlier version"):
        ingestor.rollback()


def test_only_the_last_three_versions_are_kept(ingestor, store, folder) -> None:
    for n in range(KEEP_VERSIONS + 2):
        if n:
            _edit_section_41(folder, f"第{n}次修改。")
        ingestor.ingest(collect_sources(folder))
    assert [v.id for v in store.versions()] == ["v5", "v4", "v3"]
    assert store.active_id() == "v5"


def test_a_running_knowledge_base_sees_the_new_version_on_its_next_query(ingestor, store, folder) -> None:
    ingestor.ingest(collect_sources(folder))
    kb = KnowledgeBase(store)
    assert kb.search(QUESTION)[0].kb_version == "v1"
    seen_during_build: list[str] = []

    def peek(done: int, total: int) -> None:
        # Mid-build the new collection exists, but readers still get the old version.
        seen_during_build.append(kb.search(QUESTION)[0].kb_version)

    _edit_section_41(folder, "用户画像还要看购买频次。")
    ingestor.ingest(collect_sources(folder), progress=peek)
    assert seen_during_build and set(seen_during_build) == {"v1"}
    hit = kb.search(QUESTION)[0]
    assert hit.kb_version == "v2" and kb.active_version().id == "v2"
    ingestor.rollback()
    assert kb.search(QUESTION)[0].kb_version == "v1"


def test_unchanged_chunks_reuse_their_embeddings(ingestor, store, folder) -> None:
    calls: list[int] = []
    original = store.embeddings.embed_documents

    def counting(texts: list[str]) -> list[list[float]]:
        calls.append(len(texts))
        return original(texts)

    store.embeddings.embed_documents = counting  # type: ignore[method-assign]
    first = ingestor.ingest(collect_sources(folder))
    _edit_section_41(folder)
    ingestor.ingest(collect_sources(folder))
    assert calls[0] == first.chunks and sum(calls[1:]) <= 2


BAD_INPUTS = {
    "gbk.md": ("# 标题\n\n正文。".encode("gbk"), "UTF-8"),
    "empty.md": (b"", "empty"),
    "plain.md": ("只有正文，没有标题。".encode(), "no Markdown headings"),
    "huge.md": (("# 大文件\n\n" + "字" * 750_000).encode(), "larger than 2 MB"),
    "dupes.md": ("# 文档\n\n## 一、甲\n\n正文。\n\n## 一、乙\n\n正文。\n".encode(), "duplicate section id"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_the_active_version_untouched(ingestor, store, folder, name: str) -> None:
    ingestor.ingest(collect_sources(folder))
    raw, reason = BAD_INPUTS[name]
    (folder / name).write_bytes(raw)
    with pytest.raises(GuidanceError) as info:
        ingestor.ingest(collect_sources(folder))
    assert Path(info.value.path or "").name == name and reason in info.value.reason
    assert store.active_id() == "v1" and [v.id for v in store.versions()] == ["v1"]


def test_missing_rubric_sections_are_refused(ingestor, store, folder) -> None:
    ingestor.ingest(collect_sources(folder))
    with pytest.raises(GuidanceError, match="cited by the rubric are missing: 9.9"):
        ingestor.ingest(collect_sources(folder), required_sections={"4.1", "9.9"})
    assert store.active_id() == "v1"


def test_a_second_ingest_at_the_same_time_is_refused(ingestor, folder, tmp_path) -> None:
    import fcntl

    with open(tmp_path / "data" / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(IngestBusyError):
            ingestor.ingest(collect_sources(folder))


def test_collect_sources_skips_readme_and_other_files(tmp_path) -> None:
    for name in ("b.md", "a.txt", "README.md", "rubric.yaml", "notes.markdown"):
        (tmp_path / name).write_text("# t\n\nx", encoding="utf-8")
    assert [p.name for p in collect_sources(tmp_path, tmp_path / "missing")] == ["a.txt", "b.md", "notes.markdown"]


# ---------------------------------------------------------------- the CLI, in process


def _load_cli():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("ingest_cli", ROOT / "ingest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["ingest_cli"] = module
    spec.loader.exec_module(module)
    return module


cli = _load_cli()


@pytest.fixture
def env(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DATA_DIR and KNOWLEDGE_DIR in tmp_path (with the real rubric), and the fake embeddings."""
    shutil.copy(KNOWLEDGE / "rubric.yaml", folder / "rubric.yaml")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KNOWLEDGE_DIR", str(folder))
    monkeypatch.delenv("CHROMA_URL", raising=False)
    monkeypatch.setattr("bot.services.make_embeddings", lambda *a, **k: HashEmbeddings())
    return tmp_path / "data"


def test_cli_ingest_status_unchanged_dry_run_rollback(env, folder, capsys) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert "v1 is active (1 document, 28 sections," in out and "documents added (1): private-domain-prework" in out

    assert cli.main([]) == 0
    assert capsys.readouterr().out.startswith("no changes — v1 stays active")

    _edit_section_41(folder)
    assert cli.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "sections changed (1): private-domain-prework#4.1" in out
    assert cli.main([]) == 0
    assert "v2 is active" in capsys.readouterr().out

    assert cli.main(["--status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("* v2") and lines[2].startswith("  v1") and " 28 " in lines[1]

    assert cli.main(["--rollback"]) == 0
    assert "v1 is active (was v2)" in capsys.readouterr().out


def test_cli_reads_uploads_under_data_dir(env, capsys) -> None:
    uploads = env / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "faq.md").write_text("# 常见问题\n\n## 一、什么是私域\n\n私域是企业自己的用户资产。\n", encoding="utf-8")
    assert cli.main([]) == 0
    assert "2 documents" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_cli_bad_input_exits_2_with_one_line(env, tmp_path, capsys, name: str) -> None:
    assert cli.main([]) == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(KNOWLEDGE / "guidance.md", bad / "guidance.md")
    raw, reason = BAD_INPUTS[name]
    (bad / name).write_bytes(raw)
    capsys.readouterr()
    assert cli.main(["--source", str(bad)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and name in err and reason in err
    assert cli.main(["--status"]) == 0
    assert "* v1" in capsys.readouterr().out


def test_cli_refuses_when_rubric_sections_are_missing(env, folder, capsys) -> None:
    rubric = (folder / "rubric.yaml").read_text(encoding="utf-8")
    assert 'section: "4.1"' in rubric
    (folder / "rubric.yaml").write_text(rubric.replace('section: "4.1"', 'section: "9.9"', 1), encoding="utf-8")
    assert cli.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "9.9" in err and "guidance.md" in err


def test_cli_missing_source_folder(env, tmp_path, capsys) -> None:
    assert cli.main(["--source", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_cli_rollback_without_history(env, capsys) -> None:
    assert cli.main(["--rollback"]) == 2
    assert "no earlier version" in capsys.readouterr().err


def test_cli_refuses_an_invalid_rubric(env, folder, capsys) -> None:
    (folder / "rubric.yaml").write_text("dimensions: []\nquestions: []\n", encoding="utf-8")
    assert cli.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rubric.yaml" in err[0]
