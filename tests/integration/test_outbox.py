"""The worker's Outbox on the real broker: a send that raises at once (here a record the client refuses before
anything reaches Kafka) is a failed send like a refused one: retried, the records after it held back in order,
and the agent never sees an exception that would stop it with its batch half written."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pipeline.worker.clients import Outbox
from tests.connectors.kafka_topic import read_topic

pytestmark = pytest.mark.integration


class _Topic:
    """The one call Outbox makes on a Faust topic, on a real aiokafka producer."""

    def __init__(self, producer, name: str) -> None:
        self.producer, self.name = producer, name

    async def send(self, key: bytes | None, value: bytes):
        return await self.producer.send(self.name, key=key, value=value)


def test_a_send_that_raises_holds_the_batch_in_order_instead_of_escaping(
    kafka_bootstrap, unique_prefix, caplog
) -> None:
    from aiokafka import AIOKafkaProducer

    topic = f"{unique_prefix}.outbox"
    first, huge, last = "海底捞 第一条 [怒]".encode(), b"x" * (2 << 20), "#海底捞# 最后一条".encode()

    async def scenario() -> tuple[bool, BaseException | None]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=1 << 20)
        await producer.start()
        try:
            out = Outbox()
            for value in (first, huge, last):
                out.add(_Topic(producer, topic), b"k", value)
            task = asyncio.create_task(out.flush())
            await asyncio.sleep(4)  # several rounds of retries
            done = task.done()
            error = task.exception() if done else None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return done, error
        finally:
            await producer.stop()

    with caplog.at_level(logging.WARNING, logger="lingting.worker"):
        done, error = asyncio.run(scenario())
    assert not done and error is None, "the flush must hold the batch, not raise"
    assert "MessageSizeTooLarge" in caplog.text and "nothing acknowledged" in caplog.text
    # what was before the refused record is written; what came after it waits behind it
    assert [r.value for r in read_topic(topic, kafka_bootstrap)] == [first]
