"""The deliver stage: alert states → Elasticsearch ``<prefix>-alerts`` and the notifier's channels.

Crisis managers get the alert even when Elasticsearch is down; neither failure loses it (the state goes to the
dead-letter topic with the stage that failed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from pipeline.settings import Settings
from pipeline.worker.clients import Clients, DeadLetters, Outbox
from pipeline.worker.observe import Metrics
from pipeline.worker.undecodable import undecodable
from schemas import Alert
from schemas.errors import validation_summary
from schemas.retry import backoff_delay

log = logging.getLogger("lingting.worker")

#: Tries to hand an alert to the notifier (about 2 minutes in all) before it goes to the dead-letter topic.
NOTIFY_ATTEMPTS = 8


class DeliverStage:
    def __init__(self, settings: Settings, clients: Clients, dead: DeadLetters, metrics: Metrics) -> None:
        self.settings, self.clients, self.dead, self.metrics = settings, clients, dead, metrics

    async def run(self, stream: Any) -> None:
        async for event in stream.events():
            out = Outbox()
            await self.process(event, out)
            await out.flush()

    async def process(self, event: Any, out: Outbox) -> None:
        from sinks import elasticsearch as es_sink

        skipped = undecodable(event)
        if skipped:
            self.dead.of_event(out, event, "kafka.decode", skipped)
            return
        try:
            alert = Alert.model_validate_json(event.value or b"")
        except ValidationError as err:
            self.dead.of_event(
                out, event, "deliver.validate", "invalid Alert: " + validation_summary(err, limit=10, top="(message)")
            )
            return
        log.info(
            "alert %s %s severity=%s observed=%.0f expected=%.1f",
            alert.id,
            alert.status,
            alert.severity,
            alert.observed,
            alert.expected,
        )
        self.metrics.alerts.labels(alert.status).inc()
        try:
            await es_sink.upsert_alert(await self.clients.es(), self.settings.elasticsearch.index_prefix, alert)
        except Exception as err:
            log.exception("alert %s not stored in %s", alert.id, self.settings.elasticsearch.alerts_alias)
            self.dead.of_event(out, event, "deliver.elasticsearch", f"{type(err).__name__}: {err}")
        for attempt in range(1, NOTIFY_ATTEMPTS + 1):
            try:
                await (await self.clients.notifier()).deliver(alert)
                return
            except Exception as err:
                if attempt == NOTIFY_ATTEMPTS:
                    log.exception("alert %s not handed to the notifier", alert.id)
                    self.dead.of_event(out, event, "deliver.notify", f"{type(err).__name__}: {err}")
                    return
                log.warning(
                    "notifier not ready for alert %s (%s); retry %d/%d", alert.id, err, attempt, NOTIFY_ATTEMPTS
                )
                await asyncio.sleep(backoff_delay(attempt, initial=1.0, cap=30.0))
