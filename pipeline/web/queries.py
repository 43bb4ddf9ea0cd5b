"""Every Elasticsearch request of the command center and the reports, in one place.

Each function takes an ``AsyncElasticsearch`` and the index names, and returns plain dicts/lists the templates
and the report renderer share, so a figure on the page and in the 日报 is the same number by construction.
Figures come from aggregations (never from summing fetched hits); the exceptions are named where they occur.

Definitions (shown on the pages too):
  net sentiment (净情感值) = (positive − negative) / (positive + negative) × 100, in [−100, 100];
  share of voice (声量份额) = a brand's mentions / mentions of the brand and its configured competitors;
  reach (覆盖) = followers of the distinct authors (each author once, their largest follower count);
  impressions (曝光, estimated) = Σ over posts of the author's followers;
  engagement (互动) = Σ reposts + comments + likes;
  lift (提升度) = (posts with the term / posts) now ÷ (baseline posts with it + 1) / (baseline posts + 1),
    the baseline being the 7 days before the period.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from processors.detection.windows import influence
from schemas.settings import IndexNames
from sinks.notify import workflow

#: distinct authors summed for reach; beyond it the figure is a lower bound (labelled on the page)
REACH_AUTHORS = 10_000
BASELINE = timedelta(days=7)
SENTIMENTS = ("positive", "neutral", "negative")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @property
    def previous(self) -> Period:
        return Period(self.start - (self.end - self.start), self.start)

    def range(self, field: str = "created_at") -> dict[str, Any]:
        return {"range": {field: {"gte": self.start.isoformat(), "lt": self.end.isoformat()}}}

    def interval(self) -> str:
        """A histogram step giving 24..~100 buckets over the period."""
        span = (self.end - self.start).total_seconds()
        for step, name in ((300, "5m"), (900, "15m"), (3600, "1h"), (3 * 3600, "3h"), (6 * 3600, "6h"), (86400, "1d")):
            if span / step <= 100:
                return name
        return "7d"


def _brands_filter(brands: Iterable[str]) -> dict[str, Any]:
    return {"terms": {"brands": list(brands)}}


def _pct(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def net_sentiment(positive: int, negative: int) -> float | None:
    """(positive − negative) / (positive + negative) × 100; None without polar posts."""
    return 100.0 * (positive - negative) / (positive + negative) if positive + negative else None


def change(now: float | None, before: float | None) -> float | None:
    """Period-on-period change (环比) as a ratio, None when there is nothing to compare with."""
    if now is None or before is None or before == 0:
        return None
    return (now - before) / abs(before)


# ---------------------------------------------------------------------------------------------- alerts
async def alerts(
    es,
    names: IndexNames,
    *,
    brands: list[str] | None = None,
    state: str | None = None,
    period: Period | None = None,
    size: int = 50,
) -> list[dict[str, Any]]:
    """The latest state of each crisis (one document per alert id), newest first, with its escalation timer."""
    filters: list[dict[str, Any]] = []
    if brands:
        filters.append({"terms": {"brand": brands}})
    if period:
        filters.append({"range": {"updated_at": {"gte": period.start.isoformat()}}})
        filters.append({"range": {"created_at": {"lt": period.end.isoformat()}}})
    if state == "open":
        filters.append(
            {
                "bool": {
                    "must_not": [
                        {"terms": {"workflow.state": sorted(workflow.HANDLED)}},
                        {"term": {"status": "resolved"}},
                    ]
                }
            }
        )
    elif state:
        filters.append({"term": {"workflow.state": state}})
    resp = await es.search(
        index=names.alerts_alias,
        size=size,
        query={"bool": {"filter": filters}},
        sort=[{"updated_at": {"order": "desc", "unmapped_type": "date"}}],
        source_excludes=["sample_posts.quoted_text"],
        ignore_unavailable=True,
    )
    docs = [h["_source"] for h in resp["hits"]["hits"]]
    timers = await escalation_timers(es, names, [d["id"] for d in docs])
    for d in docs:
        d["escalation"] = timers.get(d["id"])
        d["opened"] = d.get("opened_at") or d.get("crisis_start") or d.get("created_at")
    return docs


async def escalation_timers(es, names: IndexNames, alert_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The notifier's escalation timer of each alert (scheduled / escalated / cancelled, due_at)."""
    if not alert_ids:
        return {}
    resp = await es.search(
        index=names.deliveries_alias,
        size=len(alert_ids) * 3,
        query={"bool": {"filter": [{"term": {"kind": "escalation-timer"}}, {"terms": {"alert_id": alert_ids}}]}},
        source_includes=["alert_id", "status", "due_at", "reason", "channels", "updated_at"],
        ignore_unavailable=True,
    )
    out: dict[str, dict[str, Any]] = {}
    for h in resp["hits"]["hits"]:
        src = h["_source"]
        current = out.get(src["alert_id"])
        if current is None or src.get("due_at", "") < current.get("due_at", ""):
            out[src["alert_id"]] = src
    return out


