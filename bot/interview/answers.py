"""Labelled answers: what people really wrote to each interview question, and which option it meant.

The rubric's examples are a handful per option, written by the team. The labelled answers under
`knowledge/answers/<set>.yaml` (one file per set, each row `question`, `answer`, `level`, `clear`, `kind`) are
hundreds more, in users' own words: the reader compares an answer with them as with the rubric's examples. Only
rows a careful reader labelled `clear` with a level count as examples; vague, off-topic and side-question rows are
kept for evaluation. A set can be left out (`without`) so that it is measured on a reader that never saw it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import RubricError
from bot.labelled import load_sets, read_yaml, set_names

DEFAULT_ANSWERS = Path(__file__).resolve().parent.parent.parent / "knowledge" / "answers"


@dataclass(frozen=True)
class LabelledAnswer:
    """One message written as an answer to `question`, with the level it means (None: no level)."""

    set: str
    question: str
    answer: str
    level: int | None
    clear: bool
    kind: str = "answer"  # answer | vague | offtopic | question

    @property
    def example(self) -> bool:
        """Whether it is an example of its level: a clear answer with a level."""
        return self.clear and self.kind == "answer" and self.level is not None


@dataclass(frozen=True, eq=False)
class AnswerBank:
    """The labelled answers the reader learns from (immutable)."""

    rows: tuple[LabelledAnswer, ...] = ()
    _index: dict[tuple[str, int], tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, int], list[str]] = {}
        for r in self.rows:
            if r.example:
                index.setdefault((r.question, int(r.level)), []).append(r.answer)  # type: ignore[arg-type]
        object.__setattr__(self, "_index", {k: tuple(dict.fromkeys(v)) for k, v in index.items()})

    @classmethod
    def load(cls, folder: Path = DEFAULT_ANSWERS) -> AnswerBank:
        """Every `<set>.yaml` in `folder` (none: an empty bank)."""
        return cls(load_sets(folder, read_set))

    @property
    def sets(self) -> tuple[str, ...]:
        """The sets' names, in load order."""
        return set_names(self.rows)

    def without(self, *names: str) -> AnswerBank:
        """The bank minus some sets (to measure a set on a reader that never saw it)."""
        return AnswerBank(tuple(r for r in self.rows if r.set not in names))

    @property
    def non_answers(self) -> tuple[LabelledAnswer, ...]:
        """The vague, off-topic and side-question messages (to any question): what is not an answer."""
        return tuple(r for r in self.rows if r.kind in ("vague", "offtopic", "question"))

    def examples(self, question: str, level: int) -> tuple[str, ...]:
        """The clear answers to `question` labelled `level`."""
        return self._index.get((question, level), ())


def read_set(path: Path) -> Iterable[LabelledAnswer]:
    """The rows of one labelled set; a malformed row names the file and row."""
    raw = read_yaml(path) or []
    if not isinstance(raw, list):
        raise RubricError([f"{path.name}: expected a list of labelled answers"])
    for i, row in enumerate(raw, 1):
        try:
            level = row.get("level")
            yield LabelledAnswer(path.stem, str(row["question"]), str(row["answer"]),
                                 None if level is None else int(level), bool(row.get("clear")),
                                 str(row.get("kind") or "answer"))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RubricError([f"{path.name} row {i}: {e!r}"]) from e
