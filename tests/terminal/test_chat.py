"""The terminal chat, scripted through piped standard input (no TTY), from the first question to the report."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from bot.interview.graph import build_graph
from bot.interview.service import InterviewService
from bot.terminal import HELP, run_terminal
from tests.conftest import ROOT

GUIDANCE = (ROOT / "knowledge" / "guidance.md").read_text(encoding="utf-8")


def run_chat(data_dir: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    env.pop("BOT_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, input=script,
                          capture_output=True, text=True, timeout=600, check=False)


def test_scripted_session_to_report(data_dir: Path) -> None:
    answers = ["1", "还没有，完全没做", "/back", "看情况", "/skip", "2", "/skip"] + ["3"] * 16
    result = run_chat(data_dir, "\n".join(answers) + "\n/quit\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "未设置 BOT_TOKEN" in result.stderr  # `python -m bot` without a token says it starts the terminal chat
    out = result.stdout
    assert "第 1/20 题 ·「4.1 明确战略目标」" in out
    assert "已返回上一题" in out and "没能确定" in out
    assert "结论" in out
    reports = data_dir / "reports"
    data = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert len(data["answers"]) == 20
    assert data["answers"][0]["level"] == 2 and data["answers"][1]["level"] is None  # re-answered by /skip
    assert all(g["quote"] in GUIDANCE for g in data["gaps"])
    assert (reports / "radar.png").read_bytes().startswith(b"\x89PNG")
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert "# 私域启动准备度诊断" in md
    assert rubric_text(0) in md and "还没有，完全没做" not in md.split("## 全部回答")[0], "answers by question text"
    assert "goal_purpose" not in md and "| 1/2 |" not in md
    assert (reports / "report.pdf").read_bytes().startswith(b"%PDF")
    report_out = out[out.index("====="):]
    assert "|---|" not in report_out and "**" not in report_out and "行动计划" in report_out, "plain text"
    runs = [d for d in reports.iterdir() if d.is_dir()]
    assert len(runs) == 1 and {p.name for p in runs[0].iterdir()} == {"report.md", "report.json", "report.pdf",
                                                                        "radar.png"}


def rubric_text(index: int) -> str:
    """The text of the rubric's question `index`."""
    import yaml

    return str(yaml.safe_load((ROOT / "knowledge" / "rubric.yaml").read_text(encoding="utf-8"))["questions"][index]["text"])


def test_a_second_run_is_kept_beside_the_first_and_compared_with_it(data_dir: Path) -> None:
    first = run_chat(data_dir, "\n".join(["3"] * 20) + "\n/quit\n", "chat")
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_chat(data_dir, "/restart\n" + "\n".join(["1"] * 20) + "\n/quit\n", "chat")
    assert second.returncode == 0, second.stderr[-2000:]
    reports = data_dir / "reports"
    runs = sorted(d for d in reports.iterdir() if d.is_dir())
    assert len(runs) == 2, "every run is kept in reports/<timestamp>/"
    older = json.loads((runs[0] / "report.json").read_text(encoding="utf-8"))
    latest = json.loads((reports / "report.json").read_text(encoding="utf-8"))
    assert latest == json.loads((runs[1] / "report.json").read_text(encoding="utf-8"))
    assert latest["previous"]["overall"] == older["overall"] < latest["overall"]
    assert "与上次诊断相比" in second.stdout and "↑" in second.stdout


def test_chat_resumes_after_end_of_input(data_dir: Path) -> None:
    first = run_chat(data_dir, "1\n1\n", "chat")
    assert first.returncode != 0 and "进度已保存" in first.stdout  # the input ended before the report
    second = run_chat(data_dir, "/quit\n", "chat")
    assert "欢迎回来" in second.stdout and "第 3/20 题" in second.stdout


