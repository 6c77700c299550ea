"""Formatted-text parsing the way the Telegram Bot API server does it.

Three parse modes are understood:

* ``HTML`` - the tag set Telegram accepts (``b strong i em u ins s strike del tg-spoiler``,
  ``span class="tg-spoiler"``, ``a href``, ``code`` (``class="language-x"`` inside ``pre``), ``pre``,
  ``blockquote`` (optionally ``expandable``), ``tg-emoji emoji-id``, ``tg-time``), the four named
  entities ``&lt; &gt; &amp; &quot;`` and every numeric entity.  Error descriptions match
  the real server's wording (byte offsets are UTF-8 offsets into the *raw* text).
* ``MarkdownV2`` - bold/italic/underline/strike/spoiler/code/pre/links/blockquotes with the
  reserved-character rule (``Character '.' is reserved and must be escaped ...``).
* ``Markdown`` - the legacy mode (``*bold* _italic_ `code` ```pre``` [text](url)``).

Offsets and lengths of the produced entities are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "EntityParseError",
    "ParsedText",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "strip_parsed",
    "utf16_len",
]


class EntityParseError(ValueError):
    """Invalid markup.

    ``str(error)`` is the part that Telegram puts after ``"Bad Request: can't parse entities: "``.
    """


class UnsupportedParseMode(ValueError):
    """The ``parse_mode`` value is not one Telegram knows."""


@dataclass
class ParsedText:
    """Visible text plus its entities (``offset``/``length`` in UTF-16 code units)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Length of the visible text in UTF-16 code units (what Telegram limits)."""
        return utf16_len(self.text)


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (astral characters count 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _byte_offset(src: str, index: int) -> int:
    return len(src[:index].encode("utf-8", errors="surrogatepass"))


def _sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


# --------------------------------------------------------------------------- HTML

_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "tg-spoiler",
        "span",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
        "tg-time",
    }
)

_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NAMED_RE = re.compile(r"&([A-Za-z][A-Za-z0-9]*)(;?)")
_NUMERIC_RE = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));?")
_USER_LINK_RE = re.compile(r"^tg://user\?id=(\d+)$")


@dataclass
class _OpenTag:
    tag: str
    start: int  # UTF-16 offset in the output
    byte_offset: int
    attrs: dict[str, str]


def _decode_html_entity(src: str, i: int, *, strict: bool) -> tuple[str | None, int]:
    """Decode an entity at ``src[i] == '&'``; return ``(text, next_index)`` or ``(None, i)``."""
    m = _NUMERIC_RE.match(src, i)
    if m:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), m.end()
        return None, i
    m = _NAMED_RE.match(src, i)
    if m:
        name = m.group(1)
        if name in _NAMED_ENTITIES:
            return _NAMED_ENTITIES[name], m.end()
        if strict and m.group(2):
            raise EntityParseError(f'Unsupported HTML entity "&{name};" at byte offset {_byte_offset(src, i)}')
    return None, i



class _Out:
    """The plain text a parser is building and its length in UTF-16 code units (entity offsets count those)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.u16 = 0

    def emit(self, chunk: str) -> None:
        """Appends text."""
        self.parts.append(chunk)
        self.u16 += utf16_len(chunk)

    def text(self) -> str:
        """Everything emitted."""
        return "".join(self.parts)


def parse_html(src: str, *, strict_entities: bool = True) -> ParsedText:
    """Parse Telegram HTML into visible text and entities.

    ``strict_entities``: an unknown *named* entity such as ``&nbsp;`` is an error.  (The real
    server keeps it literally; the strict default catches text that was escaped for a browser.)
    """
    o = _Out()
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(src)
    i = 0
    emit = o.emit

    while i < n:
        c = src[i]
        if c == "&":
            decoded, j = _decode_html_entity(src, i, strict=strict_entities)
            if decoded is not None:
                emit(decoded)
                i = j
            else:
                emit("&")
                i += 1
            continue
        if c != "<":
            j = i + 1
            while j < n and src[j] not in "&<":
                j += 1
            emit(src[i:j])
            i = j
            continue

        begin = i
        if i + 1 < n and src[i + 1] == "/":
            i = _close_tag(src, begin, stack, entities, o.u16)
            continue

        # start tag
        j = i + 1
        while j < n and not src[j].isspace() and src[j] != ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(src, begin)}")
        tag = src[i + 1 : j].lower()
        if tag not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(src, begin)}')
        attrs, i = _parse_attributes(src, j, tag, begin)
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(src, begin)}')
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {_byte_offset(src, begin)}'
            )
        stack.append(_OpenTag(tag, o.u16, _byte_offset(src, begin), attrs))

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    return ParsedText(o.text(), _sort_entities(entities))


