"""What every connector shares, against the real broker: waiting for Kafka instead of exiting, surviving a
broker outage mid-run without losing or duplicating a post, and the connector metrics + status log.

The outages are real network outages: a small TCP forwarder in this process stands between the connector and
the broker (it rewrites the broker's advertised port in Kafka responses so that every connection goes through
it) and is closed, connections cut, then opened again.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.checkpoint import Checkpoint
from connectors.metrics import serve_metrics
from connectors.publisher import Publisher
from connectors.run import run_source
from connectors.source import Emit, Invalid, Item, Source
from pipeline.stack.config import free_port
from schemas import RawPost
from tests.connectors.kafka_topic import key_counts

pytestmark = pytest.mark.integration

TEXTS = [
    "海底捞的服务还是一如既往的好[赞] #海底捞#",
    "蔚來的售後太慢了，等了三天[怒]",
    "蜜雪冰城新品好喝😋 //@奶茶控:真的吗",
    "小米汽车真香，已下定🚗 #小米SU7#",
]


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class KafkaPath:
    """A cuttable TCP path to the real broker: listen on ``port``, forward to the broker, and in each Kafka
    response frame replace the broker's advertised ``host:port`` by ``host:self.port`` (same length)."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self.port = free_port()
        self._old = host.encode() + struct.pack(">i", int(port))
        self._new = host.encode() + struct.pack(">i", self.port)
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """The outage: refuse new connections and cut the open ones."""
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(): a plain close() would leave the socket listening
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                broker = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, broker]
            threading.Thread(target=self._pipe, args=(client, broker), daemon=True).start()
            threading.Thread(target=self._responses, args=(broker, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def _responses(self, broker: socket.socket, client: socket.socket) -> None:
        def read(n: int) -> bytes:
            out = b""
            while len(out) < n:
                chunk = broker.recv(n - len(out))
                if not chunk:
                    raise OSError("closed")
                out += chunk
            return out

        try:
            while True:
                head = read(4)
                body = read(struct.unpack(">i", head)[0])
                client.sendall(head + body.replace(self._old, self._new))
        except OSError:
            pass
        finally:
            for s in (broker, client):
                s.close()


class ListSource(Source[int]):
    """Posts 0..n-1; the position is the number of items done."""

    name = "test-list"

    def __init__(self, n: int, prefix: str) -> None:
        self.n, self.prefix = n, prefix
        self.t0 = datetime.now(UTC) - timedelta(hours=1)

    def items(self, resume: int | None) -> Iterator[Item[int]]:
        for i in range(int(resume or 0), self.n):
            if i % 500 == 499:
                yield Invalid(i + 1, "not a post", f"第{i}条".encode())  # kept on the dead-letter topic
                continue
            yield Emit(
                RawPost(
                    platform="weibo",
                    id=f"{self.prefix}{i}",
                    text=f"{TEXTS[i % 4]} 第{i}条",
                    created_at=self.t0 + timedelta(seconds=i),
                ),
                i + 1,
            )


def topic_keys(settings) -> Counter:
    return key_counts(settings.kafka.raw_topic, settings.kafka.bootstrap)


@pytest.fixture
def kafka_path(kafka_bootstrap):
    path = KafkaPath(kafka_bootstrap)
    yield path
    path.close()


def test_publisher_waits_for_kafka_and_logs_then_publishes(make_settings, kafka_path, caplog):
    from pipeline.topics import ensure_topics

    direct = make_settings()
    ensure_topics(direct)
    settings = make_settings(kafka={"bootstrap": f"127.0.0.1:{kafka_path.port}"})
    caplog.set_level(logging.WARNING, logger="lingting.connect")
    opened: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: opened.update(p=Publisher(settings.kafka, client_id="lingting-connect-test", log_every=0.5))
    )
    thread.start()
    wait_until(lambda: any("unreachable" in r.getMessage() for r in caplog.records), 15, "the waiting log line")
    assert thread.is_alive() and "p" not in opened, "the publisher must wait, not give up"
    message = next(r.getMessage() for r in caplog.records if "unreachable" in r.getMessage())
    assert f"127.0.0.1:{kafka_path.port}" in message and "lingting stack status" in message
    kafka_path.open()  # the broker becomes reachable
    thread.join(60)
    publisher = opened["p"]
    for i in range(3):
        publisher.publish(
            RawPost(platform="weibo", id=f"w{i}", text=f"{TEXTS[i]}", created_at="2026-11-20T20:00:00+08:00")
        )
    publisher.close()
    assert topic_keys(direct) == Counter({f"weibo:w{i}": 1 for i in range(3)})


def test_reset_stops_the_dropped_producer_even_with_posts_pending(make_settings, kafka_path):
    from pipeline.topics import ensure_topics

    direct = make_settings()
    ensure_topics(direct)
    kafka_path.open()
    settings = make_settings(kafka={"bootstrap": f"127.0.0.1:{kafka_path.port}"})
    publisher = Publisher(settings.kafka, client_id="lingting-connect-reset")

    def io_threads() -> int:
        return sum(t.name == "lingting-connect-reset-network-thread" for t in threading.enumerate())

    publisher.publish(RawPost(platform="weibo", id="before", text=TEXTS[2], created_at="2026-11-20T19:59:59+08:00"))
    publisher.flush(30)  # the producer knows the topic now, so the next post queues instead of blocking
    kafka_path.close()  # outage: the next post stays pending in the producer
    publisher.publish(RawPost(platform="weibo", id="dropped", text=TEXTS[0], created_at="2026-11-20T20:00:00+08:00"))
    resetting = threading.Thread(target=publisher.reset, daemon=True)
    resetting.start()  # drops the producer, then waits for Kafka to open a new one
    wait_until(lambda: io_threads() == 0, 15, "the dropped producer's I/O thread to end")
    kafka_path.open()
    resetting.join(60)
    publisher.publish(RawPost(platform="weibo", id="after", text=TEXTS[1], created_at="2026-11-20T20:00:01+08:00"))
    publisher.close()
    # run_source re-sends what a reset dropped from its checkpoint; the old producer must not deliver it as well
    assert topic_keys(direct) == Counter({"weibo:before": 1, "weibo:after": 1})


def test_run_source_survives_a_broker_outage_mid_run_exactly_once(make_settings, kafka_path, caplog, tmp_path):
    from prometheus_client import REGISTRY

    from pipeline.topics import ensure_topics

    direct = make_settings()
    ensure_topics(direct)
    kafka_path.open()
    settings = make_settings(kafka={"bootstrap": f"127.0.0.1:{kafka_path.port}"})
    caplog.set_level(logging.INFO, logger="lingting.connect")
    total = 3000
    source = ListSource(total, prefix=direct.kafka.topic_prefix)
    # a short delivery timeout, so that the outage makes Kafka definitively refuse a batch
    publisher = Publisher(
        settings.kafka,
        client_id="lingting-connect-outage",
        log_every=1.0,
        producer_options={"delivery_timeout_ms": 4000, "request_timeout_ms": 2000, "max_block_ms": 20_000},
    )
    store = Checkpoint(tmp_path / "cp.json")
    port = serve_metrics(0, addr="127.0.0.1")
    result: dict[str, Any] = {}
    stop = threading.Event()  # only to end the runner if the test fails
    runner = threading.Thread(
        target=lambda: result.update(
            sent=run_source(source, publisher, store, rate=400, batch_seconds=0.5, status_every=1.0, stop=stop)
        ),
        daemon=True,
    )
    runner.start()
    try:
        _outage(kafka_path, store, caplog, runner)
    except BaseException:
        stop.set()
        raise
    runner.join(90)
    assert not runner.is_alive()
    publisher.close()
    # the producers dropped with their refused batches are closed too, not left retrying in the background
    wait_until(
        lambda: not [t for t in threading.enumerate() if t.name == "lingting-connect-outage-network-thread"],
        10,
        "every producer's I/O thread to end",
    )

    keys = topic_keys(direct)
    expected = {f"weibo:{source.prefix}{i}" for i in range(total) if i % 500 != 499}
    assert set(keys) == expected, f"missing: {sorted(expected - set(keys))[:5]}"
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:5]
    assert store.load()["position"] == total

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"source": "outage"}) or 0.0

    assert sample("lingting_connector_kafka_errors_total") >= 1
    assert sample("lingting_connector_kafka_up") == 1
    assert sample("lingting_connector_posts_published_total") + sample(
        "lingting_connector_posts_duplicate_total"
    ) == len(expected)
    assert sample("lingting_connector_last_checkpoint_timestamp_seconds") > time.time() - 60
    assert sample("lingting_connector_publish_lag_seconds") >= 60  # the newest post is ~10 min old
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'lingting_connector_posts_published_total{source="outage"}' in page
    assert any(r.getMessage().startswith("outage: ") and "posts published" in r.getMessage() for r in caplog.records), (
        "the periodic totals line"
    )


def _outage(kafka_path: KafkaPath, store: Checkpoint, caplog, runner: threading.Thread) -> None:
    wait_until(lambda: (store.load().get("position") or 0) > 300, 30, "the first checkpoints")
    kafka_path.close()  # outage, longer than the delivery timeout
    wait_until(
        lambda: any("rebuilding from the last checkpoint" in r.getMessage() for r in caplog.records),
        30,
        "the lost batch to be rebuilt",
    )
    wait_until(lambda: any("unreachable" in r.getMessage() for r in caplog.records), 15, "the waiting log line")
    assert runner.is_alive(), "run_source must wait for Kafka, not exit"
    kafka_path.open()


def test_dead_letters_count_as_invalid(make_settings):
    from prometheus_client import REGISTRY

    from pipeline.topics import ensure_topics

    settings = make_settings()
    ensure_topics(settings)
    publisher = Publisher(settings.kafka, client_id="lingting-connect-dltest")
    publisher.dead_letter(
        "{坏掉的 JSON".encode(), stage="connect.test", error="line 1: not JSON", topic=settings.kafka.raw_topic
    )
    publisher.close()
    assert REGISTRY.get_sample_value("lingting_connector_posts_invalid_total", {"source": "dltest"}) == 1
