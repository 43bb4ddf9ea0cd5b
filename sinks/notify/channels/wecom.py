"""WeCom (企业微信) group robot, markdown message. The key in the URL is the credential (no signature).
Content is limited to 4096 UTF-8 bytes; errcode 45009 = frequency limit (20 messages/minute per robot)."""
from __future__ import annotations

import httpx

from sinks.notify.channels.base import DeliveryError, HttpChannel, Prepared, response_json
from sinks.notify.render import MessageContext, markdown_with_links

RATE_LIMITED = {45009, 45033}


class WeComChannel(HttpChannel):
    type = "wecom"
    default_rate = (20, 60.0)

    def payload(self, ctx: MessageContext) -> Prepared:
        mentions = ""
        if self.config.mentioned_mobile_list and ctx.alert.severity == "critical":
            mentions = " ".join(f"<@{m}>" for m in self.config.mentioned_mobile_list)
        text = markdown_with_links(self.renderer, ctx, flavor="wecom", max_bytes=self.config.max_bytes,
                                   suffix=mentions)
        return Prepared({"msgtype": "markdown", "markdown": {"content": text}})

    def check_body(self, response: httpx.Response) -> None:
        data = response_json(response)
        code = data.get("errcode", 0)
        if code == 0:
            return
        msg = self.redact(str(data.get("errmsg", "")))[:200]
        if code in RATE_LIMITED:
            raise DeliveryError(f"wecom {self.name}: frequency limit (errcode {code})", retry_after=60.0, status=429)
        if code == -1:  # "system busy"
            raise DeliveryError(f"wecom {self.name}: service busy (errcode -1: {msg})")
        raise DeliveryError(f"wecom {self.name}: rejected (errcode {code}: {msg}); check the robot key",
                            retryable=False, status=response.status_code)