def _parse_attributes(src: str, i: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    """Parse attributes from ``src[i]`` up to and including ``>``; return (attrs, next index)."""
    n = len(src)
    attrs: dict[str, str] = {}

    def unclosed() -> EntityParseError:
        return EntityParseError(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(src, begin)}')

    while True:
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            raise unclosed()
        if src[i] == ">":
            return attrs, i + 1
        name_start = i
        while i < n and not src[i].isspace() and src[i] not in "=>":
            i += 1
        name = src[name_start:i].lower()
        if not name:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(src, begin)}')
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            raise unclosed()
        if src[i] != "=":
            attrs[name] = ""  # boolean attribute such as <blockquote expandable>
            continue
        i += 1
        while i < n and src[i].isspace():
            i += 1
        if i >= n:
            raise unclosed()
        if src[i] in "\"'":
            quote = src[i]
            i += 1
            value: list[str] = []
            while i < n and src[i] != quote:
                if src[i] == "&":
                    decoded, j = _decode_html_entity(src, i, strict=False)
                    if decoded is not None:
                        value.append(decoded)
                        i = j
                        continue
                value.append(src[i])
                i += 1
            if i >= n:
                raise unclosed()
            i += 1
            attrs[name] = "".join(value)
        else:
            value_start = i
            while i < n and (src[i].isalnum() or src[i] in ".-_"):
                i += 1
            if i < n and not (src[i].isspace() or src[i] == ">"):
                raise EntityParseError(f"Unexpected end of name token at byte offset {_byte_offset(src, value_start)}")
            attrs[name] = src[value_start:i]


def _close_tag(
    src: str,
    begin: int,
    stack: list[_OpenTag],
    entities: list[dict[str, Any]],
    u16: int,
) -> int:
    n = len(src)
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(src, begin)}")
    j = begin + 2
    while j < n and not src[j].isspace() and src[j] != ">":
        j += 1
    name = src[begin + 2 : j].lower()
    while j < n and src[j].isspace():
        j += 1
    if j >= n or src[j] != ">":
        raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(src, begin)}")
    top = stack[-1]
    if name and name != top.tag:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {_byte_offset(src, begin)}, expected "</{top.tag}>", found "</{name}>"'
        )
    stack.pop()
    length = u16 - top.start
    if length > 0:
        entity = _html_entity(top, length)
        if entity is not None:
            if top.tag == "pre":
                # <pre><code class="language-x">...</code></pre> becomes one pre entity
                for k in range(len(entities) - 1, -1, -1):
                    inner = entities[k]
                    if inner["type"] == "code" and inner["offset"] == top.start and inner["length"] == length:
                        if "language" in inner:
                            entity["language"] = inner["language"]
                        del entities[k]
                        break
            entities.append({"type": entity.pop("type"), **entity})
    return j + 1


def _html_entity(tag: _OpenTag, length: int) -> dict[str, Any] | None:
    entity: dict[str, Any] = {"offset": tag.start, "length": length}
    if tag.tag in _SIMPLE_TAG_TYPES:
        entity["type"] = _SIMPLE_TAG_TYPES[tag.tag]
        if tag.tag == "code":
            cls = tag.attrs.get("class", "")
            if cls.startswith("language-") and len(cls) > len("language-"):
                entity["language"] = cls[len("language-") :]
        return entity
    if tag.tag == "a":
        href = tag.attrs.get("href", "")
        if not href:
            return None
        m = _USER_LINK_RE.match(href)
        if m:
            entity["type"] = "text_mention"
            entity["user"] = {"id": int(m.group(1)), "is_bot": False, "first_name": ""}
        else:
            entity["type"] = "text_link"
            entity["url"] = href
        return entity
    if tag.tag == "blockquote":
        entity["type"] = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
        return entity
    if tag.tag == "tg-emoji":
        entity["type"] = "custom_emoji"
        entity["custom_emoji_id"] = tag.attrs["emoji-id"]
        return entity
    if tag.tag == "tg-time":
        entity["type"] = "date_time"
        if tag.attrs.get("unix", "").isdigit():
            entity["unix_time"] = int(tag.attrs["unix"])
        if "format" in tag.attrs:
            entity["date_time_format"] = tag.attrs["format"]
        return entity
    return None


