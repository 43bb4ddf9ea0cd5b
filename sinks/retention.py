"""Retention without ILM: delete whole monthly post indices that are entirely older than a cutoff.

Posts live in ``<prefix>-posts-YYYY.MM`` behind the ``<prefix>-posts`` alias, one index per month of the posts'
event time (sinks/elasticsearch.py). Deleting a whole index is cheap and leaves no holes; deleting documents by
query would rewrite segments for hours. An index is deleted only when all of these hold:

* it is behind the posts alias and named exactly like a lingting monthly index (nothing else is ever touched);
* its whole month ends at or before the cutoff;
* it is not the current month's index (the one being written now), whatever the cutoff;
* its newest post (``created_at``) is older than the cutoff too: a misfiled post keeps its index.

The local stack has no ILM (its x-pack modules are not on Maven Central), and many self-run clusters turn it off;
this works the same everywhere.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.settings import IndexNames

log = logging.getLogger("lingting.retention")


@dataclass
class IndexPlan:
    """What prune does with one index behind the posts alias, and why."""

    index: str
    docs: int
    newest: datetime | None
    delete: bool
    reason: str


def month_bounds(name: str, prefix: str) -> tuple[datetime, datetime] | None:
    """Start and end (exclusive) of the month a lingting monthly index holds; None for any other name."""
    match = re.fullmatch(rf"{re.escape(prefix)}-posts-(\d{{4}})\.(\d{{2}})", name)
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def plan(es: Any, prefix: str, cutoff: datetime, now: datetime | None = None) -> list[IndexPlan]:
    """The decision for every index behind ``<prefix>-posts``, oldest first (reads only)."""
    now = now or datetime.now(UTC)
    alias = IndexNames(prefix).posts_alias
    if not es.indices.exists_alias(name=alias):
        return []
    indices = sorted(es.indices.get_alias(name=alias))
    plans = []
    for index in indices:
        bounds = month_bounds(index, prefix)
        stats = es.search(index=index, size=0, track_total_hits=True, aggs={"newest": {"max": {"field": "created_at"}}})
        docs = stats["hits"]["total"]["value"]
        newest_ms = stats["aggregations"]["newest"]["value"]
        newest = datetime.fromtimestamp(newest_ms / 1000, UTC) if newest_ms is not None else None
        if bounds is None:
            plans.append(IndexPlan(index, docs, newest, False, "not a lingting monthly index: never touched"))
        elif bounds[0] <= now < bounds[1]:
            plans.append(IndexPlan(index, docs, newest, False, "the current month (being written): kept"))
        elif bounds[1] > cutoff:
            plans.append(
                IndexPlan(
                    index,
                    docs,
                    newest,
                    False,
                    f"month ends {bounds[1]:%Y-%m-%d}, after the cutoff {cutoff:%Y-%m-%d %H:%M} UTC: kept",
                )
            )
        elif newest is not None and newest >= cutoff:
            plans.append(
                IndexPlan(index, docs, newest, False, f"holds a post of {newest:%Y-%m-%d}, after the cutoff: kept")
            )
        else:
            plans.append(
                IndexPlan(index, docs, newest, True, f"whole month before the cutoff {cutoff:%Y-%m-%d %H:%M} UTC")
            )
    return plans


def apply(es: Any, plans: list[IndexPlan]) -> list[str]:
    """Delete the indices the plan marks, by exact name (never a wildcard). Returns the deleted names."""
    deleted = []
    for p in plans:
        if not p.delete:
            continue
        es.indices.delete(index=p.index)
        log.info("retention: deleted %s (%d posts; %s)", p.index, p.docs, p.reason)
        deleted.append(p.index)
    return deleted
