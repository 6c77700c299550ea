"""Accuracy of the free-text answer reader on a labelled set (tests/data/freetext_<set>.yaml).

    python -m bench.reader_eval [--set dev|holdout|holdout2] [--verbose]
    python -m bench.reader_eval --sweep            # misread / accuracy per threshold on dev + holdout

`dev` and `holdout` are tuning data (the reader's threshold is calibrated on their union); `holdout2` is an
independent set, read once to check that the tuning generalises.

Prints accuracy on clear answers (target ≥ 0.9), how often it asks again on clear answers, and how often it
asks again (or at least does not misread) on vague ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from bot.interview.reader import AnswerReader
from bot.interview.rubric import Rubric, load_rubric

ROOT = Path(__file__).resolve().parent.parent
SETS = {"dev": "freetext_dev.yaml", "holdout": "freetext_holdout.yaml", "holdout2": "freetext_holdout2.yaml"}
TUNING = ("dev", "holdout")


def load_rows(name: str = "dev") -> list[dict]:
    """The labelled rows of one set."""
    return yaml.safe_load((ROOT / "tests" / "data" / SETS[name]).read_text(encoding="utf-8"))


def evaluate(rubric: Rubric, rows: list[dict], reader: AnswerReader, *, verbose: bool = False) -> dict[str, float]:
    """Reads every answer and counts outcomes."""
    clear = [r for r in rows if r.get("clear")]
    vague = [r for r in rows if not r.get("clear")]
    right = asked = 0
    for r in clear:
        got = reader.read(rubric.question(r["question"]), str(r["answer"]))
        if got.level == r["level"]:
            right += 1
        elif got.level is None:
            asked += 1
        if verbose and got.level != r["level"]:
            print(f"  {r['question']:<20} want {r['level']} got {got.level}  {r['answer']}  [{got.reason}]")
    vague_asked = vague_ok = 0
    for r in vague:
        got = reader.read(rubric.question(r["question"]), str(r["answer"]))
        vague_asked += got.level is None
        vague_ok += got.level is None or got.level == r.get("level")
    n, m = max(len(clear), 1), max(len(vague), 1)
    return {"clear": len(clear), "accuracy_clear": right / n, "asked_again_clear": asked / n,
            "wrong_clear": (len(clear) - right - asked) / n, "vague": len(vague),
            "asked_again_vague": vague_asked / m, "not_misread_vague": vague_ok / m}


def sweep(rubric: Rubric, rows: list[dict], thresholds: Sequence[float]) -> list[tuple[float, dict[str, float]]]:
    """The figures at each threshold (to pick the one that keeps misreads low on the tuning data)."""
    return [(t, evaluate(rubric, rows, AnswerReader(threshold=t))) for t in thresholds]


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the reader's figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", choices=sorted(SETS), default="dev", dest="set_name")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--sweep", action="store_true", help="threshold sweep on the union of the tuning sets")
    args = parser.parse_args(argv)
    rubric = load_rubric(ROOT / "knowledge" / "rubric.yaml")
    if args.sweep:
        rows = [r for name in TUNING for r in load_rows(name)]
        for t, m in sweep(rubric, rows, [round(0.2 + 0.05 * i, 2) for i in range(11)]):
            print(f"threshold {t:.2f}: accuracy {m['accuracy_clear']:.3f}, asked again {m['asked_again_clear']:.3f}, "
                  f"misread {m['wrong_clear']:.3f}; vague asked again {m['asked_again_vague']:.3f}")
        return 0
    rows = load_rows(args.set_name)
    reader = AnswerReader()
    start = time.perf_counter()
    m = evaluate(rubric, rows, reader, verbose=args.verbose)
    per_answer_ms = (time.perf_counter() - start) * 1000 / max(len(rows), 1)
    print(f"[{args.set_name}] free-text reader: "
          f"accuracy on clear answers {m['accuracy_clear']:.3f} (n={m['clear']:.0f}), "
          f"asked again {m['asked_again_clear']:.3f}, misread {m['wrong_clear']:.3f}; "
          f"vague answers asked again {m['asked_again_vague']:.3f}, not misread {m['not_misread_vague']:.3f} "
          f"(n={m['vague']:.0f}); {per_answer_ms:.2f} ms/answer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
