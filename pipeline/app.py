"""The Faust app: the whole flow on one screen.

    raw ──enrich──► enriched (key = brand) ──index──► Elasticsearch  <prefix>-posts
                                           └─detect─► BrandMonitor (state in a changelog-backed table)
                                                          └──► alerts ──deliver──► Elasticsearch <prefix>-alerts
                                                                                  + notifier channels
    anything invalid ──► deadletter (original bytes + error + stage)

Agents are thin: parse, call ``processors``/``sinks``, write. Delivery is at least once and every write is
idempotent (post documents by ``platform:id``, alerts by id + sequence, notifications by delivery key).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import faust
from pydantic import ValidationError

from pipeline.settings import Settings, load_sentiment_model
from pipeline.topics import ensure_topics
from schemas import Alert, DeadLetter, EnrichedPost, RawPost, utc_now

log = logging.getLogger("lingting.worker")

#: Records on the enriched topic that are not posts: a watermark for one brand, sent by the worker that owns
#: the brand in live mode, so a brand that went quiet still closes its windows (in partition order with posts).
#: The watermark is the brand's last event time advanced by the wall-clock time since that post: a live brand
#: idle for 5 minutes moves 5 minutes on, while a fast replay of history is never overtaken by the clock.
WATERMARK_KIND = "watermark"
UNMATCHED_KEY = b"-"
#: A brand's monitor state goes to the changelog at least this often (events, seconds).
PERSIST_EVERY_EVENTS = 500
PERSIST_EVERY_SECONDS = 2.0
#: Tries to hand an alert to the notifier (about 2 minutes in all) before it goes to the dead-letter topic.
NOTIFY_ATTEMPTS = 8


@dataclass
class _BrandSlot:
    """In-memory working copy of one brand's monitor, with the events not yet persisted/acked."""

    monitor: Any
    offset: int = -1
    partition: int = -1
    pending: list = field(default_factory=list)
    dirty_since: float = 0.0
    last_event: datetime | None = None  # newest event time seen for the brand
    last_seen: float = 0.0              # monotonic clock when a post of the brand was last processed


def faust_brokers(bootstrap: str) -> list[str]:
    return [f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip()]


