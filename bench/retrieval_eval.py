"""Retrieval evaluation: hit@1, hit@3, MRR and refusal rates on labelled questions, per set and per strategy.

    python -m bench.retrieval_eval                       # every set, the default (fused) strategy
    python -m bench.retrieval_eval --set tune --misses   # one set; --misses prints misses (tuning sets only)
    python -m bench.retrieval_eval --compare             # BM25 alone / dense alone / fused, side by side
    python -m bench.retrieval_eval --grid                # the sweep the defaults were chosen with (tuning sets)
    python -m bench.retrieval_eval --backend sentence-transformers   # the packaged MiniLM instead of e5
    python -m bench.retrieval_eval --llm [--llm-test-server]   # grounded answers of the configured chat model

Sets: knowledge/questions/<set>.yaml are the labelled questions search uses (and was tuned on); each is measured on a
knowledge base whose labelled questions are all the *other* sets (leave one set out). About the article
(knowledge/guidance.md): `tune`, `holdout`, `holdout2` (the team's), `twin` … `twin6` (written for issue #10 by
helpers that never saw the code or the other sets, each run once at the end of a round, then added). About a second
document uploaded beside the article (bench/data/guidance_*.md): `doc_sop` (the team's), `doc_member`, `doc_guide`,
`doc_b2b`, `doc_scrm`, `doc_referral`, `doc_store` (independent, likewise; doc_referral without its "not covered"
rows, which were labelled against the document alone). Documents' sets are searched over the article plus that document, so
shared generic words can pull a question to the wrong document. A new round's independent sets go under
bench/data/questions/<name>.yaml (not among the labelled questions), are listed in `UNSEEN_SETS` and `SETS`, and are
run once (`--set <name>`) at the end of the round: round 5's are `twin7` (the article) and `doc_live` (a ninth
document, bench/data/guidance_live_video.md, on WeChat Channels live streams).

A question is a hit when the passage's document and section are its labelled ones (or an `also` section); off-topic
questions (`section: null`) must get no passage.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.questions import ARTICLE_DOC as ARTICLE
from bot.knowledge.questions import DEFAULT_QUESTION_VECTORS, DEFAULT_QUESTIONS, QuestionBank
from bot.knowledge.ranking import (
    DEFAULT_MODEL,
    AnswerGate,
    SearchModel,
    SectionRanker,
    features,
    fit,
    fit_gate,
    gate_features,
    target,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
UNSEEN_DIR = DATA / "questions"  # written independently, not among the labelled questions search uses
BANK = QuestionBank.load(DEFAULT_QUESTIONS)

# Set → the extra guidance document searched beside knowledge/ (None: the article alone).
SETS: dict[str, str | None] = {
    "tune": None, "holdout": None, "holdout2": None, "doc_sop": "guidance_community_sop.md",
    "twin": None, "doc_member": "guidance_membership.md",
    "twin2": None, "doc_guide": "guidance_private_traffic_live.md",
    "twin3": None, "doc_b2b": "guidance_b2b_private_domain.md",
    "twin4": None, "doc_scrm": "guidance_scrm_data.md",
    "twin5": None, "doc_referral": "guidance_referral_growth.md",
    "twin6": None, "doc_store": "guidance_store_guide.md",
    "twin7": None, "doc_live": "guidance_live_video.md",
}
# Sets the defaults were chosen on (misses may be printed); the others print aggregates only. twin and doc_member
# were run once untouched (fused hit@1 0.748 / 0.754, refused 0.707 / 0.719) and are tuning sets since.
TUNING_SETS = ("tune", "holdout", "holdout2", "doc_sop", "twin", "doc_member", "twin2", "doc_guide", "twin3", "doc_b2b",
               "twin4", "doc_scrm", "twin5", "doc_referral", "twin6", "doc_store", "twin7", "doc_live")
UNSEEN_SETS: tuple[str, ...] = ()  # kept out of the default run until their one measurement (none pending)
L2 = 0.1  # the fits' penalty
GATE_THRESHOLDS = tuple(round(0.5 + 0.01 * i, 2) for i in range(46))


@dataclass(frozen=True)
class Item:
    """One labelled question (`section` None = off-topic)."""

    q: str
    section: str | None
    also: tuple[str, ...] = ()
    doc: str = ARTICLE

    @property
    def accepted(self) -> set[tuple[str, str]]:
        """(document, section) pairs that count as a hit."""
        return {(self.doc, s) for s in (self.section, *self.also) if s} if self.section else set()


def set_path(name: str) -> Path:
    """knowledge/questions/<name>.yaml (the labelled questions search uses), else bench/data/questions/<name>.yaml."""
    own = DEFAULT_QUESTIONS / f"{name}.yaml"
    return own if own.exists() else UNSEEN_DIR / f"{name}.yaml"


def load_items(name: str) -> list[Item]:
    """The labelled questions of one set."""
    raw = yaml.safe_load(set_path(name).read_text(encoding="utf-8"))
    return [Item(str(r["q"]), None if r.get("section") is None else str(r["section"]),
                 tuple(map(str, r.get("also") or ())), str(r.get("doc") or ARTICLE)) for r in raw]


def score_rankings(items: Sequence[Item], rankings: Sequence[Sequence[tuple[str, str]]]) -> dict[str, float]:
    """Metrics from each question's ranked (document, section) pairs ([] = refused)."""
    inscope = [(it, r) for it, r in zip(items, rankings, strict=True) if it.section]
    offtopic = [(it, r) for it, r in zip(items, rankings, strict=True) if not it.section]
    hit1 = sum(bool(r) and r[0] in it.accepted for it, r in inscope)
    hit1_strict = sum(bool(r) and r[0] == (it.doc, it.section) for it, r in inscope)
    hit3 = sum(any(s in it.accepted for s in r[:3]) for it, r in inscope)
    mrr = sum(next((1 / (i + 1) for i, s in enumerate(r) if s in it.accepted), 0.0) for it, r in inscope)
    right_doc = sum(bool(r) and r[0][0] == it.doc for it, r in inscope)
    answered = sum(bool(r) for _, r in inscope)
    refused = sum(not r for _, r in offtopic)
    n, m = max(len(inscope), 1), max(len(offtopic), 1)
    return {
        "in_scope": len(inscope), "off_topic": len(offtopic),
        "hit@1": hit1 / n, "hit@1_strict": hit1_strict / n, "hit@3": hit3 / n, "mrr": mrr / n,
        "right_doc": right_doc / n, "answered_in_scope": answered / n, "refused_off_topic": refused / m,
    }


