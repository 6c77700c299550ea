"""Whether a stored report's citations still stand (pure): a report shown again after the guidance changed says
which of its quotes a later knowledge-base version changed or removed."""

from __future__ import annotations

from typing import Protocol

from bot.report.model import Report


class CitationChecker(Protocol):
    """What the knowledge base answers about the version in force (bot.knowledge.search.KnowledgeBase)."""

    def active_version_id(self) -> str | None:
        """The id of the version queries are answered from."""
        ...

    def still_cites(self, section: str, quote: str) -> bool:
        """Whether that version still has the quote, word for word, in that section."""
        ...


def changed_sections(report: Report, checker: CitationChecker) -> tuple[str | None, list[str]]:
    """The version in force and the sections whose quoted passage it no longer contains (in citing order)."""
    current = checker.active_version_id()
    if current is None:
        return None, []
    changed: list[str] = []
    for section, quote, version in report.cited():
        if version != current and section not in changed and not checker.still_cites(section, quote):
            changed.append(section)
    return current, changed


def citation_notice(report: Report, checker: CitationChecker) -> str:
    """「引用的指导内容已在 v3 更新（4.1、4.3）…」, or "" when every quote still stands."""
    current, changed = changed_sections(report, checker)
    if not changed:
        return ""
    return (f"引用的指导内容已在 {current} 更新（{'、'.join(changed)}）：这份报告里这些章节的原文引自 "
            f"{report.kb_version}，与现行版本不同。重新诊断可获得按新版指导生成的报告。")
