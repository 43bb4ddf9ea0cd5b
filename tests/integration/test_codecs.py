"""Every Kafka compression codec, written by a non-Python producer (kcat), through the worker into Elasticsearch.

Kafka Connect, Flink, Logstash and Java clients with ``compression.type`` write gzip, snappy, lz4 or zstd
batches; a codec the worker's client cannot decode stops its partition on every restart. kcat (librdkafka)
writes each batch compressed the way those producers do. The kafka-python readers (connectors' read-back)
are checked on the same batches."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from tests.connectors.kafka_topic import read_topic
from tests.integration.test_end_to_end import es_count, start_worker, stop, wait_for

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 5


def _posts(codec: str) -> list[dict]:
    now = datetime.now(UTC)
    return [
        {
            "platform": "weibo",
            "id": f"{codec}-{i}",
            "text": f"海底捞 的外卖又晚了一小时😡 [怒] #{codec}压缩# 第{i}条 //@用户{i}: 服務太差",
            "created_at": (now - timedelta(minutes=i)).isoformat(),
        }
        for i in range(PER_CODEC)
    ]


def _kcat_produce(bootstrap: str, topic: str, codec: str, posts: list[dict]) -> None:
    lines = "".join(f"weibo:{p['id']}\t{json.dumps(p, ensure_ascii=False)}\n" for p in posts)
    # -K: key<TAB>value; linger so the five posts share one compressed batch
    subprocess.run(
        [
            "kcat",
            "-P",
            "-b",
            bootstrap,
            "-t",
            topic,
            "-z",
            codec,
            "-K",
            "\t",
            "-X",
            "linger.ms=200",
            "-X",
            "batch.num.messages=100",
        ],
        input=lines.encode(),
        check=True,
        timeout=60,
        capture_output=True,
    )


def test_kcat_is_installed() -> None:
    assert shutil.which("kcat"), "kcat is missing: ./dev.sh test installs it (Debian package kcat)"


def test_kafka_python_reads_every_codec(stack, unique_prefix) -> None:
    topic = f"{unique_prefix}.codecs"
    for codec in CODECS:
        _kcat_produce(stack["kafka"], topic, codec, _posts(codec))
    got = [json.loads(r.value)["id"] for r in read_topic(topic, stack["kafka"])]
    assert sorted(got) == sorted(p["id"] for c in CODECS for p in _posts(c))


def test_worker_indexes_posts_of_every_codec(make_config, tmp_path, es) -> None:
    from pipeline.settings import load_settings
    from pipeline.topics import ensure_topics

    data = make_config(brands=[{"name": "海底捞", "keywords": ["海底捞"]}])
    config_path = tmp_path / "lingting.yaml"
    config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    settings = load_settings(config_path)
    ensure_topics(settings)
    for codec in CODECS:
        _kcat_produce(settings.kafka.bootstrap, settings.kafka.raw_topic, codec, _posts(codec))
    log_path = tmp_path / "worker.log"
    worker = start_worker(config_path, log_path)
    alias = settings.elasticsearch.posts_alias
    try:
        wait_for(
            lambda: es_count(es, alias) >= len(CODECS) * PER_CODEC or worker.poll() is not None,
            180,
            f"{len(CODECS) * PER_CODEC} documents in {alias}",
        )
        assert worker.poll() is None, f"the worker exited:\n{log_path.read_text(errors='replace')[-3000:]}"
    finally:
        stop(worker)
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=100, query={"match_all": {}})["hits"]["hits"]
    by_id = {h["_id"]: h["_source"] for h in hits}
    assert sorted(by_id) == sorted(f"weibo:{p['id']}" for c in CODECS for p in _posts(c))
    for doc in by_id.values():
        assert "海底捞" in doc["brands"], doc
    assert "UnsupportedCodecError" not in log_path.read_text(errors="replace")
