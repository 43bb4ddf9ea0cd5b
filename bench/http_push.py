"""Load test of the HTTP push connector against the real local Kafka (not a test: prints a table, writes JSON).

Starts `lingting connect http` on a fresh topic prefix, then C concurrent clients post NDJSON batches of B
Chinese posts for D seconds, and compares the posts the endpoint accepted with what the topic holds.
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


async def load(url: str, token: str, duration: float, clients: int, batch: int) -> dict:
    from aiohttp import ClientSession

    latencies, statuses, accepted = [], {}, 0
    deadline = time.monotonic() + duration

    async def client(cid: int) -> None:
        nonlocal accepted
        n = 0
        async with ClientSession(headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/x-ndjson"}) as http:
            while time.monotonic() < deadline:
                lines = []
                for _ in range(batch):
                    n += 1
                    lines.append(json.dumps({"platform": "vendor", "id": f"c{cid}-{n}",
                                             "text": f"第{n}条：海底捞的服务还是一如既往的好[赞] #海底捞#",
                                             "created_at": "2026-11-20T20:00:00+08:00",
                                             "author": {"id": f"a{n % 997}", "followers": n % 5000}},
                                            ensure_ascii=False))
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
    return {"seconds": round(elapsed, 1), "accepted": accepted, "posts_per_s": round(accepted / elapsed),
            "requests": len(latencies), "statuses": statuses,
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)}


def topic_count(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    total = sum(consumer.end_offsets(parts).values())
    consumer.close()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--port", type=int, default=18090)
    args = ap.parse_args()
    from pipeline import stack

    stack.up()
    prefix, token = f"bench{uuid.uuid4().hex[:6]}", "bench-token"
    config = Path(f"/tmp/{prefix}.yaml")
    config.write_text(f"kafka: {{topic_prefix: {prefix}}}\nconnectors: {{http: {{port: {args.port}}}}}\n")
    env = {**os.environ, "LINGTING_CONFIG": str(config), "LINGTING_HTTP_TOKEN": token}
    server = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "connect", "http"], env=env, cwd=ROOT,
                              stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        result = asyncio.run(load(f"http://127.0.0.1:{args.port}/v1/posts", token, args.duration, args.clients,
                                  args.batch))
    finally:
        server.terminate()
        server.wait(30)
    result["in_topic"] = topic_count("127.0.0.1:9092", f"{prefix}.posts.raw")
    result.update(clients=args.clients, batch=args.batch)
    print(f"{'metric':<14}{'value':>14}")
    for key in ("seconds", "accepted", "in_topic", "posts_per_s", "requests", "p50_ms", "p99_ms"):
        print(f"{key:<14}{result[key]:>14}")
    print(f"{'statuses':<14}{json.dumps(result['statuses']):>14}")
    out = ROOT / "bench" / "results" / "http_push.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
