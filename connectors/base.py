"""What every connector shares: the Kafka publisher, the checkpoint, the rate limit, the registry, the metrics.

Exactly once in the topic, across a crash: a connector's position in its source is deterministic (a line
number, a feed entry id, a since_id). After each batch the publisher flushes (acks=all) and the checkpoint
records the position together with the raw topic's end offsets. After a restart, the connector reads back what
reached the topic after those offsets (whatever the crashed process sent before it died) and skips those keys:
no gap, because it resumes from the checkpointed position, and no duplicate, because sent keys are skipped.

Kafka outages: a connector never exits because the broker is away. It waits (logging every 30 s), the producer
retries unacknowledged posts until ``delivery_timeout``, and a batch Kafka definitively refused is rebuilt from
the last checkpoint exactly like a restart (resume position + read-back of the keys already in the topic).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from abc import ABC, abstractmethod
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, TypeVar

from schemas import RawPost
from schemas.errors import LingtingError
from schemas.retry import backoff_delay
from schemas.settings import KafkaSettings

log = logging.getLogger("lingting.connect")

REGISTRY: dict[str, type["Source"]] = {}
T = TypeVar("T")
KAFKA_HINT = "check `lingting stack status` / LINGTING_KAFKA"


def register(cls: type["Source"]) -> type["Source"]:
    """Class decorator: make a source available as ``lingting connect NAME``."""
    REGISTRY[cls.name] = cls
    return cls


class ConnectorError(LingtingError):
    """A source cannot be read or published (bad input, bad credentials, unreachable broker)."""


# --------------------------------------------------------------------------------------------- metrics

class _Families:
    """The connector metric families, registered once in prometheus-client's default registry."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge

        def counter(name: str, doc: str) -> Any:
            return Counter(f"lingting_connector_{name}", doc, ["source"])

        def gauge(name: str, doc: str) -> Any:
            return Gauge(f"lingting_connector_{name}", doc, ["source"])

        self.published = counter("posts_published", "Posts acknowledged by Kafka (acks=all) on the raw topic")
        self.invalid = counter("posts_invalid", "Input items that are not a valid RawPost (dead-lettered, "
                                                "or for http answered per item)")
        self.duplicates = counter("posts_duplicate", "Posts not sent again because their key is already in "
                                                     "the topic (resume after a crash, http client retries)")
        self.source_errors = counter("source_errors", "Errors reading the source (feed, API, file)")
        self.kafka_errors = counter("kafka_errors", "Kafka outages and batches Kafka did not acknowledge")
        self.kafka_up = gauge("kafka_up", "1 while Kafka answers, 0 while the connector waits for it")
        self.last_checkpoint = gauge("last_checkpoint_timestamp_seconds", "Unix time of the last checkpoint "
                                                                         "(or, for http, of the last ack)")
        self.lag = gauge("publish_lag_seconds", "Now minus created_at of the newest post Kafka acknowledged "
                                                "(how far behind real time the connector is)")


_families: _Families | None = None
_metrics: dict[str, "ConnectorMetrics"] = {}
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
        return (f"{self.source}: {t['published']} posts published (+{t['published'] - previous.get('published', 0)}"
                f"), {t['invalid']} invalid, {t['duplicates']} duplicates skipped, {t['source_errors']} source "
                f"errors, {t['kafka_errors']} Kafka errors; last checkpoint {ago}")


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
        raise ConnectorError(f"cannot serve metrics on {addr}:{port} ({err.strerror}); choose another "
                             "--metrics-port") from None
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


# ----------------------------------------------------------------------------------------- Kafka waits

def kafka_reachable(bootstrap: list[str], timeout: float = 2.0) -> bool:
    """True when one of the bootstrap addresses accepts a TCP connection."""
    for address in bootstrap:
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port or 9092)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def retry_kafka(action: Callable[[], T], *, bootstrap: list[str], what: str, stop: threading.Event | None = None,
                log_every: float = 30.0, metrics: ConnectorMetrics | None = None) -> T:
    """Run ``action`` until Kafka lets it succeed: never give up, log every ``log_every`` s what is waited for.

    Raises ConnectorError only if ``stop`` is set while waiting (the operator asked to stop)."""
    from kafka.errors import KafkaError

    started = time.monotonic()
    next_log, attempt, error = started + log_every, 0, "no answer"
    while True:
        if kafka_reachable(bootstrap):
            try:
                result = action()
            except (KafkaError, OSError, LingtingError) as err:
                error = f"{type(err).__name__}: {err}"
            else:
                if metrics is not None:
                    metrics.kafka_up(True)
                if time.monotonic() - started > log_every:
                    log.warning("Kafka at %s is back after %.0f s (%s)", ",".join(bootstrap),
                                time.monotonic() - started, what)
                return result
        else:
            error = "connection refused or timed out"
        if metrics is not None:
            metrics.kafka_up(False)
        if stop is not None and stop.is_set():
            raise ConnectorError(f"stopped while waiting for Kafka at {','.join(bootstrap)} ({what}); "
                                 "nothing unacknowledged was checkpointed, a restart resumes from the checkpoint")
        now = time.monotonic()
        if now >= next_log:
            log.warning("Kafka at %s unreachable for %.0f s (%s; last error: %s); retrying — %s",
                        ",".join(bootstrap), now - started, what, error, KAFKA_HINT)
            next_log = now + log_every
        attempt += 1
        delay = backoff_delay(attempt, initial=0.2, cap=5.0)
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)


