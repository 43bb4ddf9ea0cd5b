"""What every connector shares: the Kafka publisher, the checkpoint, the rate limit, the registry.

Exactly once in the topic, across a crash: a connector's position in its source is deterministic (a line
number, a feed entry id, a since_id). After each batch the publisher flushes (acks=all) and the checkpoint
records the position together with the raw topic's end offsets. After a restart, the connector reads back what
reached the topic after those offsets (whatever the crashed process sent before it died) and skips those keys:
no gap, because it resumes from the checkpointed position, and no duplicate, because sent keys are skipped.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

from pipeline.settings import Settings
from schemas import RawPost
from schemas.errors import LingtingError

log = logging.getLogger("lingting.connect")

REGISTRY: dict[str, type["Source"]] = {}


def register(cls: type["Source"]) -> type["Source"]:
    """Class decorator: make a source available as ``lingting connect NAME``."""
    REGISTRY[cls.name] = cls
    return cls


class ConnectorError(LingtingError):
    """A source cannot be read or published (bad input, bad credentials, unreachable broker)."""


class Checkpoint:
    """A small JSON document per connector instance, replaced atomically (write + fsync + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as err:
            raise ConnectorError(f"checkpoint {self.path} is corrupt ({err}); move it away to start over") from None

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


class RateLimiter:
    """Token bucket: at most ``rate`` acquisitions per second on average (None: unlimited)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate if rate and rate > 0 else None
        self._allowance = self.rate or 0.0
        self._last = time.monotonic()

    def acquire(self) -> None:
        if self.rate is None:
            return
        now = time.monotonic()
        self._allowance = min(self.rate, self._allowance + (now - self._last) * self.rate)
        self._last = now
        if self._allowance < 1.0:
            time.sleep((1.0 - self._allowance) / self.rate)
            self._allowance = 0.0
            self._last = time.monotonic()
        else:
            self._allowance -= 1.0


class Publisher:
    """kafka-python producer for RawPost: acks=all, idempotent, compressed, keyed ``platform:id``."""

    def __init__(self, settings: Settings, client_id: str = "lingting-connector") -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self.topic = settings.kafka.raw_topic
        self.deadletter_topic = settings.kafka.deadletter_topic
        self.bootstrap = settings.kafka.bootstrap.split(",")
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap, client_id=client_id, acks="all", enable_idempotence=True,
                compression_type="gzip", linger_ms=20, batch_size=256 * 1024, retries=2**31 - 1,
                delivery_timeout_ms=300_000, max_block_ms=120_000)
        except KafkaError as err:
            raise ConnectorError(f"cannot reach Kafka at {settings.kafka.bootstrap}: {err}. Check the address "
                                 "(LINGTING_KAFKA) and that the broker runs (`lingting stack status`).") from None
        self.sent = 0
        self._errors: list[BaseException] = []

    def publish(self, post: RawPost):
        """Send asynchronously and return the send future; failures also surface at the next ``flush``."""
        future = self._producer.send(self.topic, key=post.key.encode(),
                                     value=post.model_dump_json(exclude_unset=True).encode())
        future.add_errback(self._errors.append)
        self.sent += 1
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Block until every sent post is acknowledged by all in-sync replicas, or raise."""
        self._producer.flush(timeout=timeout)
        if self._errors:
            err, self._errors = self._errors[0], []
            raise ConnectorError(f"Kafka did not accept posts for {self.topic}: {err}")

    def dead_letter(self, value: bytes, *, stage: str, error: str, topic: str) -> None:
        """Keep an input the connector cannot turn into a RawPost, with why (nothing is silently dropped)."""
        from schemas import DeadLetter, utc_now

        letter = DeadLetter.wrap(value, stage=stage, error=error, topic=topic, failed_at=utc_now())
        self._producer.send(self.deadletter_topic, value=letter.model_dump_json().encode())

    def end_offsets(self) -> dict[str, int]:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            ends = consumer.end_offsets([TopicPartition(self.topic, p) for p in parts])
            return {str(tp.partition): off for tp, off in ends.items()}
        finally:
            consumer.close()

    def keys_since(self, offsets: dict[str, int]) -> set[str]:
        """Keys written to the topic after ``offsets`` (by a process that crashed before its checkpoint)."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 consumer_timeout_ms=1000)
        keys: set[str] = set()
        try:
            parts = [TopicPartition(self.topic, int(p)) for p in (consumer.partitions_for_topic(self.topic) or [])]
            ends = consumer.end_offsets(parts)
            todo = {tp: (int(offsets.get(str(tp.partition), 0)), ends[tp]) for tp in parts}
            todo = {tp: se for tp, se in todo.items() if se[0] < se[1]}
            if not todo:
                return keys
            consumer.assign(list(todo))
            for tp, (start, _) in todo.items():
                consumer.seek(tp, start)
            while todo:
                batch = consumer.poll(timeout_ms=1000)
                if not batch:
                    break
                for tp, records in batch.items():
                    for rec in records:
                        if rec.key:
                            keys.add(rec.key.decode("utf-8", "replace"))
                    if consumer.position(tp) >= todo[tp][1]:
                        todo.pop(tp, None)
                        consumer.pause(tp)
            return keys
        finally:
            consumer.close()

    def close(self, timeout: float = 30.0) -> None:
        try:
            self.flush(timeout)
        finally:
            self._producer.close(timeout=timeout)


class Source(ABC):
    """A source of posts. ``positions()`` yields (post, position) pairs in a deterministic order; the
    position after a batch is what the checkpoint stores and what ``resume`` receives after a restart."""

    name: ClassVar[str]

    @abstractmethod
    def items(self, resume: Any) -> Iterable[tuple[RawPost, Any]]:
        """Yield (post, position after this post), starting after ``resume`` (None: from the start)."""


def run_source(source: Source, publisher: Publisher, checkpoint: Checkpoint, *, rate: float | None = None,
               batch_size: int = 500, batch_seconds: float = 1.0, stop: threading.Event | None = None) -> int:
    """Publish a source's posts with checkpoints; return how many were published this run.

    The source yields ``(post, position)``; ``post`` may be None for an item it reported as invalid."""
    state = checkpoint.load()
    skip = publisher.keys_since(state["offsets"]) if state.get("offsets") else set()
    if skip:
        log.info("resuming %s after a crash: %d posts already in the topic are not sent again", source.name,
                 len(skip))
    limiter = RateLimiter(rate)
    published, in_batch, batch_started = 0, 0, time.monotonic()
    done = state.get("position")

    def commit() -> None:
        publisher.flush()
        checkpoint.save({"position": done, "offsets": publisher.end_offsets(), "source": source.name,
                         "saved_at": time.time()})

    for post, position in source.items(done):
        if stop is not None and stop.is_set():
            break
        if post is not None and post.key not in skip:
            limiter.acquire()
            publisher.publish(post)
            published += 1
            in_batch += 1
        done = position
        if in_batch >= batch_size or (in_batch and time.monotonic() - batch_started >= batch_seconds):
            commit()
            in_batch, batch_started = 0, time.monotonic()
    commit()
    return published


def default_checkpoint_path(settings: Settings, source: str, ident: str) -> Path:
    import hashlib

    digest = hashlib.sha1(f"{settings.kafka.bootstrap}|{settings.kafka.raw_topic}|{ident}".encode()).hexdigest()
    return Path(".lingting") / "checkpoints" / f"{source}-{digest[:12]}.json"