def rank(kb: Any, items: Sequence[Item], *, k: int = 3, off_topic: bool = True) -> list[list[tuple[str, str]]]:
    """Every question's ranked (document, section) pairs through `kb.search`."""
    return [[(p.doc, p.section) for p in kb.search(it.q, k=k, off_topic=off_topic)] for it in items]


def evaluate(kb: Any, items: Sequence[Item], *, k: int = 3) -> tuple[dict[str, float], list[list[tuple[str, str]]]]:
    """Runs every question through `kb.search` and scores the rankings."""
    rankings = rank(kb, items, k=k)
    return score_rankings(items, rankings), rankings


class CachedEmbeddings:
    """Wraps an embedding model so a sweep embeds every question once (same model id, same vectors)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._cache: dict[str, list[float]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_query(self, text: str) -> list[float]:
        """The inner model's vector, computed once per text."""
        if text not in self._cache:
            self._cache[text] = self._inner.embed_query(text)
        return self._cache[text]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Passages are not cached (embedded once per ingest anyway)."""
        return self._inner.embed_documents(texts)  # type: ignore[no-any-return]


def build_kb(data_dir: Path, *, extra: str | None = None, backend: str | None = None, model: str | None = None,
             cached: bool = True) -> Any:
    """Ingests knowledge/ (plus bench/data/<extra>) into a throwaway data dir and returns a KnowledgeBase on it."""
    from bot.knowledge.embeddings import TextVectors, make_embeddings
    from bot.knowledge.ingest import Ingestor, collect_sources
    from bot.knowledge.search import KnowledgeBase
    from bot.knowledge.store import VersionStore, make_client

    embeddings: Any = make_embeddings(backend, model)
    if cached:
        embeddings = CachedEmbeddings(embeddings)
    store = VersionStore(make_client(data_dir=data_dir, chroma_url=None), embeddings)
    paths = collect_sources(ROOT / "knowledge") + ([DATA / extra] if extra else [])
    Ingestor(store, lock_path=data_dir / "kb.lock").ingest(paths)
    # The labelled questions' vectors (the fitted model reads them): kept in knowledge/, written here when missing.
    vectors = TextVectors(embeddings, DEFAULT_QUESTION_VECTORS) if backend is None else None
    return KnowledgeBase(store, question_vectors=vectors)


def strategies(kb: Any) -> dict[str, Any]:
    """The strategies compared: plain jieba BM25, the lexical voices together, dense alone, and the fused default."""
    return {
        "BM25 (jieba words only)": kb.with_params(use_dense=False, title_weight=0.0, bigram_weight=0.0),
        "lexical (words+titles+bigrams)": kb.with_params(use_dense=False),
        "dense only": kb.with_params(use_lexical=False),
        "fused (default)": kb,
    }


def fmt(name: str, m: dict[str, float]) -> str:
    """One printed row of figures."""
    return (f"{name:<34} hit@1 {m['hit@1']:.3f}  hit@3 {m['hit@3']:.3f}  MRR {m['mrr']:.3f}  "
            f"right doc {m['right_doc']:.3f}  answered {m['answered_in_scope']:.3f}  "
            f"refused {m['refused_off_topic']:.3f}  (n={m['in_scope']:.0f}+{m['off_topic']:.0f})")


def model_samples(kb: Any, items: Sequence[Item]) -> tuple[list[tuple[Any, int]], list[tuple[Any, int]]]:
    """The fits' samples: for the ranker, each in-scope question's candidates with the first one that answers it; for
    the gate, every question's evidence with 0 (answer) or 1 (refuse: labelled "not covered")."""
    ranker, gate = [], []
    for it in items:
        ev = kb.coverage_evidence(it.q)
        if ev is None:
            continue
        gate.append((gate_features(ev), 0 if it.section else 1))
        y = target(ev.candidates, it.accepted) if it.section else None
        if y is not None:
            ranker.append((features(ev.candidates), y))
    return ranker, gate


