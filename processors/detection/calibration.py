"""Tail calibration of a raw surprise: how rare is this window's z for *this* series?

The detector's z assumes its noise model fits. Real series have heavier tails (bursts, news cycles, misfit of
the rhythm), so one z threshold gives one series an alert a day and another none. ``TailCalibration`` learns
the upper tail of the series' own z by peaks over threshold (POT): ``u`` tracks the (1 − ``TAIL``) quantile of z
by stochastic approximation, and the excesses over ``u`` are fitted by a generalized Pareto distribution
(method of moments on decayed sums, shape ξ clamped to [0, 0.5]: a tail is never taken to end, so a fit on a calm stretch cannot make a modest z look impossible). The tail probability of a z is then

    p(z) = TAIL · (1 + ξ (z − u) / σ) ^ (−1/ξ)      (z > u; an exponential tail when ξ = 0)

and below ``u`` the same curve continued (capped at 1), so p is continuous and decreasing in z. This is the
idea of HTM's anomaly likelihood (the tail probability of the recent score against its long-run distribution),
with the Gaussian replaced by a fitted extreme-value tail, which is what a threshold far out in the tail needs.

The prior is the tail of a standard normal z (u = 1.645, exponential excesses of mean 0.42) worth ``PRIOR``
exceedances, so a young series is scored as the noise model says and the fit takes over as data arrives.
State: four floats. O(1) per window.
"""

from __future__ import annotations

import math

TAIL = 0.05  # the share of windows above the POT threshold u
PRIOR = 30.0  # exceedances the prior is worth (about 600 windows)
SHAPE_EVIDENCE = 150.0  # exceedances before a fitted shape ξ counts in full
_LOG_TAIL, _LN10 = -math.log10(TAIL), math.log(10.0)
_U0, _M0 = 1.645, 0.32  # N(0, 1)'s 95 % quantile; an exponential excess scale with its P(z ≥ 4)


class TailCalibration:
    """Decayed POT fit of one series' z. ``surprise(z)`` is −log10 of the probability of a z at least this high."""

    __slots__ = ("u", "n", "m1", "m2", "keep", "step", "_params")

    def __init__(self, halflife: float, state: list | None = None) -> None:
        self.keep = 0.5 ** (1.0 / max(halflife * TAIL, 1.0))  # decay per exceedance
        self.step = 1.0 / max(halflife, 1.0) ** 0.5
        if state:
            self.u, self.n, self.m1, self.m2 = state
        else:
            self.u, self.n, self.m1, self.m2 = _U0, PRIOR, _M0 * PRIOR, 2 * _M0 * _M0 * PRIOR
        self._params: tuple[float, float] | None = None

    def params(self) -> tuple[float, float]:
        """(σ, ξ) of the generalized Pareto fit of the excesses. ξ is shrunk to 0 (the exponential tail) until
        about ``SHAPE_EVIDENCE`` exceedances back it: a moment estimate of the shape from a handful of
        excesses swings far enough to hide the next crisis."""
        if self._params is not None:
            return self._params
        mean = self.m1 / self.n
        var = max(self.m2 / self.n - mean * mean, 1e-9)
        weight = max(0.0, 1.0 - PRIOR / self.n) if self.n > PRIOR else 0.0
        xi = min(max(0.5 * (1.0 - mean * mean / var), 0.0), 0.5) * weight * min(1.0, self.n / SHAPE_EVIDENCE)
        self._params = max(mean * (1.0 - xi), 1e-3), xi
        return self._params

    def surprise(self, z: float) -> float:
        """−log10 p(z): how rare a z at least this high is for this series (in log space: no underflow)."""
        sigma, xi = self.params()
        x = (z - self.u) / sigma
        if xi < 1e-6:
            return max(0.0, _LOG_TAIL + x / _LN10)
        base = 1.0 + xi * x
        return max(0.0, _LOG_TAIL + math.log10(base) / xi) if base > 0.0 else 0.0

    def z_of(self, surprise: float) -> float:
        """The z of a given −log10 p (the inverse of ``surprise``)."""
        sigma, xi = self.params()
        x = (surprise - _LOG_TAIL) * _LN10  # −ln(p / TAIL)
        if xi < 1e-6:
            return self.u + sigma * x
        return self.u + sigma / xi * math.expm1(xi * x)

    def learn(self, z: float, cap_surprise: float) -> None:
        """Learn a window's z, censored at the z of ``cap_surprise`` (the alert line): how often the series comes
        near it shapes the tail, but one huge spike cannot make every later one look ordinary."""
        sigma, _ = self.params()
        z = min(z, self.z_of(cap_surprise))
        self._params = None
        above = z > self.u
        # the quantile moves in steps of the tail's own scale, so it settles on any series' spread
        self.u += self.step * sigma * ((1.0 - TAIL) if above else -TAIL)
        if above:
            # and each excess at most 3 σ: a run of high windows widens the tail step by step, not at once
            e = min(z - self.u, 3.0 * sigma)
            k = self.keep
            self.n = self.n * k + 1.0
            self.m1 = self.m1 * k + e
            self.m2 = self.m2 * k + e * e

    def to_state(self) -> list:
        return [self.u, self.n, self.m1, self.m2]


def score_of(surprise: float, open_surprise: float) -> float:
    """anomaly_score in [0, 1) from −log10 p: S / (S + S_open), so the opening rarity of a crisis is 0.5 on
    every series (one threshold for all), rarer is higher without saturating (the order of two windows that
    are both far beyond the line is kept), and p = 1 is 0."""
    return surprise / (surprise + open_surprise) if surprise > 0.0 else 0.0
