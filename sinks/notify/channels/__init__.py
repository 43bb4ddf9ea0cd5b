"""Channel implementations, one module per service, behind :class:`~sinks.notify.channels.base.Channel`."""
from __future__ import annotations

from typing import Any

import httpx

from sinks.notify.channels.base import Channel, DeliveryError, Prepared, register_secrets
from sinks.notify.channels.dingtalk import DingTalkChannel
from sinks.notify.channels.email import EmailChannel
from sinks.notify.channels.feishu import FeishuChannel
from sinks.notify.channels.slack import SlackChannel
from sinks.notify.channels.webhook import WebhookChannel
from sinks.notify.channels.wecom import WeComChannel
from sinks.notify.render import Renderer

CHANNEL_TYPES: dict[str, type[Channel]] = {c.type: c for c in (
    WebhookChannel, DingTalkChannel, WeComChannel, FeishuChannel, SlackChannel, EmailChannel)}


def build_channel(config: Any, renderer: Renderer, http: httpx.AsyncClient | None) -> Channel:
    cls = CHANNEL_TYPES[config.type]
    if cls is EmailChannel:
        channel: Channel = cls(config, renderer)
    else:
        channel = cls(config, renderer, http if http is not None else httpx.AsyncClient())  # type: ignore[call-arg]
    register_secrets(channel.secret_parts())
    return channel


__all__ = ["CHANNEL_TYPES", "Channel", "DeliveryError", "Prepared", "build_channel"]
