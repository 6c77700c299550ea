"""The terminal chat: the same interview and report over standard input/output (works with piped input)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TextIO

from bot.errors import InterviewError
from bot.interview.report import Report
from bot.interview.service import Finished, InterviewService, QuestionStep, Step
from bot.report.chart import radar_png
from bot.report.markdown import report_json, report_markdown

HELP = "输入选项编号（1–4）或直接用文字描述；/back 上一题，/skip 跳过，/restart 重新开始，/report 查看报告，/quit 退出。"
CHAT_GAPS = 5


def render_question(step: QuestionStep) -> str:
    """A question as terminal text, options numbered from 1 (ready first)."""
    lines = []
    if step.notice:
        lines.append(f"（{step.notice}）")
    lines.append(step.progress)
    lines.append(step.question.text)
    for i, opt in enumerate(step.question.options, 1):
        lines.append(f"  {i}. {opt.label}")
    if step.previous is not None:
        prev = step.previous.get("text") or "跳过"
        lines.append(f"  （之前的回答：{prev}）")
    return "\n".join(lines)


def write_report_files(report: Report, reports_dir: Path) -> list[Path]:
    """report.md, report.json and radar.png under DATA_DIR/reports/."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    md, js, png = reports_dir / "report.md", reports_dir / "report.json", reports_dir / "radar.png"
    md.write_text(report_markdown(report), encoding="utf-8")
    js.write_text(report_json(report), encoding="utf-8")
    png.write_bytes(radar_png([d.title for d in report.dimensions], [d.score for d in report.dimensions],
                              title=f"{report.title}（{report.verdict_label}）"))
    return [md, js, png]


async def _readline(stream: TextIO) -> str | None:
    line = await asyncio.to_thread(stream.readline)
    return None if line == "" else line.rstrip("\n")


async def run_terminal(service: InterviewService, *, reports_dir: Path, thread_id: str = "terminal:local",
                       stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Runs the interview until the report (or end of input); returns an exit code."""
    inp, out = stdin or sys.stdin, stdout or sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    def show(step: Step) -> None:
        if isinstance(step, QuestionStep):
            say("")
            say(render_question(step))
            return
        if step.notice:
            say(f"（{step.notice}）")
        say("")
        say(report_markdown(step.report, max_gaps=CHAT_GAPS))
        paths = write_report_files(step.report, reports_dir)
        say("报告已保存：" + "，".join(str(p) for p in paths))
        say("输入 /restart 重新诊断，/quit 退出。")

    say("私域启动准备度诊断 · " + HELP)
    step = await service.start(thread_id)
    show(step)
    while True:
        line = await _readline(inp)
        if line is None or line.strip() in ("/quit", "/exit", "/q"):
            say("再见！进度已保存，下次运行会从这里继续。" if not isinstance(step, Finished) else "再见！")
            return 0
        text = line.strip()
        if not text:
            continue
        try:
            if text == "/back":
                step = await service.back(thread_id)
            elif text == "/skip":
                step = await service.skip(thread_id)
            elif text in ("/restart", "/start", "/diagnose"):
                step = await service.restart(thread_id)
            elif text == "/report":
                report = await service.last_report(thread_id)
                if report is None:
                    say("还没有完成的报告。")
                else:
                    say(report_markdown(report, max_gaps=CHAT_GAPS))
                continue
            elif text in ("/help", "?"):
                say(HELP)
                continue
            elif isinstance(step, Finished):
                say("诊断已完成。输入 /restart 重新开始，/quit 退出。")
                continue
            else:
                step = await service.answer_text(thread_id, text)
        except InterviewError:
            say("当前没有进行中的诊断，输入 /restart 开始。")
            continue
        show(step)
