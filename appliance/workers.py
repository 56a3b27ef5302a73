"""Bounded thread pools, one per kind of blocking work (store writes, rendering, file reads).

asyncio's default executor is one small pool shared by every part: a boot storm's renders or
a discovery sweep would queue the registrar's binding writes and the events tail behind them.
Each part runs its blocking calls on ``Workers`` of its own instead, sized for its work.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Workers:
    """``size`` threads named ``name``; ``await run(fn, ...)`` calls ``fn`` on one of them."""

    def __init__(self, name: str, size: int = 1) -> None:
        self.name = name
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=name)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """The result of ``fn(*args, **kwargs)`` computed on this pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Finish the calls under way, drop the queued ones; the threads then exit."""
        self._pool.shutdown(wait=False, cancel_futures=True)
