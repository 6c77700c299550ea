"""Chunking: never across a section, always a verbatim slice, with everything needed to cite it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge.chunking import DEFAULT_CHUNK_SIZE, Chunk, chunk_document, split_sentences
from bot.knowledge.documents import load_document, parse_document
from tests.conftest import KNOWLEDGE

GUIDANCE = KNOWLEDGE / "guidance.md"


def _check(doc, chunks: list[Chunk], size: int) -> None:  # type: ignore[no-untyped-def]
    sections = {s.id: s for s in doc.sections}
    for c in chunks:
        section = sections[c.section]
        assert doc.text[c.start : c.end] == c.text
        assert section.start <= c.start < c.end <= section.end, "chunk crosses its section"
        assert c.text.strip() == c.text and c.text
        # Only a piece with no break inside (one overlong clause) may exceed the size.
        assert len(c.text) <= size or not any(sep in c.text[:-1] for sep in "\n。！？；，"), c.text
    for sid, section in sections.items():
        own = [c for c in chunks if c.section == sid]
        assert [c.index for c in own] == list(range(len(own)))
        # Nothing is lost: the chunks cover the section's text apart from whitespace between them.
        assert "".join("".join(c.text.split()) for c in own) == "".join(section.text.split())


def test_the_article_chunks_stay_inside_their_sections() -> None:
    doc = load_document(GUIDANCE)
    chunks = chunk_document(doc)
    assert len(chunks) >= len(doc.sections)
    _check(doc, chunks, DEFAULT_CHUNK_SIZE)
    first = chunks[0]
    assert (first.doc_id, first.doc_title, first.section, first.section_title) == (
        "private-domain-prework", doc.title, "0", "导语")
    assert first.heading_path == (doc.title,)
    assert len(first.content_hash) == 16 and first.chunk_id.startswith("private-domain-prework:0:0:")


def test_chunk_metadata_round_trips() -> None:
    chunk = chunk_document(load_document(GUIDANCE))[12]
    assert Chunk.from_metadata(chunk.text, chunk.metadata()) == chunk
    assert chunk.title_text.startswith(chunk.heading_path[1])


def test_summary_chunks_carry_their_chapter_title() -> None:
    chunks = [c for c in chunk_document(load_document(GUIDANCE)) if c.section == "4.sum"]
    assert chunks and all("五大前置动作" in c.title_text for c in chunks)


def test_split_sentences_keeps_every_character() -> None:
    text = "第一句。第二句！第三句？第四；\n第五"
    assert "".join(split_sentences(text)) == text
    assert split_sentences(text)[:2] == ["第一句。", "第二句！"]


_SENTENCE = st.text(alphabet="私域运营用户调研内容渠道组织数据，、ab1 ", min_size=1, max_size=60).map(
    lambda s: s.strip() or "字").flatmap(lambda s: st.sampled_from("。！？；").map(lambda p: s + p))
_SECTION = st.lists(_SENTENCE, min_size=1, max_size=25).map("".join)


@settings(max_examples=60, deadline=None)
@given(sections=st.lists(_SECTION, min_size=1, max_size=6), size=st.integers(min_value=40, max_value=400))
def test_chunks_never_cross_sections_property(sections: list[str], size: int) -> None:
    text = "# 文档\n\n" + "".join(f"## {'一二三四五六'[i]}、标题{i}\n\n{body}\n\n" for i, body in enumerate(sections))
    doc = parse_document(text, path="gen.md")
    _check(doc, chunk_document(doc, chunk_size=size), size)
