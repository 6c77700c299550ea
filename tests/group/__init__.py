"""Tests of bot.group."""
