"""End-to-end tests: the real bot process against the Bot API test server (tests.botapi)."""
