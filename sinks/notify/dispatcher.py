"""The notifier the worker calls: route → record → enqueue, per-channel senders, escalation timers.

* ``deliver(alert)`` decides the channels, skips what the delivery log says was already handled (replays),
  writes a ``pending`` document per (alert state, channel), puts the job on that channel's queue and returns.
* Each channel has its own queue and sender task: a slow or failing channel only delays itself.
  A sender respects the service's rate limit, retries with exponential backoff + jitter (and Retry-After),
  and records every attempt in the delivery log.
* Critical alerts on a route with ``escalate`` arm a timer (also recorded, so a restart keeps it); when it
  fires and the alert's workflow is still ``new`` (nobody acknowledged/assigned/resolved it), the alert goes to
  the escalation channels.
* ``stop()`` drains what it can; jobs still pending stay ``pending`` in the log and the next ``start()``
  (any notifier with the same index prefix) re-sends them: at-least-once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from schemas.alerts import Alert
from schemas.settings import ApiSettings, ElasticsearchSettings, IndexNames
from sinks.notify import workflow
from sinks.notify.channels import Channel, DeliveryError, build_channel
from sinks.notify.config import Escalation, NotifyConfig
from sinks.notify.deliverylog import FINAL, DeliveryLog, delivery_id, ensure_delivery_log, escalation_id
from sinks.notify.links import LinkSigner
from sinks.notify.ratelimit import SlidingWindowLimiter
from sinks.notify.render import MessageContext, Renderer, build_links
from sinks.notify.routing import Router

log = logging.getLogger("lingting.notify")


class NotifierSettings(Protocol):
    """The config sections the notifier reads (``pipeline.settings.Settings`` has them)."""

    notify: NotifyConfig
    elasticsearch: ElasticsearchSettings
    api: ApiSettings
    language: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Job:
    """One message to one channel (an alert state, or its escalation)."""

    doc_id: str
    channel: str
    channel_type: str
    alert: Alert
    kind: str = "alert"  # alert | escalation
    route: str = ""
    created_at: datetime = field(default_factory=_utcnow)
    not_before: datetime | None = None
    status: str = "pending"
    attempts: int = 0
    error: str | None = None
    http_status: int | None = None
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempt_log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def delivery_key(self) -> str:
        key = self.alert.delivery_key
        return key if self.kind == "alert" else f"{key}:{self.kind}"

    def document(self) -> dict[str, Any]:
        a = self.alert
        return {
            "kind": self.kind,
            "status": self.status,
            "delivery_key": self.delivery_key,
            "alert_id": a.id,
            "brand": a.brand,
            "severity": a.severity,
            "alert_status": a.status,
            "sequence": a.sequence,
            "channel": self.channel,
            "channel_type": self.channel_type,
            "route": self.route,
            "attempts": self.attempts,
            "error": self.error,
            "http_status": self.http_status,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(_utcnow()),
            "sent_at": _iso(self.sent_at),
            "not_before": _iso(self.not_before),
            "next_attempt_at": _iso(self.next_attempt_at),
            "attempt_log": self.attempt_log[-50:],
            "alert": a.model_dump(mode="json"),
        }

    @classmethod
    def from_document(cls, doc_id: str, src: dict[str, Any]) -> Job:
        return cls(
            doc_id=doc_id,
            channel=src["channel"],
            channel_type=src.get("channel_type", ""),
            alert=Alert.model_validate(src["alert"]),
            kind=src.get("kind", "alert"),
            route=src.get("route", ""),
            created_at=_parse(src.get("created_at")) or _utcnow(),
            not_before=_parse(src.get("not_before")),
            status=src.get("status", "pending"),
            attempts=src.get("attempts", 0),
            error=src.get("error"),
            attempt_log=list(src.get("attempt_log") or []),
        )


@dataclass
class _Lane:
    """A channel's queue, sender task and rate limiter."""

    channel: Channel
    queue: asyncio.Queue[Job]
    limiter: SlidingWindowLimiter
    task: asyncio.Task | None = None
    busy: bool = False


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        *,
        es_url: str,
        index_prefix: str,
        es_options: dict[str, Any] | None = None,
        language: str = "zh",
        signer: LinkSigner | None = None,
        kibana_url: str | None = None,
    ) -> None:
        self.config = config
        # es_options: ElasticsearchSettings.client_options() (auth, TLS); es_url alone: an open local node
        self.es_url, self.prefix = es_url, index_prefix
        self.es_options = es_options or {"hosts": [es_url]}
        names = IndexNames(index_prefix)
        self.alerts_alias, self.posts_alias = names.alerts_alias, names.posts_alias
        self.language = config.language or language
        self.signer = signer
        self.kibana_url = kibana_url
        self.router = Router(config)
        self.renderer = Renderer(config.templates_dir)
        self._bundled = Renderer(None) if config.templates_dir else self.renderer
        self._lanes: dict[str, _Lane] = {}
        self._inflight: set[str] = set()
        self._timers: dict[str, asyncio.Task] = {}
        self._started = False
        self._es = None
        self._http = None
        self.log: DeliveryLog | None = None

    @classmethod
    def from_settings(cls, settings: NotifierSettings) -> Notifier:
        e, api = settings.elasticsearch, settings.api
        secret = settings.notify.links.secret.get_secret_value() if settings.notify.links.secret else api.token
        signer = LinkSigner(api.public_url, secret, settings.notify.links.ttl) if api.public_url and secret else None
        return cls(
            settings.notify,
            es_url=e.url,
            index_prefix=e.index_prefix,
            es_options=e.client_options(),
            language=settings.language,
            signer=signer,
            kibana_url=e.kibana_url,
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._started:
            return
        if not self.config.enabled or not self.config.all_channels():
            self._started = True  # nothing to deliver to: no Elasticsearch, no tasks
            return
        import httpx
        from elasticsearch import AsyncElasticsearch

        self._http = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": "lingting-notify/1"})
        self._es = AsyncElasticsearch(**{**self.es_options, "request_timeout": 10})
        try:
            await ensure_delivery_log(self._es, self.prefix)
        except Exception:
            await self._http.aclose()
            await self._es.close()
            raise
        self.log = DeliveryLog(self._es, self.prefix)
        for cfg in self.config.all_channels():
            channel = build_channel(cfg, self.renderer, self._http)
            lane = _Lane(channel, asyncio.Queue(), SlidingWindowLimiter(channel.rates))
            lane.task = asyncio.create_task(self._sender(lane), name=f"notify-{cfg.name}")
            self._lanes[cfg.name] = lane
        self._started = True
        await self._resume()
        log.info("notifier started: channels %s, %d routes", ", ".join(self._lanes) or "none", len(self.router.routes))

    async def stop(self, timeout: float = 10.0) -> None:
        """Let the senders finish what is queued (up to ``timeout``); unfinished jobs stay pending in the log."""
        if not self._started:
            return
        if not self._lanes:
            self._started = False
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(lane.busy or not lane.queue.empty() for lane in self._lanes.values()):
            await asyncio.sleep(0.05)
        tasks = [lane.task for lane in self._lanes.values() if lane.task] + list(self._timers.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        left = len(self._inflight)
        if left:
            log.warning(
                "notifier stopping with %d deliveries not yet sent: they stay 'pending' in %s and are "
                "sent by the next notifier that starts",
                left,
                self.log.alias if self.log else "the log",
            )
        self._lanes.clear()
        self._timers.clear()
        self._inflight.clear()
        self._started = False
        if self._http is not None:
            await self._http.aclose()
        if self._es is not None:
            await self._es.close()

    async def _resume(self) -> None:
        """Take over deliveries and escalations a previous notifier left unfinished."""
        try:
            docs = await self.log.unfinished()
        except Exception as err:
            log.warning("cannot read unfinished deliveries from %s: %s", self.log.alias, err)
            return
        resumed = 0
        for src in docs:
            doc_id = src.pop("_id")
            if src.get("kind") == "escalation-timer":
                self._arm_timer(doc_id, src)
            elif src.get("channel") in self._lanes:
                self._submit(Job.from_document(doc_id, src))
                resumed += 1
        if resumed or self._timers:
            log.info("resumed %d pending deliveries and %d escalation timers", resumed, len(self._timers))

    # ------------------------------------------------------------------ intake
    async def deliver(self, alert: Alert) -> None:
        """Route and enqueue; returns without waiting for any channel. Idempotent per (delivery_key, channel)."""
        if not self._started:
            await self.start()
        if not self._lanes:
            return
        now = _utcnow()
        decision = self.router.decide(alert, now)
        jobs = [
            (
                Job(
                    delivery_id(alert.delivery_key, t.channel),
                    t.channel,
                    self._lanes[t.channel].channel.type,
                    alert,
                    route=t.route,
                    created_at=now,
                    not_before=t.not_before,
                ),
                t.suppressed,
            )
            for t in decision.targets
            if t.channel in self._lanes
        ]
        await self._enqueue(jobs)
        for route, esc in decision.escalations:
            await self._arm_escalation(alert, route, esc, now)

    async def _enqueue(self, jobs: list[tuple[Job, bool]]) -> None:
        jobs = [(j, s) for j, s in jobs if j.doc_id not in self._inflight]
        try:
            existing = await self.log.get_many([j.doc_id for j, _ in jobs])
        except Exception as err:
            log.warning("delivery log unavailable (%s): sending without the replay check", err)
            existing = {}
        ready: list[Job] = []
        records: list[Job] = []
        for job, suppressed in jobs:
            prev = existing.get(job.doc_id)
            if prev is not None:
                if prev.get("status") in FINAL:
                    log.info("skip %s → %s: already %s", job.delivery_key, job.channel, prev["status"])
                    continue
                job = Job.from_document(job.doc_id, prev)  # a pending leftover: keep its attempt count
            if suppressed:
                job.status, job.error = "suppressed", "quiet hours (action: drop)"
            else:
                ready.append(job)
            records.append(job)
        # recorded as pending before anything is sent: a crash from here on leaves a job to resume
        await asyncio.gather(*(self._record(j) for j in records))
        for job in ready:
            self._submit(job)

    def _submit(self, job: Job) -> None:
        lane = self._lanes.get(job.channel)
        if lane is None or job.doc_id in self._inflight:
            return
        self._inflight.add(job.doc_id)
        delay = (job.not_before - _utcnow()).total_seconds() if job.not_before else 0.0
        if delay <= 0:
            lane.queue.put_nowait(job)
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            self._timers.pop(f"defer|{job.doc_id}", None)
            lane.queue.put_nowait(job)

        log.info("%s → %s deferred by quiet hours until %s", job.delivery_key, job.channel, job.not_before)
        self._timers[f"defer|{job.doc_id}"] = asyncio.create_task(later())

    # ------------------------------------------------------------------ sending
    async def _sender(self, lane: _Lane) -> None:
        while True:
            job = await lane.queue.get()
            lane.busy = True
            try:
                await self._send_with_retries(lane, job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notify %s: unexpected error delivering %s", lane.channel.name, job.delivery_key)
                job.status, job.error = "failed", "internal error (see worker log)"
                await self._record(job)
            finally:
                lane.busy = False
                lane.queue.task_done()
            self._inflight.discard(job.doc_id)

    def _context(self, job: Job, channel: Channel) -> MessageContext:
        links = build_links(job.alert, signer=self.signer, kibana_url=self.kibana_url, posts_alias=self.posts_alias)
        return MessageContext(
            job.alert,
            language=channel.config.language or self.language,
            escalated=job.kind == "escalation",
            links=links,
            max_sample_posts=self.config.max_sample_posts,
            delivery_key=job.delivery_key,
        )

    async def _send_with_retries(self, lane: _Lane, job: Job) -> None:
        channel = lane.channel
        policy = channel.config.retry or self.config.retry
        try:
            prepared = channel.payload(self._context(job, channel))
        except Exception as err:
            log.error(
                "notify %s: cannot render %s with the configured templates (%s: %s); using the bundled templates",
                channel.name,
                job.delivery_key,
                type(err).__name__,
                err,
            )
            own, channel.renderer = channel.renderer, self._bundled
            try:
                prepared = channel.payload(self._context(job, channel))
            except Exception as err2:
                job.status, job.error = "failed", f"cannot render the message: {type(err2).__name__}: {err2}"
                await self._record(job)
                return
            finally:
                channel.renderer = own
        delay = policy.initial_delay
        while True:
            await lane.limiter.acquire()
            job.attempts += 1
            started = time.monotonic()
            try:
                answer = await channel.send(prepared, delivery_key=job.delivery_key, timeout=policy.timeout)
            except DeliveryError as err:
                job.error, job.http_status = str(err), err.status
                job.attempt_log.append(
                    {
                        "at": _iso(_utcnow()),
                        "ok": False,
                        "error": str(err),
                        "status": err.status,
                        "ms": round((time.monotonic() - started) * 1000),
                    }
                )
                wait = delay * (1 + policy.jitter * (2 * random.random() - 1))
                if err.retry_after is not None:
                    wait = max(wait, err.retry_after)
                age = (_utcnow() - job.created_at).total_seconds()
                if not err.retryable or age + wait > policy.give_up_after:
                    job.status = "failed"
                    job.next_attempt_at = None
                    log.error(
                        "notify %s: giving up on %s after %d attempts: %s",
                        channel.name,
                        job.delivery_key,
                        job.attempts,
                        err,
                    )
                    await self._record(job)
                    return
                job.next_attempt_at = _utcnow() + timedelta(seconds=wait)
                log.warning(
                    "notify %s: attempt %d for %s failed (%s); retrying in %.1fs",
                    channel.name,
                    job.attempts,
                    job.delivery_key,
                    err,
                    wait,
                )
                await self._record(job)
                await asyncio.sleep(wait)
                delay = min(delay * policy.multiplier, policy.max_delay)
                continue
            job.status, job.sent_at, job.next_attempt_at = "sent", _utcnow(), None
            job.attempt_log.append(
                {"at": _iso(job.sent_at), "ok": True, "ms": round((time.monotonic() - started) * 1000)}
            )
            log.info("notify %s: sent %s (attempt %d): %s", channel.name, job.delivery_key, job.attempts, answer)
            await self._record(job)
            return

    async def _record(self, job: Job) -> None:
        try:
            await self.log.write(job.doc_id, job.document())
        except Exception as err:
            log.warning(
                "delivery log write failed for %s → %s (%s): %s", job.delivery_key, job.channel, job.status, err
            )

    # ------------------------------------------------------------------ escalation
    async def _arm_escalation(self, alert: Alert, route: str, esc: Escalation, now: datetime) -> None:
        doc_id = escalation_id(alert.id, route)
        if doc_id in self._timers:
            return
        doc = {
            "kind": "escalation-timer",
            "status": "scheduled",
            "alert_id": alert.id,
            "brand": alert.brand,
            "severity": alert.severity,
            "route": route,
            "channels": list(esc.to),
            "created_at": _iso(now),
            "updated_at": _iso(now),
            "due_at": _iso(now + timedelta(seconds=esc.after)),
            "alert": alert.model_dump(mode="json"),
        }
        try:
            if not await self.log.create(doc_id, doc):
                existing = await self.log.get(doc_id)
                if not existing or existing.get("status") != "scheduled":
                    return  # already escalated or cancelled for this crisis
                doc = existing
        except Exception as err:
            log.warning("cannot record escalation timer for %s: %s", alert.id, err)
        self._arm_timer(doc_id, doc)

    def _arm_timer(self, doc_id: str, doc: dict[str, Any]) -> None:
        if doc_id in self._timers:
            return
        due = _parse(doc["due_at"]) or _utcnow()

        async def fire() -> None:
            await asyncio.sleep(max(0.0, (due - _utcnow()).total_seconds()))
            try:
                await self._escalate(doc_id, doc)
            except Exception:
                log.exception("escalation %s failed", doc_id)
            finally:
                self._timers.pop(doc_id, None)

        self._timers[doc_id] = asyncio.create_task(fire(), name=doc_id)

    async def _escalate(self, doc_id: str, doc: dict[str, Any]) -> None:
        alert = Alert.model_validate(doc["alert"])
        current = await workflow.get_alert_doc(self._es, self.alerts_alias, alert.id)
        if current is not None:
            source = current["_source"]
            if workflow.is_handled(source):
                wf = source.get("workflow") or {}
                reason = (
                    f"{wf.get('state')} by {wf.get('by')} at {wf.get('at')}"
                    if wf.get("state") in workflow.HANDLED
                    else "the crisis was resolved"
                )
                log.info("escalation of %s not needed: %s", alert.id, reason)
                await self._finish_timer(doc_id, doc, "cancelled", reason)
                return
            fields = {k: v for k, v in source.items() if k in Alert.model_fields}
            try:
                alert = Alert.model_validate(fields)  # the latest state of the crisis
            except Exception:
                pass
        log.warning("escalating unacknowledged %s alert %s to %s", alert.severity, alert.id, ", ".join(doc["channels"]))
        now = _utcnow()
        jobs = [
            (
                Job(
                    delivery_id(alert.delivery_key, ch, "escalation"),
                    ch,
                    self._lanes[ch].channel.type,
                    alert,
                    kind="escalation",
                    route=doc.get("route", ""),
                    created_at=now,
                ),
                False,
            )
            for ch in doc["channels"]
            if ch in self._lanes
        ]
        await self._enqueue(jobs)
        await self._finish_timer(doc_id, doc, "escalated", f"not acknowledged by {_iso(now)}")

    async def _finish_timer(self, doc_id: str, doc: dict[str, Any], status: str, reason: str) -> None:
        doc = {**doc, "status": status, "reason": reason, "updated_at": _iso(_utcnow())}
        try:
            await self.log.write(doc_id, doc)
        except Exception as err:
            log.warning("cannot record escalation %s as %s: %s", doc_id, status, err)

    # ------------------------------------------------------------------ introspection (tests, CLI)
    def queue_depth(self) -> int:
        """Jobs waiting in every channel's queue (the worker's ``lingting_notifier_queue_depth``)."""
        return sum(lane.queue.qsize() for lane in self._lanes.values())

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once every queue is empty and nothing is being sent (deferred jobs excepted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(lane.busy or not lane.queue.empty() for lane in self._lanes.values()):
                return True
            await asyncio.sleep(0.05)
        return False
