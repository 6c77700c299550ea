"""The terminal chat: the same interview and report over standard input/output (works with piped input)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from bot.errors import InterviewError
from bot.interview.service import Finished, InterviewService, QuestionStep, RecordedAnswer, StaleAction, Step
from bot.knowledge.answer import grounded_answer
from bot.ports import Completer
from bot.report import CHAT_GAPS, section_label
from bot.report.compare import with_previous
from bot.report.exports import export_files, radar_for
from bot.report.model import Report
from bot.report.text import report_text

if TYPE_CHECKING:  # annotations only: the terminal works on any object with `search`
    from bot.knowledge.search import Passage

HELP = ("输入选项编号（1–4）或直接用文字描述；答题时也可以直接提问，我会先从指导文章中找答案。"
        "/back 上一题，/fix 修改上一个回答，/skip 跳过，/restart 重新开始，/report 查看报告，/quit 退出。")
MAX_QUERY = 500  # characters of a side question sent to the search
EXIT_INCOMPLETE = 1  # the input ended before the report (progress is saved)
NOT_COVERED = "指导文章中没有涉及这个问题。"


class Guidance(Protocol):
    """Searches the guidance (KnowledgeBase.search)."""

    def search(self, query: str, *, k: int = 3) -> Sequence[Passage]: ...


def render_question(step: QuestionStep) -> str:
    """A question as terminal text, options numbered from 1 (ready first)."""
    lines = []
    if step.notice:
        lines.append(f"（{step.notice}）")
    lines.append(step.progress)
    lines.append(step.question.text)
    for i, opt in enumerate(step.question.options, 1):
        lines.append(f"  {i}. {opt.label}")
    previous = step.previous_shown
    if previous is not None:
        lines.append(f"  （之前的回答：{previous}）")
    return "\n".join(lines)


def render_recorded(recorded: RecordedAnswer) -> str:
    """`记录为：「…」` after a typed answer, with how to correct it."""
    note = "，报告中列为待确认的缺口" if recorded.pending else ""
    return f"记录为：「{recorded.label}」（第 {recorded.index + 1} 题{note}；输入 /fix 修改）"


def render_passages(query: str, passages: Sequence[Passage], *, summary: str | None = None) -> str:
    """A side question answered from the guidance: the chat model's short answer when there is one, then section id
    and title and the passage, for each hit."""
    if not passages:
        return NOT_COVERED
    lines = [f"简答（根据下面的原文整理，方括号内为章节号）：{summary}", ""] if summary else []
    lines.append(f"关于「{query}」，指导文章中最相关的内容：")
    for p in passages:
        lines.append(f"「{section_label(p.section, p.title)}」")
        lines.append(f"  {p.text}")
    return "\n".join(lines)


def _stamp(report: Report) -> str:
    """reports/<timestamp>/ of a report: its UTC creation time, 20261201-140503."""
    digits = re.sub(r"\D", "", report.created_at[:19]).ljust(14, "0")
    return f"{digits[:8]}-{digits[8:14]}"


def previous_report(reports_dir: Path) -> Report | None:
    """The report the last run wrote (reports/report.json), if any and readable."""
    path = reports_dir / "report.json"
    try:
        return Report.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_report_files(report: Report, reports_dir: Path) -> list[Path]:
    """Keeps the run in reports/<timestamp>/ and writes the latest to reports/report.md, report.json, report.pdf
    and radar.png (the paths other tools read)."""
    run_dir = reports_dir / _stamp(report)
    n = 1
    while (run_dir / "report.json").exists() and previous_report(run_dir) != report:
        n += 1
        run_dir = reports_dir / f"{_stamp(report)}-{n}"
    run_dir.mkdir(parents=True, exist_ok=True)
    png = radar_for(report)
    files = {"report" + Path(f.name).suffix: f.data for f in export_files(report)}
    files["radar.png"] = png
    written = []
    for folder in (run_dir, reports_dir):
        for name, data in files.items():
            (folder / name).write_bytes(data)
            written.append(folder / name)
    return [p for p in written if p.parent == reports_dir] + [run_dir]


async def _readline(stream: TextIO) -> str | None:
    line = await asyncio.to_thread(stream.readline)
    return None if line == "" else line.rstrip("\n")


def _fix_target(step: Step, last_answered: str | None, service: InterviewService) -> str | None:
    """The question /fix asks again: the one last answered here, else the one before the current question."""
    if last_answered is not None:
        return last_answered
    if isinstance(step, QuestionStep):
        return service.rubric.questions[step.index - 1].id if step.index > 0 else None
    return step.report.answers[-1].question_id if step.report.answers else None


async def run_terminal(service: InterviewService, *, reports_dir: Path, knowledge: Guidance | None = None,
                       llm: Completer | None = None, thread_id: str = "terminal:local", stdin: TextIO | None = None,
                       stdout: TextIO | None = None) -> int:
    """Runs the interview until /quit; returns 0, or EXIT_INCOMPLETE when the input ends before the report."""
    inp, out = stdin or sys.stdin, stdout or sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    async def answer_aside(query: str) -> None:
        query = query.strip()[:MAX_QUERY]
        passages = await asyncio.to_thread(knowledge.search, query, k=3) if knowledge is not None else []
        summary = await grounded_answer(llm, query, passages)  # type: ignore[arg-type]
        say("")
        say(render_passages(query, passages, summary=summary))

    async def show(step: Step) -> None:
        if isinstance(step, QuestionStep):
            if step.aside:
                await answer_aside(step.aside)
            say("")
            say(render_question(step))
            return
        if step.notice:
            say(f"（{step.notice}）")
        say("")
        report = step.report
        before = previous_report(reports_dir)
        if report.previous is None and before is not None and before.created_at != report.created_at:
            report = with_previous(report, before)
        say(report_text(report, max_gaps=CHAT_GAPS))
        paths = write_report_files(report, reports_dir)
        say("报告已保存：" + "，".join(str(p) for p in paths))
        say("输入 /restart 重新诊断，/fix 修改最后一个回答，/quit 退出。")

    say("私域启动准备度诊断 · " + HELP)
    step = await service.start(thread_id)
    last_answered: str | None = None  # question id of the last answer recorded in this run, for /fix
    await show(step)
    while True:
        line = await _readline(inp)
        if line is None:
            if isinstance(step, Finished):
                say("再见！")
                return 0
            say("输入已结束，诊断尚未完成。进度已保存，下次运行会从这里继续。")
            print("错误: 输入在报告生成前结束", file=sys.stderr)
            return EXIT_INCOMPLETE
        text = line.strip()
        if text in ("/quit", "/exit", "/q"):
            say("再见！进度已保存，下次运行会从这里继续。" if not isinstance(step, Finished) else "再见！")
            return 0
        if not text:
            continue
        typed = False
        try:
            if text == "/back":
                step = await service.back(thread_id)
            elif text == "/fix":
                target = _fix_target(step, last_answered, service)
                if target is None:
                    say("还没有可以修改的回答。")
                    continue
                step = await service.revisit(thread_id, target)
            elif text == "/skip":
                step = await service.skip(thread_id)
            elif text in ("/restart", "/start", "/diagnose"):
                step = await service.restart(thread_id)
                last_answered = None
            elif text == "/report":
                report = await service.last_report(thread_id)
                if report is None:
                    say("还没有完成的报告。")
                else:
                    say(report_text(previous_report(reports_dir) or report, max_gaps=CHAT_GAPS))
                continue
            elif text in ("/help", "?"):
                say(HELP)
                continue
            elif isinstance(step, Finished):
                say("诊断已完成。输入 /restart 重新开始，/fix 修改最后一个回答，/quit 退出。")
                continue
            else:
                step = await service.answer_text(thread_id, text)
                typed = True
        except StaleAction:
            say("这一题还没有回答，没有可以修改的内容。")
            continue
        except InterviewError:
            say("当前没有进行中的诊断，输入 /restart 开始。")
            continue
        if step.recorded is not None:
            last_answered = step.recorded.question.id
            if typed:
                say(render_recorded(step.recorded))
        await show(step)
