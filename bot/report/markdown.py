"""The report as Markdown (export and terminal) and as JSON."""

from __future__ import annotations

import json

from bot.interview.report import Report
from bot.report import section_label

SECTION_NOTE = "引文均逐字摘自知识库中的指导文章，括号内为章节编号。"


def report_json(report: Report) -> str:
    """report.json (UTF-8, indented)."""
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)


def report_markdown(report: Report, *, max_gaps: int | None = None) -> str:
    """The whole report in Markdown; `max_gaps` limits the gap list (None = all, as in the export)."""
    lines = [f"# {report.title}", ""]
    lines.append(f"**结论：{report.verdict_label}**（综合得分 {report.overall:.0f}/100）")
    lines.append("")
    lines.append("## 各维度得分")
    lines.append("")
    lines.append("| 维度 | 章节 | 得分 |")
    lines.append("|---|---|---|")
    lines += [f"| {d.title} | {d.section} | {d.score:.0f} |" for d in report.dimensions]
    lines.append("")
    triggered = report.triggered_risks
    lines.append("## 风险信号")
    lines.append("")
    if triggered:
        lines += [f"- ⚠️ {r.title}（{r.section}）" for r in triggered]
    else:
        lines.append("- 未发现第二章所述的三大典型失败场景的明显信号。")
    lines.append("")
    gaps = report.gaps if max_gaps is None else report.gaps[:max_gaps]
    lines.append(f"## 需要补上的前置工作（{len(gaps)}/{len(report.gaps)}）" if max_gaps else "## 需要补上的前置工作")
    lines.append("")
    if not gaps:
        lines.append("没有明显缺口。")
    for i, g in enumerate(gaps, 1):
        lines.append(f"### {i}. {g.missing}（{g.severity_label}）")
        lines.append("")
        lines.append(f"- **为什么重要**：{g.why}（见 {g.why_section}）")
        lines.append(f"- **该做的前置工作**：{g.todo}")
        if g.quote:
            lines.append(f"- **指导原文**（「{section_label(g.quote_section, g.quote_title)}」，知识库 {g.kb_version}）：")
            lines.append("")
            lines.append(f"  > {g.quote}")
        lines.append("")
    if report.closing_quote:
        lines.append("## 最后")
        lines.append("")
        lines.append(f"> {report.closing_quote}")
        lines.append(">")
        lines.append(f"> ——「{section_label(report.closing_section, report.closing_title)}」")
        lines.append("")
    if max_gaps is None:
        lines.append("## 全部回答")
        lines.append("")
        lines.append("| 题目 | 章节 | 回答 | 等级 |")
        lines.append("|---|---|---|---|")
        for a in report.answers:
            typed = a.answer_text.replace("|", "\\|").replace("\n", " ")[:200]
            if a.pending:  # unclear twice: 待确认, with what was typed
                text, level = (f"{a.label}（原话：{typed}）" if typed else a.label), a.label
            else:
                text, level = typed or a.label, "未知" if a.level is None else f"{a.level}/{a.max_level}"
            lines.append(f"| {a.question_id} | {a.section} | {text} | {level} |")
        lines.append("")
    lines.append(f"_知识库版本 {report.kb_version} · 生成于 {report.created_at} · {SECTION_NOTE}_")
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def group_report_markdown(report: Report) -> str:
    """The team report in Markdown: the private report, then team scores with spread, turnout and disagreements."""
    team = report.extra.get("team", {})
    turnout = team.get("turnout", {})
    people = {str(p["user_id"]): p["name"] for p in report.extra.get("participants", [])}
    lines = [f"# 团队版：{report.title}", ""]
    lines.append(f"参与 {turnout.get('participants', 0)} 人，实际作答 {turnout.get('voted', 0)} 人；"
                 f"共 {turnout.get('questions', 0)} 题，作答率 {100 * float(turnout.get('rate', 0)):.0f}%。")
    lines += ["", "## 团队各维度得分（平均与成员最低–最高）", "", "| 维度 | 章节 | 团队平均 | 最低 | 最高 | 差距 |",
              "|---|---|---|---|---|---|"]
    for d in team.get("dimensions", []):
        lines.append(f"| {d['title']} | {d['section']} | {_num(d['mean'])} | {_num(d['min'])} | {_num(d['max'])} "
                     f"| {_num(d['spread'])} |")
    lines += ["", "## 参与者", "", "| 成员 | 作答题数 |", "|---|---|"]
    lines += [f"| {p['name'].replace('|', '/')} | {p['answered']} |" for p in report.extra.get("participants", [])]
    lines += ["", "## 分歧（回答相差两级以上）", ""]
    split = [q for q in report.extra.get("questions", []) if q.get("disagreement")]
    if not split:
        lines.append("没有相差两级以上的题。")
    for q in split:
        who = "，".join(f"{people.get(uid, uid)}：{level}" for uid, level in q["votes"].items())
        lines.append(f"- {q['question_id']}（{q['section']}）相差 {q['spread']} 级：{who}")
    lines.append("")
    body = report_markdown(report)
    return "\n".join(lines) + "\n" + body.split("\n", 1)[1]
