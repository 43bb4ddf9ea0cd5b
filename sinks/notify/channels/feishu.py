"""Feishu / Lark custom bot: an interactive card (header coloured by severity, lark_md body, URL buttons to
the acknowledge API). Signature: ``timestamp`` (seconds) and ``sign`` in the JSON body. Limits: 100 messages a
minute and 5 a second per bot; request body under 20 KB. Errors arrive as ``code`` in a 200 (or 400) body."""

from __future__ import annotations

import json
import time
from typing import Literal

import httpx
from pydantic import Field, SecretStr

from sinks.notify.channels.base import (
    BUTTON_LABELS,
    DeliveryError,
    HttpChannel,
    HttpChannelConfig,
    Prepared,
    response_json,
)
from sinks.notify.render import TRUNCATION_MARK, MessageContext, fit_bytes
from sinks.notify.signing import feishu_sign

RATE_LIMITED = {11232}  # 频率限制
HEADER_COLOR = {"low": "blue", "medium": "yellow", "high": "orange", "critical": "red"}


class FeishuConfig(HttpChannelConfig):
    """Feishu / Lark custom bot, interactive card; ``secret`` = the bot's 签名校验 secret."""

    env_fields = ("url", "secret")

    type: Literal["feishu"]
    url: SecretStr = Field(description="https://open.feishu.cn/open-apis/bot/v2/hook/...")
    secret: SecretStr | None = None
    max_bytes: int = Field(default=19000, ge=2000, description="Request body limit (service: 20 KB).")


class FeishuChannel(HttpChannel[FeishuConfig]):
    type = "feishu"
    config_class = FeishuConfig
    default_rate = (100, 60.0)
    extra_rates = ((5, 1.0),)  # and at most 5 a second

    def payload(self, ctx: MessageContext) -> Prepared:
        title = self.renderer.render("title.txt.j2", ctx)
        text = self.renderer.render("markdown.md.j2", ctx, flavor="feishu")
        labels = BUTTON_LABELS[ctx.language]
        actions = [
            {
                "tag": "button",
                "text": {"tag": "plain_text", "content": labels[a]},
                "type": "primary" if a == "acknowledge" else "default",
                "url": ctx.links[a],
            }
            for a in ("acknowledge", "assign", "resolve", "posts")
            if a in ctx.links
        ]
        color = "green" if ctx.alert.status == "resolved" else HEADER_COLOR[ctx.alert.severity]

        def card(body_text: str) -> dict:
            elements: list[dict] = [{"tag": "div", "text": {"tag": "lark_md", "content": body_text}}]
            if actions:
                elements += [{"tag": "hr"}, {"tag": "action", "actions": actions}]
            return {
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {"template": color, "title": {"tag": "plain_text", "content": title}},
                    "elements": elements,
                },
            }

        # the whole request must stay under the limit: measure the card without the text, give the rest to it
        overhead = len(json.dumps(card(""), ensure_ascii=False).encode()) + 200
        text = fit_bytes(text, max(500, self.config.max_bytes - overhead), TRUNCATION_MARK[ctx.language])
        return Prepared(card(text))

    def encode(self, prepared: Prepared) -> bytes:
        body = dict(prepared.body)
        if self.config.secret is not None:
            ts = int(time.time())
            body = {"timestamp": str(ts), "sign": feishu_sign(self.config.secret.get_secret_value(), ts), **body}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def check_body(self, response: httpx.Response) -> None:
        data = response_json(response)
        code = data.get("code", data.get("StatusCode", 0))
        if code == 0:
            return
        msg = self.redact(str(data.get("msg", data.get("StatusMessage", ""))))[:200]
        if code in RATE_LIMITED:
            raise DeliveryError(f"feishu {self.name}: rate limited (code {code})", retry_after=5.0, status=429)
        raise DeliveryError(
            f"feishu {self.name}: rejected (code {code}: {msg}); check the bot's signing secret, "
            "keywords and IP allow-list",
            retryable=False,
            status=response.status_code,
        )
