"""HTTP push endpoint for data vendors (``lingting connect http``).

``POST /v1/posts`` takes one post (JSON object), a JSON array, or NDJSON (``application/x-ndjson``). Valid
items are published to the raw topic and the response is sent only once Kafka has acknowledged them
(acks=all): a 2xx answer means the posts are safe. Invalid items are listed per index with the reason,
while the valid ones are accepted. When Kafka cannot keep up, the endpoint answers 429 with Retry-After.

Exactly once across a crash: a client that got no answer (the connector was killed) sends the batch again.
Keys accepted in the last ``dedupe_seconds`` are remembered and not published twice; at start the memory is
rebuilt from the raw topic's records of that window (by timestamp), before the port opens.
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from connectors.base import Publisher, kafka_reachable
from connectors.config import HttpPushConfig
from schemas import RawPost

log = logging.getLogger("lingting.connect.http")

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "lingting HTTP push", "version": "1",
             "description": "Push social media posts (RawPost JSON) into lingting."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Result": {"type": "object", "properties": {
            "accepted": {"type": "integer", "description": "Valid items now in Kafka (duplicates included)."},
            "duplicates": {"type": "integer", "description": "Accepted items whose key was already accepted "
                                                             "within connectors.http.dedupe_seconds (not sent "
                                                             "again)."},
            "rejected": {"type": "array", "items": {"type": "object", "properties": {
                "index": {"type": "integer"}, "id": {"type": "string"}, "error": {"type": "string"}}}}}}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/posts": {"post": {
            "summary": "Publish one post, a JSON array of posts, or NDJSON (one post per line).",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"oneOf": [
                    {"$ref": "https://lingting.dev/schemas/raw_post.schema.json"},
                    {"type": "array", "items": {"$ref": "https://lingting.dev/schemas/raw_post.schema.json"}}]}},
                "application/x-ndjson": {"schema": {"type": "string"}}}},
            "responses": {
                "200": {"description": "All items accepted (acknowledged by Kafka).",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                "207": {"description": "Some items accepted, the others rejected (see `rejected`).",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}}},
                "400": {"description": "The body is not JSON / NDJSON."},
                "401": {"description": "Missing or wrong bearer token."},
                "413": {"description": "Body larger than the configured limit."},
                "422": {"description": "No item was valid (see `rejected`)."},
                "429": {"description": "Kafka is behind; retry after the Retry-After seconds."},
                "503": {"description": "Kafka did not acknowledge; nothing from this request is guaranteed."}}}},
        "/healthz": {"get": {"summary": "Liveness and pending posts.", "security": [],
                             "responses": {"200": {"description": "OK"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics.", "security": [],
                             "responses": {"200": {"description": "OK"}}}},
    },
}


def parse_items(body: bytes, content_type: str) -> list[Any]:
    """A JSON object, a JSON array or NDJSON → list of items (each may still be invalid)."""
    text = body.decode("utf-8")
    if "ndjson" in content_type or "jsonlines" in content_type:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as err:
                    items.append(_BadLine(number, str(err)))
        return items
    data = json.loads(text)
    return data if isinstance(data, list) else [data]


class _BadLine:
    def __init__(self, number: int, error: str) -> None:
        self.error = f"line {number}: not JSON ({error})"


class RecentKeys:
    """Keys accepted within the last ``seconds`` (at most ``max_keys``, oldest forgotten first), and the send
    futures of keys still waiting for Kafka (a concurrent retry waits on the same future, not a second send)."""

    def __init__(self, seconds: float, max_keys: int) -> None:
        self.seconds, self.max_keys = seconds, max_keys
        self._accepted: OrderedDict[str, float] = OrderedDict()
        self.inflight: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._accepted)

    def __contains__(self, key: str) -> bool:
        at = self._accepted.get(key)
        return at is not None and at >= time.time() - self.seconds

    def add(self, key: str, at: float | None = None) -> None:
        self._accepted[key] = at if at is not None else time.time()
        self._accepted.move_to_end(key)
        horizon = time.time() - self.seconds
        while self._accepted:
            oldest_key, oldest_at = next(iter(self._accepted.items()))
            if oldest_at >= horizon and len(self._accepted) <= self.max_keys:
                break
            del self._accepted[oldest_key]

    def rebuild(self, publisher: Publisher) -> int:
        """Remember the keys the raw topic received within the window (e.g. by a process killed before it
        could answer); return how many."""
        return self.catch_up(publisher, time.time() - self.seconds)

    def catch_up(self, publisher: Publisher, since: float) -> int:
        """Remember the keys the raw topic received since ``since`` (Unix s); return how many were read."""
        offsets = publisher.offsets_at(since)
        per_partition = max(1, self.max_keys // max(1, len(offsets)))
        records = sorted((ts, key) for key, ts in publisher.read_back(offsets, max_per_partition=per_partition))
        for ts, key in records:
            self.add(key, ts / 1000)
        return len(records)


STATUS_LOG = web.AppKey("status_log", threading.Event)


def create_push_app(publisher: Publisher, config: HttpPushConfig) -> web.Application:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest

    from connectors.base import start_status_log

    metrics = publisher.metrics
    requests_total = _http_family("requests", lambda name, doc: Counter(name, doc, ["status"]))
    pending_gauge = _http_family("pending_posts", lambda name, doc: Gauge(name, doc))
    pending = {"posts": 0}
    recent = RecentKeys(config.dedupe_seconds, config.dedupe_max_keys) if config.dedupe_seconds > 0 else None

    @web.middleware
    async def auth(request: web.Request, handler):
        if config.token and request.path.startswith("/v1/"):
            if request.headers.get("Authorization", "") != f"Bearer {config.token}":
                return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        return await handler(request)

    resync: dict[str, float | None] = {"since": None}  # after a failed send: re-read the topic from then on
    resync_lock = asyncio.Lock()

    def settled(key: str, created_at, future) -> None:
        """In the event loop, once Kafka acknowledged or definitively refused one post."""
        if recent is not None and recent.inflight.get(key) is future:
            del recent.inflight[key]
        if future.succeeded():
            if recent is not None:
                recent.add(key)
            metrics.published(1, created_at)
            metrics.checkpointed()
            metrics.kafka_up(True)
        else:
            metrics.kafka_error()
            metrics.kafka_up(False)
            if recent is not None:  # the refused batch may still have been written: look before a retry
                since = time.time() - publisher.give_up_after - 5
                resync["since"] = min(resync["since"] or since, since)

    done: deque = deque()  # (key, created_at, future) settled by Kafka, drained in the event loop
    drain_scheduled = [False]

    def on_done(loop: asyncio.AbstractEventLoop, key: str, created_at, future, _result) -> None:
        """In the producer's thread: queue the post, wake the event loop once per burst (not per post)."""
        done.append((key, created_at, future))
        if not drain_scheduled[0]:
            drain_scheduled[0] = True
            try:
                loop.call_soon_threadsafe(drain)
            except RuntimeError:  # the loop is closed: shutting down
                pass

    def drain() -> None:
        drain_scheduled[0] = False
        while done:
            settled(*done.popleft())

    async def catch_up() -> web.Response | None:
        """Remember what a refused send may have written anyway; 503 while Kafka is unavailable."""
        async with resync_lock:
            since = resync["since"]
            if since is None:
                return None
            def read() -> int:
                if not kafka_reachable(publisher.bootstrap):
                    raise ConnectionError("connection refused or timed out")
                return recent.catch_up(publisher, since)

            try:
                count = await asyncio.get_running_loop().run_in_executor(None, read)
            except Exception as err:
                log.error("Kafka at %s unavailable (answered 503): %s — check `lingting stack status` / "
                          "LINGTING_KAFKA", publisher.address, err)
                return web.json_response({"error": f"Kafka at {publisher.address} is unavailable: {err}"},
                                         status=503, headers={"Retry-After": "5"})
            resync["since"] = None
            log.info("http dedupe: Kafka answers again; %d recent keys read back from %s", count, publisher.topic)
            return None

    async def post_posts(request: web.Request) -> web.Response:
        response = await handle_post(request)
        requests_total.labels(str(response.status)).inc()
        return response

    async def handle_post(request: web.Request) -> web.Response:
        if pending["posts"] >= config.max_pending:
            return web.json_response({"error": "Kafka is behind; retry later"}, status=429,
                                     headers={"Retry-After": "2"})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": f"body larger than {config.max_body_bytes} bytes"}, status=413)
        try:
            items = parse_items(body, request.content_type or "")
        except (ValueError, UnicodeDecodeError) as err:
            return web.json_response({"error": f"body is not JSON or NDJSON: {err}"}, status=400)
        loop = asyncio.get_running_loop()
        if resync["since"] is not None and (answer := await catch_up()) is not None:
            return answer
        rejected, futures, posts, duplicates = [], [], [], 0
        batch_keys: set[str] = set()
        for index, item in enumerate(items):
            if isinstance(item, _BadLine):
                rejected.append({"index": index, "error": item.error})
                continue
            try:
                post = RawPost.model_validate(item)
            except ValidationError as err:
                reason = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}"
                                   for e in err.errors()[:5])
                rejected.append({"index": index, "id": str(item.get("id")) if isinstance(item, dict) else None,
                                 "error": reason})
                continue
            posts.append(post)
            if recent is not None and (post.key in recent or post.key in batch_keys):
                duplicates += 1
                continue
            if recent is not None and post.key in recent.inflight:  # a retry racing the first attempt
                futures.append(recent.inflight[post.key])
                duplicates += 1
                continue
            future = publisher.publish(post, collect_errors=False)  # a failure is answered 503 here
            futures.append(future)
            batch_keys.add(post.key)
            if recent is not None:
                recent.inflight[post.key] = future
            future.add_both(on_done, loop, post.key, post.created_at, future)
        waiting = len(futures)
        pending["posts"] += waiting
        pending_gauge.set(pending["posts"])
        try:
            await loop.run_in_executor(None, _wait_all, futures)
        except Exception as err:  # not acknowledged (yet): the client must retry (dedupe makes it harmless)
            log.error("Kafka at %s did not acknowledge %d posts (answered 503, the client retries): %s — check "
                      "`lingting stack status` / LINGTING_KAFKA", publisher.address, waiting, err)
            return web.json_response({"error": f"Kafka did not acknowledge the posts: {err}"}, status=503,
                                     headers={"Retry-After": "5"})
        finally:
            pending["posts"] -= waiting
            pending_gauge.set(pending["posts"])
        metrics.duplicates(duplicates)
        metrics.invalid(len(rejected))
        accepted = len(posts)
        status = 200 if not rejected else (207 if accepted else 422)
        return web.json_response({"accepted": accepted, "duplicates": duplicates, "rejected": rejected},
                                 status=status)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pending": pending["posts"], "topic": publisher.topic,
                                  "remembered_keys": len(recent) if recent is not None else None})

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def rebuild(app: web.Application) -> None:
        """Before the port opens: remember what reached the topic within the dedupe window."""
        if recent is not None:
            started = time.monotonic()
            count = await asyncio.get_running_loop().run_in_executor(
                None, lambda: publisher.retry(lambda: recent.rebuild(publisher), "reading back the raw topic"))
            log.info("http dedupe: %d keys accepted in the last %.0f s read back from %s in %.1f s", count,
                     config.dedupe_seconds, publisher.topic, time.monotonic() - started)
        app[STATUS_LOG] = start_status_log(metrics, 60.0)

    async def stop_status(app: web.Application) -> None:
        app[STATUS_LOG].set()

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    app = web.Application(middlewares=[auth], client_max_size=config.max_body_bytes)
    app.router.add_post("/v1/posts", post_posts)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.on_startup.append(rebuild)
    app.on_cleanup.append(stop_status)
    app.router.add_get("/openapi.json", openapi)
    return app


_HTTP_FAMILIES: dict[str, Any] = {}


def _http_family(name: str, make) -> Any:
    """The http-only metrics, registered once per process (several apps may be created, e.g. in tests)."""
    if name not in _HTTP_FAMILIES:
        _HTTP_FAMILIES[name] = make(f"lingting_connector_http_{name}", {
            "requests": "HTTP push requests answered, by status", "pending_posts": "Posts waiting for Kafka"}[name])
    return _HTTP_FAMILIES[name]


def _wait_all(futures: list, timeout: float = 60.0) -> None:
    for future in futures:
        future.get(timeout=timeout)
