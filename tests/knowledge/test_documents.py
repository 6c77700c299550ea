"""The guidance as Markdown: verbatim text, section ids, and the refusals of bad documents."""

from __future__ import annotations

import re

import pytest

from bot.errors import GuidanceError
from bot.knowledge.documents import (
    MAX_DOCUMENT_BYTES,
    decode_document,
    load_document,
    parse_document,
    section_id_for,
)
from tests.conftest import ROOT

GUIDANCE = ROOT / "knowledge" / "guidance.md"
SEED = ROOT.parent / "shared" / "seeds" / "000_a87fdf21c15523e5.txt"
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*(?:\{#[^}]+\})?\s*$")

EXPECTED_IDS = [
    "0", "1", "2", "2.1", "2.2", "2.3", "2.sum", "3", "4", "4.1", "4.2", "4.3", "4.4", "4.5", "4.sum",
    "5", "5.1", "5.2", "5.3", "5.4", "5.sum", "6", "6.1", "6.2", "6.3", "6.4", "6.sum", "7",
]


@pytest.fixture(scope="module")
def guidance():  # type: ignore[no-untyped-def]
    return load_document(GUIDANCE)


def test_section_ids_follow_the_articles_numbering(guidance) -> None:
    assert [s.id for s in guidance.sections] == EXPECTED_IDS
    assert guidance.section("4.1").title.startswith("4.1 明确战略目标")
    assert guidance.section("2.2").title.startswith("场景二")
    assert guidance.section("0").title == "导语"
    assert guidance.doc_id == "private-domain-prework"
    assert guidance.source and guidance.date


def test_every_section_is_a_slice_of_the_file_at_its_offsets(guidance) -> None:
    for s in guidance.sections:
        assert guidance.text[s.start : s.end] == s.text, s.id
        assert s.text == s.text.strip() and s.text


def test_summaries_hang_under_their_chapter(guidance) -> None:
    for sid in ("2.sum", "4.sum", "5.sum", "6.sum"):
        section = guidance.section(sid)
        assert section is not None
        assert section.heading_path[1].startswith("二四五六"["2456".index(sid[0])] + "、")


@pytest.mark.skipif(not SEED.exists(), reason=f"the seed article is not checked out at {SEED}")
def test_markdown_is_the_seed_article_verbatim() -> None:
    """Only front matter, heading markers, line breaks and two headings (title, 本章总结) were added."""
    seed = SEED.read_text(encoding="utf-8").strip()
    text = GUIDANCE.read_text(encoding="utf-8")
    body = text.split("---", 2)[2]
    cursor = 0
    added: list[str] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        if m := _HEADING.match(line):
            title = m.group(1)
            if seed.startswith(title, cursor):
                cursor += len(title)
            else:
                added.append(title)
            continue
        assert seed.startswith(line, cursor), f"text differs from the seed at seed offset {cursor}: {line[:30]}"
        cursor += len(line)
    assert cursor == len(seed)
    assert added == ["私域运营为什么会失败：前置工作没做足", "本章总结"]


@pytest.mark.parametrize(
    ("title", "chapter", "expected"),
    [
        ("一、失败才是常态", None, "1"),
        ("十二、番外", None, "12"),
        ("4.1 明确战略目标", "4", "4.1"),
        ("场景三:只重工具", "2", "2.3"),
        ("第二节 细节", "5", "5.2"),
        ("总结", "6", "6.sum"),
        ("本章小结", "3", "3.sum"),
        ("本章总结 {#2.sum}", "2", "2.sum"),
        ("附录", None, "h9"),
    ],
)
def test_section_id_rules(title: str, chapter: str | None, expected: str) -> None:
    assert section_id_for(title, chapter=chapter, ordinal=9)[0] == expected


def test_explicit_id_is_removed_from_the_title() -> None:
    assert section_id_for("本章总结 {#2.sum}", chapter="2", ordinal=1) == ("2.sum", "本章总结")


def _refused(raw: bytes, name: str = "bad.md") -> GuidanceError:
    with pytest.raises(GuidanceError) as info:
        parse_document(decode_document(raw, name), path=name)
    assert info.value.path == name
    return info.value


def test_refuses_non_utf8() -> None:
    assert "UTF-8" in _refused("# 标题\n\n正文。".encode("gbk")).reason


def test_refuses_empty_and_blank_files() -> None:
    assert "empty" in _refused(b"").reason
    assert "empty" in _refused(b" \n\t\n").reason


def test_refuses_binary() -> None:
    assert "binary" in _refused(b"# t\n\x00\x01").reason


def test_refuses_a_file_over_2_mb() -> None:
    raw = ("# 标题\n\n" + "字" * (MAX_DOCUMENT_BYTES // 3 + 10)).encode()
    assert "2 MB" in _refused(raw).reason


def test_refuses_text_without_headings() -> None:
    assert "headings" in _refused("只有正文，没有任何标题。".encode()).reason


def test_refuses_duplicate_section_ids() -> None:
    error = _refused("# 文档\n\n## 一、甲\n\n正文。\n\n## 一、乙\n\n正文。\n".encode())
    assert "duplicate section id '1'" in error.reason


def test_refuses_an_empty_section() -> None:
    assert "empty" in _refused("# 文档\n\n## 一、甲\n\n## 二、乙\n\n正文。\n".encode()).reason


def test_front_matter_and_crlf() -> None:
    doc = parse_document(decode_document("---\ntitle: 测试\ndoc_id: t1\n---\r\n## 一、甲\r\n\r\n正文。\r\n".encode(),
                                         "x.md"), path="x.md")
    assert (doc.doc_id, doc.title, [s.id for s in doc.sections]) == ("t1", "测试", ["1"])
    assert doc.sections[0].text == "正文。"
