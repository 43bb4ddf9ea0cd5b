"""Robust streaming baselines, O(1) memory: what a brand's window normally holds.

``CountBaseline`` expects ``level × hour-of-day factor × day-of-week factor`` mentions and a noise scale:
- level: exponentially weighted mean of the deseasonalised count (a running mean while young, so a short
  warm-up already gives a usable level) with a damped trend (Holt), so the daily ramp is followed before
  the rhythm is learned;
- the rhythm: 24 hour-of-day factors (sub-daily windows only, interpolated between hour centres so minute
  windows do not see steps) and 7 day-of-week factors (windows up to a day), normalised to mean 1;
- noise: residuals on the variance-stabilised scale 2·√(y+3/8), where Poisson noise is ~N(0,1); real mention
  counts are overdispersed (news cycles, a negative-binomial like mix), so ``Dispersion`` learns
  var ≈ 1 + c·μ on that scale (a conservative prior while young).
Robustness: every observation is clipped to expected ± ``clip_sigma`` sigmas before the baseline learns from it
(a spike barely moves it, a slow growth still does), and a zero where ``outage_min_expected`` were expected is
an outage: skipped, not learned.

``ShareBaseline`` is the usual negative share: decayed sums with a Beta prior, learning from clipped counts.
"""

from __future__ import annotations

import math

DAY = 86400
WEEK = 7 * DAY


def sqrt_residual(observed: float, expected: float) -> float:
    """Anscombe residual: ~N(0, 1) for Poisson counts, whatever the mean."""
    return 2.0 * (math.sqrt(observed + 0.375) - math.sqrt(max(expected, 0.0) + 0.375))


def decay_rate(halflife: float) -> float:
    """EWMA weight of the newest value for a half-life in steps."""
    return 1.0 - 0.5 ** (1.0 / max(halflife, 1e-9))


class Dispersion:
    """Noise of a count on the sqrt scale: var(2√y) ≈ 1 + c·μ (Poisson plus a gamma mix, i.e. negative
    binomial), with c learned as a ratio of decayed sums of (r² − 1) and μ — robust: |r| capped at 4 sigmas.
    Starts at a conservative prior ``c`` worth 20 windows."""

    def __init__(self, halflife: float, prior_sigma: float, state: dict | None = None) -> None:
        self.rate = decay_rate(halflife)
        self.prior_c = max(prior_sigma**2 - 1.0, 0.0) / 20.0  # the prior sigma at 20 mentions per window
        state = state or {}
        self.num: float | None = state.get("num")
        self.den: float | None = state.get("den")
        self.n: float = state.get("n", 0.0)

    @property
    def c(self) -> float:
        if not self.den or self.num is None:
            return self.prior_c
        return max(self.num / self.den, 0.0)

    def sigma(self, expected: float) -> float:
        return math.sqrt(1.0 + self.c * max(expected, 0.0))

    def learn(self, residual: float, expected: float) -> None:
        mu = max(expected, 1.0)
        if self.den is None or self.num is None:
            self.den, self.num = 20.0 * mu, self.prior_c * 20.0 * mu
        capped = min(abs(residual), 4.0 * self.sigma(expected))
        keep = 1.0 - self.rate
        self.num = self.num * keep + (capped * capped - 1.0)
        self.den = self.den * keep + mu
        self.n += 1

    def to_state(self) -> dict:
        return {"num": self.num, "den": self.den, "n": self.n}


