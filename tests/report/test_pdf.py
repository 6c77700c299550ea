"""The PDF report, read back with pdfium: what page 1 says, where the citations are, A4, embedded glyphs, ink."""

from __future__ import annotations

import dataclasses
import logging
import re

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from bench.sample_pdf import not_ready_report, ready_report, returning_report
from bot.report.chart import radar_png
from bot.report.model import AnswerItem, Benchmark, Previous, Report
from bot.report.pdf import report_pdf

A4 = (595.28, 841.89)
MARGIN_PT = 14 / 25.4 * 72
FOOTER_SPACE_PT = 16 / 25.4 * 72  # the body ends this far above the page's bottom edge
FOOTER_RULE_PT = 11 / 25.4 * 72  # the footer line sits below its rule
REPORTS = {"not-ready": not_ready_report, "ready": ready_report, "returning": returning_report}


def _flat(text: str) -> str:
    """Text without whitespace, so that a wrapped line still matches."""
    return re.sub(r"\s+", "", text)


def _texts(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]


@pytest.fixture(scope="module", params=list(REPORTS))
def rendered(request: pytest.FixtureRequest) -> tuple[Report, bytes]:
    report = REPORTS[request.param]()
    return report, report_pdf(report)


def test_sample_reports_are_what_the_tests_need() -> None:
    not_ready, ready, returning = not_ready_report(), ready_report(), returning_report()
    assert not_ready.verdict == "not_ready" and len(not_ready.gaps) == 8
    assert {p.step for p in not_ready.plan} == {1, 2, 3}
    assert ready.gaps == () and ready.plan and all(p.kind == "watch" for p in ready.plan)
    assert returning.previous is not None and returning.benchmark is not None


def test_page_one_is_the_summary(rendered: tuple[Report, bytes]) -> None:
    report, pdf = rendered
    first = _flat(_texts(pdf)[0])
    assert report.verdict_label in first
    assert f"综合得分{report.overall:.0f}/100" in first
    for d in report.dimensions:
        assert _flat(d.title) in first, d.title
    if report.gaps:
        assert _flat(report.gaps[0].missing) in first
    else:
        assert "没有明显缺口" in first
    steps = sorted({p.step for p in report.plan})
    for step in steps:
        item = next(p for p in report.plan if p.step == step)
        assert _flat(report.step_title(step)) in first
        assert _flat(item.item) in first, f"step {step}: {item.item}"
        assert _flat(f"负责：{item.owner_role}") in first
        assert _flat(item.done_when) in first
    assert f"知识库版本{report.kb_version}" in first


def test_summary_lists_at_most_five_gaps_with_severity(rendered: tuple[Report, bytes]) -> None:
    report, pdf = rendered
    first = _flat(_texts(pdf)[0])
    for gap in report.gaps[:5]:
        assert _flat(gap.missing) in first
    for gap in report.gaps[5:]:
        assert _flat(gap.missing) not in first, "page 1 shows only the top five gaps"
    if report.gaps:
        assert report.gaps[0].severity_label in first


def test_citations_are_quoted_verbatim_on_the_detail_pages(rendered: tuple[Report, bytes]) -> None:
    report, pdf = rendered
    texts = _texts(pdf)
    details = _flat("".join(texts[1:]))
    assert len(texts) >= 2
    cited = [(g.quote_section, g.quote_title, g.quote) for g in report.gaps if g.quote]
    cited += [(p.quote_section, p.quote_title, p.quote) for p in report.plan if p.quote]
    assert cited
    for section, title, quote in cited:
        assert _flat(quote) in details, quote
        assert _flat(section) in details and _flat(title) in details
        assert _flat(quote) not in _flat(texts[0]), "quotes belong to the detail pages"
    assert _flat(report.closing_quote) in details


