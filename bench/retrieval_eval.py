"""Retrieval evaluation: hit@1, hit@3, MRR and refusal rates on labelled Chinese questions.

    python -m bench.retrieval_eval                 # held-out set, default parameters
    python -m bench.retrieval_eval --set tune      # tune and holdout are both tuning data: misses are printed
    python -m bench.retrieval_eval --set holdout2  # the independent set: aggregates only, never tuned on
    python -m bench.retrieval_eval --grid          # the parameter sweep used to choose the defaults (tune + holdout)
    python -m bench.retrieval_eval --compare       # lexical only / dense only / naive RRF / hybrid, side by side

A question counts as a hit when the passage's section is its labelled `section` or one of its `also` sections.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Item:
    """One labelled question (`section` None = off-topic)."""

    q: str
    section: str | None
    also: tuple[str, ...] = ()

    @property
    def accepted(self) -> set[str]:
        """Sections that count as a hit."""
        return {self.section, *self.also} if self.section else set()


# Sets the defaults were chosen on (their misses are printed); any other set prints aggregates only.
TUNING_SETS = ("tune", "holdout")


def load_items(name: str) -> list[Item]:
    """Reads bench/data/retrieval_<name>.yaml."""
    raw = yaml.safe_load((DATA / f"retrieval_{name}.yaml").read_text(encoding="utf-8"))
    return [Item(r["q"], None if r["section"] is None else str(r["section"]), tuple(map(str, r.get("also") or ())))
            for r in raw]


def score_rankings(items: Sequence[Item], rankings: Sequence[Sequence[str]]) -> dict[str, float]:
    """Metrics from each question's ranked section ids ([] = refused)."""
    inscope = [(it, r) for it, r in zip(items, rankings, strict=True) if it.section]
    offtopic = [(it, r) for it, r in zip(items, rankings, strict=True) if not it.section]
    hit1 = sum(bool(r) and r[0] in it.accepted for it, r in inscope)
    hit1_strict = sum(bool(r) and r[0] == it.section for it, r in inscope)
    hit3 = sum(any(s in it.accepted for s in r[:3]) for it, r in inscope)
    mrr = sum(next((1 / (i + 1) for i, s in enumerate(r) if s in it.accepted), 0.0) for it, r in inscope)
    answered = sum(bool(r) for _, r in inscope)
    refused = sum(not r for _, r in offtopic)
    n, m = max(len(inscope), 1), max(len(offtopic), 1)
    return {
        "in_scope": len(inscope), "off_topic": len(offtopic),
        "hit@1": hit1 / n, "hit@1_strict": hit1_strict / n, "hit@3": hit3 / n, "mrr": mrr / n,
        "answered_in_scope": answered / n, "refused_off_topic": refused / m,
    }


def evaluate(kb, items: Sequence[Item], *, k: int = 3) -> tuple[dict[str, float], list[list[str]]]:  # type: ignore[no-untyped-def]
    """Runs every question through `kb.search` and scores the rankings."""
    rankings = [[p.section for p in kb.search(it.q, k=k)] for it in items]
    return score_rankings(items, rankings), rankings


def build_kb(data_dir: Path, *, model: str | None = None):  # type: ignore[no-untyped-def]
    """Ingests knowledge/ into a throwaway data dir and returns a KnowledgeBase on it."""
    from bot.knowledge.embeddings import LazyEmbeddings
    from bot.knowledge.ingest import Ingestor, collect_sources
    from bot.knowledge.search import KnowledgeBase
    from bot.knowledge.store import VersionStore, make_client

    store = VersionStore(make_client(data_dir=data_dir, chroma_url=None), LazyEmbeddings(model))
    Ingestor(store, lock_path=data_dir / "kb.lock").ingest(collect_sources(ROOT / "knowledge"))
    return KnowledgeBase(store)


def _rrf(kb, items: Sequence[Item]) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """Naive reciprocal-rank fusion of lexical and dense section rankings (the baseline to beat)."""
    lexical = kb.with_params(use_dense=False, title_weight=0.0, bigram_weight=0.0)
    out = []
    for it in items:
        lex = [p.section for p in lexical.search(it.q, k=20, off_topic=False)]
        index = kb._current()  # noqa: SLF001 - evaluation reaches in on purpose
        dense_hits = kb.store.dense_search(index.version.id, it.q, k=20)
        dense: list[str] = []
        for cid, _ in dense_hits:
            s = index.chunks[index.by_id[cid]].section
            if s not in dense:
                dense.append(s)
        fused: dict[str, float] = {}
        for ranking in (lex, dense):
            for rank, s in enumerate(ranking):
                fused[s] = fused.get(s, 0.0) + 1 / (60 + rank + 1)
        out.append(sorted(fused, key=lambda s: -fused[s])[:3])
    return out


def _dense_only(kb, items: Sequence[Item]) -> list[list[str]]:  # type: ignore[no-untyped-def]
    index = kb._current()  # noqa: SLF001
    out = []
    for it in items:
        ranking: list[str] = []
        for cid, _ in kb.store.dense_search(index.version.id, it.q, k=20):
            s = index.chunks[index.by_id[cid]].section
            if s not in ranking:
                ranking.append(s)
        out.append(ranking[:3])
    return out


