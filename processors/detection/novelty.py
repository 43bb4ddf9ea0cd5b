"""Range novelty of a metric: how rare is a value outside everything the series has shown so far?

A metric's anomaly (a machine overheating, a latency storm, a CPU pegged) is very often a value the series
has never reached. Under exchangeability the chance that the newest of n + 1 values is the highest (or the
lowest) is 1 / (n + 1), so a new record has the calibrated surprise ``log10(n + 1)`` — comparable across
series whatever their scale or noise — and every range-width beyond the old record adds ``BEYOND`` decades
(a value far outside is rarer than one that just edges past). This is contextOSE's lesson (a context never
seen is the anomaly) with the rank probability in place of its context counts.

After a report, a series is in its ``refractory`` period: the same excursion keeps making records for a
while, and each would be a fresh false alarm once the labelled window (or the operator's attention) has it.
ARTime and contextOSE suppress the same way after a detection.

State: four numbers. O(1) per window.
"""

from __future__ import annotations

import math

BEYOND = 10.0  # decades of surprise per range-width beyond the old record


class RangeNovelty:
    """Running min/max of a metric and the surprise (−log10 p) of a value outside them."""

    __slots__ = ("warmup", "refractory", "n", "lo", "hi", "last")

    def __init__(self, warmup: int, refractory: int, state: list | None = None) -> None:
        self.warmup, self.refractory = warmup, refractory
        n, lo, hi, last = state or (0, 0.0, 0.0, -(10**9))
        self.n: int = n
        self.lo: float = lo
        self.hi: float = hi
        self.last: int = last

    def surprise(self, value: float) -> float:
        """−log10 p of ``value`` being outside the range seen so far; 0 inside it and while young (a range
        of a few values says nothing)."""
        if self.n < self.warmup:
            return 0.0
        width = max(self.hi - self.lo, 1e-9 * max(abs(self.hi), 1.0))
        beyond = max(value - self.hi, self.lo - value, 0.0) / width
        return math.log10(self.n + 1) + BEYOND * beyond if beyond > 0 else 0.0

    def in_refractory(self) -> bool:
        return self.n - self.last <= self.refractory

    def reported(self) -> None:
        self.last = self.n

    def learn(self, value: float) -> None:
        if self.n == 0:
            self.lo = self.hi = value
        self.lo, self.hi = min(self.lo, value), max(self.hi, value)
        self.n += 1

    def to_state(self) -> list:
        return [self.n, self.lo, self.hi, self.last]
