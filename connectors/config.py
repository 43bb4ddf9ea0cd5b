"""The ``connectors:`` section of the config: one sub-section per source."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class HttpPushConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    token: str | None = Field(default=None, description="Bearer token clients must send; env LINGTING_HTTP_TOKEN.")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_pending: int = Field(default=50_000, ge=1, description="Posts waiting for Kafka before answering 429.")


class ConnectorsConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    http: HttpPushConfig = Field(default_factory=HttpPushConfig)
