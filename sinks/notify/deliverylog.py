"""The delivery log in Elasticsearch: one document per (alert state, channel) — and one per armed
escalation — updated after every attempt. It makes delivery idempotent (a replayed alert finds its ``sent``
document) and durable (``pending`` documents are picked up again when a notifier starts).

Index ``<prefix>-deliveries-v1`` behind the alias ``<prefix>-deliveries`` (``schemas.settings.IndexNames``).
"""

from __future__ import annotations

import logging
from typing import Any

from schemas.settings import IndexNames
from sinks.indices import create_index, index_template, typed

log = logging.getLogger("lingting.notify")

#: Statuses after which a delivery is never attempted again.
FINAL = frozenset({"sent", "failed", "suppressed", "cancelled", "escalated"})


def delivery_id(delivery_key: str, channel: str, kind: str = "alert") -> str:
    return f"{delivery_key}|{channel}" if kind == "alert" else f"{delivery_key}|{channel}|{kind}"


def escalation_id(alert_id: str, route: str) -> str:
    return f"escalation|{alert_id}|{route}"


def deliveries_template(prefix: str) -> dict[str, Any]:
    """What the dispatcher searches on; the attempt log and the alert itself are stored, not indexed."""
    names = "kind status delivery_key alert_id brand severity alert_status channel channel_type route channels"
    properties = typed(keyword=names, integer="sequence attempts http_status", text="error reason")
    properties |= typed(date="created_at updated_at sent_at not_before next_attempt_at due_at")
    properties |= {"attempt_log": {"type": "object", "enabled": False}, "alert": {"type": "object", "enabled": False}}
    return index_template(IndexNames(prefix).deliveries_alias, properties, closed=True)


async def ensure_delivery_log(es, prefix: str) -> str:
    """Create the template and the first index (idempotent). Returns the concrete index name."""
    names = IndexNames(prefix)
    await es.indices.put_index_template(name=names.deliveries_alias, body=deliveries_template(prefix))
    await create_index(es, names.deliveries_index)
    return names.deliveries_index


class DeliveryLog:
    def __init__(self, es, prefix: str, *, request_timeout: float = 5.0) -> None:
        self.es = es.options(request_timeout=request_timeout)
        names = IndexNames(prefix)
        self.index, self.alias = names.deliveries_index, names.deliveries_alias

    async def get_many(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        resp = await self.es.mget(index=self.index, ids=ids)
        return {d["_id"]: d["_source"] for d in resp["docs"] if d.get("found")}

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        return (await self.get_many([doc_id])).get(doc_id)

    async def write(self, doc_id: str, doc: dict[str, Any]) -> None:
        await self.es.index(index=self.index, id=doc_id, document=doc)

    async def create(self, doc_id: str, doc: dict[str, Any]) -> bool:
        """Create unless present; False when the document already exists."""
        from elasticsearch import ConflictError

        try:
            await self.es.create(index=self.index, id=doc_id, document=doc)
            return True
        except ConflictError:
            return False

    async def unfinished(self, limit: int = 10_000) -> list[dict[str, Any]]:
        """Pending deliveries and armed escalations (what a restarted notifier must take over)."""
        await self.es.indices.refresh(index=self.alias)
        resp = await self.es.search(
            index=self.alias,
            size=limit,
            sort=[{"created_at": "asc"}],
            query={"terms": {"status": ["pending", "scheduled"]}},
        )
        return [{**h["_source"], "_id": h["_id"]} for h in resp["hits"]["hits"]]
