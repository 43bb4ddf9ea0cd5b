"""Elasticsearch sink: index templates, time-partitioned post indices behind an alias, idempotent writes.

Posts go to ``<prefix>-posts-YYYY.MM`` (month of the post's event time) behind the alias ``<prefix>-posts``;
the document id is ``platform:id``, and the index follows from the post itself, so a replay of the same post
always lands on the same document: never a duplicate. Alerts live in ``<prefix>-alerts-v1`` behind
``<prefix>-alerts``, one document per crisis (``Alert.id``), updated as the crisis evolves; the ``workflow``
object in it (acknowledge/assign/resolve) is owned by the acknowledge API and never overwritten here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import orjson

from schemas import Alert, EnrichedPost
from schemas.retry import backoff_delay
from sinks.indices import create_index, index_template, typed

log = logging.getLogger("lingting.es")

#: Longest wait between two bulk attempts while Elasticsearch is away.
RETRY_CAP_SECONDS = 10.0


def posts_template(prefix: str, shards: int = 1, replicas: int = 0) -> dict[str, Any]:
    """Index template with explicit mappings for posts (analysts filter on keywords, search segmented text)."""
    properties = {
        **typed(
            keyword="platform id key keywords hashtags mentions brands repost_of",
            text="text",
            date="created_at processed_at",
        ),
        # Kept in _source, not indexed: ``text`` holds the author's words and the quoted chain and is what search
        # reads; indexing both halves again costs the node indexing CPU that no query uses.
        "clean_text": {"type": "text", "index": False},
        "quoted_text": {"type": "text", "index": False},
        # The pipeline's own jieba tokens, space-joined: whitespace analysis keeps 海底捞 one term.
        "segmented": {"type": "text", "analyzer": "whitespace"},
        # The same tokens as ``segmented`` (which is what term search uses): a second index of them buys nothing;
        # ``keywords`` is the field to aggregate.
        "tokens": {"type": "keyword", "index": False, "doc_values": False},
        "url": {"type": "keyword", "index": False},
        "author": {"properties": typed(keyword="id name", long="followers", boolean="verified", date="created_at")},
        "metrics": {"properties": typed(long="reposts comments likes engagement")},
        "sentiment": {"properties": typed(float="score", keyword="label")},
    }
    return index_template(f"{prefix}-posts", properties, shards=shards, replicas=replicas, refresh_interval="1s")


def alerts_template(prefix: str) -> dict[str, Any]:
    """One document per crisis; the workflow object is the acknowledge API's."""
    times = "window_start window_end crisis_start created_at updated_at opened_at"
    properties = typed(keyword="id brand severity status", integer="sequence", float="observed expected score")
    properties |= typed(date=times, text="summary")
    properties["sample_posts"] = {"properties": typed(text="text")}
    properties["workflow"] = {"properties": typed(keyword="state assignee by", date="at")}
    return index_template(f"{prefix}-alerts", properties)


def post_month(post: EnrichedPost) -> str:
    """The month of a post's event time: it fixes the post's index, so re-writes hit the same document."""
    return f"{post.created_at.astimezone(UTC):%Y.%m}"


def post_index(prefix: str, post: EnrichedPost) -> str:
    """The concrete index of a post."""
    return f"{prefix}-posts-{post_month(post)}"


def write_alias(prefix: str, month: str) -> str:
    """The alias posts of one month are written through (``require_alias``): a node that lost its indices
    answers "no such alias" instead of auto-creating an index the read alias cannot see."""
    return f"{prefix}-write-posts-{month}"


def post_document(post: EnrichedPost) -> dict[str, Any]:
    doc = post.model_dump(exclude={"brand"})
    doc["key"] = post.key
    doc["segmented"] = " ".join(post.tokens)
    if post.metrics is not None:
        doc["metrics"]["engagement"] = post.metrics.engagement
    return doc


