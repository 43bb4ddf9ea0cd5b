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
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import typer
from aiohttp import web
from pydantic import ValidationError

from connectors.config import ConnectorsConfig, HttpPushConfig
from connectors.kafka import KAFKA_HINT, kafka_reachable
from connectors.metrics import start_status_log
from connectors.publisher import Publisher
from connectors.ratelimit import RateLimiter
from connectors.source import Launch
from schemas import RawPost
from schemas.errors import validation_summary
from schemas.openapi import response

log = logging.getLogger("lingting.connect.http")

#: No checkpoint: a 2xx answer is the acknowledgement, and the dedupe memory is rebuilt from the topic itself.
CHECKPOINTED = False

_RESULT = {"$ref": "#/components/schemas/Result"}
OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "lingting HTTP push",
        "version": "1",
        "description": "Push social media posts (RawPost JSON) into lingting.",
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Result": {
                "type": "object",
                "properties": {
                    "accepted": {"type": "integer", "description": "Valid items now in Kafka (duplicates included)."},
                    "duplicates": {
                        "type": "integer",
                        "description": "Accepted items whose key was already accepted "
                        "within connectors.http.dedupe_seconds (not sent "
                        "again).",
                    },
                    "rejected": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "index": {"type": "integer"},
                                "id": {"type": "string"},
                                "error": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/posts": {
            "post": {
                "summary": "Publish one post, a JSON array of posts, or NDJSON (one post per line).",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "https://lingting.dev/schemas/raw_post.schema.json"},
                                    {
                                        "type": "array",
                                        "items": {"$ref": "https://lingting.dev/schemas/raw_post.schema.json"},
                                    },
                                ]
                            }
                        },
                        "application/x-ndjson": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "200": response("All items accepted (acknowledged by Kafka).", _RESULT),
                    "207": response("Some items accepted, the others rejected (see `rejected`).", _RESULT),
                    "400": response("The body is not JSON / NDJSON."),
                    "401": response("Missing or wrong bearer token."),
                    "413": response("Body larger than the configured limit."),
                    "422": response("No item was valid (see `rejected`)."),
                    "429": response("Kafka is behind; retry after the Retry-After seconds."),
                    "503": response("Kafka did not acknowledge; nothing from this request is guaranteed."),
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness and pending posts.",
                "security": [],
                "responses": {"200": response("OK")},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics.", "security": [], "responses": {"200": response("OK")}}},
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


ENDPOINT = web.AppKey("endpoint", "PushEndpoint")


def create_push_app(
    publisher: Publisher, config: HttpPushConfig, limiter: RateLimiter | None = None
) -> web.Application:
    """The aiohttp application of ``lingting connect http`` (see the module docstring for its guarantees)."""
    endpoint = PushEndpoint(publisher, config, limiter or RateLimiter(None))
    app = web.Application(middlewares=[_auth], client_max_size=config.max_body_bytes)
    app[ENDPOINT] = endpoint
    app.router.add_post("/v1/posts", endpoint.post_posts)
    app.router.add_get("/healthz", endpoint.healthz)
    app.router.add_get("/metrics", _metrics_page)
    app.router.add_get("/openapi.json", _openapi)
    app.on_startup.append(endpoint.start)
    app.on_cleanup.append(endpoint.stop)
    return app


@web.middleware
async def _auth(request: web.Request, handler: Any) -> web.StreamResponse:
    token = request.app[ENDPOINT].config.token
    if token and request.path.startswith("/v1/"):
        if request.headers.get("Authorization", "") != f"Bearer {token}":
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
    return await handler(request)


