"""The detect stage: detection records (keyed by brand) → each brand's monitor → alerts.

A brand's monitor is a working copy in memory (``MonitorStore``); its state goes to a changelog-backed table
with the offset of the last record it includes, and the records are acknowledged only after that. A crash or
rebalance therefore neither loses nor double-counts: the restarted worker re-reads the state and skips what the
state already holds.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from faust.streams import _current_event

from pipeline.settings import Settings
from pipeline.worker.clients import DeadLetters, Outbox
from pipeline.worker.observe import Metrics
from pipeline.worker.records import SOURCE_PARTITION, WATERMARK_KIND, watermark_record
from schemas import EnrichedPost

log = logging.getLogger("lingting.worker")

#: A brand's monitor state goes to the changelog at least this often (events, seconds).
PERSIST_EVERY_EVENTS = 500
PERSIST_EVERY_SECONDS = 2.0
#: Records taken at once: one Kafka round trip for their alerts and one pass over the quiet brands per batch
#: instead of per record; the wait is short next to the window + lateness an alert waits for anyway.
DETECT_BATCH = 500
DETECT_WITHIN_SECONDS = 0.2


@dataclass
class BrandSlot:
    """In-memory working copy of one brand's monitor, with the events not yet persisted/acked."""

    monitor: Any
    offset: int = -1
    partition: int = -1
    pending: list = field(default_factory=list)
    dirty_since: float = 0.0
    last_event: datetime | None = None  # newest event time seen for the brand
    last_seen: float = 0.0  # monotonic clock when a post of the brand was last processed


class MonitorStore:
    """The brand slots of the partitions this worker owns, loaded from and persisted to the table."""

    def __init__(self, settings: Settings, table: Any) -> None:
        self.settings, self.table = settings, table
        self.slots: dict[str, BrandSlot] = {}

    def get(self, brand: str) -> BrandSlot:
        from processors.detection.monitor import BrandMonitor

        slot = self.slots.get(brand)
        if slot is None:
            saved = self.table.get(brand) or {}
            if isinstance(saved, (bytes, str)):  # as written; recovery from the changelog gives the decoded dict
                saved = orjson.loads(saved)
            slot = BrandSlot(
                BrandMonitor(brand, self.settings.detection_for(brand), state=saved.get("monitor")),
                offset=int(saved.get("offset", -1)),
            )
            self.slots[brand] = slot
        return slot

    def persist(self, brand: str, slot: BrandSlot) -> None:
        """Write the brand's state to the changelog table, then ack the events it includes."""
        if slot.pending:  # records come in batches: the table takes its changelog partition from the brand's own
            _current_event.set(weakref.ref(slot.pending[-1]))
        self.table[brand] = orjson.dumps({"offset": slot.offset, "monitor": slot.monitor.to_state()})
        for ev in slot.pending:
            ev.ack()
        slot.pending.clear()
        slot.dirty_since = 0.0

    def persist_quiet(self, partition: int, now: float) -> None:
        """Brands hashed to the same partition share its changelog partition: persist the ones that went quiet
        here too, so their events are acked and offsets committed."""
        for other, s in self.slots.items():
            if s.pending and s.partition == partition and now - s.dirty_since > PERSIST_EVERY_SECONDS:
                self.persist(other, s)

    def forget(self) -> None:
        """Another worker may own these brands now: re-read their state from the table when they return."""
        self.slots.clear()


