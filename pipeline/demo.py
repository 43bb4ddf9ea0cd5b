"""``lingting demo``: the whole pipeline once, on the local stack, with a crisis in a bundled synthetic stream.

The alert reaches the demo the way it reaches a crisis manager: through the real notifier, on a local webhook
receiver that this process serves.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "deploy" / "demo"


class AlertReceiver:
    """A real HTTP server on 127.0.0.1 that collects webhook alert bodies (also used by the tests)."""

    def __init__(self) -> None:
        self.alerts: queue.Queue[dict] = queue.Queue()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((dict(self.headers), body))
                try:
                    outer.alerts.put(json.loads(body))
                except ValueError:
                    pass
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, *args) -> None:  # keep the demo's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "AlertReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def format_alert(alert: dict) -> str:
    """A console rendering of an alert for the demo, in Chinese."""
    status = {"open": "新危机", "update": "危机升级/持续", "resolved": "已恢复正常"}.get(alert["status"], alert["status"])
    sev = {"low": "低", "medium": "中", "high": "高", "critical": "严重"}.get(alert["severity"], alert["severity"])
    lines = [
        f"【{status}】{alert['brand']}  严重程度：{sev}  (id {alert['id']}, 序号 {alert.get('sequence', 0)})",
        f"  窗口 {alert['window_start']} → {alert['window_end']}",
        f"  负面提及 {alert['observed']:.0f}，基线预期 {alert['expected']:.1f}，负面占比 "
        f"{alert.get('negative_share', 0):.0%}，异常分数 {alert['score']:.2f}",
    ]
    if alert.get("top_terms"):
        lines.append("  上升词：" + "、".join(t["term"] for t in alert["top_terms"][:8]))
    if alert.get("top_authors"):
        lines.append("  主要传播者：" + "；".join(
            f"{a.get('name') or a.get('id')}（粉丝 {a.get('followers', 0):,}）" for a in alert["top_authors"][:3]))
    for post in alert.get("sample_posts", [])[:3]:
        lines.append(f"  · {post['text'][:60]}  {post.get('url') or ''}")
    if alert.get("coordination", {}).get("suspected"):
        lines.append(f"  ⚠ 疑似水军：{alert['coordination'].get('reason', '')}")
    return "\n".join(lines)


def query_help(es_url: str, prefix: str, brand: str) -> str:
    return f"""
在 Elasticsearch 中查询 / query it in Elasticsearch:
  curl -s '{es_url}/{prefix}-alerts/_search?pretty&sort=updated_at:desc&size=3'
  curl -s '{es_url}/{prefix}-posts/_search?pretty&size=3' -H 'Content-Type: application/json' \\
       -d '{{"query":{{"bool":{{"filter":[{{"term":{{"brands":"{brand}"}}}},{{"term":{{"sentiment.label":"negative"}}}}]}}}}}}'
  # share of voice and sentiment per brand:
  curl -s '{es_url}/{prefix}-posts/_search?pretty&size=0' -H 'Content-Type: application/json' \\
       -d '{{"aggs":{{"brands":{{"terms":{{"field":"brands"}},"aggs":{{"sentiment":{{"terms":{{"field":"sentiment.label"}}}}}}}}}}}}'
The stack keeps running for your queries; stop it with: lingting stack down"""


def run_demo(config_path: Path | None, timeout: float = 170.0) -> int:
    from pipeline.settings import external_services_configured, settings_from_dict

    started = time.monotonic()
    config_path = Path(config_path or DEMO_DIR / "lingting.yaml")
    scenario = DEMO_DIR / "scenario.yaml"
    data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    if not external_services_configured():
        from pipeline import stack

        print("启动本地 Kafka + Elasticsearch / starting the local stack (first run: Maven downloads the jars)…",
              flush=True)
        stack.up()
        print(f"  stack ready after {time.monotonic() - started:.1f} s", flush=True)
        data.setdefault("kafka", {})["bootstrap"] = f"127.0.0.1:{stack.default_kafka_port()}"
        data.setdefault("elasticsearch", {})["url"] = f"http://127.0.0.1:{stack.default_es_port()}"

    run_id = time.strftime("%Y%m%d%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"lingting-demo-{run_id}-"))
    with AlertReceiver() as receiver:
        # Fresh topics and consumer group per run (the replay's event times are new each time); the
        # Elasticsearch indices are the usual ones so the queries below work as in production.
        data.setdefault("kafka", {})["topic_prefix"] = f"lingting.demo-{run_id}"
        data.setdefault("worker", {}).update({"app_id": f"lingting-demo-{run_id}",
                                              "data_dir": str(workdir / "worker"), "web_port": 0,
                                              "tick_seconds": 2.0})
        notify = data.setdefault("notify", {}) or {}
        data["notify"] = notify
        notify.setdefault("webhooks", []).append({"url": receiver.url})
        settings = settings_from_dict(data, str(config_path))
        merged = workdir / "lingting.yaml"
        merged.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

        env = {**os.environ, "LINGTING_CONFIG": str(merged),
               "LINGTING_KAFKA": settings.kafka.bootstrap, "LINGTING_ES": settings.elasticsearch.url}
        worker_log = workdir / "worker.log"
        from pipeline.topics import ensure_topics

        ensure_topics(settings)
        print(f"启动 worker / starting a worker (log: {worker_log})", flush=True)
        with open(worker_log, "wb") as log_file:
            worker = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", "warning"],
                                      env=env, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            print(f"回放合成数据流 / replaying the bundled synthetic stream ({scenario.name})…", flush=True)
            subprocess.run([sys.executable, "-m", "pipeline.cli", "connect", "synthetic",
                            "--scenario", str(scenario), "--speed", "max", "--seed", "7"],
                           env=env, check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)
            print(f"  replayed after {time.monotonic() - started:.1f} s; waiting for alerts…", flush=True)
            got = _print_alerts(receiver, worker, started=started, deadline=started + timeout)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    if not got:
        print(f"没有收到告警 / no alert within {timeout:.0f} s — see the worker log {worker_log}", file=sys.stderr)
        return 1
    brand = got[0]["brand"]
    print(f"\n首个告警用时 / first alert {got[0]['_seconds']:.1f} s after start (stack start included)")
    print(query_help(settings.elasticsearch.url, settings.elasticsearch.index_prefix, brand))
    from pipeline.web.launch import serve_in_background

    print(serve_in_background(merged, env, workdir, port=settings.api.port), flush=True)
    return 0


def _print_alerts(receiver: AlertReceiver, worker: subprocess.Popen, started: float, deadline: float) -> list[dict]:
    got: list[dict] = []
    quiet_until = None
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            print(f"worker exited with code {worker.returncode}", file=sys.stderr)
            break
        try:
            alert = receiver.alerts.get(timeout=0.5)
        except queue.Empty:
            if quiet_until and time.monotonic() > quiet_until:
                break
            continue
        alert["_seconds"] = time.monotonic() - started
        got.append(alert)
        print("\n" + format_alert(alert), flush=True)
        # after the first alert, collect the crisis' updates for a few more seconds
        quiet_until = time.monotonic() + 8.0
    return got
