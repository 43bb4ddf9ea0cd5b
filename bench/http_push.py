"""Load test of the HTTP push connector against the real local Kafka (not a test: prints a table, writes JSON).

Starts `lingting connect http` on a fresh topic prefix, then C concurrent clients post NDJSON batches of B
Chinese posts for D seconds, and compares the posts the endpoint accepted with what the topic holds: the record
count must equal the accepted count, and no key may be in the topic twice (read back key by key).
Run: .venv/bin/python bench/http_push.py [--duration 120] [--clients 8] [--batch 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def wait_for_healthz(port: int, seconds: float) -> None:
    """Wait until the server on ``port`` answers /healthz, for at most ``seconds``: a bench that starts before
    it can take posts measures its start-up, not its throughput (past the wait, the run shows what is wrong)."""
    import urllib.request

    for _ in range(int(seconds / 0.2)):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)


async def load(url: str, token: str, duration: float, clients: int, batch: int) -> dict:
    from aiohttp import ClientSession

    latencies, statuses, accepted = [], {}, 0
    deadline = time.monotonic() + duration

    async def client(cid: int) -> None:
        nonlocal accepted
        n = 0
        async with ClientSession(
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        ) as http:
            while time.monotonic() < deadline:
                lines = []
                for _ in range(batch):
                    n += 1
                    lines.append(
                        json.dumps(
                            {
                                "platform": "vendor",
                                "id": f"c{cid}-{n}",
                                "text": f"第{n}条：海底捞的服务还是一如既往的好[赞] #海底捞#",
                                "created_at": "2026-11-20T20:00:00+08:00",
                                "author": {"id": f"a{n % 997}", "followers": n % 5000},
                            },
                            ensure_ascii=False,
                        )
                    )
                body = ("\n".join(lines) + "\n").encode()
                started = time.monotonic()
                async with http.post(url, data=body) as r:
                    result = await r.json()
                latencies.append(time.monotonic() - started)
                statuses[r.status] = statuses.get(r.status, 0) + 1
                if r.status in (200, 207):
                    accepted += result["accepted"]
                elif r.status == 429:
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")))

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "seconds": round(elapsed, 1),
        "accepted": accepted,
        "posts_per_s": round(accepted / elapsed),
        "requests": len(latencies),
        "statuses": statuses,
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1),
    }


def topic_count(bootstrap: str, topic: str) -> tuple[int, int]:
    """(records, distinct keys) in the topic, read to its end offsets."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000, fetch_max_bytes=64 * 1024 * 1024
    )
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    ends = consumer.end_offsets(parts)
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    keys: set[bytes] = set()
    records = 0
    todo = {tp for tp in parts if ends[tp] > 0}
    while todo:
        for tp, batch in consumer.poll(timeout_ms=2000).items():
            records += len(batch)
            keys.update(r.key for r in batch)
            if consumer.position(tp) >= ends[tp]:
                todo.discard(tp)
    consumer.close()
    return records, len(keys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--dedupe-seconds", type=float, default=600, help="connectors.http.dedupe_seconds (0: off)")
    args = ap.parse_args()
    from pipeline import stack

    stack.up()
    prefix, token = f"bench{uuid.uuid4().hex[:6]}", "bench-token"
    config = Path(f"/tmp/{prefix}.yaml")
    config.write_text(
        f"kafka: {{topic_prefix: {prefix}}}\n"
        f"connectors: {{http: {{port: {args.port}, dedupe_seconds: {args.dedupe_seconds}}}}}\n"
    )
    env = {**os.environ, "LINGTING_CONFIG": str(config), "LINGTING_HTTP_TOKEN": token}
    server_log = open(f"/tmp/{prefix}.log", "wb")  # the connector's own log, for when a figure looks wrong
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "connect", "http"], env=env, cwd=ROOT, stderr=server_log
    )
    try:
        wait_for_healthz(args.port, 20.0)
        result = asyncio.run(
            load(f"http://127.0.0.1:{args.port}/v1/posts", token, args.duration, args.clients, args.batch)
        )
    finally:
        server.terminate()
        server.wait(30)
    result["in_topic"], distinct = topic_count("127.0.0.1:9092", f"{prefix}.posts.raw")
    result["duplicate_keys"] = result["in_topic"] - distinct
    result["topic_equals_accepted"] = result["in_topic"] == result["accepted"]
    result.update(clients=args.clients, batch=args.batch, dedupe_seconds=args.dedupe_seconds)
    print(f"{'metric':<22}{'value':>14}")
    for key in (
        "seconds",
        "accepted",
        "in_topic",
        "topic_equals_accepted",
        "duplicate_keys",
        "posts_per_s",
        "requests",
        "p50_ms",
        "p99_ms",
    ):
        print(f"{key:<22}{str(result[key]):>14}")
    print(f"{'statuses':<22}{json.dumps(result['statuses']):>14}")
    out = ROOT / "bench" / "results" / "http_push.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
