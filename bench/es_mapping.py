"""What the posts mapping costs Elasticsearch: the shipped template beside the one it replaced, same documents.

    LINGTING_STACK_KAFKA_PORT=39092 LINGTING_STACK_ES_PORT=39200 nice -n 5 .venv/bin/python bench/es_mapping.py

Enriches the e2e corpus once (bench/e2e.py's ``corpus``), then bulk-indexes the same documents through the sink
(``sinks.elasticsearch.index_posts``, 500 per request) into a fresh prefix per round, alternating the two templates
so that JIT warm-up and a noisy box hit both alike. Per round: the node's CPU per post (utime+stime of the JVM from
/proc, over bulk + refresh + flush), wall seconds and the primary store size. Prints a table, writes JSON. Uses the
stack of ``$LINGTING_STACK_*`` (starts one if none is healthy there, and stops it again).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

# bench/ is not a package: the e2e corpus and /proc helpers are imported by path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import BRANDS, ROOT, corpus, cpu_seconds

import sinks.elasticsearch as sink

SHIPPED = sink.posts_template


def before_template(prefix: str, shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """The template before the lean mapping: both halves of a repost and the token list indexed again."""
    template = SHIPPED(prefix, shards, replicas)
    fields = template["template"]["mappings"]["properties"]
    fields.update(clean_text={"type": "text"}, quoted_text={"type": "text"}, tokens={"type": "keyword"})
    return template


TEMPLATES = {"before": before_template, "shipped": SHIPPED}


async def one_round(es_url: str, es_pid: int, posts: list, name: str, bulk: int) -> dict[str, Any]:
    from elasticsearch import AsyncElasticsearch

    sink.posts_template = TEMPLATES[name]  # ensure_indices reads the module attribute
    prefix = f"m{uuid.uuid4().hex[:8]}"
    es = AsyncElasticsearch(es_url, request_timeout=60)
    try:
        await sink.ensure_indices(es, prefix)
        cpu0, t0 = cpu_seconds(es_pid), time.monotonic()
        for i in range(0, len(posts), bulk):
            await sink.index_posts(es, prefix, posts[i : i + bulk])
        await es.indices.refresh(index=f"{prefix}-posts")
        await es.indices.flush(index=f"{prefix}-posts")
        cpu1, t1 = cpu_seconds(es_pid), time.monotonic()
        stats = await es.indices.stats(index=f"{prefix}-posts", metric="store,docs")
        primaries = stats["_all"]["primaries"]
        return {
            "template": name,
            "docs": primaries["docs"]["count"],
            "es_cpu_ms_per_post": round((cpu1 - cpu0) / len(posts) * 1000, 4),
            "wall_seconds": round(t1 - t0, 2),
            "store_mb": round(primaries["store"]["size_in_bytes"] / 1e6, 2),
        }
    finally:
        await es.indices.delete(index=f"{prefix}-posts-*", ignore_unavailable=True)
        await es.indices.delete(index=f"{prefix}-alerts-*", ignore_unavailable=True)
        await es.close()
        sink.posts_template = SHIPPED


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=40000, help="corpus size asked of the generator (default 40,000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of both templates (default 3)")
    ap.add_argument("--bulk", type=int, default=500, help="documents per bulk request (the worker's default)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "es_mapping.json")
    args = ap.parse_args()

    from pipeline import stack
    from processors.brands import BrandRule
    from processors.enrich import Enricher
    from schemas import RawPost

    was_up = stack.status().healthy
    st = stack.up()
    try:
        es_url, es_pid = st["elasticsearch"].address, st["elasticsearch"].pid
        enricher = Enricher([BrandRule(name=b, keywords=k) for b, k in BRANDS.items()])
        posts = [enricher.enrich(RawPost.model_validate(p)) for p in corpus(args.posts)]
        size = statistics.mean(len(sink.bulk_body("x", [p])) for p in posts[:2000])
        print(f"{len(posts)} enriched posts, ~{size:.0f} bytes of bulk body each; Elasticsearch {es_url}", flush=True)
        rounds = []
        for r in range(args.rounds):
            for name in TEMPLATES:
                row = asyncio.run(one_round(es_url, es_pid, posts, name, args.bulk))
                rounds.append({"round": r, **row})
                print(json.dumps(rounds[-1]), flush=True)
    finally:
        if not was_up:
            stack.down()
    summary = {}
    print(f"\n{'template':10} {'ES CPU ms/post (median)':>24} {'all rounds':>24} {'store MB':>9}")
    for name in TEMPLATES:
        rows = [x for x in rounds if x["template"] == name]
        cpu = [x["es_cpu_ms_per_post"] for x in rows]
        summary[name] = {"es_cpu_ms_per_post_median": statistics.median(cpu), "store_mb": rows[-1]["store_mb"]}
        print(
            f"{name:10} {statistics.median(cpu):24.3f} {' / '.join(f'{c:.3f}' for c in cpu):>24} {rows[-1]['store_mb']:9.1f}"
        )
    result = {
        "command": " ".join(sys.argv),
        "posts": len(posts),
        "bulk": args.bulk,
        "rounds": rounds,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
