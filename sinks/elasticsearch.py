"""Elasticsearch sink: index templates, time-partitioned post indices behind an alias, idempotent writes.

Posts go to ``<prefix>-posts-YYYY.MM`` (month of the post's event time) behind the alias ``<prefix>-posts``;
the document id is ``platform:id``, and the index follows from the post itself, so a replay of the same post
always lands on the same document: never a duplicate. Alerts live in ``<prefix>-alerts-v1`` behind
``<prefix>-alerts``, one document per crisis (``Alert.id``), updated as the crisis evolves; the ``workflow``
object in it (acknowledge/assign/resolve) is owned by the acknowledge API and never overwritten here.
"""
from __future__ import annotations

import asyncio
import logging
import random
from datetime import timezone
from dataclasses import dataclass, field
from typing import Any, Iterable

from schemas import Alert, EnrichedPost

log = logging.getLogger("lingting.es")

_STRING_AS_KEYWORD = {"strings": {"match_mapping_type": "string",
                                  "mapping": {"type": "keyword", "ignore_above": 1024}}}


def posts_template(prefix: str, shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """Index template with explicit mappings for posts (analysts filter on keywords, search segmented text)."""
    keyword = {"type": "keyword"}
    return {
        "index_patterns": [f"{prefix}-posts-*"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas,
                         "refresh_interval": "1s"},
            "aliases": {f"{prefix}-posts": {}},
            "mappings": {
                "dynamic_templates": [_STRING_AS_KEYWORD],
                "properties": {
                    "platform": keyword, "id": keyword, "key": keyword,
                    "text": {"type": "text"},
                    "clean_text": {"type": "text"},
                    "quoted_text": {"type": "text"},
                    # The pipeline's own jieba tokens, space-joined: whitespace analysis keeps 海底捞 one term.
                    "segmented": {"type": "text", "analyzer": "whitespace"},
                    "tokens": keyword, "keywords": keyword, "hashtags": keyword, "mentions": keyword,
                    "brands": keyword,
                    "created_at": {"type": "date"}, "processed_at": {"type": "date"},
                    "url": {"type": "keyword", "index": False},
                    "repost_of": keyword,
                    "author": {"properties": {
                        "id": keyword, "name": keyword, "followers": {"type": "long"},
                        "verified": {"type": "boolean"}, "created_at": {"type": "date"}}},
                    "metrics": {"properties": {
                        "reposts": {"type": "long"}, "comments": {"type": "long"},
                        "likes": {"type": "long"}, "engagement": {"type": "long"}}},
                    "sentiment": {"properties": {"score": {"type": "float"}, "label": keyword}},
                },
            },
        },
    }


def alerts_template(prefix: str) -> dict[str, Any]:
    keyword = {"type": "keyword"}
    return {
        "index_patterns": [f"{prefix}-alerts-*"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "aliases": {f"{prefix}-alerts": {}},
            "mappings": {
                "dynamic_templates": [_STRING_AS_KEYWORD],
                "properties": {
                    "id": keyword, "brand": keyword, "severity": keyword, "status": keyword,
                    "sequence": {"type": "integer"},
                    "window_start": {"type": "date"}, "window_end": {"type": "date"},
                    "crisis_start": {"type": "date"}, "created_at": {"type": "date"},
                    "updated_at": {"type": "date"}, "opened_at": {"type": "date"},
                    "observed": {"type": "float"}, "expected": {"type": "float"}, "score": {"type": "float"},
                    "summary": {"type": "text"},
                    "sample_posts": {"properties": {"text": {"type": "text"}}},
                    "workflow": {"properties": {"state": keyword, "assignee": keyword, "by": keyword,
                                                "at": {"type": "date"}}},
                },
            },
        },
    }


def post_index(prefix: str, post: EnrichedPost) -> str:
    """The concrete index of a post: fixed by its event time, so re-writes hit the same document."""
    return f"{prefix}-posts-{post.created_at.astimezone(timezone.utc):%Y.%m}"


def post_document(post: EnrichedPost) -> dict[str, Any]:
    doc = post.model_dump(mode="json", exclude={"brand"})
    doc["key"] = post.key
    doc["segmented"] = " ".join(post.tokens)
    if post.metrics is not None:
        doc["metrics"]["engagement"] = post.metrics.engagement
    return doc


def bulk_actions(prefix: str, posts: Iterable[EnrichedPost]) -> list[dict[str, Any]]:
    """Bulk ``index`` actions; a later version of the same post replaces the earlier one."""
    return [{"_op_type": "index", "_index": post_index(prefix, p), "_id": p.key, "_source": post_document(p)}
            for p in posts]