async def alert(es, names: IndexNames, alert_id: str) -> dict[str, Any] | None:
    doc = await workflow.get_alert_doc(es, names.alerts_alias, alert_id)
    if doc is None:
        return None
    src = doc["_source"]
    src["escalation"] = (await escalation_timers(es, names, [alert_id])).get(alert_id)
    src["opened"] = src.get("opened_at") or src.get("crisis_start") or src.get("created_at")
    return src


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def crisis_period(a: dict[str, Any]) -> Period:
    """The crisis window with context on both sides (as long again before it, a quarter after)."""
    start = _parse(a.get("crisis_start") or a["window_start"])
    end = _parse(a["window_end"])
    span = max(end - start, timedelta(hours=1))
    return Period(start - span, end + span / 4)


async def crisis_detail(es, names: IndexNames, a: dict[str, Any], tz: str) -> dict[str, Any]:
    """Everything the crisis page and the 专报 show beyond the alert document itself."""
    brand = a["brand"]
    crisis = Period(_parse(a.get("crisis_start") or a["window_start"]), _parse(a["window_end"]))
    context = crisis_period(a)
    brand_f = {"term": {"brands": brand}}
    neg_f = {"term": {"sentiment.label": "negative"}}
    in_crisis = {"bool": {"filter": [brand_f, crisis.range()]}}
    body_volume = {
        "size": 0,
        "query": {"bool": {"filter": [brand_f, context.range()]}},
        "aggs": {
            "t": {
                "date_histogram": {
                    "field": "created_at",
                    "fixed_interval": context.interval(),
                    "time_zone": tz,
                    "min_doc_count": 0,
                    "extended_bounds": {"min": context.start.isoformat(), "max": context.end.isoformat()},
                },
                "aggs": {"neg": {"filter": neg_f}},
            }
        },
    }
    body_terms = _terms_body(in_crisis, [brand])
    body_chains = {
        "size": 0,
        "query": {"bool": {"filter": [brand_f, crisis.range(), {"exists": {"field": "repost_of"}}]}},
        "aggs": {
            "chains": {
                "terms": {"field": "repost_of", "size": 5},
                "aggs": {
                    "first": {"min": {"field": "created_at"}},
                    "reposters": {
                        "top_hits": {
                            "size": 3,
                            "sort": [{"author.followers": {"order": "desc", "missing": "_last"}}],
                            "_source": ["author.name", "author.followers", "url", "created_at", "platform", "id"],
                        }
                    },
                },
            }
        },
    }
    body_first = {
        "size": 1,
        "query": {"bool": {"filter": [brand_f, neg_f, crisis.range()]}},
        "sort": [{"created_at": "asc"}],
        "_source": ["platform", "id", "text", "url", "author", "created_at", "metrics"],
    }
    body_samples = {
        "size": 8,
        "query": {"bool": {"filter": [brand_f, neg_f, crisis.range()]}},
        "sort": [{"metrics.engagement": {"order": "desc", "missing": "_last"}}, {"created_at": "asc"}],
        "_source": ["platform", "id", "text", "url", "author", "created_at", "metrics", "sentiment"],
    }
    resp = await _msearch(es, names.posts_alias, [body_volume, body_terms, body_chains, body_first, body_samples])
    volume, terms, chains, first, samples = resp
    series = [
        {"t": b["key_as_string"], "ms": b["key"], "total": b["doc_count"], "negative": b["neg"]["doc_count"]}
        for b in _buckets(volume, "t")
    ]
    originals = [b["key"] for b in _buckets(chains, "chains")]
    orig_docs = await _originals(es, names, originals)
    return {
        "period": context,
        "crisis": crisis,
        "series": series,
        "terms": await _lift(es, names, terms, [brand_f, Period(crisis.start - BASELINE, crisis.start).range()]),
        "chains": [
            {
                "original": b["key"],
                "reposts": b["doc_count"],
                "first_at": b["first"].get("value_as_string"),
                "post": orig_docs.get(b["key"]),
                "key_reposters": [h["_source"] for h in b["reposters"]["hits"]["hits"]],
            }
            for b in _buckets(chains, "chains")
        ],
        "first_post": (first.get("hits", {}).get("hits") or [{}])[0].get("_source"),
        "samples": [h["_source"] for h in samples.get("hits", {}).get("hits", [])],
    }


