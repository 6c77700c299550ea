"""Guidance documents: Markdown (or plain text) with front matter, parsed into sections with stable ids.

Section ids follow the document's own numbering — the one owner of that rule is `section_id_for`:

* text under the H1 title before the first chapter → ``0`` (the lead);
* a heading that starts with a Chinese numeral and ``、`` (``一、失败才是常态``) → ``1`` … ``10``;
* a heading that starts with a dotted number (``4.1 明确战略目标``) → ``4.1``;
* ``场景一`` / ``第二节`` … under chapter *N* → ``N.1``, ``N.2``;
* ``总结`` (a chapter summary) under chapter *N* → ``N.sum``;
* an explicit ``{#id}`` at the end of a heading always wins (``### 本章总结 {#2.sum}``);
* any other heading → ``h<n>``, its position among the document's headings.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.errors import GuidanceError

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
SECTION_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,31}$")
_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_EXPLICIT_ID_RE = re.compile(r"\s*\{#([^}\s]+)\}\s*$")
_DOTTED_RE = re.compile(r"^(\d+(?:\.\d+)*)(?:[\s、.．:：]|$)")
_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_CHAPTER_RE = re.compile(r"^([一二三四五六七八九十]{1,3})[、.．]")
_CN_SUB_RE = re.compile(r"^(?:场景|第)([一二三四五六七八九十]{1,3})(?:[节部步个]|[:：、\s]|$)")
_SUMMARY_RE = re.compile(r"^(?:本章)?(?:小结|总结)")
LEAD_ID = "0"
LEAD_TITLE = "导语"


def chinese_numeral(text: str) -> int:
    """Reads 一 … 九十九 as an int."""
    if text == "十":
        return 10
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    return _CN_DIGITS[text]


@dataclass(frozen=True)
class Section:
    """One section of a guidance document: heading (if any) and its own body text."""

    id: str
    title: str
    level: int
    heading_path: tuple[str, ...]
    text: str
    start: int  # offset of the body text in the document source
    end: int

    @property
    def label(self) -> str:
        """"4.1 明确战略目标…" style label for people."""
        return self.title if self.title.startswith(self.id) else f"{self.id} {self.title}"

    @property
    def content_hash(self) -> str:
        """Hash of the title and body, to tell changed sections apart."""
        return hashlib.sha256(f"{self.title}\n{self.text}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class GuidanceDocument:
    """A parsed guidance document."""

    doc_id: str
    title: str
    source: str
    date: str
    path: str
    text: str  # the full source text, offsets point into it
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def content_hash(self) -> str:
        """Hash of the whole source, to tell changed documents apart."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def section(self, section_id: str) -> Section | None:
        """The section with that id, if any."""
        return next((s for s in self.sections if s.id == section_id), None)


def section_id_for(title: str, *, chapter: str | None, ordinal: int) -> tuple[str, str]:
    """Returns (section id, title without an explicit id marker) for a heading."""
    explicit = _EXPLICIT_ID_RE.search(title)
    if explicit:
        return explicit.group(1), title[: explicit.start()].strip()
    if m := _DOTTED_RE.match(title):
        return m.group(1), title
    if m := _CN_CHAPTER_RE.match(title):
        return str(chinese_numeral(m.group(1))), title
    if chapter is not None and (m := _CN_SUB_RE.match(title)):
        return f"{chapter}.{chinese_numeral(m.group(1))}", title
    if chapter is not None and _SUMMARY_RE.match(title):
        return f"{chapter}.sum", title
    return f"h{ordinal}", title


def slugify(name: str) -> str:
    """A document id from a file name: lower-case ASCII letters, digits and dashes (CJK kept)."""
    stem = unicodedata.normalize("NFKC", name).strip().lower()
    stem = re.sub(r"[^\w\u4e00-\u9fff-]+", "-", stem).strip("-_")
    return stem[:64] or "doc"


def _split_front_matter(text: str, path: str) -> tuple[dict[str, str], int]:
    """Returns the front matter mapping and the offset where the body starts."""
    if not text.startswith("---"):
        return {}, 0
    end = text.find("\n---", 3)
    if end < 0:
        raise GuidanceError("front matter is not closed with ---", path=path)
    try:
        meta = yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError as e:
        raise GuidanceError(f"front matter is not valid YAML ({e.__class__.__name__})", path=path) from e
    if not isinstance(meta, dict):
        raise GuidanceError("front matter must be a mapping", path=path)
    body_start = text.find("\n", end + 4)
    return {str(k): str(v) for k, v in meta.items() if v is not None}, (len(text) if body_start < 0 else body_start + 1)


