"""The ``web:`` and ``reports:`` sections: who may see and act in the command center, and when reports go out.

Operators sign in with ``api.token`` (the acknowledge API's token: they may acknowledge, assign, resolve);
viewers with ``web.viewer_token`` (read only). Both tokens also work as ``Authorization: Bearer``.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sinks.notify.options import Duration, TimeZone, env_keys_to_refs, expand_env

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    viewer_token: SecretStr | None = Field(
        default=None, description="Read-only sign-in; env LINGTING_WEB_VIEWER_TOKEN."
    )
    session_secret: SecretStr | None = Field(default=None, description="Signs session cookies; default: api.token.")
    session_ttl: Duration = Field(default=12 * 3600.0, description="How long a browser stays signed in.")
    language: str | None = Field(default=None, pattern=r"^(zh|en)$", description="Default: the top-level language.")
    timezone: TimeZone = Field(default="Asia/Shanghai", description="Times on the pages and in reports.")
    feed_size: int = Field(default=50, ge=1, le=500, description="Crisis cards on the feed.")

    @model_validator(mode="before")
    @classmethod
    def _env(cls, data: Any) -> Any:
        return env_keys_to_refs(data, ("viewer_token", "session_secret"))

    @field_validator("viewer_token", "session_secret", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return expand_env(value)


class ReportSchedule(BaseModel):
    """When ``lingting report --schedule`` sends which report (local time of ``timezone``)."""

    model_config = ConfigDict(extra="forbid")

    daily: str | None = Field(default="09:00", description="HH:MM for the 日报 of the previous day; null: none.")
    weekly: str | None = Field(default="mon 09:00", description="'mon 09:00' for the 周报 of the previous week.")

    @field_validator("daily")
    @classmethod
    def _daily(cls, value: str | None) -> str | None:
        if value is not None and not _TIME.match(value):
            raise ValueError(f"daily must be HH:MM, got {value!r}")
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split()
        if len(parts) != 2 or parts[0].lower() not in WEEKDAYS or not _TIME.match(parts[1]):
            raise ValueError(f"weekly must be like 'mon 09:00', got {value!r}")
        return value.lower()


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field(default=".lingting/reports", description="Where reports are written (and browsed from).")
    timezone: TimeZone = Field(default="Asia/Shanghai")
    brands: list[str] = Field(default_factory=list, description="Default: every configured brand.")
    channels: list[str] = Field(default_factory=list, description="Channel names to send to; default: all.")
    schedule: ReportSchedule = Field(default_factory=ReportSchedule)
    pdf: bool = Field(default=False, description="Also write a PDF (matplotlib).")
