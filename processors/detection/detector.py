"""The spike detector: one closed window's counts in, a verdict (and a crisis state change) out.

Count-level and pure, so the worker (``BrandMonitor``) and ``lingting backtest`` run the very same code.

Two modes, chosen per window by whether a negative count is given:
- with negatives: the signal is the number of negative mentions (stories). The window scores
  ``min(z_negative, z_share)``: negatives must be unusually many for the brand's usual volume AND their share
  unusually high for the brand's usual share, so a marketing campaign (more mentions, same or lower negative
  share) is no crisis;
- volume only: the total mention count against its baseline.
``z`` is a robust z on the variance-stabilised scale (see ``baseline``), or, if higher, the same for a run of
windows (an EWMA of the window z over a few windows, standardised by its learned spread: a slow burn of
moderately high windows adds up). ``score`` maps it to [0, 1] with 0.5 at ``threshold_low`` (thresholds are
lowered for windows longer than 5 minutes, see ``threshold_scale``). Minimum volumes, a minimum ratio to
expected and a warm-up gate the alert.

Crisis life cycle (hysteresis): ``open_windows`` anomalous windows open a crisis; it is ``update``d when its
severity rises or its volume grows by ``update_growth`` (at most every ``update_min_windows``); it is
``resolved`` after ``resolve_windows`` windows scoring below ``resolve_threshold``; then for ``cooldown_seconds``
only a more severe crisis than the last one's peak may open. ``crisis_start`` is the first window of the run of
elevated windows (score ≥ ``resolve_threshold``) that led to the opening.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from processors.detection.baseline import CountBaseline, Dispersion, ShareBaseline, decay_rate, sqrt_residual
from processors.detection.calibration import TailCalibration, score_of
from processors.detection.novelty import RangeNovelty
from processors.detection.settings import SEVERITIES, DetectionSettings

RANK = {s: i for i, s in enumerate(SEVERITIES)}
WEEK = 7 * 86400
#: weights of the past in the sustained scores (0.7: a run of a few windows; a longer memory, 0.9, was tried
#: and added false alerts on daily-rhythm misfit without finding more crises in bench/detection.py)
_EZ_KEEPS = (0.7,)


class _Sustained:
    """EWMA of the window z, standardised by its own learned spread (mean |EWMA| of calm windows; the
    theoretical spread for independent N(0,1) scores as the floor), so correlated misfit does not alert."""

    def __init__(self, keep: float, halflife: float, state: list | None = None) -> None:
        self.keep, self.rate = keep, decay_rate(halflife)
        self.floor = math.sqrt((1 - keep) / (1 + keep))
        value, mad, n = state or (0.0, self.floor / 1.2533, 20.0)
        self.value: float = value
        self.mad: float = mad
        self.n: float = n

    def update(self, z: float, calm: bool) -> float:
        self.value = self.keep * self.value + (1 - self.keep) * min(max(z, -3.0), 6.0)
        score = self.value / max(self.floor, 1.2533 * self.mad)
        if calm:
            self.n += 1
            self.mad += max(self.rate, 1.0 / self.n) * (min(abs(self.value), 3.0) - self.mad)
        return score

    def to_state(self) -> list:
        return [self.value, self.mad, self.n]


def tail_probability(z: float) -> float:
    """P(Z ≥ z) of a standard normal: the rarity a z threshold stands for."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def threshold_scale(interval_seconds: int) -> float:
    """Factor on the thresholds for a window length. Thresholds are set for windows of up to 5 minutes (≥ 2,016
    windows a week); longer windows give fewer chances a week to cry wolf, so the factor falls with the log of
    the windows per week down to 0.75 at one hour (168 a week) and beyond. (A Gaussian-quantile rule, 0.885 at
    5 minutes, doubled the false alerts on the benchmark's heavy-tailed 5-minute series.)"""
    per_week = WEEK / max(interval_seconds, 1)
    hi, lo = math.log(WEEK / 300), math.log(WEEK / 3600)
    return 1.0 - 0.25 * min(max((hi - math.log(per_week)) / (hi - lo), 0.0), 1.0)