# --------------------------------------------------------------------------------- checkpoint, limiter

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


# ------------------------------------------------------------------------------------------- publisher

class Publisher:
    """kafka-python producer for RawPost: acks=all, idempotent, compressed, keyed ``platform:id``.

    The constructor waits for Kafka (logging every ``log_every`` s) instead of failing. ``source`` labels the
    metrics (default: the client id without ``lingting-connect-``); ``producer_options`` override producer
    settings (tests shorten ``delivery_timeout_ms``)."""

    def __init__(self, kafka: KafkaSettings, client_id: str = "lingting-connector", *, source: str | None = None,
                 stop: threading.Event | None = None, log_every: float = 30.0,
                 producer_options: dict[str, Any] | None = None) -> None:
        self.topic = kafka.raw_topic
        self.deadletter_topic = kafka.deadletter_topic
        self.bootstrap = kafka.servers
        self.client_id = client_id
        self.metrics = connector_metrics(source or client_id.removeprefix("lingting-connect-"))
        self.stop, self.log_every = stop, log_every
        self._options = {"acks": "all", "enable_idempotence": True, "compression_type": "gzip", "linger_ms": 20,
                         "batch_size": 256 * 1024, "retries": 2**31 - 1, "delivery_timeout_ms": 300_000,
                         "max_block_ms": 120_000, **(producer_options or {})}
        #: a flush waiting longer than this is given up (the producer's delivery timeout plus a grace period)
        self.give_up_after = self._options["delivery_timeout_ms"] / 1000 * 1.1 + 5
        self._errors: list[BaseException] = []
        self._consumer: Any = None
        self._producer = self._connect()

    def _connect(self) -> Any:
        from kafka import KafkaProducer

        return self.retry(lambda: KafkaProducer(bootstrap_servers=self.bootstrap, client_id=self.client_id,
                                                **self._options), "opening the producer")

    def retry(self, action: Callable[[], T], what: str) -> T:
        """``retry_kafka`` with this publisher's address, stop event, log interval and metrics."""
        return retry_kafka(action, bootstrap=self.bootstrap, what=what, stop=self.stop, log_every=self.log_every,
                           metrics=self.metrics)

    @property
    def address(self) -> str:
        return ",".join(self.bootstrap)

    def publish(self, post: RawPost, *, collect_errors: bool = True):
        """Send asynchronously and return the send future; failures also surface at the next ``flush``
        (unless ``collect_errors`` is False: the caller handles the future's failure itself)."""
        future = self._producer.send(self.topic, key=post.key.encode(),
                                     value=post.model_dump_json(exclude_unset=True).encode())
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
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                           client_id=f"{self.client_id}-readback")
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

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 client_id=f"{self.client_id}-readback", max_poll_records=5000)
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
                raise ConnectorError(f"could not read back {self.topic} up to its end offsets from Kafka at "
                                     f"{self.address} within 30 s; {KAFKA_HINT}")
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
            raise ConnectorError(f"Kafka at {self.address} did not acknowledge every post within {timeout:.0f} s "
                                 "of closing; what was not checkpointed is sent again after a restart") from None
        finally:
            self._close_consumer()
            self._producer.close(timeout=timeout)


# ---------------------------------------------------------------------------------------- run a source

class Source(ABC):
    """A source of posts. ``positions()`` yields (post, position) pairs in a deterministic order; the
    position after a batch is what the checkpoint stores and what ``resume`` receives after a restart."""

    name: ClassVar[str]

    @abstractmethod
    def items(self, resume: Any) -> Iterable[tuple[RawPost, Any]]:
        """Yield (post, position after this post), starting after ``resume`` (None: from the start)."""


class _BatchLost(Exception):
    """Kafka definitively did not take posts sent since the last checkpoint."""


class _Stopped(Exception):
    """Asked to stop while posts were still waiting for Kafka (they were not checkpointed)."""


