"""The fault suite at full durations on the real local stack (not a test: prints a table, writes JSON to
bench/results/faults.json). The short versions of the same scenarios run in tests/faults/.

Each scenario gets a fresh topic/index prefix and its own worker: lost and duplicated posts, dead letters by
stage, whether the worker survived, and the catch-up time after the fault ended.
Run: nice -n 10 .venv/bin/python bench/faults.py [--posts 3000] [--hang 90] [--only es_hung,kafka_restarted]
"""
from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "faults.json")
    args = parser.parse_args()

    runs = {
        "worker_killed": lambda r: scenarios.worker_killed(r, args.posts),
        "es_hung": lambda r: scenarios.es_hung(r, args.posts, args.hang),
        "kafka_restarted": lambda r: scenarios.kafka_restarted(r, args.posts),
        "hostile_input": lambda r: scenarios.hostile_input(r, args.posts),
        "one_mb_post": lambda r: scenarios.one_mb_post(r),
    }
    chosen = [n for n in args.only.split(",") if n] or list(runs)
    status = stack.up()
    results = []
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix=f"faults-{name}-") as tmp:
            run = scenarios.Run(status["kafka"].address, status["elasticsearch"].address, Path(tmp))
            run.start_worker()
            started = time.monotonic()
            try:
                scenarios.wait_consuming(run)
                outcome = runs[name](run)
            finally:
                run.stop()
                stack.up()  # a scenario that restarted a service leaves the stack healthy for the next
            row = {"name": name, **outcome.to_dict(), "wall_seconds": round(time.monotonic() - started, 1)}
            results.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)

    print(f"\n{'scenario':32} {'sent':>6} {'indexed':>7} {'lost':>5} {'dup':>4} {'dead letters':>14} "
          f"{'alive':>5} {'catch-up s':>10}")
    for r in results:
        dead = sum(r["dead_letters"].values())
        catch = "-" if r["catch_up_seconds"] is None else f"{r['catch_up_seconds']:.1f}"
        print(f"{r['scenario']:32} {r['sent']:>6} {r['indexed']:>7} {r['lost']:>5} {r['duplicated']:>4} "
              f"{dead:>14} {str(r['worker_alive']):>5} {catch:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"posts": args.posts, "hang_seconds": args.hang, "results": results},
                                   ensure_ascii=False, indent=2))
    print(f"\nwritten {args.out}")
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
