"""The interview graph's state: plain JSON-friendly values, so every checkpoint is readable after a restart."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# How an answer was recorded: a button (or its number), free text read with confidence, /skip, or free text that
# stayed unclear after one re-ask (recorded as unknown and shown as 「待确认」).
AnswerVia = Literal["option", "text", "skip", "unclear"]


class Answer(TypedDict):
    """One recorded answer."""

    level: int | None  # None = unknown (skipped, or unclear twice)
    text: str  # what the user typed, or the option label ("" when skipped)
    via: AnswerVia


class InterviewState(TypedDict, total=False):
    """State of one interview thread (one chat, or one member of a group session)."""

    index: int  # position of the question being asked (0-based)
    answers: dict[str, Answer]  # question id → answer; replaced as a whole on every change
    clarifying: bool  # the current question was asked again once after an unclear free-text answer
    notice: str  # one line to show with the next question ("已返回上一题" …); "" for none
    incoming: dict[str, Any] | None  # the user's last input, as resumed from the interrupt
    route: Literal["ask", "advance", "end"]  # where `interpret` sends the conversation next
    recorded: str  # id of the question the last input recorded an answer to; "" when it recorded none
    # A side question the user asked instead of answering ("社群一般建多大比较合适？"): nothing was recorded, the
    # front end answers it from the guidance and shows the same question again. "" for none; every input resets it.
    aside: str
    cancelled: bool  # paused with /cancel: answers kept, `start` continues from the same question
    done: bool  # the report has been built
    report: dict[str, Any] | None  # Report.to_json() of the finished interview
    last_report: dict[str, Any] | None  # the previous report, kept across /restart for /report
    started_at: str  # ISO time the current run began
