"""Report renderings: Markdown, JSON, the radar chart (Telegram HTML lives in bot.telegram.render)."""

from __future__ import annotations

CHAT_GAPS = 5  # gaps a chat or the terminal shows; the exports list them all


def section_label(section: str, title: str) -> str:
    """'4.1 明确战略目标…' for people: the id once, then the title ('4.1' + '4.1 明确…' is not repeated)."""
    if not title:
        return section
    return title if title.startswith(section) else f"{section} {title}"
