"""The acknowledge API and escalation, against the real Elasticsearch: token auth, acknowledge/assign/resolve
with history, signed chat links, OpenAPI; an unacknowledged critical alert escalates, an acknowledged one not."""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx
import pytest
from aiohttp import web

from pipeline.api import OPENAPI_PATH, create_api_app, openapi_document
from pipeline.stack.config import free_port
from sinks import elasticsearch as es_sink
from sinks.notify.dispatcher import Notifier
from tests.sinks.receivers import ChatReceivers, alert, dingtalk, log_docs, notify_section, until, webhook

pytestmark = pytest.mark.integration

TOKEN = "api-token-for-tests"


@asynccontextmanager
async def running_api(settings):
    from elasticsearch import AsyncElasticsearch

    es = AsyncElasticsearch(settings.elasticsearch.url, request_timeout=30)
    await es_sink.ensure_indices(es, settings.elasticsearch.index_prefix)
    port = free_port()
    runner = web.AppRunner(create_api_app(settings, es=es), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, es
    finally:
        await runner.cleanup()
        await es.close()


def api_settings(make_settings, **notify):
    return make_settings(api={"token": TOKEN, "public_url": "https://lingting.test"}, notify=notify or {})


def test_acknowledge_assign_resolve_with_token_and_history(make_settings):
    settings = api_settings(make_settings)
    crisis = alert(1)

    async def scenario():
        async with running_api(settings) as (client, es):
            await es_sink.upsert_alert(es, settings.elasticsearch.index_prefix, crisis)
            path = f"/api/v1/alerts/{quote(crisis.id, safe='')}"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            out = {
                "no_token": await client.post(f"{path}/acknowledge", json={"by": "王经理"}),
                "bad_token": await client.post(
                    f"{path}/acknowledge", json={"by": "王经理"}, headers={"Authorization": "Bearer nope"}
                ),
                "ack": await client.post(
                    f"{path}/acknowledge", json={"by": "王经理", "note": "已看到，正在核实"}, headers=auth
                ),
                "assign_missing": await client.post(f"{path}/assign", json={"by": "王经理"}, headers=auth),
                "assign": await client.post(
                    f"{path}/assign", json={"by": "王经理", "assignee": "公关部-李娜"}, headers=auth
                ),
                "ack_again": await client.post(f"{path}/acknowledge", json={"by": "值班-小张"}, headers=auth),
                "resolve": await client.post(
                    f"{path}/resolve", json={"by": "公关部-李娜", "note": "门店已致歉"}, headers=auth
                ),
                "unknown": await client.post("/api/v1/alerts/nope/acknowledge", json={"by": "x"}, headers=auth),
                "get": await client.get(path, headers=auth),
            }
            # the ES sink writes a newer alert state afterwards: the workflow must survive it
            await es_sink.upsert_alert(
                es,
                settings.elasticsearch.index_prefix,
                crisis.model_copy(update={"status": "update", "sequence": 1, "observed": 300}),
            )
            stored = (await es.get(index=settings.elasticsearch.alerts_alias, id=crisis.id))["_source"]
            return out, stored

    out, stored = asyncio.run(scenario())
    assert out["no_token"].status_code == 401 and out["bad_token"].status_code == 401
    assert out["ack"].status_code == 200 and out["ack"].json()["workflow"]["state"] == "acknowledged"
    assert out["assign_missing"].status_code == 400 and "assignee" in out["assign_missing"].json()["error"]
    assert out["assign"].json()["workflow"]["assignee"] == "公关部-李娜"
    assert out["ack_again"].json()["workflow"]["state"] == "assigned"  # acknowledging never moves it back
    assert out["resolve"].json()["workflow"]["state"] == "resolved"
    assert out["unknown"].status_code == 404
    assert out["get"].json()["workflow"]["by"] == "公关部-李娜"
    wf = stored["workflow"]
    assert [h["action"] for h in wf["history"]] == ["acknowledge", "assign", "acknowledge", "resolve"]
    assert wf["history"][0] == {
        "action": "acknowledge",
        "by": "王经理",
        "at": wf["history"][0]["at"],
        "note": "已看到，正在核实",
    }
    assert stored["sequence"] == 1 and stored["observed"] == 300 and stored["brand"] == "海底捞"


def test_signed_chat_link_asks_then_acknowledges_and_rejects_tampering(make_settings):
    settings = api_settings(make_settings)
    crisis = alert(2)
    notifier = Notifier.from_settings(settings)  # the links exactly as they appear in messages
    links = notifier.signer.links(crisis.id)

    async def scenario():
        async with running_api(settings) as (client, es):
            await es_sink.upsert_alert(es, settings.elasticsearch.index_prefix, crisis)
            ack = links["acknowledge"].replace("https://lingting.test", "")
            page = await client.get(ack)
            form = dict(re.findall(r"name='(\w+)' value='([^']*)'", page.text))
            tampered = await client.get(ack.replace("action=acknowledge", "action=resolve"))
            before = (await es.get(index=settings.elasticsearch.alerts_alias, id=crisis.id))["_source"]
            import html

            done = await client.post(
                "/act", data={**{k: html.unescape(v) for k, v in form.items()}, "by": "危机经理 Ada", "note": "处理中"}
            )
            forged = await client.post("/act", data={**form, "sig": "0" * 64, "by": "mallory"})
            after = (await es.get(index=settings.elasticsearch.alerts_alias, id=crisis.id))["_source"]
            return page, tampered, before, done, forged, after

    page, tampered, before, done, forged, after = asyncio.run(scenario())
    assert page.status_code == 200 and "<form method='post'" in page.text
    assert "workflow" not in before  # opening the link (or a chat preview of it) changes nothing
    assert tampered.status_code == 403 and "bad signature" in tampered.text
    assert done.status_code == 200 and "acknowledged" in done.text
    assert forged.status_code == 403
    assert after["workflow"]["state"] == "acknowledged" and after["workflow"]["by"] == "危机经理 Ada"
    assert len(after["workflow"]["history"]) == 1


def test_openapi_is_served_and_matches_the_static_file():
    doc = openapi_document()
    assert json.loads(OPENAPI_PATH.read_text(encoding="utf-8")) == doc, (
        "docs/api/openapi.json is stale: run python -c 'from pipeline.api import write_openapi; write_openapi()'"
    )
    assert set(doc["paths"]["/api/v1/alerts/{alert_id}/{action}"]["post"]["parameters"][1]["schema"]["enum"]) == {
        "acknowledge",
        "assign",
        "resolve",
    }


def test_unacknowledged_critical_escalates_and_acknowledged_does_not(make_settings):
    async def scenario():
        async with ChatReceivers() as rx, ChatReceivers() as boss:
            channels = [dingtalk(rx), webhook(boss, name="boss-phone")]
            routes = [
                {"name": "crisis", "channels": ["crisis-dingtalk"], "escalate": {"after": "1s", "to": ["boss-phone"]}}
            ]
            settings = make_settings(
                api={"token": TOKEN, "public_url": "https://lingting.test"},
                notify=notify_section(channels, routes=routes),
            )
            ignored, handled, high = alert(30), alert(31), alert(32, severity="high")
            async with running_api(settings) as (client, es):
                for a in (ignored, handled, high):
                    await es_sink.upsert_alert(es, settings.elasticsearch.index_prefix, a)
                notifier = Notifier.from_settings(settings)
                await notifier.start()
                for a in (ignored, handled, high):
                    await notifier.deliver(a)
                await until(lambda: len(rx["dingtalk"].received) == 3, 5, "the three first notices")
                r = await client.post(
                    f"/api/v1/alerts/{quote(handled.id, safe='')}/acknowledge",
                    json={"by": "王经理"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                assert r.status_code == 200
                await until(lambda: boss["webhook"].received, 5, "the escalation")
                await asyncio.sleep(1.5)  # anything else would have come by now
                timers = {d["alert_id"]: d for d in await log_docs(notifier, kind="escalation-timer")}
                await notifier.stop()
                return boss, timers, ignored, handled, high

    boss, timers, ignored, handled, high = asyncio.run(scenario())
    escalated = [r["body"] for r in boss["webhook"].received]
    assert [b["id"] for b in escalated] == [ignored.id]
    assert escalated[0]["lingting"]["escalated"] is True
    assert timers[ignored.id]["status"] == "escalated"
    assert timers[handled.id]["status"] == "cancelled" and "王经理" in timers[handled.id]["reason"]
    assert high.id not in timers  # only critical alerts escalate
