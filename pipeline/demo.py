"""``lingting demo``: the whole pipeline once, on the local stack, with a crisis in a bundled synthetic stream.

The alert reaches the demo the way it reaches a crisis manager: through the real notifier, on a local webhook
receiver that this process serves.

The demo is a guest on whatever Kafka and Elasticsearch it runs on (``LINGTING_KAFKA``/``LINGTING_ES`` may name
production): everything it writes is under its own names, ``lingting-demo-*`` indices and ``lingting-demo.*`` /
``lingting-demo-*`` topics and consumer groups, so it can never overwrite a user's posts or add a fake crisis to
their alerts. It says at the end what it created; ``lingting demo --clean`` deletes exactly that.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from pipeline.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO_ROOT / "deploy" / "demo"
#: The demo's Elasticsearch index prefix, and the start of its Kafka topic prefix and consumer group.
DEMO_PREFIX = "lingting-demo"


class AlertReceiver:
    """A real HTTP server on 127.0.0.1 that collects webhook alert bodies (also used by the tests)."""

    def __init__(self) -> None:
        self.alerts: queue.Queue[dict] = queue.Queue()
        self.requests: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
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

    def __enter__(self) -> AlertReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def format_alert(alert: dict) -> str:
    """A console rendering of an alert for the demo, in Chinese."""
    status = {"open": "新危机", "update": "危机升级/持续", "resolved": "已恢复正常"}.get(
        alert["status"], alert["status"]
    )
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
        lines.append(
            "  主要传播者："
            + "；".join(
                f"{a.get('name') or a.get('id')}（粉丝 {a.get('followers', 0):,}）" for a in alert["top_authors"][:3]
            )
        )
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
"""


def created_summary(settings: Settings, started_stack: bool) -> str:
    """What the demo left behind and how to delete it (and, when it started the stack, how to stop that)."""
    from elasticsearch import Elasticsearch

    e, k = settings.elasticsearch, settings.kafka
    es = Elasticsearch(e.url, basic_auth=e.basic_auth, request_timeout=30)
    try:
        counts = {
            alias: es.count(index=alias, ignore_unavailable=True)["count"]
            for alias in (e.posts_alias, e.alerts_alias, e.deliveries_alias)
        }
    finally:
        es.close()
    lines = [
        "演示写入的数据 / what the demo created (only under its own names; nothing else was touched):",
        f"  Elasticsearch {e.url}: " + ", ".join(f"{alias} ({n} docs)" for alias, n in counts.items()),
        f"  Kafka {k.bootstrap}: topics {k.topic_prefix}.* and {settings.worker.app_id}-*, "
        f"consumer group {settings.worker.app_id}",
        "删除 / delete all demo data (every run's): lingting demo --clean",
    ]
    if started_stack:
        lines.append(
            "The demo started the local stack and leaves it running for your queries; stop it with: lingting stack down"
        )
    return "\n".join(lines)


def clean(settings: Settings) -> list[str]:
    """Delete every demo run's indices, index templates, topics and consumer groups on the configured
    Kafka and Elasticsearch; return what was deleted. Names outside the demo's are never touched."""
    from elasticsearch import Elasticsearch
    from kafka.admin import KafkaAdminClient

    deleted: list[str] = []
    e = settings.elasticsearch
    es = Elasticsearch(e.url, basic_auth=e.basic_auth, request_timeout=60)
    try:
        # by exact name: Elasticsearch refuses wildcard deletes by default (action.destructive_requires_name)
        indices = sorted(es.indices.get(index=f"{DEMO_PREFIX}-*", expand_wildcards="all"))
        if indices:
            es.indices.delete(index=",".join(indices))
            deleted += [f"index {name}" for name in indices]
        templates = es.indices.get_index_template(name=f"{DEMO_PREFIX}-*", ignore=404).get("index_templates", [])
        for template in templates:
            es.indices.delete_index_template(name=template["name"])
            deleted.append(f"index template {template['name']}")
    finally:
        es.close()
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers, client_id="lingting-demo-clean")
    try:
        topics = sorted(t for t in admin.list_topics() if _is_demo_name(t))
        if topics:
            admin.delete_topics(topics)
            deleted += [f"topic {t}" for t in topics]
        groups = sorted(g["group_id"] for g in admin.list_groups() if _is_demo_name(g["group_id"]))
        if groups:
            admin.delete_groups(groups)
            deleted += [f"consumer group {g}" for g in groups]
    finally:
        admin.close()
    return deleted


def _is_demo_name(name: str) -> bool:
    return name.startswith((f"{DEMO_PREFIX}.", f"{DEMO_PREFIX}-"))


