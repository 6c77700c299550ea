"""Telegram rendering: escaping and splitting stay within Telegram's rules (checked with the test server's parser)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.telegram.render import MESSAGE_LIMIT, esc, split_message, visible_length
from tests.botapi import parse_html, utf16_len


def test_escaped_user_text_parses_back_to_itself() -> None:
    text = "<b>还没有</b> & <script>alert('x')</script> &amp; 5 < 6"
    assert parse_html(esc(text)).text == text


def test_long_report_splits_on_paragraphs_within_the_limit() -> None:
    paragraph = "<b>缺口</b>\n<blockquote>" + esc("企业必须在前期就建立组织分工。" * 20) + "</blockquote>"
    parts = split_message("\n\n".join([paragraph] * 40))
    assert len(parts) > 1
    for part in parts:
        parsed = parse_html(part)  # raises like Telegram on broken tags
        assert 0 < utf16_len(parsed.text) <= MESSAGE_LIMIT
        assert visible_length(part) == utf16_len(parsed.text)


def test_one_huge_paragraph_is_cut_safely() -> None:
    parts = split_message(esc("很长<的>说明&" * 2000))
    assert len(parts) >= 3
    assert all(utf16_len(parse_html(p).text) <= MESSAGE_LIMIT for p in parts)
    assert "".join(parse_html(p).text for p in parts) == "很长<的>说明&" * 2000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=900), min_size=1, max_size=12))
def test_any_text_splits_into_valid_messages(paragraphs: list[str]) -> None:
    html_text = "\n\n".join(f"<i>{esc(p)}</i>" for p in paragraphs)
    for part in split_message(html_text):
        assert utf16_len(parse_html(part).text) <= MESSAGE_LIMIT
