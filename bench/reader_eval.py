"""Accuracy of the free-text answer reader on labelled sets.

    python -m bench.reader_eval                      # every set, the default reader (rules + e5 + labelled answers)
    python -m bench.reader_eval --set dev --verbose  # one set, misses printed (bank sets only)
    python -m bench.reader_eval --no-bank            # without the labelled answers (the round-2 reader)
    python -m bench.reader_eval --rules-only         # the deterministic rules alone (no embedding model)
    python -m bench.reader_eval --grid               # the sweep the semantic parameters were chosen with
    python -m bench.reader_eval --fit                # fit the decision on the labelled answers (knowledge/reader_model.yaml)
    python -m bench.reader_eval --no-model           # the hand-set agreement rules instead of the fitted decision
    python -m bench.reader_eval --llm                # + the chat model of LLM_MODEL/LLM_BASE_URL/LLM_API_KEY on the
                                                     #   answers the rules + e5 leave unclear (--llm-test-server: the
                                                     #   in-repo test server, plumbing figures only)

The sets under knowledge/answers/ are what the reader learns from (its labelled answers) and what it was tuned on:
`dev`, `holdout`, `holdout2` (the team's) and `twin` … `twin6` (each written for issue #10 by a helper that never
saw the code, the rubric's examples or the other sets, run once at the end of a round, then added; twin5 and twin6 on
2026-12-01). The fitted decision (knowledge/reader_model.yaml, `--fit`) is measured the same way: a bank set is read
with weights fitted on the other sets (`--no-model`: the hand-set agreement rules instead, the in-run baseline). A bank set is always read by a reader whose labelled answers are all the *other* sets (leave one
set out), so its figures say how the reader does on answers it never saw — but the parameters were still chosen on
them. A new round's independent set goes under bench/data/answers/<name>.yaml (not in the bank), is listed in
`UNSEEN` and run once (`--set <name>`) at the end of the round (round 5's: `twin7`).

Figures per set: accuracy on clear answers (target ≥ 0.9), asked again on clear answers, and **misread over all
answers** (target ≤ 2%): a level recorded that is not the labelled one, or any level recorded for a vague, off-topic
or side-question message. Side questions (`kind: question`) are also counted as recognised or not.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.interview.answers import AnswerBank, LabelledAnswer, read_set
from bot.interview.calibration import DEFAULT_MODEL, ReaderModel, Voices, features, fit
from bot.interview.reader import AnswerReader, Embedder, Reading, SemanticParams
from bot.interview.rubric import Rubric, load_rubric

ROOT = Path(__file__).resolve().parent.parent
BANK = AnswerBank.load()  # knowledge/answers/<set>.yaml: the sets the reader learns from (and was tuned on)
UNSEEN_DIR = Path(__file__).resolve().parent / "data" / "answers"  # written independently, not in the bank
UNSEEN: tuple[str, ...] = ()  # kept out of the default run until their one measurement (none pending)
L2 = 0.1  # the fit's penalty (chosen on the bank's sets, each left out)
MISREAD_TARGET = 0.02  # the threshold is the lowest keeping the pooled misreads over all answers at most this
THRESHOLDS = tuple(round(0.5 + 0.01 * i, 2) for i in range(50))
AGREE_THRESHOLDS = tuple(round(0.3 + 0.1 * i, 1) for i in range(7))  # with the hand-set rules reading the same


def set_names() -> list[str]:
    """Every set: the bank's, then the independent ones."""
    return [*BANK.sets, *sorted(p.stem for p in UNSEEN_DIR.glob("*.yaml"))]


def load_rows(name: str = "dev") -> list[dict[str, Any]]:
    """The labelled rows of one set."""
    rows = [r for r in BANK.rows if r.set == name] or list(read_set(UNSEEN_DIR / f"{name}.yaml"))
    return [_as_row(r) for r in rows]


def _as_row(r: LabelledAnswer) -> dict[str, Any]:
    return {"question": r.question, "answer": r.answer, "level": r.level, "clear": r.clear, "kind": r.kind}


