"""A record through the real broker with kafka-python, connected only by a kafka section's options."""

from __future__ import annotations

import uuid

from schemas.settings import KafkaSettings


def kafka_python_round_trip(k: KafkaSettings, text: str) -> list[str]:
    """Produce ``text`` to a fresh topic and read the topic back: what a consumer with these options gets."""
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"sec-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(**k.kafka_python_options(), acks="all", max_block_ms=30_000)
    producer.send(topic, text.encode()).get(timeout=60)
    producer.close()
    consumer = KafkaConsumer(topic, **k.kafka_python_options(), auto_offset_reset="earliest", consumer_timeout_ms=8000)
    try:
        return [r.value.decode() for r in consumer]
    finally:
        consumer.close()
