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


# Answers whose reading does not depend on the reader's tuning.
CLEAR_LOW, CLEAR_TOP, UNCLEAR, SIDE_QUESTION = "还没开始", "已经全部完成", "今天天气不错", "社群一般建多大比较合适？"


async def answers_of(svc: InterviewService, thread: str) -> dict:  # type: ignore[type-arg]
    snap = await svc.graph.aget_state({"configurable": {"thread_id": thread}})
    return snap.values["answers"]


async def test_a_text_answer_says_what_was_recorded(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    q0 = (await svc.start("t")).question
    step = await svc.answer_text("t", CLEAR_LOW)
    assert step.index == 1 and step.recorded is not None and step.aside is None
    assert step.recorded.question.id == q0.id and step.recorded.label == q0.option(0).label
    assert step.recorded.via == "text" and not step.recorded.pending
    resumed = await svc.current("t")
    assert isinstance(resumed, QuestionStep) and resumed.recorded is None  # only the step right after the input


async def test_side_question_is_not_recorded_and_not_the_clarify(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    q0 = (await svc.start("t")).question
    step = await svc.answer_text("t", SIDE_QUESTION)
    assert isinstance(step, QuestionStep) and step.question.id == q0.id
    assert step.aside == SIDE_QUESTION and not step.clarify and step.recorded is None
    assert q0.id not in await answers_of(svc, "t")
    step = await svc.answer_text("t", UNCLEAR)  # the first unclear answer is still asked again
    assert step.question.id == q0.id and step.clarify and step.aside is None
    step = await svc.answer_text("t", SIDE_QUESTION)  # between the re-ask and the retry: still nothing recorded
    assert step.question.id == q0.id and step.aside == SIDE_QUESTION and step.clarify
    assert q0.id not in await answers_of(svc, "t")
    step = await svc.answer_text("t", CLEAR_TOP)
    assert step.index == 1 and (await answers_of(svc, "t"))[q0.id] == {
        "level": q0.max_level, "text": CLEAR_TOP, "via": "text"}


async def test_unclear_twice_is_recorded_as_pending_and_scored_as_skip(checkpointer, rubric, knowledge) -> None:
    from bot.report.build import build_report
    from bot.report.markdown import report_markdown

    svc = service_on(checkpointer, rubric)
    q0 = (await svc.start("t")).question
    step = await svc.answer_text("t", UNCLEAR)
    assert step.index == 0 and step.clarify and step.recorded is None
    step = await svc.answer_text("t", UNCLEAR)
    assert step.index == 1 and not step.clarify
    assert step.recorded is not None and step.recorded.pending and step.recorded.label == "待确认"
    answers = await answers_of(svc, "t")
    assert answers[q0.id] == {"level": None, "text": UNCLEAR, "via": "unclear"}
    step = await svc.back("t")
    assert step.previous_shown == "待确认"

    pending = build_report(rubric, answers, knowledge)
    skipped = build_report(rubric, {q0.id: {"level": None, "text": "", "via": "skip"}}, knowledge)
    assert (pending.overall, pending.dimensions) == (skipped.overall, skipped.dimensions)
    item = pending.to_json()["answers"][0]
    assert item == {"question_id": q0.id, "section": q0.section, "answer_text": UNCLEAR, "level": None,
                    "max_level": q0.max_level, "label": "待确认", "via": "unclear", "question": q0.text}
    assert next(g for g in pending.gaps if g.question_id == q0.id).severity_label == "待确认"
    row = next(line for line in report_markdown(pending).splitlines() if line.startswith(f"| {q0.text[:10]}"))
    assert "待确认" in row and UNCLEAR[:6] in row and "跳过" not in row and "未知" not in row and "✅" not in row


async def test_revisit_asks_that_question_again_and_keeps_the_later_answers(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    q0 = (await svc.start("t")).question
    step = await svc.answer_text("t", CLEAR_LOW)
    step = await svc.answer_option("t", step.question.id, 1)
    step = await svc.answer_option("t", step.question.id, 1)
    assert step.index == 3
    later = {qid: a for qid, a in (await answers_of(svc, "t")).items() if qid != q0.id}
    step = await svc.revisit("t", q0.id)
    assert isinstance(step, QuestionStep) and step.index == 0 and step.notice
    assert step.previous is not None and step.previous["level"] == 0 and step.recorded is None
    step = await svc.answer_text("t", CLEAR_TOP)
    assert step.index == 1 and step.previous is not None  # continues from there, the next answer shown
    answers = await answers_of(svc, "t")
    assert answers[q0.id]["level"] == q0.max_level
    assert {qid: a for qid, a in answers.items() if qid != q0.id} == later


async def test_revisit_with_a_forged_or_unanswered_question_changes_nothing(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    step = await svc.start("t")
    await svc.answer_option("t", step.question.id, 0)
    before = await answers_of(svc, "t")
    for forged in ("no_such_question", "", rubric.questions[5].id, rubric.questions[1].id):  # last: current, unanswered
        with pytest.raises(StaleAction):
            await svc.revisit("t", forged)
    current = await svc.current("t")
    assert isinstance(current, QuestionStep) and current.index == 1 and await answers_of(svc, "t") == before
    with pytest.raises(NoInterview):
        await svc.revisit("other-thread", rubric.questions[0].id)


async def test_revisit_after_the_report_reopens_the_interview(checkpointer, rubric) -> None:
    svc = service_on(checkpointer, rubric)
    step = await svc.start("t")
    while step.index < len(rubric.questions) - 1:
        step = await svc.answer_option("t", step.question.id, 0)
    last = step.question
    step = await svc.answer_text("t", CLEAR_LOW)
    assert isinstance(step, Finished) and step.recorded is not None and step.recorded.question.id == last.id
    step = await svc.revisit("t", last.id)
    assert isinstance(step, QuestionStep) and step.question.id == last.id and step.notice
    step = await svc.answer_text("t", CLEAR_TOP)
    assert isinstance(step, Finished)
    assert next(a for a in step.report.answers if a.question_id == last.id).level == last.max_level