async def _metrics_page(request: web.Request) -> web.Response:
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def _error(status: int, message: str, retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after is not None else None
    return web.json_response({"error": message}, status=status, headers=headers)


class _Admitted:
    """One request's items, sorted: posts to send, keys already accepted, rejected items."""

    def __init__(self) -> None:
        self.posts: list[RawPost] = []  # every valid item (accepted once Kafka has the new ones)
        self.to_send: list[RawPost] = []  # the new ones
        self.waiting_on: list[Any] = []  # send futures of keys a concurrent request is sending
        self.duplicates = 0
        self.rejected: list[dict[str, Any]] = []


class PushEndpoint:
    """The push server's state: posts waiting for Kafka, the keys accepted recently (dedupe), the rate limit,
    and the resync after a refused send. Handlers run in the event loop; Kafka acknowledgements arrive in the
    producer's thread and are handed over by :class:`_Acks`."""

    def __init__(self, publisher: Publisher, config: HttpPushConfig, limiter: RateLimiter) -> None:
        from prometheus_client import Counter, Gauge

        self.publisher, self.config, self.limiter, self.metrics = publisher, config, limiter, publisher.metrics
        self.recent = RecentKeys(config.dedupe_seconds, config.dedupe_max_keys) if config.dedupe_seconds > 0 else None
        self.pending = 0  # posts sent and not yet acknowledged
        self.acks = _Acks(self.settled)
        self.resync = _Resync(publisher, self.recent)
        self._requests = _http_family("requests", lambda name, doc: Counter(name, doc, ["status"]))
        self._pending_gauge = _http_family("pending_posts", lambda name, doc: Gauge(name, doc))
        self._status_log: threading.Event | None = None

    async def start(self, app: web.Application) -> None:
        """Before the port opens: remember what reached the topic within the dedupe window."""
        if self.recent is not None:
            recent, publisher, started = self.recent, self.publisher, time.monotonic()
            count = await asyncio.get_running_loop().run_in_executor(
                None, lambda: publisher.retry(lambda: recent.rebuild(publisher), "reading back the raw topic")
            )
            log.info(
                "http dedupe: %d keys accepted in the last %.0f s read back from %s in %.1f s",
                count,
                self.config.dedupe_seconds,
                publisher.topic,
                time.monotonic() - started,
            )
        self._status_log = start_status_log(self.metrics, 60.0)

    async def stop(self, app: web.Application) -> None:
        if self._status_log is not None:
            self._status_log.set()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "pending": self.pending,
                "topic": self.publisher.topic,
                "remembered_keys": len(self.recent) if self.recent is not None else None,
            }
        )

    async def post_posts(self, request: web.Request) -> web.Response:
        response = await self._post_posts(request)
        self._requests.labels(str(response.status)).inc()
        return response

    async def _post_posts(self, request: web.Request) -> web.Response:
        if self.pending >= self.config.max_pending:
            return _error(429, "Kafka is behind; retry later", retry_after=2)
        try:
            items = parse_items(await request.read(), request.content_type or "")
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"body larger than {self.config.max_body_bytes} bytes")
        except (ValueError, UnicodeDecodeError) as err:
            return _error(400, f"body is not JSON or NDJSON: {err}")
        if (answer := await self.resync.catch_up()) is not None:
            return answer
        batch = self._admit(items)
        if wait := self.limiter.reserve(len(batch.to_send)):
            return _error(
                429, f"more than --rate {self.limiter.rate:g} posts per second; retry later", retry_after=wait
            )
        try:
            await self._send(batch)
        except Exception as err:  # not acknowledged (yet): the client must retry (dedupe makes it harmless)
            log.error(
                "Kafka at %s did not acknowledge %d posts (answered 503, the client retries): %s — %s",
                self.publisher.address,
                len(batch.to_send) + len(batch.waiting_on),
                err,
                KAFKA_HINT,
            )
            return _error(503, f"Kafka did not acknowledge the posts: {err}", retry_after=5)
        self.metrics.duplicates(batch.duplicates)
        self.metrics.invalid(len(batch.rejected))
        accepted = len(batch.posts)
        status = 200 if not batch.rejected else (207 if accepted else 422)
        return web.json_response(
            {"accepted": accepted, "duplicates": batch.duplicates, "rejected": batch.rejected}, status=status
        )

    def _admit(self, items: list[Any]) -> _Admitted:
        """Validate each item and decide what must be sent: keys accepted recently, in flight or earlier in
        this request are not sent again."""
        batch, keys, recent = _Admitted(), set(), self.recent
        for index, item in enumerate(items):
            if isinstance(item, _BadLine):
                batch.rejected.append({"index": index, "error": item.error})
                continue
            try:
                post = RawPost.model_validate(item)
            except ValidationError as err:
                batch.rejected.append(
                    {
                        "index": index,
                        "id": str(item.get("id")) if isinstance(item, dict) else None,
                        "error": validation_summary(err, top="item"),
                    }
                )
                continue
            batch.posts.append(post)
            if recent is not None and (post.key in recent or post.key in keys):
                batch.duplicates += 1
            elif recent is not None and post.key in recent.inflight:  # a retry racing the first attempt
                batch.waiting_on.append(recent.inflight[post.key])
                batch.duplicates += 1
            else:
                batch.to_send.append(post)
                keys.add(post.key)
        return batch

    async def _send(self, batch: _Admitted) -> None:
        """Publish the new posts and wait until Kafka acknowledged them (and the ones raced on)."""
        loop = asyncio.get_running_loop()
        futures = list(batch.waiting_on)
        for post in batch.to_send:
            future = self.publisher.publish(post, collect_errors=False)  # a failure is answered 503 here
            futures.append(future)
            if self.recent is not None:
                self.recent.inflight[post.key] = future
            future.add_both(self.acks.on_done, loop, post.key, post.created_at, future)
        self._pending(len(futures))
        try:
            await loop.run_in_executor(None, _wait_all, futures)
        finally:
            self._pending(-len(futures))

    def _pending(self, change: int) -> None:
        self.pending += change
        self._pending_gauge.set(self.pending)

    def settled(self, key: str, created_at: datetime, future: Any) -> None:
        """In the event loop, once Kafka acknowledged or definitively refused one post."""
        recent = self.recent
        if recent is not None and recent.inflight.get(key) is future:
            del recent.inflight[key]
        if future.succeeded():
            if recent is not None:
                recent.add(key)
            self.metrics.published(1, created_at)
            self.metrics.checkpointed()
            self.metrics.kafka_up(True)
        else:
            self.metrics.kafka_error()
            self.metrics.kafka_up(False)
            if recent is not None:  # the refused batch may still have been written: look before a retry
                self.resync.after(time.time() - self.publisher.give_up_after - 5)


