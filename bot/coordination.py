"""What several bot instances must share, behind one seam: a group's message window, per-session and per-thread
locks, the ingest lock, the scheduler's leader lease and the claims of webhook deliveries (an update is handled once;
one whose instance died is handled when Telegram delivers it again).

* `LocalCoordinator` keeps them in this process (the embedded mode: one process);
* `RedisCoordinator` keeps them in Redis (`REDIS_URL`), so every instance sees the same window, lock and marks.
  Times come from the Redis server's clock, so instances whose clocks differ still share one window. Redis holds no
  user data: keys name a chat (the window), a session (the lock) or an update id, and expire by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

LOCK_TTL_MS = 30_000  # a lock whose holder died frees itself after this
LOCK_POLL = 0.005  # seconds between attempts to take a busy lock

# KEYS[1] window; ARGV: window seconds, limit, slot id. Returns 0 when the slot was taken, else seconds to wait.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""
# KEYS[1] window; ARGV[1] slot id: the slot counts from now (Telegram counts a call when it arrives).
_RESTAMP = """
local t = redis.call('TIME')
return redis.call('ZADD', KEYS[1], 'XX', tonumber(t[1]) + tonumber(t[2]) / 1000000, ARGV[1])
"""
# KEYS[1] the lease; ARGV: owner, ttl ms. Returns 1 when `owner` holds it (taken now or renewed), else 0.
_LEAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1] the mark; ARGV: the claim's value ('claim:<owner>'), lease ms. Returns {0, 0} when claimed now, {1, 0} when
# done (any other value: a mark of an earlier version is a done one too), {2, ms left} while another claim holds it.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0, 0} end
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, 6) == 'claim:' then return {2, redis.call('PTTL', KEYS[1])} end
return {1, 0}
"""

ClaimStatus = Literal["claimed", "done", "busy"]


@dataclass(frozen=True)
class Claim:
    """One delivery's claim on a key (a webhook update): `claimed` — this delivery handles it, as `owner`, until
    its lease ends; `done` — handled before, drop the delivery; `busy` — another delivery is handling it, for
    `retry_after` more seconds at most (then its claim lapses: its instance died)."""

    key: str
    status: ClaimStatus
    owner: str = ""
    retry_after: float = 0.0


