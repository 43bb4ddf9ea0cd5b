"""Channel implementations, one module per service (its config beside it), behind
:class:`~sinks.notify.channels.base.Channel`. ``CHANNELS`` is the one list: the ``channels:`` config union
and the type → implementation registry are both derived from it."""

from __future__ import annotations

from typing import Annotated, Any, Union

import httpx
from pydantic import Field

from sinks.notify.channels.base import Channel, ChannelConfig, DeliveryError, Prepared, register_secrets
from sinks.notify.channels.dingtalk import DingTalkChannel
from sinks.notify.channels.email import EmailChannel
from sinks.notify.channels.feishu import FeishuChannel
from sinks.notify.channels.slack import SlackChannel
from sinks.notify.channels.webhook import WebhookChannel, WebhookConfig
from sinks.notify.channels.wecom import WeComChannel
from sinks.notify.render import Renderer

CHANNELS: tuple[type[Channel[Any]], ...] = (
    WebhookChannel,
    DingTalkChannel,
    WeComChannel,
    FeishuChannel,
    SlackChannel,
    EmailChannel,
)
CHANNEL_TYPES: dict[str, type[Channel[Any]]] = {c.type: c for c in CHANNELS}
#: One ``channels:`` entry, chosen by its ``type``.
# Union[...] of a tuple built at run time: the X | Y form cannot be spread over a tuple
AnyChannelConfig = Annotated[Union[tuple(c.config_class for c in CHANNELS)], Field(discriminator="type")]  # noqa: UP007


def build_channel(config: ChannelConfig, renderer: Renderer, http: httpx.AsyncClient | None) -> Channel[Any]:
    channel = CHANNEL_TYPES[config.type](config, renderer, http)
    register_secrets(channel.secret_parts())
    return channel


__all__ = [
    "CHANNELS",
    "CHANNEL_TYPES",
    "AnyChannelConfig",
    "Channel",
    "ChannelConfig",
    "DeliveryError",
    "Prepared",
    "WebhookConfig",
    "build_channel",
]