def _fmt(name: str, m: dict[str, float]) -> str:
    return (f"{name:<28} hit@1 {m['hit@1']:.3f} (strict {m['hit@1_strict']:.3f})  hit@3 {m['hit@3']:.3f}  "
            f"MRR {m['mrr']:.3f}  answered in-scope {m['answered_in_scope']:.3f}  "
            f"refused off-topic {m['refused_off_topic']:.3f}  (n={m['in_scope']:.0f}+{m['off_topic']:.0f})")


class _CachedDense:
    """Wraps a VersionStore so the grid embeds every question once."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self._store = store
        self._cache: dict[tuple[object, ...], list[tuple[str, float]]] = {}

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._store, name)

    def dense_search(self, version_id: str, query: str, *, k: int, section: str | None = None):  # type: ignore[no-untyped-def]
        key = (version_id, query, k, section)
        if key not in self._cache:
            self._cache[key] = self._store.dense_search(version_id, query, k=k, section=section)
        return self._cache[key]


def _objective(m: dict[str, float]) -> float:
    return m["hit@1"] + m["hit@3"] + m["mrr"] + m["refused_off_topic"] + m["answered_in_scope"]


def grid(kb, items: Sequence[Item]) -> None:  # type: ignore[no-untyped-def]
    """Sweeps the ranking parameters, then the off-topic rule, over the given items; prints the best rows."""
    from bot.knowledge.search import KnowledgeBase

    base = KnowledgeBase(_CachedDense(kb.store), tokenizer=kb.tokenizer, params=kb.params)
    rows = []
    for k1, b in itertools.product((0.9, 1.2, 1.5), (0.5, 0.75, 0.9)):
        kb_kb = base.with_params(k1=k1, b=b, bigram_weight=0.1)  # build the bigram index once per k1/b
        kb_kb.warm_up()
        for tw, bw, dw in itertools.product((0.0, 0.2, 0.3, 0.5), (0.0, 0.1, 0.2), (0.0, 0.05, 0.1)):
            m, _ = evaluate(kb_kb.with_params(title_weight=tw, bigram_weight=bw, dense_weight=dw), items)
            rows.append((_objective(m), f"k1={k1} b={b} title={tw} bigram={bw} dense={dw}", m))
    rows.sort(key=lambda r: -r[0])
    print("ranking (top 15 of", len(rows), "):")
    for _, name, m in rows[:15]:
        print(_fmt(name, m))
    print("off-topic rule (default ranking):")
    rule = []
    for rarity, floor, cap, need in itertools.product((0.0, 7.5, 8.0, 8.5), (5.0, 6.0, 7.0), (3.0, 4.0, 6.0),
                                                      (3.0, 5.0, 6.0, 7.0, 7.5, 8.0, 9.0)):
        kb_rule = base.with_params(evidence_min_rarity=rarity, evidence_floor=floor, evidence_cap=cap,
                                   min_evidence=need)
        m, _ = evaluate(kb_rule, items)
        generic = kb_rule.evidence("企业 公司 问题 方面 准备 目标")
        rule.append((m["refused_off_topic"] + m["answered_in_scope"] - (generic >= need),
                     f"rarity={rarity} floor={floor} cap={cap} need={need}", m))
    rule.sort(key=lambda r: -r[0])
    for _, name, m in rule[:12]:
        print(_fmt(name, m))
    # How far the questions sit from the threshold: the margin behind the chosen min_evidence (a question of
    # generic words only must stay below it).
    inscope = sorted(base.evidence(it.q) for it in items if it.section)
    offtopic = sorted(base.evidence(it.q) for it in items if not it.section)
    print(f"evidence: in-scope lowest {[round(x, 1) for x in inscope[:4]]}, "
          f"off-topic highest {[round(x, 1) for x in offtopic[-4:]]}, "
          f"generic words only {base.evidence('企业 公司 问题 方面 准备 目标'):.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Prints the retrieval figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="holdout", choices=["holdout", "tune", "holdout2"])
    parser.add_argument("--grid", action="store_true", help="sweep parameters on tune + holdout")
    parser.add_argument("--compare", action="store_true", help="compare retrieval strategies")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        kb = build_kb(Path(tmp))
        if args.grid:
            grid(kb, [it for name in TUNING_SETS for it in load_items(name)])
            return 0
        items = load_items(args.set)
        metrics, rankings = evaluate(kb, items)
        if args.compare:
            words_only = kb.with_params(use_dense=False, title_weight=0.0, bigram_weight=0.0)
            print(_fmt("jieba BM25 (words only)", evaluate(words_only, items)[0]))
            print(_fmt("lexical, no dense", evaluate(kb.with_params(use_dense=False), items)[0]))
            print(_fmt("dense (MiniLM) only", score_rankings(items, _dense_only(kb, items))))
            print(_fmt("naive RRF (BM25 words+dense)", score_rankings(items, _rrf(kb, items))))
        print(_fmt(f"hybrid [{args.set}]", metrics))
        if args.json:
            json.dump(metrics, sys.stdout)
            print()
        misses = [(it, r) for it, r in zip(items, rankings, strict=True)
                  if (it.section and (not r or r[0] not in it.accepted)) or (not it.section and r)]
        if args.set in TUNING_SETS:
            for it, r in misses:
                print(f"  miss: {it.q}  want {it.section}{'/' + '/'.join(it.also) if it.also else ''}  got {r}")
        else:
            print(f"  {len(misses)} misses on the {args.set} set (not printed: it is not for tuning)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