async def ensure_indices(es, prefix: str) -> None:
    """Create templates and the alerts index (idempotent). Post indices are created on first write."""
    await es.indices.put_index_template(name=f"{prefix}-posts", body=posts_template(prefix))
    await es.indices.put_index_template(name=f"{prefix}-alerts", body=alerts_template(prefix))
    alerts_index = f"{prefix}-alerts-v1"
    if not await es.indices.exists(index=alerts_index):
        try:
            await es.indices.create(index=alerts_index)
        except Exception as err:  # created concurrently by another worker
            if "resource_already_exists" not in str(err):
                raise
    # a fresh index answers 503 until its shard has recovered: wait instead of failing the first alert
    await es.cluster.health(index=alerts_index, wait_for_status="yellow", timeout="30s")


@dataclass
class BulkResult:
    indexed: int = 0
    rejected: list[tuple[EnrichedPost, str]] = field(default_factory=list)


async def index_posts(es, prefix: str, posts: list[EnrichedPost], *, attempts: int = 8) -> BulkResult:
    """Index a batch with the bulk API. Retries transient failures (429, 5xx, connection) with backoff and
    returns the documents Elasticsearch rejected for good (mapping errors), for the dead-letter topic."""
    from elasticsearch.helpers import async_bulk

    result = BulkResult()
    pending = {p.key: p for p in posts}  # a batch may hold the same post twice: the last one wins
    delay = 0.5
    for attempt in range(1, attempts + 1):
        actions = bulk_actions(prefix, pending.values())
        try:
            _, errors = await async_bulk(es, actions, raise_on_error=False, raise_on_exception=False,
                                         max_retries=0, refresh=False)
        except Exception as err:  # the node is unreachable: keep the whole batch and retry
            errors = [{"index": {"_id": k, "status": 503, "error": str(err)}} for k in pending]
        retry: dict[str, EnrichedPost] = {}
        failed_ids = set()
        for item in errors:
            info = next(iter(item.values()))
            key, status = info.get("_id"), int(info.get("status", 500))
            failed_ids.add(key)
            if key not in pending:
                continue
            if status == 429 or status >= 500:
                retry[key] = pending[key]
            else:
                result.rejected.append((pending[key], str(info.get("error"))[:2000]))
        result.indexed += len(pending) - len(failed_ids)
        if not retry:
            return result
        pending = retry
        log.warning("elasticsearch bulk: %d documents failed transiently (attempt %d/%d), retrying in %.1fs",
                    len(retry), attempt, attempts, delay)
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 30.0)
    raise ConnectionError(f"elasticsearch did not accept {len(pending)} documents after {attempts} attempts; "
                          "the worker stops consuming until it is back (nothing is acknowledged)")


async def upsert_alert(es, prefix: str, alert: Alert, *, attempts: int = 10) -> bool:
    """Write an alert state; older sequences never overwrite newer ones; ``workflow`` is left untouched.

    Returns True when the document changed."""
    from elasticsearch import ConflictError, NotFoundError

    from elasticsearch import ApiError, TransportError

    index, alias = f"{prefix}-alerts-v1", f"{prefix}-alerts"
    doc = alert.model_dump(mode="json")
    doc["updated_at"] = doc.get("created_at")
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            try:
                current = await es.get(index=index, id=alert.id)
            except NotFoundError:
                try:
                    # the first state's time stays: response times (time to acknowledge) count from it
                    await es.create(index=index, id=alert.id, document={**doc, "opened_at": doc["created_at"]},
                                    refresh="wait_for")
                    return True
                except ConflictError:
                    continue
            if current["_source"].get("sequence", -1) >= alert.sequence:
                return False  # a replay of a state we already have
            try:
                await es.update(index=index, id=alert.id, doc=doc, if_seq_no=current["_seq_no"],
                                if_primary_term=current["_primary_term"], refresh="wait_for")
                return True
            except ConflictError:
                continue
        except (ApiError, TransportError) as err:  # 429/5xx or unreachable: transient, retry with backoff
            status = getattr(err, "status_code", None) or getattr(getattr(err, "meta", None), "status", 503)
            if isinstance(err, ApiError) and isinstance(status, int) and 400 <= status < 500 and status != 429:
                raise
            log.warning("writing alert %s to %s failed (%s), attempt %d/%d; retrying in %.1fs", alert.id, alias,
                        err, attempt, attempts, delay)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)
    raise ConnectionError(f"alert {alert.id} could not be written to {alias} after {attempts} attempts")