def _dumps(doc: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:  # a lone surrogate in a vendor field: escaped; Elasticsearch rejects it with a reason
        return json.dumps(doc, default=str, ensure_ascii=True).encode()


def bulk_body(prefix: str, posts: Iterable[EnrichedPost]) -> bytes:
    """NDJSON ``index`` actions through the monthly write aliases; a later version of a post replaces it."""
    lines = []
    for p in posts:
        lines.append(orjson.dumps({"index": {"_index": write_alias(prefix, post_month(p)), "_id": p.key}}))
        lines.append(_dumps(post_document(p)))
    lines.append(b"")
    return b"\n".join(lines)


async def ensure_indices(es, prefix: str) -> None:
    """Create templates and the alerts index (idempotent). Post indices are created per month, on demand."""
    await es.indices.put_index_template(name=f"{prefix}-posts", body=posts_template(prefix))
    await es.indices.put_index_template(name=f"{prefix}-alerts", body=alerts_template(prefix))
    alerts_index = f"{prefix}-alerts-v1"
    await create_index(es, alerts_index)
    # a fresh index answers 503 until its shard has recovered: wait instead of failing the first alert
    await es.cluster.health(index=alerts_index, wait_for_status="yellow", timeout="30s")


async def ensure_month(es, prefix: str, month: str) -> None:
    """The month's index with its template, behind the read alias and its write alias (idempotent)."""
    index, alias = f"{prefix}-posts-{month}", write_alias(prefix, month)
    try:
        await es.indices.create(index=index, aliases={alias: {"is_write_index": True}})
    except Exception as err:
        if "resource_already_exists" not in str(err):
            raise
        await es.indices.put_alias(index=index, name=alias)
    await es.cluster.health(index=index, wait_for_status="yellow", timeout="30s")


@dataclass
class BulkResult:
    indexed: int = 0
    rejected: list[tuple[EnrichedPost, str]] = field(default_factory=list)


OnRetry = Callable[[int, int, float, str], Awaitable[None] | None]


async def index_posts(
    es, prefix: str, posts: list[EnrichedPost], *, attempts: int | None = 8, on_retry: OnRetry | None = None
) -> BulkResult:
    """Index a batch with the bulk API through the monthly write aliases.

    Transient failures (429, 5xx, connection) are retried with backoff, ``attempts`` times or, with None, until
    they succeed: the worker holds its batch for an outage of any length. A month whose write alias is missing
    (first post of a month, or a node that came back empty) gets its templates and index first. Returns the
    documents Elasticsearch rejected for good (mapping errors), for the dead-letter topic. ``on_retry(pending,
    attempt, delay, reason)`` is told before each wait."""
    result = BulkResult()
    pending = {p.key: p for p in posts}  # a batch may hold the same post twice: the last one wins
    attempt = 0
    while True:
        attempt += 1
        missing: set[str] = set()
        retry: dict[str, EnrichedPost] = {}
        reason = ""
        try:
            resp = await es.bulk(operations=bulk_body(prefix, pending.values()), require_alias=True, refresh=False)
            items = resp["items"] if resp.get("errors") else []
            failed = 0
            for item in items:
                info = next(iter(item.values()))
                key, status = info.get("_id"), int(info.get("status", 500))
                if status < 300 or key not in pending:
                    continue
                failed += 1
                error = info.get("error") or {}
                if status == 404 and isinstance(error, dict) and error.get("type") == "index_not_found_exception":
                    missing.add(post_month(pending[key]))
                    retry[key] = pending[key]
                elif status == 429 or status >= 500:
                    retry[key] = pending[key]
                    reason = reason or f"HTTP {status} {str(error)[:200]}"
                else:
                    result.rejected.append((pending[key], str(error)[:2000]))
            result.indexed += len(pending) - failed
        except Exception as err:  # unreachable, timeout, 5xx on the whole request: keep the whole batch
            retry, reason = dict(pending), f"{type(err).__name__}: {str(err)[:200]}"
        if not retry:
            return result
        pending = retry
        if missing:
            try:
                await ensure_indices(es, prefix)
                for month in sorted(missing):
                    await ensure_month(es, prefix, month)
                log.info("elasticsearch: ensured templates and write aliases for %s", ", ".join(sorted(missing)))
                if not reason:
                    continue  # retry at once: nothing else failed
            except Exception as err:
                reason = f"cannot create indices: {type(err).__name__}: {str(err)[:200]}"
        if attempts is not None and attempt >= attempts:
            raise ConnectionError(
                f"elasticsearch did not accept {len(pending)} documents after {attempts} attempts ({reason})"
            )
        # at most ~10 s between tries: a node back from an outage is written to within seconds, and one request
        # every 10 s is nothing to a node that is down
        delay = backoff_delay(attempt, initial=0.5, cap=RETRY_CAP_SECONDS, jitter=0.5)
        if on_retry is not None:
            maybe = on_retry(len(pending), attempt, delay, reason)
            if maybe is not None:
                await maybe
        else:
            log.warning(
                "elasticsearch bulk: %d documents failed transiently (attempt %d, %s), retrying in %.1fs",
                len(pending),
                attempt,
                reason,
                delay,
            )
        await asyncio.sleep(delay)


async def upsert_alert(es, prefix: str, alert: Alert, *, attempts: int = 10) -> bool:
    """Write an alert state; older sequences never overwrite newer ones; ``workflow`` is left untouched.

    Returns True when the document changed."""
    from elasticsearch import ApiError, ConflictError, NotFoundError, TransportError

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
                    await es.create(
                        index=alias,
                        id=alert.id,
                        document={**doc, "opened_at": doc["created_at"]},
                        refresh="wait_for",
                        require_alias=True,
                    )
                    return True
                except ConflictError:
                    continue
                except NotFoundError:  # the node came back without the alias: templates and index first
                    await ensure_indices(es, prefix)
                    continue
            if current["_source"].get("sequence", -1) >= alert.sequence:
                return False  # a replay of a state we already have
            try:
                await es.update(
                    index=index,
                    id=alert.id,
                    doc=doc,
                    if_seq_no=current["_seq_no"],
                    if_primary_term=current["_primary_term"],
                    refresh="wait_for",
                )
                return True
            except ConflictError:
                continue
        except (ApiError, TransportError) as err:  # 429/5xx or unreachable: transient, retry with backoff
            status = getattr(err, "status_code", None) or getattr(getattr(err, "meta", None), "status", 503)
            if isinstance(err, ApiError) and isinstance(status, int) and 400 <= status < 500 and status != 429:
                raise
            log.warning(
                "writing alert %s to %s failed (%s), attempt %d/%d; retrying in %.1fs",
                alert.id,
                alias,
                err,
                attempt,
                attempts,
                delay,
            )
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)
    raise ConnectionError(f"alert {alert.id} could not be written to {alias} after {attempts} attempts")
