"""Client objects built from the connection sections where a library needs its own types (Faust's credentials);
every other client takes ``KafkaSettings.kafka_python_options()`` / ``ElasticsearchSettings.client_options()``
directly."""

from __future__ import annotations

from typing import Any

import faust

from schemas.settings import KafkaSettings


def faust_credentials(kafka: KafkaSettings) -> Any:
    """Faust's ``broker_credentials`` for the kafka section (None on PLAINTEXT); Faust derives the protocol from
    the type: SSLCredentials is SSL, SASLCredentials with an ssl_context is SASL_SSL, without it SASL_PLAINTEXT."""
    spec = kafka.faust_credentials()
    if spec is None:
        return None
    if spec.pop("kind") == "ssl":
        return faust.SSLCredentials(spec["context"])
    return faust.SASLCredentials(**spec)
