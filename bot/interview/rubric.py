"""The readiness rubric (`knowledge/rubric.yaml`): dimensions, graded questions, risk flags; validated on load."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.errors import RubricError

REQUIRED_SECTIONS = ("4.1", "4.2", "4.3", "4.4", "4.5", "5.1", "5.2", "5.3", "5.4", "6.1", "6.2", "6.3", "6.4")
RISK_SECTIONS = {"2.1", "2.2", "2.3"}
_DIM_ID = re.compile(r"^[a-z_]{2,20}$")
_Q_ID = re.compile(r"^[a-z0-9_]{2,24}$")
MAX_LABEL = 20
OWNER_ROLES = ("运营", "内容", "客服", "数据分析", "管理层")  # the teams of 4.5, and management for goals and mindset
PLAN_STEPS = (1, 2, 3)


@dataclass(frozen=True)
class Option:
    """One graded answer; `level` runs from len(options)-1 (ready) down to 0 (not ready)."""

    level: int
    label: str
    examples: tuple[str, ...]
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class LevelGap:
    """What is still missing, and the next step, for a partial answer (an option between ready and not ready)."""

    missing: str
    todo: str


@dataclass(frozen=True)
class Gap:
    """What to tell when a question is a gap: `missing`/`todo` for the not-ready answer (and unknowns), `levels`
    for each partial one (by level), so a gap never says "nothing done" to someone who did part of it."""

    missing: str
    why: str
    why_section: str
    todo: str
    levels: tuple[tuple[int, LevelGap], ...] = ()  # (level, text) of each partial answer; hashable like the rest

    def for_level(self, level: int | None) -> LevelGap:
        """The missing/todo text for an answer at `level` (None or 0: the general text)."""
        general = LevelGap(self.missing, self.todo)
        return dict(self.levels).get(level, general) if level else general


@dataclass(frozen=True)
class Question:
    """A question about one piece of pre-work."""

    id: str
    dimension: str
    sections: tuple[str, ...]
    text: str
    weight: int
    options: tuple[Option, ...]  # ordered ready → not ready
    gap: Gap

    @property
    def section(self) -> str:
        """The section the citation is taken from."""
        return self.sections[0]

    @property
    def max_level(self) -> int:
        """The ready level."""
        return len(self.options) - 1

    def option(self, level: int) -> Option:
        """The option with that level."""
        return next(o for o in self.options if o.level == level)


@dataclass(frozen=True)
class Dimension:
    """A scored dimension (one radar axis)."""

    id: str
    section: str
    title: str


@dataclass(frozen=True)
class Risk:
    """A failure scenario of chapter 2, flagged from the answers to its questions."""

    id: str
    section: str
    title: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class PlanSection:
    """The piece of pre-work a section stands for in the action plan: its step, who owns it, when it is done."""

    section: str
    step: int
    owner_role: str
    item: str
    done_when: str


@dataclass(frozen=True)
class Plan:
    """How gaps become an ordered plan: step titles, one entry per section, and what a ready company watches."""

    step_titles: tuple[tuple[int, str], ...]
    entries: tuple[PlanSection, ...]
    watch: tuple[PlanSection, ...]

    @property
    def steps(self) -> dict[int, str]:
        """Step number → title."""
        return dict(self.step_titles)

    @property
    def sections(self) -> dict[str, PlanSection]:
        """Section id → its plan entry."""
        return {e.section: e for e in self.entries}


@dataclass(frozen=True)
class Rubric:
    """The whole rubric."""

    version: int
    title: str
    dimensions: tuple[Dimension, ...]
    questions: tuple[Question, ...]
    risks: tuple[Risk, ...]
    closing_section: str
    closing_text: str
    plan: Plan = Plan((), (), ())

    def question(self, qid: str) -> Question:
        """The question with that id (KeyError if none)."""
        for q in self.questions:
            if q.id == qid:
                return q
        raise KeyError(qid)

    def index_of(self, qid: str) -> int:
        """Position of a question in the interview."""
        return next(i for i, q in enumerate(self.questions) if q.id == qid)

    def cited_sections(self) -> set[str]:
        """Every section id the rubric relies on (the knowledge base must contain them)."""
        out = {d.section for d in self.dimensions} | {r.section for r in self.risks} | {self.closing_section}
        for q in self.questions:
            out.update(q.sections)
            out.add(q.gap.why_section)
        out.update(self.plan.sections)
        out.update(w.section for w in self.plan.watch)
        return out


def _req(d: dict[str, Any], key: str, where: str, problems: list[str]) -> Any:
    if key not in d or d[key] in (None, ""):
        problems.append(f"{where}: missing '{key}'")
        return None
    return d[key]


def parse_rubric(data: Any) -> Rubric:
    """Validates rubric data and builds a Rubric; RubricError lists every problem found."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise RubricError(["rubric must be a mapping"])
    dims: list[Dimension] = []
    for i, d in enumerate(data.get("dimensions") or []):
        where = f"dimensions[{i}]"
        did, sec, title = (_req(d, k, where, problems) for k in ("id", "section", "title"))
        if did is not None and not _DIM_ID.match(str(did)):
            problems.append(f"{where}: id {did!r} must match [a-z_]{{2,20}}")
        if title and len(str(title)) > 8:
            problems.append(f"{where}: title {title!r} longer than 8 characters")
        dims.append(Dimension(str(did), str(sec), str(title)))
    dim_ids = {d.id for d in dims}
    if not 3 <= len(dims) <= 10:
        problems.append(f"dimensions: {len(dims)} given, 3–10 expected")
    if len(dim_ids) != len(dims):
        problems.append("dimensions: duplicate ids")

    questions: list[Question] = []
    for i, q in enumerate(data.get("questions") or []):
        where = f"questions[{i}]"
        if not isinstance(q, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        qid = str(_req(q, "id", where, problems))
        where = f"question {qid}"
        if not _Q_ID.match(qid):
            problems.append(f"{where}: id must match [a-z0-9_]{{2,24}}")
        dim = str(_req(q, "dimension", where, problems))
        if dim not in dim_ids:
            problems.append(f"{where}: unknown dimension {dim!r}")
        sections = tuple(str(s) for s in (q.get("sections") or []))
        if not sections:
            problems.append(f"{where}: no sections")
        text = str(_req(q, "text", where, problems) or "")
        weight = q.get("weight", 1)
        if not isinstance(weight, int) or not 1 <= weight <= 3:
            problems.append(f"{where}: weight must be 1–3")
            weight = 1
        raw_opts = q.get("options") or []
        if not 3 <= len(raw_opts) <= 4:
            problems.append(f"{where}: {len(raw_opts)} options, 3–4 expected")
        phrases = q.get("phrases") or {}
        opts = []
        for j, o in enumerate(raw_opts):
            label = str(o.get("label", ""))
            if not label or len(label) > MAX_LABEL:
                problems.append(f"{where}: option {j} label {label!r} must be 1–{MAX_LABEL} characters")
            examples = tuple(str(e) for e in (o.get("examples") or []))
            opts.append(Option(len(raw_opts) - 1 - j, label, examples,
                               tuple(str(p) for p in (phrases.get(j) or phrases.get(str(j)) or []))))
        g = q.get("gap") or {}
        texts = {k: str(_req(g, k, f"{where} gap", problems) or "") for k in ("missing", "why", "why_section", "todo")}
        gap = Gap(**texts, levels=_level_gaps(g.get("levels") or {}, len(raw_opts), f"{where} gap", problems))
        questions.append(Question(qid, dim, sections, text, weight, tuple(opts), gap))
    if not 14 <= len(questions) <= 24:
        problems.append(f"questions: {len(questions)} given, 14–24 expected")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        problems.append("questions: duplicate ids")
    covered = {s for q in questions for s in q.sections}
    missing = [s for s in REQUIRED_SECTIONS if s not in covered]
    if missing:
        problems.append(f"questions: no question for section(s) {', '.join(missing)}")
    for d in dims:
        if sum(q.dimension == d.id for q in questions) < 1:
            problems.append(f"dimension {d.id}: has no question")

    risks = []
    for i, r in enumerate(data.get("risks") or []):
        where = f"risks[{i}]"
        rq = tuple(str(x) for x in (r.get("questions") or []))
        unknown = [x for x in rq if x not in ids]
        if unknown:
            problems.append(f"{where}: unknown question(s) {', '.join(unknown)}")
        if not rq:
            problems.append(f"{where}: no questions")
        risks.append(Risk(str(_req(r, "id", where, problems)), str(_req(r, "section", where, problems)),
                          str(_req(r, "title", where, problems)), rq))
    if {r.section for r in risks} != RISK_SECTIONS:
        problems.append("risks: one risk flag each for sections 2.1, 2.2 and 2.3 is required")
    closing = data.get("closing") or {}
    if not closing.get("section") or not closing.get("text"):
        problems.append("closing: section and text are required")
    plan = _parse_plan(data.get("plan"), {q.section for q in questions}, problems)
    if problems:
        raise RubricError(problems)
    return Rubric(
        version=int(data.get("version", 1)),
        title=str(data.get("title", "私域启动准备度诊断")),
        dimensions=tuple(dims),
        questions=tuple(questions),
        risks=tuple(risks),
        closing_section=str(closing["section"]),
        closing_text=str(closing["text"]),
        plan=plan,
    )


def _level_gaps(raw: Any, n_options: int, where: str, problems: list[str]) -> tuple[tuple[int, LevelGap], ...]:
    """`gap.levels`, keyed like `phrases` by option index (0 = ready); every partial option needs one."""
    out: dict[int, LevelGap] = {}
    if not isinstance(raw, dict):
        problems.append(f"{where}: levels must be a mapping of option index to missing/todo")
        return ()
    for index in range(1, n_options - 1):
        entry = raw.get(index, raw.get(str(index)))
        if not isinstance(entry, dict) or not entry.get("missing") or not entry.get("todo"):
            problems.append(f"{where}: levels[{index}] (a partial answer) needs missing and todo")
            continue
        out[n_options - 1 - index] = LevelGap(str(entry["missing"]), str(entry["todo"]))
    return tuple(sorted(out.items()))


def _plan_section(raw: Any, section: str, where: str, problems: list[str]) -> PlanSection | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    step, role = raw.get("step"), str(raw.get("owner_role", ""))
    if step not in PLAN_STEPS:
        problems.append(f"{where}: step must be 1, 2 or 3")
    if role not in OWNER_ROLES:
        problems.append(f"{where}: owner_role {role!r} must be one of {'/'.join(OWNER_ROLES)}")
    item, done = str(raw.get("item") or ""), str(raw.get("done_when") or "")
    if not item or not done:
        problems.append(f"{where}: item and done_when are required")
    return PlanSection(section, int(step) if step in PLAN_STEPS else 1, role, item, done)


def _parse_plan(raw: Any, question_sections: set[str], problems: list[str]) -> Plan:
    """The `plan:` block: a step, an owner role and a done-criterion for every section a gap can come from."""
    if not isinstance(raw, dict):
        problems.append("plan: required (steps, sections, watch)")
        return Plan((), (), ())
    steps = {int(k): str(v) for k, v in (raw.get("steps") or {}).items() if str(k).isdigit()}
    sections: dict[str, PlanSection] = {}
    for sec, entry in (raw.get("sections") or {}).items():
        parsed = _plan_section(entry, str(sec), f"plan.sections[{sec}]", problems)
        if parsed is not None:
            sections[str(sec)] = parsed
    missing = sorted(question_sections - set(sections))
    if missing:
        problems.append(f"plan.sections: no entry for section(s) {', '.join(missing)}")
    watch = []
    for i, entry in enumerate(raw.get("watch") or []):
        parsed = _plan_section(entry, str((entry or {}).get("section", "")), f"plan.watch[{i}]", problems)
        if parsed is not None:
            watch.append(parsed)
    if not watch:
        problems.append("plan.watch: at least one item (what a ready company keeps doing) is required")
    return Plan(tuple(sorted(steps.items())), tuple(sections.values()), tuple(watch))


def load_rubric(path: Path) -> Rubric:
    """Reads and validates a rubric file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise RubricError([f"cannot read rubric: {e}"], path=str(path)) from e
    try:
        return parse_rubric(data)
    except RubricError as e:
        raise RubricError(e.problems, path=str(path)) from e


class RubricHolder:
    """The rubric in force; `/rubric` replaces it, and every subscriber (the interview, the group room) is told."""

    def __init__(self, rubric: Rubric) -> None:
        self._rubric = rubric
        self._listeners: list[Callable[[Rubric], None]] = []

    @property
    def current(self) -> Rubric:
        """The rubric in force."""
        return self._rubric

    def subscribe(self, listener: Callable[[Rubric], None]) -> None:
        """Calls `listener(new_rubric)` after every `replace`."""
        self._listeners.append(listener)

    def replace(self, rubric: Rubric) -> None:
        """Puts a new (validated) rubric in force and tells the subscribers."""
        self._rubric = rubric
        for listener in self._listeners:
            listener(rubric)
