"""Create the pipeline's Kafka topics with the configured partitions (idempotent)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pipeline.settings import Settings
from schemas.errors import LingtingError

log = logging.getLogger("lingting.topics")


def ensure_topics(settings: Settings, names: Iterable[str] | None = None, timeout_s: float = 30.0) -> list[str]:
    """Create missing topics (default: raw, enriched, alerts, deadletter); return the ones created.

    Partitions decide how far the pipeline scales out: enriched posts are keyed by brand, so each brand's
    windows live on one partition; more partitions allow more workers."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    k = settings.kafka
    wanted = list(names or [k.raw_topic, k.enriched_topic, k.alerts_topic, k.deadletter_topic])
    try:
        admin = KafkaAdminClient(
            **k.kafka_python_options(), client_id="lingting-admin", request_timeout_ms=int(timeout_s * 1000)
        )
    except KafkaError as err:
        raise LingtingError(
            f"cannot reach Kafka at {k.bootstrap} ({err}); is it running? (local stack: `lingting stack status`)"
        ) from None
    try:
        existing = set(admin.list_topics())
        missing = [n for n in wanted if n not in existing]
        if missing:
            try:
                admin.create_topics([NewTopic(n, k.partitions, k.replication_factor) for n in missing])
            except TopicAlreadyExistsError:
                pass  # another worker or connector created them at the same time
            log.info("created topics %s with %d partitions", ", ".join(missing), k.partitions)
        return missing
    finally:
        admin.close()
