"""Backtest: the production ``SpikeDetector`` over a count series, and detection metrics against labels.

Pure (no file I/O; ``pipeline/cli/backtest.py`` reads and writes the CSV).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from processors.detection.detector import SpikeDetector, Verdict
from processors.detection.settings import DetectionSettings

WEEK_SECONDS = 7 * 86400


@dataclass(slots=True)
class Point:
    timestamp: datetime
    value: float
    negative: float | None = None
    label: int | None = None


def infer_interval(timestamps: list[datetime]) -> int:
    """The series' interval in seconds: the most common gap between consecutive timestamps."""
    gaps = [round((b - a).total_seconds()) for a, b in zip(timestamps, timestamps[1:], strict=False)]
    gaps = [g for g in gaps if g > 0]
    if not gaps:
        raise ValueError("need at least two distinct timestamps to infer the interval")
    ((gap, _),) = Counter(gaps).most_common(1)
    return int(gap)


def metric_scale(points: list[Point]) -> tuple[float, float] | None:
    """None for a count series (whole numbers ≥ 0, or a negative column); else (offset, factor) that bring the
    first values to positive numbers of typical size 10⁴ (see ``SpikeDetector``). A signed metric (a temperature)
    is moved above zero by its first values' range, with as much room again below."""
    if any(p.negative is not None for p in points) or all(p.value >= 0 and p.value == int(p.value) for p in points):
        return None
    head = sorted(p.value for p in points[:200])
    lo, hi = head[0], head[-1]
    offset = 0.0 if lo >= 0 else -(lo - (hi - lo or 1.0))
    typical = sorted(abs(v + offset) for v in head if v + offset)
    middle = typical[len(typical) // 2] if typical else 1.0
    return offset, 1e4 / middle


def run(
    points: list[Point], settings: DetectionSettings | None = None, interval_seconds: int | None = None
) -> tuple[list[Verdict], int]:
    """Run the detector over ``points`` (sorted by time). Returns the verdicts and the interval used.

    Missing intervals are not invented: the detector sees the windows that are in the series.
    """
    settings = settings or DetectionSettings()
    interval = interval_seconds or infer_interval([p.timestamp for p in points])
    detector = SpikeDetector(settings, interval_seconds=interval, metric_scale=metric_scale(points))
    return [detector.step(p.timestamp, p.value, p.negative) for p in points], interval


def label_intervals(labels: list[int]) -> list[tuple[int, int]]:
    """Maximal runs of label 1 as (first index, last index)."""
    out, start = [], None
    for i, label in enumerate(labels):
        if label and start is None:
            start = i
        elif not label and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(labels) - 1))
    return out


def evaluate(
    opens: list[bool],
    labels: list[int],
    timestamps: list[datetime],
    interval_seconds: int,
    alerts: list[bool] | None = None,
    tolerance: int = 2,
) -> dict:
    """Crisis-level metrics of alert openings against labelled crisis intervals.

    An opening counts for a crisis when it falls from ``tolerance`` windows before its first labelled window
    to ``tolerance`` windows after its last; a crisis is detected when such an opening exists, or (for a crisis
    that was already open, e.g. two labelled crises close together) when an open/update alert (``alerts``)
    falls in it. Delay = windows from the labelled onset to that first alert (0 if it came before the onset).
    False alerts are openings that belong to no crisis; they are reported per brand-week of series time.
    """
    crises = label_intervals(labels)
    alerts = alerts if alerts is not None else opens
    open_idx = [i for i, o in enumerate(opens) if o]
    alert_idx = [i for i, a in enumerate(alerts) if a]
    true_opens: set[int] = set()
    delays: list[int] = []
    detected = 0
    for first, last in crises:
        lo, hi = first - tolerance, last + tolerance
        hits = [i for i in open_idx if lo <= i <= hi]
        true_opens.update(hits)
        hits = hits or [i for i in alert_idx if first <= i <= hi]
        if hits:
            detected += 1
            delays.append(max(0, hits[0] - first))
    false_opens = len(open_idx) - len(true_opens)
    span = (timestamps[-1] - timestamps[0]).total_seconds() + interval_seconds if timestamps else 0
    weeks = span / WEEK_SECONDS
    return {
        "crises": len(crises),
        "detected": detected,
        "recall": round(detected / len(crises), 4) if crises else None,
        "alerts_opened": len(open_idx),
        "false_alerts": false_opens,
        "precision": round(len(true_opens) / len(open_idx), 4) if open_idx else None,
        "weeks": round(weeks, 3),
        "false_alerts_per_week": round(false_opens / weeks, 3) if weeks > 0 else None,
        "median_delay_windows": statistics.median(delays) if delays else None,
        "delays_windows": delays,
        "interval_seconds": interval_seconds,
    }


def report(points: list[Point], verdicts: list[Verdict], interval_seconds: int) -> dict:
    """``evaluate`` for a labelled series run through the production detector."""
    labels = [int(p.label or 0) for p in points]
    return evaluate(
        [v.status == "open" for v in verdicts],
        labels,
        [p.timestamp for p in points],
        interval_seconds,
        alerts=[v.alerted for v in verdicts],
    )
