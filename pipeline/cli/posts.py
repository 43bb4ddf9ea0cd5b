"""``lingting posts get KEY`` and ``lingting posts search``: read indexed posts without writing a query.

Posts live in monthly indices behind the ``<prefix>-posts`` alias, so ``GET <alias>/_doc/<key>`` cannot work (a
document GET needs one concrete index); both commands search the alias instead, which spans every month.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from pipeline.cli.options import config_option
from schemas.errors import ConfigError, LingtingError

ConfigOpt = config_option("elasticsearch: url, index_prefix")

posts_app = typer.Typer(help="Read indexed posts: one by its key, or a search.", no_args_is_help=True)

_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|h|d)\s*$")


def since_start(since: str, now: datetime | None = None) -> datetime:
    """``24h`` / ``30m`` / ``7d`` before now, or an ISO 8601 time (with offset; UTC if none)."""
    now = now or datetime.now(UTC)
    if match := _SINCE.match(since):
        unit = {"m": 60, "h": 3600, "d": 86400}[match.group(2)]
        return now - timedelta(seconds=float(match.group(1)) * unit)
    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        raise ConfigError(
            f"--since {since!r}: write a span (30m, 24h, 7d) or an ISO 8601 time (2026-11-23T10:00:00+08:00)"
        ) from None
    return start if start.tzinfo else start.replace(tzinfo=UTC)


def search_body(
    words: list[str],
    *,
    brand: str | None,
    platform: str | None,
    sentiment: str | None,
    since: datetime | None,
    limit: int,
) -> dict[str, Any]:
    """The search: every word as a phrase of the post text (so 后厨 matches 后厨, not 后 and 厨 anywhere),
    the filters as exact terms, newest first."""
    must: list[dict[str, Any]] = [{"match_phrase": {"text": word}} for word in words]
    filters: list[dict[str, Any]] = []
    if brand:
        filters.append({"term": {"brands": brand}})
    if platform:
        filters.append({"term": {"platform": platform}})
    if sentiment:
        filters.append({"term": {"sentiment.label": sentiment}})
    if since:
        filters.append({"range": {"created_at": {"gte": since.isoformat()}}})
    return {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
        "sort": [{"created_at": "desc"}],
        "size": limit,
        "track_total_hits": True,
    }


def _client(config: Path | None) -> tuple[Any, str]:
    from elasticsearch import Elasticsearch

    from pipeline.settings import load_settings

    es = load_settings(config).elasticsearch
    return Elasticsearch(es.url, basic_auth=es.basic_auth, request_timeout=30), es.posts_alias


def _search(config: Path | None, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]], str]:
    from elasticsearch import ApiError, NotFoundError
    from elasticsearch import ConnectionError as EsConnectionError

    client, alias = _client(config)
    try:
        answer = client.search(index=alias, **body)
    except NotFoundError:
        raise LingtingError(
            f"no index {alias!r} on this Elasticsearch: nothing was indexed under this "
            "elasticsearch.index_prefix yet (or the config points at another cluster)"
        ) from None
    except EsConnectionError as err:
        raise LingtingError(f"cannot reach Elasticsearch ({err}); check elasticsearch.url or LINGTING_ES") from None
    except ApiError as err:
        raise LingtingError(f"Elasticsearch refused the search on {alias!r}: {err}") from None
    finally:
        client.close()
    hits = answer["hits"]
    return hits["total"]["value"], hits["hits"], alias


@posts_app.command("get")
def get(
    key: str = typer.Argument(..., help="The post's key, platform:id (e.g. weibo:9000001)."),
    config: Path | None = ConfigOpt,
) -> None:
    """Print one post as stored (JSON, with the month index it is in); exit 1 when there is none."""
    _, hits, alias = _search(config, {"query": {"ids": {"values": [key]}}, "size": 1})
    if not hits:
        typer.secho(
            f"no post {key!r} in {alias} (keys are platform:id, e.g. weibo:9000001)", err=True, fg=typer.colors.RED
        )
        raise typer.Exit(1)
    hit = hits[0]
    typer.echo(json.dumps({"_index": hit["_index"], **hit["_source"]}, ensure_ascii=False, indent=2))


@posts_app.command("search")
def search(
    words: list[str] | None = typer.Argument(
        None, metavar="WORD...", help="Words the text must contain (all of them)."
    ),
    brand: str | None = typer.Option(None, help="Only posts matched to this brand."),
    platform: str | None = typer.Option(None, help="Only this platform (weibo, news, ...)."),
    sentiment: str | None = typer.Option(None, help="negative | neutral | positive"),
    since: str | None = typer.Option(None, help="Only posts since: 30m, 24h, 7d or an ISO 8601 time."),
    limit: int = typer.Option(20, min=1, max=10_000, help="At most this many posts, newest first."),
    as_json: bool = typer.Option(False, "--json", help="One stored post per line (JSON) instead of a table."),
    config: Path | None = ConfigOpt,
) -> None:
    """Search the indexed posts of every month: newest first, one line each (time, key, sentiment, brands,
    text), and how many matched in all."""
    body = search_body(
        list(words or []),
        brand=brand,
        platform=platform,
        sentiment=sentiment,
        since=since_start(since) if since else None,
        limit=limit,
    )
    total, hits, alias = _search(config, body)
    for hit in hits:
        src = hit["_source"]
        if as_json:
            typer.echo(json.dumps(src, ensure_ascii=False))
            continue
        label = (src.get("sentiment") or {}).get("label", "-")
        text = " ".join(str(src.get("text", "")).split())
        typer.echo(
            f"{src.get('created_at', '')}  {hit['_id']}  {label:<8}  {','.join(src.get('brands') or [])}  {text[:80]}"
        )
    typer.echo(f"{total} posts matched in {alias}" + (f", {len(hits)} shown" if total > len(hits) else ""), err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(posts_app, name="posts")
