"""DingTalk (钉钉) group robot: markdown, or actionCard with 确认/认领/解除 buttons (signed API links).

加签: ``&timestamp=<ms>&sign=<urlencoded base64 HMAC-SHA256>`` appended to the robot URL. DingTalk answers
HTTP 200 with ``errcode``; 0 is success, 130101/410100 mean "too fast" (the robot takes ~20 messages/min and
is throttled for 10 minutes beyond that), 310000 is a bad signature/keyword/IP: not retryable.
"""

from __future__ import annotations

import time
from typing import Literal

import httpx
from pydantic import Field, SecretStr

from sinks.notify.channels.base import BUTTON_LABELS, HttpChannel, HttpChannelConfig, Prepared
from sinks.notify.render import MessageContext, markdown_with_links
from sinks.notify.signing import dingtalk_sign

RATE_LIMITED = frozenset({130101, 410100})


class DingTalkConfig(HttpChannelConfig):
    """DingTalk (钉钉) group robot; ``secret`` = the robot's 加签 secret (SEC...)."""

    env_fields = ("url", "secret")

    type: Literal["dingtalk"]
    url: SecretStr = Field(description="https://oapi.dingtalk.com/robot/send?access_token=...")
    secret: SecretStr | None = None
    style: Literal["markdown", "action_card"] = Field(
        default="action_card", description="action_card adds 确认/认领/解除 buttons when the API is public."
    )
    at_mobiles: list[str] = Field(default_factory=list, description="Phone numbers to @ on critical alerts.")
    at_all: bool = Field(default=False, description="@所有人 on critical alerts.")
    max_bytes: int = Field(default=18000, ge=500, description="Markdown text is truncated to this many bytes.")


class DingTalkChannel(HttpChannel[DingTalkConfig]):
    type = "dingtalk"
    config_class = DingTalkConfig
    default_rate = (20, 60.0)

    def payload(self, ctx: MessageContext) -> Prepared:
        buttons = self.config.style == "action_card" and "acknowledge" in ctx.links
        title = self.renderer.render("title.txt.j2", ctx)
        at_mobiles = self.config.at_mobiles if ctx.alert.severity == "critical" else []
        mentions = " ".join(f"@{m}" for m in at_mobiles)  # DingTalk needs the @ in the text too
        text = markdown_with_links(
            self.renderer, ctx, flavor="dingtalk", max_bytes=self.config.max_bytes, links=not buttons, suffix=mentions
        )
        at = {"atMobiles": at_mobiles, "isAtAll": self.config.at_all and ctx.alert.severity == "critical"}
        if buttons:
            labels = BUTTON_LABELS[ctx.language]
            btns = [
                {"title": labels[a], "actionURL": ctx.links[a]}
                for a in ("acknowledge", "assign", "resolve", "posts")
                if a in ctx.links
            ]
            body = {
                "msgtype": "actionCard",
                "actionCard": {"title": title, "text": text, "btnOrientation": "1", "btns": btns},
                "at": at,
            }
        else:
            body = {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}
        return Prepared(body)

    def request_url(self) -> str:
        url = self.config.url.get_secret_value()
        if self.config.secret is None:
            return url
        ts = int(time.time() * 1000)
        sign = dingtalk_sign(self.config.secret.get_secret_value(), ts)
        return f"{url}{'&' if '?' in url else '?'}timestamp={ts}&sign={sign}"

    def check_body(self, response: httpx.Response) -> None:
        self.check_errcode(
            response, rate_limited=RATE_LIMITED, fix="check the robot's secret (加签), keywords and IP allow-list"
        )
