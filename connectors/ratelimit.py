"""``--rate``: a token bucket shared by every connector (pull sources sleep; the HTTP push answers 429)."""

from __future__ import annotations

import time


class RateLimiter:
    """Token bucket: at most ``rate`` posts per second on average, bursts up to one second's worth (None:
    unlimited)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate if rate and rate > 0 else None
        self._allowance = self.rate or 0.0
        self._last = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        assert self.rate is not None
        self._allowance = min(self.rate, self._allowance + (now - self._last) * self.rate)
        self._last = now

    def acquire(self) -> None:
        """Take one token, sleeping until there is one."""
        if self.rate is None:
            return
        self._refill()
        if self._allowance < 1.0:
            time.sleep((1.0 - self._allowance) / self.rate)
            self._allowance = 0.0
            self._last = time.monotonic()
        else:
            self._allowance -= 1.0

    def reserve(self, n: int) -> float:
        """Take ``n`` tokens without waiting and return 0, or take none and return the seconds until a caller
        may try again. A batch larger than the bucket is let through once it is full (its debt is paid by the
        next callers' waits), so the average rate holds and no batch size is refused forever."""
        if self.rate is None or n <= 0:
            return 0.0
        self._refill()
        if self._allowance < min(float(n), self.rate):
            return (min(float(n), self.rate) - self._allowance) / self.rate
        self._allowance -= n
        return 0.0