async def _originals(es, names: IndexNames, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The reposted originals, when lingting has them (``repost_of`` is ``platform:id`` = the document id)."""
    if not keys:
        return {}
    resp = await es.search(
        index=names.posts_alias,
        size=len(keys),
        query={"ids": {"values": keys}},
        source_includes=["platform", "id", "text", "url", "author", "created_at"],
        ignore_unavailable=True,
    )
    return {h["_id"]: h["_source"] for h in resp["hits"]["hits"]}


async def _msearch(es, index: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One round trip for several searches; a failed one raises with Elasticsearch's reason."""
    searches: list[dict[str, Any]] = []
    for body in bodies:
        searches += [{"index": index, "ignore_unavailable": True}, body]
    resp = await es.msearch(searches=searches)
    out = []
    for r in resp["responses"]:
        if "error" in r:
            raise RuntimeError(f"elasticsearch query failed: {r['error'].get('reason') or r['error']}")
        out.append(r)
    return out


def _buckets(resp: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return (resp.get("aggregations") or {}).get(name, {}).get("buckets", [])


TERM_CANDIDATES = 60


def _terms_body(query: dict[str, Any], exclude: list[str]) -> dict[str, Any]:
    """The most frequent keywords of the posts matching ``query`` (candidates for the lift ranking)."""
    return {
        "size": 0,
        "track_total_hits": True,
        "query": query,
        "aggs": {"terms": {"terms": {"field": "keywords", "size": TERM_CANDIDATES, "exclude": exclude}}},
    }


async def _lift(
    es, names: IndexNames, fg: dict[str, Any], baseline: list[dict[str, Any]], size: int = 15
) -> list[dict[str, Any]]:
    """Rank the candidates by lift against the baseline (the 7 days before): (count / posts) now over
    (baseline count + 1) / (baseline posts + 1) — the +1 keeps a term new this period finite. Ties: by count."""
    fg_total = fg["hits"]["total"]["value"]
    buckets = _buckets(fg, "terms")
    if not buckets or not fg_total:
        return []
    resp = await es.search(
        index=names.posts_alias,
        size=0,
        track_total_hits=True,
        query={"bool": {"filter": baseline}},
        aggs={"terms": {"terms": {"field": "keywords", "size": len(buckets), "include": [b["key"] for b in buckets]}}},
        ignore_unavailable=True,
    )
    bg_total = resp["hits"]["total"]["value"]
    bg = {b["key"]: b["doc_count"] for b in _buckets(resp, "terms")}
    # without any baseline there is nothing to be lifted against: the terms are ranked by count, lift unknown
    rows = [
        {
            "term": b["key"],
            "count": b["doc_count"],
            "baseline": bg.get(b["key"], 0),
            "lift": round((b["doc_count"] / fg_total) / ((bg.get(b["key"], 0) + 1) / (bg_total + 1)), 2)
            if bg_total
            else None,
        }
        for b in buckets
        if b["doc_count"] >= 2
    ]
    rows.sort(key=lambda r: (-(r["lift"] or 0), -r["count"], r["term"]))
    return rows[:size]


# ---------------------------------------------------------------------------------------------- overview
def _kpi_body(brands: list[str], period: Period) -> dict[str, Any]:
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {"bool": {"filter": [_brands_filter(brands), period.range()]}},
        "aggs": {
            "sentiment": {"terms": {"field": "sentiment.label", "size": 3}},
            "engagement": {"sum": {"field": "metrics.engagement"}},
            "impressions": {"sum": {"field": "author.followers"}},
            "authors": {"cardinality": {"field": "author.id"}},
            "reach_authors": {
                "terms": {"field": "author.id", "size": REACH_AUTHORS},
                "aggs": {"followers": {"max": {"field": "author.followers"}}},
            },
            "reach": {"sum_bucket": {"buckets_path": "reach_authors>followers"}},
        },
    }


def _sov_body(brands: list[str], period: Period) -> dict[str, Any]:
    return {
        "size": 0,
        "query": {"bool": {"filter": [_brands_filter(brands), period.range()]}},
        "aggs": {
            "brand": {
                "filters": {"filters": {b: {"term": {"brands": b}} for b in brands}},
                "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "size": 3}}},
            }
        },
    }


def _sentiment_counts(agg: dict[str, Any]) -> dict[str, int]:
    counts = {s: 0 for s in SENTIMENTS}
    for b in agg.get("buckets", []):
        counts[b["key"]] = b["doc_count"]
    return counts


def _kpis(resp: dict[str, Any], sov: dict[str, Any], brands: list[str]) -> dict[str, Any]:
    aggs = resp.get("aggregations") or {}
    volume = resp["hits"]["total"]["value"]
    s = _sentiment_counts(aggs.get("sentiment", {}))
    by_brand = ((sov.get("aggregations") or {}).get("brand") or {}).get("buckets", {})
    mine = sum(by_brand.get(b, {}).get("doc_count", 0) for b in brands)
    everyone = sum(v.get("doc_count", 0) for v in by_brand.values())
    return {
        "volume": volume,
        "positive": s["positive"],
        "neutral": s["neutral"],
        "negative": s["negative"],
        "negative_share": _pct(s["negative"], volume),
        "net_sentiment": net_sentiment(s["positive"], s["negative"]),
        "share_of_voice": _pct(mine, everyone),
        "reach": int(aggs.get("reach", {}).get("value") or 0),
        "authors": aggs.get("authors", {}).get("value", 0),
        "reach_capped": aggs.get("authors", {}).get("value", 0) > REACH_AUTHORS,
        "impressions": int(aggs.get("impressions", {}).get("value") or 0),
        "engagement": int(aggs.get("engagement", {}).get("value") or 0),
    }


async def overview(
    es, names: IndexNames, brands: list[str], competitors: list[str], period: Period, tz: str
) -> dict[str, Any]:
    """The brand overview: KPI strip with 环比, sentiment over time, competitors, hot terms, KOLs, platforms."""
    field_brands = _brands_filter(brands)
    rivals = [b for b in dict.fromkeys([*brands, *competitors])]
    in_period = {"bool": {"filter": [field_brands, period.range()]}}
    bodies = [
        _kpi_body(brands, period),
        _kpi_body(brands, period.previous),
        _sov_body(rivals, period),
        _sov_body(rivals, period.previous),
        {
            "size": 0,
            "query": in_period,
            "aggs": {
                "t": {
                    "date_histogram": {
                        "field": "created_at",
                        "fixed_interval": period.interval(),
                        "time_zone": tz,
                        "min_doc_count": 0,
                        "extended_bounds": {"min": period.start.isoformat(), "max": period.end.isoformat()},
                    },
                    "aggs": {"sentiment": {"terms": {"field": "sentiment.label", "size": 3}}},
                }
            },
        },
        _terms_body(in_period, rivals),
        {
            "size": 0,
            "query": in_period,
            "aggs": {
                "kol": {
                    "terms": {"field": "author.id", "size": 10, "order": {"engagement": "desc"}},
                    "aggs": {
                        "engagement": {"sum": {"field": "metrics.engagement"}},
                        "followers": {"max": {"field": "author.followers"}},
                        "negative": {"filter": {"term": {"sentiment.label": "negative"}}},
                        "who": {
                            "top_hits": {
                                "size": 1,
                                "_source": ["author.name", "author.verified", "platform"],
                                "sort": [{"created_at": "desc"}],
                            }
                        },
                    },
                }
            },
        },
        {"size": 0, "query": in_period, "aggs": {"platform": {"terms": {"field": "platform", "size": 10}}}},
    ]
    # the posts' searches in one round trip, the alert counts beside it
    found, alerts_now, alerts_before = await asyncio.gather(
        _msearch(es, names.posts_alias, bodies),
        alert_counts(es, names, brands, period),
        alert_counts(es, names, brands, period.previous),
    )
    now, before, sov_now, sov_before, trend, terms, kol, platforms = found
    kpi_now, kpi_before = _kpis(now, sov_now, brands), _kpis(before, sov_before, brands)
    kpi_now.update(alerts_now)
    kpi_before.update(alerts_before)
    kpi_now["negative_share_baseline"] = kpi_before["negative_share"]
    competitors_rows = []
    by_brand = ((sov_now.get("aggregations") or {}).get("brand") or {}).get("buckets", {})
    total_mentions = sum(v["doc_count"] for v in by_brand.values())
    for b in rivals:
        bucket = by_brand.get(b, {"doc_count": 0})
        s = _sentiment_counts(bucket.get("sentiment", {}))
        competitors_rows.append(
            {
                "brand": b,
                "mine": b in brands,
                "volume": bucket["doc_count"],
                "share_of_voice": _pct(bucket["doc_count"], total_mentions),
                "net_sentiment": net_sentiment(s["positive"], s["negative"]),
                **s,
            }
        )
    kols = []
    for b in _buckets(kol, "kol"):
        who = (b["who"]["hits"]["hits"] or [{"_source": {}}])[0]["_source"]
        followers = int(b["followers"].get("value") or 0)
        engagement = int(b["engagement"].get("value") or 0)
        kols.append(
            {
                "id": b["key"],
                "name": (who.get("author") or {}).get("name") or b["key"],
                "verified": bool((who.get("author") or {}).get("verified")),
                "platform": who.get("platform"),
                "posts": b["doc_count"],
                "negative": b["negative"]["doc_count"],
                "followers": followers,
                "engagement": engagement,
                "influence": round(influence(followers, b["doc_count"], engagement), 1),
            }
        )
    return {
        "brands": brands,
        "competitors": competitors,
        "period": period,
        "kpi": kpi_now,
        "previous": kpi_before,
        "change": {k: change(kpi_now.get(k), kpi_before.get(k)) for k in kpi_now if k != "reach_capped"},
        "trend": [
            {"t": b["key_as_string"], "ms": b["key"], **_sentiment_counts(b["sentiment"])} for b in _buckets(trend, "t")
        ],
        "competitors_table": competitors_rows,
        "terms": await _lift(es, names, terms, [field_brands, Period(period.start - BASELINE, period.start).range()]),
        "kols": kols,
        "platforms": [{"platform": b["key"], "count": b["doc_count"]} for b in _buckets(platforms, "platform")],
    }


async def alert_counts(es, names: IndexNames, brands: list[str], period: Period) -> dict[str, int]:
    """Alerts opened in the period and how many of them a person (or the detector) has handled."""
    handled = {
        "bool": {
            "should": [{"terms": {"workflow.state": sorted(workflow.HANDLED)}}, {"term": {"status": "resolved"}}],
            "minimum_should_match": 1,
        }
    }
    resp = await es.search(
        index=names.alerts_alias,
        size=0,
        track_total_hits=True,
        query={
            "bool": {
                "filter": [
                    {"terms": {"brand": brands}},
                    {
                        "bool": {
                            "should": [
                                period.range("opened_at"),
                                {
                                    "bool": {
                                        "must_not": {"exists": {"field": "opened_at"}},
                                        "filter": period.range("created_at"),
                                    }
                                },
                            ],
                            "minimum_should_match": 1,
                        }
                    },
                ]
            }
        },
        aggs={"handled": {"filter": handled}},
        ignore_unavailable=True,
    )
    return {
        "alerts_opened": resp["hits"]["total"]["value"],
        "alerts_handled": (resp.get("aggregations") or {}).get("handled", {}).get("doc_count", 0),
    }


# ---------------------------------------------------------------------------------------------- posts
async def posts(
    es,
    names: IndexNames,
    *,
    brands: list[str] | None = None,
    period: Period | None = None,
    sentiment: str | None = None,
    platform: str | None = None,
    author: str | None = None,
    term: str | None = None,
    text: str | None = None,
    size: int = 20,
    offset: int = 0,
    highlight: bool = False,
) -> dict[str, Any]:
    """Posts matching the filters, newest first (the chart drill-down and the search page)."""
    filters: list[dict[str, Any]] = []
    if brands:
        filters.append(_brands_filter(brands))
    if period:
        filters.append(period.range())
    if sentiment:
        filters.append({"term": {"sentiment.label": sentiment}})
    if platform:
        filters.append({"term": {"platform": platform}})
    if author:
        filters.append(
            {
                "bool": {
                    "should": [{"term": {"author.name": author}}, {"term": {"author.id": author}}],
                    "minimum_should_match": 1,
                }
            }
        )
    if term:
        filters.append({"term": {"keywords": term}})
    must: list[dict[str, Any]] = []
    if text:
        # the standard analyser splits Chinese into characters: a phrase keeps them in order; ``segmented``
        # (jieba's words) catches word matches
        must.append(
            {
                "bool": {
                    "should": [
                        {"match_phrase": {"text": {"query": text, "boost": 2}}},
                        {"match": {"segmented": {"query": text, "operator": "and"}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    kwargs: dict[str, Any] = {}
    if highlight and text:
        kwargs["highlight"] = {
            "fields": {"text": {"number_of_fragments": 0}},
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "encoder": "html",
        }
    resp = await es.search(
        index=names.posts_alias,
        size=size,
        from_=offset,
        track_total_hits=True,
        query={"bool": {"filter": filters, "must": must}},
        sort=["_score", {"created_at": "desc"}] if text else [{"created_at": "desc"}],
        source_includes=["platform", "id", "text", "url", "author", "created_at", "sentiment", "metrics", "brands"],
        ignore_unavailable=True,
        **kwargs,
    )
    hits = []
    for h in resp["hits"]["hits"]:
        src = h["_source"]
        src["highlight"] = (h.get("highlight") or {}).get("text", [None])[0]
        hits.append(src)
    return {"total": resp["hits"]["total"]["value"], "hits": hits}


# ---------------------------------------------------------------------------------------------- response KPIs
def _first(history: list[dict[str, Any]], actions: tuple[str, ...]) -> datetime | None:
    times = [_parse(h.get("at")) for h in history if h.get("action") in actions]
    return min((t for t in times if t), default=None)


async def response_kpis(es, names: IndexNames, period: Period, *, size: int = 2000) -> dict[str, Any]:
    """Time to acknowledge, time to resolve (反馈周期) and the share acknowledged before escalation, per brand
    and per assignee.

    The one set of figures not computed by an aggregation: a duration is the difference of two times in the
    workflow history, which needs a script, and the local stack's Elasticsearch has no scripting module. The
    alerts of a period are few (one document per crisis), so they are fetched and measured here."""
    resp = await es.search(
        index=names.alerts_alias,
        size=size,
        query={
            "bool": {
                "filter": [
                    {"range": {"updated_at": {"gte": period.start.isoformat()}}},
                    {"range": {"created_at": {"lt": period.end.isoformat()}}},
                ]
            }
        },
        source_includes=[
            "id",
            "brand",
            "severity",
            "status",
            "opened_at",
            "crisis_start",
            "created_at",
            "updated_at",
            "workflow",
        ],
        ignore_unavailable=True,
    )
    docs = [h["_source"] for h in resp["hits"]["hits"]]
    timers = await escalation_timers(es, names, [d["id"] for d in docs])
    rows = []
    for d in docs:
        wf = d.get("workflow") or {}
        history = wf.get("history") or []
        opened = _parse(d.get("opened_at") or d.get("created_at"))
        acked = _first(history, ("acknowledge", "assign", "resolve"))
        resolved = _first(history, ("resolve",))
        timer = timers.get(d["id"])
        due = _parse(timer.get("due_at")) if timer else None
        rows.append(
            {
                "id": d["id"],
                "brand": d["brand"],
                "assignee": wf.get("assignee") or "—",
                "ack_s": (acked - opened).total_seconds() if acked and opened else None,
                "resolve_s": (resolved - opened).total_seconds() if resolved and opened else None,
                "escalation": None if due is None else bool(acked and acked < due),
            }
        )
    return {
        "period": period,
        "alerts": rows,
        "total": _response_row("", rows),
        "by_brand": _grouped(rows, "brand"),
        "by_assignee": _grouped(rows, "assignee"),
    }


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _response_row(key: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    acks = [r["ack_s"] for r in rows if r["ack_s"] is not None]
    res = [r["resolve_s"] for r in rows if r["resolve_s"] is not None]
    esc = [r["escalation"] for r in rows if r["escalation"] is not None]
    return {
        "key": key,
        "alerts": len(rows),
        "acknowledged": len(acks),
        "resolved": len(res),
        "ack_median_s": _median(acks),
        "ack_mean_s": sum(acks) / len(acks) if acks else None,
        "resolve_median_s": _median(res),
        "resolve_mean_s": sum(res) / len(res) if res else None,
        "with_escalation": len(esc),
        "before_escalation": _pct(sum(esc), len(esc)),
    }


def _grouped(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r[key], []).append(r)
    return [_response_row(k, v) for k, v in sorted(groups.items())]


def utcnow() -> datetime:
    return datetime.now(UTC)