# --------------------------------------------------------------------------- MarkdownV2

MARKDOWN_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")

_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


@dataclass
class _MdOpen:
    kind: str
    start: int
    byte_offset: int
    language: str | None = None


# The marker that closes each MarkdownV2 entity kind (checked against the innermost open entity).
_MD2_CLOSERS = {"bold": "*", "underline": "__", "italic": "_", "strikethrough": "~", "spoiler": "||"}


def parse_markdown_v2(src: str) -> ParsedText:
    """Parse MarkdownV2 (bold, italic, underline, strike, spoiler, code, pre, links, quotes)."""
    o = _Out()
    stack: list[_MdOpen] = []
    entities: list[dict[str, Any]] = []
    quote_start: int | None = None
    n = len(src)
    i = 0
    emit = o.emit

    def close(item: _MdOpen, **extra: Any) -> None:
        length = o.u16 - item.start
        if length > 0:
            entity: dict[str, Any] = {"type": item.kind, "offset": item.start, "length": length}
            if item.language:
                entity["language"] = item.language
            entity.update(extra)
            entities.append(entity)

    def reserved(ch: str) -> EntityParseError:
        return EntityParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")

    def end_quote() -> None:
        nonlocal quote_start
        if quote_start is not None and o.u16 > quote_start:
            entities.append({"type": "blockquote", "offset": quote_start, "length": o.u16 - quote_start})
        quote_start = None

    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and 0 < ord(src[i + 1]) <= 126:
            emit(src[i + 1])
            i += 2
            continue
        top = stack[-1] if stack else None

        if top is not None and top.kind in ("code", "pre"):
            if c != "`":
                emit(c)
                i += 1
                continue
            if top.kind == "code":
                stack.pop()
                close(top)
                i += 1
                continue
            if src.startswith("```", i):
                stack.pop()
                close(top)
                i += 3
                continue
            raise reserved(c)

        if c == "\n":
            if quote_start is not None and not (i + 1 < n and src[i + 1] == ">"):
                end_quote()
            emit(c)
            i += 1
            continue
        if c not in MARKDOWN_V2_RESERVED:
            emit(c)
            i += 1
            continue

        nxt = src[i + 1] if i + 1 < n else ""
        # closing markers
        if top is not None:
            closer = _MD2_CLOSERS.get(top.kind)
            if closer is not None and src.startswith(closer, i):
                stack.pop()
                close(top)
                i += len(closer)
                continue
            if top.kind == "text_link" and c == "]":
                stack.pop()
                i += 1
                if i < n and src[i] == "(":
                    url, i = _mdv2_url(src, i + 1)
                    m = _USER_LINK_RE.match(url)
                    if m:
                        close(top, type="text_mention", user={"id": int(m.group(1)), "is_bot": False, "first_name": ""})
                    elif url:
                        close(top, url=url)
                continue

        # opening markers
        here = _byte_offset(src, i)
        if c == "*":
            stack.append(_MdOpen("bold", o.u16, here))
            i += 1
        elif c == "_":
            if nxt == "_":
                stack.append(_MdOpen("underline", o.u16, here))
                i += 2
            else:
                stack.append(_MdOpen("italic", o.u16, here))
                i += 1
        elif c == "~":
            stack.append(_MdOpen("strikethrough", o.u16, here))
            i += 1
        elif c == "|" and nxt == "|":
            stack.append(_MdOpen("spoiler", o.u16, here))
            i += 2
        elif c == "[":
            stack.append(_MdOpen("text_link", o.u16, here))
            i += 1
        elif c == "`":
            if src.startswith("```", i):
                j = i + 3
                k = j
                while k < n and src[k] not in "\n `":
                    k += 1
                language = None
                if k < n and src[k] == "\n" and k > j:
                    language = src[j:k]
                    j = k + 1
                elif k < n and src[k] == "\n":
                    j = k + 1
                stack.append(_MdOpen("pre", o.u16, here, language))
                i = j
            else:
                stack.append(_MdOpen("code", o.u16, here))
                i += 1
        elif c == ">" and (i == 0 or src[i - 1] == "\n"):
            if quote_start is None:
                quote_start = o.u16
            i += 1
        else:
            raise reserved(c)

    if stack:
        item = stack[-1]
        raise EntityParseError(f"Can't find end of {_MDV2_NAMES[item.kind]} entity at byte offset {item.byte_offset}")
    end_quote()
    return ParsedText(o.text(), _sort_entities(entities))