def run_source(source: Source, publisher: Publisher, checkpoint: Checkpoint, *, rate: float | None = None,
               batch_size: int = 500, batch_seconds: float = 1.0, stop: threading.Event | None = None,
               status_every: float = 60.0) -> int:
    """Publish a source's posts with checkpoints; return how many Kafka acknowledged in this run.

    The source yields ``(post, position)``; ``post`` may be None for an item it reported as invalid.
    Survives Kafka outages (see the module docstring); logs the totals every ``status_every`` seconds."""
    limiter = RateLimiter(rate)
    status = start_status_log(publisher.metrics, status_every)
    published = [0]
    try:
        while True:
            try:
                _run_from_checkpoint(source, publisher, checkpoint, limiter, batch_size, batch_seconds, stop,
                                     published)
                return published[0]
            except _BatchLost as err:
                publisher.metrics.kafka_error()
                log.error("%s: %s; rebuilding from the last checkpoint %s like a restart (posts already in the "
                          "topic are not sent twice)", source.name, err, checkpoint.path)
                publisher.reset()
            except _Stopped as err:
                log.warning("%s: %s", source.name, err)
                return published[0]
    finally:
        status.set()


def _run_from_checkpoint(source: Source, publisher: Publisher, checkpoint: Checkpoint, limiter: RateLimiter,
                         batch_size: int, batch_seconds: float, stop: threading.Event | None,
                         published: list[int]) -> None:
    from kafka.errors import KafkaError, KafkaTimeoutError

    metrics = publisher.metrics
    state = checkpoint.load()
    if "offsets" not in state:  # before the first post: a crash right after it must not resend what got in
        state = {"position": state.get("position"), "source": source.name, "saved_at": time.time(),
                 "offsets": publisher.retry(publisher.end_offsets, "reading the raw topic's end offsets")}
        checkpoint.save(state)
    skip = publisher.retry(lambda: publisher.keys_since(state["offsets"]), "reading back the raw topic")
    if skip:
        log.info("resuming %s from %s: %d posts already in the topic are not sent again", source.name,
                 checkpoint.path, len(skip))
    done = state.get("position")
    in_batch, skipped, newest, batch_started = 0, 0, None, time.monotonic()

    def commit() -> None:
        nonlocal in_batch, skipped, newest, batch_started
        waited = time.monotonic()
        while True:
            try:
                publisher.flush(timeout=publisher.log_every)
                break
            except KafkaTimeoutError:  # not yet: the producer keeps retrying until delivery_timeout
                metrics.kafka_up(False)
                if time.monotonic() - waited > publisher.give_up_after:  # a producer stuck past its own timeout
                    raise _BatchLost(f"{in_batch} posts sent since the last checkpoint were not acknowledged by "
                                     f"Kafka at {publisher.address} within {publisher.give_up_after:.0f} s") from None
                log.warning("Kafka at %s unreachable for %.0f s: %d posts of %s wait for an acknowledgement "
                            "(not checkpointed, nothing is lost); retrying — %s", publisher.address,
                            time.monotonic() - waited, in_batch, source.name, KAFKA_HINT)
                if stop is not None and stop.is_set():
                    raise _Stopped(f"stopping with {in_batch} posts unacknowledged by Kafka; they are sent "
                                   "again after a restart (the checkpoint was not advanced)") from None
            except ConnectorError as err:
                raise _BatchLost(f"{in_batch} posts sent since the last checkpoint were not acknowledged "
                                 f"({err})") from None
        offsets = publisher.retry(publisher.end_offsets, "reading the raw topic's end offsets")
        checkpoint.save({"position": done, "offsets": offsets, "source": source.name, "saved_at": time.time()})
        metrics.kafka_up(True)
        metrics.published(in_batch, newest)
        metrics.duplicates(skipped)
        metrics.checkpointed()
        published[0] += in_batch
        in_batch, skipped, newest, batch_started = 0, 0, None, time.monotonic()

    items = iter(source.items(done))
    try:
        for post, position in items:
            if stop is not None and stop.is_set():
                break
            if post is not None:
                if post.key in skip:
                    skipped += 1
                else:
                    limiter.acquire()
                    try:
                        publisher.publish(post)
                    except KafkaError as err:  # buffer full for max_block_ms: Kafka has been away for minutes
                        raise _BatchLost(f"Kafka at {publisher.address} did not take new posts ({err})") from None
                    in_batch += 1
                    newest = post.created_at if newest is None else max(newest, post.created_at)
            done = position
            if in_batch >= batch_size or (in_batch and time.monotonic() - batch_started >= batch_seconds):
                commit()
        commit()
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def default_checkpoint_path(kafka: KafkaSettings, source: str, ident: str) -> Path:
    import hashlib

    digest = hashlib.sha1(f"{kafka.bootstrap}|{kafka.raw_topic}|{ident}".encode()).hexdigest()
    return Path(".lingting") / "checkpoints" / f"{source}-{digest[:12]}.json"
