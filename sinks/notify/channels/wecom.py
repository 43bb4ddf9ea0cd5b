"""WeCom (企业微信) group robot, markdown message. The key in the URL is the credential (no signature).
Content is limited to 4096 UTF-8 bytes; errcode 45009 = frequency limit (20 messages/minute per robot)."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import Field, SecretStr

from sinks.notify.channels.base import HttpChannel, HttpChannelConfig, Prepared
from sinks.notify.render import MessageContext, markdown_with_links

RATE_LIMITED = frozenset({45009, 45033})
BUSY = frozenset({-1})  # "system busy"


class WeComConfig(HttpChannelConfig):
    """WeCom (企业微信) group robot, markdown message (4096 bytes max)."""

    env_fields = ("url",)

    type: Literal["wecom"]
    url: SecretStr = Field(description="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...")
    mentioned_mobile_list: list[str] = Field(default_factory=list)
    max_bytes: int = Field(default=4096, ge=500, le=4096)


class WeComChannel(HttpChannel[WeComConfig]):
    type = "wecom"
    config_class = WeComConfig
    default_rate = (20, 60.0)

    def payload(self, ctx: MessageContext) -> Prepared:
        mentions = ""
        if self.config.mentioned_mobile_list and ctx.alert.severity == "critical":
            mentions = " ".join(f"<@{m}>" for m in self.config.mentioned_mobile_list)
        text = markdown_with_links(self.renderer, ctx, flavor="wecom", max_bytes=self.config.max_bytes, suffix=mentions)
        return Prepared({"msgtype": "markdown", "markdown": {"content": text}})

    def check_body(self, response: httpx.Response) -> None:
        self.check_errcode(response, rate_limited=RATE_LIMITED, busy=BUSY, fix="check the robot key")
