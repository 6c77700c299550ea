"""Unclear answers read by the optional chat model: validated JSON only, never over a confident reading."""

from __future__ import annotations

import pytest

from bot.interview.graph import build_graph
from bot.interview.model_reader import read_with_model
from bot.interview.reader import AnswerReader
from bot.interview.service import InterviewService, QuestionStep


class Scripted:
    """A chat model (`Completer`) that answers from a list and records the prompts."""

    def __init__(self, *replies: str | None) -> None:
        self.replies, self.prompts = list(replies), []

    async def complete(self, text: str) -> str | None:
        self.prompts.append(text)
        return self.replies.pop(0) if self.replies else None


@pytest.mark.parametrize(("reply", "level", "kind"), [
    ('{"kind": "answer", "level": 1, "reason": "有想法没成文"}', 1, "answer"),
    ('好的：```json\n{"kind": "answer", "level": 0, "reason": "没想过"}\n```', 0, "answer"),
    ('{"kind": "question", "level": null, "reason": "在问概念"}', None, "question"),
])
async def test_a_valid_reply_is_a_reading(rubric, reply: str, level: int | None, kind: str) -> None:  # type: ignore[no-untyped-def]
    model = Scripted(reply)
    got = await read_with_model(model, rubric.question("goal_purpose"), "老板那边大概有个谱")
    assert got is not None and (got.level, got.kind) == (level, kind)
    assert "老板那边大概有个谱" in model.prompts[0] and "已明确并写成方案" in model.prompts[0]


@pytest.mark.parametrize("reply", [
    '{"kind": "answer", "level": 7, "reason": "越界"}', '{"kind": "answer", "level": "2"}',
    '{"kind": "answer", "level": true}', '{"kind": "unclear", "level": null}', "not json", "[1, 2]", None,
])
async def test_an_invalid_reply_is_no_reading(rubric, reply: str | None) -> None:  # type: ignore[no-untyped-def]
    assert await read_with_model(Scripted(reply), rubric.question("goal_purpose"), "随便说说") is None


@pytest.fixture
def service_with(checkpointer, rubric):  # type: ignore[no-untyped-def]
    def build(model: Scripted) -> InterviewService:
        graph = build_graph(rubric=rubric, checkpointer=checkpointer, reader=AnswerReader(), llm=model)
        return InterviewService(graph=graph, rubric=rubric)

    return build


async def test_the_model_reads_only_what_the_rules_could_not(service_with) -> None:  # type: ignore[no-untyped-def]
    model = Scripted('{"kind": "answer", "level": 1, "reason": "r"}')
    service = service_with(model)
    await service.start("chat:1")
    step = await service.answer_text("chat:1", "还没开始")  # the rules are sure: the model is not asked
    assert isinstance(step, QuestionStep) and step.recorded is not None and step.recorded.level == 0
    assert model.prompts == []
    step = await service.answer_text("chat:1", "嗯，这个嘛，老板心里那本账")  # unclear to the rules
    assert step.recorded is not None and step.recorded.level == 1 and step.recorded.via == "text"
    assert len(model.prompts) == 1


async def test_a_failing_model_falls_back_to_asking_again(service_with) -> None:  # type: ignore[no-untyped-def]
    service = service_with(Scripted(None, "garbage"))
    await service.start("chat:1")
    step = await service.answer_text("chat:1", "嗯，这个嘛，老板心里那本账")
    assert isinstance(step, QuestionStep) and step.clarify and step.recorded is None  # asked again, no error
    step = await service.answer_text("chat:1", "嗯，这个嘛，老板心里那本账")
    assert step.recorded is not None and step.recorded.via == "unclear"


async def test_a_side_question_the_model_recognises_is_answered_not_recorded(service_with) -> None:  # type: ignore[no-untyped-def]
    service = service_with(Scripted('{"kind": "question", "level": null, "reason": "问概念"}'))
    await service.start("chat:1")
    step = await service.answer_text("chat:1", "复购率一般怎么算比较科学")
    assert isinstance(step, QuestionStep) and step.aside and step.recorded is None and step.index == 0
