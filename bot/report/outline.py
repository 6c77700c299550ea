"""What a report says, in order, independent of how it is laid out (pure).

`outline(report)` turns a private or team report into blocks — headline, scores, comparison, risks, gaps,
待确认, the plan, the benchmark, team views, answers, closing — each with plain-text lines, entries and verbatim
quotes. The Markdown export, the terminal's plain text, the PDF and Telegram's HTML only lay these blocks out, so
every rendering says the same thing and nothing is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.report import section_label
from bot.report.compare import arrow, change_text
from bot.report.model import Report, TeamReport

VERDICT_ICONS = {"ready": "🟢", "partly": "🟡", "not_ready": "🔴"}
SECTION_NOTE = "引文均逐字摘自知识库中的指导文章，括号内为章节编号。"


class Detail(StrEnum):
    """How much a rendering shows: a chat message (top gaps, plan without to-dos) or the full export."""

    CHAT = "chat"
    FULL = "full"


@dataclass(frozen=True)
class Quote:
    """A verbatim passage and where it comes from."""

    text: str
    source: str  # 「4.1 明确战略目标」 · 知识库 v3


@dataclass(frozen=True)
class Entry:
    """A numbered item of a block (a gap, a plan item, a disagreement)."""

    title: str
    lines: tuple[str, ...] = ()
    quote: Quote | None = None


@dataclass(frozen=True)
class Block:
    """A titled part of the report; `kind` lets a layout treat the headline or a table differently."""

    kind: str
    heading: str
    lines: tuple[str, ...] = ()
    entries: tuple[Entry, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()  # a table: the first row is the header
    quote: Quote | None = None


def _quote(text: str, section: str, title: str, kb_version: str) -> Quote | None:
    if not text:
        return None
    source = f"「{section_label(section, title)}」" + (f" · 知识库 {kb_version}" if kb_version else "")
    return Quote(text, source)


def headline(report: Report) -> Block:
    """The verdict and the overall score (with the change since the previous diagnosis)."""
    team = isinstance(report, TeamReport)
    change = "" if report.previous is None else f"，上次 {report.previous.overall:.0f}，" \
        f"{change_text(round(report.overall - report.previous.overall, 1))}"
    label = "团队诊断结论" if team else "诊断结论"
    text = f"{VERDICT_ICONS.get(report.verdict, '')} {label}：{report.verdict_label}（{'团队' if team else ''}综合 " \
           f"{report.overall:.0f}/100{change}）"
    lines: list[str] = []
    if isinstance(report, TeamReport):
        t = report.turnout
        lines.append(f"参与 {t.participants} 人，实际作答 {t.voted} 人；共 {t.questions} 题，作答率 {100 * t.rate:.0f}%。")
    return Block("headline", text.strip(), tuple(lines))


def scores_block(report: Report) -> Block:
    """Each dimension's score, its change since last time, and its benchmark band."""
    bands = {d.id: d for d in report.benchmark.dimensions} if report.benchmark else {}
    team = {d.id: d for d in report.team_dimensions} if isinstance(report, TeamReport) else {}
    lines = []
    for d in report.dimensions:
        line = f"{d.title}（{d.section}）：{d.score:.0f}"
        if d.id in team and team[d.id].min is not None:
            td = team[d.id]
            line += f"（成员 {td.min:.0f}–{td.max:.0f}）" + (" ⚠️ 分歧大" if (td.spread or 0) >= 40 else "")
        change = report.dimension_change(d.id)
        if change is not None:
            line += f"  {change_text(change)}"
        if d.id in bands:
            line += f"  · 在其他用户中：{bands[d.id].band}"
        lines.append(line)
    heading = "各维度：团队平均（成员最低–最高）" if team else "各维度得分"
    return Block("scores", heading, tuple(lines))


def comparison_block(report: Report) -> Block | None:
    """What changed since the previous diagnosis."""
    prev = report.previous
    if prev is None:
        return None
    lines = [f"上次诊断：{prev.created_at[:10]}，综合 {prev.overall:.0f} → 本次 {report.overall:.0f} "
             f"{arrow(round(report.overall - prev.overall, 1))}"]
    lines += [f"已补上：{g}" for g in prev.gaps_closed]
    lines += [f"新缺口：{g}" for g in prev.new_gaps]
    if not prev.gaps_closed and not prev.new_gaps:
        lines.append("缺口与上次相同。")
    return Block("comparison", "与上次诊断相比", tuple(lines))


