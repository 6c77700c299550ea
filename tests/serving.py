"""What the in-repo test servers (tests/botapi, tests/llmapi) share: `async with Server(...) as server:`."""

from __future__ import annotations

from typing import Any, Self


class Serving:
    """An async context manager over `start()` (returning the server) and `stop()`."""

    async def start(self) -> Self:
        """Binds and serves."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stops serving."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
