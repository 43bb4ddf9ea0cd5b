"""The worker's outside connections, made once and shared by the stages: Elasticsearch, the notifier, and
the dead-letter writer."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.settings import Settings
from pipeline.worker.observe import Metrics
from pipeline.worker.records import bounded_original
from schemas import DeadLetter, utc_now

log = logging.getLogger("lingting.worker")


class Clients:
    """Elasticsearch and the notifier, created on first use (nothing connects before the app starts)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._es: Any = None
        self._notifier: Any = None

    async def es(self):
        if self._es is None:
            from elasticsearch import AsyncElasticsearch
            from elasticsearch.serializer import OrjsonSerializer

            from sinks import elasticsearch as es_sink

            e = self.settings.elasticsearch
            client = AsyncElasticsearch(
                **e.client_options(request_timeout=30, retry_on_timeout=True, serializer=OrjsonSerializer())
            )
            try:
                await es_sink.ensure_indices(client, e.index_prefix)
            except BaseException:
                await client.close()
                raise
            self._es = client
        return self._es

    async def notifier(self):
        if self._notifier is None:
            from sinks.notify.dispatcher import Notifier

            candidate = Notifier.from_settings(self.settings)
            await candidate.start()  # raises when Elasticsearch is not ready: retried on the next alert
            self._notifier = candidate
        return self._notifier

    def notifier_queue_depth(self) -> int:
        return self._notifier.queue_depth() if self._notifier is not None else 0

    async def close(self) -> None:
        if self._notifier is not None:
            await self._notifier.stop(timeout=3.0)
        if self._es is not None:
            await self._es.close()


class Outbox:
    """Records a stage produces for one batch; ``flush`` returns once Kafka has confirmed every one of them.

    A failed send is sent again with backoff until it succeeds (records are idempotent downstream), so a stage
    acknowledges its input only after its output is safe, and a broker away for minutes holds the batch."""

    def __init__(self, say: Any = None) -> None:
        self.say = say
        self._records: list[tuple[Any, bytes | None, bytes]] = []

    def add(self, topic: Any, key: bytes | None, value: bytes) -> None:
        self._records.append((topic, key, value))

    def __len__(self) -> int:
        return len(self._records)

    async def flush(self) -> None:
        import asyncio

        from schemas.retry import backoff_delay

        pending, attempt = self._records, 0
        self._records = []
        while pending:
            results = await _send_in_order(pending)
            failed = [(rec, res) for rec, res in zip(pending, results, strict=False) if isinstance(res, BaseException)]
            if not failed:
                return
            attempt += 1
            pending = [rec for rec, _ in failed]
            delay = backoff_delay(attempt, initial=0.5, cap=30.0, jitter=0.5)
            log.warning(
                "Kafka did not accept %d records (%r); batch held, nothing acknowledged, retry in %.1f s",
                len(pending),
                failed[0][1],
                delay,
            )
            await asyncio.sleep(delay)


async def _send_in_order(pending: list[tuple[Any, bytes | None, bytes]]) -> list[Any]:
    """Kafka's answer (metadata or the exception) for each record, sent in order. ``send`` itself can raise
    (producer buffer full, broker gone, a record the client refuses): that is a failed send like any other,
    retried by ``flush`` with the records after it, never an escape that stops the agent mid-batch."""
    import asyncio

    futures: list[Any] = []
    for i, (topic, key, value) in enumerate(pending):
        try:
            futures.append(await topic.send(key=key, value=value))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # the rest wait for the next round, so a partition keeps its order
            rest = len(pending) - i
            return await asyncio.gather(*futures, return_exceptions=True) + [err] * rest
    return await asyncio.gather(*futures, return_exceptions=True)


class DeadLetters:
    """Writes what a stage could not process, with where it came from and why; bounded to a sendable size."""

    def __init__(self, topic: Any, metrics: Metrics) -> None:
        self.topic, self.metrics = topic, metrics

    def add(
        self,
        outbox: Outbox,
        value: bytes | None,
        *,
        stage: str,
        error: str,
        topic: str,
        key: bytes | str | None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        original, note = bounded_original(value)
        letter = DeadLetter.wrap(
            original,
            stage=stage,
            error=error + note,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            failed_at=utc_now(),
        )
        log.warning(
            "dead letter: %s at %s[%s]@%s: %s",
            stage,
            topic,
            partition,
            offset,
            error.splitlines()[0][:300] if error else "",
        )
        self.metrics.dead_letters.labels(stage).inc()
        key_bytes = key.encode() if isinstance(key, str) else key
        outbox.add(self.topic, key_bytes, letter.model_dump_json().encode())

    def of_event(self, outbox: Outbox, event: Any, stage: str, error: str) -> None:
        msg = event.message
        self.add(
            outbox,
            event.value,
            stage=stage,
            error=error,
            topic=msg.topic,
            key=event.key,
            partition=msg.partition,
            offset=msg.offset,
        )
