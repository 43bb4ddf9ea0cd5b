"""Detection settings (placeholder: owned by the detection engineer)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DetectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_seconds: int = Field(default=60, ge=1)
    allowed_lateness_seconds: int = Field(default=300, ge=0)