class _Acks:
    """Hands Kafka's acknowledgements from the producer's thread to the event loop, one wake-up per burst."""

    def __init__(self, settled: Callable[[str, datetime, Any], None]) -> None:
        self.settled = settled
        self._done: deque[tuple[str, datetime, Any]] = deque()
        self._scheduled = False

    def on_done(
        self, loop: asyncio.AbstractEventLoop, key: str, created_at: datetime, future: Any, _result: Any
    ) -> None:
        """In the producer's thread: queue the post, wake the event loop unless a wake-up is pending."""
        self._done.append((key, created_at, future))
        if not self._scheduled:
            self._scheduled = True
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: shutting down
                pass

    def _drain(self) -> None:
        self._scheduled = False
        while self._done:
            self.settled(*self._done.popleft())


class _Resync:
    """After a refused send, the keys that may have reached the topic anyway are read back before the next
    request is accepted; while Kafka is unavailable, requests are answered 503."""

    def __init__(self, publisher: Publisher, recent: RecentKeys | None) -> None:
        self.publisher, self.recent = publisher, recent
        self.since: float | None = None
        self._lock = asyncio.Lock()

    def after(self, since: float) -> None:
        self.since = min(self.since or since, since)

    async def catch_up(self) -> web.Response | None:
        if self.since is None or self.recent is None:
            return None
        async with self._lock:
            since, recent, publisher = self.since, self.recent, self.publisher
            if since is None:
                return None

            def read() -> int:
                if not kafka_reachable(publisher.bootstrap):
                    raise ConnectionError("connection refused or timed out")
                return recent.catch_up(publisher, since)

            try:
                count = await asyncio.get_running_loop().run_in_executor(None, read)
            except Exception as err:
                log.error("Kafka at %s unavailable (answered 503): %s — %s", publisher.address, err, KAFKA_HINT)
                return _error(503, f"Kafka at {publisher.address} is unavailable: {err}", retry_after=5)
            self.since = None
            log.info("http dedupe: Kafka answers again; %d recent keys read back from %s", count, publisher.topic)
            return None


def command(
    connectors: ConnectorsConfig,
    host: str | None = typer.Option(None, help="Bind address (default connectors.http.host)."),
    port: int | None = typer.Option(None, help="Port (default connectors.http.port, 8090)."),
    token: str | None = typer.Option(
        None, envvar="LINGTING_HTTP_TOKEN", help="Bearer token clients must send (or connectors.http.token)."
    ),
    access_log: bool = typer.Option(
        False,
        "--access-log",
        help="Log every request (one line each; off: the totals line every minute and /metrics say how it goes).",
    ),
) -> Launch:
    """Serve POST /v1/posts for data vendors (JSON object, array or NDJSON; bearer token; per-item errors;
    429 when Kafka is behind or beyond --rate), plus /healthz, /metrics and /openapi.json."""
    cfg = connectors.http.model_copy(
        update={k: v for k, v in {"host": host, "port": port, "token": token}.items() if v}
    )
    if not cfg.token:
        typer.secho(
            "warning: no bearer token set (LINGTING_HTTP_TOKEN): anyone who reaches the port can push",
            fg=typer.colors.YELLOW,
            err=True,
        )

    def serve(publisher: Publisher, limiter: RateLimiter) -> None:
        web.run_app(
            create_push_app(publisher, cfg, limiter),
            host=cfg.host,
            port=cfg.port,
            print=None,
            **({} if access_log else {"access_log": None}),
        )

    return Launch(serve=serve)


_HTTP_FAMILIES: dict[str, Any] = {}


def _http_family(name: str, make) -> Any:
    """The http-only metrics, registered once per process (several apps may be created, e.g. in tests)."""
    if name not in _HTTP_FAMILIES:
        _HTTP_FAMILIES[name] = make(
            f"lingting_connector_http_{name}",
            {"requests": "HTTP push requests answered, by status", "pending_posts": "Posts waiting for Kafka"}[name],
        )
    return _HTTP_FAMILIES[name]


def _wait_all(futures: list, timeout: float = 60.0) -> None:
    for future in futures:
        future.get(timeout=timeout)
