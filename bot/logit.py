"""A conditional logit: one weight per feature, shared by every alternative of every choice.

Both learned decisions of the bot use it: the free-text reader choosing an option or none
(bot/interview/calibration.py) and search ordering the candidate sections (bot/knowledge/ranking.py). A choice is a
matrix with one row of features per alternative; the probability of an alternative is the softmax of the rows'
scores. Fitting maximises the likelihood of the labelled alternative with an L2 penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.errors import RubricError


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities from scores (stable for large scores)."""
    e = np.exp(scores - scores.max())
    return np.asarray(e / e.sum())


def fit(samples: Sequence[tuple[np.ndarray, int]], width: int, *, l2: float = 0.1) -> tuple[float, ...]:
    """The weights (`width` of them) maximising the likelihood of each sample's labelled row, penalised by `l2`."""
    from scipy.optimize import minimize  # only fitting needs it: the bot itself never imports scipy

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = l2 * float(w @ w) / 2, l2 * w
        for x, y in samples:
            p = softmax(x @ w)
            total -= float(np.log(p[y] + 1e-12))
            grad = grad - (x[y] - p @ x)
        return total, grad

    return tuple(float(v) for v in minimize(loss, np.zeros(width), jac=True, method="L-BFGS-B").x)


def read_model(path: Path, *, what: str) -> dict[str, Any]:
    """A model file's fields (a RubricError naming `what` when it cannot be read)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not a mapping")
        return data
    except (OSError, yaml.YAMLError, TypeError) as e:
        raise RubricError([f"cannot read the {what} ({e.__class__.__name__}: {e})"], path=str(path)) from e


def weights_from(data: dict[str, Any], names: Sequence[str], *, refit: str) -> tuple[float, ...]:
    """The `weights:` of a model's fields in the order of `names`; other features are refused (ValueError)."""
    weights = data["weights"]
    if list(weights) != list(names):
        raise ValueError(f"its features are not this code's: run {refit}")
    return tuple(float(weights[k]) for k in names)


def named(names: Sequence[str], weights: Sequence[float]) -> dict[str, float]:
    """Weights by feature name, rounded for a readable file."""
    return {k: round(float(w), 5) for k, w in zip(names, weights, strict=True)}


def write_model(path: Path, body: dict[str, Any], *, source: str, command: str, module: str) -> None:
    """Writes a model file: a comment saying where it comes from, then `body`."""
    head = f"# Fitted on {source} by `{command}` ({module}). Do not edit by hand.\n"
    path.write_text(head + yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