def _mdv2_url(src: str, i: int) -> tuple[str, int]:
    n = len(src)
    start = i
    url: list[str] = []
    while i < n and src[i] != ")":
        if src[i] == "\\" and i + 1 < n:
            url.append(src[i + 1])
            i += 2
            continue
        url.append(src[i])
        i += 1
    if i >= n:
        raise EntityParseError(f"Can't find end of a url at byte offset {_byte_offset(src, start)}")
    return "".join(url), i + 1


# --------------------------------------------------------------------------- legacy Markdown


def parse_markdown(src: str) -> ParsedText:
    """Parse legacy ``Markdown`` (no nesting; ``\\`` escapes the four markers)."""
    o = _Out()
    entities: list[dict[str, Any]] = []
    n = len(src)
    i = 0
    emit = o.emit

    def missing_end(at: int) -> EntityParseError:
        return EntityParseError(f"Can't find end of the entity starting at byte offset {_byte_offset(src, at)}")

    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] in "_*`[":
            emit(src[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            emit(c)
            i += 1
            continue
        begin = i
        start = o.u16
        if c in "_*":
            end = src.find(c, i + 1)
            if end < 0:
                raise missing_end(begin)
            emit(src[i + 1 : end])
            kind = "italic" if c == "_" else "bold"
            if o.u16 > start:
                entities.append({"type": kind, "offset": start, "length": o.u16 - start})
            i = end + 1
        elif c == "`":
            if src.startswith("```", i):
                end = src.find("```", i + 3)
                if end < 0:
                    raise missing_end(begin)
                body = src[i + 3 : end]
                language = None
                first, sep, rest = body.partition("\n")
                if sep and first and " " not in first:
                    language, body = first, rest
                emit(body)
                if o.u16 > start:
                    entity: dict[str, Any] = {"type": "pre", "offset": start, "length": o.u16 - start}
                    if language:
                        entity["language"] = language
                    entities.append(entity)
                i = end + 3
            else:
                end = src.find("`", i + 1)
                if end < 0:
                    raise missing_end(begin)
                emit(src[i + 1 : end])
                if o.u16 > start:
                    entities.append({"type": "code", "offset": start, "length": o.u16 - start})
                i = end + 1
        else:  # "["
            end = src.find("]", i + 1)
            if end < 0:
                raise missing_end(begin)
            text = src[i + 1 : end]
            if end + 1 < n and src[end + 1] == "(":
                close_paren = src.find(")", end + 2)
                if close_paren < 0:
                    raise missing_end(begin)
                url = src[end + 2 : close_paren]
                emit(text)
                if url and o.u16 > start:
                    entities.append({"type": "text_link", "offset": start, "length": o.u16 - start, "url": url})
                i = close_paren + 1
            else:
                emit("[" + text + "]")
                i = end + 1
    return ParsedText(o.text(), _sort_entities(entities))


# --------------------------------------------------------------------------- helpers


def parse_text(
    text: str,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None = None,
    *,
    strict_html_entities: bool = True,
) -> ParsedText:
    """Parse ``text`` according to ``parse_mode`` (case-insensitive; ``None``/empty = plain).

    Raises :class:`EntityParseError` for bad markup and :class:`UnsupportedParseMode`.
    With no parse mode the explicit ``entities`` list (if any) is kept.
    """
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return ParsedText(text, _sort_entities([dict(e) for e in entities or []]))
    if mode == "html":
        return parse_html(text, strict_entities=strict_html_entities)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise UnsupportedParseMode(parse_mode)


def strip_parsed(parsed: ParsedText) -> ParsedText:
    """Trim surrounding whitespace like Telegram does, shifting and clipping entities."""
    text = parsed.text
    stripped_left = text.lstrip()
    left = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip()
    total = utf16_len(result)
    entities: list[dict[str, Any]] = []
    for entity in parsed.entities:
        start = max(entity["offset"] - left, 0)
        end = min(entity["offset"] + entity["length"] - left, total)
        if end > start:
            moved = dict(entity)
            moved["offset"] = start
            moved["length"] = end - start
            entities.append(moved)
    return ParsedText(result, entities)
