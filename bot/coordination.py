"""What several bot instances must share, behind one seam: a group's message window, per-session and per-thread
locks, the ingest lock, the scheduler's leader lease and "seen once" marks (repeated webhook deliveries).

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
from typing import Any, Protocol

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

    async def first_time(self, key: str, ttl: float) -> bool:
        """Marks `key` for `ttl` seconds; False when it was marked already."""
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
        self._marks: dict[str, float] = {}
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

    async def first_time(self, key: str, ttl: float) -> bool:
        """Marks the key in this process."""
        now = time.monotonic()
        if self._marks.get(key, 0.0) > now:
            return False
        if len(self._marks) > 100_000:
            self._marks = {k: v for k, v in self._marks.items() if v > now}
        self._marks[key] = now + ttl
        return True

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

    async def first_time(self, key: str, ttl: float) -> bool:
        """SET NX with a time to live."""
        return bool(await self.redis.set(f"{self.prefix}seen:{key}", "1", nx=True, ex=max(1, int(ttl))))

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
    """The repeated-delivery check of the webhook (like `bot.db.SeenUpdates`) on a coordinator."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    async def first_time(self, update_id: int) -> bool:
        """False when another delivery of this update was handled already (by any instance)."""
        from bot.db import SeenUpdates  # the owner of how long a delivery can be repeated

        return await self.coordinator.first_time(f"update:{update_id}", SeenUpdates.KEEP_SECONDS)