def decode_document(raw: bytes, path: str) -> str:
    """Validates size and encoding of an uploaded or on-disk document and returns its text."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise GuidanceError(f"file is larger than 2 MB ({len(raw) / 1024 / 1024:.1f} MB)", path=path)
    if not raw.strip():
        raise GuidanceError("file is empty", path=path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise GuidanceError(f"file is not UTF-8 text (bad byte at offset {e.start})", path=path) from e
    if "\x00" in text:
        raise GuidanceError("file is binary, not text", path=path)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_document(text: str, *, path: str, doc_id: str | None = None) -> GuidanceDocument:
    """Parses a guidance document; raises GuidanceError for no headings, empty or duplicate sections."""
    meta, pos = _split_front_matter(text, path)
    lines: list[tuple[int, str]] = []
    offset = pos
    for line in text[pos:].split("\n"):
        lines.append((offset, line))
        offset += len(line) + 1

    headings: list[tuple[int, int, str, int, int]] = []  # (line index, level, title, start, end)
    in_fence = False
    for i, (start, line) in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        if in_fence:
            continue
        if m := _HEADING_RE.match(line):
            headings.append((i, len(m.group(1)), m.group(2).strip(), start, start + len(line)))
    if not headings:
        raise GuidanceError("no Markdown headings (# …) found: sections cannot be identified", path=path)

    doc_title = meta.get("title") or next((h[2] for h in headings if h[1] == 1), Path(path).stem)
    top = min(h[1] for h in headings if h[2] != doc_title or h[1] != 1) if len(headings) > 1 else headings[0][1]

    sections: list[Section] = []
    seen: dict[str, str] = {}
    stack: list[tuple[int, str, str]] = []  # (level, id, title)
    chapter: str | None = None

    def body(first_line: int, last_line: int) -> tuple[str, int, int]:
        chunk = lines[first_line:last_line]
        if not chunk:
            return "", 0, 0
        start = chunk[0][0]
        end = chunk[-1][0] + len(chunk[-1][1])
        raw = text[start:end]
        stripped = raw.strip()
        lead = len(raw) - len(raw.lstrip())
        return stripped, start + lead, start + lead + len(stripped)

    first_heading = headings[0][0]
    lead_text, lead_start, lead_end = body(0, first_heading)
    ordinal = 0
    pending_lead = lead_text
    for n, (li, level, title, _hs, _he) in enumerate(headings):
        next_line = headings[n + 1][0] if n + 1 < len(headings) else len(lines)
        text_body, bstart, bend = body(li + 1, next_line)
        if level == 1 and title == doc_title and n == 0:
            # The document title: its body is the lead paragraph.
            lead_text = (pending_lead + "\n\n" + text_body).strip() if pending_lead else text_body
            if pending_lead and text_body:
                lead_end = bend
            elif text_body:
                lead_start, lead_end = bstart, bend
            pending_lead = ""
            if lead_text:
                sections.append(Section(LEAD_ID, LEAD_TITLE, 1, (doc_title,), lead_text, lead_start, lead_end))
                seen[LEAD_ID] = LEAD_TITLE
            continue
        if pending_lead:
            sections.append(Section(LEAD_ID, LEAD_TITLE, 1, (doc_title,), pending_lead, lead_start, lead_end))
            seen[LEAD_ID] = LEAD_TITLE
            pending_lead = ""
        ordinal += 1
        sid, clean_title = section_id_for(title, chapter=chapter if level > top else None, ordinal=ordinal)
        if level <= top:
            chapter = sid
        if not SECTION_ID_RE.match(sid):
            raise GuidanceError(f"section id {sid!r} of heading {clean_title!r} is not a valid id", path=path)
        if sid in seen:
            raise GuidanceError(f"duplicate section id {sid!r} ({seen[sid]!r} and {clean_title!r})", path=path)
        seen[sid] = clean_title
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, sid, clean_title))
        has_children = n + 1 < len(headings) and headings[n + 1][1] > level
        if not text_body and not has_children:
            raise GuidanceError(f"section {sid!r} ({clean_title!r}) is empty", path=path)
        if text_body:
            path_titles = (doc_title, *(t for _, _, t in stack))
            sections.append(Section(sid, clean_title, level, path_titles, text_body, bstart, bend))
    if not sections:
        raise GuidanceError("document has headings but no text", path=path)
    return GuidanceDocument(
        doc_id=doc_id or meta.get("doc_id") or slugify(Path(path).stem),
        title=doc_title,
        source=meta.get("source", ""),
        date=meta.get("date", ""),
        path=path,
        text=text,
        sections=tuple(sections),
    )


def load_document(path: Path) -> GuidanceDocument:
    """Reads, validates and parses one guidance file."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise GuidanceError(f"cannot read file ({e.strerror})", path=str(path)) from e
    return parse_document(decode_document(raw, str(path)), path=str(path))