def create_app(settings: Settings) -> faust.App:
    """Build the worker app for one config. Nothing connects until the app starts."""
    from processors.detection.monitor import BrandMonitor
    from processors.enrich import Enricher
    from sinks import elasticsearch as es_sink

    k, e, w = settings.kafka, settings.elasticsearch, settings.worker
    app = faust.App(
        w.app_id,
        broker=faust_brokers(k.bootstrap),
        store="memory://",
        datadir=w.data_dir,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=k.partitions,
        topic_replication_factor=k.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=1.0,
        # a crashed worker's partitions move to the others after 15 s instead of a minute
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        web_enabled=w.web_port != 0,
        web_port=w.web_port or 6066,
        web_bind="127.0.0.1",
        stream_wait_empty=False,
        table_standby_replicas=0,
    )
    raw_topic = app.topic(k.raw_topic, partitions=k.partitions)
    enriched_topic = app.topic(k.enriched_topic, partitions=k.partitions)
    alerts_topic = app.topic(k.alerts_topic, partitions=k.partitions)
    dead_topic = app.topic(k.deadletter_topic, partitions=k.partitions)
    # brand -> {"offset": last applied enriched offset, "monitor": BrandMonitor state}
    monitors = app.Table("brand-monitors", default=None, partitions=k.partitions)  # values: JSON bytes

    enricher = Enricher(settings.brands, lingting_model=load_sentiment_model(settings.worker.sentiment_model_dir))
    brand_names = [b.name for b in settings.brands]
    slots: dict[str, _BrandSlot] = {}
    services: dict[str, Any] = {}

    async def es_client():
        if "es" not in services:
            from elasticsearch import AsyncElasticsearch

            auth = (e.username, e.password) if e.username else None
            client = AsyncElasticsearch(e.url, basic_auth=auth, request_timeout=30, retry_on_timeout=True)
            await es_sink.ensure_indices(client, e.index_prefix)
            services["es"] = client
        return services["es"]

    async def notifier():
        if "notifier" not in services:
            from sinks.notify.dispatcher import Notifier

            candidate = Notifier.from_settings(settings)
            await candidate.start()  # raises when Elasticsearch is not ready: retried on the next alert
            services["notifier"] = candidate
        return services["notifier"]

    async def dead_letter(event, stage: str, error: str) -> None:
        msg = event.message
        letter = DeadLetter.wrap(event.value, stage=stage, error=error, topic=msg.topic,
                                 partition=msg.partition, offset=msg.offset, key=event.key,
                                 failed_at=utc_now())
        log.warning("dead letter: %s at %s[%s]@%s: %s", stage, msg.topic, msg.partition, msg.offset,
                    error.splitlines()[0][:300])
        await dead_topic.send(key=event.key, value=letter.model_dump_json().encode())

    async def parse(event, model, stage: str):
        """The event's value as ``model``, or None after sending it to the dead-letter topic."""
        try:
            return model.model_validate_json(event.value or b"")
        except ValidationError as err:
            await dead_letter(event, stage, _validation_message(err, model.__name__))
            return None

    @app.agent(raw_topic, name="enrich")
    async def enrich(stream):
        async for event in stream.events():
            post = await parse(event, RawPost, "enrich.validate")
            if post is None:
                continue
            try:
                enriched = enricher.enrich(post)
            except Exception as err:  # a processor bug must not stop the worker; the post is kept
                log.exception("enrich failed for %s", post.key)
                await dead_letter(event, "enrich.process", f"{type(err).__name__}: {err}")
                continue
            for brand in enriched.brands or [None]:
                record = enriched.model_copy(update={"brand": brand})
                await enriched_topic.send(key=brand.encode() if brand else UNMATCHED_KEY,
                                          value=record.model_dump_json().encode())

    @app.agent(enriched_topic, name="index")
    async def index(stream):
        async for batch in stream.take(e.bulk_size, within=e.flush_seconds):
            posts = []
            for value in batch:
                data = json.loads(value)
                if data.get("kind") == WATERMARK_KIND:
                    continue
                post = EnrichedPost.model_validate(data)  # written by the enrich agent: valid by construction
                # a post matching several brands travels once per brand; index it once
                if post.brand == (post.brands[0] if post.brands else None):
                    posts.append(post)
            if not posts:
                continue
            result = await es_sink.index_posts(await es_client(), e.index_prefix, posts)
            for post, reason in result.rejected:
                letter = DeadLetter.wrap(post.model_dump_json().encode(), stage="index.elasticsearch",
                                         error=reason, topic=k.enriched_topic, key=post.key,
                                         failed_at=utc_now())
                await dead_topic.send(key=post.key.encode(), value=letter.model_dump_json().encode())

    def slot_for(brand: str) -> _BrandSlot:
        slot = slots.get(brand)
        if slot is None:
            saved = monitors.get(brand) or {}
            if isinstance(saved, (bytes, str)):  # as written; recovery from the changelog gives the decoded dict
                saved = json.loads(saved)
            slot = _BrandSlot(BrandMonitor(brand, settings.detection_for(brand), state=saved.get("monitor")),
                              offset=int(saved.get("offset", -1)))
            slots[brand] = slot
        return slot

    def persist(brand: str, slot: _BrandSlot) -> None:
        """Write the brand's state to the changelog table, then ack the events it includes."""
        monitors[brand] = json.dumps({"offset": slot.offset, "monitor": slot.monitor.to_state()},
                                     ensure_ascii=False).encode()
        for ev in slot.pending:
            ev.ack()
        slot.pending.clear()
        slot.dirty_since = 0.0

    @app.agent(enriched_topic, name="detect")
    async def detect(stream):
        # Events are acked only once the brand state that includes them is in the changelog, and the
        # state remembers the last applied offset: a crash or rebalance neither loses nor double-counts.
        async for event in stream.noack().events():
            brand = (event.key or b"").decode("utf-8", "replace")
            if event.key == UNMATCHED_KEY or brand not in brand_names:
                event.ack()
                continue
            slot = slot_for(brand)
            alerts: list[Alert] = []
            try:
                data = json.loads(event.value)
                if data.get("kind") == WATERMARK_KIND:
                    alerts = slot.monitor.advance(datetime.fromisoformat(data["at"]))
                    slot.pending.append(event)
                elif event.message.offset <= slot.offset:
                    event.ack()  # already counted before a restart
                    continue
                else:
                    post = EnrichedPost.model_validate(data)
                    alerts = slot.monitor.add(post)
                    slot.offset = event.message.offset
                    slot.last_event = max(slot.last_event or post.created_at, post.created_at)
                    slot.last_seen = time.monotonic()
                    slot.pending.append(event)
            except Exception as err:  # a detector bug must not stop detection for every other post
                log.exception("detect failed for brand %s at offset %s", brand, event.message.offset)
                await dead_letter(event, "detect", f"{type(err).__name__}: {err}")
                event.ack()
                continue
            slot.partition = event.message.partition
            now = time.monotonic()
            if not slot.dirty_since:
                slot.dirty_since = now
            for alert in alerts:
                await alerts_topic.send(key=alert.brand.encode(), value=alert.model_dump_json().encode())
            if alerts or data.get("kind") == WATERMARK_KIND or len(slot.pending) >= PERSIST_EVERY_EVENTS:
                persist(brand, slot)
            # Brands hashed to the same partition share its changelog partition: persist the ones that
            # went quiet here too, so their events are acked and offsets committed.
            for other, s in slots.items():
                if s.pending and s.partition == slot.partition and now - s.dirty_since > PERSIST_EVERY_SECONDS:
                    persist(other, s)

    @app.agent(alerts_topic, name="deliver")
    async def deliver(stream):
        async for event in stream.events():
            alert = await parse(event, Alert, "deliver.validate")
            if alert is None:
                continue
            log.info("alert %s %s severity=%s observed=%.0f expected=%.1f", alert.id, alert.status,
                     alert.severity, alert.observed, alert.expected)
            # Crisis managers get the alert even when Elasticsearch is down; neither failure loses it.
            try:
                await es_sink.upsert_alert(await es_client(), e.index_prefix, alert)
            except Exception as err:
                log.exception("alert %s not stored in %s", alert.id, e.alerts_alias)
                await dead_letter(event, "deliver.elasticsearch", f"{type(err).__name__}: {err}")
            for attempt in range(1, NOTIFY_ATTEMPTS + 1):
                try:
                    await (await notifier()).deliver(alert)
                    break
                except Exception as err:
                    if attempt == NOTIFY_ATTEMPTS:
                        log.exception("alert %s not handed to the notifier", alert.id)
                        await dead_letter(event, "deliver.notify", f"{type(err).__name__}: {err}")
                    else:
                        log.warning("notifier not ready for alert %s (%s); retry %d/%d", alert.id, err, attempt,
                                    NOTIFY_ATTEMPTS)
                        await asyncio.sleep(min(30.0, 0.5 * 2 ** attempt))

    if w.live:
        @app.timer(w.tick_seconds)
        async def watermarks():
            now = time.monotonic()
            for brand, slot in list(slots.items()):  # the brands whose partitions this worker owns
                idle = now - slot.last_seen
                if slot.last_event is None or idle < w.tick_seconds:
                    continue
                at = (slot.last_event + timedelta(seconds=idle)).isoformat()
                await enriched_topic.send(key=brand.encode(), value=json.dumps(
                    {"kind": WATERMARK_KIND, "brand": brand, "at": at}).encode())

    @app.on_partitions_revoked.connect
    async def _forget_moved_brands(app, revoked, **kwargs) -> None:  # noqa: ANN001
        # Another worker may own these brands now: re-read their state from the table when they return.
        slots.clear()

    @app.on_before_shutdown.connect
    async def _close_clients(app, **kwargs) -> None:  # noqa: ANN001
        if "notifier" in services:
            await services["notifier"].stop()
        if "es" in services:
            await services["es"].close()

    app.lingting_enricher = enricher  # for inspection in tests
    return app


def _validation_message(err: ValidationError, what: str) -> str:
    parts = []
    for e in err.errors()[:10]:
        loc = ".".join(str(p) for p in e["loc"]) or "(message)"
        parts.append(f"{loc}: {e['msg']}")
    return f"invalid {what}: " + "; ".join(parts)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker until SIGTERM/SIGINT (blocking)."""
    ensure_topics(settings)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.execute_from_commandline()