def test_detail_pages_hold_every_gap_plan_item_risk_and_answer(rendered: tuple[Report, bytes]) -> None:
    report, pdf = rendered
    details = _flat("".join(_texts(pdf)[1:]))
    for gap in report.gaps:
        assert _flat(gap.missing) in details and _flat(gap.why) in details and _flat(gap.todo) in details
    for item in report.plan:
        assert _flat(item.item) in details
        for task in item.tasks:
            assert _flat(task) in details
    for risk in report.risks:
        assert _flat(risk.title) in details
    assert details.count("已触发") == len(report.triggered_risks)
    for answer in report.answers:
        assert _flat(answer.question) in details and _flat(answer.label) in details


def test_pages_are_a4_portrait(rendered: tuple[Report, bytes]) -> None:
    _, pdf = rendered
    doc = pdfium.PdfDocument(pdf)
    for i in range(len(doc)):
        width, height = doc[i].get_size()
        assert width == pytest.approx(A4[0], abs=1) and height == pytest.approx(A4[1], abs=1)


def test_the_cjk_font_is_embedded_and_text_extracts_as_chinese(rendered: tuple[Report, bytes]) -> None:
    report, pdf = rendered
    assert b"/FontFile" in pdf, "no embedded font program"
    text = "".join(_texts(pdf))
    assert "\x00" not in text and "\ufffd" not in text and "□" not in text
    assert report.title in text and "行动计划" in text


def test_no_text_runs_off_the_page(rendered: tuple[Report, bytes]) -> None:
    _, pdf = rendered
    doc = pdfium.PdfDocument(pdf)
    for i in range(len(doc)):
        page = doc[i]
        width, height = page.get_size()
        textpage = page.get_textpage()
        for c in range(textpage.count_chars()):
            left, bottom, right, top = textpage.get_charbox(c)
            if right - left <= 0:  # generated line breaks
                continue
            char = textpage.get_text_range(c, 1)
            assert left >= MARGIN_PT - 1 and right <= width - MARGIN_PT + 1, f"page {i + 1}: {char!r} at x={left:.0f}"
            assert bottom >= 0 and top <= height, f"page {i + 1}: {char!r} at y={bottom:.0f}"
            in_footer, above_footer = top <= FOOTER_RULE_PT, bottom >= FOOTER_SPACE_PT - 1
            assert in_footer or above_footer, f"page {i + 1}: {char!r} runs into the footer (y={bottom:.0f})"


def test_page_one_is_not_blank(rendered: tuple[Report, bytes]) -> None:
    _, pdf = rendered
    image = pdfium.PdfDocument(pdf)[0].render(scale=1).to_pil().convert("L")
    dark = sum(image.histogram()[:128])
    assert dark > 0.01 * image.width * image.height, f"only {dark} dark pixels"


def _images_on_page_one(pdf: bytes) -> int:
    page = pdfium.PdfDocument(pdf)[0]
    return len(list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])))


def test_radar_is_drawn_or_taken_from_the_caller() -> None:
    report = not_ready_report()
    given = radar_png([d.title for d in report.dimensions], [d.score for d in report.dimensions], title="团队")
    assert _images_on_page_one(report_pdf(report)) == 1
    assert _images_on_page_one(report_pdf(report, radar=given)) == 1
    assert _images_on_page_one(report_pdf(dataclasses.replace(report, dimensions=()))) == 0


def test_comparison_and_benchmark_are_on_the_detail_pages() -> None:
    report = returning_report()
    assert report.previous is not None and report.benchmark is not None
    details = _flat("".join(_texts(report_pdf(report))[1:]))
    assert "与上次诊断对比" in details and "同行基准" in details
    assert "↑+33" in details and "↓-17" in details and "→0" in details  # 战略目标, 长期心态, 内容触点
    for text in report.previous.gaps_closed + report.previous.new_gaps:
        assert _flat(text) in details
    assert f"其他{report.benchmark.users}家企业" in details and "前25%" in details and "后25%" in details


def test_omitted_benchmark_says_why() -> None:
    report = dataclasses.replace(returning_report(), benchmark=Benchmark(users=3, omitted="参与对比的企业不足 20 家"))
    details = _flat("".join(_texts(report_pdf(report))[1:]))
    assert "本次不显示基准：参与对比的企业不足20家" in details and "P25" not in details


