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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from pipeline import stack
from tests.integration.test_end_to_end import stop as stop_process
from tests.integration.test_end_to_end import wait_for as wait_until

ROOT = Path(__file__).resolve().parents[2]
BRANDS = [{"name": "海底捞", "keywords": ["海底捞"]}]
#: the brands of tests/integration/crisis_stream.py, for the scenarios that need a crisis
CRISIS_BRANDS = [
    {"name": "海底捞", "keywords": ["捞捞", "haidilao"]},
    {"name": "蜜雪冰城", "keywords": ["蜜雪"]},
    {"name": "小米", "keywords": ["xiaomi", "小米手机"], "exclude": ["小米粥", "小米椒"]},
]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    late_posts: int | None = None  # counted late by the detector (backlog scenario)
    alert_states: dict[str, int] = field(default_factory=dict)  # alert states delivered, by status
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Run:
    """One isolated pipeline (topics, indices, consumer group) and its worker processes."""

    def __init__(
        self, kafka: str, es_url: str, workdir: Path, partitions: int = 3, notify: dict[str, Any] | None = None
    ) -> None:
        self.prefix = f"f{uuid.uuid4().hex[:10]}"
        self.kafka, self.es_url, self.workdir = kafka, es_url, workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = {
            "kafka": {"bootstrap": kafka, "topic_prefix": self.prefix, "partitions": partitions},
            "elasticsearch": {"url": es_url, "index_prefix": self.prefix, "flush_seconds": 0.2},
            "brands": BRANDS,
            "worker": {
                "app_id": f"{self.prefix}-worker",
                "data_dir": str(workdir / "worker"),
                "web_port": 0,
                "tick_seconds": 0.5,
            },
        }
        if notify:
            self.config["notify"] = notify
            self.config["brands"] = CRISIS_BRANDS
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
    def start_worker(self, name: str = "w0", env_extra: dict[str, str] | None = None) -> subprocess.Popen:
        env = {**os.environ, "LINGTING_CONFIG": str(self.config_path), **(env_extra or {})}
        env.pop("LINGTING_KAFKA", None)
        env.pop("LINGTING_ES", None)
        # each worker its own state dir, as two workers on one machine need
        data = {
            **self.config,
            "worker": {**self.config["worker"], "data_dir": str(self.workdir / name), "web_port": _free_port()},
        }
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        env["LINGTING_CONFIG"] = str(path)
        with open(self.workdir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "worker", "--loglevel", "info"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.workers:
            stop_process(proc)
        if self._producer is not None:
            self._producer.close()

    def http(self, path: str, name: str = "w0") -> tuple[int, str]:
        """GET ``/healthz`` or ``/metrics`` of a worker, on the port its log says it bound; (0, why) if none."""
        import re
        import urllib.error
        import urllib.request

        bound = re.findall(r"health and metrics on http://127\.0\.0\.1:(\d+)/healthz", self.log_tail(name, 10**7))
        if not bound:
            return 0, "no health server in the log yet"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{bound[-1]}{path}", timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()
        except OSError as err:
            return 0, str(err)

    def metrics(self, name: str = "w0") -> dict[tuple[str, tuple], float]:
        """The worker's Prometheus samples: {(name, sorted label items): value}."""
        from prometheus_client.parser import text_string_to_metric_families

        status, text = self.http("/metrics", name)
        assert status == 200, (status, text)
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def log_tails(self, chars: int = 3000) -> str:
        """The end of every worker's log, each under its name: what a failed scenario prints."""
        return "\n".join(f"--- {p.stem}\n{self.log_tail(p.stem, chars)}" for p in sorted(self.workdir.glob("w*.log")))

    def log_tail(self, name: str = "w0", chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # --- producing
    def producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            self._producer = KafkaProducer(
                bootstrap_servers=self.kafka,
                acks="all",
                linger_ms=5,
                max_request_size=4 << 20,
                retries=2**31 - 1,
                delivery_timeout_ms=300_000,
                request_timeout_ms=30_000,
            )
        return self._producer

    def send_posts(self, count: int, tag: str = "p", span_seconds: float | None = None) -> list[str]:
        """``count`` posts of 海底捞 dated over the last ``span_seconds`` (default: one a second), oldest first."""
        now = datetime.now(UTC)
        step = (span_seconds or count) / count
        ids = []
        for i in range(count):
            pid = f"{tag}{len(self.sent_ids) + i}"
            created = now - timedelta(seconds=(count - i) * step)
            post = {
                "platform": "weibo",
                "id": pid,
                "created_at": created.isoformat(),
                "text": f"海底捞 的服务 第{i}条 太慢了😡 [怒] #海底捞# //@顾客{i % 7}: 服務還行",
            }
            self.producer().send(
                self.settings.kafka.raw_topic,
                key=f"weibo:{pid}".encode(),
                value=json.dumps(post, ensure_ascii=False).encode(),
            )
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
            ids, resp = [], client.search(index=alias, size=5000, scroll="1m", source=False, query={"match_all": {}})
            while resp["hits"]["hits"]:
                ids.extend(h["_id"] for h in resp["hits"]["hits"])
                resp = client.scroll(scroll_id=resp["_scroll_id"], scroll="1m")
            return ids
        finally:
            client.close()

    def dead_letters(self, expect: int = 0, timeout: float = 20) -> list[dict]:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            self.settings.kafka.deadletter_topic,
            bootstrap_servers=self.kafka,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=2000,
        )
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

    def where_lost(self, lost: set[str]) -> str:
        """Where lost posts sit in the raw topic, next to the group's committed offsets: a loss names its cause
        (never produced, skipped by a commit, or still unread) instead of only a count."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=self.kafka,
            group_id=self.settings.worker.app_id,
            enable_auto_commit=False,
            consumer_timeout_ms=3000,
        )
        try:
            topic = self.settings.kafka.raw_topic
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            consumer.assign(tps)
            consumer.seek_to_beginning()
            found: dict[int, list[int]] = {}
            for record in consumer:
                if record.key and record.key.decode(errors="replace") in lost:
                    found.setdefault(record.partition, []).append(record.offset)
            committed = {tp.partition: consumer.committed(tp) for tp in tps}
        finally:
            consumer.close()
        spans = {p: f"{min(o)}..{max(o)} ({len(o)})" for p, o in sorted(found.items())}
        absent = len(lost) - sum(len(o) for o in found.values())
        return f"lost at offsets {spans}, committed {committed}, {absent} never in the topic"

    def outcome(self, scenario: str, catch_up: float | None, expect_dead: int = 0, notes: str = "") -> Outcome:
        time.sleep(2)  # a duplicate written late would arrive now
        ids = self.indexed_ids()
        lost = set(self.sent_ids) - set(ids)
        if lost:
            notes = "; ".join(filter(None, [notes, self.where_lost(lost)]))
        letters = self.dead_letters(expect_dead) if expect_dead else []
        stages: dict[str, int] = {}
        for letter in letters:
            stages[letter["stage"]] = stages.get(letter["stage"], 0) + 1
        return Outcome(
            scenario,
            sent=len(self.sent_ids),
            indexed=len(set(ids)),
            lost=len(lost),
            duplicated=len(ids) - len(set(ids)),
            dead_letters=stages,
            worker_alive=any(p.poll() is None for p in self.workers),
            catch_up_seconds=catch_up,
            notes=notes,
        )


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
    return run.outcome(
        "elasticsearch hung (SIGSTOP)",
        run.wait_indexed(catch_up_timeout, since=resumed),
        notes=f"{hang_seconds:.0f} s hung",
    )


def kafka_restarted(run: Run, posts: int, catch_up_timeout: float = 180) -> Outcome:
    """The broker stopped and started again between two halves of the stream."""
    run.send_posts(posts // 2)
    started = time.monotonic()
    stack.restart(stack.KAFKA)
    back = time.monotonic()
    run.send_posts(posts - posts // 2)
    return run.outcome(
        "kafka broker restarted",
        run.wait_indexed(catch_up_timeout, since=back),
        notes=f"restart took {back - started:.1f} s",
    )


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
    ("a JSON array", b"weibo:h3", b"[1, 2, 3]"),
    (
        "id as an object",
        b"weibo:h4",
        json.dumps(
            {"platform": "weibo", "id": {"x": 1}, "text": "海底捞", "created_at": "2026-01-01T00:00:00+08:00"}
        ).encode(),
    ),
    (
        "created_at in words",
        b"weibo:h5",
        json.dumps(
            {"platform": "weibo", "id": "h5", "text": "海底捞", "created_at": "昨天"}, ensure_ascii=False
        ).encode(),
    ),
    (
        "missing text",
        b"weibo:h6",
        json.dumps({"platform": "weibo", "id": "h6", "created_at": "2026-01-01T00:00:00Z"}).encode(),
    ),
    ("10,000-deep JSON", b"weibo:h7", b"[" * 10_000 + b"]" * 10_000),
    ("NUL bytes", b"weibo:h8", b'{"platform": "weibo", "id": "h8", "text": "\x00\x00", "created_at": "\x00"}'),
    (
        "platform with a space",
        b"not platform:id",
        json.dumps({"platform": "wei bo", "id": "h9", "text": "海底捞", "created_at": "2026-01-01T00:00:00Z"}).encode(),
    ),
]


def hostile_input(run: Run, valid_posts: int, timeout: float = 120) -> Outcome:
    """The hostile messages between valid posts; the valid ones indexed, each hostile one dead-lettered."""
    run.send_posts(valid_posts // 2)
    for _, key, value in HOSTILE:
        run.send_raw(key, value)
    run.send_posts(valid_posts - valid_posts // 2)
    # 200 KB of valid Chinese text is a valid post: indexed, not dead-lettered
    now = datetime.now(UTC).isoformat()
    long_post = {"platform": "weibo", "id": "long200k", "created_at": now, "text": "海底捞太慢了。" * 29_000}
    run.send_raw(b"weibo:long200k", json.dumps(long_post, ensure_ascii=False).encode())
    run.sent_ids.append("weibo:long200k")
    started = time.monotonic()
    return run.outcome(
        "hostile input",
        run.wait_indexed(timeout, since=started),
        expect_dead=len(HOSTILE),
        notes=f"{len(HOSTILE)} hostile kinds + a 200 KB post",
    )


def one_mb_post(run: Run, timeout: float = 120) -> Outcome:
    """A valid post just under the broker's 1 MiB message limit (its enriched record is larger): indexed
    (truncated) or dead-lettered, never lost."""
    now = datetime.now(UTC).isoformat()
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


# ---------------------------------------------------------------------------------------------------------------
# helpers of the scenarios below
# ---------------------------------------------------------------------------------------------------------------


def group_members(run: Run) -> int:
    """Members of the worker's consumer group once it is stable (0 while it rebalances or before anyone joined)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=run.kafka)
    try:
        group = run.settings.worker.app_id
        described = admin.describe_groups([group])[group]
        return len(described["members"]) if described["group_state"] == "Stable" else 0
    except (KafkaError, KeyError):  # no coordinator yet: nobody has joined
        return 0
    finally:
        admin.close()


def read_topic(run: Run, topic: str, timeout: float = 30.0) -> list[Any]:
    """Every record of a topic up to its end as of now (kafka-python records: key, value, partition, offset);
    a topic that keeps growing (the watermarks of live mode) is read to where it was when the call began."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=run.kafka, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not parts:
            return []
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                out.extend(r for r in records if r.offset < ends[tp])
        return out
    finally:
        consumer.close()


def monitor_states(run: Run) -> dict[str, dict]:
    """Each brand's last persisted table value (``offset`` and ``monitor`` state), from the changelog topic."""
    topic = f"{run.settings.worker.app_id}-brand-monitors-changelog"
    states: dict[str, dict] = {}
    for record in read_topic(run, topic):
        if record.value:
            states[json.loads(record.key)] = json.loads(record.value)  # Faust writes table keys as JSON
    return states


# ---------------------------------------------------------------------------------------------------------------
# scenarios of the outages issue 14 lists beyond the first five
# ---------------------------------------------------------------------------------------------------------------


def es_stopped(run: Run, posts: int, down_seconds: float, catch_up_timeout: float = 300) -> Outcome:
    """Elasticsearch's process stopped (gone, port closed) while posts arrive, started again after
    ``down_seconds``: the worker holds its batch, acknowledges nothing, and writes all of it when the node is back."""
    run.send_posts(posts // 2)
    time.sleep(1.0)  # the worker is mid-stream when the node goes
    stack.stop_service(stack.ES)
    stopped = time.monotonic()
    try:
        run.send_posts(posts - posts // 2)
        health = (0, "")
        while time.monotonic() - stopped < down_seconds:
            if health[0] != 503:
                health = run.http("/healthz")
            time.sleep(1.0)
        alive_during = all(p.poll() is None for p in run.workers)
    finally:
        stack.up()  # returns once the node answers again
    back = time.monotonic()
    out = run.outcome(
        "elasticsearch stopped, then started",
        run.wait_indexed(catch_up_timeout, since=back),
        notes=f"{back - stopped:.0f} s without Elasticsearch (start took "
        f"{back - stopped - down_seconds:.0f} s); worker alive meanwhile: {alive_during}; "
        f"/healthz meanwhile: {health[0]} {health[1].strip()}",
    )
    out.worker_alive = out.worker_alive and alive_during
    return out


def one_of_two_workers_killed(run: Run, posts: int, catch_up_timeout: float = 240) -> Outcome:
    """Two workers share the partitions; one is SIGKILLed mid-stream and the other takes its partitions over.
    The takeover time is from the kill to the last post indexed (the posts of the dead worker's partitions wait
    for the group to notice it: the session timeout)."""
    run.start_worker("w1")
    wait_until(lambda: group_members(run) == 2, 180, "both workers in the consumer group")
    run.send_posts(posts)
    time.sleep(1.0)
    victim = run.workers[0]
    victim.kill()
    victim.wait()
    killed = time.monotonic()
    more = max(1, posts // 10)
    run.send_posts(more, tag="after")  # and posts keep coming to every partition
    takeover = run.wait_indexed(catch_up_timeout, since=killed)
    out = run.outcome(
        "one of two workers SIGKILLed",
        takeover,
        notes=f"{posts} posts before and {more} after the kill; takeover (kill → all indexed) "
        f"{'-' if takeover is None else f'{takeover:.1f} s'}",
    )
    out.worker_alive = run.workers[1].poll() is None
    return out


def backlog_replayed(run: Run, posts: int, span_hours: float = 6.0, timeout: float = 300) -> Outcome:
    """A backlog of one brand (``span_hours`` of posts, keyed ``platform:id`` so it spreads over every raw
    partition) written while the worker is down, then read by a new worker: the partitions advance at different
    speeds, so the brand's posts reach the detector out of event-time order. None may be counted late."""
    run.workers[0].terminate()
    run.workers[0].wait(timeout=30)
    run.send_posts(posts, tag="backlog", span_seconds=span_hours * 3600)
    started = time.monotonic()
    run.start_worker("w1")
    indexed = run.wait_indexed(timeout, since=started)

    # the brand's state is persisted every few seconds: wait for the one that includes its last post
    def last_post_offset() -> int | None:
        offsets = [
            r.offset
            for r in read_topic(run, run.settings.kafka.enriched_topic)
            if r.key == "海底捞".encode() and b'"kind":"watermark"' not in r.value
        ]
        return max(offsets) if len(offsets) >= posts else None

    last = wait_until(last_post_offset, 60, "every backlog post in the enriched topic", interval=2.0)

    def saved_with_last() -> dict | None:
        value = monitor_states(run).get("海底捞")
        return value if value and value["offset"] >= last else None

    state = wait_until(saved_with_last, 60, "the brand's state to include the whole backlog", interval=2.0)["monitor"]
    out = run.outcome(
        "backlog replayed over 3 partitions",
        indexed,
        notes=f"{posts} posts over {span_hours:.0f} h; late {state.get('late_posts', 0)}, "
        f"duplicates {state.get('duplicate_posts', 0)}, replaying={state.get('replaying')}",
    )
    out.late_posts = state.get("late_posts", 0)
    return out


class FlakyWebhook:
    """A real webhook receiver on 127.0.0.1 that can be down: ``refuse()`` closes its port (connection refused),
    ``fail()`` answers 503, ``serve()`` accepts (200) and records each body. The port stays the same throughout."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/alerts"
        self.accepted: list[dict] = []  # bodies answered 200, in arrival order
        self.failed = 0  # requests answered 503
        self.mode = "serve"
        self._server: Any = None

    def serve(self) -> None:
        self.mode = "serve"
        self._listen()

    def fail(self) -> None:
        self.mode = "fail"
        self._listen()

    def refuse(self) -> None:
        self.mode = "refuse"
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close(self) -> None:
        self.refuse()

    def delivery_keys(self) -> list[str]:
        return [body["lingting"]["delivery_key"] for body in list(self.accepted)]

    def _listen(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        if self._server is not None:
            return
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if outer.mode == "fail":
                    outer.failed += 1
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write("服务暂不可用".encode())
                    return
                outer.accepted.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()


def notify_config(hook: FlakyWebhook, max_delay: float = 60.0) -> dict[str, Any]:
    """One webhook channel; ``max_delay`` caps the retry backoff (the default policy's is 60 s)."""
    return {
        "webhooks": [{"name": "ops-hook", "url": hook.url}],
        "retry": {"initial_delay": 1.0, "max_delay": max_delay},
    }


def alert_states(run: Run) -> list[str]:
    """Delivery keys (id:status:sequence) of every alert state in the alerts topic."""
    from schemas import Alert

    return [Alert.model_validate_json(r.value).delivery_key for r in read_topic(run, run.settings.kafka.alerts_topic)]


def alert_channel_down(run: Run, hook: FlakyWebhook, down_seconds: float, timeout: float = 300) -> Outcome:
    """The webhook is down (first half: connection refused, second half: 503) from before the first alert until
    ``down_seconds`` after it; a replayed history with one 海底捞 crisis raises alert states meanwhile. After the
    channel returns every state must be delivered exactly once, and the worker must have stayed up."""
    from tests.integration.crisis_stream import history_ending_now

    hook.refuse()
    posts = history_ending_now()
    producer = run.producer()
    for post in posts:
        producer.send(
            run.settings.kafka.raw_topic,
            key=f"weibo:{post['id']}".encode(),
            value=json.dumps(post, ensure_ascii=False).encode(),
        )
    producer.flush(timeout=300)
    run.sent_ids.extend(f"weibo:{p['id']}" for p in posts)
    wait_until(lambda: alert_states(run), timeout, "the first alert state")
    first_alert = time.monotonic()
    time.sleep(down_seconds / 2)
    hook.fail()
    time.sleep(down_seconds / 2)
    alive_during = all(p.poll() is None for p in run.workers)
    hook.serve()
    back = time.monotonic()

    def all_delivered() -> bool:
        states = set(alert_states(run))
        return bool(states) and states <= set(hook.delivery_keys())

    delivered = None
    try:
        wait_until(all_delivered, timeout, "every alert state delivered after the channel returned", interval=1.0)
        delivered = time.monotonic() - back
    except AssertionError:
        pass
    time.sleep(5)  # a second delivery of a state would arrive now
    out = run.outcome("alert channel down, then back", run.wait_indexed(timeout))
    states, keys = alert_states(run), hook.delivery_keys()
    out.lost += len(set(states) - set(keys))  # an alert state never delivered is lost too
    out.duplicated += len(keys) - len(set(keys))
    out.alert_states = {}
    for key in set(states):
        status = key.split(":")[-2]
        out.alert_states[status] = out.alert_states.get(status, 0) + 1
    out.catch_up_seconds = delivered
    out.worker_alive = out.worker_alive and alive_during
    out.notes = (
        f"channel down {back - first_alert:.0f} s from the first alert (refused, then 503: "
        f"{hook.failed} answers 503); {len(set(states))} alert states, {len(keys)} deliveries accepted"
    )
    return out


#: A module of that name first on the worker's path: ``import cramjam`` fails as if it were not installed, so
#: aiokafka has no snappy, lz4 or zstd (gzip is the standard library's).
NO_CODECS_MODULE = "raise ImportError('cramjam is made unimportable by the fault suite')\n"


def undecodable_batch(run: Run, posts: int, bad: int = 5, timeout: float = 180) -> Outcome:
    """A worker whose environment lacks the snappy library reads a snappy batch between ordinary posts: the batch
    is dead-lettered as one message naming its offset range (stage ``kafka.decode``), the posts around it are
    indexed, the worker stays up. The snappy posts are not counted as sent: they are the skipped range."""
    from kafka import KafkaProducer

    run.workers[0].terminate()
    run.workers[0].wait(timeout=30)
    shadow = run.workdir / "no-codecs"
    shadow.mkdir(exist_ok=True)
    (shadow / "cramjam.py").write_text(NO_CODECS_MODULE)
    path = os.pathsep.join(p for p in (str(shadow), os.environ.get("PYTHONPATH", "")) if p)
    run.start_worker("w1", env_extra={"PYTHONPATH": path})
    run.send_posts(posts // 2, tag="before")
    snappy = KafkaProducer(bootstrap_servers=run.kafka, acks="all", compression_type="snappy", linger_ms=50)
    now = datetime.now(UTC).isoformat()
    try:
        for i in range(bad):
            post = {"platform": "weibo", "id": f"snappy{i}", "created_at": now, "text": f"海底捞 snappy 压缩的第{i}条"}
            snappy.send(
                run.settings.kafka.raw_topic,
                partition=0,
                key=f"weibo:snappy{i}".encode(),
                value=json.dumps(post, ensure_ascii=False).encode(),
            )
        snappy.flush(timeout=60)
    finally:
        snappy.close()
    run.send_posts(posts - posts // 2, tag="after")
    started = time.monotonic()
    indexed = run.wait_indexed(timeout, since=started)
    out = run.outcome("undecodable batch (no snappy)", indexed, expect_dead=1)
    letters = [x for x in run.dead_letters(1) if x["stage"] == "kafka.decode"]
    out.notes = "; ".join(x["error"] for x in letters) or "no kafka.decode dead letter"
    return out
