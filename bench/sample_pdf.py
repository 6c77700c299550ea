"""Sample PDF report: builds realistic reports from the model, writes docs/sample-report.pdf and a picture of page 1.

    python -m bench.sample_pdf [--out docs]

The reports use the rubric's words and verbatim passages of knowledge/guidance.md, so the sample looks like what a
user receives. `not_ready_report`, `ready_report` and `returning_report` are also the fixtures of
tests/report/test_pdf.py.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from bot.report.model import (
    AnswerItem,
    Benchmark,
    BenchmarkDimension,
    DimensionScore,
    GapItem,
    PlanItem,
    Previous,
    PreviousDimension,
    Report,
    RiskFlag,
)

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
KB = "v3"
STEPS = {1: "打地基：目标、用户与调研", 2: "定内容、触点与渠道", 3: "建组织与流程，让私域可复用"}
TITLES = {
    "2.1": "场景一:只见战术,不见战略",
    "2.2": "场景二:只顾拉人,不顾留人",
    "2.3": "场景三:只重工具,不重组织",
    "4.1": "4.1 明确战略目标:先问“为什么做私域”",
    "4.2": "4.2 用户洞察与画像:了解你的私域对象",
    "4.3": "4.3 内容与触点规划:先有体系,再求落地",
    "4.4": "4.4 流量与渠道布局:抓住最合适的入口",
    "4.5": "4.5 组织与流程建设:把私域落地变成可复用机制",
    "5.1": "5.1 调研不是简单问卷,而是洞察行为与心理",
    "5.2": "5.2 分层调研:不同用户价值的差异",
    "5.3": "5.3 竞品与行业调研:少走弯路",
    "6.4": "6.4 心态是否成熟",
    "7": "七、结语:慢就是快",
}
# Verbatim passages of knowledge/guidance.md, by section.
QUOTES = {
    "2.1": "核心问题:没有对私域的定位和价值进行顶层设计,把“群”当作目标,而不是工具。",
    "2.2": "核心问题:忽略了用户运营的基础,缺少对用户价值和生命周期的判断,没有设计留存机制。",
    "2.3": "核心问题:组织力不足,把技术当灵丹妙药,而不是配合战略与团队执行的加速器。",
    "4.1": "企业在启动私域前,必须明确三个核心问题:目的:是为了提升复购率、促进新客拉新,还是打造品牌忠诚度?"
           "指标:希望实现的关键指标(KPI)是什么,例如会员复购率、活跃人数、LTV(客户生命周期价值)等。",
    "4.2": "企业必须先对目标用户做深度洞察:行为维度:购买频次、渠道偏好、互动习惯;心理维度:需求痛点、决策动机、"
           "信息接受偏好;价值维度:高价值用户与潜力用户的划分。",
    "4.3": "节奏规划:推送频率、互动节奏、活动周期都要提前规划,避免“随机发内容”的低效状态。",
    "4.4": "闭环监控:确保每条渠道的数据可以追踪、用户来源清晰,为后续优化提供依据。",
    "4.5": "组织分工:运营、内容、客服、数据分析团队的职责划分;SOP流程:用户进群、分层、互动、促活、复购的完整流程标准化;",
    "5.1": "有效的调研应当深度挖掘用户行为和心理:用户在购买和使用产品的路径是什么?用户在决策时最在意的因素有哪些?"
           "用户对内容、活动、服务的接受偏好如何?",
    "5.2": "通过分层调研,企业可以提前规划内容、活动和服务策略,避免“资源均摊”的低效状态。",
    "5.3": "这些信息可以帮助企业在私域策略设计上少走弯路,更快找到适合自己的打法。",
    "6.4": "成熟的心态意味着:将私域视为长期资产,而非短期营销渠道;接受从零开始、不断优化的过程;关注长期用户价值而非单次销量。",
    "7": "慢,并不是拖延,而是有序的准备与布局:前置调研、用户画像、竞品分析、内部能力评估、运营流程搭建……每一个环节都不可跳过。",
}
CLOSING = "私域运营,先慢下来,把每一步都做好,才能走得更远,跑得更快。"

DIMENSIONS = (("strategy", "4.1", "战略目标"), ("users", "4.2", "用户洞察"), ("research", "5", "前期调研"),
              ("content", "4.3", "内容触点"), ("channels", "4.4", "流量渠道"), ("organisation", "4.5", "组织流程"),
              ("mindset", "6.4", "长期心态"))
RISKS = (("tactics_over_strategy", "2.1", "只见战术，不见战略"), ("acquisition_over_retention", "2.2", "只顾拉人，不顾留人"),
         ("tools_over_organisation", "2.3", "只重工具，不重组织"))
# (id, section, question, options from ready to not ready)
QUESTIONS = (
    ("goal_purpose", "4.1", "你们启动私域前，是否已经明确了做私域的目的（提升复购、拉新还是品牌忠诚）并形成共识？",
     ("已明确并写成方案", "有想法但没落到纸面", "还没想清楚")),
    ("goal_kpi", "4.1", "你们是否已为私域定好关键指标（KPI），如会员复购率、活跃人数、LTV，并设定了目标值？",
     ("指标和目标值都已定好", "定了指标，没定目标值", "只有粗略方向", "还没有指标")),
    ("user_portrait", "4.2", "你们是否已从行为、心理、价值三个维度做好了目标用户画像？",
     ("三个维度都已完成", "做了部分维度", "只有基础信息", "还没做画像")),
    ("research_behavior", "5.1", "0阶段调研中，你们是否深入研究过用户的购买路径、决策因素和内容偏好（不只是发问卷）？",
     ("做过深度调研", "只做过问卷或回访", "还没调研")),
    ("research_tiering", "5.2", "你们是否已通过调研区分出高价值、潜力和普通用户，并清楚各层的规模和贡献？",
     ("已分层并量化", "有粗略划分", "还没分层")),
    ("research_competitor", "5.3", "你们是否调研过竞品和同行的私域打法，并总结了成功与失败的经验？",
     ("系统调研并有总结", "零散看过一些", "还没调研")),
    ("content_rhythm", "4.3", "你们是否已提前规划好推送频率、互动节奏和活动周期？", ("已有完整节奏表", "大致有节奏", "随机发")),
    ("channel_tracking", "4.4", "你们是否已能追踪每条渠道的数据，清楚每个私域用户是从哪里来的？",
     ("每条渠道都可追踪", "部分渠道可追踪", "还不能追踪")),
    ("org_roles", "4.5", "你们是否已明确运营、内容、客服、数据各岗的分工和负责人，并配套KPI与激励？",
     ("分工和KPI激励都已明确", "有分工，没KPI激励", "临时兼职在做", "还没有人负责")),
    ("org_sop", "4.5", "你们是否已把用户进群、分层、互动、促活、复购的流程写成SOP？", ("全流程SOP已成文", "部分环节有SOP", "还没有SOP")),
    ("mindset_patience", "6.4", "你们是否已接受私域要从零开始、慢慢优化，并为冷启动期预留了时间和预算？",
     ("已接受并预留了资源", "理解但没预留", "希望马上见效")),
)
# (question id, severity, missing, why, why section, todo); the order is the ranking
GAPS = (
    ("goal_purpose", "high", "尚未明确做私域的目的，团队也没有形成共识",
     "目的不清时，往往看到同行做什么就跟着做什么，动作很多却没有整体统筹，建群反倒成了目标本身。", "2.1",
     "用一页纸写清私域要解决的核心问题（复购、拉新或品牌忠诚，选一个为主），与老板和核心团队逐条对齐并确认。"),
    ("goal_kpi", "high", "尚未定义私域的关键指标和目标值",
     "没有可衡量的指标，团队只能凭感觉建群发券，看上去很勤奋，人力物力却换不来关系沉淀和复购。", "2.1",
     "选定不超过 3 个核心指标（如会员复购率、月活跃人数、LTV），写明当前基线、目标值和统计口径，按月跟踪。"),
    ("user_portrait", "high", "缺少覆盖行为、心理、价值三个维度的用户画像",
     "没有画像就无法分层，只能一刀切地群发和导流，人数在涨活跃却在掉，社群表面热闹实则空心。", "2.2",
     "为目标用户写出画像：行为（购买频次、渠道偏好、互动习惯）、心理（痛点、决策动机、信息偏好）、价值（高价值与潜力用户）。"),
    ("org_roles", "high", "私域团队的分工、负责人和KPI激励尚未明确",
     "以为买了SCRM、配几个账号就够了，但没有人手、跨部门协同和激励，工具只会沦为摆设，预算白白烧掉。", "2.3",
     "画出私域组织图：运营、内容、客服、数据分析各自的职责与负责人，约定跨部门协作方式，并把私域指标写进相关岗位的KPI和激励。"),
    ("research_behavior", "medium", "未深入调研用户的购买路径、决策因素与偏好",
     "只凭表面信息判断用户，内容和活动缺乏依据，团队投入大量人力却只是在机械执行，产出几乎为零。", "3",
     "访谈 10 位以上真实用户，结合历史订单和社群观察，整理出用户的购买路径、决策关键因素和对内容、活动、服务的偏好。"),
    ("content_rhythm", "medium", "尚未规划推送频率、互动节奏和活动周期",
     "何时发、发什么全凭临时起意，要么广告刷屏要么长期冷场，用户刚进群没几天就选择离开。", "3",
     "制定内容与活动日历：明确每周推送次数、互动时段和月度/季度活动周期，上线前排好首月计划。"),
    ("channel_tracking", "low", "部分渠道还无法追踪数据和用户来源",
     "分不清哪个渠道带来的人留得住，只能继续在流量上加码，钱花出去却找不到优化方向。", "2.2",
     "为每个渠道配置独立的渠道活码或参数，给用户打上来源标签，按渠道统计引入人数、留存和转化。"),
    ("mindset_patience", "medium", "尚未接受慢启动，也没有为冷启动期预留时间和预算",
     "抱着试试看的心态入局，冷启动一遇阻力就放弃，前期投入打了水漂，也错过沉淀用户资产的窗口期。", "6.4",
     "与老板约定至少 6 个月的冷启动期和对应预算，设置阶段性过程指标（如留存、互动率），按季度复盘而不是按月追销量。"),
)
UNKNOWN_GAP = "research_competitor"
# section → (step, owner, item, done when)
PLAN = {
    "4.1": (1, "管理层", "明确私域的目的、关键指标和资源边界",
            "一页纸方案写明主目的、不超过3个KPI的基线与目标值、预算人手和用户上限，管理层已确认"),
    "4.2": (1, "数据分析", "从行为、心理、价值三个维度做用户画像", "画像文档覆盖行为、心理、价值三个维度，并据此划出高价值与潜力用户"),
    "5.1": (1, "数据分析", "深入调研用户的购买路径、决策因素和偏好",
            "完成至少10位用户访谈并结合历史订单，写出购买路径、决策关键因素和内容活动服务偏好"),
    "5.3": (1, "运营", "调研竞品与行业的私域打法和成败经验",
            "拆解了3–5个竞品或同行的私域布局、内容和激励机制，写成总结，列明可借鉴与应避开的做法"),
    "6.4": (1, "管理层", "对齐长期心态，为冷启动预留时间和预算", "私域方案写明以LTV、留存等长期价值为主要衡量，冷启动期的时长和预算已获老板批准"),
    "4.3": (2, "内容", "规划触点、内容矩阵和推送节奏", "触点清单、日常/活动/服务三类内容的主题和占比、首月内容与活动日历都已成文"),
    "4.4": (2, "运营", "梳理渠道、设计导流并打通来源追踪", "渠道清单已完成，主要渠道都有导流钩子并小范围测过转化，每个入口都能追踪用户来源"),
    "4.5": (3, "运营", "定好组织分工、全流程SOP和数据复盘机制",
            "运营、内容、客服、数据分析各有负责人，进群到复购的SOP已成文，关键指标有固定复盘会"),
}
WATCH = (
    ("2.1", 1, "管理层", "用目标统筹战术，不跟风上动作", "每季度复盘一次：新上的拉群、会员权益等动作是否都对应私域目标和KPI，对不上的就停掉"),
    ("7", 1, "管理层", "稳扎稳打，基础没做扎实前不急于放量", "每季度复盘前置工作和留存、互动等过程指标，达标后再扩大规模，不凭单月销量决定加码或放弃"),
    ("2.2", 2, "运营", "拉新的同时盯留存，不只看群员数", "每月按渠道和用户分层对比新增人数与活跃、留存；活跃下滑时先调整权益和内容，再继续导流"),
    ("2.3", 3, "管理层", "工具投入与人手、机制同步，不让工具成摆设", "每季度检查：SCRM等工具是否有人在用、有人负责，私域指标是否仍在相关岗位的KPI和激励里"),
)


def _answers(levels: dict[str, int | None]) -> tuple[AnswerItem, ...]:
    items = []
    for qid, section, text, options in QUESTIONS:
        level = levels.get(qid, len(options) - 1)
        max_level = len(options) - 1
        label = options[max_level - level] if level is not None else "待确认"
        via = "unclear" if level is None else "option"
        typed = "这个不太清楚，要问一下市场部的同事 🙂" if level is None else ""
        items.append(AnswerItem(qid, section, typed, level, max_level, label, via, text))
    return tuple(items)


def _gaps(answers: tuple[AnswerItem, ...], keep: set[str] | None = None) -> tuple[GapItem, ...]:
    by_id = {a.question_id: a for a in answers}
    gaps = []
    for qid, severity, missing, why, why_section, todo in GAPS:
        if keep is not None and qid not in keep:
            continue
        section = by_id[qid].section
        gaps.append(GapItem(qid, section, TITLES[section], severity, missing, why, why_section, todo, QUOTES[section],
                            section, TITLES[section], KB, level=by_id[qid].level, answer_label=by_id[qid].label))
    if keep is None or UNKNOWN_GAP in keep:
        gaps.append(GapItem(UNKNOWN_GAP, "5.3", TITLES["5.3"], "medium", "未系统调研竞品和行业的私域打法与经验",
                            "不了解行业就照搬同行的动作，别人拉群就拉群、别人搞会员就抄权益，缺乏属于自己的整体设计。", "2.1",
                            "选 3–5 个竞品或同行标杆，进入其私域观察，记录触点、内容、活动和激励方式，总结可借鉴与应避开的做法。",
                            QUOTES["5.3"], "5.3", TITLES["5.3"], KB, unknown=True, answer_label="待确认"))
    return tuple(gaps)


def _plan(gaps: tuple[GapItem, ...]) -> tuple[PlanItem, ...]:
    items = []
    for section, (step, owner, item, done_when) in PLAN.items():
        covered = [g for g in gaps if g.section == section]
        if not covered:
            continue
        known = [g for g in covered if not g.unknown]
        tasks = [g.todo for g in known] + [f"先确认：{g.missing}" for g in covered if g.unknown]
        rank = {"high": 0, "medium": 1, "low": 2}
        severity = min((g.severity for g in known), key=rank.__getitem__) if known else ""
        items.append(PlanItem(step, section, item, owner, done_when, section, QUOTES[section], TITLES[section], KB,
                              tasks=tuple(tasks), questions=tuple(g.question_id for g in covered), severity=severity,
                              kind="gap" if known else "confirm"))
    return tuple(sorted(items, key=lambda p: p.step))


def _watch() -> tuple[PlanItem, ...]:
    return tuple(PlanItem(step, section, item, owner, done_when, section, QUOTES[section], TITLES[section], KB,
                          kind="watch") for section, step, owner, item, done_when in WATCH)


def _report(verdict: str, overall: float, scores: tuple[float, ...], triggered: set[str],
            gaps: tuple[GapItem, ...], answers: tuple[AnswerItem, ...], plan: tuple[PlanItem, ...],
            created_at: str, *, previous: Previous | None = None, benchmark: Benchmark | None = None) -> Report:
    return Report(
        verdict=verdict, overall=overall,
        dimensions=tuple(DimensionScore(i, s, t, v) for (i, s, t), v in zip(DIMENSIONS, scores, strict=True)),
        risks=tuple(RiskFlag(i, s, t, i in triggered) for i, s, t in RISKS),
        gaps=gaps, answers=answers, kb_version=KB, created_at=created_at, title="私域启动准备度诊断",
        closing_quote=CLOSING, closing_section="7", closing_title=TITLES["7"], plan=plan, plan_steps=dict(STEPS),
        previous=previous, benchmark=benchmark,
    )


def not_ready_report() -> Report:
    """A company that is not ready: 8 gaps (one 待确认), a plan over all three steps, two risk flags raised."""
    answers = _answers({"goal_purpose": 0, "goal_kpi": 0, "user_portrait": 1, "org_roles": 1, "research_behavior": 1,
                        "content_rhythm": 1, "mindset_patience": 1, "research_competitor": None})
    gaps = _gaps(answers, keep={g[0] for g in GAPS if g[0] != "channel_tracking"} | {UNKNOWN_GAP})
    return _report("not_ready", 34.2, (12.5, 33.3, 41.7, 50.0, 66.7, 41.7, 50.0),
                   {"tactics_over_strategy", "tools_over_organisation"}, gaps, answers, _plan(gaps),
                   "2026-12-01T09:30:00+00:00")


def ready_report() -> Report:
    """A company that is ready: no gaps, every answer at the top level, a plan of things to keep watching."""
    answers = _answers({qid: len(options) - 1 for qid, _, _, options in QUESTIONS})
    return _report("ready", 100.0, (100.0,) * 7, set(), (), answers, _watch(), "2026-12-01T09:30:00+00:00")


def returning_report() -> Report:
    """A company on its second diagnosis: partly ready, better than last time, with the benchmark of 128 users."""
    answers = _answers({"goal_purpose": 1, "goal_kpi": 1, "user_portrait": 1, "org_roles": 1, "research_behavior": 1,
                        "content_rhythm": 1, "channel_tracking": 1, "mindset_patience": 1,
                        "research_competitor": None})
    gaps = _gaps(answers)
    scores = (58.3, 66.7, 54.2, 75.0, 83.3, 62.5, 50.0)
    previous = Previous(
        created_at="2026-09-14T08:00:00+00:00", overall=38.5, verdict="not_ready",
        dimensions=tuple(PreviousDimension(i, v) for (i, _, _), v in
                         zip(DIMENSIONS, (25.0, 50.0, 41.7, 75.0, 66.7, 62.5, 66.7), strict=True)),
        gaps_closed=("尚未梳理自有、社交、线下各类触达渠道与触点", "缺少从公域引导到私域入口的导流策略",
                     "缺少结合用户画像的内容矩阵"),
        new_gaps=("尚未接受慢启动，也没有为冷启动期预留时间和预算",),
    )
    spread = ((45.0, 60.0, 75.0), (40.0, 55.0, 70.0), (30.0, 45.0, 62.0), (50.0, 62.5, 75.0), (50.0, 66.7, 83.3),
              (37.5, 50.0, 62.5), (50.0, 66.7, 83.3))
    bands = ("中上", "中上", "中上", "中上", "前 25%", "中上", "后 25%")
    percentiles = (61.0, 68.5, 66.0, 74.5, 78.0, 70.5, 21.0)
    benchmark = Benchmark(users=128, dimensions=tuple(
        BenchmarkDimension(i, v, pct, band, *ps)
        for (i, _, _), v, pct, band, ps in zip(DIMENSIONS, scores, percentiles, bands, spread, strict=True)))
    return _report("partly", 62.4, scores, {"tactics_over_strategy"}, gaps, answers, _plan(gaps),
                   "2026-12-01T09:30:00+00:00", previous=previous, benchmark=benchmark)


def main() -> None:
    """Writes the sample PDF and a PNG of its first page, and prints the timings."""
    from bot.report.pdf import report_pdf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = returning_report()
    start = time.perf_counter()
    pdf = report_pdf(report)  # the radar chart drawn at print size
    pdf_s = time.perf_counter() - start
    (args.out / "sample-report.pdf").write_bytes(pdf)

    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    doc[0].render(scale=1.5).to_pil().save(args.out / "sample-report-page1.png")
    print(f"{args.out / 'sample-report.pdf'}: {len(doc)} pages, {len(pdf) / 1024:.0f} KiB; "
          f"built in {pdf_s * 1000:.0f} ms (chart included)")
    print(f"{args.out / 'sample-report-page1.png'}: page 1 at 1.5×")


if __name__ == "__main__":
    main()