def test_a_crowded_plan_keeps_each_steps_first_item_on_page_one() -> None:
    base = not_ready_report()
    plan = tuple(
        dataclasses.replace(item, item=f"{item.item}（第 {n} 轮）", done_when=item.done_when * 2)
        for n in range(4) for item in base.plan
    )
    report = dataclasses.replace(base, plan=tuple(sorted(plan, key=lambda p: p.step)))
    pdf = report_pdf(report)
    texts = _texts(pdf)
    first = _flat(texts[0])
    for step in (1, 2, 3):
        assert _flat(next(p for p in report.plan if p.step == step).item) in first
    assert re.search(r"另有\d+项行动", first)
    assert _flat(texts[1]).find("缺口详情") < 40, "page 1 spilled onto page 2"
    test_no_text_runs_off_the_page((report, pdf))


def test_long_text_wraps_inside_the_margins() -> None:
    base = not_ready_report()
    long_gap = dataclasses.replace(
        base.gaps[0], missing="目标" * 60, why="很长的原因，" * 40 + "https://example.com/" + "x" * 150,
        todo="SCRM LTV KPI " * 30)
    report = dataclasses.replace(base, gaps=(long_gap, *base.gaps[1:]))
    pdf = report_pdf(report)
    test_no_text_runs_off_the_page((report, pdf))
    assert _flat(long_gap.why) in _flat("".join(_texts(pdf)[1:]))


def test_lines_never_start_with_closing_punctuation() -> None:
    pdf = report_pdf(not_ready_report())
    for text in _texts(pdf):
        for line in text.splitlines():
            assert not line.startswith(("，", "。", "、", "）", "；", "：", "」")), line


def test_empty_and_missing_parts_do_not_crash(caplog: pytest.LogCaptureFixture) -> None:
    bare = Report(verdict="ready", overall=100.0, dimensions=(), risks=(), gaps=(), answers=(), kb_version="v1",
                  created_at="not a date", plan=(), previous=Previous("2026-01-01", 50.0, ()),
                  benchmark=Benchmark(users=0))
    with caplog.at_level(logging.WARNING):
        pdf = report_pdf(bare)
    texts = _texts(pdf)
    assert pdfium.PdfDocument(pdf)[0].get_size()[0] == pytest.approx(A4[0], abs=1)
    assert "已准备好" in texts[0] and "暂无行动项" in _flat(texts[0])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_answers_without_question_text_show_the_id_and_typed_emoji_is_dropped(
        caplog: pytest.LogCaptureFixture) -> None:
    base = not_ready_report()
    old = AnswerItem("goal_kpi", "4.1", "不知道😅", None, 3, "待确认", "unclear")
    report = dataclasses.replace(base, answers=(old,))
    with caplog.at_level(logging.WARNING):
        details = _flat("".join(_texts(report_pdf(report))[1:]))
    assert "goal_kpi" in details and "原话：不知道" in details
    assert not [r for r in caplog.records if "missing" in r.getMessage()], "a glyph was missing from the font"


def test_pending_gaps_and_confirm_items_are_marked() -> None:
    report = not_ready_report()
    pending = [g for g in report.gaps if g.unknown]
    assert pending and any(p.kind == "confirm" for p in report.plan)
    pdf = report_pdf(report)
    details = _flat("".join(_texts(pdf)[1:]))
    assert "待确认（回答未知，可能是缺口）" in details and _flat(pending[0].missing) in details
    assert "先确认" in _flat(_texts(pdf)[0])


def test_a_report_built_from_the_rubric_renders(rubric) -> None:  # type: ignore[no-untyped-def]
    from bot.report.build import build_report

    answers = {q.id: {"level": 0, "text": "还没有", "via": "text"} for q in rubric.questions}
    answers[rubric.questions[0].id] = {"level": None, "text": "", "via": "skip"}
    report = build_report(rubric, answers, None)
    first = _flat(_texts(report_pdf(report))[0])
    assert report.verdict_label in first and _flat(report.gaps[0].missing) in first
    assert {p.step for p in report.plan} == {1, 2, 3}
    for step in (1, 2, 3):
        assert _flat(next(p for p in report.plan if p.step == step).item) in first
