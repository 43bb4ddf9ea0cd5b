"""The Faust app: the whole flow on one screen.

    raw ──enrich──► Elasticsearch <prefix>-posts (through monthly write aliases)
          └──────► enriched (detection records, key = brand) ──detect──► BrandMonitor (changelog-backed table)
                                                                           └──► alerts ──deliver──► <prefix>-alerts
                                                                                                  + notifier channels
    anything invalid ──► deadletter (original bytes + error + stage)

Stages are named objects (``pipeline/worker/{enrich,detect,deliver}.py``); this module only wires them. Delivery is
at least once and every write is idempotent (post documents by ``platform:id``, alerts by id + sequence,
notifications by delivery key).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import faust

from pipeline.clients import faust_credentials
from pipeline.settings import Settings, load_sentiment_model
from pipeline.worker import rewind, undecodable
from pipeline.worker.clients import Clients, DeadLetters
from pipeline.worker.deliver import DeliverStage
from pipeline.worker.detect import DetectStage, MonitorStore
from pipeline.worker.enrich import EnrichStage
from pipeline.worker.observe import HealthServer, Metrics
from pipeline.worker.positions import REREAD_RETRY_SECONDS, Positions

log = logging.getLogger("lingting.worker")

#: A stop request (SIGTERM/SIGINT) ends the process within this many seconds, brokers or not: what is not
#: acknowledged by then is replayed by the next worker (at least once, idempotent writes).
STOP_DEADLINE_SECONDS = 9.0


def create_app(settings: Settings, datadir: str | None = None) -> faust.App:
    """Build the worker app for one config. Nothing connects until the app starts."""
    from processors.enrich import Enricher

    k, w = settings.kafka, settings.worker
    undecodable.install()  # an undecodable record batch is dead-lettered, not a crashed consumer
    app = faust.App(w.app_id, **faust_options(settings, datadir or w.data_dir))
    raw, enriched = app.topic(k.raw_topic), app.topic(k.enriched_topic)
    alerts, dead_topic = app.topic(k.alerts_topic), app.topic(k.deadletter_topic)
    table = app.Table("brand-monitors", default=None, partitions=k.partitions)  # values: JSON bytes

    metrics, clients = Metrics(), Clients(settings)
    dead = DeadLetters(dead_topic, metrics)
    enricher = Enricher(settings.brands, lingting_model=load_sentiment_model(w.sentiment_model_dir))
    positions = Positions(app.consumer.seek, undecodable.first_offset)
    enrich = EnrichStage(settings, enricher, clients, dead, enriched, metrics, positions)
    store = MonitorStore(settings, table)
    detect = DetectStage(
        settings, store, dead, alerts, metrics, raw_partitions=lambda: app.consumer.topic_partitions(k.raw_topic)
    )
    deliver = DeliverStage(settings, clients, dead, metrics)

    app.agent(raw, name="enrich")(enrich.run)
    app.agent(enriched, name="detect")(detect.run)
    app.agent(alerts, name="deliver")(deliver.run)
    if w.live:
        app.timer(w.tick_seconds)(lambda: detect.watermarks(enriched))
    app.timer(REREAD_RETRY_SECONDS / 4)(positions.retry_stalled)
    app.on_partitions_revoked.connect(lambda sender, revoked, **_: _forget(store, positions))
    # a partition with nothing committed is re-read from its beginning after a rebalance; the raw partitions'
    # starting offsets are what the enrich stage checks its batches against
    rewind.install(
        app.consumer,
        {k.raw_topic, k.enriched_topic, k.alerts_topic},
        on_start=lambda starts: positions.started({tp: o for tp, o in starts.items() if tp.topic == k.raw_topic}),
    )
    health = HealthServer(
        w.web_port, metrics, lambda: readiness(app, enrich), lambda: refresh_gauges(app, metrics, clients)
    )
    if w.web_port:
        app.task(health.start)
    app.on_before_shutdown.connect(lambda sender, **_: _close(health, clients))

    app.lingting_enricher = enrich.enricher  # for inspection in tests
    app.lingting_health = health
    return app


def faust_options(settings: Settings, datadir: str) -> dict[str, Any]:
    k, e = settings.kafka, settings.elasticsearch
    return dict(
        broker=[f"kafka://{h.strip()}" for h in k.bootstrap.split(",") if h.strip()],
        broker_credentials=faust_credentials(k),
        store="memory://",
        datadir=datadir,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # the enrich stage sends a whole batch at once: a short linger packs it into few requests
        producer_linger_ms=5,
        producer_max_batch_size=256 * 1024,
        # offsets are committed apart from the batches: the interval only bounds what a crash replays
        broker_commit_interval=1.0,
        # a crashed worker's partitions move to the others after 15 s instead of a minute
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        stream_buffer_maxsize=max(4096, 2 * e.bulk_size),
        web_enabled=False,
        stream_wait_empty=False,
        table_standby_replicas=0,
    )


def readiness(app: faust.App, enrich: EnrichStage) -> str | None:
    """None when the worker is consuming, else why not (the body of a 503 from /healthz)."""
    import time

    consumer = getattr(app, "_consumer", None)
    if consumer is None or not app.started:
        return "starting"
    if not consumer.assignment():
        return "no partitions assigned (joining the consumer group, or Kafka unreachable)"
    if enrich.outage_since is not None:
        return (
            f"Elasticsearch unreachable for {time.monotonic() - enrich.outage_since:.0f} s; "
            "consumption paused, nothing acknowledged"
        )
    return None


def refresh_gauges(app: faust.App, metrics: Metrics, clients: Clients) -> None:
    """The gauges read at scrape time: consumer lag per partition (end minus committed) and the notifier queue."""
    consumer = getattr(app, "_consumer", None)
    if consumer is not None:
        committed = getattr(consumer, "_committed_offset", {})
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None or end < 0:
                continue
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - (committed.get(tp) or 0)))
    metrics.notifier_queue.set(clients.notifier_queue_depth())


async def _forget(store: MonitorStore, positions: Positions) -> None:
    store.forget()
    positions.revoked()


async def _close(health: HealthServer, clients: Clients) -> None:
    await health.stop()
    await clients.close()


class _Worker(faust.Worker):
    """Faust's worker with a stop deadline: with the brokers gone, Faust's own shutdown can wait far longer."""

    def _on_sigterm(self) -> None:
        _arm_stop_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        _arm_stop_deadline()
        super()._on_sigint()


def _arm_stop_deadline() -> None:
    def expire() -> None:
        log.warning(
            "stop deadline (%.0f s) reached: exiting now; whatever was not acknowledged is replayed by the next worker",
            STOP_DEADLINE_SECONDS,
        )
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(STOP_DEADLINE_SECONDS, expire)
    timer.daemon = True
    timer.start()


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker until SIGTERM/SIGINT (blocking)."""
    from pipeline.topics import ensure_topics
    from pipeline.worker.statedir import StateDir

    ensure_topics(settings)
    state = StateDir.claim(settings.worker.data_dir)
    log.info("worker state in %s", state.path)
    app = create_app(settings, datadir=str(state.path))
    worker = _Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.execute_from_commandline()
