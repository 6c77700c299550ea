"""Tests of bot.telegram."""
