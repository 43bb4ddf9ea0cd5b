"""Crisis detection benchmark: precision, recall, false alerts per brand-week and detection delay on labelled
scenarios, side by side with ElastAlert's spike rule.

    .venv/bin/python bench/detection.py            # 8 brand-weeks through BrandMonitor + count-level series
    .venv/bin/python bench/detection.py --quick    # 2 days per scenario

Part A (the production path): each scenario of ``bench/scenarios.py`` is rendered as enriched posts and fed to
``BrandMonitor`` (1-minute windows, default settings, event time, stories, 水军 flags); the alerts are scored
against the labelled crisis intervals with ``processors.detection.backtest.evaluate`` (the same metrics as
``lingting backtest --report``). Also checked: no crisis alert during campaigns, outages and repost storms; alerts
during 水军 bursts carry the coordination flag; the demo case (5 h history) alerts.
Part B (the backtest path): the same kind of scenarios as counts at 1 min, 5 min, 1 h and 1 day, with and without
a negative column, through ``processors.detection.backtest.run`` — the code behind ``lingting backtest``.
Baseline: ElastAlert's spike rule (``spike_height`` 3, ``spike_type: up``, ``threshold_cur``): the count in the
current timeframe / the count in the preceding one ≥ 3, on negative mentions when available (a user would filter
on sentiment) else on all; a timeframe is 10 windows at 1 min, 1 h at 5 min, one window otherwise; it re-alerts
after the same cooldown as lingting (30 min, at least 1 window).
Prints a table and writes bench/results/detection.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scenarios import CRISIS_KINDS, Event, Scenario, demo_scenario, standard_scenarios  # noqa: E402
from processors.detection.backtest import Point, evaluate, run  # noqa: E402
from processors.detection.monitor import BrandMonitor  # noqa: E402
from processors.detection.settings import DetectionSettings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "detection.json"


def elastalert_spike(
    values: list[float], interval: int, height: float = 3.0, threshold_cur: float = 10, cooldown_seconds: int = 1800
) -> list[bool]:
    """Openings of ElastAlert's spike rule over per-window counts."""
    frame = 10 if interval <= 60 else (max(1, 3600 // interval) if interval < 3600 else 1)
    cooldown = max(1, cooldown_seconds // interval)
    opens, last = [], -(10**9)
    for i in range(len(values)):
        cur = sum(values[max(0, i - frame + 1) : i + 1])
        ref = sum(values[max(0, i - 2 * frame + 1) : max(0, i - frame + 1)])
        fire = i >= 2 * frame - 1 and cur >= threshold_cur and cur >= height * max(ref, 1)
        opens.append(fire and i - last >= cooldown)
        if opens[-1]:
            last = i
        elif fire:
            last = i  # ElastAlert's realert: a continuing spike does not re-alert
    return opens


def run_monitor(scenario: Scenario, settings: DetectionSettings | None = None) -> dict:
    """Feed a scenario's posts through a BrandMonitor; openings/alerts per window index, and timing."""
    settings = settings or DetectionSettings(window_seconds=scenario.interval)
    monitor = BrandMonitor(scenario.brand, settings)
    start = scenario.start.timestamp()
    alerts = []
    n = 0
    elapsed = 0.0
    for post in scenario.posts():
        t = time.perf_counter()
        alerts += monitor.add(post)
        elapsed += time.perf_counter() - t
        n += 1
    end = scenario.start.timestamp() + (scenario.windows + 10) * scenario.interval + settings.allowed_lateness_seconds
    alerts += monitor.advance(datetime.fromtimestamp(end, tz=UTC))
    opens = [False] * scenario.windows
    alerted = [False] * scenario.windows
    for a in alerts:
        i = int((a.window_start.timestamp() - start) // scenario.interval)
        if 0 <= i < scenario.windows:
            if a.status == "open":
                opens[i] = True
            if a.status in ("open", "update"):
                alerted[i] = True
    return {
        "alerts": alerts,
        "opens": opens,
        "alerted": alerted,
        "posts": n,
        "us_per_post": elapsed / max(n, 1) * 1e6,
        "state_bytes": len(json.dumps(monitor.to_state())),
    }


def flagged_windows(scenario: Scenario, alerts: list) -> set[int]:
    """Window indexes of alerts flagged as coordinated that fall on a 水军 burst."""
    out = set()
    for a in alerts:
        if a.status != "open" or not a.coordination.suspected:
            continue
        i = int((a.window_start.timestamp() - scenario.start.timestamp()) // scenario.interval)
        if any(e.kind == "shuijun" and e.start <= i < e.start + e.length + 5 for e in scenario.events):
            out.add(i)
    return out


def event_checks(scenario: Scenario, alerts: list) -> dict:
    """Alerts opened during non-crisis events (must be none, 水军 only if flagged)."""
    out = {}
    for e in scenario.events:
        if e.kind in CRISIS_KINDS:
            continue
        lo = scenario.start.timestamp() + e.start * scenario.interval
        hi = lo + (e.length + 5) * scenario.interval
        during = [a for a in alerts if a.status == "open" and lo <= a.window_start.timestamp() < hi]
        key = e.kind
        entry = out.setdefault(key, {"events": 0, "crisis_alerts": 0, "flagged": 0})
        entry["events"] += 1
        entry["crisis_alerts"] += sum(1 for a in during if not a.coordination.suspected)
        entry["flagged"] += sum(1 for a in during if a.coordination.suspected)
    return out


def part_a(weeks: float) -> dict:
    rows = []
    for sc in standard_scenarios(weeks) + [demo_scenario()]:
        t0 = time.perf_counter()
        res = run_monitor(sc)
        stamps = [t for t, _, _ in sc.counts()]
        labels = sc.labels()
        # an alert flagged as 水军 during a 水军 burst is the wanted outcome, not a false alert (see event_checks)
        flagged = flagged_windows(sc, res["alerts"])
        opens = [o and i not in flagged for i, o in enumerate(res["opens"])]
        ours = evaluate(opens, labels, stamps, sc.interval, alerts=res["alerted"])
        # the open alerts that fall on a non-crisis event are false alerts already counted in `ours`
        negatives = [neg for _, _, neg in sc.counts()]
        base = evaluate(elastalert_spike(negatives, sc.interval), labels, stamps, sc.interval)
        rows.append(
            {
                "scenario": sc.name,
                "brand": sc.brand,
                "posts": res["posts"],
                "lingting": ours,
                "elastalert": base,
                "events": event_checks(sc, res["alerts"]),
                "us_per_post": round(res["us_per_post"], 1),
                "state_bytes": res["state_bytes"],
                "alerts": [
                    f"{a.status}#{a.sequence} {a.severity} {a.window_start:%m-%d %H:%M} "
                    f"obs={a.observed:g} exp={a.expected:.1f}" + (" 水军" if a.coordination.suspected else "")
                    for a in res["alerts"]
                ],
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(f"  {sc.name}: {rows[-1]['seconds']} s", file=sys.stderr)
    return {
        "scenarios": rows,
        "lingting": pool([r["lingting"] for r in rows if r["scenario"] != "demo"]),
        "elastalert": pool([r["elastalert"] for r in rows if r["scenario"] != "demo"]),
    }


def count_series(interval: int, weeks: float, seed: int) -> list[Scenario]:
    """Count-level scenarios at one interval: rhythm, noise, slow growth, outages and crises of three shapes,
    one crisis and one outage per period (a week, or 60 windows for daily series)."""
    n = int(weeks * 7 * 86400 / interval)
    period = max(7 * 86400 // interval, 60)
    span = max(3, int(3600 * 1.5 / interval)) if interval < 86400 else 3
    out = []
    for k in range(2):  # a small and a large brand
        rate = (6.0, 40.0)[k] * interval / 60 if interval < 86400 else (400.0, 4000.0)[k]
        events = []
        for j, first in enumerate(range(0, n - period // 2, period)):
            kind = CRISIS_KINDS[(j + k) % 3]
            length = span * (3 if kind == "slow" else 1)
            events.append(Event(kind, first + int(period * (0.35 + 0.05 * k)), length, 1.5 if kind != "slow" else 2.0))
            events.append(Event("outage", first + int(period * 0.75), max(1, span // 2)))
        out.append(
            Scenario(
                f"{interval}s-{'small' if k == 0 else 'large'}",
                rate=rate,
                interval=interval,
                windows=n,
                growth=0.5,
                seed=seed + k,
                events=events,
            )
        )
    return out


def part_b(weeks_by_interval: dict[int, float]) -> dict:
    rows = []
    for interval, weeks in weeks_by_interval.items():
        for sc in count_series(interval, weeks, seed=100 + interval % 97):
            counts = sc.counts()
            labels = sc.labels()
            stamps = [t for t, _, _ in counts]
            for with_negative in (True, False):
                points = [
                    Point(t, v, neg if with_negative else None, lab)
                    for (t, v, neg), lab in zip(counts, labels, strict=False)
                ]
                verdicts, used = run(points)
                ours = evaluate(
                    [v.status == "open" for v in verdicts], labels, stamps, used, alerts=[v.alerted for v in verdicts]
                )
                series = [neg if with_negative else v for _, v, neg in counts]
                base = evaluate(elastalert_spike(series, used), labels, stamps, used)
                rows.append({"series": sc.name, "negative_column": with_negative, "lingting": ours, "elastalert": base})
    return {
        "series": rows,
        "lingting": pool([r["lingting"] for r in rows]),
        "elastalert": pool([r["elastalert"] for r in rows]),
    }


def pool(results: list[dict]) -> dict:
    crises = sum(r["crises"] for r in results)
    detected = sum(r["detected"] for r in results)
    opened = sum(r["alerts_opened"] for r in results)
    false = sum(r["false_alerts"] for r in results)
    weeks = sum(r["weeks"] for r in results)
    delays = [d for r in results for d in r["delays_windows"]]
    return {
        "crises": crises,
        "detected": detected,
        "recall": round(detected / crises, 4) if crises else None,
        "precision": round((opened - false) / opened, 4) if opened else None,
        "alerts_opened": opened,
        "false_alerts": false,
        "brand_weeks": round(weeks, 2),
        "false_alerts_per_brand_week": round(false / weeks, 3) if weeks else None,
        "median_delay_windows": statistics.median(delays) if delays else None,
    }


def table(title: str, rows: list[tuple[str, dict, dict]]) -> str:
    def f(v) -> str:
        return "-" if v is None else f"{v:g}" if isinstance(v, (int, float)) else str(v)

    head = (
        f"{title:<22}{'':2}{'recall':>7}{'prec':>7}{'FA/wk':>7}{'delay':>6}   |  elastalert spike rule: "
        f"{'recall':>6}{'prec':>7}{'FA/wk':>7}{'delay':>6}"
    )
    lines = [head, "-" * len(head)]
    for name, a, b in rows:
        fa_a = a.get("false_alerts_per_brand_week", a.get("false_alerts_per_week"))
        fa_b = b.get("false_alerts_per_brand_week", b.get("false_alerts_per_week"))
        lines.append(
            f"{name:<24}{f(a['recall']):>7}{f(a['precision']):>7}{f(fa_a):>7}"
            f"{f(a['median_delay_windows']):>6}   |  {'':23}{f(b['recall']):>6}{f(b['precision']):>7}"
            f"{f(fa_b):>7}{f(b['median_delay_windows']):>6}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 days per scenario instead of a week")
    args = parser.parse_args()
    weeks = 2 / 7 if args.quick else 1.0
    t0 = time.perf_counter()
    a = part_a(weeks)
    b = part_b(
        {60: weeks, 300: 2 * weeks if args.quick else 2, 3600: 4 if args.quick else 8, 86400: 26 if args.quick else 52}
    )
    print(
        table(
            "A: BrandMonitor (1 min)",
            [(r["scenario"], r["lingting"], r["elastalert"]) for r in a["scenarios"]]
            + [("ALL (excl. demo)", a["lingting"], a["elastalert"])],
        )
    )
    print()
    for r in a["scenarios"]:
        print(
            f"{r['scenario']:<18} events={json.dumps(r['events'], ensure_ascii=False)} "
            f"µs/post={r['us_per_post']} state={r['state_bytes']} B"
        )
        for line in r["alerts"]:
            print(f"{'':20}{line}")
    print()
    print(
        table(
            "B: backtest counts",
            [
                (f"{r['series']}{' +neg' if r['negative_column'] else ''}", r["lingting"], r["elastalert"])
                for r in b["series"]
            ]
            + [("ALL", b["lingting"], b["elastalert"])],
        )
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"quick": args.quick, "monitor": a, "backtest": b, "seconds": round(time.perf_counter() - t0, 1)},
            indent=2,
            ensure_ascii=False,
            default=str,
        ),
        encoding="utf-8",
    )
    print(f"\nwrote {RESULTS.relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