def fit_models(kbs: dict[str, Any]) -> tuple[dict[str, SearchModel], SearchModel]:
    """Per labelled set, the search model fitted on every other set (its evidence from a knowledge base without that
    set's labelled questions), and the product's, fitted on them all. The gate's threshold maximises in-scope
    questions answered plus off-topic ones refused, pooled over the sets each judged by weights fitted without it."""
    assert set(TUNING_SETS) == set(BANK.sets), "every labelled set is a tuning set"
    samples = {n: model_samples(kbs[n], load_items(n)) for n in TUNING_SETS}
    others = {n: [m for m in TUNING_SETS if m != n] for n in TUNING_SETS}
    rankers = {n: fit([x for m in others[n] for x in samples[m][0]], l2=L2) for n in TUNING_SETS}
    gates = {n: fit_gate([x for m in others[n] for x in samples[m][1]], l2=L2) for n in TUNING_SETS}
    judged = [(AnswerGate(gates[n], 0.5).probability_of(x), y) for n in TUNING_SETS for x, y in samples[n][1]]
    inscope = max(sum(y == 0 for _, y in judged), 1)
    offtopic = max(sum(y == 1 for _, y in judged), 1)

    def balanced(threshold: float) -> float:
        answered = sum(y == 0 and p >= threshold for p, y in judged)
        refused = sum(y == 1 and p < threshold for p, y in judged)
        return answered / inscope + refused / offtopic

    threshold = max(GATE_THRESHOLDS, key=lambda t: (balanced(t), -t))
    model_id = next(iter(kbs.values())).store.model_id
    loso = {n: SearchModel(SectionRanker(rankers[n]), AnswerGate(gates[n], threshold), model_id) for n in TUNING_SETS}
    full = SearchModel(SectionRanker(fit([x for n in TUNING_SETS for x in samples[n][0]], l2=L2)),
                       AnswerGate(fit_gate([x for n in TUNING_SETS for x in samples[n][1]], l2=L2), threshold),
                       model_id, BANK.sets, len(BANK.rows))
    return loso, full


