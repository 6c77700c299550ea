"""Flood control of the fake Bot API server (429 ``Too Many Requests: retry after N``).

Three limits, each configurable, all measured on an injectable clock (``time.monotonic`` by
default; tests may pass a fake clock to make retry values deterministic):

* per private chat: a token bucket, ``private_rate`` messages per second sustained with
  ``private_burst`` messages allowed in a burst;
* per group/supergroup: at most ``group_limit`` messages in any ``group_window`` seconds;
* global: at most ``global_limit`` messages in any ``global_window`` seconds.

Sending methods (``sendMessage``, ``sendDocument``, ``sendPhoto`` ...) always count; edits
(``editMessageText``, ``editMessageReplyMarkup``, ``editMessageCaption``) count when
``count_edits`` is true (the default, as Telegram does in practice).

:meth:`FloodControl.force_429` makes the next *count* counted calls fail whatever the limits
say, which is how "429 storm" tests are written.  Forced failures apply even when the automatic
limits are disabled.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["FloodControl", "FloodLimits", "EDIT_METHODS", "SEND_METHODS"]

SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "copyMessage",
        "forwardMessage",
    }
)
EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption"})


@dataclass
class FloodLimits:
    """Numbers of the automatic flood limits (defaults close to Telegram's)."""

    private_rate: float = 1.0
    private_burst: int = 5
    group_limit: int = 20
    group_window: float = 60.0
    global_limit: int = 30
    global_window: float = 1.0


@dataclass
class _Forced:
    remaining: int
    retry_after: int
    chat_id: int | None
    methods: frozenset[str] | None


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class FloodControl:
    """Decides whether a counted call is allowed; see the module docstring."""

    clock: Callable[[], float] = time.monotonic
    enabled: bool = True
    limits: FloodLimits = field(default_factory=FloodLimits)
    count_edits: bool = True
    rejected: int = 0
    _forced: list[_Forced] = field(default_factory=list)
    _buckets: dict[int, _Bucket] = field(default_factory=dict)
    _groups: dict[int, deque[float]] = field(default_factory=dict)
    _global: deque[float] = field(default_factory=deque)

    # ------------------------------------------------------------------ knobs
    def configure(
        self,
        *,
        enabled: bool | None = None,
        private_rate: float | None = None,
        private_burst: int | None = None,
        group_limit: int | None = None,
        group_window: float | None = None,
        global_limit: int | None = None,
        global_window: float | None = None,
        count_edits: bool | None = None,
    ) -> None:
        """Change any subset of the limits (state already accumulated is kept)."""
        if enabled is not None:
            self.enabled = enabled
        if count_edits is not None:
            self.count_edits = count_edits
        for name, value in (
            ("private_rate", private_rate),
            ("private_burst", private_burst),
            ("group_limit", group_limit),
            ("group_window", group_window),
            ("global_limit", global_limit),
            ("global_window", global_window),
        ):
            if value is not None:
                setattr(self.limits, name, value)

    def force_429(
        self,
        count: int,
        retry_after: int = 1,
        *,
        chat_id: int | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Make the next ``count`` counted calls (optionally only to ``chat_id`` / only these
        ``methods``) fail with 429 and ``retry_after``."""
        if count <= 0:
            return
        self._forced.append(_Forced(count, max(1, int(retry_after)), chat_id, frozenset(methods) if methods else None))

    @property
    def forced_remaining(self) -> int:
        """How many forced 429 answers are still pending."""
        return sum(f.remaining for f in self._forced)

    def reset(self) -> None:
        """Forget all history and pending forced failures."""
        self._forced.clear()
        self._buckets.clear()
        self._groups.clear()
        self._global.clear()
        self.rejected = 0

    def counts(self, method: str) -> bool:
        """Whether ``method`` is subject to flood control."""
        return method in SEND_METHODS or (self.count_edits and method in EDIT_METHODS)

    # ------------------------------------------------------------------ decision
    def check(self, method: str, chat_id: int, chat_type: str) -> int | None:
        """Return ``retry_after`` seconds if the call must fail, else record it and return None."""
        if not self.counts(method):
            return None
        for forced in self._forced:
            if forced.chat_id is not None and forced.chat_id != chat_id:
                continue
            if forced.methods is not None and method not in forced.methods:
                continue
            forced.remaining -= 1
            if forced.remaining <= 0:
                self._forced.remove(forced)
            self.rejected += 1
            return forced.retry_after
        if not self.enabled:
            return None

        now = self.clock()
        lim = self.limits
        waits: list[float] = []

        glob = self._global
        while glob and glob[0] <= now - lim.global_window:
            glob.popleft()
        if len(glob) >= lim.global_limit:
            waits.append(glob[0] + lim.global_window - now)

        bucket: _Bucket | None = None
        window: deque[float] | None = None
        if chat_type == "private":
            bucket = self._buckets.get(chat_id)
            if bucket is None:
                bucket = self._buckets[chat_id] = _Bucket(float(lim.private_burst), now)
            bucket.tokens = min(float(lim.private_burst), bucket.tokens + (now - bucket.stamp) * lim.private_rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                waits.append((1.0 - bucket.tokens) / lim.private_rate)
        else:
            window = self._groups.setdefault(chat_id, deque())
            while window and window[0] <= now - lim.group_window:
                window.popleft()
            if len(window) >= lim.group_limit:
                waits.append(window[0] + lim.group_window - now)

        if waits:
            self.rejected += 1
            return max(1, math.ceil(max(waits) - 1e-9))

        glob.append(now)
        if bucket is not None:
            bucket.tokens -= 1.0
        if window is not None:
            window.append(now)
        return None
