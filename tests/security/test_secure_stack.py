"""The real broker with TLS and SASL: `stack up --secure` (SSL +2, SASL_PLAINTEXT +3, SASL_SSL +4) on a
throw-away stack, reached through KafkaSettings' options by kafka-python and, through Faust's credentials, by
the worker."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from pipeline import stack
from schemas.settings import KafkaSettings
from tests.security.roundtrip import kafka_python_round_trip

pytestmark = pytest.mark.integration

CASES = [
    ("SSL", 2, None),
    ("SASL_PLAINTEXT", 3, "PLAIN"),
    ("SASL_PLAINTEXT", 3, "SCRAM-SHA-256"),
    ("SASL_SSL", 4, "SCRAM-SHA-512"),
]


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    base = stack.default_kafka_port() + 310 if os.environ.get("LINGTING_STACK_KAFKA_PORT") else 19310
    es_port = stack.default_es_port() + 320 if os.environ.get("LINGTING_STACK_ES_PORT") else 19420
    data = tmp_path_factory.mktemp("secure-stack")
    try:
        stack.up(base, es_port, data, secure=True)
        info = json.loads((data / "secure" / "secure.json").read_text())
        yield {"base": base, "es": f"http://127.0.0.1:{es_port}", **info}
    finally:
        stack.down(data)


def _section(secure, proto: str, offset: int, mech: str | None, password: str | None = None) -> KafkaSettings:
    kw = {"bootstrap": f"127.0.0.1:{secure['base'] + offset}", "security_protocol": proto, "ssl_cafile": secure["ca"]}
    if mech:
        kw.update(sasl_mechanism=mech, sasl_username=secure["user"], sasl_password=password or secure["password"])
    return KafkaSettings(**kw)


@pytest.mark.parametrize("proto,offset,mech", CASES)
def test_kafka_python_round_trip_on_each_secured_listener(secure, proto, offset, mech) -> None:
    assert kafka_python_round_trip(_section(secure, proto, offset, mech), "聆听 安全") == ["聆听 安全"]


def test_a_wrong_scram_password_is_refused(secure) -> None:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    k = _section(secure, "SASL_SSL", 4, "SCRAM-SHA-512", password="not-the-password")
    with pytest.raises(KafkaError):
        KafkaProducer(**k.kafka_python_options(), max_block_ms=10_000).send("x", b"x").get(timeout=20)


def test_the_worker_consumes_over_sasl_ssl(secure, tmp_path: Path) -> None:
    from elasticsearch import Elasticsearch

    from pipeline.settings import load_settings
    from pipeline.topics import ensure_topics
    from tests.faults.scenarios import BRANDS
    from tests.integration.test_end_to_end import es_count, start_worker, stop, wait_for

    prefix = f"s{uuid.uuid4().hex[:8]}"
    kafka = {
        "bootstrap": f"127.0.0.1:{secure['base'] + 4}",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": secure["user"],
        "ssl_cafile": secure["ca"],
        "topic_prefix": prefix,
        "partitions": 1,
    }
    pw = tmp_path / "kafka-password"
    pw.write_text(secure["password"] + "\n")
    kafka["sasl_password_file"] = str(pw)
    config = {
        "kafka": kafka,
        "elasticsearch": {"url": secure["es"], "index_prefix": prefix, "flush_seconds": 0.2},
        "brands": BRANDS,
        "worker": {"app_id": f"{prefix}-w", "data_dir": str(tmp_path / "w"), "web_port": 0},
    }
    path = tmp_path / "lingting.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    settings = load_settings(path)
    ensure_topics(settings)  # the admin client over SASL_SSL
    from kafka import KafkaProducer

    producer = KafkaProducer(**settings.kafka.kafka_python_options(), acks="all")
    producer.send(
        settings.kafka.raw_topic,
        key=b"weibo:s1",
        value=json.dumps(
            {
                "platform": "weibo",
                "id": "s1",
                "text": "海底捞 加密传输 测试",
                "created_at": "2026-12-01T10:00:00+08:00",
            },
            ensure_ascii=False,
        ).encode(),
    ).get(timeout=60)
    producer.close()
    worker = start_worker(path, tmp_path / "worker.log")
    es = Elasticsearch(secure["es"], request_timeout=30)
    try:
        wait_for(
            lambda: es_count(es, settings.elasticsearch.posts_alias) >= 1 or worker.poll() is not None,
            150,
            "the post indexed by a worker on SASL_SSL",
        )
        assert worker.poll() is None, (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    finally:
        stop(worker)
        es.close()
    assert secure["password"] not in (tmp_path / "worker.log").read_text(errors="replace")
