"""Knowledge-base benchmark: ingest time, query latency and peak memory (prints figures; not a test).

    python -m bench.kb_bench                 # the article, cold `search` calls, then 200 generated documents (~1 MB)
    python -m bench.kb_bench --docs 1000 --mb 5   # a larger generated corpus
    python -m bench.kb_bench --skip-corpus   # the article and the cold search only
    python -m bench.kb_bench --backend sentence-transformers   # the same with the packaged MiniLM (the baseline)

Every ingest and every cold search runs in a fresh subprocess, so its time includes the interpreter, the imports
and loading the embedding model, as a first `python ingest.py` / `python -m bot search` would. Targets (issues #2,
#10, 2-core machine): article ingest ≤ 5 s including model load; a cold `search` ≤ 3 s; warm query p99 ≤ 30 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "knowledge" / "guidance.md"
CN_NUMERALS = "一二三四五六七八九十"

# Runs in the child: ingest a folder into a data dir, then (optionally) time warm queries; prints one JSON line.
_CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from bot.knowledge.embeddings import make_embeddings
from bot.knowledge.ingest import LOCK_FILE, Ingestor, collect_sources
from bot.knowledge.store import VersionStore, make_client
source, data, queries = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
embeddings = make_embeddings(os.environ.get("EMBEDDING_BACKEND") or None, os.environ.get("EMBEDDING_MODEL") or None)
store = VersionStore(make_client(data_dir=data, chroma_url=None), embeddings)
t_imports = time.perf_counter()
result = Ingestor(store, lock_path=data / LOCK_FILE).ingest(collect_sources(source), created_by="bench")
t_ingest = time.perf_counter()
out = {"imports_s": t_imports - t0, "ingest_s": t_ingest - t_imports, "ingest_done_at": time.time(),
       "documents": result.documents, "sections": result.sections, "chunks": result.chunks}
if queries:
    from bot.knowledge.search import KnowledgeBase
    kb = KnowledgeBase(store)
    t = time.perf_counter()
    kb.warm_up()
    out["index_build_s"] = time.perf_counter() - t
    for q in queries[:5]:
        kb.search(q)
    lat = []
    hits = 0
    for _ in range(int(os.environ.get("KB_BENCH_ROUNDS", "4"))):
        for q in queries:
            t = time.perf_counter()
            hits += bool(kb.search(q, k=3))
            lat.append((time.perf_counter() - t) * 1000)
    lex = kb.with_params(use_dense=False)
    lat_lex = []
    for q in queries:
        t = time.perf_counter()
        lex.search(q, k=3)
        lat_lex.append((time.perf_counter() - t) * 1000)
    lat.sort(); lat_lex.sort()
    pct = lambda xs, p: xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
    out.update(queries=len(lat), p50_ms=pct(lat, 50), p99_ms=pct(lat, 99), max_ms=lat[-1],
               lexical_p50_ms=pct(lat_lex, 50), lexical_p99_ms=pct(lat_lex, 99), answered=hits / len(lat))
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def article_sentences(text: str) -> list[str]:
    """The article's body sentences (headings and front matter dropped), to recombine into synthetic documents."""
    from bot.knowledge.chunking import split_sentences

    body = "\n".join(line for line in text.split("---", 2)[-1].splitlines() if line and not line.startswith("#"))
    return [s.strip() for s in split_sentences(body) if len(s.strip()) >= 6]