class Coordinator(Protocol):
    """Shared windows, locks and marks."""

    async def take_slot(self, key: str, limit: int, window: float) -> tuple[float, str]:
        """Takes a slot in the window `key` (at most `limit` per `window` seconds): (0, slot id) when taken, else
        (seconds to wait, "")."""
        ...

    async def restamp(self, key: str, slot: str) -> None:
        """Moves a taken slot to now (the call it paced has just been made)."""
        ...

    def lock(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        """An exclusive lock, across instances when shared."""
        ...

    def try_lock(self, name: str, ttl: float) -> contextlib.AbstractAsyncContextManager[bool]:
        """Takes the lock `name` if it is free (True inside), else does not wait (False inside); a holder that died
        frees it after `ttl` seconds."""
        ...

    async def lead(self, role: str, owner: str, ttl: float) -> bool:
        """Takes or renews the lease of `role` for `owner` (`ttl` seconds); False while another owner holds it."""
        ...

    async def claim(self, key: str, lease: float) -> Claim:
        """Claims `key` for `lease` seconds, unless another claim holds it or it was settled."""
        ...

    async def settle(self, claim: Claim, ttl: float) -> None:
        """Marks the claimed key done for `ttl` seconds: later claims of it are `done`."""
        ...

    async def release(self, claim: Claim) -> None:
        """Drops the claim while it is still this one (not settled, not taken over): the next claim takes the key."""
        ...

    async def swap(self, key: str, value: str, ttl: float) -> str | None:
        """Sets `key` to `value` for `ttl` seconds and returns the value it had (None: none), atomically."""
        ...

    async def ping(self) -> None:
        """Raises when the shared store does not answer."""
        ...

    async def close(self) -> None:
        """Releases connections."""
        ...


class LocalCoordinator:
    """The embedded mode: everything in this process."""

    def __init__(self) -> None:
        self._windows: dict[str, deque[list[float | str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._claims: dict[str, tuple[str | None, float]] = {}  # key: (owner, or None once settled; until)
        self._values: dict[str, tuple[str, float]] = {}

    async def take_slot(self, key: str, limit: int, window: float) -> tuple[float, str]:
        """Takes a slot of the in-process window."""
        now = time.monotonic()
        sent = self._windows.setdefault(key, deque())
        while sent and float(sent[0][0]) <= now - window:
            sent.popleft()
        if len(sent) < limit:
            slot = secrets.token_hex(6)
            sent.append([now, slot])
            return 0.0, slot
        return float(sent[0][0]) + window - now, ""

    async def restamp(self, key: str, slot: str) -> None:
        """Moves the slot to now."""
        for entry in self._windows.get(key, ()):
            if entry[1] == slot:
                entry[0] = time.monotonic()

    def lock(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        """An asyncio lock of this process."""
        return self._locks.setdefault(name, asyncio.Lock())  # type: ignore[return-value]

    @contextlib.asynccontextmanager
    async def try_lock(self, name: str, ttl: float) -> AsyncIterator[bool]:
        """The asyncio lock of this process, if free."""
        lock = self._locks.setdefault(name, asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def lead(self, role: str, owner: str, ttl: float) -> bool:
        """One process: it always leads."""
        return True

    async def claim(self, key: str, lease: float) -> Claim:
        """Claims the key in this process."""
        now = time.monotonic()
        owner, until = self._claims.get(key, ("", 0.0))
        if until > now:
            return Claim(key, "done") if owner is None else Claim(key, "busy", retry_after=until - now)
        if len(self._claims) > 100_000:
            self._claims = {k: v for k, v in self._claims.items() if v[1] > now}
        claim = Claim(key, "claimed", owner=secrets.token_hex(8))
        self._claims[key] = (claim.owner, now + lease)
        return claim

    async def settle(self, claim: Claim, ttl: float) -> None:
        """Marks the key done in this process."""
        self._claims[claim.key] = (None, time.monotonic() + ttl)

    async def release(self, claim: Claim) -> None:
        """Drops the claim if it is still this one."""
        if self._claims.get(claim.key, (None, 0.0))[0] == claim.owner:
            del self._claims[claim.key]

    async def swap(self, key: str, value: str, ttl: float) -> str | None:
        """Swaps the value in this process."""
        now = time.monotonic()
        old = self._values.get(key)
        if len(self._values) > 100_000:
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
        self._values[key] = (value, now + ttl)
        return old[0] if old is not None and old[1] > now else None

    async def ping(self) -> None:
        """Always answers."""

    async def close(self) -> None:
        """Nothing to release."""


class RedisCoordinator:
    """Everything in Redis, shared by every instance using the same `REDIS_URL`."""

    def __init__(self, client: Any, *, prefix: str = "siyu:") -> None:
        self.redis = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE_SLOT)
        self._restamp = client.register_script(_RESTAMP)
        self._release = client.register_script(_RELEASE)
        self._lead = client.register_script(_LEAD)
        self._claim = client.register_script(_CLAIM)

    @classmethod
    def from_url(cls, url: str) -> RedisCoordinator:
        """A coordinator on the Redis of `url` (redis://host:port/db)."""
        import redis.asyncio as aioredis

        return cls(aioredis.from_url(url, decode_responses=True))

    async def take_slot(self, key: str, limit: int, window: float) -> tuple[float, str]:
        """Takes a slot of the shared window (atomically, on the server's clock)."""
        slot = secrets.token_hex(6)
        wait = float(await self._take(keys=[self.prefix + key], args=[window, limit, slot]))
        return (0.0, slot) if wait <= 0 else (wait, "")

    async def restamp(self, key: str, slot: str) -> None:
        """Moves the slot to the server's now."""
        await self._restamp(keys=[self.prefix + key], args=[slot])

    @contextlib.asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[None]:
        key, token = f"{self.prefix}lock:{name}", secrets.token_hex(8)
        while not await self.redis.set(key, token, nx=True, px=LOCK_TTL_MS):
            await asyncio.sleep(LOCK_POLL)
        try:
            yield
        finally:
            await self._release(keys=[key], args=[token])

    def lock(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        """A lock every instance respects (SET NX with a time to live; released only by its holder)."""
        return self._locked(name)

    @contextlib.asynccontextmanager
    async def try_lock(self, name: str, ttl: float) -> AsyncIterator[bool]:
        """SET NX once; released only by its holder."""
        key, token = f"{self.prefix}lock:{name}", secrets.token_hex(8)
        taken = bool(await self.redis.set(key, token, nx=True, px=max(1, int(ttl * 1000))))
        try:
            yield taken
        finally:
            if taken:
                await self._release(keys=[key], args=[token])

    async def lead(self, role: str, owner: str, ttl: float) -> bool:
        """Takes or renews the lease atomically (a Lua script)."""
        return bool(await self._lead(keys=[f"{self.prefix}lead:{role}"], args=[owner, max(1, int(ttl * 1000))]))

    async def claim(self, key: str, lease: float) -> Claim:
        """SET NX with the lease as time to live, or what holds the key (a Lua script: atomic)."""
        owner = secrets.token_hex(8)
        state, left_ms = await self._claim(keys=[f"{self.prefix}seen:{key}"],
                                           args=[f"claim:{owner}", max(1, int(lease * 1000))])
        if int(state) == 0:
            return Claim(key, "claimed", owner=owner)
        if int(state) == 1:
            return Claim(key, "done")
        return Claim(key, "busy", retry_after=max(int(left_ms), 0) / 1000)

    async def settle(self, claim: Claim, ttl: float) -> None:
        """SET with a time to live (whoever held the key: it was handled)."""
        await self.redis.set(f"{self.prefix}seen:{claim.key}", "done", ex=max(1, int(ttl)))

    async def release(self, claim: Claim) -> None:
        """DEL while the value is still this claim (a Lua script)."""
        await self._release(keys=[f"{self.prefix}seen:{claim.key}"], args=[f"claim:{claim.owner}"])

    async def swap(self, key: str, value: str, ttl: float) -> str | None:
        """SET … GET with a time to live."""
        old = await self.redis.set(f"{self.prefix}value:{key}", value, ex=max(1, int(ttl)), get=True)
        return None if old is None else str(old)

    async def ping(self) -> None:
        """PING."""
        await self.redis.ping()

    async def close(self) -> None:
        """Closes the connection pool."""
        await self.redis.aclose()


class SharedSeenUpdates:
    """The webhook's delivery claims (like `bot.db.SeenUpdates`, whose rules they follow) on a coordinator: in Redis
    with REDIS_URL, so a claim and a done mark are every instance's."""

    def __init__(self, coordinator: Coordinator, *, lease: float | None = None) -> None:
        from bot.db import SeenUpdates  # the owner of how long a claim lasts and a delivery can be repeated

        self.coordinator = coordinator
        self.lease = SeenUpdates.LEASE_SECONDS if lease is None else lease
        self.keep = SeenUpdates.KEEP_SECONDS

    async def claim(self, update_id: int) -> Claim:
        """Claims the update for this delivery (`claimed`), or tells it was handled (`done`) or is being handled
        (`busy`) by another delivery, on any instance."""
        return await self.coordinator.claim(f"update:{update_id}", self.lease)

    async def done(self, claim: Claim) -> None:
        """Marks the update handled: later deliveries of it are dropped."""
        await self.coordinator.settle(claim, self.keep)

    async def release(self, claim: Claim) -> None:
        """Gives the claim up (its handling was interrupted in a live process): the next delivery handles it."""
        await self.coordinator.release(claim)
