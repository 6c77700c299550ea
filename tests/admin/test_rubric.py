"""/rubric reload: invalid files are refused with reasons; interviews in progress carry on under the new rubric."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.admin.rubric import reload_rubric
from bot.errors import RubricError
from bot.interview.service import Finished, InterviewService, QuestionStep, StaleAction
from tests.conftest import KNOWLEDGE

REMOVED = ("goal_boundary", "research_behavior", "channel_tracking", "mindset_patience")


def rubric_data() -> dict[str, Any]:
    return yaml.safe_load((KNOWLEDGE / "rubric.yaml").read_text(encoding="utf-8"))


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def service(services) -> InterviewService:  # type: ignore[no-untyped-def]
    return services.interview  # type: ignore[no-any-return]


@pytest.fixture
def knowledge(services):  # type: ignore[no-untyped-def]
    return services.knowledge


@pytest.fixture
def rubrics(services):  # type: ignore[no-untyped-def]
    return services.rubrics


async def answer_top(service: InterviewService, thread: str, n: int) -> QuestionStep:
    step = await service.start(thread)
    for _ in range(n):
        assert isinstance(step, QuestionStep)
        step = await service.answer_option(thread, step.question.id, step.question.max_level)
    assert isinstance(step, QuestionStep)
    return step


async def test_interviews_in_progress_carry_on_when_questions_are_removed(service: InterviewService, knowledge, rubrics, services,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    near_end = await answer_top(service, "chat:1", 18)
    early = await answer_top(service, "chat:2", 5)
    assert (near_end.index, early.question.id) == (18, "tier_strategy")
    data = rubric_data()
    data["questions"] = [q for q in data["questions"] if q["id"] not in REMOVED]
    change = await reload_rubric(write(tmp_path / "rubric.yaml", data), rubrics=rubrics, knowledge=knowledge)
    assert change.questions == 16 and set(change.removed) == set(REMOVED) and not change.added
    # The holder told its subscribers: the interview and the group room both run on the new rubric.
    assert services.groups.rubric is service.rubric is rubrics.current and len(service.rubric.questions) == 16

    # Past the new end: the position is clamped to the last question, and answering it finishes the report.
    current = await service.current("chat:1")
    assert isinstance(current, QuestionStep) and current.index == 15 and current.total == 16
    done = await service.answer_option("chat:1", current.question.id, current.question.max_level)
    assert isinstance(done, Finished)
    assert {a.question_id for a in done.report.answers}.isdisjoint(REMOVED)  # removed answers are not scored
    assert len(done.report.answers) == 16 and done.report.kb_version.startswith("v")

    # Mid-interview: the old question's button is refused as outdated; the interview goes on to the end.
    with pytest.raises(StaleAction):
        await service.answer_option("chat:2", "tier_strategy", 0)
    step = await service.current("chat:2")
    assert isinstance(step, QuestionStep) and step.index == 5
    while isinstance(step, QuestionStep):
        step = await service.answer_text("chat:2", "还没有，完全没做")
    assert isinstance(step, Finished) and len(step.report.answers) == 16 - 5 + 4  # answered before minus removed


async def test_an_invalid_rubric_is_refused_with_every_reason(service: InterviewService, knowledge, rubrics, services,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    before = service.rubric
    data = rubric_data()
    data["questions"][0]["weight"] = 9
    data["dimensions"][0]["title"] = "一个很长很长很长的标题"
    with pytest.raises(RubricError) as caught:
        await reload_rubric(write(tmp_path / "rubric.yaml", data), rubrics=rubrics, knowledge=knowledge)
    assert len(caught.value.problems) == 2 and "weight must be 1–3" in caught.value.problems[1]

    broken = tmp_path / "broken.yaml"
    broken.write_text("questions: [unclosed", encoding="utf-8")
    with pytest.raises(RubricError, match="cannot read rubric"):
        await reload_rubric(broken, rubrics=rubrics, knowledge=knowledge)

    data = rubric_data()
    data["questions"][0]["gap"]["why_section"] = "9.9"  # not in the knowledge base
    with pytest.raises(RubricError, match="9.9"):
        await reload_rubric(write(tmp_path / "rubric.yaml", data), rubrics=rubrics, knowledge=knowledge)
    assert service.rubric is before


async def test_a_question_that_keeps_its_id_must_keep_its_options(service: InterviewService, knowledge, rubrics, services,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    data = rubric_data()
    question = data["questions"][0]
    assert len(question["options"]) == 3
    question["options"].insert(1, {"label": "大致想过", "examples": ["大概想过一些"]})
    question["gap"]["levels"][2] = question["gap"]["levels"][1]  # the partial answers need their own gap text
    with pytest.raises(RubricError, match="goal_purpose: 3 options before, 4 now"):
        await reload_rubric(write(tmp_path / "rubric.yaml", data), rubrics=rubrics, knowledge=knowledge)

    renamed = copy.deepcopy(data)
    renamed["questions"][0]["id"] = "goal_purpose_v2"
    for risk in renamed["risks"]:
        risk["questions"] = ["goal_purpose_v2" if q == "goal_purpose" else q for q in risk["questions"]]
    change = await reload_rubric(write(tmp_path / "rubric.yaml", renamed), rubrics=rubrics, knowledge=knowledge)
    assert change.added == ("goal_purpose_v2",) and change.removed == ("goal_purpose",)
