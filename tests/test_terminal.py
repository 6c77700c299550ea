"""The terminal chat, scripted through piped standard input (no TTY), from the first question to the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
    assert "# 私域启动准备度诊断" in (reports / "report.md").read_text(encoding="utf-8")


def test_chat_resumes_after_end_of_input(data_dir: Path) -> None:
    first = run_chat(data_dir, "1\n1\n", "chat")
    assert first.returncode == 0 and "进度已保存" in first.stdout
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
