"""Builds the guidance knowledge base: a thin CLI over `bot.knowledge`.

    python ingest.py                  # rebuild from knowledge/ plus the documents admins uploaded (DATA_DIR/uploads)
    python ingest.py --source DIR     # ingest the guidance files in DIR instead
    python ingest.py --dry-run        # print what would change, write nothing
    python ingest.py --status         # list the kept versions and which one is active
    python ingest.py --rollback       # make the previous version active again

Each ingest validates every file, builds a new version beside the active one and switches to it atomically; the
same content creates no version. Bad input (not UTF-8, empty, no headings, over 2 MB, duplicate section ids, a
section the rubric cites missing) exits with code 2 and one line naming the file and the reason; the active version
is untouched. Settings come from the environment (DATA_DIR, KNOWLEDGE_DIR, EMBEDDING_MODEL, CHROMA_URL).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.errors import BotError, GuidanceError
from bot.knowledge.ingest import LOCK_FILE, Ingestor, IngestResult, collect_sources
from bot.knowledge.store import VersionInfo, VersionStore

EXIT_BAD_INPUT = 2
_PROGRESS_DELAY = 1.0  # seconds of embedding before a progress bar is worth showing


def cited_sections(rubric: Path) -> set[str]:
    """Section ids the rubric cites; an invalid rubric is refused like a bad document (RubricError)."""
    from bot.interview.rubric import load_rubric

    return set(load_rubric(rubric).cited_sections())


def _progress() -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback that shows a tqdm bar on stderr once embedding has taken more than a moment."""
    from tqdm import tqdm

    state: dict[str, Any] = {"bar": None, "start": time.monotonic()}

    def update(done: int, total: int) -> None:
        bar = state["bar"]
        if bar is None:
            if time.monotonic() - state["start"] < _PROGRESS_DELAY or done >= total:
                return
            bar = state["bar"] = tqdm(total=total, desc="embedding", unit="chunk", file=sys.stderr, leave=False)
        bar.update(done - bar.n)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _counts(result: IngestResult) -> str:
    return (f"{_plural(result.documents, 'document')}, {_plural(result.sections, 'section')}, "
            f"{_plural(result.chunks, 'chunk')}")


def print_status(versions: Sequence[VersionInfo]) -> None:
    """Prints the kept versions, newest first, the active one marked with *."""
    if not versions:
        print("no versions yet — run `python ingest.py`")
        return
    print(f"  {'version':<8} {'created (UTC)':<26} {'docs':>4} {'sections':>8} {'chunks':>6}  {'content':<16}  by"
          f"  (model)")
    for v in versions:
        mark = "*" if v.active else " "
        print(f"{mark} {v.id:<8} {v.created_at:<26} {len(v.documents):>4} {v.sections:>8} {v.chunks:>6}  "
              f"{v.content_hash:<16}  {v.created_by}  ({v.embedding_model or 'model not recorded'})")
    print("* active")


def run(args: argparse.Namespace, settings: Settings, store: VersionStore) -> int:
    """Carries out one command against the store; returns the exit code."""
    ingestor = Ingestor(store, lock_path=settings.data_dir / LOCK_FILE)
    mismatch = store.model_mismatch()
    if mismatch:
        print(f"note: {mismatch}", file=sys.stderr)
    if args.status:
        print_status(store.versions())
        return 0
    if args.rollback:
        before = store.active_id()
        target = ingestor.rollback(created_by="cli")
        print(f"rolled back: {target.id} is active (was {before})")
        return 0
    folders = [args.source] if args.source else [settings.knowledge_dir, settings.uploads_dir]
    if args.source and not args.source.is_dir():
        raise GuidanceError("not a folder", path=str(args.source))
    sources = collect_sources(*folders)
    if not sources:
        raise GuidanceError("no guidance documents (.md, .markdown, .txt) found",
                            path=", ".join(str(f) for f in folders))
    rubric = args.rubric or settings.rubric_path
    required = cited_sections(rubric) if rubric.exists() else set()
    before = store.active_id()
    update, close = _progress()
    try:
        result = ingestor.ingest(sources, created_by="cli", dry_run=args.dry_run, required_sections=required,
                                 progress=update)
    finally:
        close()
    if result.status == "unchanged":
        print(f"no changes — {before} stays active ({_counts(result)})")
        return 0
    if result.status == "dry-run":
        print(f"dry run: would replace {before or 'nothing'} with a new version ({_counts(result)}); nothing written")
    else:
        assert result.version is not None
        print(f"{result.version.id} is active ({_counts(result)}; was {before or 'empty'})")
    for line in result.diff.lines():
        print(f"  {line}")
    if result.pruned:
        print(f"  removed old versions: {', '.join(result.pruned)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python ingest.py", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--status", action="store_true", help="list versions and which one is active")
    group.add_argument("--rollback", action="store_true", help="make the previous version active")
    group.add_argument("--dry-run", action="store_true", help="print what would change, write nothing")
    parser.add_argument("--source", type=Path, help="ingest the guidance files in this folder instead")
    parser.add_argument("--rubric", type=Path, help="rubric whose cited sections must exist (default: "
                                                    "KNOWLEDGE_DIR/rubric.yaml when present)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line, runs it, and turns refusals into exit code 2 with one line on stderr."""
    args = _parser().parse_args(argv)
    settings = load_settings()
    if settings is None:
        return EXIT_BAD_INPUT
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        from bot.services import build_store

        return run(args, settings, build_store(settings))
    except BotError as e:
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