def _objective(m: dict[str, float]) -> float:
    return m["hit@1"] + 0.5 * m["hit@3"] + 0.5 * m["mrr"] + m["refused_off_topic"] + m["answered_in_scope"]


def grid(kbs: dict[str, Any], sets: dict[str, list[Item]]) -> None:
    """Sweeps ranking weights, then the off-topic rule, on the tuning sets; prints the best rows (mean over sets)."""
    rows = []
    for tw, bw, dw, hw in itertools.product((0.2, 0.3, 0.5), (0.1, 0.2), (0.7, 1.0, 1.3), (0.0, 0.5, 1.0, 1.5)):
        per = {name: evaluate(kbs[name].with_params(title_weight=tw, bigram_weight=bw, dense_weight=dw,
                                                    hub_weight=hw), [it for it in items if it.section])[0]
               for name, items in sets.items()}
        mean = {key: sum(m[key] for m in per.values()) / len(per) for key in ("hit@1", "hit@3", "mrr")}
        rows.append((mean["hit@1"] + 0.5 * mean["hit@3"] + 0.5 * mean["mrr"],
                     f"title={tw} bigram={bw} dense={dw} hub={hw}", per))
    rows.sort(key=lambda r: -r[0])
    print("ranking (in-scope questions only), top 10 of", len(rows))
    for score, name, per in rows[:10]:
        print(f"  {score:.3f} {name}: " + "  ".join(f"{s} {m['hit@1']:.3f}/{m['hit@3']:.3f}" for s, m in per.items()))
    rule = []
    for alone, need, cover, waive in itertools.product((0.045, 0.05), (6.0, 7.0), (0.0, 0.4, 0.5, 0.55, 0.6),
                                                       (0.05, 0.055, 0.06)):
        per = {name: evaluate(kbs[name].with_params(dense_margin_alone=alone, min_evidence=need, min_coverage=cover,
                                                    coverage_margin=waive), items)[0] for name, items in sets.items()}
        answered = sum(m["answered_in_scope"] for m in per.values()) / len(per)
        refused = sum(m["refused_off_topic"] for m in per.values()) / len(per)
        rule.append((answered + refused, f"margin_alone={alone} evidence={need} coverage={cover} waived_at={waive}",
                     answered, refused))
    rule.sort(key=lambda r: -r[0])
    print("off-topic rule, top 12 (mean answered in-scope / refused off-topic over the tuning sets)")
    for _, name, answered, refused in rule[:12]:
        print(f"  {name}: answered {answered:.3f} refused {refused:.3f}")