def test_search_command_json(data_dir: Path) -> None:
    env = dict(os.environ, DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    hits = subprocess.run([sys.executable, "-m", "bot", "search", "竞争对手的社群怎么研究", "--json"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600, check=True)
    data = json.loads(hits.stdout)
    assert data and {"section", "title", "doc", "score", "text"} <= set(data[0]) and data[0]["section"] == "5.3"
    off = subprocess.run([sys.executable, "-m", "bot", "search", "红烧肉怎么做", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=True)
    assert json.loads(off.stdout) == []


# Answers whose reading does not depend on the reader's tuning.
CLEAR_LOW, CLEAR_TOP, UNCLEAR, SIDE_QUESTION = "还没开始", "已经全部完成", "今天天气不错", "社群一般建多大比较合适？"


def test_end_of_input_before_the_report_exits_non_zero_and_quit_exits_zero(data_dir: Path) -> None:
    ended = run_chat(data_dir, "1\n", "chat")
    assert ended.returncode != 0 and "尚未完成" in ended.stdout and ended.stderr.strip()
    quit_ = run_chat(data_dir, "1\n/quit\n", "chat")
    assert quit_.returncode == 0, quit_.stderr[-2000:]


def test_typed_answers_say_what_was_recorded_and_reasks_keep_answers_aligned(data_dir: Path, rubric) -> None:
    qs = rubric.questions
    script = [CLEAR_LOW,  # 1: read as the lowest level
              UNCLEAR, "1",  # 2: asked again, then the first option as shown
              SIDE_QUESTION, UNCLEAR, UNCLEAR,  # 3: a side question, then unclear twice → 待确认
              "/fix", CLEAR_TOP,  # 3 again, corrected
              ] + ["3"] * (len(qs) - 3) + ["/quit"]
    result = run_chat(data_dir, "\n".join(script) + "\n", "chat")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert f"记录为：「{qs[0].option(0).label}」" in out
    assert "记录为：「待确认」" in out and f"记录为：「{qs[2].option(qs[2].max_level).label}」" in out
    assert out.count("第 2/20 题") >= 2  # the question is printed again after the re-ask
    third = out.index("第 3/20 题")  # the side question: answered from the guidance (or not covered), then 3 again
    answered = min(i for i in (out.find("最相关的内容", third), out.find("没有涉及", third)) if i >= 0)
    assert "第 3/20 题" in out[answered:]
    data = json.loads((data_dir / "reports" / "report.json").read_text(encoding="utf-8"))
    got = [(a["question_id"], a["level"], a["via"]) for a in data["answers"]]
    assert got[:3] == [(qs[0].id, 0, "text"), (qs[1].id, qs[1].options[0].level, "option"),
                       (qs[2].id, qs[2].max_level, "text")]
    assert got[3:] == [(q.id, q.options[2].level, "option") for q in qs[3:]]  # nothing shifted


class FakeGuidance:
    """Answers every search with two known passages and remembers the queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def search(self, query: str, *, k: int = 3) -> list[SimpleNamespace]:
        self.queries.append(query)
        return [SimpleNamespace(section="4.4", title="4.4 流量与渠道布局", text="私域不是孤岛。"),
                SimpleNamespace(section="6", title="六、如何判断企业“准备好了没”", text="判断企业是否准备好了。")][:k]


async def test_side_question_is_answered_with_passages_then_the_question_again(checkpointer, rubric,
                                                                                tmp_path: Path) -> None:
    graph = build_graph(rubric=rubric, checkpointer=checkpointer)
    service = InterviewService(graph=graph, rubric=rubric)
    guidance = FakeGuidance()
    out = io.StringIO()
    script = "\n".join([SIDE_QUESTION, CLEAR_LOW, "/fix", CLEAR_TOP, "/quit"]) + "\n"
    code = await run_terminal(service, reports_dir=tmp_path, knowledge=guidance, stdin=io.StringIO(script),
                              stdout=out)
    text = out.getvalue()
    assert code == 0 and guidance.queries == [SIDE_QUESTION]
    assert "/fix" in HELP and "/fix" in text.splitlines()[0]
    aside = text.index("「4.4 流量与渠道布局」\n  私域不是孤岛。")
    assert "「6 六、如何判断企业“准备好了没”」\n  判断企业是否准备好了。" in text
    assert text.index("第 1/20 题", aside) > aside  # then the same question again
    low = text.index(f"记录为：「{rubric.questions[0].option(0).label}」")
    assert low > aside and "第 1/20 题" in text[low:]  # /fix asked question 1 again
    top = text.index(f"记录为：「{rubric.questions[0].option(rubric.questions[0].max_level).label}」")
    assert top > low and "第 2/20 题" in text[top:]
    snap = await graph.aget_state({"configurable": {"thread_id": "terminal:local"}})
    assert snap.values["answers"] == {rubric.questions[0].id: {"level": rubric.questions[0].max_level,
                                                              "text": CLEAR_TOP, "via": "text"}}
