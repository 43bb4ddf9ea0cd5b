"""Waiting for Kafka: a connector never exits because the broker is away; it retries and says every 30 s what
it is waiting for."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from connectors.metrics import ConnectorMetrics
from connectors.source import ConnectorError
from schemas.errors import LingtingError
from schemas.retry import backoff_delay

log = logging.getLogger("lingting.connect")

T = TypeVar("T")
KAFKA_HINT = "check `lingting stack status` / LINGTING_KAFKA"


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


def retry_kafka(
    action: Callable[[], T],
    *,
    bootstrap: list[str],
    what: str,
    stop: threading.Event | None = None,
    log_every: float = 30.0,
    metrics: ConnectorMetrics | None = None,
) -> T:
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
                    log.warning(
                        "Kafka at %s is back after %.0f s (%s)", ",".join(bootstrap), time.monotonic() - started, what
                    )
                return result
        else:
            error = "connection refused or timed out"
        if metrics is not None:
            metrics.kafka_up(False)
        if stop is not None and stop.is_set():
            raise ConnectorError(
                f"stopped while waiting for Kafka at {','.join(bootstrap)} ({what}); "
                "nothing unacknowledged was checkpointed, a restart resumes from the checkpoint"
            )
        now = time.monotonic()
        if now >= next_log:
            log.warning(
                "Kafka at %s unreachable for %.0f s (%s; last error: %s); retrying — %s",
                ",".join(bootstrap),
                now - started,
                what,
                error,
                KAFKA_HINT,
            )
            next_log = now + log_every
        attempt += 1
        delay = backoff_delay(attempt, initial=0.2, cap=5.0)
        if stop is not None:
            stop.wait(delay)
        else:
            time.sleep(delay)
