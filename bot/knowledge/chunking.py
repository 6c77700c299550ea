"""Chunking: sections first (from the Markdown headings), then Chinese sentence boundaries inside a section.

A chunk never crosses a section and its text is a verbatim slice of the document source
(``doc.text[chunk.start:chunk.end] == chunk.text``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bot.knowledge.documents import GuidanceDocument

# Chosen by measurement (bench/retrieval_eval.py, bench/kb_bench.py): sections of this article are 80–700 characters,
# so 400-character chunks leave most of them whole (30 chunks for 28 sections, against 34 at 240) and gave the same
# retrieval figures on tune + holdout as 240, with fewer chunks to embed on a large corpus.
DEFAULT_CHUNK_SIZE = 400
SENTENCE_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", "…", "，", ","]
_SENTENCE_END_RE = re.compile(r"(?<=[。！？；!?;])|(?<=\n)")


@dataclass(frozen=True)
class Chunk:
    """A retrievable slice of one section, with everything needed to cite it."""

    doc_id: str
    doc_title: str
    section: str
    section_title: str
    heading_path: tuple[str, ...]
    index: int  # position within the section
    start: int  # character offsets in the document source
    end: int
    text: str

    @property
    def content_hash(self) -> str:
        """Hash of what gets embedded (titles + text), to reuse embeddings across versions."""
        return hashlib.sha256(f"{self.section_title}\n{self.text}".encode()).hexdigest()[:16]

    @property
    def chunk_id(self) -> str:
        """Stable id: document, section, index and content hash."""
        return f"{self.doc_id}:{self.section}:{self.index}:{self.content_hash[:8]}"

    @property
    def index_text(self) -> str:
        """What search sees: the section title carries the vocabulary of the heading into every chunk."""
        return f"{self.section_title}\n{self.text}"

    @property
    def title_text(self) -> str:
        """The headings above the chunk (without the document title): "四、…框架 总结" says what a bare 总结 is about."""
        return " ".join(self.heading_path[1:]) or self.section_title

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata for Chroma."""
        return {
            "doc_id": self.doc_id,
            "doc_title": self.doc_title,
            "section": self.section,
            "section_title": self.section_title,
            "heading_path": " > ".join(self.heading_path),
            "chunk_index": self.index,
            "start": self.start,
            "end": self.end,
            "content_hash": self.content_hash,
        }

    @classmethod
    def from_metadata(cls, text: str, meta: dict[str, object]) -> Chunk:
        """Rebuilds a chunk from what Chroma stored."""
        return cls(
            doc_id=str(meta["doc_id"]),
            doc_title=str(meta["doc_title"]),
            section=str(meta["section"]),
            section_title=str(meta["section_title"]),
            heading_path=tuple(str(meta["heading_path"]).split(" > ")),
            index=int(str(meta["chunk_index"])),
            start=int(str(meta["start"])),
            end=int(str(meta["end"])),
            text=text,
        )


def split_sentences(text: str) -> list[str]:
    """Splits Chinese text after 。！？； (and newlines), keeping every character."""
    return [s for s in _SENTENCE_END_RE.split(text) if s]


def chunk_document(doc: GuidanceDocument, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[Chunk]:
    """Splits every section of a document into sentence-aligned chunks of at most ~chunk_size characters."""
    # Imported here: the admin router imports the ingest engine, and LangChain stays off the bot's start-up path.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        separators=SENTENCE_SEPARATORS,
        keep_separator="end",
        chunk_size=chunk_size,
        chunk_overlap=0,
        add_start_index=True,
        strip_whitespace=True,
    )
    chunks: list[Chunk] = []
    for section in doc.sections:
        pieces = splitter.create_documents([section.text])
        cursor = 0
        for index, piece in enumerate(pieces):
            # start_index comes from str.find; searching from the cursor keeps repeated sentences in order.
            local = section.text.find(piece.page_content, cursor)
            if local < 0:  # pragma: no cover - the splitter only ever returns slices of its input
                raise AssertionError("splitter returned text that is not in the section")
            cursor = local + len(piece.page_content)
            start = section.start + local
            chunks.append(
                Chunk(
                    doc_id=doc.doc_id,
                    doc_title=doc.title,
                    section=section.id,
                    section_title=section.title,
                    heading_path=section.heading_path,
                    index=index,
                    start=start,
                    end=start + len(piece.page_content),
                    text=piece.page_content,
                )
            )
    return chunks
