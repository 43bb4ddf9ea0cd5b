"""Generic JSON webhook: the body is the Alert JSON (so any consumer can parse it with the Alert schema) plus a
``lingting`` object (delivery key, escalated flag, title, links). Signed when ``secret`` is set; see signing.py."""

from __future__ import annotations

import time
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr

from sinks.notify.channels.base import HttpChannel, HttpChannelConfig, Prepared
from sinks.notify.render import MessageContext
from sinks.notify.signing import (
    WEBHOOK_DELIVERY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    webhook_signature,
)


class WebhookConfig(HttpChannelConfig):
    """Generic JSON webhook: body = the Alert JSON (+ links); HMAC-SHA256 signature when ``secret`` is set."""

    env_fields = ("url", "secret")

    type: Literal["webhook"] = "webhook"
    name: str = Field(default="webhook", pattern=r"^[A-Za-z0-9_.-]+$")
    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class WebhookChannel(HttpChannel[WebhookConfig]):
    type = "webhook"
    config_class = WebhookConfig

    def payload(self, ctx: MessageContext) -> Prepared:
        body = ctx.alert.model_dump(mode="json")
        body["lingting"] = {
            "delivery_key": ctx.delivery_key,
            "escalated": ctx.escalated,
            "title": self.renderer.render("title.txt.j2", ctx),
            "links": ctx.links,
        }
        return Prepared(body)

    def request_headers(self, raw: bytes, delivery_key: str) -> dict[str, str]:
        key = quote(delivery_key, safe=":+-._")  # headers are ASCII: the key is URL-encoded
        headers = {**self.config.headers, WEBHOOK_DELIVERY_HEADER: key, "Idempotency-Key": key}
        if self.config.secret is not None:
            ts = int(time.time())
            headers[WEBHOOK_TIMESTAMP_HEADER] = str(ts)
            headers[WEBHOOK_SIGNATURE_HEADER] = webhook_signature(self.config.secret.get_secret_value(), ts, raw)
        return headers
