"""Shared fixtures. Integration tests run against the real Kafka + Elasticsearch: the ones named by
LINGTING_KAFKA / LINGTING_ES, or else the local stack, which the ``stack`` fixture starts (idempotent)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(scope="session")
def stack() -> dict[str, str]:
    """Addresses of a running Kafka and Elasticsearch (starts the local stack if needed)."""
    kafka = os.environ.get("LINGTING_KAFKA")
    es = os.environ.get("LINGTING_ES")
    if not (kafka and es):
        from pipeline import stack as local_stack

        local_stack.up()
        kafka = kafka or f"127.0.0.1:{local_stack.default_kafka_port()}"
        es = es or f"http://127.0.0.1:{local_stack.default_es_port()}"
    return {"kafka": kafka, "es": es}


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: dict[str, str]) -> str:
    return stack["kafka"]


@pytest.fixture(scope="session")
def es_url(stack: dict[str, str]) -> str:
    return stack["es"]


@pytest.fixture(scope="session")
def es(es_url: str):
    from elasticsearch import Elasticsearch

    client = Elasticsearch(es_url, request_timeout=30)
    yield client
    client.close()


@pytest.fixture
def unique_prefix() -> str:
    """A fresh topic/index prefix so tests sharing one stack never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_config(stack: dict[str, str], unique_prefix: str, tmp_path) -> Callable[..., dict[str, Any]]:
    """Build a config dict (as in lingting.yaml) pointing at the test stack with isolated topics and indices."""

    def build(**overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kafka": {"bootstrap": stack["kafka"], "topic_prefix": unique_prefix, "partitions": 2},
            "elasticsearch": {"url": stack["es"], "index_prefix": unique_prefix, "flush_seconds": 0.2},
            "worker": {
                "app_id": f"{unique_prefix}-worker",
                "data_dir": str(tmp_path / "worker"),
                "web_port": 0,
                "tick_seconds": 0.5,
            },
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    return build


@pytest.fixture
def make_settings(make_config) -> Callable[..., Any]:
    """Validated Settings for ``make_config(**overrides)``."""
    from pipeline.settings import Settings

    return lambda **overrides: Settings.model_validate(make_config(**overrides))
