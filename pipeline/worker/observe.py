"""What an operator watches: Prometheus metrics, ``/healthz``, and log lines that say what the worker waits for.

The metrics live in their own registry (two workers in one test process never share counters). The HTTP
server binds ``worker.web_port`` on 127.0.0.1 and, when that port is taken (a second worker on the machine),
the next free one, and logs which: 0 turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("lingting.worker")

#: Ports tried after ``web_port`` when it is taken.
PORT_FALLBACKS = 20


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.posts = Counter("lingting_posts", "Posts into and out of each stage", ["stage", "direction"], registry=r)
        self.dead_letters = Counter(
            "lingting_dead_letters", "Messages sent to the dead-letter topic, by stage", ["stage"], registry=r
        )
        self.bulk_seconds = Histogram(
            "lingting_es_bulk_seconds",
            "Elasticsearch bulk request latency",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.bulk_errors = Counter("lingting_es_bulk_errors", "Bulk attempts that failed transiently", registry=r)
        self.held = Gauge(
            "lingting_posts_held", "Posts held (not acknowledged) while Elasticsearch is away", registry=r
        )
        self.alerts = Counter("lingting_alerts", "Alert states delivered, by status", ["status"], registry=r)
        self.consumer_lag = Gauge(
            "lingting_consumer_lag",
            "Records behind the end of each assigned partition",
            ["topic", "partition"],
            registry=r,
        )
        self.notifier_queue = Gauge("lingting_notifier_queue_depth", "Notifications waiting to be sent", registry=r)
        # what /healthz answers, as a series an alert rule can watch (1 consuming, 0 not)
        self.ready = Gauge(
            "lingting_worker_ready",
            "1 when the worker consumes (partitions assigned, Elasticsearch reachable), else 0",
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class Throttled:
    """A log line at most once per ``every`` seconds per key, with the count of the ones left out."""

    def __init__(self, every: float = 15.0) -> None:
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}

    def __call__(self, key: str, level: int, msg: str, *args: object) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(key, (0.0, 0))
        if now - last < self.every:
            self._last[key] = (last, skipped + 1)
            return
        if skipped:
            msg += f" ({skipped} similar messages suppressed)"
        log.log(level, msg, *args)
        self._last[key] = (now, 0)

    def reset(self, key: str) -> None:
        self._last.pop(key, None)


class HealthServer:
    """``/healthz`` (200 when ready: partitions assigned and consuming, else 503 with why) and ``/metrics``."""

    def __init__(
        self, port: int, metrics: Metrics, readiness: Callable[[], str | None], refresh: Callable[[], None]
    ) -> None:
        self.port, self.metrics, self.readiness, self.refresh = port, metrics, readiness, refresh
        self.bound: int | None = None
        self._runner = None

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        for port in range(self.port, min(65536, self.port + PORT_FALLBACKS + 1)):
            site = web.TCPSite(self._runner, "127.0.0.1", port)
            try:
                await site.start()
            except OSError:
                continue
            self.bound = port
            note = "" if port == self.port else f" (port {self.port} is taken)"
            log.info("health and metrics on http://127.0.0.1:%d/healthz and /metrics%s", port, note)
            return
        log.warning("health and metrics are off: ports %d-%d are all taken", self.port, self.port + PORT_FALLBACKS)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, request):
        from aiohttp import web

        why = self.readiness()
        return web.Response(status=503 if why else 200, text=(why or "ok") + "\n")

    async def _metrics(self, request):
        from aiohttp import web

        try:
            self.refresh()
        except Exception:  # a gauge that cannot be read now must not hide the counters
            log.debug("metrics refresh failed", exc_info=True)
        self.metrics.ready.set(0 if self.readiness() else 1)
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
