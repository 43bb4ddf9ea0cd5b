"""The Kafka publisher of every connector: RawPost keyed ``platform:id``, acks=all, idempotent, gzip; the
dead-letter topic for inputs that are not posts; and reading the raw topic back (end offsets, keys since an
offset or a time) so that a restart sends nothing twice."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from connectors.kafka import KAFKA_HINT, retry_kafka
from connectors.metrics import connector_metrics
from connectors.source import ConnectorError
from schemas import RawPost
from schemas.settings import KafkaSettings

log = logging.getLogger("lingting.connect")

T = TypeVar("T")


class Publisher:
    """kafka-python producer for RawPost: acks=all, idempotent, compressed, keyed ``platform:id``.

    The constructor waits for Kafka (logging every ``log_every`` s) instead of failing. ``source`` labels the
    metrics (default: the client id without ``lingting-connect-``); ``producer_options`` override producer
    settings (tests shorten ``delivery_timeout_ms``)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        client_id: str = "lingting-connector",
        *,
        source: str | None = None,
        stop: threading.Event | None = None,
        log_every: float = 30.0,
        producer_options: dict[str, Any] | None = None,
    ) -> None:
        self.topic = kafka.raw_topic
        self.deadletter_topic = kafka.deadletter_topic
        self.bootstrap = kafka.servers
        self._connection = kafka.kafka_python_options()  # address, security protocol, SASL, TLS
        self.client_id = client_id
        self.metrics = connector_metrics(source or client_id.removeprefix("lingting-connect-"))
        self.stop, self.log_every = stop, log_every
        self._options = {
            "acks": "all",
            "enable_idempotence": True,
            "compression_type": "gzip",
            "linger_ms": 20,
            "batch_size": 256 * 1024,
            "retries": 2**31 - 1,
            "delivery_timeout_ms": 300_000,
            "max_block_ms": 120_000,
            **(producer_options or {}),
        }
        #: a flush waiting longer than this is given up (the producer's delivery timeout plus a grace period)
        self.give_up_after = self._options["delivery_timeout_ms"] / 1000 * 1.1 + 5
        self._errors: list[BaseException] = []
        self._consumer: Any = None
        self._producer = self._connect()

    def _connect(self) -> Any:
        from kafka import KafkaProducer

        return self.retry(
            lambda: KafkaProducer(**self._connection, client_id=self.client_id, **self._options), "opening the producer"
        )

    def retry(self, action: Callable[[], T], what: str) -> T:
        """``retry_kafka`` with this publisher's address, stop event, log interval and metrics."""
        return retry_kafka(
            action, bootstrap=self.bootstrap, what=what, stop=self.stop, log_every=self.log_every, metrics=self.metrics
        )

    @property
    def address(self) -> str:
        return ",".join(self.bootstrap)

    def publish(self, post: RawPost, *, collect_errors: bool = True):
        """Send asynchronously and return the send future; failures also surface at the next ``flush``
        (unless ``collect_errors`` is False: the caller handles the future's failure itself)."""
        future = self._producer.send(
            self.topic, key=post.key.encode(), value=post.model_dump_json(exclude_unset=True).encode()
        )
        if collect_errors:
            future.add_errback(self._errors.append)
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Block until every sent post is acknowledged by all in-sync replicas, or raise.

        ConnectorError: Kafka refused or the delivery timeout expired (the posts are lost for this producer);
        kafka.errors.KafkaTimeoutError: ``timeout`` elapsed first (the producer is still retrying)."""
        self._producer.flush(timeout=timeout)
        if self._errors:
            err, self._errors = self._errors[0], []
            raise ConnectorError(f"Kafka at {self.address} did not accept posts for {self.topic}: {err}")

    def reset(self) -> None:
        """Drop the producer (and whatever it still buffers) and open a fresh one, waiting for Kafka."""
        from kafka.errors import KafkaTimeoutError

        old = self._producer
        try:
            old.close(timeout=0)
        except KafkaTimeoutError:
            # kafka-python's close() flushes first and gives up while records are pending (dpkp/kafka-python#2537),
            # which left the producer's I/O thread retrying the dropped batch, able to deliver it later under
            # another producer id. Abort that thread (pending records fail), then close.
            sender = getattr(old, "_sender", None)
            if sender is not None:
                sender.force_close()
                sender.join(5)
            try:
                old.close(timeout=0)
            except Exception as err:
                log.debug("closing the old producer: %s", err)
        except Exception as err:  # closing a producer whose broker is gone may complain; the new one matters
            log.debug("closing the old producer: %s", err)
        self._close_consumer()
        self._errors = []
        self._producer = self._connect()

    def dead_letter(self, value: bytes, *, stage: str, error: str, topic: str) -> None:
        """Keep an input the connector cannot turn into a RawPost, with why (nothing is silently dropped)."""
        from schemas import DeadLetter, utc_now

        letter = DeadLetter.wrap(value, stage=stage, error=error, topic=topic, failed_at=utc_now())
        self._producer.send(self.deadletter_topic, value=letter.model_dump_json().encode())
        self.metrics.invalid()

    # --- reading the raw topic back (offsets, keys) with one cached consumer

    def _consumer_for_reads(self) -> Any:
        from kafka import KafkaConsumer

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                **self._connection, enable_auto_commit=False, client_id=f"{self.client_id}-readback"
            )
        return self._consumer

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception as err:
                log.debug("closing the read-back consumer: %s", err)
            self._consumer = None

    def _partitions(self) -> list:
        from kafka import TopicPartition

        consumer = self._consumer_for_reads()
        return [TopicPartition(self.topic, p) for p in sorted(consumer.partitions_for_topic(self.topic) or [])]

    def end_offsets(self) -> dict[str, int]:
        try:
            ends = self._consumer_for_reads().end_offsets(self._partitions())
        except Exception:
            self._close_consumer()
            raise
        return {str(tp.partition): off for tp, off in ends.items()}

    def offsets_at(self, timestamp: float) -> dict[str, int]:
        """Per partition, the first offset written at or after ``timestamp`` (Unix s), else the end offset."""
        try:
            consumer = self._consumer_for_reads()
            parts = self._partitions()
            found = consumer.offsets_for_times({tp: int(timestamp * 1000) for tp in parts})
            ends = consumer.end_offsets(parts)
        except Exception:
            self._close_consumer()
            raise
        return {str(tp.partition): (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in parts}

    def read_back(self, offsets: dict[str, int], max_per_partition: int | None = None) -> Iterator[tuple[str, int]]:
        """(key, timestamp ms) of the records after ``offsets`` up to the current end of each partition
        (the last ``max_per_partition`` of them at most)."""
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            **self._connection, enable_auto_commit=False, client_id=f"{self.client_id}-readback", max_poll_records=5000
        )
        try:
            parts = self._partitions()
            ends = consumer.end_offsets(parts)
            todo = {}
            for tp in parts:
                start = int(offsets.get(str(tp.partition), 0))
                if max_per_partition is not None:
                    start = max(start, ends[tp] - max_per_partition)
                if start < ends[tp]:
                    todo[tp] = (start, ends[tp])
            if not todo:
                return
            consumer.assign(list(todo))
            for tp, (start, _) in todo.items():
                consumer.seek(tp, start)
            idle = 0
            while todo and idle < 30:
                batch = consumer.poll(timeout_ms=1000)
                idle = 0 if batch else idle + 1
                for tp, records in batch.items():
                    for rec in records:
                        if rec.key and tp in todo and rec.offset < todo[tp][1]:
                            yield rec.key.decode("utf-8", "replace"), rec.timestamp
                    if tp in todo and consumer.position(tp) >= todo[tp][1]:
                        todo.pop(tp, None)
                        consumer.pause(tp)
            if todo:
                raise ConnectorError(
                    f"could not read back {self.topic} up to its end offsets from Kafka at "
                    f"{self.address} within 30 s; {KAFKA_HINT}"
                )
        finally:
            consumer.close()

    def keys_since(self, offsets: dict[str, int]) -> set[str]:
        """Keys written to the topic after ``offsets`` (by a process that crashed before its checkpoint)."""
        return {key for key, _ in self.read_back(offsets)}

    def close(self, timeout: float = 30.0) -> None:
        from kafka.errors import KafkaTimeoutError

        try:
            self.flush(timeout)
        except KafkaTimeoutError:
            raise ConnectorError(
                f"Kafka at {self.address} did not acknowledge every post within {timeout:.0f} s "
                "of closing; what was not checkpointed is sent again after a restart"
            ) from None
        finally:
            self._close_consumer()
            self._producer.close(timeout=timeout)
