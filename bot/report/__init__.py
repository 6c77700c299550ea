"""Report renderings: Markdown, JSON, the radar chart (Telegram HTML lives in bot.telegram.render)."""
