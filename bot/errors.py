"""The project's exception hierarchy: one root, one branch per room."""

from __future__ import annotations


class BotError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(BotError):
    """Settings are missing or malformed."""


class GuidanceError(BotError):
    """A guidance document or a knowledge-base operation was refused."""

    def __init__(self, reason: str, *, path: str | None = None) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{path}: {reason}" if path else reason)


class IngestBusyError(GuidanceError):
    """Another ingest is running on the same data directory."""


class RubricError(BotError):
    """The rubric file is invalid; `problems` lists every reason."""

    def __init__(self, problems: list[str], *, path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        head = f"{path}: " if path else ""
        super().__init__(head + "; ".join(problems))


class InterviewError(BotError):
    """An interview action could not be applied (e.g. no interview is running)."""
