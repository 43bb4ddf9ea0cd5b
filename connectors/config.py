"""Connector config (placeholder: owned by the connectors engineer)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConnectorsConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
