"""Fault scenarios on the real local stack, shared by the short tests (tests/faults/) and the full runs
(bench/faults.py): a worker process on an isolated config, posts produced onto the raw topic, one fault, and
the count of what reached Elasticsearch.

A scenario returns a :class:`Outcome`: lost (sent, never indexed), duplicated (more hits than unique ids under the
alias), dead letters by stage, whether the worker survived, and the catch-up time from the end of the fault to
the last post indexed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline import stack

ROOT = Path(__file__).resolve().parents[2]
BRANDS = [{"name": "海底捞", "keywords": ["海底捞"]}]


@dataclass
class Outcome:
    scenario: str
    sent: int
    indexed: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    worker_alive: bool = True
    catch_up_seconds: float | None = None
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Run:
    """One isolated pipeline (topics, indices, consumer group) and its worker processes."""

    def __init__(self, kafka: str, es_url: str, workdir: Path, partitions: int = 3) -> None:
        self.prefix = f"f{uuid.uuid4().hex[:10]}"
        self.kafka, self.es_url, self.workdir = kafka, es_url, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = {
            "kafka": {"bootstrap": kafka, "topic_prefix": self.prefix, "partitions": partitions},
            "elasticsearch": {"url": es_url, "index_prefix": self.prefix, "flush_seconds": 0.2},
            "brands": BRANDS,
            "worker": {"app_id": f"{self.prefix}-worker", "data_dir": str(workdir / "worker"), "web_port": 0,
                       "tick_seconds": 0.5},
        }
        self.config_path = workdir / "lingting.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config, allow_unicode=True), encoding="utf-8")
        from pipeline.settings import load_settings
        from pipeline.topics import ensure_topics

        self.settings = load_settings(self.config_path)
        ensure_topics(self.settings)
        self.workers: list[subprocess.Popen] = []
        self._producer: Any = None
        self.sent_ids: list[str] = []

    # --- the worker
    def start_worker(self, name: str = "w0") -> subprocess.Popen:
        env = {**os.environ, "LINGTING_CONFIG": str(self.config_path)}
        env.pop("LINGTING_KAFKA", None)
        env.pop("LINGTING_ES", None)
        # each worker its own state dir, as two workers on one machine need
        data = {**self.config, "worker": {**self.config["worker"], "data_dir": str(self.workdir / name)}}
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        env["LINGTING_CONFIG"] = str(path)
        with open(self.workdir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", "info"],
                                    env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._producer is not None:
            self._producer.close()

    def log_tail(self, name: str = "w0", chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # --- producing
    def producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(bootstrap_servers=self.kafka, acks="all", linger_ms=5,
                                           max_request_size=4 << 20, retries=2**31 - 1,
                                           delivery_timeout_ms=300_000, request_timeout_ms=30_000)
        return self._producer

    def send_posts(self, count: int, tag: str = "p") -> list[str]:
        now = datetime.now(timezone.utc)
        ids = []
        for i in range(count):
            pid = f"{tag}{len(self.sent_ids) + i}"
            post = {"platform": "weibo", "id": pid, "created_at": (now - timedelta(seconds=count - i)).isoformat(),
                    "text": f"海底捞 的服务 第{i}条 太慢了😡 [怒] #海底捞# //@顾客{i % 7}: 服務還行"}
            self.producer().send(self.settings.kafka.raw_topic, key=f"weibo:{pid}".encode(),
                                 value=json.dumps(post, ensure_ascii=False).encode())
            ids.append(f"weibo:{pid}")
        self.producer().flush(timeout=300)
        self.sent_ids.extend(ids)
        return ids

    def send_raw(self, key: bytes | None, value: bytes | None) -> None:
        # .get(): a message the broker refuses is the test's error, not a loss of the worker's
        self.producer().send(self.settings.kafka.raw_topic, key=key, value=value).get(timeout=120)

    # --- counting
    def es(self) -> Any:
        from elasticsearch import Elasticsearch

        return Elasticsearch(self.es_url, request_timeout=30)

    def indexed_ids(self) -> list[str]:
        """Every hit's id under the posts alias (a duplicate would appear twice: one per concrete index)."""
        client = self.es()
        alias = self.settings.elasticsearch.posts_alias
        try:
            if not client.indices.exists_alias(name=alias):
                return []
            client.indices.refresh(index=alias)
            ids, resp = [], client.search(index=alias, size=5000, scroll="1m", source=False,
                                          query={"match_all": {}})
            while resp["hits"]["hits"]:
                ids.extend(h["_id"] for h in resp["hits"]["hits"])
                resp = client.scroll(scroll_id=resp["_scroll_id"], scroll="1m")
            return ids
        finally:
            client.close()

    def dead_letters(self, expect: int = 0, timeout: float = 20) -> list[dict]:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(self.settings.kafka.deadletter_topic, bootstrap_servers=self.kafka,
                                 auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=2000)
        out: list[dict] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                out.extend(json.loads(r.value) for r in consumer)
                if len(out) >= expect:
                    break
        finally:
            consumer.close()
        return out

    def wait_indexed(self, timeout: float, since: float | None = None) -> float | None:
        """Seconds from ``since`` (monotonic) until every sent id is indexed; None on timeout."""
        start = since if since is not None else time.monotonic()
        wanted = set(self.sent_ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wanted <= set(self.indexed_ids()):
                return time.monotonic() - start
            time.sleep(1)
        return None

    def outcome(self, scenario: str, catch_up: float | None, expect_dead: int = 0, notes: str = "") -> Outcome:
        time.sleep(2)  # a duplicate written late would arrive now
        ids = self.indexed_ids()
        letters = self.dead_letters(expect_dead) if expect_dead else []
        stages: dict[str, int] = {}
        for letter in letters:
            stages[letter["stage"]] = stages.get(letter["stage"], 0) + 1
        return Outcome(scenario, sent=len(self.sent_ids), indexed=len(set(ids)),
                       lost=len(set(self.sent_ids) - set(ids)), duplicated=len(ids) - len(set(ids)),
                       dead_letters=stages, worker_alive=any(p.poll() is None for p in self.workers),
                       catch_up_seconds=catch_up, notes=notes)


def wait_consuming(run: Run, timeout: float = 120) -> None:
    """Until the worker indexes a first probe post (it has joined the group and Elasticsearch is ready)."""
    run.send_posts(1, tag="probe")
    if run.wait_indexed(timeout) is None:
        raise AssertionError(f"the worker indexed nothing within {timeout:.0f} s:\n{run.log_tail()}")


# ---------------------------------------------------------------------------------------------------------------
# scenarios: each takes a Run with one worker consuming, and the durations (short in tests, full in bench)
# ---------------------------------------------------------------------------------------------------------------

def es_hung(run: Run, posts: int, hang_seconds: float, catch_up_timeout: float = 180) -> Outcome:
    """Elasticsearch SIGSTOPped while posts arrive, then SIGCONT."""
    stack.pause(stack.ES)
    try:
        run.send_posts(posts)
        time.sleep(hang_seconds)
    finally:
        stack.resume(stack.ES)
    resumed = time.monotonic()
    return run.outcome("elasticsearch hung (SIGSTOP)", run.wait_indexed(catch_up_timeout, since=resumed),
                       notes=f"{hang_seconds:.0f} s hung")


def kafka_restarted(run: Run, posts: int, catch_up_timeout: float = 180) -> Outcome:
    """The broker stopped and started again between two halves of the stream."""
    run.send_posts(posts // 2)
    started = time.monotonic()
    stack.restart(stack.KAFKA)
    back = time.monotonic()
    run.send_posts(posts - posts // 2)
    return run.outcome("kafka broker restarted", run.wait_indexed(catch_up_timeout, since=back),
                       notes=f"restart took {back - started:.1f} s")


def worker_killed(run: Run, posts: int, catch_up_timeout: float = 180) -> Outcome:
    """SIGKILL of the only worker mid-stream, then a new worker."""
    run.send_posts(posts)
    time.sleep(1.0)
    run.workers[0].kill()
    run.workers[0].wait()
    restarted = time.monotonic()
    run.start_worker("w1")
    return run.outcome("worker SIGKILLed mid-stream", run.wait_indexed(catch_up_timeout, since=restarted))


#: Messages no producer should write, each with what the worker must do: dead-letter it with a reason.
HOSTILE: list[tuple[str, bytes | None, bytes | None]] = [
    ("not JSON", b"weibo:h1", "这不是 JSON".encode()),
    ("invalid UTF-8", b"weibo:h2", b"\xff\xfe\x00\x80garbage"),
    ("a JSON array", b"weibo:h3", b'[1, 2, 3]'),
    ("id as an object", b"weibo:h4",
     json.dumps({"platform": "weibo", "id": {"x": 1}, "text": "海底捞", "created_at": "2026-01-01T00:00:00+08:00"}).encode()),
    ("created_at in words", b"weibo:h5",
     json.dumps({"platform": "weibo", "id": "h5", "text": "海底捞", "created_at": "昨天"}, ensure_ascii=False).encode()),
    ("missing text", b"weibo:h6", json.dumps({"platform": "weibo", "id": "h6", "created_at": "2026-01-01T00:00:00Z"}).encode()),
    ("10,000-deep JSON", b"weibo:h7", b"[" * 10_000 + b"]" * 10_000),
    ("NUL bytes", b"weibo:h8", b'{"platform": "weibo", "id": "h8", "text": "\x00\x00", "created_at": "\x00"}'),
    ("platform with a space", b"not platform:id",
     json.dumps({"platform": "wei bo", "id": "h9", "text": "海底捞", "created_at": "2026-01-01T00:00:00Z"}).encode()),
]


def hostile_input(run: Run, valid_posts: int, timeout: float = 120) -> Outcome:
    """The hostile messages between valid posts; the valid ones indexed, each hostile one dead-lettered."""
    run.send_posts(valid_posts // 2)
    for _, key, value in HOSTILE:
        run.send_raw(key, value)
    run.send_posts(valid_posts - valid_posts // 2)
    # 200 KB of valid Chinese text is a valid post: indexed, not dead-lettered
    now = datetime.now(timezone.utc).isoformat()
    long_post = {"platform": "weibo", "id": "long200k", "created_at": now, "text": "海底捞太慢了。" * 29_000}
    run.send_raw(b"weibo:long200k", json.dumps(long_post, ensure_ascii=False).encode())
    run.sent_ids.append("weibo:long200k")
    started = time.monotonic()
    return run.outcome("hostile input", run.wait_indexed(timeout, since=started), expect_dead=len(HOSTILE),
                       notes=f"{len(HOSTILE)} hostile kinds + a 200 KB post")


def one_mb_post(run: Run, timeout: float = 120) -> Outcome:
    """A valid post just under the broker's 1 MiB message limit (its enriched record is larger): indexed
    (truncated) or dead-lettered, never lost."""
    now = datetime.now(timezone.utc).isoformat()
    post = {"platform": "weibo", "id": "big1mb", "created_at": now, "text": "海底捞" * 115_000}
    run.send_raw(b"weibo:big1mb", json.dumps(post, ensure_ascii=False).encode())
    started = time.monotonic()
    indexed: float | None = None
    deadline = time.monotonic() + timeout
    letters: list[dict] = []
    while time.monotonic() < deadline:
        if "weibo:big1mb" in run.indexed_ids():
            indexed = time.monotonic() - started
            break
        letters = [x for x in run.dead_letters(1, timeout=3) if x.get("key") == "weibo:big1mb"]
        if letters:
            break
    out = run.outcome("a valid 1 MB post", indexed)
    out.sent += 1
    out.indexed += 1 if indexed is not None else 0
    out.dead_letters = {x["stage"]: 1 for x in letters}
    out.lost = 0 if (indexed is not None or letters) else 1
    return out


Scenario = Callable[..., Outcome]
