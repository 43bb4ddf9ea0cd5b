"""The ``notify:`` section: channels, routes, quiet hours, escalation, retries.

Two forms are accepted. The simple one (issue 2) posts every alert to plain webhooks::

    notify:
      webhooks: [{url: http://ops.example/hook, secret: ${OPS_HOOK_SECRET}}]

The full one names channels and routes alerts to them (see docs/alerts.md). Secrets never sit in the file:
write ``${ENV_VAR}`` in any secret field (url, secret, password) or name the variable with ``secret_env:``,
``password_env:`` or ``url_env:``. Secret values are held as ``SecretStr`` so they never show in logs or reprs.
"""
from __future__ import annotations

import os
import re
from datetime import time as dtime
from typing import Annotated, Any, ClassVar, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator,
                      model_validator)

Severity = Literal["low", "medium", "high", "critical"]
AlertStatus = Literal["open", "update", "resolved"]
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"2h"``, ``"500ms"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    raise ValueError(f"not a duration: {value!r} (write seconds, or e.g. 30s, 15m, 2h)")


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


def expand_env(value: Any) -> Any:
    """Replace ``${VAR}`` with the environment variable; a missing variable is a config error."""
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def _env_keys_to_refs(data: Any, fields: tuple[str, ...]) -> Any:
    """``secret_env: NAME`` → ``secret: ${NAME}`` (expanded, with a clear error, by the field validator)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for f in fields:
        env_key = f"{f}_env"
        if env_key in data:
            name = data.pop(env_key)
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"{env_key} must be the name of an environment variable, got {name!r}")
            if data.get(f) is not None:
                raise ValueError(f"set either {f} or {env_key}, not both")
            data[f] = f"${{{name}}}"
    return data


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter; a delivery is given up (status ``failed``) after ``give_up_after``."""

    model_config = ConfigDict(extra="forbid")

    initial_delay: Duration = 1.0
    max_delay: Duration = 60.0
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.25, ge=0.0, le=1.0, description="±fraction of each delay, random.")
    give_up_after: Duration = Field(default=6 * 3600.0, description="Stop retrying a delivery after this long.")
    timeout: Duration = Field(default=10.0, description="Per request (HTTP) or per SMTP session.")


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: int = Field(ge=1)
    per: Duration = Field(default=60.0, gt=0)


class _ChannelBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    enabled: bool = True
    language: Literal["zh", "en"] | None = Field(default=None, description="Default: notify.language.")
    rate_limit: RateLimit | None = Field(default=None, description="Default: the service's documented limit.")
    retry: RetryPolicy | None = Field(default=None, description="Default: notify.retry.")

    #: Fields that may also be given as ``<field>_env: VAR`` (read from the environment, never logged).
    env_fields: ClassVar[tuple[str, ...]] = ()

    @field_validator("url", "secret", "password", "username", mode="before", check_fields=False)
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return expand_env(value)

    @model_validator(mode="before")
    @classmethod
    def _env(cls, data: Any) -> Any:
        return _env_keys_to_refs(data, cls.env_fields)


class WebhookChannel(_ChannelBase):
    """Generic JSON webhook: body = the Alert JSON (+ links); HMAC-SHA256 signature when ``secret`` is set."""

    env_fields = ("url", "secret")

    type: Literal["webhook"] = "webhook"
    name: str = Field(default="webhook", pattern=r"^[A-Za-z0-9_.-]+$")
    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)


class DingTalkChannel(_ChannelBase):
    """DingTalk (钉钉) group robot; ``secret`` = the robot's 加签 secret (SEC...)."""

    env_fields = ("url", "secret")

    type: Literal["dingtalk"]
    url: SecretStr = Field(description="https://oapi.dingtalk.com/robot/send?access_token=...")
    secret: SecretStr | None = None
    style: Literal["markdown", "action_card"] = Field(
        default="action_card", description="action_card adds 确认/认领/解除 buttons when the API is public.")
    at_mobiles: list[str] = Field(default_factory=list, description="Phone numbers to @ on critical alerts.")
    at_all: bool = Field(default=False, description="@所有人 on critical alerts.")
    max_bytes: int = Field(default=18000, ge=500, description="Markdown text is truncated to this many bytes.")


class WeComChannel(_ChannelBase):
    """WeCom (企业微信) group robot, markdown message (4096 bytes max)."""

    env_fields = ("url",)

    type: Literal["wecom"]
    url: SecretStr = Field(description="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...")
    mentioned_mobile_list: list[str] = Field(default_factory=list)
    max_bytes: int = Field(default=4096, ge=500, le=4096)


