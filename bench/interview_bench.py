"""Interview benchmark: one step (answer → next question) p50/p99, and building the report with its chart.

    python -m bench.interview_bench [--interviews 30]

Steps run on the real graph and the on-disk SQLite checkpointer, sequentially and with 100 users at once;
the report is built warm (knowledge base loaded) with citations, Markdown, JSON and the radar PNG.
Targets (issue #3): step p99 ≤ 20 ms, report ≤ 500 ms warm.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def main_async(interviews: int) -> None:
    """Prints step and report figures."""
    from bench.retrieval_eval import build_kb
    from bot.interview.graph import build_graph
    from bot.interview.rubric import load_rubric
    from bot.interview.service import InterviewService, QuestionStep
    from bot.report.build import build_report
    from bot.report.chart import radar_png
    from bot.report.exports import export_files
    from bot.report.markdown import report_json, report_markdown
    from bot.services import open_checkpointer

    rubric = load_rubric(ROOT / "knowledge" / "rubric.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        kb = build_kb(Path(tmp) / "kb")
        kb.warm_up()
        async with open_checkpointer(Path(tmp) / "ck.sqlite") as cp:
            svc = InterviewService(graph=build_graph(rubric=rubric, checkpointer=cp, citer=kb), rubric=rubric,
                                   section_title=kb.section_title)
            steps: list[float] = []
            for i in range(interviews):
                step = await svc.start(f"seq{i}")
                while isinstance(step, QuestionStep) and step.index < len(rubric.questions) - 1:
                    t = time.perf_counter()
                    step = await svc.answer_option(f"seq{i}", step.question.id, i % 3)
                    steps.append((time.perf_counter() - t) * 1000)
            concurrent: list[float] = []

            async def user(i: int) -> None:
                await asyncio.sleep(0.5 * i / 100)
                step = await svc.start(f"con{i}")
                for _ in range(5):
                    await asyncio.sleep(0.5)
                    t = time.perf_counter()
                    step = await svc.answer_option(f"con{i}", step.question.id, 1)  # type: ignore[union-attr]
                    concurrent.append((time.perf_counter() - t) * 1000)

            await asyncio.gather(*(user(i) for i in range(100)))
        answers = {q.id: {"level": i % (q.max_level + 1), "text": "", "via": "option"}
                   for i, q in enumerate(rubric.questions)}
        build_report(rubric, answers, kb)  # first run loads the font and the index
        radar_png(["甲", "乙", "丙"], [1, 2, 3])
        reports: list[float] = []
        for _ in range(20):
            t = time.perf_counter()
            report = build_report(rubric, answers, kb)
            report_markdown(report)
            report_json(report)
            radar_png([d.title for d in report.dimensions], [d.score for d in report.dimensions], title=report.title)
            reports.append((time.perf_counter() - t) * 1000)
        pdfs: list[float] = []
        for _ in range(5):
            t = time.perf_counter()
            export_files(report)  # the PDF (with its print-sized radar), the Markdown and the JSON of /export
            pdfs.append((time.perf_counter() - t) * 1000)
    print(f"interview step, sequential: p50 {statistics.median(steps):.2f} ms, p99 {_pct(steps, 99):.2f} ms "
          f"(n={len(steps)}; target p99 ≤ 20 ms)")
    print(f"interview step, 100 users at ~0.5 s pace: p50 {statistics.median(concurrent):.2f} ms, "
          f"p99 {_pct(concurrent, 99):.2f} ms (n={len(concurrent)})")
    print(f"report with citations + Markdown + JSON + radar PNG, warm: p50 {statistics.median(reports):.0f} ms, "
          f"max {max(reports):.0f} ms (target ≤ 500 ms)")
    print(f"/export files (PDF + Markdown + JSON), warm: p50 {statistics.median(pdfs):.0f} ms, max {max(pdfs):.0f} ms")


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interviews", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(main_async(args.interviews))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
