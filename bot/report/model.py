"""The readiness report as plain frozen values: a private `Report`, a team's `TeamReport`, the action plan, the
comparison with the previous diagnosis and the benchmark.

`Report.to_json()` is the `report.json` contract (README); `report_from_json` rebuilds either kind. Fields are only
ever added: a stored report of an older version still loads (missing fields take their defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from bot.interview.scoring import SEVERITY_LABELS, VERDICT_LABELS

PENDING_LABEL = "待确认"  # an unknown answer that still has to be confirmed (unclear twice), and unknown gaps
SKIPPED_LABEL = "未知（跳过）"
OWNER_ROLES = ("运营", "内容", "客服", "数据分析", "管理层")  # the teams of 4.5, and management for goals/mindset
PLAN_KINDS = ("gap", "confirm", "watch")  # close a gap · confirm an unknown · keep doing and watch (ready)
PLAN_STATUSES = ("open", "claimed", "done")


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    """A dataclass from a mapping, ignoring keys it does not know (reports of a newer version) and turning lists
    back into the tuples the fields hold."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


def _plain(value: Any) -> Any:
    """JSON-native values: tuples become lists (as they come back from JSON), mappings plain dicts."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class DimensionScore:
    """One radar axis."""

    id: str
    section: str
    title: str
    score: float


@dataclass(frozen=True)
class RiskFlag:
    """A chapter-2 failure scenario and whether the answers point to it."""

    id: str
    section: str
    title: str
    triggered: bool


@dataclass(frozen=True)
class GapItem:
    """One gap: what is missing (for the level answered), why it matters, what to do, and the guidance's words."""

    question_id: str
    section: str
    title: str
    severity: str
    missing: str
    why: str
    why_section: str
    todo: str
    quote: str
    quote_section: str
    quote_title: str
    kb_version: str
    unknown: bool = False  # skipped or unclear: a possible gap, listed under 待确认
    priority: float = 0.0
    level: int | None = None  # the level answered (None: unknown)
    answer_label: str = ""  # the option answered, as shown to the user

    @property
    def severity_label(self) -> str:
        """严重 / 中等 / 轻微 (or 待确认 for unknown)."""
        return PENDING_LABEL if self.unknown else SEVERITY_LABELS.get(self.severity, self.severity)


@dataclass(frozen=True)
class AnswerItem:
    """One answer as given."""

    question_id: str
    section: str
    answer_text: str
    level: int | None
    max_level: int
    label: str  # the option's label, or 待确认 / 未知（跳过） (see `answer_label`)
    via: str  # option / text / skip / unclear / group
    question: str = ""  # the question's text (empty in reports made before it was stored)

    @property
    def pending(self) -> bool:
        """Recorded as unknown because the free-text answer stayed unclear: shown as 待确认."""
        return self.via == "unclear"


@dataclass(frozen=True)
class PlanItem:
    """One piece of pre-work to do (or, for a ready company, to keep doing), in the guidance's order."""

    step: int  # 1 foundations · 2 content, touchpoints, channels · 3 organisation and process
    section: str  # the gap's section, as in gaps[].section (a chapter-2 or 7 section for a `watch` item)
    item: str
    owner_role: str  # one of OWNER_ROLES
    done_when: str
    quote_section: str
    quote: str = ""
    quote_title: str = ""
    kb_version: str = ""
    tasks: tuple[str, ...] = ()  # the concrete to-dos of the gaps this item covers
    questions: tuple[str, ...] = ()  # the questions that point to it
    severity: str = ""  # the worst of its gaps: high / medium / low; "" for confirm and watch items
    kind: str = "gap"  # one of PLAN_KINDS


@dataclass(frozen=True)
class PreviousDimension:
    """A dimension's score in the previous diagnosis."""

    id: str
    score: float


@dataclass(frozen=True)
class Previous:
    """The diagnosis before this one, and what changed since."""

    created_at: str
    overall: float
    dimensions: tuple[PreviousDimension, ...]
    verdict: str = ""
    gaps_closed: tuple[str, ...] = ()  # what was missing then and is not now
    new_gaps: tuple[str, ...] = ()  # what is missing now and was not then

    def score_of(self, dimension_id: str) -> float | None:
        """The dimension's previous score (None when the rubric had no such dimension then)."""
        return next((d.score for d in self.dimensions if d.id == dimension_id), None)


@dataclass(frozen=True)
class BenchmarkDimension:
    """Where one dimension stands among the other users of this bot."""

    id: str
    score: float
    percentile: float  # share of the others scoring lower (ties count half), 0–100
    band: str  # 前 25% / 中上 / 中下 / 后 25%
    p25: float
    p50: float
    p75: float


@dataclass(frozen=True)
class Benchmark:
    """The distribution of other users' latest scores; `omitted` says why it is not shown (too few users …)."""

    users: int
    dimensions: tuple[BenchmarkDimension, ...] = ()
    omitted: str = ""


