"""HTTP push endpoint for data vendors (``lingting connect http``).

``POST /v1/posts`` takes one post (JSON object), a JSON array, or NDJSON (``application/x-ndjson``). Valid
items are published to the raw topic and the response is sent only once Kafka has acknowledged them
(acks=all): a 2xx answer means the posts are safe. Invalid items are listed per index with the reason,
while the valid ones are accepted. When Kafka cannot keep up, the endpoint answers 429 with Retry-After.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from connectors.base import Publisher
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
            "accepted": {"type": "integer"},
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


def create_push_app(publisher: Publisher, config: HttpPushConfig) -> web.Application:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

    registry = CollectorRegistry()
    accepted_total = Counter("lingting_http_posts_accepted", "Posts acknowledged by Kafka", registry=registry)
    rejected_total = Counter("lingting_http_posts_rejected", "Posts rejected as invalid", registry=registry)
    pending = {"posts": 0}

    @web.middleware
    async def auth(request: web.Request, handler):
        if config.token and request.path.startswith("/v1/"):
            if request.headers.get("Authorization", "") != f"Bearer {config.token}":
                return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        return await handler(request)

    async def post_posts(request: web.Request) -> web.Response:
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
        rejected, futures = [], []
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
            futures.append(publisher.publish(post))
        pending["posts"] += len(futures)
        try:
            await asyncio.get_running_loop().run_in_executor(None, _wait_all, futures)
        except Exception as err:  # not acknowledged: the client must retry (keys make retries harmless)
            log.error("Kafka did not acknowledge %d posts: %s", len(futures), err)
            return web.json_response({"error": f"Kafka did not acknowledge the posts: {err}"}, status=503,
                                     headers={"Retry-After": "5"})
        finally:
            pending["posts"] -= len(futures)
        accepted_total.inc(len(futures))
        rejected_total.inc(len(rejected))
        status = 200 if not rejected else (207 if futures else 422)
        return web.json_response({"accepted": len(futures), "rejected": rejected}, status=status)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "pending": pending["posts"], "topic": publisher.topic})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)

    app = web.Application(middlewares=[auth], client_max_size=config.max_body_bytes)
    app.router.add_post("/v1/posts", post_posts)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    return app


def _wait_all(futures: list, timeout: float = 60.0) -> None:
    for future in futures:
        future.get(timeout=timeout)
