"""Telegram HTML of the admin commands and /forget: knowledge-base status, ingest results, statistics, audit log.

Every value that came from a document, a file name, a user or the engine goes through `esc`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.admin.audit import AuditEntry
from bot.admin.guidance import Committed, KbStatus, Prepared, RolledBack
from bot.admin.rubric import RubricChange
from bot.admin.stats import PeriodStats
from bot.knowledge.ingest import Diff, IngestResult
from bot.knowledge.store import VersionInfo
from bot.llm import ModelStatus
from bot.telegram.render import clip, esc

NOT_ADMIN = "抱歉，这个功能仅供管理员使用。你可以发送 /diagnose 做准备度诊断，或直接提问。"
NOT_ADMIN_UPLOAD = "抱歉，只有管理员可以上传指导文档。你可以直接用文字提问，或发送 /diagnose 开始诊断。"
BUSY = "⏳ 另一个导入正在进行，请等它完成后再试。"
SHOWN = 15  # section ids listed per kind of change
DOCS_SHOWN = 30  # documents listed by /kb


def _kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def version_line(v: VersionInfo) -> str:
    """'v3 · 2026-11-25 10:00 UTC · 2 篇 / 40 节 / 200 片段 · by'."""
    when = v.created_at.replace("T", " ").replace("+00:00", " UTC")
    mark = "▶ " if v.active else "   "
    return (f"{mark}<b>{esc(v.id)}</b> · {esc(when)} · {len(v.documents)} 篇 / {v.sections} 节 / {v.chunks} 片段"
            f" · {esc(clip(v.created_by, 60))}")


def kb_html(status: KbStatus) -> str:
    """/kb: the active version in detail and the last three versions."""
    active = status.active
    if active is None:
        return "知识库还没有任何版本。发送 /reingest 从 knowledge/ 构建。"
    when = active.created_at.replace("T", " ").replace("+00:00", " UTC")
    out = [f"<b>当前知识库版本：{esc(active.id)}</b>",
           f"创建于 {esc(when)}，由 {esc(clip(active.created_by, 60))} 创建",
           f"文档 {len(active.documents)} 篇 · 章节 {active.sections} 个 · 片段 {active.chunks} 个"]
    out += [f"• {esc(clip(d.title, 60))}（{esc(d.path)}，{len(d.sections)} 节）" for d in active.documents[:DOCS_SHOWN]]
    if len(active.documents) > DOCS_SHOWN:
        out.append(f"…（另 {len(active.documents) - DOCS_SHOWN} 篇）")
    out.append("")
    out.append("<b>最近的版本</b>（▶ 当前）")
    out += [version_line(v) for v in status.versions[:3]]
    return "\n".join(out)


def _ids(values: Sequence[str]) -> str:
    shown = ", ".join(values[:SHOWN])
    more = f" …（另 {len(values) - SHOWN} 个）" if len(values) > SHOWN else ""
    return esc(shown + more) if values else "无"


def diff_html(diff: Diff) -> str:
    """Sections added, changed and removed (always all three), and documents when any changed."""
    lines = []
    for label, values in (("新增文档", diff.docs_added), ("修改文档", diff.docs_changed),
                          ("删除文档", diff.docs_removed)):
        if values:
            lines.append(f"{label}：{_ids(values)}")
    lines += [f"新增章节（{len(diff.sections_added)}）：{_ids(diff.sections_added)}",
              f"修改章节（{len(diff.sections_changed)}）：{_ids(diff.sections_changed)}",
              f"删除章节（{len(diff.sections_removed)}）：{_ids(diff.sections_removed)}"]
    return "\n".join(lines)


def refused_html(reason: str, path: str | None = None) -> str:
    """A refused document or operation; the active version is unchanged."""
    where = f"（{esc(path)}）" if path else ""
    return f"❌ 已拒绝{where}：{esc(reason)}\n当前知识库版本保持不变。"


def prepared_html(p: Prepared) -> str:
    """A validated upload waiting for the confirm button."""
    head = (f"✅ 文件有效：<b>{esc(p.filename)}</b>（{_kb(p.size)}，“{esc(clip(p.title, 60))}”，"
            f"{p.sections} 个章节）")
    if p.replaces:
        head += "\n将替换之前上传的同名文件（旧文件归档到 uploads/.archive/）。"
    if p.unchanged:
        return f"{head}\n\n内容与当前版本相同，导入不会产生新版本。"
    return f"{head}\n\n导入后将：\n{diff_html(p.diff)}\n\n确认导入为新版本吗？"


def ingest_html(result: IngestResult, before: str | None, seconds: float, *, what: str) -> str:
    """The outcome of an ingest (upload or /reingest)."""
    if result.status == "unchanged":
        return f"内容没有变化：{esc(before or '—')} 仍是当前版本（{result.documents} 篇 / {result.sections} 节）。"
    version = result.version.id if result.version else "?"
    out = [f"✅ {esc(what)}完成：<b>{esc(version)}</b> 现为当前版本（原 {esc(before or '无')}），用时 {seconds:.1f} 秒",
           f"文档 {result.documents} 篇 · 章节 {result.sections} 个 · 片段 {result.chunks} 个",
           diff_html(result.diff)]
    if result.pruned:
        out.append(f"已删除旧版本：{esc(', '.join(result.pruned))}")
    out.append("新的提问和诊断报告即刻使用新版本；进行中的诊断不受影响。")
    return "\n".join(out)


def committed_html(c: Committed, seconds: float) -> str:
    """An upload ingested."""
    return f"文件 <b>{esc(c.filename)}</b> 已保存到 uploads/。\n" + ingest_html(c.result, c.before, seconds,
                                                                             what="导入")


def rollback_prompt_html(active: VersionInfo, target: VersionInfo) -> str:
    """What /rollback would do."""
    return (f"当前版本：\n{version_line(active)}\n回滚后将启用：\n{version_line(target)}\n\n"
            "uploads/ 中不属于目标版本的上传文件会移到 uploads/.archive/，以免下次 /reingest 又把它们导入。确认回滚吗？")


def rolled_back_html(r: RolledBack) -> str:
    """A rollback done."""
    out = [f"↩️ 已回滚：<b>{esc(r.after.id)}</b> 现为当前版本（原 {esc(r.before or '无')}）。"]
    if r.archived:
        out.append(f"已归档的上传文件：{esc(', '.join(r.archived))}")
    if r.restored:
        out.append(f"已恢复的上传文件：{esc(', '.join(r.restored))}")
    out.append("新的提问和诊断报告即刻使用该版本。")
    return "\n".join(out)


def rubric_html(change: RubricChange) -> str:
    """A rubric reloaded."""
    out = [f"✅ 评估题库已重新加载：{change.questions} 道题，{change.dimensions} 个维度。",
           f"新增题目：{_ids(change.added)}", f"删除题目：{_ids(change.removed)}",
           f"修改题目：{_ids(change.reworded)}",
           "进行中的诊断继续进行（按题目 id 保留已答内容，已删除题目的回答不计分）。"]
    return "\n".join(out)


def rubric_refused_html(problems: Sequence[str]) -> str:
    """An invalid rubric, with every reason."""
    shown = [f"• {esc(clip(p, 300))}" for p in problems[:20]]
    more = [f"…（另 {len(problems) - 20} 条）"] if len(problems) > 20 else []
    return "\n".join(["❌ rubric.yaml 无效，未加载（当前题库保持不变）：", *shown, *more])


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def stats_html(periods: Sequence[PeriodStats]) -> str:
    """/stats: one block per period."""
    out = ["<b>使用统计</b>"]
    for p in periods:
        block = [f"<b>最近 {p.days} 天</b>",
                 f"个人诊断：开始 {p.started} 次，完成 {p.completed} 次，完成率 {_pct(p.completion_rate)}",
                 f"团队诊断：开始 {p.groups_started} 次，完成 {p.groups_completed} 次"]
        if p.dimensions:
            block.append("各维度平均分：" + "；".join(f"{esc(d.title)} {d.mean:.0f}" for d in p.dimensions))
        if p.gaps:
            block.append("最常见的缺口：")
            block += [f"  {i}. {esc(g.missing)}（{esc(g.section)}）× {g.count}" for i, g in enumerate(p.gaps, 1)]
        out.append("\n".join(block))
    return "\n\n".join(out)


def audit_html(entries: Sequence[AuditEntry]) -> str:
    """/audit: the latest admin actions, newest first."""
    if not entries:
        return "审计日志为空。"
    out = [f"<b>最近 {len(entries)} 条管理操作</b>（新的在前）"]
    for e in entries:  # one paragraph each: split_message never cuts an entry in two
        when = e.ts.replace("T", " ").replace("+00:00", "")
        mark = "✅" if e.ok else "❌"
        detail = f" {esc(clip(e.detail, 80))}" if e.detail else ""
        out.append(f"{mark} {esc(when)} · {esc(clip(e.user_name, 40))}（{e.user_id}）· <b>{esc(e.action)}</b>{detail}"
                   f" → {esc(clip(e.result, 120))}")
    return "\n\n".join(out)


FORGET_PROMPT = ("将删除我为你保存的全部数据：诊断回答、进度和报告，你在使用统计中的记录，团队诊断中的投票与参与记录，"
                 "以及你尝试管理命令被拒绝的记录。删除后无法恢复。确认删除吗？")
FORGET_DONE = "🗑 已删除你的全部数据。之后如再使用，会重新开始保存。"
FORGET_KEPT = "已取消，什么都没有删除。"


def llm_html(status: ModelStatus | None) -> str:
    """/llm: the model, its endpoint and a test prompt's outcome (the key is never shown)."""
    if status is None:
        return ("未配置聊天模型（LLM_MODEL 为空）：机器人只用确定性的规则与检索。设置 LLM_MODEL、LLM_BASE_URL、"
                "LLM_API_KEY 后重启即可启用；启用后，用户的回答与提问会发送给该模型的提供方。")
    head = f"<b>聊天模型</b>：{esc(status.model)}\n<b>接口</b>：{esc(status.endpoint)}"
    if status.ok:
        return f"{head}\n✅ 测试提示 {status.seconds:.1f} 秒返回：{esc(status.detail[:100])}"
    return f"{head}\n❌ 测试失败（{status.seconds:.1f} 秒）：{esc(status.detail)}\n机器人照常使用确定性的规则与检索。"
