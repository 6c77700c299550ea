"""Tests of bot.admin."""