@dataclass(frozen=True)
class Report:
    """A finished diagnosis."""

    verdict: str
    overall: float
    dimensions: tuple[DimensionScore, ...]
    risks: tuple[RiskFlag, ...]
    gaps: tuple[GapItem, ...]
    answers: tuple[AnswerItem, ...]
    kb_version: str
    created_at: str
    title: str = "私域启动准备度诊断"
    closing_quote: str = ""
    closing_section: str = ""
    closing_title: str = ""
    plan: tuple[PlanItem, ...] = ()
    plan_steps: Mapping[int, str] = field(default_factory=dict)
    previous: Previous | None = None
    benchmark: Benchmark | None = None

    @property
    def verdict_label(self) -> str:
        """The verdict in Chinese."""
        return VERDICT_LABELS[self.verdict]

    @property
    def triggered_risks(self) -> tuple[RiskFlag, ...]:
        """Risk flags that are raised."""
        return tuple(r for r in self.risks if r.triggered)

    @property
    def known_gaps(self) -> tuple[GapItem, ...]:
        """Confirmed gaps, most severe first."""
        return tuple(g for g in self.gaps if not g.unknown)

    @property
    def pending_gaps(self) -> tuple[GapItem, ...]:
        """Possible gaps whose answer is unknown (待确认), listed after the known ones."""
        return tuple(g for g in self.gaps if g.unknown)

    def dimension_change(self, dimension_id: str) -> float | None:
        """Score now minus the previous diagnosis' score (None without a previous one)."""
        if self.previous is None:
            return None
        before = self.previous.score_of(dimension_id)
        now = next((d.score for d in self.dimensions if d.id == dimension_id), None)
        return None if before is None or now is None else round(now - before, 1)

    def step_title(self, step: int) -> str:
        """「第 1 步：打地基…」."""
        title = self.plan_steps.get(step, "")
        return f"第 {step} 步：{title}" if title else f"第 {step} 步"

    def cited(self) -> list[tuple[str, str, str]]:
        """Every (section, quote, kb_version) the report cites: gaps, plan items and the closing."""
        out = [(g.quote_section, g.quote, g.kb_version) for g in self.gaps if g.quote]
        out += [(p.quote_section, p.quote, p.kb_version) for p in self.plan if p.quote]
        return out

    def to_json(self) -> dict[str, Any]:
        """The report.json contract."""
        data: dict[str, Any] = {
            "verdict": self.verdict,
            "verdict_label": self.verdict_label,
            "overall": self.overall,
            "dimensions": [asdict(d) for d in self.dimensions],
            "risks": [asdict(r) for r in self.risks],
            "gaps": [asdict(g) for g in self.gaps],
            "answers": [asdict(a) for a in self.answers],
            "kb_version": self.kb_version,
            "created_at": self.created_at,
            "title": self.title,
            "closing": {"quote": self.closing_quote, "section": self.closing_section, "title": self.closing_title},
            "plan": [asdict(p) for p in self.plan],
            "plan_steps": {str(k): v for k, v in sorted(self.plan_steps.items())},
        }
        if self.previous is not None:
            data["previous"] = asdict(self.previous)
        if self.benchmark is not None:
            data["benchmark"] = asdict(self.benchmark)
        return _plain(data)

    @staticmethod
    def _fields_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
        closing = data.get("closing") or {}
        previous = data.get("previous")
        benchmark = data.get("benchmark")
        return {
            "verdict": data["verdict"],
            "overall": float(data["overall"]),
            "dimensions": tuple(_build(DimensionScore, d) for d in data["dimensions"]),
            "risks": tuple(_build(RiskFlag, r) for r in data["risks"]),
            "gaps": tuple(_build(GapItem, g) for g in data["gaps"]),
            "answers": tuple(_build(AnswerItem, a) for a in data["answers"]),
            "kb_version": data["kb_version"],
            "created_at": data["created_at"],
            "title": data.get("title", "私域启动准备度诊断"),
            "closing_quote": closing.get("quote", ""),
            "closing_section": closing.get("section", ""),
            "closing_title": closing.get("title", ""),
            "plan": tuple(_build(PlanItem, p) for p in data.get("plan") or []),
            "plan_steps": {int(k): str(v) for k, v in (data.get("plan_steps") or {}).items()},
            "previous": None if not previous else Previous(
                created_at=previous["created_at"], overall=float(previous["overall"]),
                dimensions=tuple(_build(PreviousDimension, d) for d in previous.get("dimensions") or []),
                verdict=previous.get("verdict", ""), gaps_closed=tuple(previous.get("gaps_closed") or ()),
                new_gaps=tuple(previous.get("new_gaps") or ())),
            "benchmark": None if not benchmark else Benchmark(
                users=int(benchmark.get("users", 0)),
                dimensions=tuple(_build(BenchmarkDimension, d) for d in benchmark.get("dimensions") or []),
                omitted=benchmark.get("omitted", "")),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """Rebuilds a private report from `to_json` output (as kept in the checkpoint and the history)."""
        return cls(**cls._fields_from_json(data))


@dataclass(frozen=True)
class Participant:
    """A member of a team session and how many of the questions they answered."""

    user_id: int | str  # a pseudonym ("m1") in an anonymous session
    name: str
    answered: int
    questions: tuple[str, ...] = ()  # the question ids they answered


@dataclass(frozen=True)
class TeamQuestion:
    """One question of a team session: everyone's level, and how far apart the team was."""

    question_id: str
    section: str
    votes: Mapping[str, int]  # member (id or pseudonym, as a string) → level
    spread: int
    disagreement: bool
    mean: float | None
    unanswered: bool
    choices: Mapping[str, str] = field(default_factory=dict)  # member → the option's label
    discussed: bool = False  # voted again after the team discussed a spread of two levels or more
    rounds: tuple[Mapping[str, int], ...] = ()  # the earlier round's votes of a discussed question
    first_spread: int | None = None  # the spread before the discussion


@dataclass(frozen=True)
class TeamDimension:
    """A dimension's team mean and the lowest / highest member score."""

    id: str
    section: str
    title: str
    mean: float
    min: float | None
    max: float | None
    spread: float | None
    members: int


@dataclass(frozen=True)
class Turnout:
    """Who took part and how much of the session they answered."""

    participants: int
    voted: int
    questions: int
    mean_answered: float
    rate: float


@dataclass(frozen=True)
class PlanOwner:
    """Who took a team plan item (认领, or assigned by the controller) and how far it is."""

    index: int  # position in the report's plan
    owner_user_id: int | str | None  # a pseudonym in an anonymous session; None while open
    owner_name: str
    status: str  # one of PLAN_STATUSES


@dataclass(frozen=True)
class TeamReport(Report):
    """A team session's report: the private report built from the team's votes, plus who agreed and who did not."""

    participants: tuple[Participant, ...] = ()
    questions: tuple[TeamQuestion, ...] = ()
    team_dimensions: tuple[TeamDimension, ...] = ()
    turnout: Turnout = Turnout(0, 0, 0, 0.0, 0.0)
    anonymous: bool = False
    owners: tuple[PlanOwner, ...] = ()  # the team plan's owners as they stand (not stored with the report)

    def owner_of(self, index: int) -> PlanOwner:
        """The owner row of plan item `index` (open when nobody took it)."""
        return next((o for o in self.owners if o.index == index), PlanOwner(index, None, "", "open"))

    @property
    def names(self) -> dict[str, str]:
        """Member id (as a string) → name."""
        return {str(p.user_id): p.name for p in self.participants}

    def disagreements(self) -> list[TeamQuestion]:
        """The questions with strong disagreement, most divided first."""
        return sorted((q for q in self.questions if q.disagreement), key=lambda q: -q.spread)

    def to_json(self) -> dict[str, Any]:
        """The group report.json: the private contract plus `kind`, `participants`, `questions` and `team`."""
        data = super().to_json()
        for i, item in enumerate(data["plan"]):
            owner = self.owner_of(i)
            item.update(owner_user_id=owner.owner_user_id, owner_name=owner.owner_name, status=owner.status)
        return _plain({
            **data,
            "kind": "group",
            "anonymous": self.anonymous,
            "participants": [asdict(p) for p in self.participants],
            "questions": [{**asdict(q), "votes": dict(q.votes), "rounds": [dict(r) for r in q.rounds]}
                          for q in self.questions],
            "team": {"dimensions": [asdict(d) for d in self.team_dimensions], "turnout": asdict(self.turnout)},
        })

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TeamReport:
        """Rebuilds a team report from `to_json` output."""
        team = data.get("team") or {}
        turnout = team.get("turnout")
        return cls(
            **cls._fields_from_json(data),
            participants=tuple(_build(Participant, p) for p in data.get("participants") or []),
            questions=tuple(_build(TeamQuestion, {**q, "votes": dict(q.get("votes") or {}),
                                                  "choices": dict(q.get("choices") or {}),
                                                  "rounds": [dict(r) for r in q.get("rounds") or []]})
                            for q in data.get("questions") or []),
            team_dimensions=tuple(_build(TeamDimension, d) for d in team.get("dimensions") or []),
            turnout=_build(Turnout, turnout) if turnout else Turnout(0, 0, 0, 0.0, 0.0),
            anonymous=bool(data.get("anonymous", False)),
            owners=tuple(PlanOwner(i, p.get("owner_user_id"), p.get("owner_name", ""), p.get("status", "open"))
                         for i, p in enumerate(data.get("plan") or [])
                         if p.get("owner_user_id") is not None or p.get("status", "open") != "open"),
        )


def report_from_json(data: Mapping[str, Any]) -> Report:
    """A private or team report from its report.json."""
    return TeamReport.from_json(data) if data.get("kind") == "group" else Report.from_json(data)
