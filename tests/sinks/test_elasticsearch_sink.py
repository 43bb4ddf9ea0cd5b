"""The Elasticsearch sink against the real node: templates, idempotent post writes, alert state ordering."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from schemas import Alert, EnrichedPost
from sinks import elasticsearch as sink
from sinks.notify.sample import sample_alert

pytestmark = pytest.mark.integration


def post(i: int, when: datetime, text: str = "海底捞的服务真不错[赞]") -> EnrichedPost:
    return EnrichedPost(
        platform="weibo",
        id=str(i),
        text=text,
        created_at=when,
        brands=["海底捞"],
        brand="海底捞",
        tokens=["海底捞", "服务", "不错", "[赞]"],
        keywords=["海底捞"],
        sentiment={"score": 0.9, "label": "positive"},
        processed_at=when,
        author={"id": "u1", "name": "吃货小王", "followers": 1200},
        metrics={"reposts": 3, "comments": 1, "likes": 10},
    )


def alert(seq: int, status: str = "update", observed: float = 30) -> Alert:
    """A state of one crisis (the sample one, at a fixed time): same id, its own sequence and figure."""
    now = datetime(2026, 11, 20, 13, 15, tzinfo=UTC)
    return sample_alert(severity="high", status=status, sequence=seq, now=now).model_copy(update={"observed": observed})


async def _async_client(url):
    from elasticsearch import AsyncElasticsearch

    return AsyncElasticsearch(url, request_timeout=30)


def test_replayed_posts_never_duplicate_and_land_in_monthly_indices(es_url, es, unique_prefix):
    async def scenario():
        client = await _async_client(es_url)
        try:
            await sink.ensure_indices(client, unique_prefix)
            nov = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
            dec = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
            batch = [post(i, nov if i % 2 else dec) for i in range(20)]
            first = await sink.index_posts(client, unique_prefix, batch)
            again = await sink.index_posts(client, unique_prefix, batch + batch[:5])  # a replay with repeats
            return first, again
        finally:
            await client.close()

    first, again = asyncio.run(scenario())
    assert first.indexed == 20 and not first.rejected
    assert again.indexed == 20
    es.indices.refresh(index=f"{unique_prefix}-posts")
    assert es.count(index=f"{unique_prefix}-posts")["count"] == 20
    indices = sorted(es.indices.get_alias(name=f"{unique_prefix}-posts"))
    assert indices == [f"{unique_prefix}-posts-2026.11", f"{unique_prefix}-posts-2026.12"]
    hit = es.get(index=f"{unique_prefix}-posts-2026.11", id="weibo:1")["_source"]
    assert hit["segmented"] == "海底捞 服务 不错 [赞]" and hit["metrics"]["engagement"] == 14
    # the pipeline's own words are searchable: 海底捞 stays one term
    found = es.search(index=f"{unique_prefix}-posts", query={"match_phrase": {"segmented": "海底捞 服务"}})
    assert found["hits"]["total"]["value"] == 20


def test_a_repost_is_found_by_its_quoted_words_and_keeps_both_halves(es_url, es, unique_prefix):
    """The two halves of a repost are stored, not indexed again: search reads ``text``, which holds both."""
    repost = post(1, datetime(2026, 12, 1, 8, 0, tzinfo=UTC), text="我也是[怒]//@小王:海底捞上次等了兩個小時 #排队#")
    repost = repost.model_copy(update={"clean_text": "我也是[怒]", "quoted_text": "海底捞上次等了兩個小時 #排队#"})

    async def scenario():
        client = await _async_client(es_url)
        try:
            await sink.ensure_indices(client, unique_prefix)
            return await sink.index_posts(client, unique_prefix, [repost])
        finally:
            await client.close()

    assert asyncio.run(scenario()).indexed == 1
    es.indices.refresh(index=f"{unique_prefix}-posts")
    found = es.search(index=f"{unique_prefix}-posts", query={"match_phrase": {"text": "兩個小時"}})["hits"]["hits"]
    assert [h["_id"] for h in found] == ["weibo:1"]
    source = found[0]["_source"]
    assert source["clean_text"] == "我也是[怒]" and source["quoted_text"] == "海底捞上次等了兩個小時 #排队#"
    assert source["tokens"] == ["海底捞", "服务", "不错", "[赞]"]


def test_alert_states_apply_in_sequence_and_keep_the_workflow(es_url, es, unique_prefix):
    async def scenario():
        client = await _async_client(es_url)
        try:
            await sink.ensure_indices(client, unique_prefix)
            changed = [await sink.upsert_alert(client, unique_prefix, alert(0, "open", 20))]
            await client.update(
                index=f"{unique_prefix}-alerts-v1",
                id=alert(0).id,
                doc={"workflow": {"state": "acknowledged", "by": "王经理"}},
                refresh=True,
            )
            changed.append(await sink.upsert_alert(client, unique_prefix, alert(2, "update", 60)))
            changed.append(await sink.upsert_alert(client, unique_prefix, alert(1, "update", 40)))  # late replay
            changed.append(await sink.upsert_alert(client, unique_prefix, alert(2, "update", 60)))  # duplicate
            return changed
        finally:
            await client.close()

    assert asyncio.run(scenario()) == [True, True, False, False]
    doc = es.get(index=f"{unique_prefix}-alerts", id=alert(0).id)["_source"]
    assert doc["sequence"] == 2 and doc["observed"] == 60
    assert doc["workflow"] == {"state": "acknowledged", "by": "王经理"}
