"""Sliding-window rate limits: at most N messages in any ``per`` seconds (DingTalk counts per minute and
throttles a robot for 10 minutes beyond 20, so a token bucket's extra burst is not good enough)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(self, limits: list[tuple[int, float]], clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = [(n, per) for n, per in limits if n > 0 and per > 0]
        self.clock = clock
        self.sent: deque[float] = deque()
        self.horizon = max((per for _, per in self.limits), default=0.0)

    def wait_time(self) -> float:
        """Seconds until one more message may go (0 = now)."""
        now = self.clock()
        while self.sent and now - self.sent[0] >= self.horizon:
            self.sent.popleft()
        wait = 0.0
        for n, per in self.limits:
            in_window = [t for t in self.sent if now - t < per]
            if len(in_window) >= n:
                wait = max(wait, in_window[-n] + per - now)
        return wait

    async def acquire(self) -> None:
        while (wait := self.wait_time()) > 0:
            await asyncio.sleep(wait)
        self.sent.append(self.clock())
