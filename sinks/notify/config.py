"""The ``notify:`` section: channels, routes, quiet hours, escalation, retries. Each channel's own config
lives beside its implementation in ``sinks/notify/channels/``.

Two forms are accepted. The simple one posts every alert to plain webhooks, for a first set-up::

    notify:
      webhooks: [{url: http://ops.example/hook, secret: ${OPS_HOOK_SECRET}}]

The full one names channels and routes alerts to them (see docs/alerts.md). Secrets never sit in the file:
write ``${ENV_VAR}`` in any secret field (url, secret, password) or name the variable with ``secret_env:``,
``password_env:`` or ``url_env:``. Secret values are held as ``SecretStr`` so they never show in logs or reprs.
"""

from __future__ import annotations

import re
from datetime import time as dtime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator, model_validator

from schemas.alerts import AlertStatus, Severity
from sinks.notify.channels import AnyChannelConfig, ChannelConfig, WebhookConfig
from sinks.notify.options import Duration, RetryPolicy, TimeZone, env_keys_to_refs, expand_env


def _hhmm(value: Any) -> dtime:
    if isinstance(value, dtime):
        return value
    if isinstance(value, int):  # YAML 1.1 reads 23:00 as a sexagesimal int (1380)
        return dtime(value // 60 % 24, value % 60)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        h, m = value.strip().split(":")
        return dtime(int(h) % 24, int(m))
    raise ValueError(f'not a time of day: {value!r} (write "23:00")')


class QuietHours(BaseModel):
    """Hours in which only alerts of ``pass_severity`` or above are sent; the others wait (defer) or are
    dropped (recorded as ``suppressed``)."""

    model_config = ConfigDict(extra="forbid")

    start: Annotated[dtime, BeforeValidator(_hhmm)]
    end: Annotated[dtime, BeforeValidator(_hhmm)]
    timezone: TimeZone = "Asia/Shanghai"
    pass_severity: Severity = "critical"
    action: Literal["defer", "drop"] = "defer"


class Escalation(BaseModel):
    """Re-send an unacknowledged alert to other channels after a delay."""

    model_config = ConfigDict(extra="forbid")

    after: Duration = 900.0
    to: list[str] = Field(min_length=1, description="Channel names of the second route.")
    min_severity: Severity = "critical"


class Route(BaseModel):
    """Alerts matching every given criterion go to ``channels``; an empty criterion matches everything.
    Every matching route applies (a channel receives one message per alert state, however many routes)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$")
    brands: list[str] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)
    min_severity: Severity | None = None
    statuses: list[AlertStatus] = Field(default_factory=list)
    channels: list[str] = Field(min_length=1)
    quiet_hours: QuietHours | Literal[False] | None = Field(
        default=None, description="None: use notify.quiet_hours; false: never quiet."
    )
    escalate: Escalation | None = None


class ActionLinks(BaseModel):
    """Signed links in messages that open the acknowledge API (needs ``api.public_url``)."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = Field(default=None, description="HMAC key of the links; default: api.token.")
    ttl: Duration = Field(default=7 * 86400.0, description="How long a link in a message stays valid.")

    @model_validator(mode="before")
    @classmethod
    def _env(cls, data: Any) -> Any:
        return env_keys_to_refs(data, ("secret",))

    @field_validator("secret", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return expand_env(value)


class NotifyConfig(BaseModel):
    """Where alerts go: channels, the routes to them, quiet hours, retries (docs/alerts.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    language: Literal["zh", "en"] | None = Field(default=None, description="Default: the top-level language.")
    templates_dir: str | None = Field(default=None, description="Directory of template overrides (zh/, en/).")
    webhooks: list[WebhookConfig] = Field(default_factory=list, description="Simple form: plain webhooks.")
    channels: list[AnyChannelConfig] = Field(default_factory=list)
    routes: list[Route] = Field(
        default_factory=list, description="Default: one route sending every alert to every channel."
    )
    quiet_hours: QuietHours | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    links: ActionLinks = Field(default_factory=ActionLinks)
    max_sample_posts: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> NotifyConfig:
        names: set[str] = set()
        for ch in self.all_channels(include_disabled=True):
            if ch.name in names:
                raise ValueError(f"channel name {ch.name!r} is used twice (name each channel)")
            names.add(ch.name)
        for i, route in enumerate(self.routes):
            targets = list(route.channels) + (list(route.escalate.to) if route.escalate else [])
            for name in targets:
                if name not in names:
                    raise ValueError(
                        f"routes[{i}] names channel {name!r}, which is not configured "
                        f"(channels: {', '.join(sorted(names)) or 'none'})"
                    )
        return self

    def all_channels(self, include_disabled: bool = False) -> list[ChannelConfig]:
        """Channels of the full form plus the simple ``webhooks`` (named webhook, webhook-2, ...)."""
        simple = []
        for i, hook in enumerate(self.webhooks):
            if hook.name == "webhook" and i > 0:
                hook = hook.model_copy(update={"name": f"webhook-{i + 1}"})
            simple.append(hook)
        return [c for c in [*self.channels, *simple] if c.enabled or include_disabled]

    def effective_routes(self) -> list[Route]:
        if self.routes:
            return self.routes
        names = [c.name for c in self.all_channels()]
        return [Route(name="default", channels=names)] if names else []