class FeishuChannel(_ChannelBase):
    """Feishu / Lark custom bot, interactive card; ``secret`` = the bot's 签名校验 secret."""

    env_fields = ("url", "secret")

    type: Literal["feishu"]
    url: SecretStr = Field(description="https://open.feishu.cn/open-apis/bot/v2/hook/...")
    secret: SecretStr | None = None
    max_bytes: int = Field(default=19000, ge=2000, description="Request body limit (service: 20 KB).")


class SlackChannel(_ChannelBase):
    """Slack incoming webhook, Block Kit message."""

    env_fields = ("url",)

    type: Literal["slack"]
    url: SecretStr = Field(description="https://hooks.slack.com/services/...")


class EmailChannel(_ChannelBase):
    """Email over SMTP: ``security`` starttls (port 587), ssl (465) or none (local relays only)."""

    env_fields = ("password", "username")

    type: Literal["email"]
    host: str
    port: int | None = Field(default=None, ge=1, le=65535, description="Default: 587 starttls, 465 ssl, 25 none.")
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from", description="From address, e.g. 聆听告警 <alerts@example.com>.")
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    verify_tls: bool = True
    ca_file: str | None = Field(default=None, description="CA bundle for a private SMTP server certificate.")
    subject_prefix: str = "[聆听]"

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


ChannelConfig = Annotated[
    Union[WebhookChannel, DingTalkChannel, WeComChannel, FeishuChannel, SlackChannel, EmailChannel],
    Field(discriminator="type"),
]


def _hhmm(value: Any) -> dtime:
    if isinstance(value, dtime):
        return value
    if isinstance(value, int):  # YAML 1.1 reads 23:00 as a sexagesimal int (1380)
        return dtime(value // 60 % 24, value % 60)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        h, m = value.strip().split(":")
        return dtime(int(h) % 24, int(m))
    raise ValueError(f"not a time of day: {value!r} (write \"23:00\")")


class QuietHours(BaseModel):
    """Hours in which only alerts of ``pass_severity`` or above are sent; the others wait (defer) or are
    dropped (recorded as ``suppressed``)."""

    model_config = ConfigDict(extra="forbid")

    start: Annotated[dtime, BeforeValidator(_hhmm)]
    end: Annotated[dtime, BeforeValidator(_hhmm)]
    timezone: str = "Asia/Shanghai"
    pass_severity: Severity = "critical"
    action: Literal["defer", "drop"] = "defer"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value


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
        default=None, description="None: use notify.quiet_hours; false: never quiet.")
    escalate: Escalation | None = None


class ActionLinks(BaseModel):
    """Signed links in messages that open the acknowledge API (needs ``api.public_url``)."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr | None = Field(default=None, description="HMAC key of the links; default: api.token.")
    ttl: Duration = Field(default=7 * 86400.0, description="How long a link in a message stays valid.")

    @model_validator(mode="before")
    @classmethod
    def _env(cls, data: Any) -> Any:
        return _env_keys_to_refs(data, ("secret",))

    @field_validator("secret", mode="before")
    @classmethod
    def _expand(cls, value: Any) -> Any:
        return expand_env(value)


class NotifyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    language: Literal["zh", "en"] | None = Field(default=None, description="Default: the top-level language.")
    templates_dir: str | None = Field(default=None, description="Directory of template overrides (zh/, en/).")
    webhooks: list[WebhookChannel] = Field(default_factory=list, description="Simple form: plain webhooks.")
    channels: list[ChannelConfig] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list,
                                description="Default: one route sending every alert to every channel.")
    quiet_hours: QuietHours | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    links: ActionLinks = Field(default_factory=ActionLinks)
    max_sample_posts: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _check(self) -> "NotifyConfig":
        names: set[str] = set()
        for ch in self.all_channels(include_disabled=True):
            if ch.name in names:
                raise ValueError(f"channel name {ch.name!r} is used twice (name each channel)")
            names.add(ch.name)
        for i, route in enumerate(self.routes):
            targets = list(route.channels) + (list(route.escalate.to) if route.escalate else [])
            for name in targets:
                if name not in names:
                    raise ValueError(f"routes[{i}] names channel {name!r}, which is not configured "
                                     f"(channels: {', '.join(sorted(names)) or 'none'})")
        return self

    def all_channels(self, include_disabled: bool = False) -> list[Any]:
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
