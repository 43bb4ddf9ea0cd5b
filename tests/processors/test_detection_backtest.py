"""Backtest helpers: interval inference, running the production detector over a series, report metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.scenarios import Event, Scenario
from processors.detection.backtest import Point, evaluate, infer_interval, label_intervals, report, run
from processors.detection.detector import SpikeDetector
from processors.detection.settings import DetectionSettings

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [60, 300, 3600, 86400])
def test_infer_interval_is_the_most_common_gap_despite_missing_rows(seconds):
    stamps = [T0 + timedelta(seconds=seconds * i) for i in range(50) if i % 7 != 3]
    assert infer_interval(stamps) == seconds


def test_infer_interval_needs_two_distinct_timestamps():
    with pytest.raises(ValueError, match="two distinct"):
        infer_interval([T0, T0])


def test_run_is_the_production_detector_step_by_step():
    scenario = Scenario("b", windows=600, rate=20, seed=2, events=[Event("sudden", 400, 30, 2.0)])
    points = [Point(t, v, n) for t, v, n in scenario.counts()]
    verdicts, interval = run(points)
    assert interval == 60
    detector = SpikeDetector(DetectionSettings(), 60)
    direct = [detector.step(p.timestamp, p.value, p.negative) for p in points]
    assert [(v.status, v.score) for v in verdicts] == [(v.status, v.score) for v in direct]
    assert any(v.status == "open" for v in verdicts[400:405])


def test_label_intervals_are_maximal_runs_of_ones():
    assert label_intervals([0, 1, 1, 0, 1, 0, 0, 1]) == [(1, 2), (4, 4), (7, 7)]
    assert label_intervals([0, 0]) == []


def test_evaluate_counts_detections_false_alerts_and_delays():
    stamps = [T0 + timedelta(hours=i) for i in range(168)]  # one week, hourly
    labels = [0] * 168
    for i in list(range(20, 30)) + list(range(100, 110)):
        labels[i] = 1
    opens = [False] * 168
    opens[22] = True  # crisis 1, 2 windows late
    opens[60] = True  # false alert
    opens[150] = True  # false alert
    result = evaluate(opens, labels, stamps, 3600)
    assert result["crises"] == 2 and result["detected"] == 1 and result["recall"] == 0.5
    assert result["false_alerts"] == 2 and result["precision"] == pytest.approx(1 / 3, abs=1e-3)
    assert result["weeks"] == pytest.approx(1.0) and result["false_alerts_per_week"] == pytest.approx(2.0)
    assert result["median_delay_windows"] == 2


def test_an_alert_just_before_the_labelled_onset_counts_with_zero_delay():
    stamps = [T0 + timedelta(minutes=i) for i in range(100)]
    labels = [1 if 50 <= i < 60 else 0 for i in range(100)]
    opens = [i == 49 for i in range(100)]
    result = evaluate(opens, labels, stamps, 60)
    assert result["detected"] == 1 and result["false_alerts"] == 0 and result["delays_windows"] == [0]


def test_report_uses_open_alerts_and_labels_of_the_points():
    scenario = Scenario(
        "r", windows=1200, rate=15, seed=8, events=[Event("sudden", 500, 40, 2.0), Event("viral", 900, 60, 3.0)]
    )
    labels = scenario.labels()
    points = [Point(t, v, n, lab) for (t, v, n), lab in zip(scenario.counts(), labels, strict=False)]
    verdicts, interval = run(points)
    result = report(points, verdicts, interval)
    assert result["crises"] == 2 and result["recall"] == 1.0 and result["false_alerts"] == 0
    assert result["median_delay_windows"] <= 3
