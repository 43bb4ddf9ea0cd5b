"""The whole path on the real stack: file connector → Kafka → worker → Elasticsearch + alert on a real webhook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline import cli
from pipeline.demo import AlertReceiver
from tests.integration.crisis_stream import CONFIG_BRANDS, history_ending_now, write_jsonl

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def start_worker(config_path: Path, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "LINGTING_CONFIG": str(config_path)}
    env.pop("LINGTING_KAFKA", None)
    env.pop("LINGTING_ES", None)
    return cli.spawn(["worker", "--loglevel", "info"], log_path, env)


def connect_file(config_path: Path, jsonl: Path) -> None:
    """Publish a JSON-lines file with ``lingting connect file``; it returns once the broker has every post."""
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "connect", "file", str(jsonl)],
        env={**os.environ, "LINGTING_CONFIG": str(config_path)},
        check=True,
        cwd=ROOT,
        timeout=120,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def es_count(es, alias: str) -> int:
    if not es.indices.exists_alias(name=alias):
        return 0
    es.indices.refresh(index=alias)
    return es.count(index=alias)["count"]


def read_topic(bootstrap: str, topic: str, expect: int, timeout: float = 30) -> list:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    out, deadline = [], time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            out.extend(consumer)
    finally:
        consumer.close()
    return out


@pytest.fixture
def pipeline_run(make_config, tmp_path):
    """A worker on an isolated config, a webhook receiver, and the replayed history with one crisis."""
    with AlertReceiver() as receiver:
        data = make_config(brands=CONFIG_BRANDS, notify={"webhooks": [{"url": receiver.url}]})
        config_path = tmp_path / "lingting.yaml"
        config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        from pipeline.settings import load_settings
        from pipeline.topics import ensure_topics

        settings = load_settings(config_path)
        ensure_topics(settings)
        worker = start_worker(config_path, tmp_path / "worker.log")
        try:
            yield settings, config_path, receiver, worker, tmp_path
        finally:
            stop(worker)
            print((tmp_path / "worker.log").read_text(errors="replace")[-4000:])


def test_replayed_history_is_indexed_once_enriched_and_raises_one_crisis(pipeline_run, es):
    settings, config_path, receiver, worker, tmp_path = pipeline_run
    posts = history_ending_now()
    jsonl = write_jsonl(posts, tmp_path / "posts.jsonl")
    # one post from a non-Python client (the Java producer of the Kafka jars), in traditional Chinese
    line = json.dumps(
        {
            "platform": "weibo",
            "id": "java1",
            "text": "測試一下 海底撈 的外送，等了兩小時😡 [怒]",
            "created_at": posts[0]["created_at"],
            "vendor_field": "kept",
        },
        ensure_ascii=False,
    )
    subprocess.run(
        [
            "java",
            "-cp",
            str(ROOT / "deploy/local/target/kafka-lib/*"),
            str(ROOT / "tests/integration/java/JsonLineProducer.java"),
            settings.kafka.bootstrap,
            settings.kafka.raw_topic,
            "weibo:java1",
        ],
        input=line + "\n",
        text=True,
        check=True,
        timeout=120,
        capture_output=True,
    )
    connect_file(config_path, jsonl)

    # malformed messages straight onto the raw topic, as a broken producer would write them
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka.bootstrap, acks="all")
    bad = [
        b"not json at all",
        b'{"platform": "weibo", "id": "1"}',
        b"\xff\xfe\x00garbage",
        json.dumps({"platform": "weibo", "id": "2", "text": "海底捞", "created_at": "昨天"}).encode(),
    ]
    for value in bad:
        producer.send(settings.kafka.raw_topic, key=b"bad", value=value)
    producer.flush()
    producer.close()

    alias = settings.elasticsearch.posts_alias
    wait_for(lambda: es_count(es, alias) >= len(posts) + 1, 180, f"{len(posts) + 1} documents in {alias}")
    time.sleep(3)  # anything extra (a duplicate) would arrive now
    assert es_count(es, alias) == len(posts) + 1

    java_doc = es.search(index=alias, query={"term": {"key": "weibo:java1"}})["hits"]["hits"][0]["_source"]
    assert java_doc["brands"] == ["海底捞"] and java_doc["vendor_field"] == "kept"
    assert java_doc["sentiment"]["label"] == "negative"

    doc = es.search(index=alias, query={"term": {"key": f"weibo:{posts[0]['id']}"}})["hits"]["hits"][0]
    source = doc["_source"]
    assert source["brands"] and source["tokens"] and source["sentiment"]["label"] in {"positive", "neutral", "negative"}
    crisis = es.search(index=alias, query={"match_phrase": {"text": "后厨有老鼠"}}, size=50)["hits"]["hits"]
    assert crisis and sum(h["_source"]["sentiment"]["label"] == "negative" for h in crisis) >= 0.8 * len(crisis)

    # exactly one crisis: 海底捞 opens once; no other brand alerts
    # a replayed history alerts once the replay has drained: its brand quiet replay_idle_seconds (60 s) after its
    # newest post, then the held windows close (docs/detection.md, "Lateness: live vs replay")
    wait_for(lambda: any(a["status"] == "open" for a in list(receiver.alerts.queue)), 150, "the open alert")
    time.sleep(8)
    alerts = list(receiver.alerts.queue)
    assert {a["brand"] for a in alerts} == {"海底捞"}, alerts
    opens = [a for a in alerts if a["status"] == "open"]
    assert len(opens) == 1
    assert len({a["id"] for a in alerts}) == 1
    es.indices.refresh(index=settings.elasticsearch.alerts_alias)
    stored = es.get(index=settings.elasticsearch.alerts_alias, id=opens[0]["id"])["_source"]
    assert stored["brand"] == "海底捞" and stored["sequence"] == max(a["sequence"] for a in alerts)
    assert "老鼠" in [t["term"] for t in opens[0]["top_terms"]]  # the alert says what the crisis is about

    letters = read_topic(settings.kafka.bootstrap, settings.kafka.deadletter_topic, expect=len(bad))
    assert len(letters) == len(bad)
    import base64

    originals = {base64.b64decode(json.loads(m.value)["original_b64"]) for m in letters}
    assert originals == set(bad)
    assert all(json.loads(m.value)["stage"] == "enrich.validate" for m in letters)
    assert worker.poll() is None, "the worker must survive malformed input"


def test_worker_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(pipeline_run, es):
    """kill -9 while posts are in flight: the restarted worker recovers each brand's state from the changelog,
    skips what it had already counted, and the crisis still opens exactly once."""
    import signal

    settings, config_path, receiver, worker, tmp_path = pipeline_run
    posts = history_ending_now()
    half = len(posts) // 2
    connect_file(config_path, write_jsonl(posts[:half], tmp_path / "first.jsonl"))
    alias = settings.elasticsearch.posts_alias
    wait_for(lambda: es_count(es, alias) >= half // 4, 120, "the worker to be busy with the first half", interval=0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert es_count(es, alias) < len(posts)

    restarted = start_worker(config_path, tmp_path / "worker.log")
    try:
        connect_file(config_path, write_jsonl(posts[half:], tmp_path / "second.jsonl"))
        wait_for(lambda: es_count(es, alias) >= len(posts), 180, f"{len(posts)} documents")
        wait_for(lambda: any(a["status"] == "open" for a in list(receiver.alerts.queue)), 150, "the open alert")
        time.sleep(8)
        assert es_count(es, alias) == len(posts)
        alerts = list(receiver.alerts.queue)
        assert {a["brand"] for a in alerts} == {"海底捞"}
        assert [a["status"] for a in alerts].count("open") == 1
        assert len({(a["id"], a["sequence"]) for a in alerts}) == len(alerts), "no state delivered twice"
    finally:
        stop(restarted)
