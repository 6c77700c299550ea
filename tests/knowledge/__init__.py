"""Tests of bot.knowledge."""