def demo_settings(config_path: Path | None) -> Settings:
    """The settings ``lingting demo --clean`` works on: the demo config with the user's addresses."""
    from pipeline.settings import settings_from_dict

    config_path = Path(config_path or DEMO_DIR / "lingting.yaml")
    data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    from pipeline.settings import external_services_configured

    if not external_services_configured():
        from pipeline import stack

        data.setdefault("kafka", {})["bootstrap"] = f"127.0.0.1:{stack.default_kafka_port()}"
        data.setdefault("elasticsearch", {})["url"] = f"http://127.0.0.1:{stack.default_es_port()}"
    data.setdefault("elasticsearch", {})["index_prefix"] = DEMO_PREFIX
    return settings_from_dict(data, str(config_path))


def run_demo(config_path: Path | None, timeout: float = 170.0) -> int:
    from pipeline import cli
    from pipeline.settings import external_services_configured, settings_from_dict

    started = time.monotonic()
    config_path = Path(config_path or DEMO_DIR / "lingting.yaml")
    scenario = DEMO_DIR / "scenario.yaml"
    data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    started_stack = False
    if not external_services_configured():
        from pipeline import stack

        print(
            "启动本地 Kafka + Elasticsearch / starting the local stack (first run: Maven downloads the jars)…",
            flush=True,
        )
        started_stack = not stack.up().already_running
        print(f"  stack ready after {time.monotonic() - started:.1f} s", flush=True)
        data.setdefault("kafka", {})["bootstrap"] = f"127.0.0.1:{stack.default_kafka_port()}"
        data.setdefault("elasticsearch", {})["url"] = f"http://127.0.0.1:{stack.default_es_port()}"

    run_id = time.strftime("%Y%m%d%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"lingting-demo-{run_id}-"))
    with AlertReceiver() as receiver:
        # Fresh topics and consumer group per run (the replay's event times are new each time); one index
        # prefix for every run, so the queries below and --clean know the names. Never the user's names.
        data.setdefault("kafka", {})["topic_prefix"] = f"{DEMO_PREFIX}.{run_id}"
        data.setdefault("elasticsearch", {})["index_prefix"] = DEMO_PREFIX
        data.setdefault("worker", {}).update(
            {
                "app_id": f"{DEMO_PREFIX}-{run_id}",
                "data_dir": str(workdir / "worker"),
                "web_port": 0,
                "tick_seconds": 2.0,
            }
        )
        notify = data.setdefault("notify", {}) or {}
        data["notify"] = notify
        notify.setdefault("webhooks", []).append({"url": receiver.url})
        settings = settings_from_dict(data, str(config_path))
        merged = workdir / "lingting.yaml"
        merged.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

        env = {
            **os.environ,
            "LINGTING_CONFIG": str(merged),
            "LINGTING_KAFKA": settings.kafka.bootstrap,
            "LINGTING_ES": settings.elasticsearch.url,
        }
        worker_log = workdir / "worker.log"
        from pipeline.topics import ensure_topics

        ensure_topics(settings)
        print(f"启动 worker / starting a worker (log: {worker_log})", flush=True)
        worker = cli.spawn(["worker", "--loglevel", "warning"], worker_log, env)
        try:
            print(f"回放合成数据流 / replaying the bundled synthetic stream ({scenario.name})…", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pipeline.cli",
                    "connect",
                    "synthetic",
                    "--scenario",
                    str(scenario),
                    "--speed",
                    "max",
                    "--seed",
                    "7",
                    "--checkpoint",
                    str(workdir / "synthetic.checkpoint.json"),
                ],
                env=env,
                check=True,
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
            )
            print(f"  replayed after {time.monotonic() - started:.1f} s; waiting for alerts…", flush=True)
            got = _print_alerts(receiver, worker, started=started, deadline=started + timeout)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    if not got:
        print(
            f"没有收到告警 / no alert within {timeout:.0f} s — see the worker log {worker_log} (kept, with the "
            f"worker's state, in {workdir})",
            file=sys.stderr,
        )
        print(created_summary(settings, started_stack))
        return 1
    from pipeline.web.launch import serve_in_background

    # the command center outlives the demo: its config and log get a directory of their own
    webdir = Path(tempfile.mkdtemp(prefix="lingting-web-"))
    shutil.copy(merged, webdir / "lingting.yaml")
    shutil.rmtree(workdir, ignore_errors=True)  # the worker's state and log: a finished demo needs neither
    brand = got[0]["brand"]
    print(f"\n首个告警用时 / first alert {got[0]['_seconds']:.1f} s after start (stack start included)")
    print(query_help(settings.elasticsearch.url, settings.elasticsearch.index_prefix, brand))
    print(created_summary(settings, started_stack))
    print(serve_in_background(webdir / "lingting.yaml", env, webdir, port=settings.api.port), flush=True)
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
