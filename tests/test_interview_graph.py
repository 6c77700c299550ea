"""The LangGraph interview with a fresh SQLite checkpointer per test; resume by rebuilding on the same file."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from bot.interview.graph import build_graph
from bot.interview.service import Finished, InterviewService, NoInterview, QuestionStep, StaleAction


def service_on(checkpointer, rubric, knowledge=None) -> InterviewService:  # type: ignore[no-untyped-def]
    graph = build_graph(rubric=rubric, checkpointer=checkpointer, citer=knowledge)
    return InterviewService(graph=graph, rubric=rubric,
                            section_title=knowledge.section_title if knowledge else None)


async def test_first_question_shows_progress_and_section(checkpointer, rubric, knowledge) -> None:
    svc = service_on(checkpointer, rubric, knowledge)
    step = await svc.start("t")
    assert isinstance(step, QuestionStep)
    assert step.progress == f"第 1/{len(rubric.questions)} 题 ·「4.1 明确战略目标」"


async def test_options_text_back_skip_and_clarify(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    step = await svc.start("t")
    q0 = step.question
    step = await svc.answer_option("t", q0.id, q0.max_level)
    assert step.index == 1
    step = await svc.back("t")
    assert step.index == 0 and step.previous is not None and step.previous["level"] == q0.max_level
    step = await svc.answer_text("t", "还没有，完全没做")
    assert step.index == 1
    step = await svc.skip("t")
    assert step.index == 2
    q2 = step.question
    step = await svc.answer_text("t", "看情况吧")
    assert step.index == 2 and step.clarify and step.notice
    step = await svc.answer_text("t", "嗯……这个嘛")
    assert step.index == 3 and not step.clarify  # clarified once, then recorded as unknown
    snap = await svc.graph.aget_state({"configurable": {"thread_id": "t"}})
    answers = snap.values["answers"]
    assert answers[q0.id]["level"] == 0 and answers[q0.id]["via"] == "text"
    assert answers[rubric.questions[1].id]["via"] == "skip"
    assert answers[q2.id]["level"] is None


async def test_number_picks_the_option_as_shown(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    await svc.start("t")
    await svc.answer_text("t", "1")
    snap = await svc.graph.aget_state({"configurable": {"thread_id": "t"}})
    assert snap.values["answers"][rubric.questions[0].id]["level"] == rubric.questions[0].max_level


async def test_stale_and_forged_buttons_change_nothing(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    step = await svc.start("t")
    await svc.answer_option("t", step.question.id, 0)
    with pytest.raises(StaleAction):
        await svc.answer_option("t", rubric.questions[0].id, 1)  # the first question's old button
    with pytest.raises(StaleAction):
        await svc.answer_option("t", rubric.questions[1].id, 99)  # forged level
    with pytest.raises(StaleAction):
        await svc.answer_option("t", "no_such_question", 0)
    current = await svc.current("t")
    assert isinstance(current, QuestionStep) and current.index == 1
    with pytest.raises(NoInterview):
        await svc.skip("other-thread")


async def test_full_interview_to_report_and_restart(checkpointer, rubric, knowledge) -> None:
    svc = service_on(checkpointer, rubric, knowledge)
    step = await svc.start("t")
    while isinstance(step, QuestionStep):
        step = await svc.answer_option("t", step.question.id, 0)
    assert isinstance(step, Finished)
    assert step.report.verdict == "not_ready" and len(step.report.gaps) == len(rubric.questions)
    step = await svc.restart("t")
    assert isinstance(step, QuestionStep) and step.index == 0
    assert (await svc.last_report("t")) is not None  # /report still has the previous one


async def test_cancel_pauses_and_start_continues(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    step = await svc.start("t")
    step = await svc.answer_option("t", step.question.id, 1)
    assert await svc.cancel("t")
    assert not await svc.in_progress("t")
    step = await svc.start("t")
    assert step.index == 1 and step.notice


async def test_resume_after_process_restart(tmp_path: Path, rubric) -> None:
    path = str(tmp_path / "ck.sqlite")
    async with AsyncSqliteSaver.from_conn_string(path) as cp:
        svc = service_on(cp, rubric)
        step = await svc.start("chat:1")
        for _ in range(4):
            step = await svc.answer_option("chat:1", step.question.id, 1)
        await svc.back("chat:1")
    # A new process: a new graph on the same checkpoint file.
    async with AsyncSqliteSaver.from_conn_string(path) as cp:
        svc = service_on(cp, rubric)
        current = await svc.current("chat:1")
        assert isinstance(current, QuestionStep) and current.index == 3 and current.previous is not None
        step = await svc.answer_option("chat:1", current.question.id, 0)
        assert step.index == 4
        resumed = await svc.start("chat:1")
        assert resumed.index == 4 and resumed.notice  # /diagnose continues, it does not start over
