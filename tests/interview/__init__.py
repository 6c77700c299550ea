"""Tests of bot.interview."""
