"""``lingting posts get`` / ``posts search`` against the real Elasticsearch, posts spread over monthly indices."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from schemas import EnrichedPost
from sinks import elasticsearch as sink

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def post(pid: str, text: str, when: datetime, label: str, brand: str = "海底捞") -> EnrichedPost:
    score = {"negative": 0.1, "neutral": 0.5, "positive": 0.9}[label]
    return EnrichedPost(
        platform="weibo",
        id=pid,
        text=text,
        created_at=when,
        brands=[brand],
        brand=brand,
        tokens=[],
        keywords=[],
        sentiment={"score": score, "label": label},
        processed_at=when,
        author={"id": "u1", "name": "吃货小王", "followers": 1200},
    )


POSTS = [
    post("9000001", "海底捞后厨有老鼠？[怒] #海底捞#", NOW - timedelta(hours=2), "negative"),
    post("9000002", "昨天的海底捞後廚也太髒了吧 //@路人甲: 真的假的", NOW - timedelta(days=40), "negative"),
    post("9000003", "海底捞的服务真不错[赞] 小哥超暖心", NOW - timedelta(hours=1), "positive"),
    post("9000004", "瑞幸生椰拿铁yyds😋 后厨看着挺干净", NOW - timedelta(minutes=30), "positive", brand="瑞幸咖啡"),
]


@pytest.fixture
def indexed(es_url, unique_prefix, tmp_path):
    from elasticsearch import AsyncElasticsearch

    async def index() -> None:
        client = AsyncElasticsearch(es_url, request_timeout=30)
        try:
            await sink.ensure_indices(client, unique_prefix)
            await sink.index_posts(client, unique_prefix, POSTS)
            await client.indices.refresh(index=f"{unique_prefix}-posts")
        finally:
            await client.close()

    asyncio.run(index())
    config = tmp_path / "lingting.yaml"
    config.write_text(
        yaml.safe_dump({"elasticsearch": {"url": es_url, "index_prefix": unique_prefix}}), encoding="utf-8"
    )
    return config


def lingting(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LINGTING_CONFIG", "LINGTING_ES")}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_posts_get_finds_a_post_by_key_in_any_month(indexed, unique_prefix):
    months = {sink.post_index(unique_prefix, p) for p in POSTS}
    assert len(months) == 2  # the fixture really spreads the posts over two monthly indices
    for p in (POSTS[0], POSTS[1]):
        proc = lingting("posts", "get", p.key, "--config", str(indexed))
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["text"] == p.text and doc["_index"] == sink.post_index(unique_prefix, p)
    missing = lingting("posts", "get", "weibo:404", "--config", str(indexed))
    assert missing.returncode == 1 and f"no post 'weibo:404' in {unique_prefix}-posts" in missing.stderr


def test_posts_search_phrases_filters_and_newest_first(indexed, unique_prefix):
    proc = lingting("posts", "search", "后厨", "--config", str(indexed))
    assert proc.returncode == 0, proc.stderr
    keys = [line.split()[1] for line in proc.stdout.splitlines()]
    assert keys == ["weibo:9000004", "weibo:9000001"]  # 後廚 (traditional) is other characters; 暖心 has no 后厨
    assert "2 posts matched" in proc.stderr

    proc = lingting(
        "posts", "search", "--brand", "海底捞", "--sentiment", "negative", "--json", "--config", str(indexed)
    )
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == ["9000001", "9000002"]

    proc = lingting("posts", "search", "--brand", "海底捞", "--since", "7d", "--limit", "1", "--config", str(indexed))
    assert [line.split()[1] for line in proc.stdout.splitlines()] == ["weibo:9000003"]
    assert "2 posts matched" in proc.stderr and "1 shown" in proc.stderr

    bad = lingting("posts", "search", "--since", "yesterday", "--config", str(indexed))
    assert bad.returncode == 2 and "--since 'yesterday'" in bad.stderr


def test_posts_search_says_when_nothing_was_indexed_under_the_prefix(tmp_path, es_url):
    config = tmp_path / "lingting.yaml"
    config.write_text(
        yaml.safe_dump({"elasticsearch": {"url": es_url, "index_prefix": "nothing-here"}}), encoding="utf-8"
    )
    proc = lingting("posts", "search", "海底捞", "--config", str(config))
    assert proc.returncode == 2 and "no index 'nothing-here-posts'" in proc.stderr