@dataclass(slots=True)
class Verdict:
    """What the detector says about one window."""

    window_start: datetime
    window_end: datetime
    total: float
    negative: float | None
    expected_total: float
    expected_negative: float | None
    expected_share: float | None
    z: float
    score: float
    severity: str | None  # of this window, when it is anomalous
    anomalous: bool
    outage: bool
    growth: float
    status: str | None = None  # "open" | "update" | "resolved" when the crisis changed state in this window
    crisis_start: datetime | None = None
    crisis_severity: str | None = None  # the crisis's peak severity so far
    sequence: int = 0

    @property
    def observed(self) -> float:
        return self.negative if self.negative is not None else self.total

    @property
    def expected(self) -> float:
        return self.expected_negative if self.expected_negative is not None else self.expected_total

    @property
    def negative_share(self) -> float:
        return (self.negative or 0.0) / self.total if self.total > 0 and self.negative is not None else 0.0

    @property
    def alerted(self) -> bool:
        """True when the production detector sends an open or update alert for this window."""
        return self.status in ("open", "update")


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SpikeDetector:
    """Baselines + score + crisis state of one series (one brand). State is a small JSON-able dict."""

    def __init__(
        self,
        settings: DetectionSettings,
        interval_seconds: int | None = None,
        state: dict | None = None,
        metric_scale: tuple[float, float] | None = None,
    ) -> None:
        s = self.settings = settings
        self.interval = int(interval_seconds or settings.window_seconds)
        # a metric (CPU %, latency, temperature: not a count) is shifted and scaled, (y + offset) × factor, so its typical
        # value is ~10⁴ "counts": Poisson noise is then negligible and the learned overdispersion is a relative
        # noise; both directions are anomalous, and the volume gates and outages (count ideas) do not apply
        self.metric_scale = metric_scale
        state = state or {}
        scale = threshold_scale(self.interval) if s.scale_thresholds else 1.0
        self.thresholds = [(name, t * scale) for name, t in s.thresholds()]
        self.open_threshold = s.threshold_low * scale
        # the thresholds are rarities: a z of 4 on a well-fitting N(0, 1) noise model is p = 3.2e-5, and the
        # calibrated p of a window is compared with that, whatever the series' own tail looks like
        self.open_surprise = -math.log10(tail_probability(self.open_threshold))
        self.calibration = TailCalibration(s.calibration_halflife_windows, state.get("calibration"))
        self.shift_windows = max(round(s.level_shift_seconds / self.interval), s.level_shift_min_windows)
        self.shift: list = list(state.get("shift") or (0, 0.0))  # [signed run of off-level windows, sum]
        level_hl = max(s.level_halflife_seconds / self.interval, s.level_halflife_min_windows)
        self.total = CountBaseline(
            self.interval,
            level_halflife=level_hl,
            dispersion_halflife=s.dispersion_halflife_windows,
            prior_dispersion=s.prior_dispersion,
            clip_sigma=s.clip_sigma,
            outage_min_expected=s.outage_min_expected,
            daily=s.daily_seasonality,
            weekly=s.weekly_seasonality,
            season_halflife_cycles=s.season_halflife_cycles,
            state=state.get("total"),
        )
        share_hl = max(s.share_halflife_seconds / self.interval, s.level_halflife_min_windows * 2)
        self.share = ShareBaseline(
            halflife=share_hl,
            prior_share=s.prior_negative_share,
            dispersion_halflife=s.dispersion_halflife_windows,
            clip_sigma=s.clip_sigma,
            state=state.get("share"),
        )
        # noise of the negative count around level × share (sqrt scale), like the total's
        self.neg_noise = Dispersion(s.dispersion_halflife_windows, s.prior_dispersion, state.get("neg_noise"))
        # sustained anomaly: EWMA of the window z (clipped), standardised by its own learned spread
        saved = state.get("sustained") or [None] * len(_EZ_KEEPS)
        self.sustained = [
            _Sustained(k, s.dispersion_halflife_windows, st) for k, st in zip(_EZ_KEEPS, saved, strict=False)
        ]
        self.sustained_down = _Sustained(_EZ_KEEPS[0], s.dispersion_halflife_windows, state.get("sustained_down"))
        # a metric's anomaly_score is the range novelty of its value (see ``_metric_score``)
        self.novelty = RangeNovelty(s.novelty_warmup_windows, s.onset_refractory_windows, state.get("novelty"))
        self.windows: int = state.get("windows", 0)
        self.prev_observed: float | None = state.get("prev")
        self.run: int = state.get("run", 0)  # consecutive anomalous windows
        self.elevated_since: datetime | None = _dt(state.get("elevated_since"))
        self.crisis: dict | None = dict(state["crisis"]) if state.get("crisis") else None
        self.cooldown_until: datetime | None = _dt(state.get("cooldown_until"))
        self.last_peak: str | None = state.get("last_peak")

    # ------------------------------------------------------------------------------------------ scoring
    def _severity(self, z: float) -> str:
        """How big (z against the thresholds); whether it is anomalous at all is how rare (calibrated p)."""
        for name, threshold in self.thresholds:
            if z >= threshold:
                return name
        return "low"

    def step(self, window_start: datetime, total: float, negative: float | None = None) -> Verdict:
        """Score one closed window, learn from it, advance the crisis state. Windows must come in order."""
        s = self.settings
        if window_start.tzinfo is None:
            window_start = window_start.replace(tzinfo=UTC)
        window_end = window_start + timedelta(seconds=self.interval)
        centre = window_start.timestamp() + self.interval / 2
        metric = self.metric_scale is not None
        raw_value = float(total)
        if self.metric_scale is not None:
            offset, factor = self.metric_scale
            total = max((raw_value + offset) * factor, 0.0)
        else:
            total = max(float(total), 0.0)
        exp_total = self.total.expected(centre) if self.total.n else 0.0
        outage = not metric and self.total.is_outage(total, exp_total)
        warm = self.windows >= s.warmup_windows
        exp_neg = exp_share = None
        if negative is not None:
            negative = min(max(float(negative), 0.0), total)
            exp_share = self.share.share
            exp_neg = exp_total * exp_share
            z_neg = sqrt_residual(negative, exp_neg) / self.neg_noise.sigma(exp_neg)
            z_share = self.share.z(negative, total)
            z = min(z_neg, z_share)
            share = negative / total if total else 0.0
            gates = (
                negative >= s.min_negative
                and negative >= exp_neg * s.min_ratio
                and share >= exp_share * s.min_share_lift
            )
            observed = negative
        else:
            z = sqrt_residual(total, exp_total) / self.total.sigma(exp_total)
            gates = metric or (total >= s.min_total and total >= exp_total * s.min_ratio)
            observed = total
        raw_z = z
        if outage:
            z, surprise = 0.0, 0.0
        else:  # a run of moderately high windows (slow burn) scores like one very high window
            calm = not (self.crisis or z >= self.open_threshold)
            up = max([z] + [x.update(z, calm) for x in self.sustained])
            z = max(up, -z, self.sustained_down.update(-z, calm)) if metric else up
            surprise = self.calibration.surprise(z)
            # the tail learns from calm windows after the warm-up (no baseline before): an anomaly, a crisis's
            # windows or its cooldown must not teach it that crises are normal, nor the build-up of a slow burn
            # (of a run of elevated windows only the first counts)
            # (a metric's tail learns from every window outside a crisis, censored at the alert line: its
            # misfits recur, a daily one must become normal, as its baseline learns from every window too)
            if (
                warm
                and self.crisis is None
                and (
                    metric
                    or (
                        surprise < self.open_surprise
                        and not (self.cooldown_until and window_start < self.cooldown_until)
                        and not (self.elevated_since and z >= s.resolve_threshold)
                    )
                )
            ):
                self.calibration.learn(z, self.open_surprise)
        anomalous = warm and gates and not outage and surprise >= self.open_surprise
        # warm-up windows score 0: the baseline is not yet known, so no score near the alert line
        score = score_of(surprise, self.open_surprise) if warm else 0.0
        if not gates:
            score = min(score, 0.49)
        if metric:
            score = self._metric_score(raw_value, score)
        growth = observed / max(self.prev_observed or 0.0, 1.0)
        verdict = Verdict(
            window_start,
            window_end,
            total,
            negative,
            exp_total,
            exp_neg,
            exp_share,
            z,
            score,
            self._severity(z) if anomalous else None,
            anomalous,
            outage,
            growth,
        )
        self._advance_crisis(verdict)
        self._onset(verdict, metric)
        if not metric:
            self.novelty.learn(observed)  # counts: only its window clock (the refractory) is used
        if not outage:
            # elevated windows (score ≥ resolve_threshold) are learned from guardedly, anomalies and crises
            # barely (see CountBaseline.learn), so neither a crisis nor a sustained moderate rise becomes normal
            # a metric learns from every window (clipped): its anomalies are changes of pattern that the rhythm
            # must follow; a brand's counts are guarded, so a crisis is not learned as normal
            unusual = not metric and (anomalous or self.crisis is not None)
            elevated = not metric and raw_z >= s.resolve_threshold
            total_z = raw_z if negative is None else sqrt_residual(total, exp_total) / self.total.sigma(exp_total)
            self._learn(
                centre,
                total,
                negative,
                exp_neg,
                unusual,
                elevated,
                not metric and total_z >= s.resolve_threshold,
                total_z,
            )
            self.prev_observed = observed
        self.windows += 1
        return verdict

    def _metric_score(self, value: float, z_score: float) -> float:
        """A metric's score before the onset rule: the calibrated range novelty of its value, or the z score
        when that is far beyond the alert line (a change of pattern inside the old range). The z score alone
        follows every window of an excursion (docs/detection.md, NAB)."""
        novelty = score_of(self.novelty.surprise(value), self.open_surprise)
        self.novelty.learn(value)
        return max(novelty, z_score if z_score >= self.settings.novelty_z_score else 0.0)

    def _onset(self, v: Verdict, metric: bool) -> None:
        """Only the onset of an excursion scores in full: within ``onset_refractory_windows`` of a reported
        window, a window that would report again scores a quarter, so one excursion is one detection and not a
        run of false alarms after it. An alert's window always scores in full (a brand's alert and its score
        agree) and starts the refractory period."""
        if v.score < self.settings.onset_report_score and not (v.alerted and not metric):
            return
        if (v.alerted and not metric) or not self.novelty.in_refractory():
            self.novelty.reported()
        else:
            v.score *= 0.25

    def _learn(
        self,
        centre: float,
        total: float,
        negative: float | None,
        exp_neg: float | None,
        unusual: bool,
        elevated: bool,
        total_elevated: bool,
        total_z: float,
    ) -> None:
        # a lasting level shift still gets through guarded learning, slowly (one sigma per window at most) ...
        self.total.learn(centre, total, guarded=total_elevated, unusual=unusual)
        self._adopt_shift(centre, total, total_z)
        if negative is not None:
            if exp_neg is not None and self.total.n > 1 and not unusual:
                self.neg_noise.learn(sqrt_residual(negative, exp_neg), exp_neg)
            self.share.learn(negative, total, guarded=elevated, unusual=unusual)

    def _adopt_shift(self, centre: float, total: float, total_z: float) -> None:
        """... and ``shift_windows`` windows in a row off the level on the same side (|z| ≥ resolve_threshold)
        are a new normal: the level jumps to their mean. A crisis then resolves on its own, instead of a
        changed series alerting for hours (NAB's level shifts; a brand that became bigger)."""
        side = (
            1
            if total_z >= self.settings.resolve_threshold
            else -1
            if total_z <= -self.settings.resolve_threshold
            else 0
        )
        run, acc = self.shift
        if side == 0 or (run and (run > 0) != (side > 0)):
            run, acc = 0, 0.0
        run += side
        acc += total / self.total.season(centre)
        if abs(run) >= self.shift_windows:
            self.total.adopt(acc / abs(run))
            run, acc = 0, 0.0
        self.shift = [run, acc]

    # ------------------------------------------------------------------------------------------ life cycle
    def _advance_crisis(self, v: Verdict) -> None:
        s = self.settings
        if v.z >= s.resolve_threshold and not v.outage:
            self.elevated_since = self.elevated_since or v.window_start
        else:
            self.elevated_since = None
        self.run = self.run + 1 if v.anomalous else 0
        c = self.crisis
        if c is None:
            if not v.anomalous or self.run < s.open_windows:
                return
            if (
                self.cooldown_until
                and v.window_start < self.cooldown_until
                and self.last_peak
                and RANK[v.severity or "low"] <= RANK[self.last_peak]
            ):
                return
            start = self.elevated_since or v.window_start
            self.crisis = c = {
                "start": _iso(start),
                "seq": 0,
                "peak": v.severity,
                "last_obs": v.observed,
                "last_idx": self.windows,
                "calm": 0,
            }
            v.status, v.sequence = "open", 0
        else:
            c["calm"] = c["calm"] + 1 if (v.z < s.resolve_threshold or v.outage) else 0
            if c["calm"] >= s.resolve_windows:
                c["seq"] += 1
                v.status, v.sequence = "resolved", c["seq"]
                v.crisis_start, v.crisis_severity = _dt(c["start"]), c["peak"]
                self.cooldown_until = v.window_end + timedelta(seconds=s.cooldown_seconds)
                self.last_peak = c["peak"]
                self.crisis = None
                return
            if v.anomalous:
                rises = RANK[v.severity or "low"] > RANK[c["peak"]]
                grows = (
                    v.observed >= c["last_obs"] * s.update_growth
                    and self.windows - c["last_idx"] >= s.update_min_windows
                )
                if rises or grows:
                    c["seq"] += 1
                    c["peak"] = v.severity if rises else c["peak"]
                    c["last_obs"], c["last_idx"] = v.observed, self.windows
                    v.status, v.sequence = "update", c["seq"]
        v.crisis_start, v.crisis_severity = _dt(c["start"]), c["peak"]
        if v.status is None:
            v.sequence = c["seq"]

    def to_state(self) -> dict:
        return {
            "total": self.total.to_state(),
            "share": self.share.to_state(),
            "neg_noise": self.neg_noise.to_state(),
            "sustained": [x.to_state() for x in self.sustained],
            "calibration": self.calibration.to_state(),
            "shift": list(self.shift),
            "sustained_down": self.sustained_down.to_state(),
            "novelty": self.novelty.to_state(),
            "windows": self.windows,
            "prev": self.prev_observed,
            "run": self.run,
            "elevated_since": _iso(self.elevated_since) if self.elevated_since else None,
            "crisis": dict(self.crisis) if self.crisis else None,
            "cooldown_until": _iso(self.cooldown_until) if self.cooldown_until else None,
            "last_peak": self.last_peak,
        }
