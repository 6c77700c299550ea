"""The team report (pure): the private report's schema built from the team's votes, plus who agreed and who did not.

* team answer to a question = the mean of its members' levels (a question nobody answered counts as unknown);
  team dimension scores, the overall score, the verdict, risks and gaps follow from these with the private
  scoring rules — so the team score equals the mean of members' scores when everyone answered everything;
* a member's dimension score is computed over the questions that member answered; the band of the radar chart
  is the lowest and highest member score per dimension, `spread` their difference;
* a question's `spread` is the highest minus the lowest level chosen; `disagreement` when it is 2 levels or more;
* a session ended early scores the questions never asked as unknown (0), and lists gaps only among those asked;
* a question voted again after discussion (🔁 重新投票) is scored on its last round; the earlier round is kept
  (`rounds`) and the question marked `discussed`;
* an anonymous session names nobody: members become 成员 1, 成员 2 … and their ids the pseudonyms m1, m2 … (in
  joining order) everywhere in the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from statistics import fmean

from bot.interview.rubric import Question, Rubric
from bot.interview.scoring import readiness, score
from bot.report.build import Citer, assemble_report
from bot.report.model import AnswerItem, Participant, Report, TeamDimension, TeamQuestion, TeamReport, Turnout

DISAGREEMENT_LEVELS = 2


@dataclass(frozen=True)
class Member:
    """A participant of a group session."""

    user_id: int
    name: str
    alias: str = ""  # the pseudonym in an anonymous session ("m1"), fixed when they joined


def pseudonym(alias: str) -> str:
    """「成员 3」 for "m3"."""
    return f"成员 {alias[1:]}" if alias.startswith("m") and alias[1:].isdigit() else "成员"


def level_spread(levels: Sequence[int]) -> int:
    """Highest minus lowest level (0 for fewer than two answers)."""
    return max(levels) - min(levels) if len(levels) > 1 else 0


def distribution(question: Question, votes: Mapping[int, int]) -> list[tuple[str, int, int]]:
    """(option label, level, count) for every option of the question, in the order shown."""
    counts = Counter(votes.values())
    return [(o.label, o.level, counts.get(o.level, 0)) for o in question.options]


def member_dimension_scores(rubric: Rubric, votes: Mapping[str, int]) -> dict[str, float | None]:
    """0–100 per dimension over the questions this member answered (None where they answered none)."""
    out: dict[str, float | None] = {}
    for d in rubric.dimensions:
        answered = [q for q in rubric.questions if q.dimension == d.id and q.id in votes]
        total = sum(q.weight for q in answered)
        out[d.id] = (round(100 * sum(q.weight * readiness(q, votes[q.id]) for q in answered) / total, 1)
                     if total else None)
    return out


def _answer_item(question: Question, votes: Mapping[int, int]) -> AnswerItem:
    if not votes:
        return AnswerItem(question.id, question.section, "", None, question.max_level, "未知（无人作答）", "group",
                          question.text)
    mean = fmean(votes.values())
    text = "；".join(f"{label} ×{n}" for label, _, n in distribution(question, votes) if n)
    nearest = min(question.options, key=lambda o: (abs(o.level - mean), o.level))
    return AnswerItem(question.id, question.section, text, round(mean), question.max_level,
                      f"团队平均 {mean:.1f}/{question.max_level}（最接近：{nearest.label}）", "group", question.text)


def build_group_report(rubric: Rubric, votes: Mapping[str, Mapping[int, int]], members: Sequence[Member],
                       citer: Citer | None, *, asked: Sequence[str] = (),
                       rounds: Mapping[str, Mapping[int, int]] | None = None, anonymous: bool = False) -> TeamReport:
    """The team report: the private report from the team's mean levels, plus participants, per-question votes
    (and the first round of a question voted again), spread and disagreement, and the team's per-dimension band."""
    aliases = {m.user_id: m.alias or f"m{i}" for i, m in enumerate(members, 1)}
    for uid in sorted({u for v in votes.values() for u in v} - set(aliases)):
        aliases[uid] = f"m{len(aliases) + 1}"

    def key(uid: int) -> str:
        return aliases[uid] if anonymous else str(uid)

    names = {m.user_id: pseudonym(aliases[m.user_id]) if anonymous else m.name for m in members}
    earlier = rounds or {}
    team_levels: dict[str, float | None] = {}
    answer_items = []
    questions = []
    for q in rubric.questions:
        q_votes = dict(votes.get(q.id, {}))
        if not q_votes and q.id not in asked:
            continue  # never reached (the session ended early)
        team_levels[q.id] = fmean(q_votes.values()) if q_votes else None
        answer_items.append(_answer_item(q, q_votes))
        spread = level_spread(list(q_votes.values()))
        first = earlier.get(q.id)
        questions.append(TeamQuestion(
            question_id=q.id, section=q.section,
            votes={key(uid): level for uid, level in sorted(q_votes.items())},
            spread=spread, disagreement=spread >= DISAGREEMENT_LEVELS,
            mean=round(fmean(q_votes.values()), 2) if q_votes else None, unanswered=not q_votes,
            choices={key(uid): q.option(level).label for uid, level in sorted(q_votes.items())},
            discussed=first is not None,
            rounds=({key(uid): level for uid, level in sorted(first.items())},) if first is not None else (),
            first_spread=level_spread(list(first.values())) if first is not None else None,
        ))
    scores = score(rubric, team_levels)  # type: ignore[arg-type]  # mean levels are fractional on purpose
    # A session ended early: questions never put to the team count as unknown in the scores (as in the private
    # rules), but the gap list and the plan keep to what the team actually discussed.
    report = assemble_report(rubric, scores, answer_items, citer, gap_filter=set(team_levels))

    per_member: dict[int, dict[str, int]] = {m.user_id: {} for m in members}
    for qid, member_votes in votes.items():
        for uid, level in member_votes.items():
            per_member.setdefault(uid, {})[qid] = level
    member_scores = {uid: member_dimension_scores(rubric, v) for uid, v in per_member.items() if v}
    team_dims = []
    for d in rubric.dimensions:
        values: list[float] = [v for s in member_scores.values() if (v := s[d.id]) is not None]
        team_dims.append(TeamDimension(
            id=d.id, section=d.section, title=d.title, mean=scores.dimensions[d.id],
            min=min(values) if values else None, max=max(values) if values else None,
            spread=round(max(values) - min(values), 1) if values else None, members=len(values),
        ))
    order = {q.id: i for i, q in enumerate(rubric.questions)}
    participants = tuple(
        Participant(user_id=aliases[uid] if anonymous else uid, name=names.get(uid, pseudonym(aliases[uid]) if anonymous else str(uid)),
                    answered=len(per_member.get(uid, {})),
                    questions=tuple(sorted(per_member.get(uid, {}), key=lambda qid: order.get(qid, 99))))
        for uid in sorted(set(names) | set(per_member), key=lambda u: (names.get(u) is None, u)))
    n_asked = len(questions)
    voted = [p for p in participants if p.answered]
    turnout = Turnout(
        participants=len(participants), voted=len(voted), questions=n_asked,
        mean_answered=round(fmean(p.answered for p in participants), 1) if participants else 0.0,
        rate=round(sum(p.answered for p in participants) / (n_asked * len(participants)), 3)
        if n_asked and participants else 0.0,
    )
    return TeamReport(**{f.name: getattr(report, f.name) for f in fields(Report)}, participants=participants,
                      questions=tuple(questions), team_dimensions=tuple(team_dims), turnout=turnout,
                      anonymous=anonymous)

