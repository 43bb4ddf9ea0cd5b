"""Generic JSON webhook: the body is the Alert JSON (so any consumer can parse it with the Alert schema) plus a
``lingting`` object (delivery key, escalated flag, title, links). Signed when ``secret`` is set; see signing.py."""
from __future__ import annotations

import time
from urllib.parse import quote

from sinks.notify.channels.base import HttpChannel, Prepared
from sinks.notify.render import MessageContext
from sinks.notify.signing import (WEBHOOK_DELIVERY_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
                                  webhook_signature)


class WebhookChannel(HttpChannel):
    type = "webhook"

    def payload(self, ctx: MessageContext) -> Prepared:
        body = ctx.alert.model_dump(mode="json")
        body["lingting"] = {
            "delivery_key": ctx.alert.delivery_key,
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
