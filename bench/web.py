"""The command center's pages and the 日报 against a million posts (issue 16's targets: every page < 1 s, a 日报 for
5 brands over 1 day < 10 s), beside the same pages on the demo's 7,500 posts as the anchor.

    nice -n 10 .venv/bin/python bench/web.py                  # 1,000,000 posts (first run ~15 min to load)
    nice -n 10 .venv/bin/python bench/web.py --posts 100000   # quick
    ... --reuse                                               # keep an index already loaded by an earlier run

Data: the demo stream (deploy/demo/scenario.yaml: five brands, four hours, one 海底捞 crisis) run through the
worker's chain (pipeline/web/sample_data.py: Enricher → BrandMonitor → ES sink), then bulk-copied back in time,
four hours per copy with new ids, until ``--posts`` documents: the fields are the worker's, the volume is a
million. Each page is fetched over HTTP from ``lingting web``'s app (a thread in this process) ``--repeat``
times after one warm-up; the table gives the median and the slowest. Needs the local stack ($LINGTING_ES or
127.0.0.1:$LINGTING_STACK_ES_PORT). Prints a table and writes bench/results/web.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import yaml  # noqa: E402

from pipeline.demo import DEMO_DIR  # noqa: E402
from pipeline.settings import settings_from_dict  # noqa: E402
from tests.web.conftest import ServerThread  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "web.json"
TOKEN = "bench-token"
COPY_SHIFT = timedelta(hours=4)


def settings_for(es_url: str, prefix: str, reports_dir: Path):
    data = yaml.safe_load((DEMO_DIR / "lingting.yaml").read_text(encoding="utf-8"))
    data.update(
        {
            "elasticsearch": {"url": es_url, "index_prefix": prefix},
            "api": {"token": TOKEN},
            "reports": {"dir": str(reports_dir)},
        }
    )
    return settings_from_dict(data, "bench/web.py")


async def count(es, settings) -> int:
    try:
        return (await es.count(index=settings.elasticsearch.posts_alias))["count"]
    except Exception:
        return 0


async def load(settings, target: int, reuse: bool) -> dict:
    """The demo stream once through the worker's chain, then copies of it shifted back in time."""
    from elasticsearch import AsyncElasticsearch
    from elasticsearch.helpers import async_bulk, async_scan

    from pipeline.web import sample_data

    e = settings.elasticsearch
    es = AsyncElasticsearch(e.url, request_timeout=120)
    try:
        have = await count(es, settings)
        if reuse and have >= target:
            return {"posts": have, "loaded": False}
        if have:
            await es.indices.delete(index=f"{e.index_prefix}-posts-*")
            await es.indices.delete(index=f"{e.index_prefix}-alerts-*", ignore_unavailable=True)
        t0 = time.monotonic()
        base = await sample_data.load(es, settings, DEMO_DIR / "scenario.yaml", seed=7)
        chain_s = time.monotonic() - t0
        docs = [h async for h in async_scan(es, index=e.posts_alias, query={"query": {"match_all": {}}}, size=2000)]
        copies = max(0, -(-target // max(1, len(docs))) - 1)
        t1 = time.monotonic()

        def actions():
            n = len(docs)
            for k in range(1, copies + 1):
                shift = COPY_SHIFT * k
                for h in docs:
                    if n >= target:
                        return
                    src = dict(h["_source"])
                    created = datetime.fromisoformat(src["created_at"]) - shift
                    src["created_at"] = created.isoformat()
                    src["processed_at"] = src["created_at"]
                    src["id"] = f"{src['id']}c{k}"
                    src["key"] = f"{src['platform']}:{src['id']}"
                    if src.get("repost_of"):
                        src["repost_of"] = f"{src['repost_of']}c{k}"
                    n += 1
                    yield {"_index": f"{e.index_prefix}-posts-{created:%Y.%m}", "_id": src["key"], "_source": src}

        slow = es.options(request_timeout=1800)
        await async_bulk(slow, actions(), chunk_size=5000, max_retries=5)
        await es.indices.refresh(index=e.posts_alias)
        await slow.indices.forcemerge(index=e.posts_alias, max_num_segments=1)
        return {
            "posts": await count(es, settings),
            "loaded": True,
            "chain_posts": base.posts,
            "chain_seconds": round(chain_s, 1),
            "alerts": len(base.alerts),
            "copies": copies,
            "copy_seconds": round(time.monotonic() - t1, 1),
        }
    finally:
        await es.close()


def pages(alert_id: str | None) -> list[tuple[str, str]]:
    hdl = quote("海底捞")
    out = [
        ("危机看板 /crisis", "/crisis"),
        ("overview 1 brand 24h", f"/overview?brand={hdl}&range=24h"),
        ("overview 1 brand 7d", f"/overview?brand={hdl}&range=7d"),
        ("overview 1 brand 30d", f"/overview?brand={hdl}&range=30d"),
        (
            "overview 5 brands 7d",
            "/overview?range=7d&"
            + "&".join(f"brand={quote(b)}" for b in ("海底捞", "呷哺呷哺", "蜜雪冰城", "蔚来", "小米")),
        ),
        ("drill (chart point)", f"/drill?brand={hdl}&sentiment=negative"),
        ("search 老鼠", f"/search?q={quote('老鼠')}"),
        ("search 老鼠 + filters", f"/search?q={quote('老鼠')}&brand={hdl}&sentiment=negative"),
        ("response KPIs 30d", "/kpis"),
        ("reports", "/reports"),
    ]
    if alert_id:
        out.insert(1, ("crisis detail", f"/crisis/{quote(alert_id, safe='')}"))
    return out


def measure(url: str, paths: list[tuple[str, str]], repeat: int) -> dict[str, dict]:
    out = {}
    with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for name, path in paths:
            t = time.perf_counter()
            assert client.get(path).status_code == 200, path  # the first load (and a check)
            first = time.perf_counter() - t
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                resp = client.get(path)
                times.append(time.perf_counter() - t)
                assert resp.status_code == 200, (path, resp.status_code)
            out[name] = {
                "first_s": round(first, 3),
                "median_s": round(statistics.median(times), 3),
                "max_s": round(max(times), 3),
            }
    return out


async def first_alert(settings) -> tuple[str | None, datetime | None]:
    from elasticsearch import AsyncElasticsearch

    es = AsyncElasticsearch(settings.elasticsearch.url)
    try:
        resp = await es.search(
            index=settings.elasticsearch.alerts_alias, size=1, sort=[{"updated_at": "desc"}], ignore_unavailable=True
        )
        hits = resp["hits"]["hits"]
        if not hits:
            return None, None
        return hits[0]["_id"], datetime.fromisoformat(hits[0]["_source"]["window_end"])
    finally:
        await es.close()


def daily_report(settings, when: datetime | None) -> dict:
    from zoneinfo import ZoneInfo

    from pipeline.report import make_report

    day = (when or datetime.now(ZoneInfo("UTC"))).astimezone(ZoneInfo(settings.reports.timezone)).date()
    runs = []
    for _ in range(2):  # the first also loads matplotlib and the font
        t = time.perf_counter()
        result = asyncio.run(make_report(settings, "daily", day=day))
        runs.append((time.perf_counter() - t, result["query_seconds"]))
    return {
        "day": day.isoformat(),
        "brands": len(result["report"]["brands"]),
        "posts_in_day": sum(b["kpi"]["volume"] for b in result["report"]["brands"]),
        "cold_s": round(runs[0][0], 2),
        "warm_s": round(runs[1][0], 2),
        "warm_queries_s": round(runs[1][1], 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="keep an index already holding --posts documents")
    ap.add_argument(
        "--es",
        default=os.environ.get("LINGTING_ES") or f"http://127.0.0.1:{os.environ.get('LINGTING_STACK_ES_PORT', '9200')}",
    )
    args = ap.parse_args()
    reports = ROOT / "bench" / "results" / "web-reports"
    runs = {}
    for label, prefix, target in (
        ("anchor: demo stream", "benchweb-demo", 1),
        (f"{args.posts:,} posts", f"benchweb-{args.posts}", args.posts),
    ):
        settings = settings_for(args.es, prefix, reports / prefix)
        info = asyncio.run(load(settings, target, args.reuse))
        alert_id, when = asyncio.run(first_alert(settings))
        with ServerThread(settings) as server:
            timings = measure(server.url, pages(alert_id), args.repeat)
        runs[label] = {"data": info, "pages": timings, "daily_report": daily_report(settings, when)}
        print(f"{label}: {info}", flush=True)
    labels = list(runs)
    names = list(runs[labels[-1]]["pages"])
    print(
        f"\nseconds: first load | median of the next --repeat (slowest)\n{'page':28}"
        + "".join(f"{lab[:28]:>30}" for lab in labels)
    )
    for name in names:
        row = f"{name:28}"
        for lab in labels:
            t = runs[lab]["pages"].get(name)
            cell = "—" if not t else f"{t['first_s']:.3f} | {t['median_s']:.3f} (max {t['max_s']:.3f})"
            row += f"{cell:>30}"
        print(row)
    for lab in labels:
        d = runs[lab]["daily_report"]
        print(
            f"日报 {d['brands']} brands, 1 day ({d['posts_in_day']:,} posts in the day) [{lab}]: "
            f"{d['warm_s']:.2f} s warm (queries {d['warm_queries_s']:.2f} s), {d['cold_s']:.2f} s cold"
        )
    slowest = max(runs[labels[-1]]["pages"].items(), key=lambda kv: max(kv[1]["max_s"], kv[1]["first_s"]))
    print(
        f"slowest page at {labels[-1]}: {slowest[0]} first {slowest[1]['first_s']:.3f} s, max "
        f"{slowest[1]['max_s']:.3f} s (target < 1 s)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"host": platform.node(), "cpus": os.cpu_count(), "repeat": args.repeat, "runs": runs},
            ensure_ascii=False,
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
