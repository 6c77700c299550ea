"""Tests of bot.terminal, the terminal chat."""
