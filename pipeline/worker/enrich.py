"""The enrich stage: raw posts in batches → decode → enrich → index → detection records → acknowledge.

A batch is acknowledged only once every post of it is in Elasticsearch (or dead-lettered with its reason) and
every detection record and dead letter is confirmed by Kafka. While Elasticsearch is away the batch is held and
retried without end: the stream stops pulling (its buffer fills and Faust pauses the partitions), and nothing
of it is committed, so an outage of any length loses nothing and a restart replays the batch (idempotent ids).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from pipeline.settings import Settings
from pipeline.worker.clients import Clients, DeadLetters, Outbox
from pipeline.worker.observe import Metrics, Throttled
from pipeline.worker.positions import Positions
from pipeline.worker.records import decode_raw, detection_record
from pipeline.worker.undecodable import undecodable
from schemas import EnrichedPost
from schemas.retry import backoff_delay

log = logging.getLogger("lingting.worker")


class EnrichStage:
    def __init__(
        self,
        settings: Settings,
        enricher: Any,
        clients: Clients,
        dead: DeadLetters,
        enriched_topic: Any,
        metrics: Metrics,
        positions: Positions,
    ) -> None:
        self.settings, self.enricher, self.clients, self.dead = settings, enricher, clients, dead
        self.enriched_topic, self.metrics, self.positions = enriched_topic, metrics, positions
        self.say = Throttled()
        self.outage_since: float | None = None

    async def run(self, stream: Any) -> None:
        e = self.settings.elasticsearch
        async for events in stream.noack_take(e.bulk_size, within=e.flush_seconds):
            await self.process(events)

    async def process(self, events: Sequence[Any]) -> None:
        events = await self.positions.admit(events)  # never past a record that was not processed
        if not events:
            return
        self.metrics.posts.labels("enrich", "in").inc(len(events))
        out = Outbox()
        posts: list[EnrichedPost] = []
        partitions: list[int] = []  # the raw partition of each post: the detector tracks a replay per partition
        for event in events:
            skipped = undecodable(event)
            if skipped:
                self.dead.of_event(out, event, "kafka.decode", skipped)
                continue
            try:
                raw = decode_raw(event.value)
            except ValueError as err:
                self.dead.of_event(out, event, "enrich.validate", str(err))
                continue
            try:
                posts.append(self.enricher.enrich(raw))
                partitions.append(event.message.partition)
            except Exception as err:  # a processor bug must not stop the worker; the post is kept
                log.exception("enrich failed for %s", raw.key)
                self.dead.of_event(out, event, "enrich.process", f"{type(err).__name__}: {err}")
        if posts:
            await self.index(posts, out)
            for post, partition in zip(posts, partitions, strict=False):
                for brand in post.brands:
                    out.add(self.enriched_topic, brand.encode(), detection_record(post, brand, partition))
        await out.flush()
        for event in events:
            event.ack()
        self.metrics.posts.labels("enrich", "out").inc(len(posts))

    async def index(self, posts: list[EnrichedPost], out: Outbox) -> None:
        from sinks import elasticsearch as es_sink

        e = self.settings.elasticsearch
        self.metrics.held.set(len(posts))
        attempt = 0
        while True:
            attempt += 1
            try:
                client = await self.clients.es()
                started = time.monotonic()
                result = await es_sink.index_posts(
                    client,
                    e.index_prefix,
                    posts,
                    attempts=None,
                    on_retry=lambda held, _attempt, _delay, why: self._waiting(held, why),
                )
                self.metrics.bulk_seconds.observe(time.monotonic() - started)
                break
            except asyncio.CancelledError:
                raise
            except Exception as err:  # no client yet (templates could not be written): same as an outage
                self._waiting(len(posts), f"{type(err).__name__}: {str(err)[:200]}")
                await asyncio.sleep(backoff_delay(attempt, initial=0.5, cap=30.0, jitter=0.5))
        if self.outage_since is not None:
            log.info(
                "Elasticsearch is back after %.0f s; %d posts held were written",
                time.monotonic() - self.outage_since,
                len(posts),
            )
            self.outage_since = None
            self.say.reset("es")
        self.metrics.held.set(0)
        for post, reason in result.rejected:
            self.dead.add(
                out,
                post.model_dump_json().encode(),
                stage="index.elasticsearch",
                error=reason,
                topic=self.settings.kafka.raw_topic,
                key=post.key,
            )
        self.metrics.posts.labels("index", "out").inc(result.indexed)

    def _waiting(self, held: int, reason: str) -> None:
        self.metrics.bulk_errors.inc()
        if self.outage_since is None:
            self.outage_since = time.monotonic()
        self.say(
            "es",
            logging.WARNING,
            "Elasticsearch unreachable for %.0f s, %d posts held, nothing acknowledged (%s)",
            time.monotonic() - self.outage_since,
            held,
            reason,
        )
