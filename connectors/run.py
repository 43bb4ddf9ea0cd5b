"""The run loop: publish a source's items with checkpoints, exactly once in the topic across a crash.

A connector's position in its source is deterministic (a line number, a feed entry id, a since_id). After each
batch the publisher flushes (acks=all) and the checkpoint records the position together with the raw topic's end
offsets. After a restart, the loop reads back what reached the topic after those offsets (whatever the crashed
process sent before it died) and skips those keys: no gap, because it resumes from the checkpointed position,
and no duplicate, because sent keys are skipped.

Kafka outages: the loop never exits because the broker is away. It waits (logging every 30 s), the producer
retries unacknowledged posts until ``delivery_timeout``, and a batch Kafka definitively refused is rebuilt from
the last checkpoint exactly like a restart (resume position + read-back of the keys already in the topic).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from connectors.checkpoint import Checkpoint
from connectors.kafka import KAFKA_HINT
from connectors.metrics import start_status_log
from connectors.publisher import Publisher
from connectors.ratelimit import RateLimiter
from connectors.source import ConnectorError, Emit, Invalid, Source
from schemas import RawPost

log = logging.getLogger("lingting.connect")


class _BatchLost(Exception):
    """Kafka definitively did not take posts sent since the last checkpoint."""


class _Stopped(Exception):
    """Asked to stop while posts were still waiting for Kafka (they were not checkpointed)."""


def run_source(
    source: Source[Any],
    publisher: Publisher,
    checkpoint: Checkpoint,
    *,
    rate: float | None = None,
    batch_size: int = 500,
    batch_seconds: float = 1.0,
    stop: threading.Event | None = None,
    status_every: float = 60.0,
    on_invalid: Callable[[Invalid[Any]], None] | None = None,
) -> int:
    """Publish a source's posts with checkpoints; return how many Kafka acknowledged in this run.

    Invalid items go to the dead-letter topic (and to ``on_invalid``, e.g. a line on stderr). Survives Kafka
    outages (see the module docstring); logs the totals every ``status_every`` seconds."""
    run = SourceRun(
        source,
        publisher,
        checkpoint,
        limiter=RateLimiter(rate),
        batch_size=batch_size,
        batch_seconds=batch_seconds,
        stop=stop or threading.Event(),
        on_invalid=on_invalid,
    )
    status = start_status_log(publisher.metrics, status_every)
    try:
        while True:
            try:
                run.from_checkpoint()
                return run.published
            except _BatchLost as err:
                publisher.metrics.kafka_error()
                log.error(
                    "%s: %s; rebuilding from the last checkpoint %s like a restart (posts already in the "
                    "topic are not sent twice)",
                    source.name,
                    err,
                    checkpoint.path,
                )
                publisher.reset()
            except _Stopped as err:
                log.warning("%s: %s", source.name, err)
                return run.published
    finally:
        status.set()


class _Batch:
    """What was sent since the last checkpoint."""

    def __init__(self) -> None:
        self.sent, self.skipped, self.newest, self.started = 0, 0, None, time.monotonic()

    def add(self, post: RawPost) -> None:
        self.sent += 1
        self.newest = post.created_at if self.newest is None else max(self.newest, post.created_at)


class SourceRun:
    """One run of a source; ``from_checkpoint`` is called again after a lost batch, like a restart."""

    def __init__(
        self,
        source: Source[Any],
        publisher: Publisher,
        checkpoint: Checkpoint,
        *,
        limiter: RateLimiter,
        batch_size: int,
        batch_seconds: float,
        stop: threading.Event,
        on_invalid: Callable[[Invalid[Any]], None] | None,
    ) -> None:
        self.source, self.publisher, self.checkpoint, self.limiter = source, publisher, checkpoint, limiter
        self.batch_size, self.batch_seconds, self.stop, self.on_invalid = batch_size, batch_seconds, stop, on_invalid
        self.published = 0  # acknowledged by Kafka in this run, over every restart from the checkpoint

    def from_checkpoint(self) -> None:
        """Resume after the checkpointed position, skipping keys a crashed process already sent."""
        publisher = self.publisher
        state = self.checkpoint.load()
        if "offsets" not in state:  # before the first post: a crash right after it must not resend what got in
            state = {
                "position": state.get("position"),
                "source": self.source.name,
                "saved_at": time.time(),
                "offsets": publisher.retry(publisher.end_offsets, "reading the raw topic's end offsets"),
            }
            self.checkpoint.save(state)
        skip = publisher.retry(lambda: publisher.keys_since(state["offsets"]), "reading back the raw topic")
        if skip:
            log.info(
                "resuming %s from %s: %d posts already in the topic are not sent again",
                self.source.name,
                self.checkpoint.path,
                len(skip),
            )
        position, batch = state.get("position"), _Batch()
        items = self.source.items(position)
        try:
            for item in items:
                if self.stop.is_set():
                    break
                if isinstance(item, Emit):
                    if item.post.key in skip:
                        batch.skipped += 1
                    else:
                        self._publish(item.post)
                        batch.add(item.post)
                elif isinstance(item, Invalid):
                    self._dead_letter(item)
                position = item.position
                if batch.sent >= self.batch_size or (
                    batch.sent and time.monotonic() - batch.started >= self.batch_seconds
                ):
                    self._commit(batch, position)
                    batch = _Batch()
            self._commit(batch, position)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def _publish(self, post: RawPost) -> None:
        from kafka.errors import KafkaError

        self.limiter.acquire()
        try:
            self.publisher.publish(post)
        except KafkaError as err:  # buffer full for max_block_ms: Kafka has been away for minutes
            raise _BatchLost(f"Kafka at {self.publisher.address} did not take new posts ({err})") from None

    def _dead_letter(self, item: Invalid[Any]) -> None:
        where = ", ".join(f"{k} {v}" for k, v in item.where.items())
        self.publisher.dead_letter(
            item.raw,
            stage=f"connect.{self.source.name}",
            topic=self.publisher.topic,
            error=f"{where}: {item.error}" if where else item.error,
        )
        if self.on_invalid is not None:
            self.on_invalid(item)

    def _commit(self, batch: _Batch, position: Any) -> None:
        """Wait until Kafka acknowledged the batch, then checkpoint ``position`` with the topic's end offsets."""
        publisher, metrics = self.publisher, self.publisher.metrics
        self._flush(batch)
        offsets = publisher.retry(publisher.end_offsets, "reading the raw topic's end offsets")
        self.checkpoint.save(
            {"position": position, "offsets": offsets, "source": self.source.name, "saved_at": time.time()}
        )
        metrics.kafka_up(True)
        metrics.published(batch.sent, batch.newest)
        metrics.duplicates(batch.skipped)
        metrics.checkpointed()
        self.published += batch.sent

    def _flush(self, batch: _Batch) -> None:
        from kafka.errors import KafkaTimeoutError

        publisher, waited = self.publisher, time.monotonic()
        while True:
            try:
                publisher.flush(timeout=publisher.log_every)
                return
            except KafkaTimeoutError:  # not yet: the producer keeps retrying until delivery_timeout
                publisher.metrics.kafka_up(False)
                if time.monotonic() - waited > publisher.give_up_after:  # a producer stuck past its own timeout
                    raise _BatchLost(
                        f"{batch.sent} posts sent since the last checkpoint were not acknowledged by "
                        f"Kafka at {publisher.address} within {publisher.give_up_after:.0f} s"
                    ) from None
                log.warning(
                    "Kafka at %s unreachable for %.0f s: %d posts of %s wait for an acknowledgement "
                    "(not checkpointed, nothing is lost); retrying — %s",
                    publisher.address,
                    time.monotonic() - waited,
                    batch.sent,
                    self.source.name,
                    KAFKA_HINT,
                )
                if self.stop.is_set():
                    raise _Stopped(
                        f"stopping with {batch.sent} posts unacknowledged by Kafka; they are sent "
                        "again after a restart (the checkpoint was not advanced)"
                    ) from None
            except ConnectorError as err:
                raise _BatchLost(
                    f"{batch.sent} posts sent since the last checkpoint were not acknowledged ({err})"
                ) from None
