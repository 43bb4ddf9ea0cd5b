"""``lingting demo`` is a guest: run against a cluster that already holds a user's ``lingting-*`` indices (as with
``LINGTING_ES`` set to production), it leaves them exactly as they were, says what it created, and
``lingting demo --clean`` deletes that and nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import helpers

from schemas import Alert, EnrichedPost
from sinks import elasticsearch as sink
from sinks.notify.deliverylog import ensure_delivery_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[2]
USER_PREFIX = "lingting"  # the default prefix: the names the demo once wrote into
NOW = datetime.now(UTC).replace(microsecond=0)

# The user's own posts, one under a key the demo's synthetic stream also uses (weibo:syn7-N).
USER_POSTS = [
    EnrichedPost(
        platform="weibo",
        id="syn7-1",
        text="我自己的帖子：海底捞今天的服务很暖心[赞]",
        created_at=NOW,
        brands=["海底捞"],
        brand="海底捞",
        tokens=["海底捞", "服务", "暖心"],
        keywords=["暖心"],
        sentiment={"score": 0.9, "label": "positive"},
        processed_at=NOW,
    ),
    EnrichedPost(
        platform="weibo",
        id="user-guest-2",
        text="瑞幸生椰拿铁又涨价了？#瑞幸# //@咖啡控: 真的假的",
        created_at=NOW - timedelta(days=35),
        brands=["瑞幸咖啡"],
        brand="瑞幸咖啡",
        tokens=["瑞幸", "涨价"],
        keywords=["涨价"],
        sentiment={"score": 0.2, "label": "negative"},
        processed_at=NOW,
    ),
]
USER_ALERT = Alert(
    id="瑞幸咖啡:user-guest",
    brand="瑞幸咖啡",
    severity="medium",
    status="open",
    sequence=0,
    window_start=NOW - timedelta(minutes=1),
    window_end=NOW,
    observed=12,
    expected=3.0,
    score=0.7,
    created_at=NOW,
)


def user_indices(es) -> list[str]:
    return sorted(
        name
        for name in es.indices.get(index=f"{USER_PREFIX}-*", expand_wildcards="all")
        if not name.startswith("lingting-demo")
    )


def snapshot(es) -> dict[str, tuple[int, str]]:
    """Per user index: the document count and a SHA-256 of every (id, _source) in id order."""
    es.indices.refresh(index=",".join(user_indices(es)))
    out = {}
    for index in user_indices(es):
        docs = sorted(
            (hit["_id"], json.dumps(hit["_source"], sort_keys=True, ensure_ascii=False))
            for hit in helpers.scan(es, index=index, query={"query": {"match_all": {}}})
        )
        digest = hashlib.sha256("\n".join(f"{i}\t{s}" for i, s in docs).encode()).hexdigest()
        out[index] = (es.count(index=index)["count"], digest)
    return out


@pytest.fixture
def user_data(es, es_url):
    """The user's indices under the default prefix, with posts in two months, an alert and a delivery."""
    existed = set(user_indices(es))

    async def seed() -> None:
        from elasticsearch import AsyncElasticsearch

        client = AsyncElasticsearch(es_url, request_timeout=30)
        try:
            await sink.ensure_indices(client, USER_PREFIX)
            await sink.index_posts(client, USER_PREFIX, USER_POSTS)
            await sink.upsert_alert(client, USER_PREFIX, USER_ALERT)
            index = await ensure_delivery_log(client, USER_PREFIX)
            await client.index(
                index=index,
                id=f"{USER_ALERT.delivery_key}|ops-hook",
                refresh=True,
                document={"status": "sent", "channel": "ops-hook", "alert_id": USER_ALERT.id},
            )
        finally:
            await client.close()

    asyncio.run(seed())
    yield
    created = [name for name in user_indices(es) if name not in existed]
    if created:
        es.indices.delete(index=",".join(created))
    for post in USER_POSTS:  # in indices that were there before: only what this test added
        index = sink.post_index(USER_PREFIX, post)
        if index in existed:
            es.delete(index=index, id=post.key, ignore=404)
    for index, doc_id in (
        (f"{USER_PREFIX}-alerts-v1", USER_ALERT.id),
        (f"{USER_PREFIX}-deliveries-v1", f"{USER_ALERT.delivery_key}|ops-hook"),
    ):
        if index in existed:
            es.delete(index=index, id=doc_id, ignore=404)


def lingting(*args: str, kafka: str, es_url: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINGTING_KAFKA": kafka, "LINGTING_ES": es_url}
    env.pop("LINGTING_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
    )


def test_demo_beside_a_users_indices_leaves_them_unchanged_and_cleans_up_after_itself(
    user_data, es, es_url, kafka_bootstrap, request
):
    from kafka.admin import KafkaAdminClient

    before = snapshot(es)
    assert {f"{USER_PREFIX}-alerts-v1", f"{USER_PREFIX}-deliveries-v1"} <= set(before)
    assert len([i for i in before if i.startswith(f"{USER_PREFIX}-posts-")]) >= 2

    proc = lingting("demo", "--timeout", "600", kafka=kafka_bootstrap, es_url=es_url, timeout=900)
    out = proc.stdout
    # the demo leaves its command center running for the user, and says how to stop it: the suite stops it
    web = re.search(r"stop it: kill (\d+)", out)
    if web:
        request.addfinalizer(lambda: _stop(int(web.group(1))))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert web, out[-2000:]
    assert "【新危机】海底捞" in out
    created = re.search(
        r"lingting-demo-posts \((\d+) docs\), lingting-demo-alerts \((\d+) docs\), "
        r"lingting-demo-deliveries \((\d+) docs\)",
        out,
    )
    assert created and int(created.group(1)) > 1000 and int(created.group(2)) >= 1, out[-2000:]
    assert "lingting demo --clean" in out
    assert "lingting stack down" not in out  # it started no stack: LINGTING_KAFKA / LINGTING_ES name the cluster
    workdir = Path(re.search(r"\(log: (\S+)/worker\.log\)", out).group(1))
    assert workdir.name.startswith("lingting-demo-") and not workdir.exists()

    assert snapshot(es) == before  # the user's posts (weibo:syn7-1 too), alerts and deliveries: untouched

    cleaned = lingting("demo", "--clean", kafka=kafka_bootstrap, es_url=es_url, timeout=300)
    assert cleaned.returncode == 0, cleaned.stderr
    assert "deleted index lingting-demo-posts-" in cleaned.stdout
    assert not es.indices.get(index="lingting-demo-*", expand_wildcards="all")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap.split(","), client_id="test-demo")
    try:
        deadline = time.monotonic() + 120  # Kafka deletes topics asynchronously
        while (
            left := [t for t in admin.list_topics() if t.startswith("lingting-demo")]
        ) and time.monotonic() < deadline:
            time.sleep(1)
        assert not left
    finally:
        admin.close()
    assert snapshot(es) == before


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
