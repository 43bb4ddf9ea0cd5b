"""Connector metrics: Prometheus families (label ``source``), plain totals for the periodic status line, and
the ``--metrics-port`` server. Every connector counts the same things, so one dashboard covers them all."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any

from connectors.source import ConnectorError

log = logging.getLogger("lingting.connect")


class _Families:
    """The connector metric families, registered once in prometheus-client's default registry."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        def counter(name: str, doc: str) -> Any:
            return Counter(f"lingting_connector_{name}", doc, ["source"])

        def gauge(name: str, doc: str) -> Any:
            return Gauge(f"lingting_connector_{name}", doc, ["source"])

        self.published = counter("posts_published", "Posts acknowledged by Kafka (acks=all) on the raw topic")
        self.invalid = counter(
            "posts_invalid", "Input items that are not a valid RawPost (dead-lettered, or for http answered per item)"
        )
        self.duplicates = counter(
            "posts_duplicate",
            "Posts not sent again because their key is already in "
            "the topic (resume after a crash, http client retries)",
        )
        self.source_errors = counter("source_errors", "Errors reading the source (feed, API, file)")
        self.kafka_errors = counter("kafka_errors", "Kafka outages and batches Kafka did not acknowledge")
        self.kafka_up = gauge("kafka_up", "1 while Kafka answers, 0 while the connector waits for it")
        self.last_checkpoint = gauge(
            "last_checkpoint_timestamp_seconds", "Unix time of the last checkpoint (or, for http, of the last ack)"
        )
        self.lag = gauge(
            "publish_lag_seconds",
            "Now minus created_at of the newest post Kafka acknowledged (how far behind real time the connector is)",
        )


_families: _Families | None = None
_metrics: dict[str, ConnectorMetrics] = {}
_metrics_lock = threading.Lock()


class ConnectorMetrics:
    """Prometheus metrics of one connector (label ``source``) plus plain totals for the periodic status log."""

    def __init__(self, source: str, families: _Families) -> None:
        self.source = source
        self._f = families
        self.totals = {"published": 0, "invalid": 0, "duplicates": 0, "source_errors": 0, "kafka_errors": 0}
        self.last_checkpoint: float | None = None

    def _inc(self, name: str, n: int = 1) -> None:
        self.totals[name] += n
        getattr(self._f, name).labels(self.source).inc(n)

    def published(self, n: int, newest: datetime | None = None) -> None:
        if n:
            self._inc("published", n)
        if newest is not None:
            self._f.lag.labels(self.source).set(max(0.0, time.time() - newest.timestamp()))

    def invalid(self, n: int = 1) -> None:
        if n:
            self._inc("invalid", n)

    def duplicates(self, n: int = 1) -> None:
        if n:
            self._inc("duplicates", n)

    def source_error(self, n: int = 1) -> None:
        """Count a failed read of the source (call it where the source logs the error)."""
        self._inc("source_errors", n)

    def kafka_error(self) -> None:
        self._inc("kafka_errors")

    def kafka_up(self, up: bool) -> None:
        self._f.kafka_up.labels(self.source).set(1 if up else 0)

    def checkpointed(self) -> None:
        self.last_checkpoint = time.time()
        self._f.last_checkpoint.labels(self.source).set(self.last_checkpoint)

    def status_line(self, previous: dict[str, int]) -> str:
        t = self.totals
        ago = f"{time.time() - self.last_checkpoint:.0f} s ago" if self.last_checkpoint else "none yet"
        return (
            f"{self.source}: {t['published']} posts published (+{t['published'] - previous.get('published', 0)}"
            f"), {t['invalid']} invalid, {t['duplicates']} duplicates skipped, {t['source_errors']} source "
            f"errors, {t['kafka_errors']} Kafka errors; last checkpoint {ago}"
        )


def connector_metrics(source: str) -> ConnectorMetrics:
    """The (process-wide) metrics of the connector named ``source``."""
    global _families
    with _metrics_lock:
        if _families is None:
            _families = _Families()
        if source not in _metrics:
            _metrics[source] = ConnectorMetrics(source, _families)
        return _metrics[source]


def serve_metrics(port: int, addr: str = "0.0.0.0") -> int:
    """Serve every connector metric on ``http://addr:port/metrics`` (a daemon thread); return the bound port."""
    from prometheus_client import start_http_server

    try:
        server, _ = start_http_server(port, addr=addr)
    except OSError as err:
        raise ConnectorError(
            f"cannot serve metrics on {addr}:{port} ({err.strerror}); choose another --metrics-port"
        ) from None
    bound = server.server_port
    log.info("metrics on http://%s:%d/metrics", addr, bound)
    return bound


def start_status_log(metrics: ConnectorMetrics, every: float = 60.0) -> threading.Event:
    """Log the connector's totals every ``every`` seconds (0: never) until the returned event is set."""
    stop = threading.Event()
    if not every or every <= 0:
        return stop

    def loop() -> None:
        previous = dict(metrics.totals)
        while not stop.wait(every):
            log.info("%s", metrics.status_line(previous))
            previous = dict(metrics.totals)

    threading.Thread(target=loop, name=f"status-{metrics.source}", daemon=True).start()
    return stop