def generate_corpus(folder: Path, *, docs: int, target_bytes: int, seed: int = 7) -> int:
    """Writes `docs` Markdown files of shuffled article sentences under chapter and section headings."""
    rng = random.Random(seed)
    sentences = article_sentences(ARTICLE.read_text(encoding="utf-8"))
    per_doc = target_bytes // docs
    total = 0
    for n in range(docs):
        parts = [f"---\ntitle: 合成指导文档 {n:04d}\nsource: bench\n---\n", f"# 合成指导文档 {n:04d}\n",
                 "".join(rng.sample(sentences, 3)) + "\n"]
        size = sum(len(p.encode()) for p in parts)
        chapter = 0
        while size < per_doc and chapter < len(CN_NUMERALS):
            chapter += 1
            head = f"\n## {CN_NUMERALS[chapter - 1]}、{rng.choice(sentences)[:12]}\n\n"
            intro = "".join(rng.sample(sentences, 2)) + "\n"
            parts += [head, intro]
            size += len(head.encode()) + len(intro.encode())
            for sub in range(1, 4):
                if size >= per_doc:
                    break
                # Sections of 5–12 sentences (~200–600 characters), like the article's.
                block = f"\n### {chapter}.{sub} {rng.choice(sentences)[:10]}\n\n" + "".join(
                    rng.sample(sentences, rng.randint(5, 12))) + "\n"
                parts.append(block)
                size += len(block.encode())
        text = "".join(parts)
        (folder / f"doc{n:04d}.md").write_text(text, encoding="utf-8")
        total += len(text.encode())
    return total


def run_child(source: Path, data: Path, queries: list[str]) -> dict[str, float]:
    """Ingests `source` into `data` in a fresh interpreter; returns its measurements and the wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(source), str(data), json.dumps(queries, ensure_ascii=False)],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = out["ingest_done_at"] - start  # from spawning the interpreter to the new version being active
    return out


def cold_search(data: Path, query: str, rounds: int = 3) -> list[float]:
    """Wall times of `python -m bot search` in fresh interpreters on an ingested data dir."""
    env = {**os.environ, "DATA_DIR": str(data), "LOG_LEVEL": "WARNING", "HF_HUB_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False"}
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bot", "search", query, "--k", "3"], env=env, cwd=ROOT,
                       capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def _queries() -> list[str]:
    from bench.retrieval_eval import load_items

    return [it.q for it in load_items("tune")]


def main(argv: list[str] | None = None) -> int:
    """Prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--mb", type=float, default=1.0, help="generated corpus size in MB")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--backend", default=None, help="EMBEDDING_BACKEND (default e5)")
    args = parser.parse_args(argv)
    if args.backend:
        os.environ["EMBEDDING_BACKEND"] = args.backend
    queries = _queries()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        source = tmp_path / "article"
        source.mkdir()
        (source / ARTICLE.name).write_bytes(ARTICLE.read_bytes())
        a = run_child(source, tmp_path / "data-article", queries)
        print(f"article: {a['chunks']:.0f} chunks; ingest {a['wall_s']:.2f} s wall in a fresh process "
              f"(imports {a['imports_s']:.2f} s, ingest incl. model load {a['ingest_s']:.2f} s); "
              f"warm query p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms; peak RSS {a['peak_rss_mb']:.0f} MB")
        cold = cold_search(tmp_path / "data-article", "竞争对手的社群怎么研究")
        print(f"cold `python -m bot search`: {', '.join(f'{t:.2f}' for t in cold)} s "
              f"(backend {os.environ.get('EMBEDDING_BACKEND') or 'e5'})")
        if args.skip_corpus:
            return 0
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        size = generate_corpus(corpus, docs=args.docs, target_bytes=int(args.mb * 1024 * 1024))
        c = run_child(corpus, tmp_path / "data-corpus", queries)
        print(f"corpus: {c['documents']:.0f} documents, {size / 1024 / 1024:.1f} MB, {c['sections']:.0f} sections, "
              f"{c['chunks']:.0f} chunks; ingest {c['wall_s']:.1f} s wall (ingest incl. model load "
              f"{c['ingest_s']:.1f} s); index build on first query {c['index_build_s']:.1f} s")
        print(f"corpus: warm query (lexical+dense) p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms, "
              f"max {c['max_ms']:.1f} ms over {c['queries']:.0f} queries; lexical only p50 {c['lexical_p50_ms']:.1f} ms, "
              f"p99 {c['lexical_p99_ms']:.1f} ms; peak RSS {c['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
