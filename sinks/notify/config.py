"""Notification config (placeholder: owned by the notifications engineer)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WebhookChannel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    secret: str | None = None


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhooks: list[WebhookChannel] = Field(default_factory=list)