def risks_block(report: Report) -> Block:
    """The chapter-2 failure scenarios the answers point to."""
    risks = report.triggered_risks
    lines = tuple(f"⚠️ {r.title}（{r.section}）" for r in risks) or ("未发现第二章所述三大典型失败场景的明显信号。",)
    return Block("risks", "风险信号", lines)


def gaps_block(report: Report, detail: Detail, max_gaps: int | None) -> Block:
    """Confirmed gaps, most severe first, each with why, what to do and the guidance's words."""
    known = report.known_gaps
    shown = known if max_gaps is None else known[:max_gaps]
    entries = []
    for i, g in enumerate(shown, 1):
        lines = []
        if g.answer_label:
            lines.append(f"你们的情况：{g.answer_label}")
        lines.append(f"为什么重要：{g.why}（见 {g.why_section}）")
        lines.append(f"该做什么：{g.todo}")
        entries.append(Entry(f"{i}. {g.missing}（{g.severity_label}）", tuple(lines),
                             _quote(g.quote, g.quote_section, g.quote_title, g.kb_version)))
    lines_: tuple[str, ...] = ()
    if not known:
        heading, lines_ = "需要补上的前置工作", ("没有确认的缺口：各项前置工作都已到位。",)
    elif len(shown) < len(known):
        heading = f"最需要补上的前置工作（前 {len(shown)} 项，共 {len(known)} 项）"
    else:
        heading = f"需要补上的前置工作（{len(known)} 项）"
    return Block("gaps", heading, lines_, tuple(entries))


def pending_block(report: Report) -> Block | None:
    """Possible gaps whose answers are unknown, after the known ones."""
    pending = report.pending_gaps
    if not pending:
        return None
    lines = tuple(f"{g.missing}（{g.section}）" for g in pending)
    return Block("pending", f"待确认（{len(pending)} 项：回答未知，可能是缺口）", lines)


def plan_block(report: Report, detail: Detail) -> Block:
    """The action plan, step by step: item, owner, done-criterion (and, in full, the to-dos and citations)."""
    entries = []
    for n, p in enumerate(report.plan, 1):
        lines = []
        if detail is Detail.FULL:
            lines += [f"· {t}" for t in p.tasks]
        lines.append(f"负责：{p.owner_role} · 完成标准：{p.done_when}")
        tag = {"confirm": "（先确认）", "watch": "（持续关注）"}.get(p.kind, "")
        entries.append(Entry(f"{n}. [{report.step_title(p.step)}] {p.item}{tag}（{p.section}）", tuple(lines),
                             _quote(p.quote, p.quote_section, p.quote_title, p.kb_version)
                             if detail is Detail.FULL else None))
    lines_ = () if entries else ("暂无需要安排的事项。",)
    return Block("plan", "行动计划（按指导文章的顺序：先打基础，再做内容与渠道，最后让组织和流程可复用）", lines_,
                 tuple(entries))


def benchmark_block(report: Report) -> Block | None:
    """Where each dimension stands among the other users (or the one-line reason it is not shown)."""
    bm = report.benchmark
    if bm is None or isinstance(report, TeamReport):
        return None
    if bm.omitted or not bm.dimensions:
        return Block("benchmark", "与其他用户对比", (bm.omitted or "暂无可比较的数据。",))
    titles = {d.id: d.title for d in report.dimensions}
    lines = [f"基于 {bm.users} 位用户各自最近一次诊断（匿名汇总，不含任何个人信息）："]
    lines += [f"{titles.get(d.id, d.id)}：{d.score:.0f}，{d.band}（中位 {d.p50:.0f}，四分位 {d.p25:.0f}–{d.p75:.0f}）"
              for d in bm.dimensions]
    return Block("benchmark", "与其他用户对比", tuple(lines))


