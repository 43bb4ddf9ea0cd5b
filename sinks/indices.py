"""Elasticsearch index templates in shorthand (fields listed by type, so a template reads as its schema), and
the creation of an index that several workers may ask for at once."""

from __future__ import annotations

from typing import Any


def typed(**names: str) -> dict[str, dict[str, str]]:
    """``typed(keyword="id brand", date="created_at")`` → ``{"id": {"type": "keyword"}, …}``: the fields that need
    nothing but a type, space-separated per type."""
    return {name: {"type": kind} for kind, spaced in names.items() for name in spaced.split()}


#: Strings the mapping does not name are keywords (filterable, aggregatable), not analysed text.
STRINGS_AS_KEYWORDS = {
    "strings": {"match_mapping_type": "string", "mapping": {"type": "keyword", "ignore_above": 1024}}
}


def index_template(
    alias: str, properties: dict[str, Any], *, shards: int = 1, replicas: int = 0, closed: bool = False, **settings: Any
) -> dict[str, Any]:
    """A composable template for the indices ``<alias>-*``, each created behind ``alias``. ``closed``: fields the
    mapping does not name are kept in ``_source`` only, else strings become keywords. Priority 200 wins over
    Elasticsearch's built-in templates and any catch-all a cluster may carry."""
    dynamic: dict[str, Any] = {"dynamic": False} if closed else {"dynamic_templates": [STRINGS_AS_KEYWORDS]}
    return {
        "index_patterns": [f"{alias}-*"],
        "priority": 200,
        "template": {
            "settings": {"number_of_shards": shards, "number_of_replicas": replicas, **settings},
            "aliases": {alias: {}},
            "mappings": {**dynamic, "properties": properties},
        },
    }


async def create_index(es: Any, index: str) -> None:
    """Create ``index`` (its template applies) unless it exists; another worker creating it at the same moment
    is not an error."""
    if await es.indices.exists(index=index):
        return
    try:
        await es.indices.create(index=index)
    except Exception as err:
        if "resource_already_exists" not in str(err):
            raise
