"""The seams between rooms: event kinds and the Protocols one room offers another, so no room imports a sibling.

* interview and group *emit* usage events through an `EventSink`; admin's `EventLog` stores them;
* every service that keeps data about a user is a `Forgetter`; `/forget` calls each one;
* the group room runs its team sessions on the rubric through a `RubricSource` (the rubric holder of the root);
* the interview hands each finished report to a `ReportArchive` (the report room's history).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.interview.rubric import Rubric


class EventKind(StrEnum):
    """Usage events, as stored in the bot database's `events.kind`."""

    INTERVIEW_STARTED = "interview_started"
    INTERVIEW_COMPLETED = "interview_completed"
    GROUP_STARTED = "group_started"
    GROUP_COMPLETED = "group_completed"


@dataclass(frozen=True)
class InterviewStarted:
    """A private interview began (or began again with /restart)."""

    user_id: int
    kind: EventKind = EventKind.INTERVIEW_STARTED


@dataclass(frozen=True)
class InterviewCompleted:
    """A private interview produced its report (`report`: the report.json the checkpoint holds)."""

    user_id: int
    report: Mapping[str, Any]
    kind: EventKind = EventKind.INTERVIEW_COMPLETED


@dataclass(frozen=True)
class GroupStarted:
    """A team session began in a group."""

    starter_id: int
    chat_id: int
    kind: EventKind = EventKind.GROUP_STARTED


@dataclass(frozen=True)
class GroupCompleted:
    """A team session produced its team report."""

    starter_id: int
    chat_id: int
    report: Mapping[str, Any]
    kind: EventKind = EventKind.GROUP_COMPLETED


UsageEvent = InterviewStarted | InterviewCompleted | GroupStarted | GroupCompleted


@runtime_checkable
class EventSink(Protocol):
    """Receives usage events; recording one must never break the flow that emits it."""

    async def emit(self, event: UsageEvent) -> None:
        """Stores one event."""
        ...


@runtime_checkable
class Forgetter(Protocol):
    """A service that keeps data about users and deletes one user's on request."""

    async def forget(self, user_id: int) -> int:
        """Deletes everything it keeps about the user; returns how many records it deleted."""
        ...


@runtime_checkable
class ReportArchive(Protocol):
    """Keeps every finished private diagnosis (bot.report.history.DiagnosisHistory)."""

    async def archive(self, user_id: int, report: Mapping[str, Any]) -> Mapping[str, Any]:
        """Stores the report.json and returns it as it is to be shown (with the comparison with the user's previous
        diagnosis and the benchmark)."""
        ...


class RubricSource(Protocol):
    """The current rubric; users that keep derived state subscribe to reloads."""

    @property
    def current(self) -> Rubric:
        """The rubric in force."""
        ...

    def subscribe(self, listener: Any) -> None:
        """Calls `listener(new_rubric)` after every reload."""
        ...


class Completer(Protocol):
    """The optional chat model as the rooms use it (bot.llm.ChatModel): text in, cleaned text out, None on failure."""

    async def complete(self, text: str) -> str | None:
        """The model's answer, or None when it is absent, slow, failing or said nothing."""
        ...
