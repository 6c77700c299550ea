"""A stored report shown again after the guidance changed says which of its quotes a later version changed."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.knowledge.ingest import LOCK_FILE, Ingestor, collect_sources
from bot.knowledge.search import KnowledgeBase
from bot.knowledge.store import VersionStore, make_client
from bot.report.build import build_report
from bot.report.citations import citation_notice
from tests.conftest import KNOWLEDGE
from tests.knowledge.fakes import HashEmbeddings


def test_a_changed_quote_is_named_with_the_new_version_and_unchanged_ones_are_not(rubric, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "knowledge"
    folder.mkdir()
    shutil.copy(KNOWLEDGE / "guidance.md", folder / "guidance.md")
    store = VersionStore(make_client(data_dir=tmp_path / "data", chroma_url=None), HashEmbeddings())
    ingestor = Ingestor(store, lock_path=tmp_path / "data" / LOCK_FILE)
    ingestor.ingest(collect_sources(folder))
    kb = KnowledgeBase(store)
    report = build_report(rubric, {q.id: {"level": 0} for q in rubric.questions}, kb)
    assert report.kb_version == "v1" and citation_notice(report, kb) == ""

    # An unrelated edit (a new version, every quote still word for word): nothing to say.
    path = folder / "guidance.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n\n补充说明：本文持续更新。\n", encoding="utf-8")
    ingestor.ingest(collect_sources(folder))
    assert kb.active_version_id() == "v2" and citation_notice(report, kb) == ""

    # The passage quoted for 4.4 is rewritten.
    quote = next(g.quote for g in report.gaps if g.section == "4.4")
    text = path.read_text(encoding="utf-8")
    assert quote in text
    path.write_text(text.replace(quote, "（本段已改写）" + quote[len(quote) // 2:]), encoding="utf-8")
    ingestor.ingest(collect_sources(folder))
    notice = citation_notice(report, kb)
    assert notice.startswith("引用的指导内容已在 v3 更新") and "4.4" in notice and "4.1" not in notice


class _Checker:
    def __init__(self, current: str | None, gone: set[str]) -> None:
        self.current, self.gone = current, gone

    def active_version_id(self) -> str | None:
        return self.current

    def still_cites(self, section: str, quote: str) -> bool:
        return section not in self.gone


def test_no_notice_without_a_knowledge_base_or_for_the_same_version(rubric, knowledge) -> None:  # type: ignore[no-untyped-def]
    report = build_report(rubric, {q.id: {"level": 0} for q in rubric.questions}, knowledge)
    assert citation_notice(report, _Checker(None, {"4.1"})) == ""
    assert citation_notice(report, _Checker(report.kb_version, {"4.1"})) == "", "same version: quotes stand"
    notice = citation_notice(report, _Checker("v9", {"4.1", "6.4"}))
    assert "v9" in notice and "4.1、6.4" in notice
