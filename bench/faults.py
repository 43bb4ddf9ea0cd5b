"""The fault suite at full durations on the real local stack (not a test: prints a table, writes JSON to
bench/results/faults.json). The short versions of the same scenarios run in tests/faults/.

Each scenario gets a fresh topic/index prefix and its own worker: lost and duplicated posts, dead letters by
stage, whether the worker survived, and the catch-up time after the fault ended.
Run: nice -n 10 .venv/bin/python bench/faults.py [--posts 3000] [--hang 90] [--es-down 150] [--channel-down 120]
     [--only es_hung,kafka_restarted]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from pipeline import stack
    from tests.faults import scenarios

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--hang", type=float, default=90.0, help="seconds Elasticsearch stays SIGSTOPped")
    parser.add_argument(
        "--es-down", type=float, default=150.0, help="seconds Elasticsearch's process stays stopped (es_stopped)"
    )
    parser.add_argument(
        "--channel-down",
        type=float,
        default=120.0,
        help="seconds the alert webhook is down after the first alert (channel_down)",
    )
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args()

    runs = {
        "worker_killed": lambda r: scenarios.worker_killed(r, args.posts),
        "es_hung": lambda r: scenarios.es_hung(r, args.posts, args.hang),
        "kafka_restarted": lambda r: scenarios.kafka_restarted(r, args.posts),
        "hostile_input": lambda r: scenarios.hostile_input(r, args.posts),
        "one_mb_post": lambda r: scenarios.one_mb_post(r),
        "es_stopped": lambda r: scenarios.es_stopped(r, args.posts, args.es_down),
        "one_of_two_killed": lambda r: scenarios.one_of_two_workers_killed(r, args.posts),
        "channel_down": lambda r: scenarios.alert_channel_down(r, hook, args.channel_down),
        "backlog_replayed": lambda r: scenarios.backlog_replayed(r, args.posts, span_hours=6),
        "undecodable_batch": lambda r: scenarios.undecodable_batch(r, args.posts),
    }
    # the channel scenario's worker delivers to this receiver with the default retry policy (backoff up to 60 s)
    hook = scenarios.FlakyWebhook()
    chosen = [n for n in args.only.split(",") if n] or list(runs)
    status = stack.up()
    results = []
    for name in chosen:
        # kept when the scenario failed: the workers' logs and configs are what explains it
        tmp = tempfile.mkdtemp(prefix=f"faults-{name}-")
        notify = scenarios.notify_config(hook) if name == "channel_down" else None
        # the channel scenario's history on one partition, in time order (see backlog_replayed for why)
        run = scenarios.Run(
            status["kafka"].address,
            status["elasticsearch"].address,
            Path(tmp),
            notify=notify,
            partitions=1 if notify else 3,
        )
        run.start_worker()
        started = time.monotonic()
        try:
            scenarios.wait_consuming(run)
            outcome = runs[name](run)
        finally:
            run.stop()
            stack.up()  # a scenario that restarted a service leaves the stack healthy for the next
        row = {"name": name, **outcome.to_dict(), "wall_seconds": round(time.monotonic() - started, 1)}
        clean = row["lost"] == 0 and row["duplicated"] == 0 and row["worker_alive"] and not row["late_posts"]
        if clean:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            row["kept"] = tmp
        results.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)

    hook.close()
    print(
        f"\n{'scenario':36} {'sent':>6} {'indexed':>7} {'lost':>5} {'dup':>4} {'dead letters':>14} "
        f"{'alive':>5} {'catch-up s':>10} {'late':>5} {'alert states':>14}"
    )
    for r in results:
        dead = sum(r["dead_letters"].values())
        catch = "-" if r["catch_up_seconds"] is None else f"{r['catch_up_seconds']:.1f}"
        late = "-" if r["late_posts"] is None else str(r["late_posts"])
        states = ",".join(f"{k}={v}" for k, v in sorted(r["alert_states"].items())) or "-"
        print(
            f"{r['scenario']:36} {r['sent']:>6} {r['indexed']:>7} {r['lost']:>5} {r['duplicated']:>4} "
            f"{dead:>14} {str(r['worker_alive']):>5} {catch:>10} {late:>5} {states:>14}"
        )
        if r["notes"]:
            print(f"    {r['notes']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "posts": args.posts,
                "hang_seconds": args.hang,
                "es_down_seconds": args.es_down,
                "channel_down_seconds": args.channel_down,
                "results": results,
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    print(f"\nwritten {args.out}")
    return (
        0
        if all(r["lost"] == 0 and r["duplicated"] == 0 and r["worker_alive"] and not r["late_posts"] for r in results)
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
