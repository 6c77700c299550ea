"""Labelled sets: folders of `<set>.yaml` files, each a list of labelled rows (answers, questions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml


class InSet(Protocol):
    """A labelled row knows the set it came from."""

    @property
    def set(self) -> str:
        """The set's name (its file's stem)."""
        ...


Row = TypeVar("Row", bound=InSet)


def load_sets(folder: Path, read_set: Callable[[Path], Iterable[Row]]) -> tuple[Row, ...]:
    """The rows of every `<set>.yaml` in `folder`, set by set in name order (no folder: none)."""
    return tuple(row for path in (sorted(folder.glob("*.yaml")) if folder.is_dir() else ()) for row in read_set(path))


def set_names(rows: Sequence[InSet]) -> tuple[str, ...]:
    """The sets' names, in load order."""
    return tuple(dict.fromkeys(r.set for r in rows))


def read_yaml(path: Path) -> Any:
    """One set file's data (libyaml's parser when present: the sets are thousands of rows)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
