"""Group-session benchmark: simultaneous votes, and how many counted messages a whole team session costs.

    python -m bench.group_bench [--members 5 50 200]

1. N members press at the same moment on one question (real SQLite database, GroupService): wall time until all
   are counted, per-vote latency p50/p99, and a check that exactly N votes were stored.
2. A 20-question session with 5 members through the real dispatcher (recording Bot API session, edits coalesced
   at the default 5 s): sends + edits to the group per question — what Telegram's ~20 messages/minute limit counts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def votes_at_once(members: int, tmp: Path, rubric: object) -> None:
    """Prints the figures of N simultaneous votes."""
    from bot.db import open_db
    from bot.group.service import LOBBY, GroupService
    from bot.report.team import Member

    async with open_db(tmp / f"votes{members}.sqlite") as conn:
        groups = GroupService(conn, rubric=rubric)  # type: ignore[arg-type]
        session = await groups.start(-1, Member(0, "host"))
        await groups.advance(session.id, LOBBY)
        latencies: list[float] = []

        async def press(uid: int) -> None:
            t = time.perf_counter()
            await groups.vote(session.id, 0, Member(uid, f"m{uid}"), uid % 3)
            latencies.append((time.perf_counter() - t) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(press(i) for i in range(1, members + 1)))
        wall = (time.perf_counter() - t0) * 1000
        state = await groups.question_state(session.id, 0)
        print(f"{members:4d} members at once: all counted in {wall:7.1f} ms · vote p50 {_pct(latencies, 50):6.1f} ms "
              f"p99 {_pct(latencies, 99):6.1f} ms · stored {len(state.votes)} (expected {members})")


async def session_cost(tmp: Path, rubric: object, knowledge: object) -> None:
    """Prints the counted messages of a 5-member, 20-question session."""
    from aiogram.methods import EditMessageReplyMarkup, EditMessageText, SendMessage, SendPhoto

    from bot.db import open_db
    from bot.group.service import GroupService
    from bot.interview.graph import build_graph
    from bot.interview.service import InterviewService
    from bot.services import open_checkpointer
    from bot.telegram.app import build_dispatcher
    from bot.telegram.testing import GroupClient

    async with open_db(tmp / "session.sqlite") as conn, open_checkpointer(tmp / "ck.sqlite") as cp:
        interview = InterviewService(graph=build_graph(rubric=rubric, checkpointer=cp, citer=knowledge),  # type: ignore[arg-type]
                                     rubric=rubric, section_title=knowledge.section_title)  # type: ignore[attr-defined, arg-type]
        groups = GroupService(conn, rubric=rubric, citer=knowledge)  # type: ignore[arg-type]
        dp = build_dispatcher(group_edit_interval=5.0, interview=interview, knowledge=knowledge, groups=groups)
        team = GroupClient(dp, -100777, members={i: f"成员{i}" for i in range(1, 6)})
        users = team.members
        await team.command(users[0], "/diagnose")
        lobby = team.keyboard_messages()[0]
        for u in users[1:]:
            await team.press(u, "加入", message=lobby)
        await team.press(users[0], "开始答题", message=lobby)
        for n in range(len(rubric.questions)):  # type: ignore[attr-defined]
            message = team.keyboard_messages()[-1]
            options = team.vote_options(message)
            for i, u in enumerate(users):
                await team.press(u, data=options[(i + n) % len(options)], message=message)
        await dp["group_view"].tallies.drain()
        counted = [r for r in team.session.requests
                   if isinstance(r.method, (SendMessage, SendPhoto, EditMessageText, EditMessageReplyMarkup))]
        sends = sum(isinstance(r.method, (SendMessage, SendPhoto)) for r in counted)
        edits = len(counted) - sends
        print(f"20-question session, 5 members: {len(counted)} counted calls ({sends} sends, {edits} edits) = "
              f"{len(counted) / 20:.2f} per question; at Telegram's 20/min a question may close every "
              f"{60 * len(counted) / 20 / 20:.1f} s without waiting")


async def main_async(members: list[int]) -> None:
    """Prints every figure."""
    from bench.retrieval_eval import build_kb
    from bot.interview.rubric import load_rubric

    rubric = load_rubric(ROOT / "knowledge" / "rubric.yaml")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for n in members:
            await votes_at_once(n, tmp, rubric)
        kb = build_kb(tmp / "kb")
        await session_cost(tmp, rubric, kb)


def main() -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, nargs="+", default=[5, 50, 200])
    asyncio.run(main_async(parser.parse_args().members))


if __name__ == "__main__":
    main()
