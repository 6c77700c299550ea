"""The interview graph's state: plain JSON-friendly values, so every checkpoint is readable after a restart."""

from __future__ import annotations

from typing import Any, Literal, TypedDict


class Answer(TypedDict):
    """One recorded answer."""

    level: int | None  # None = skipped / unknown
    text: str  # what the user typed, or the option label
    via: Literal["option", "text", "skip"]


class InterviewState(TypedDict, total=False):
    """State of one interview thread (one chat, or one member of a group session)."""

    index: int  # position of the question being asked (0-based)
    answers: dict[str, Answer]  # question id → answer; replaced as a whole on every change
    clarifying: bool  # the current question was asked again once after an unclear free-text answer
    notice: str  # one line to show with the next question ("已返回上一题" …); "" for none
    incoming: dict[str, Any] | None  # the user's last input, as resumed from the interrupt
    route: Literal["ask", "advance", "end"]  # where `interpret` sends the conversation next
    cancelled: bool  # paused with /cancel: answers kept, `start` continues from the same question
    done: bool  # the report has been built
    report: dict[str, Any] | None  # Report.to_json() of the finished interview
    last_report: dict[str, Any] | None  # the previous report, kept across /restart for /report
    started_at: str  # ISO time the current run began
