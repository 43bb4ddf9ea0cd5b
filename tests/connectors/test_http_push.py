"""HTTP push against the real broker: formats, auth, per-item errors, size limit; accepted = in the topic."""
from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

pytestmark = pytest.mark.integration


def post(i: int, **over) -> dict:
    data = {"platform": "xiaohongshu", "id": f"n{i}", "text": f"蜜雪冰城新品第{i}杯，好喝😋 #雪王#",
            "created_at": "2026-11-20T20:00:00+08:00"}
    data.update(over)
    return data


def test_push_endpoint(make_settings):
    from aiohttp import ClientSession, web
    from kafka import KafkaConsumer

    from connectors.base import Publisher
    from connectors.config import HttpPushConfig
    from connectors.http_push import create_push_app
    from pipeline.topics import ensure_topics

    settings = make_settings()
    ensure_topics(settings)
    publisher = Publisher(settings)
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
            batch = [post(2), post(3, created_at="昨天晚上"), post(4), {"text": "没有平台"}]
            async with http.post(f"{base}/v1/posts", json=batch, headers=auth) as r:
                out["array"] = (r.status, await r.json())
            ndjson = "\n".join(json.dumps(p, ensure_ascii=False) for p in [post(5), post(6)]) + "\n{oops\n"
            async with http.post(f"{base}/v1/posts", data=ndjson.encode(),
                                 headers={**auth, "Content-Type": "application/x-ndjson"}) as r:
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

    out = asyncio.run(scenario())
    publisher.close()
    assert out["noauth"] == 401
    assert out["one"] == (200, {"accepted": 1, "rejected": []})
    status, body = out["array"]
    assert status == 207 and body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert "created_at" in body["rejected"][0]["error"] and "platform" in body["rejected"][1]["error"]
    status, body = out["ndjson"]
    assert status == 207 and body["accepted"] == 2 and "line 3" in body["rejected"][0]["error"]
    assert out["big"] == 413 and out["garbage"] == 400
    assert "/v1/posts" in out["openapi"]
    assert "lingting_http_posts_accepted_total 5.0" in out["metrics"]

    consumer = KafkaConsumer(settings.kafka.raw_topic, bootstrap_servers=settings.kafka.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=3000)
    keys = Counter(m.key.decode() for m in consumer)
    consumer.close()
    assert keys == Counter({f"xiaohongshu:n{i}": 1 for i in (1, 2, 4, 5, 6)})