class _Season:
    """Multiplicative seasonal factors over ``slots`` positions of a cycle, linearly interpolated."""

    def __init__(
        self, slots: int, slot_seconds: int, interval: int, halflife_cycles: float, state: dict | None = None
    ) -> None:
        self.slots, self.slot_seconds = slots, slot_seconds
        self.per_slot = max(1.0, slot_seconds / interval)  # visits of a slot per cycle
        self.min_rate = decay_rate(halflife_cycles * self.per_slot)
        self.interp = interval < slot_seconds
        state = state or {}
        self.factors: list[float] = list(state.get("f") or [1.0] * slots)
        self.visits: list[float] = list(state.get("v") or [0.0] * slots)
        self._last: tuple[float, float] = (math.nan, 1.0)  # (centre, factor): a window asks several times

    def _position(self, centre: float) -> list[tuple[int, float]]:
        """(slot, weight) pairs for a window centred at ``centre`` (epoch seconds; cycles start at epoch)."""
        x = (centre % (self.slots * self.slot_seconds)) / self.slot_seconds
        if not self.interp:
            return [(int(x) % self.slots, 1.0)]
        x -= 0.5
        i0 = math.floor(x)
        w = x - i0
        return [(i0 % self.slots, 1.0 - w), ((i0 + 1) % self.slots, w)]

    def factor(self, centre: float) -> float:
        last = self._last
        if last[0] == centre:
            return last[1]
        x = (centre % (self.slots * self.slot_seconds)) / self.slot_seconds
        f = self.factors
        if not self.interp:
            value = f[int(x) % self.slots]
        else:
            x -= 0.5
            i0 = math.floor(x)
            w = x - i0
            value = f[i0 % self.slots] * (1.0 - w) + f[(i0 + 1) % self.slots] * w
        self._last = (centre, value)
        return value

    def learn(self, centre: float, ratio: float) -> None:
        for i, w in self._position(centre):
            if w <= 0:
                continue
            self.visits[i] += w
            # running mean over the first cycle (with one cycle of prior at 1.0), then an EWMA
            rate = w * max(self.min_rate, 1.0 / (self.visits[i] + self.per_slot))
            self.factors[i] += rate * (ratio - self.factors[i])
            self.factors[i] = min(max(self.factors[i], 0.05), 20.0)
        mean = sum(self.factors) / self.slots
        if mean > 0:
            inv = 1.0 / mean
            self.factors = [f * inv for f in self.factors]
        self._last = (math.nan, 1.0)

    def to_state(self) -> dict:
        return {"f": list(self.factors), "v": list(self.visits)}


class CountBaseline:
    """Expected count and noise of one series (total mentions) per window."""

    def __init__(
        self,
        interval: int,
        *,
        level_halflife: float,
        dispersion_halflife: float,
        prior_dispersion: float,
        clip_sigma: float,
        outage_min_expected: float,
        daily: bool,
        weekly: bool,
        season_halflife_cycles: float,
        state: dict | None = None,
    ) -> None:
        self.interval = interval
        self.level_rate = decay_rate(level_halflife)
        self.disp_rate = decay_rate(dispersion_halflife)
        self.prior_dispersion = prior_dispersion
        self.clip_sigma = clip_sigma
        self.outage_min_expected = outage_min_expected
        state = state or {}
        self.level: float = state.get("level", 0.0)
        self.trend: float = state.get("trend", 0.0)  # damped, per window (follows the daily ramp early on)
        self.damping = 1.0 - self.level_rate
        self.n: int = state.get("n", 0)  # windows learned from
        self.noise = Dispersion(dispersion_halflife, prior_dispersion, state.get("noise"))
        self.daily = (
            _Season(24, 3600, interval, season_halflife_cycles, state.get("hod")) if daily and interval < DAY else None
        )
        self.weekly = (
            _Season(7, DAY, interval, season_halflife_cycles, state.get("dow")) if weekly and interval <= DAY else None
        )

    def season(self, centre: float) -> float:
        f = 1.0
        if self.daily is not None:
            f *= self.daily.factor(centre)
        if self.weekly is not None:
            f *= self.weekly.factor(centre)
        return max(f, 1e-3)

    @property
    def deseasonalised(self) -> float:
        """The level expected for the next window (level + damped trend)."""
        return max(self.level + self.damping * self.trend, 0.02 * self.level, 0.0)

    def expected(self, centre: float) -> float:
        return self.deseasonalised * self.season(centre)

    def sigma(self, expected: float) -> float:
        """Noise on the sqrt scale at this expected count, in units of Poisson noise (≥ 1)."""
        return self.noise.sigma(expected)

    def is_outage(self, observed: float, expected: float) -> bool:
        return observed <= 0 and expected >= self.outage_min_expected

    def clip(self, observed: float, expected: float, clip_sigma: float | None = None) -> float:
        """``observed`` clipped to expected ± clip_sigma sigmas (on the sqrt scale)."""
        s = self.sigma(expected) * (clip_sigma or self.clip_sigma) / 2.0
        root = math.sqrt(expected + 0.375)
        lo, hi = max(root - s, 0.0) ** 2 - 0.375, (root + s) ** 2 - 0.375
        return min(max(observed, max(lo, 0.0)), hi)

    def learn(self, centre: float, observed: float, guarded: bool = False, unusual: bool = False) -> None:
        """Learn from a window. ``guarded`` (the window is elevated): the level moves by at most one sigma's
        worth and the trend stays, so a sustained moderate rise is not absorbed before it adds up to an alert;
        ``unusual`` (anomalous, or during a crisis): in addition noise and rhythm are left alone."""
        season = self.season(centre)
        predicted = self.deseasonalised
        expected = predicted * season
        if self.n == 0:
            self.level = observed / season
            self.n = 1
            return
        if not unusual:
            self.noise.learn(sqrt_residual(observed, expected), expected)
        y = self.clip(observed, expected)
        self.n += 1
        rate = max(self.level_rate, 1.0 / self.n)
        old = self.level
        y_level = self.clip(observed, expected, 1.0) if guarded or unusual else y
        self.level = predicted + rate * (y_level / season - predicted)
        if unusual:
            return
        if self.n > 10 and not guarded:  # Holt's damped trend, at half the level's rate
            self.trend = self.damping * self.trend + 0.5 * self.level_rate * (
                self.level - old - self.damping * self.trend
            )
        base = max(predicted, 1e-6)
        if self.n >= 3:  # the rhythm learns ratios to the level; both seasons share the clipped observation
            if self.daily is not None:
                other = self.weekly.factor(centre) if self.weekly is not None else 1.0
                self.daily.learn(centre, y / (base * other))
            if self.weekly is not None:
                other = self.daily.factor(centre) if self.daily is not None else 1.0
                self.weekly.learn(centre, y / (base * other))

    def adopt(self, level: float) -> None:
        """Take ``level`` (deseasonalised) as the new normal: a level shift that lasted."""
        self.level, self.trend = max(level, 0.0), 0.0

    def to_state(self) -> dict:
        out = {"level": self.level, "trend": self.trend, "n": self.n, "noise": self.noise.to_state()}
        if self.daily is not None:
            out["hod"] = self.daily.to_state()
        if self.weekly is not None:
            out["dow"] = self.weekly.to_state()
        return out


