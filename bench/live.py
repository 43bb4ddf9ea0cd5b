"""Live crisis harness on the real local stack: do crises alert within 3 minutes of onset, posts arriving in
real time? (Not a test: prints a table, writes bench/results/live.json.)

    export LINGTING_STACK_KAFKA_PORT=21092 LINGTING_STACK_ES_PORT=21200
    nice -n 10 .venv/bin/python bench/live.py            # about 12 minutes

Starts the stack (if needed), `lingting connect http` and `lingting worker` on a fresh topic prefix and app id,
and a local webhook receiver. Three brands get 3 h of calm history (5 posts/min each, about half negative, as in
issue #12), pushed at once (a replay), then calm live posts in real time, then at the same wall-clock minute:
- 蜜雪冰城: 60 negative posts/min for 5 minutes, three texts pasted by many different accounts;
- 瑞幸咖啡: 60 negative posts/min for 5 minutes, each text different;
- 喜茶 stays calm (no alert expected).
Reported per brand: seconds from onset to the first `open` webhook (target ≤ 180), and any alert for the calm
brand. The alert delay is the window (60 s) + allowed_lateness_seconds (45 s) + the pipeline's own latency.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.http_push import wait_for_healthz  # noqa: E402

BRANDS = {"蜜雪冰城": ["蜜雪", "雪王"], "瑞幸咖啡": ["瑞幸"], "喜茶": ["heytea"]}
COPIES = [
    "{b}的饮料里喝出了蟑螂，食品安全问题太吓人了！",
    "{b}喝出蟑螂！！这食品安全谁来管[怒]",
    "在{b}买的饮料里有蟑螂，恶心死了😡",
]
CALM = [
    "今天的{b}还行吧",
    "下班路上买了杯{b}",
    "{b}新品还不错👍",
    "{b}排队好久，有点烦",
    "{b}这杯太甜了，不喜欢",
    "#{b}# 打卡",
    "和同事点了{b}外卖",
    "{b}價格有點貴了",
    "{b}的店员态度一般",
    "周末又喝{b}了[哈哈]",
]
VARIED = [
    "{b}{n}号店的咖啡里有虫子，太恶心了",
    "第{n}次投诉{b}了，杯子里有异物，客服还不理人😡",
    "{b}食品安全出大问题，{n}个人喝完拉肚子[怒]",
    "再也不买{b}了，饮料变质还卖，举报了（{n}）",
    "{b}店里卫生太差，后厨有蟑螂，视频{n}已经传开了",
    "{b}的奶是过期的？{n}楼说得对，必须严查",
]


def post(brand: str, text: str, at: datetime, n: int, *, author: str | None = None) -> dict:
    return {
        "platform": "weibo",
        "id": f"live-{n}",
        "text": text,
        "created_at": at.isoformat(),
        "author": {"id": author or f"acct{n}", "name": f"用户{n}", "followers": 20 + n % 900},
    }


class Pusher:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def push(self, posts: list[dict]) -> None:
        for i in range(0, len(posts), 500):
            body = ("\n".join(json.dumps(p, ensure_ascii=False) for p in posts[i : i + 500]) + "\n").encode()
            req = urllib.request.Request(
                self.url,
                data=body,
                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/x-ndjson"},
            )
            for attempt in range(20):
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        if r.status in (200, 207):
                            break
                except OSError:
                    time.sleep(0.5 * (attempt + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=21310, help="the HTTP connector's port")
    ap.add_argument("--calm-live-minutes", type=float, default=3.0)
    ap.add_argument("--crisis-minutes", type=float, default=5.0)
    ap.add_argument("--wait-seconds", type=float, default=330.0, help="how long after onset to collect alerts")
    args = ap.parse_args()
    from pipeline import stack
    from pipeline.demo import AlertReceiver

    stack.up()
    run = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix=f"lingting-live-{run}-"))
    token = "live-bench-token"
    rnd = random.Random(7)
    with AlertReceiver() as receiver:
        config = {
            "brands": [{"name": b, "keywords": k} for b, k in BRANDS.items()],
            "kafka": {"bootstrap": f"127.0.0.1:{stack.default_kafka_port()}", "topic_prefix": f"live{run}"},
            "elasticsearch": {"url": f"http://127.0.0.1:{stack.default_es_port()}", "index_prefix": f"live{run}"},
            "worker": {
                "app_id": f"lingting-live-{run}",
                "data_dir": str(work / "worker"),
                "web_port": 0,
                "tick_seconds": 2.0,
            },
            "connectors": {"http": {"port": args.port}},
            "notify": {"webhooks": [{"url": receiver.url}]},
        }
        path = work / "lingting.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        env = {**os.environ, "LINGTING_CONFIG": str(path), "LINGTING_HTTP_TOKEN": token}
        procs = []
        try:
            for name, cmd in (("connect", ["connect", "http"]), ("worker", ["worker", "--loglevel", "warning"])):
                log = open(work / f"{name}.log", "wb")
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "pipeline.cli", *cmd], env=env, cwd=ROOT, stdout=log, stderr=log
                    )
                )
            wait_for_healthz(args.port, 60.0)
            pusher = Pusher(f"http://127.0.0.1:{args.port}/v1/posts", token)
            n = 0
            now = datetime.now(UTC)
            history = []
            t = now - timedelta(hours=3)
            while t < now - timedelta(minutes=6):  # 5 posts/min per brand
                for b in BRANDS:
                    n += 1
                    history.append(post(b, rnd.choice(CALM).format(b=b), t + timedelta(seconds=rnd.random() * 12), n))
                t += timedelta(seconds=12)
            pusher.push(sorted(history, key=lambda p: p["created_at"]))
            print(f"history: {len(history)} posts pushed ({work})", file=sys.stderr)

            def live_minute(crisis: bool) -> None:
                nonlocal n
                start = time.monotonic()
                for tick in range(12):  # every 5 s
                    batch = []
                    at = datetime.now(UTC)
                    for b in BRANDS:
                        n += 1
                        if rnd.random() < 5 / 12:
                            batch.append(post(b, rnd.choice(CALM).format(b=b), at, n))
                    if crisis:
                        for _ in range(5):
                            n += 1
                            batch.append(post("蜜雪冰城", COPIES[n % 3].format(b="蜜雪冰城"), at, n))
                            n += 1
                            batch.append(post("瑞幸咖啡", rnd.choice(VARIED).format(b="瑞幸咖啡", n=n), at, n))
                    pusher.push(batch)
                    time.sleep(max(0.0, start + 5 * (tick + 1) - time.monotonic()))

            for _ in range(int(args.calm_live_minutes)):
                live_minute(False)
            onset = time.time()
            onset_dt = datetime.now(UTC)
            print(f"crisis onset {onset_dt:%H:%M:%S} UTC", file=sys.stderr)
            # the crisis is pushed from a thread while this one stamps each webhook as it arrives
            crisis = threading.Thread(target=lambda: [live_minute(True) for _ in range(int(args.crisis_minutes))])
            crisis.start()
            seen: list[dict] = []
            while time.time() < onset + args.wait_seconds:
                try:
                    a = receiver.alerts.get(timeout=1)
                    a["_received"] = time.time()
                    seen.append(a)
                except Exception:
                    pass
            crisis.join()
            while not receiver.alerts.empty():
                a = receiver.alerts.get()
                a["_received"] = time.time()
                seen.append(a)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
    result = {"onset": onset_dt.isoformat(), "brands": {}}
    for b in BRANDS:
        alerts = [a for a in seen if a.get("brand") == b]
        opens = [a for a in alerts if a.get("status") == "open"]
        first = opens[0]["_received"] - onset if opens else None
        result["brands"][b] = {
            "alerts": [
                (a.get("status"), a.get("severity"), a.get("observed"), a.get("coordination", {}).get("suspected"))
                for a in alerts
            ],
            "seconds_to_open": round(first, 1) if first is not None else None,
        }
    print(f"{'brand':<10}{'crisis':<24}{'first open after onset':>24}  alerts")
    kinds = {"蜜雪冰城": "pasted by many accounts", "瑞幸咖啡": "varied texts", "喜茶": "none (calm)"}
    for b, r in result["brands"].items():
        s = r["seconds_to_open"]
        print(f"{b:<10}{kinds[b]:<24}{'-' if s is None else f'{s} s':>24}  {r['alerts']}")
    out = ROOT / "bench" / "results" / "live.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}; logs in {work}")


if __name__ == "__main__":
    main()
