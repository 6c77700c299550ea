"""One router per user flow; `bot.telegram.app` composes them."""
