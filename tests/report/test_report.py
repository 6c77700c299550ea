"""The report: verbatim citations from the ingested guidance, the JSON contract, Markdown, the radar glyphs."""

from __future__ import annotations

import json
import warnings

from bot.report.build import build_report
from bot.report.chart import cjk_font_path, radar_png
from bot.report.markdown import report_json, report_markdown
from bot.report.model import Report
from tests.conftest import KNOWLEDGE

GUIDANCE = (KNOWLEDGE / "guidance.md").read_text(encoding="utf-8")


def _all_gaps_report(rubric, knowledge) -> Report:  # type: ignore[no-untyped-def]
    answers = {q.id: {"level": 0, "text": "还没有", "via": "text"} for q in rubric.questions}
    answers[rubric.questions[0].id] = {"level": None, "text": "", "via": "skip"}
    return build_report(rubric, answers, knowledge)


def test_every_gap_quotes_its_own_section_verbatim(rubric, knowledge) -> None:
    report = _all_gaps_report(rubric, knowledge)
    assert len(report.gaps) == len(rubric.questions)
    for gap in report.gaps:
        assert gap.quote, gap.question_id
        assert gap.quote in GUIDANCE, f"{gap.question_id}: quote is not verbatim"
        assert gap.quote_section == gap.section
        section_text = knowledge._current().chunks  # noqa: SLF001
        assert any(gap.quote in c.text for c in section_text if c.section == gap.section)
        assert gap.kb_version == report.kb_version
        assert gap.missing and gap.why and gap.todo
    assert report.gaps[-1].unknown or any(g.unknown for g in report.gaps)
    assert report.closing_quote in GUIDANCE and report.closing_section == "7"


def test_json_contract(rubric, knowledge) -> None:
    data = json.loads(report_json(_all_gaps_report(rubric, knowledge)))
    assert data["verdict"] in {"ready", "partly", "not_ready"}
    assert 0 <= data["overall"] <= 100
    assert {"id", "section", "title", "score"} <= set(data["dimensions"][0])
    assert {"id", "section", "title", "triggered"} <= set(data["risks"][0])
    assert {r["section"] for r in data["risks"]} == {"2.1", "2.2", "2.3"}
    assert {"section", "title", "severity", "missing", "why", "todo", "quote", "quote_section",
            "kb_version"} <= set(data["gaps"][0])
    assert {"question_id", "section", "answer_text", "level"} <= set(data["answers"][0])
    assert data["kb_version"] and data["created_at"]
    assert Report.from_json(data).to_json() == data  # round-trips through the checkpoint


def test_markdown_lists_all_gaps_and_answers(rubric, knowledge) -> None:
    report = _all_gaps_report(rubric, knowledge)
    md = report_markdown(report)
    assert md.count("> ") >= len(report.gaps)
    assert "## 全部回答" in md and report.verdict_label in md
    short = report_markdown(report, max_gaps=5)
    known = len(report.known_gaps)
    assert f"最需要补上的前置工作（前 5 项，共 {known} 项）" in short
    gap_part = short.split("## 最需要补上的前置工作")[1].split("\n## ")[0]
    assert "### 5." in gap_part and "### 6." not in gap_part


def test_radar_chart_renders_chinese_without_missing_glyphs() -> None:
    assert cjk_font_path() is not None, "no CJK font installed: install the project (cvttf-NotoSansCJK-Regular)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        png = radar_png(["战略目标", "用户洞察", "前期调研", "内容触点", "流量渠道", "组织流程", "长期心态"],
                        [10, 50, 80, 0, 100, 33, 67], title="私域启动准备度（尚未准备好）",
                        band=([0] * 7, [90] * 7))
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
