"""The interview graph's state: plain JSON-friendly values, so every checkpoint is readable after a restart."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
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


class InputKind(StrEnum):
    """What the user did; the `kind` of a resume value."""

    OPTION = "option"
    TEXT = "text"
    SKIP = "skip"
    BACK = "back"
    REVISIT = "revisit"
    RESTART = "restart"
    CANCEL = "cancel"


@dataclass(frozen=True)
class ChooseOption:
    """A button (or its number) chose the option with this level."""

    level: int
    kind: InputKind = InputKind.OPTION


@dataclass(frozen=True)
class TypeText:
    """Free text typed as the answer."""

    text: str
    kind: InputKind = InputKind.TEXT


@dataclass(frozen=True)
class Revisit:
    """✏️ 改一下: this answered question again, the answers after it kept."""

    question_id: str
    kind: InputKind = InputKind.REVISIT


@dataclass(frozen=True)
class Navigate:
    """/skip (recorded as unknown), /back, /restart (answers cleared) or /cancel (paused, answers kept)."""

    kind: InputKind


SKIP, BACK, RESTART, CANCEL = (Navigate(k) for k in (InputKind.SKIP, InputKind.BACK, InputKind.RESTART,
                                                    InputKind.CANCEL))


# What resumes the graph at its interrupt. It crosses the checkpoint as JSON (`as_value`) and comes back typed
# (`parse_resume`), so the nodes and the service never handle loose dicts.
Resume = ChooseOption | TypeText | Revisit | Navigate
_WITH_FIELDS: dict[str, type[ChooseOption | TypeText | Revisit]] = {
    InputKind.OPTION.value: ChooseOption, InputKind.TEXT.value: TypeText, InputKind.REVISIT.value: Revisit}


def as_value(resume: Resume) -> dict[str, Any]:
    """The JSON value LangGraph stores for a resume."""
    data = asdict(resume)
    data["kind"] = resume.kind.value
    return data


def parse_resume(value: dict[str, Any] | None) -> Resume:
    """The typed resume of a stored value (an unknown or missing kind reads as empty text)."""
    value = dict(value or {})
    kind = str(value.pop("kind", ""))
    cls = _WITH_FIELDS.get(kind)
    if cls is not None:
        return cls(**{k: v for k, v in value.items() if k in cls.__dataclass_fields__ and k != "kind"})
    try:
        return Navigate(InputKind(kind))
    except ValueError:
        return TypeText("")
