"""HTTP push against the real broker: formats, auth, per-item errors, size limit; accepted = in the topic."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from pipeline.stack.config import free_port
from tests.connectors.kafka_topic import key_counts

pytestmark = pytest.mark.integration


def post(i: int, **over) -> dict:
    data = {
        "platform": "xiaohongshu",
        "id": f"n{i}",
        "text": f"蜜雪冰城新品第{i}杯，好喝😋 #雪王#",
        "created_at": "2026-11-20T20:00:00+08:00",
    }
    data.update(over)
    return data


def test_push_endpoint(make_settings):
    from aiohttp import ClientSession, web

    from connectors.config import HttpPushConfig
    from connectors.http_push import create_push_app
    from connectors.publisher import Publisher
    from pipeline.topics import ensure_topics

    settings = make_settings()
    ensure_topics(settings)
    publisher = Publisher(settings.kafka, client_id="lingting-connect-http")
    config = HttpPushConfig(port=0, token="s3cret", max_body_bytes=64 * 1024)

    async def scenario():
        runner = web.AppRunner(create_push_app(publisher, config))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer s3cret"}
        out = {}
        async with ClientSession() as http:
            async with http.post(f"{base}/v1/posts", json=post(0)) as r:
                out["noauth"] = r.status
            async with http.post(f"{base}/v1/posts", json=post(1), headers=auth) as r:
                out["one"] = (r.status, await r.json())
            async with http.post(f"{base}/v1/posts", json=[post(1), post(7), post(7)], headers=auth) as r:
                out["retry"] = (r.status, await r.json())  # a client retry (1), and a key twice in one body (7)
            batch = [post(2), post(3, created_at="昨天晚上"), post(4), {"text": "没有平台"}]
            async with http.post(f"{base}/v1/posts", json=batch, headers=auth) as r:
                out["array"] = (r.status, await r.json())
            ndjson = "\n".join(json.dumps(p, ensure_ascii=False) for p in [post(5), post(6)]) + "\n{oops\n"
            async with http.post(
                f"{base}/v1/posts", data=ndjson.encode(), headers={**auth, "Content-Type": "application/x-ndjson"}
            ) as r:
                out["ndjson"] = (r.status, await r.json())
            async with http.post(f"{base}/v1/posts", data=b"x" * (70 * 1024), headers=auth) as r:
                out["big"] = r.status
            async with http.post(f"{base}/v1/posts", data=b"not json", headers=auth) as r:
                out["garbage"] = r.status
            async with http.get(f"{base}/openapi.json") as r:
                out["openapi"] = (await r.json())["paths"].keys()
            async with http.get(f"{base}/metrics") as r:
                out["metrics"] = await r.text()
        await runner.cleanup()
        return out

    from prometheus_client import REGISTRY

    def published() -> float:
        return REGISTRY.get_sample_value("lingting_connector_posts_published_total", {"source": "http"}) or 0.0

    before = published()
    out = asyncio.run(scenario())
    publisher.close()
    assert out["noauth"] == 401
    assert out["one"] == (200, {"accepted": 1, "duplicates": 0, "rejected": []})
    assert out["retry"] == (200, {"accepted": 3, "duplicates": 2, "rejected": []})
    status, body = out["array"]
    assert status == 207 and body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert "created_at" in body["rejected"][0]["error"] and "platform" in body["rejected"][1]["error"]
    status, body = out["ndjson"]
    assert status == 207 and body["accepted"] == 2 and "line 3" in body["rejected"][0]["error"]
    assert out["big"] == 413 and out["garbage"] == 400
    assert "/v1/posts" in out["openapi"]
    assert 'lingting_connector_posts_published_total{source="http"}' in out["metrics"]
    assert 'lingting_connector_http_requests_total{status="207"}' in out["metrics"]
    assert published() - before == 6

    keys = key_counts(settings.kafka.raw_topic, settings.kafka.bootstrap)
    assert keys == Counter({f"xiaohongshu:n{i}": 1 for i in (1, 2, 4, 5, 6, 7)})


def _start_connector(config, port: int, log, *extra: str):
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "connect", "http", "--config", str(config), "--port", str(port), *extra],
        cwd=root,
        stderr=log,
        env={**os.environ, "LINGTING_HTTP_TOKEN": "s3cret"},
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the http connector exited"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            assert time.monotonic() < deadline, "the http connector did not come up"
            time.sleep(0.1)


def test_cli_takes_rate_and_metrics_port_like_every_connector(make_config, tmp_path):
    """--rate 1: a burst of 5 is let through, the next within 4 s is answered 429 with Retry-After (not sent);
    --metrics-port serves the connector metrics on their own port, as for the pull connectors."""
    import urllib.request

    import httpx
    import yaml

    config = tmp_path / "lingting.yaml"
    config.write_text(yaml.safe_dump(make_config(), allow_unicode=True), encoding="utf-8")
    port, metrics_port = free_port(), free_port()
    with open(tmp_path / "connector.log", "wb") as log:
        proc = _start_connector(config, port, log, "--rate", "1", "--metrics-port", str(metrics_port))
        try:
            url, auth = f"http://127.0.0.1:{port}/v1/posts", {"Authorization": "Bearer s3cret"}
            first = httpx.post(url, json=[post(900 + i) for i in range(5)], headers=auth, timeout=30)
            second = httpx.post(url, json=[post(910 + i) for i in range(5)], headers=auth, timeout=30)
            page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        finally:
            proc.terminate()
            proc.wait(30)
    assert first.status_code == 200 and first.json()["accepted"] == 5
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 1 and "--rate" in second.text
    assert 'lingting_connector_posts_published_total{source="http"} 5.0' in page


def test_kill_9_mid_load_then_client_retries_every_key_once(make_config, tmp_path):
    """2xx = in Kafka; no answer (killed) = resend after the restart; the topic holds every key exactly once."""
    import os
    import signal

    import yaml
    from aiohttp import ClientError, ClientSession, ClientTimeout

    data = make_config()
    config = tmp_path / "lingting.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    port = free_port()
    url, auth = f"http://127.0.0.1:{port}/v1/posts", {"Authorization": "Bearer s3cret"}
    batches = {
        b: [
            post(b * 100 + i, text=f"第{b}批第{i}条：海底撈的服務太慢了[怒] #海底捞# //@吃货小王:同感")
            for i in range(100)
        ]
        for b in range(400)
    }
    log = open(tmp_path / "connector.log", "wb")
    first = _start_connector(config, port, log)
    answered: dict[int, int] = {}

    async def load() -> None:
        queue = list(batches)

        async def client(http) -> None:
            while queue:
                b = queue.pop(0)
                try:
                    async with http.post(url, json=batches[b], headers=auth) as r:
                        answered[b] = r.status
                except (TimeoutError, ClientError):
                    answered[b] = 0  # no answer: the connector died
                    return
                if sum(1 for s in answered.values() if s == 200) == 30 and first.poll() is None:
                    os.kill(first.pid, signal.SIGKILL)  # mid-load: other clients have requests in flight

        async with ClientSession(timeout=ClientTimeout(total=30)) as http:
            await asyncio.gather(*(client(http) for _ in range(8)))

    asyncio.run(load())
    first.wait()
    unanswered = [b for b, s in answered.items() if s != 200]
    acked = [b for b, s in answered.items() if s == 200]
    assert unanswered and len(acked) >= 30, "the kill must land while requests are in flight"

    topic = f"{data['kafka']['topic_prefix']}.posts.raw"
    before = key_counts(topic, data["kafka"]["bootstrap"])  # what the killed process got into Kafka
    second = _start_connector(config, port, log)
    resent: dict[int, dict] = {}

    async def retry() -> None:
        async with ClientSession(timeout=ClientTimeout(total=60)) as http:
            for b in unanswered + acked[:5]:
                async with http.post(url, json=batches[b], headers=auth) as r:
                    assert r.status == 200, await r.text()
                    resent[b] = await r.json()

    try:
        asyncio.run(retry())
    finally:
        second.terminate()
        second.wait(30)
        log.close()
    for b in acked[:5]:  # already in the topic before the kill: remembered across the restart
        assert resent[b] == {"accepted": 100, "duplicates": 100, "rejected": []}
    for b in unanswered:  # sent by the killed process but never answered: exactly those keys are skipped
        in_topic = sum(1 for p in batches[b] if f"xiaohongshu:{p['id']}" in before)
        assert resent[b]["duplicates"] == in_topic, b

    keys = key_counts(topic, data["kafka"]["bootstrap"])
    expected = {f"xiaohongshu:n{b * 100 + i}" for b in answered for i in range(100)}
    assert set(keys) == expected
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:5]


def test_kafka_outage_answers_503_then_the_retry_lands_once(make_settings, kafka_bootstrap):
    """A real network outage between the endpoint and the broker (a cuttable TCP path, see test_base)."""
    from aiohttp import ClientSession, web

    from connectors.config import HttpPushConfig
    from connectors.http_push import create_push_app
    from connectors.publisher import Publisher
    from pipeline.topics import ensure_topics
    from tests.connectors.test_base import KafkaPath

    direct = make_settings()
    ensure_topics(direct)
    path = KafkaPath(kafka_bootstrap)
    path.open()
    publisher = Publisher(
        make_settings(kafka={"bootstrap": f"127.0.0.1:{path.port}"}).kafka,
        client_id="lingting-connect-http",
        log_every=1.0,
        producer_options={"delivery_timeout_ms": 4000, "request_timeout_ms": 2000},
    )
    batch_a = [post(i, text=f"瑞幸咖啡第{i}杯☕ 好喝[赞]") for i in range(100, 120)]
    batch_b = [post(i, text=f"瑞幸又涨价了？[怒] #瑞幸# 第{i}条") for i in range(200, 220)]

    async def scenario() -> dict:
        runner = web.AppRunner(create_push_app(publisher, HttpPushConfig(port=0)))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/posts"
        out = {}
        async with ClientSession() as http:

            async def send(batch):
                async with http.post(url, json=batch) as r:
                    return r.status, await r.json()

            out["a"] = await send(batch_a)
            path.close()  # the outage: longer than the producer's delivery timeout
            out["b_down"] = await send(batch_b)
            out["b_still_down"] = await send(batch_b)
            path.open()
            out["b_back"] = await send(batch_b)
            out["a_again"] = await send(batch_a)
        await runner.cleanup()
        return out

    try:
        out = asyncio.run(scenario())
    finally:
        publisher.close(timeout=5)
        path.close()
    assert out["a"][0] == 200
    assert out["b_down"][0] == 503 and out["b_still_down"][0] == 503
    assert out["b_back"][0] == 200 and out["b_back"][1]["accepted"] == 20
    assert out["a_again"] == (200, {"accepted": 20, "duplicates": 20, "rejected": []})
    assert key_counts(direct.kafka.raw_topic, direct.kafka.bootstrap) == Counter(
        {f"xiaohongshu:n{i}": 1 for i in [*range(100, 120), *range(200, 220)]}
    )