class ShareBaseline:
    """The usual share of negative mentions, and how much it varies beyond binomial noise."""

    def __init__(
        self,
        *,
        halflife: float,
        prior_share: float,
        dispersion_halflife: float,
        clip_sigma: float,
        state: dict | None = None,
    ) -> None:
        self.rate = decay_rate(halflife)
        self.disp_rate = decay_rate(dispersion_halflife)
        self.clip_sigma = clip_sigma
        state = state or {}
        # decayed sums with a Beta prior worth 20 mentions
        self.neg: float = state.get("neg", prior_share * 20.0)
        self.tot: float = state.get("tot", 20.0)
        self.mad: float = state.get("mad", 1.2)
        self.mad_n: float = state.get("mad_n", 20.0)

    @property
    def share(self) -> float:
        return min(max(self.neg / self.tot, 0.01), 0.95)

    @property
    def sigma(self) -> float:
        return max(1.0, 1.2533 * self.mad)

    def z(self, negative: float, total: float) -> float:
        """Binomial z of ``negative`` out of ``total`` against the usual share, scaled by the learned noise."""
        if total <= 0:
            return 0.0
        p = self.share
        return (negative - total * p) / math.sqrt(total * p * (1 - p) + 0.25) / self.sigma

    def learn(self, negative: float, total: float, guarded: bool = False, unusual: bool = False) -> None:
        """Learn from a window; a ``guarded`` one moves the share by at most one sigma, an ``unusual`` one
        also leaves the noise alone."""
        if total <= 0:
            return
        p = self.share
        sd = math.sqrt(total * p * (1 - p) + 0.25)
        if not unusual:
            raw = (negative - total * p) / sd
            self.mad_n += 1
            self.mad += max(self.disp_rate, 1.0 / self.mad_n) * (min(abs(raw), 4.0 * self.sigma) - self.mad)
        bound = (1.0 if guarded or unusual else self.clip_sigma) * self.sigma * sd
        neg = min(max(negative, total * p - bound), total * p + bound)
        neg = min(max(neg, 0.0), total)
        keep = 1.0 - self.rate
        # the decay is per window, weighted by the window's volume relative to the prior
        self.neg = self.neg * keep + neg
        self.tot = self.tot * keep + total

    def to_state(self) -> dict:
        return {"neg": self.neg, "tot": self.tot, "mad": self.mad, "mad_n": self.mad_n}