class _Memo:
    """The embedding model with its vectors remembered (each reader of a sweep embeds the same texts)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.memo: dict[str, list[float]] = {}

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> list[list[float]]:
        todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if todo:
            self.memo.update(zip(todo, self.inner.embed_queries(todo), strict=True))
        return [self.memo[t] for t in texts]


def evaluate(rubric: Rubric, rows: list[dict[str, Any]], reader: AnswerReader, *,
             verbose: bool = False) -> dict[str, float]:
    """Reads every answer and counts outcomes."""
    clear = [r for r in rows if r.get("clear")]
    right = asked = 0
    misread = 0
    questions = [r for r in rows if r.get("kind") == "question"]
    recognised = 0
    vague = [r for r in rows if not r.get("clear")]
    vague_asked = 0
    for r in rows:
        got = reader.read(rubric.question(r["question"]), str(r["answer"]))
        if r.get("clear"):
            if got.level == r["level"]:
                right += 1
            elif got.level is None:
                asked += 1
        else:
            vague_asked += got.level is None
        if r.get("kind") == "question":
            recognised += got.kind == "question"
        wrong = got.level is not None and got.level != r.get("level")
        misread += wrong
        if verbose and (wrong or (r.get("clear") and got.level is None)):
            print(f"  {r['question']:<20} want {r.get('level')} got {got.level}  {r['answer']}  [{got.reason}]")
    n, m = max(len(clear), 1), max(len(vague), 1)
    return {"rows": len(rows), "clear": len(clear), "accuracy_clear": right / n, "asked_again_clear": asked / n,
            "wrong_clear": (len(clear) - right - asked) / n, "misread_all": misread / max(len(rows), 1),
            "vague": len(vague), "asked_again_vague": vague_asked / m, "side_questions": len(questions),
            "side_questions_recognised": recognised / max(len(questions), 1)}


def fmt(name: str, m: dict[str, float]) -> str:
    """One printed row of figures."""
    side = (f", side questions recognised {m['side_questions_recognised']:.3f} (n={m['side_questions']:.0f})"
            if m["side_questions"] else "")
    return (f"[{name}] accuracy on clear answers {m['accuracy_clear']:.3f} (n={m['clear']:.0f}), "
            f"asked again {m['asked_again_clear']:.3f}, misread {m['wrong_clear']:.3f}; "
            f"misread over all answers {m['misread_all']:.3f} (n={m['rows']:.0f}); "
            f"unclear ones asked again {m['asked_again_vague']:.3f} (n={m['vague']:.0f}){side}")


@functools.cache
@functools.cache
def _embedder() -> _Memo:
    """One e5 with one memory for every reader of a run (the left-out sets' readers embed the same examples)."""
    from bot.knowledge.embeddings import E5Embeddings

    return _Memo(E5Embeddings())


def make_reader(*, rules_only: bool = False, params: SemanticParams | None = None, bank: AnswerBank | None = None,
                model: ReaderModel | None = None) -> AnswerReader:
    """The default reader (rules + e5 + the labelled answers of `bank` + the fitted decision), or the rules alone."""
    reader = AnswerReader(embedder=None if rules_only else _embedder(), params=params, bank=bank, model=model)
    if not rules_only:
        reader.warm_up(_rubric().questions)  # as the bot does at start: every voice has its vectors
    return reader


def reader_for_set(name: str, *, rules_only: bool = False, use_bank: bool = True,
                   params: SemanticParams | None = None, use_model: bool = True) -> AnswerReader:
    """The reader a set is measured on: it has learned from every bank set but that one (leave one set out) — its
    labelled answers and its fitted decision (the product's model for a set outside the bank)."""
    model = None
    if use_model and use_bank and not rules_only:
        model = model_without(name) if name in BANK.sets else ReaderModel.load()
    return make_reader(rules_only=rules_only, params=params, bank=BANK.without(name) if use_bank else None,
                       model=model)


@functools.cache
def _rubric() -> Rubric:
    return load_rubric(ROOT / "knowledge" / "rubric.yaml")


@functools.cache
def voices_of_set(name: str) -> tuple[tuple[dict[str, Any], Voices | Reading, int | None], ...]:
    """Each row of a bank set with what the reader's voices say of it and the hand-set rules' reading, the set left out
    of the labelled answers."""
    reader = reader_for_set(name, use_model=False)
    out = []
    for r in load_rows(name):
        question, text = _rubric().question(r["question"]), str(r["answer"])
        v = reader.voices(question, text)
        out.append((r, v, v.level if isinstance(v, Reading) else reader.read(question, text).level))
    return tuple(out)


def _target(row: dict[str, Any], levels: list[int]) -> int | None:
    """The feature row a labelled answer should pick: its level, or "no option" (last) for a non-answer; None for an
    ambiguous answer (not fitted on)."""
    if row.get("kind") in ("vague", "offtopic", "question"):
        return len(levels)
    if row.get("clear") and row.get("level") is not None:
        return levels.index(int(row["level"]))
    return None


def samples(names: Sequence[str]) -> list[tuple[np.ndarray, int]]:
    """The fit's samples: each answer the voices speak on, with its target row."""
    out = []
    for name in names:
        for row, v, _ in voices_of_set(name):
            if isinstance(v, Voices) and (y := _target(row, v.levels)) is not None:
                out.append((features(v), y))
    return out


@functools.cache
def _weights_without(name: str) -> tuple[float, ...]:
    return fit(samples([n for n in BANK.sets if n != name]), l2=L2)


def model_without(name: str, thresholds: tuple[float, float] | None = None) -> ReaderModel:
    """The decision fitted on every bank set but `name`, with the product's thresholds (or `thresholds`: the
    threshold and the agreement threshold)."""
    if thresholds is None:
        shipped = ReaderModel.load() if DEFAULT_MODEL.exists() else ReaderModel((), 0.9)
        thresholds = (shipped.threshold, shipped.agree_threshold)
    return ReaderModel(_weights_without(name), thresholds[0], agree_threshold=thresholds[1])


def _counts(model: ReaderModel, name: str) -> tuple[int, int, int, int, int]:
    """Right, asked again (clear answers), misread (all), clear answers, rows — from the remembered voices."""
    right = asked = misread = clear = 0
    rows = voices_of_set(name)
    for row, v, hand in rows:
        level = v.level if isinstance(v, Reading) else model.decide(v, hand)[0]
        if row.get("clear"):
            clear += 1
            right += level == row["level"]
            asked += level is None
        misread += level is not None and level != row.get("level")
    return right, asked, misread, clear, len(rows)


def fit_model() -> ReaderModel:
    """The product's decision: weights fitted on every bank set; the thresholds those reading the most clear answers
    right with the pooled misreads (each set read by weights fitted without it) at most MISREAD_TARGET."""
    best: tuple[float, float, float] = (-1.0, THRESHOLDS[-1], 1.01)
    for threshold in THRESHOLDS:
        for agree in (*AGREE_THRESHOLDS, 1.01):
            if agree > threshold and agree <= 1.0:
                continue
            totals = np.sum([_counts(model_without(n, (threshold, agree)), n) for n in BANK.sets], axis=0)
            right, asked, misread, clear, rows = (int(x) for x in totals)
            if misread / rows <= MISREAD_TARGET and right / clear > best[0]:
                best = (right / clear, threshold, agree)
                print(f"  threshold {threshold:.2f}, with the rules {agree:.2f}: read right {right / clear:.3f}, "
                      f"asked again {asked / clear:.3f}, misread over all answers {misread / rows:.3f}",
                      file=sys.stderr)
    return ReaderModel(fit(samples(BANK.sets), l2=L2), best[1], BANK.sets, len(BANK.rows), best[2])


def pooled(rubric: Rubric, *, params: SemanticParams | None = None, threshold: float | None = None,
           use_bank: bool = True, use_model: bool = True) -> dict[str, float]:
    """Every bank set read by a reader that never saw it (leave one set out), figures over their union."""
    totals: dict[str, float] = {}
    for name in BANK.sets:
        reader = reader_for_set(name, params=params, use_bank=use_bank, use_model=use_model)
        if threshold is not None:
            reader.threshold = threshold
        m = evaluate(rubric, load_rows(name), reader)
        for key, weight in (("accuracy_clear", "clear"), ("asked_again_clear", "clear"), ("misread_all", "rows")):
            totals[key] = totals.get(key, 0.0) + m[key] * m[weight]
        totals["clear"] = totals.get("clear", 0.0) + m["clear"]
        totals["rows"] = totals.get("rows", 0.0) + m["rows"]
    for key, weight in (("accuracy_clear", "clear"), ("asked_again_clear", "clear"), ("misread_all", "rows")):
        totals[key] /= max(totals[weight], 1.0)
    return totals


def grid(rubric: Rubric) -> None:
    """Sweeps the semantic parameters, each bank set left out of the bank it is read with; prints the best points
    (the most answers read right, a misread over 2% costing three times its size)."""
    out = []
    for accept, floor, veto in itertools.product((0.01, 0.02, 0.03, 0.04), (0.75, 0.78, 0.8, 0.83),
                                                 (0.3, 0.5, 0.7, 1.0)):
        params = SemanticParams(accept_margin=accept, min_similarity=floor, veto_confidence=veto)
        m = pooled(rubric, params=params, use_model=False)
        out.append((m["accuracy_clear"] - 3 * max(0.0, m["misread_all"] - 0.02), params, m))
        print(f"accept={accept} floor={floor} veto={veto}: accuracy {m['accuracy_clear']:.3f} "
              f"asked {m['asked_again_clear']:.3f} misread(all) {m['misread_all']:.3f}", file=sys.stderr, flush=True)
    out.sort(key=lambda r: -r[0])
    for _, params, m in out[:12]:
        print(f"accept={params.accept_margin} floor={params.min_similarity} veto={params.veto_confidence}: "
              f"accuracy {m['accuracy_clear']:.3f} asked {m['asked_again_clear']:.3f} "
              f"misread(all) {m['misread_all']:.3f}")


async def evaluate_with_model(rubric: Rubric, rows: list[dict[str, Any]], reader: AnswerReader,
                              model: Any) -> dict[str, float]:
    """The reader, then the chat model on what it leaves unclear: accuracy, misread, fallbacks, model latency."""
    from bot.interview.model_reader import read_with_model

    right = misread = asked = fallbacks = calls = 0
    latencies: list[float] = []
    clear = [r for r in rows if r.get("clear")]
    for r in rows:
        question = rubric.question(r["question"])
        got = reader.read(question, str(r["answer"]))
        if got.kind == "unclear":
            calls += 1
            start = time.perf_counter()
            by_model = await read_with_model(model, question, str(r["answer"]))
            latencies.append((time.perf_counter() - start) * 1000)
            fallbacks += by_model is None
            got = by_model or got
        if r.get("clear"):
            right += got.level == r["level"]
            asked += got.level is None
        misread += got.level is not None and got.level != r.get("level")
    latencies.sort()
    pct = (lambda q: latencies[min(len(latencies) - 1, int(q * (len(latencies) - 1)))]) if latencies else (lambda q: 0.0)
    n = max(len(clear), 1)
    return {"accuracy_clear": right / n, "asked_again_clear": asked / n, "misread_all": misread / max(len(rows), 1),
            "model_calls": calls, "fallbacks": fallbacks, "p50_ms": pct(0.5), "p95_ms": pct(0.95)}


async def _with_model(args: argparse.Namespace, rubric: Rubric, reader: AnswerReader) -> int:
    from bench.llm_server import configured_model

    async with configured_model(test_server=args.llm_test_server) as model:
        for name in args.sets or [n for n in set_names() if n not in UNSEEN]:
            m = await evaluate_with_model(rubric, load_rows(name), reader, model)
            print(f"[{name}] rules + e5 + {model.name}: accuracy on clear answers {m['accuracy_clear']:.3f}, "
                  f"asked again {m['asked_again_clear']:.3f}, misread over all answers {m['misread_all']:.3f}; "
                  f"model calls {m['model_calls']:.0f}, fallbacks {m['fallbacks']:.0f}; "
                  f"model latency p50 {m['p50_ms']:.0f} ms, p95 {m['p95_ms']:.0f} ms")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the reader's figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", action="append", choices=set_names(), dest="sets")
    parser.add_argument("--verbose", action="store_true", help="print misses (bank sets only)")
    parser.add_argument("--rules-only", action="store_true", help="the rules without the embedding voice")
    parser.add_argument("--no-bank", action="store_true", help="without the labelled answers (the round-2 reader)")
    parser.add_argument("--no-model", action="store_true", help="the hand-set agreement rules instead of the fitted "
                        "decision (the third round's reader)")
    parser.add_argument("--fit", action="store_true",
                        help=f"fit the decision on the bank's sets and write {DEFAULT_MODEL.name}")
    parser.add_argument("--grid", action="store_true", help="sweep the semantic parameters on the bank's sets")
    parser.add_argument("--llm", action="store_true", help="also run the configured chat model (LLM_* settings)")
    parser.add_argument("--llm-test-server", action="store_true", help="with --llm: the in-repo test server")
    args = parser.parse_args(argv)
    rubric = load_rubric(ROOT / "knowledge" / "rubric.yaml")
    if args.llm:
        import asyncio

        return asyncio.run(_with_model(args, rubric, make_reader(rules_only=args.rules_only, bank=BANK)))
    if args.grid:
        grid(rubric)
        return 0
    if args.fit:
        model = fit_model()
        model.save(DEFAULT_MODEL)
        print(f"wrote {DEFAULT_MODEL} (threshold {model.threshold:.2f}, fitted on {len(model.fitted_on)} sets, "
              f"{model.rows} labelled answers)")
        return 0
    names = args.sets or [n for n in set_names() if n not in UNSEEN]
    for name in names:
        rows = load_rows(name)
        reader = reader_for_set(name, rules_only=args.rules_only, use_bank=not args.no_bank,
                                use_model=not args.no_model)
        start = time.perf_counter()
        m = evaluate(rubric, rows, reader, verbose=args.verbose and name in BANK.sets)
        per_answer_ms = (time.perf_counter() - start) * 1000 / max(len(rows), 1)
        tag = " (bank: the other sets)" if name in BANK.sets and not args.no_bank else ""
        tag += "" if name in BANK.sets else " (independent, run once)"
        print(fmt(name, m) + f"; {per_answer_ms:.1f} ms/answer{tag}")
    if not args.sets and not args.rules_only:
        m = pooled(rubric, use_bank=not args.no_bank, use_model=not args.no_model)
        print(f"[bank sets, each left out] accuracy on clear answers {m['accuracy_clear']:.3f} (n={m['clear']:.0f}), "
              f"asked again {m['asked_again_clear']:.3f}; misread over all answers {m['misread_all']:.3f} "
              f"(n={m['rows']:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
