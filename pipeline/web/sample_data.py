"""Fill Elasticsearch with a synthetic stream run through the worker's own chain (Enricher → BrandMonitor →
the ES sink), without Kafka: the data the browser tests, the screenshots and bench/web.py look at.

The same scenario files as ``lingting connect synthetic`` (deploy/demo/scenario.yaml). The synthetic stream
repeats its sentences, so the NLP result of each distinct text is computed once: a million posts load in
minutes instead of an hour, with exactly the fields the worker would have written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.settings import Settings

log = logging.getLogger("lingting.web.sample")


@dataclass
class Loaded:
    posts: int = 0
    alerts: list[Any] = field(default_factory=list)
    distinct_texts: int = 0


async def load(
    es,
    settings: Settings,
    scenario_path: Path,
    *,
    seed: int = 7,
    start: datetime | None = None,
    minutes: int | None = None,
    detect: bool = True,
    batch: int = 2000,
    progress: bool = False,
) -> Loaded:
    """Generate, enrich, index (and with ``detect`` run the detector and write its alerts); returns counts."""
    from connectors.synthetic import SyntheticSource, load_scenario
    from processors.detection.monitor import BrandMonitor
    from processors.enrich import Enricher
    from schemas import EnrichedPost
    from sinks import elasticsearch as es_sink

    scenario = load_scenario(scenario_path)
    if minutes:
        scenario = scenario.model_copy(update={"minutes": minutes})
    source = SyntheticSource(scenario, seed=seed, start=start)
    prefix = settings.elasticsearch.index_prefix
    await es_sink.ensure_indices(es, prefix)
    enricher = Enricher(settings.brands)
    cache: dict[str, dict[str, Any]] = {}
    monitors = {b.name: BrandMonitor(b.name, settings.detection_for(b.name)) for b in settings.brands}
    out, pending = Loaded(), []
    last_at = None
    for raw in source.generate(source.start):
        text = raw["text"]
        analysis = cache.get(text)
        if analysis is None:
            analysis = cache[text] = enricher.analyse(text)
        post = EnrichedPost.model_validate({**raw, **analysis, "brand": None, "processed_at": raw["created_at"]})
        last_at = post.created_at
        if detect:
            for brand in post.brands:
                if brand in monitors:
                    for alert in monitors[brand].add(post.model_copy(update={"brand": brand})):
                        await _write_alert(es, prefix, alert, post.created_at, out)
        pending.append(post)
        if len(pending) >= batch:
            out.posts += (await es_sink.index_posts(es, prefix, pending)).indexed
            pending = []
            if progress and out.posts % 100_000 < batch:
                log.info("%d posts indexed", out.posts)
    if pending:
        out.posts += (await es_sink.index_posts(es, prefix, pending)).indexed
    if detect and last_at is not None:
        now = max(datetime.now(UTC), last_at)
        for monitor in monitors.values():
            for alert in monitor.advance(now):
                await _write_alert(es, prefix, alert, now, out)
    await es.indices.refresh(index=settings.elasticsearch.posts_alias)
    out.distinct_texts = len(cache)
    return out


async def _write_alert(es, prefix: str, alert, at: datetime, out: Loaded) -> None:
    """The detector stamps alerts with the wall clock; a replayed stream's alert happened at its event time."""
    from sinks import elasticsearch as es_sink

    alert = alert.model_copy(update={"created_at": alert.window_end})
    await es_sink.upsert_alert(es, prefix, alert)
    out.alerts.append(alert)