def team_blocks(report: TeamReport, detail: Detail, *, max_disagreements: int | None) -> list[Block]:
    """Disagreements (by name and choice, or pseudonym), the questions discussed and voted again, who answered
    which questions (late joiners), and in full the participants' table."""
    names = report.names
    split = report.disagreements()
    entries = []
    labels = {a.question_id: a.question for a in report.answers}
    number = {q.question_id: i for i, q in enumerate(report.questions, 1)}
    for q in split if max_disagreements is None else split[:max_disagreements]:
        who = "；".join(f"{names.get(uid, uid)}：{q.choices.get(uid, str(level))}" for uid, level in q.votes.items())
        entries.append(Entry(f"{labels.get(q.question_id) or q.question_id}（{q.section}，相差 {q.spread} 级）",
                             (who,)))
    blocks = [Block("disagreements", f"分歧最大的问题（{len(split)} 题回答相差两级以上）" if split else "分歧",
                    () if split else ("团队在各题上的判断基本一致（没有相差两级以上的题）。",), tuple(entries))]
    discussed = [q for q in report.questions if q.discussed]
    if discussed:
        blocks.append(Block("discussed", "讨论后重新投票的题", tuple(
            f"第 {number[q.question_id]} 题 {labels.get(q.question_id) or q.question_id}：讨论前相差 "
            f"{q.first_spread} 级，重新投票后相差 {q.spread} 级" for q in discussed)))
    asked = report.turnout.questions
    partial = [p for p in report.participants if p.answered < asked]
    if partial:
        blocks.append(Block("turnout", "没有答完全部题目的成员", tuple(
            f"{p.name}：作答 {p.answered}/{asked} 题" + (f"（第 {'、'.join(str(number[qid]) for qid in p.questions if qid in number)} 题）"
                                                    if p.questions else "") for p in partial)))
    if detail is Detail.FULL:
        rows = [("成员", "作答题数", "作答的题")] + [
            (p.name, str(p.answered), "、".join(str(number[qid]) for qid in p.questions if qid in number))
            for p in report.participants]
        blocks.append(Block("participants", "参与者", rows=tuple(rows)))
    return blocks


def answers_block(report: Report) -> Block:
    """Every question with the option chosen (and what was typed when it was read from text)."""
    rows: list[tuple[str, ...]] = [("题目", "章节", "回答")]
    for a in report.answers:
        typed = " ".join(a.answer_text.split())[:200]
        answer = a.label
        if typed and typed != a.label and a.via in ("text", "unclear"):
            answer = f"{a.label}（原话：{typed}）"
        elif a.via == "group" and typed:
            answer = f"{a.label}；{typed}"
        rows.append((a.question or a.question_id, a.section, answer))
    return Block("answers", "全部回答", rows=tuple(rows))


def closing_block(report: Report) -> Block | None:
    """Chapter 7's advice, verbatim."""
    if not report.closing_quote:
        return None
    return Block("closing", "最后", quote=_quote(report.closing_quote, report.closing_section, report.closing_title,
                                                 ""))


def outline(report: Report, *, detail: Detail = Detail.FULL, max_gaps: int | None = None,
            max_disagreements: int | None = None, notice: str = "") -> list[Block]:
    """The report's blocks in reading order; `notice` (e.g. a changed-citation warning) comes right after the
    headline."""
    blocks: list[Block | None] = [headline(report)]
    if notice:
        blocks.append(Block("notice", "", (notice,)))
    blocks += [scores_block(report), comparison_block(report), risks_block(report)]
    if isinstance(report, TeamReport):
        blocks += team_blocks(report, detail, max_disagreements=max_disagreements)
    blocks += [gaps_block(report, detail, max_gaps), pending_block(report), plan_block(report, detail),
               benchmark_block(report)]
    if detail is Detail.FULL:
        blocks.append(answers_block(report))
    blocks.append(closing_block(report))
    return [b for b in blocks if b is not None]


def footer(report: Report) -> str:
    """The knowledge-base version, the time and what the citations are."""
    return f"知识库版本 {report.kb_version} · 生成于 {report.created_at} · {SECTION_NOTE}"