class DetectStage:
    def __init__(
        self,
        settings: Settings,
        store: MonitorStore,
        dead: DeadLetters,
        alerts_topic: Any,
        metrics: Metrics,
        raw_partitions: Callable[[], int | None] = lambda: None,
    ) -> None:
        """``raw_partitions()``: how many partitions the raw topic has (None while unknown); a replay's hold
        ends sooner once each has delivered."""
        self.settings, self.store, self.dead, self.alerts_topic = settings, store, dead, alerts_topic
        self.metrics, self.raw_partitions = metrics, raw_partitions
        self.brand_names = {b.name for b in settings.brands}
        self._acks_after_flush: list[Any] = []

    async def run(self, stream: Any) -> None:
        async for events in stream.noack_take(DETECT_BATCH, within=DETECT_WITHIN_SECONDS):
            await self.process_batch(events)

    async def process_batch(self, events: Sequence[Any]) -> None:
        """Every record of a batch, then one Kafka round trip for their alerts and dead letters, then the state
        of each brand that must be persisted (the records it includes are acknowledged only after that)."""
        out = Outbox()
        urgent: dict[str, BrandSlot] = {}
        touched: set[int] = set()
        counted = 0
        for event in events:
            brand, slot, must_persist, is_post = self._one(event, out)
            if slot is None:
                continue
            counted += is_post  # posts only: the watermark ticks are records too
            touched.add(slot.partition)
            if must_persist:
                urgent[brand] = slot
        await out.flush()
        for brand, slot in urgent.items():
            self.store.persist(brand, slot)
        now = time.monotonic()
        for partition in touched:
            self.store.persist_quiet(partition, now)
        for event in self._acks_after_flush:
            event.ack()
        self._acks_after_flush.clear()
        if counted:
            self.metrics.posts.labels("detect", "in").inc(counted)

    def _one(self, event: Any, out: Outbox) -> tuple[str, BrandSlot | None, bool, bool]:
        """Apply one record to its brand's monitor; returns (brand, slot or None when not counted, persist now,
        whether it was a post rather than a watermark tick)."""
        brand = (event.key or b"").decode("utf-8", "replace")
        if brand not in self.brand_names:
            event.ack()
            return brand, None, False, False
        slot = self.store.get(brand)
        watermark = False
        try:
            data = orjson.loads(event.value)
            if data.get("kind") == WATERMARK_KIND:
                watermark = True
                alerts = slot.monitor.advance(datetime.fromisoformat(data["at"]))
                slot.pending.append(event)
            elif event.message.offset <= slot.offset:
                event.ack()  # already counted before a restart
                return brand, None, False, False
            else:
                source = data.pop(SOURCE_PARTITION, None)
                post = EnrichedPost.model_validate(data)
                alerts = slot.monitor.add(post, source, self.raw_partitions())
                slot.offset = event.message.offset
                slot.last_event = max(slot.last_event or post.created_at, post.created_at)
                slot.last_seen = time.monotonic()
                slot.pending.append(event)
        except Exception as err:  # a detector bug must not stop detection for every other post
            log.exception("detect failed for brand %s at offset %s", brand, event.message.offset)
            self.dead.of_event(out, event, "detect", f"{type(err).__name__}: {err}")
            self._acks_after_flush.append(event)  # acknowledged once its dead letter is confirmed
            return brand, None, False, False
        slot.partition = event.message.partition
        if not slot.dirty_since:
            slot.dirty_since = time.monotonic()
        for alert in alerts:
            out.add(self.alerts_topic, alert.brand.encode(), alert.model_dump_json().encode())
        return brand, slot, bool(alerts) or watermark or len(slot.pending) >= PERSIST_EVERY_EVENTS, not watermark

    async def watermarks(self, enriched_topic: Any) -> None:
        """In live mode, a brand that went quiet still closes its windows: its owner sends it a watermark, its
        last event time advanced by the wall-clock time since (a fast replay is never overtaken by the clock)."""
        tick = self.settings.worker.tick_seconds
        now = time.monotonic()
        out = Outbox()
        for brand, slot in list(self.store.slots.items()):
            idle = now - slot.last_seen
            if slot.last_event is None or idle < tick:
                continue
            out.add(
                enriched_topic,
                brand.encode(),
                watermark_record(brand, (slot.last_event + timedelta(seconds=idle)).isoformat()),
            )
        await out.flush()
