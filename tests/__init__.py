"""Unit, graph, feed_update and end-to-end tests, one folder per room of bot/."""