async def grounded_figures(kb: Any, items: Sequence[Item], model: Any) -> dict[str, float]:
    """For every answered question: the model's grounded answer kept (its citations among the passages) or not."""
    from bot.knowledge.answer import grounded_answer

    kept = dropped = 0
    latencies: list[float] = []
    for it in items:
        passages = kb.search(it.q, k=3)
        if not passages:
            continue  # the model is never asked without passages
        start = time.perf_counter()
        answer = await grounded_answer(model, it.q, passages)
        latencies.append((time.perf_counter() - start) * 1000)
        kept += answer is not None
        dropped += answer is None
    latencies.sort()
    p = (lambda q: latencies[min(len(latencies) - 1, int(q * (len(latencies) - 1)))]) if latencies else (lambda q: 0.0)
    return {"asked": kept + dropped, "kept": kept, "fallbacks": dropped, "p50_ms": p(0.5), "p95_ms": p(0.95)}


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the retrieval figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--set", action="append", choices=sorted(SETS), dest="sets",
                        help="a set (repeatable); default: every set")
    parser.add_argument("--compare", action="store_true", help="BM25 / lexical / dense / fused side by side")
    parser.add_argument("--grid", action="store_true", help="sweep parameters on the tuning sets")
    parser.add_argument("--misses", action="store_true", help="print the misses of tuning sets")
    parser.add_argument("--backend", default=None, help="EMBEDDING_BACKEND (default e5)")
    parser.add_argument("--model", default=None, help="EMBEDDING_MODEL for the sentence-transformers backend")
    parser.add_argument("--json", action="store_true", help="one JSON object of every figure at the end")
    parser.add_argument("--no-questions", action="store_true", help="without the labelled questions (round 2)")
    parser.add_argument("--no-model", action="store_true", help="the hand-set off-topic rules and the fused order "
                        "instead of the fitted gate and ranker")
    parser.add_argument("--fit", action="store_true", help=f"fit the gate and the ranker on the labelled sets, write "
                        f"{DEFAULT_MODEL.name}")
    parser.add_argument("--llm", action="store_true", help="grounded answers of the configured chat model")
    parser.add_argument("--llm-test-server", action="store_true", help="with --llm: the in-repo test server")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    names = list(TUNING_SETS) if args.grid or args.fit else (args.sets or [n for n in SETS if n not in UNSEEN_SETS])
    # A labelled set is ranked by weights fitted without it: every labelled set's candidates are needed.
    use_model = not (args.no_model or args.no_questions or args.grid or args.backend)
    building = list(dict.fromkeys([*names, *(TUNING_SETS if use_model and set(names) & set(TUNING_SETS) else ())]))
    out: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        kbs: dict[str, Any] = {}
        for extra in dict.fromkeys(SETS[n] for n in building):
            start = time.perf_counter()
            kb = build_kb(Path(tmp) / (extra or "article"), extra=extra, backend=args.backend, model=args.model)
            kb.warm_up()
            print(f"knowledge base {'article' if extra is None else 'article + ' + extra} built in "
                  f"{time.perf_counter() - start:.1f} s ({kb.store.model_id})")
            for n in building:
                if SETS[n] == extra:  # each set is measured on a knowledge base that never saw it
                    kbs[n] = kb.with_questions(QuestionBank() if args.no_questions else BANK.without(n))
        if args.fit:
            _, full = fit_models(kbs)
            full.save(DEFAULT_MODEL)
            print(f"wrote {DEFAULT_MODEL} (gate threshold {full.gate.threshold:.2f}, fitted on {len(full.fitted_on)} "
                  f"sets, {full.rows} labelled questions)")
            return 0
        if use_model:
            loso = fit_models(kbs)[0] if set(names) & set(TUNING_SETS) else {}
            shipped = SearchModel.load()
            kbs = {n: kb.with_model(loso.get(n, shipped)) for n, kb in kbs.items()}
        if args.grid:
            grid(kbs, {n: load_items(n) for n in names})
            return 0
        if args.llm:
            import asyncio

            from bench.llm_server import configured_model

            async def run() -> None:
                async with configured_model(test_server=args.llm_test_server) as model:
                    for n in names:
                        g = await grounded_figures(kbs[n], load_items(n), model)
                        print(f"[{n}] {model.name}: asked {g['asked']:.0f} (questions with passages), grounded "
                              f"answers kept {g['kept']:.0f}, fallbacks to the passages {g['fallbacks']:.0f}; "
                              f"latency p50 {g['p50_ms']:.0f} ms, p95 {g['p95_ms']:.0f} ms")

            asyncio.run(run())
            return 0
        for n in names:
            items = load_items(n)
            tag = "" if n in TUNING_SETS else " (independent, not tuned on)"
            print(f"[{n}]{tag}")
            runs = strategies(kbs[n]) if args.compare else {"fused (default)": kbs[n]}
            for label, kb in runs.items():
                m, rankings = evaluate(kb, items)
                out.setdefault(n, {})[label] = m
                print("  " + fmt(label, m))
            if args.misses and n in TUNING_SETS:
                _, rankings = evaluate(kbs[n], items)
                for it, r in zip(items, rankings, strict=True):
                    wrong = (it.section and (not r or r[0] not in it.accepted)) or (not it.section and r)
                    if wrong:
                        want = f"{it.doc}#{it.section}" if it.section else "refusal"
                        print(f"    miss: {it.q}  want {want}  got {[f'{d}#{s}' for d, s in r]}")
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
