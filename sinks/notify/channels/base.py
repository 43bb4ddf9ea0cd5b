"""The one small interface every channel implements, and the HTTP plumbing the chat services share.

A channel is one module: its config (a :class:`ChannelConfig`, the ``channels:`` entry of its ``type``) and
its implementation (a :class:`Channel` typed with that config). It turns an alert into the service's message
(:meth:`Channel.payload`, pure, used by ``lingting notify render``) and sends it (:meth:`Channel.send`), raising
:class:`DeliveryError` that says whether a retry can help. Retries, rate limits and the delivery log live in
the dispatcher, not here.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from schemas.retry import retry_after_seconds
from sinks.notify.options import RateLimit, RetryPolicy, env_keys_to_refs, expand_env
from sinks.notify.render import MessageContext, Renderer

BUTTON_LABELS = {
    "zh": {"acknowledge": "✅ 确认", "assign": "👤 认领", "resolve": "🟢 解除", "posts": "🔎 查看帖子"},
    "en": {"acknowledge": "✅ Acknowledge", "assign": "👤 Assign", "resolve": "🟢 Resolve", "posts": "🔎 Posts"},
}


class _RedactSecrets(logging.Filter):
    """httpx logs every request URL at INFO; robot URLs carry the access token. Mask registered secrets."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            masked = text
            for secret in self.secrets:
                masked = masked.replace(secret, "***")
            if masked != text:
                record.msg, record.args = masked, ()
        return True


_REDACTOR = _RedactSecrets()
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_REDACTOR)


def register_secrets(values: list[str]) -> None:
    """Secrets (and the token parts of secret URLs) that must never reach a log line."""
    _REDACTOR.secrets.update(v for v in values if v and len(v) >= 6)


class DeliveryError(Exception):
    """A failed send. ``retryable``: network errors, timeouts, 429, 5xx, the service's "too fast" codes.
    Not retryable: bad secret/signature, unknown robot, malformed message — a human must fix the config."""

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


@dataclass
class Prepared:
    """A message ready to send: for HTTP channels the JSON body (``body``), for email the MIME message."""

    body: Any
    meta: dict[str, Any] = field(default_factory=dict)


class ChannelConfig(BaseModel):
    """What every ``channels:`` entry has; each channel module adds its own fields and ``type``."""

    model_config = ConfigDict(extra="forbid")

    type: str
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
        return env_keys_to_refs(data, cls.env_fields)


class HttpChannelConfig(ChannelConfig):
    """A channel reached by an HTTP POST to a secret URL (robot webhooks carry their token in it)."""

    url: SecretStr


C = TypeVar("C", bound=ChannelConfig)
H = TypeVar("H", bound=HttpChannelConfig)


class Channel(ABC, Generic[C]):
    type: ClassVar[str]
    #: The config model of this channel's ``channels:`` entries.
    config_class: ClassVar[type[ChannelConfig]]
    #: The service's documented rate limit (messages, per seconds); None = unlimited.
    default_rate: ClassVar[tuple[int, float] | None] = None
    #: Further limits the service documents (e.g. Feishu: 100/min and 5/s).
    extra_rates: ClassVar[tuple[tuple[int, float], ...]] = ()

    def __init__(self, config: C, renderer: Renderer, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.name: str = config.name
        self.renderer = renderer

    @property
    def rates(self) -> list[tuple[int, float]]:
        """(messages, per seconds) limits to respect; the configured ``rate_limit`` replaces the defaults."""
        if self.config.rate_limit is not None:
            return [(self.config.rate_limit.messages, self.config.rate_limit.per)]
        return ([self.default_rate] if self.default_rate else []) + list(self.extra_rates)

    @abstractmethod
    def payload(self, ctx: MessageContext) -> Prepared:
        """The message for this service (respecting its size limits; never raises for long content)."""

    @abstractmethod
    async def send(self, prepared: Prepared, *, delivery_key: str, timeout: float) -> str:
        """Send once and return the service's answer (secrets redacted); raise DeliveryError on failure."""

    async def aclose(self) -> None:
        pass

    def secrets(self) -> list[str]:
        """Secret values to redact from error messages and logs."""
        out = []
        for attr in ("url", "secret", "password"):
            value = getattr(self.config, attr, None)
            if value is not None and hasattr(value, "get_secret_value"):
                out.append(value.get_secret_value())
        return [s for s in out if s]

    def secret_parts(self) -> list[str]:
        """The secrets plus their token parts (``access_token=...``, the last path segment of a hook URL)."""
        out = []
        for s in self.secrets():
            out.append(s)
            if "?" in s:  # DingTalk/WeCom: the token in the query
                out += [p.split("=", 1)[1] for p in s.split("?", 1)[1].split("&") if "=" in p]
            elif "://" in s:  # Feishu/Slack: the token is the path
                path = s.split("://", 1)[1].partition("/")[2]
                if path:
                    out.append(path)
                    out.append(path.rstrip("/").rsplit("/", 1)[-1])
        return [p for p in out if len(p) >= 8]

    def redact(self, text: str) -> str:
        for s in sorted(self.secret_parts(), key=len, reverse=True):
            text = text.replace(s, "***")
        return text


class HttpChannel(Channel[H]):
    """POSTs JSON; maps HTTP outcomes to DeliveryError. Subclasses add the URL/headers and read the
    service's own error codes in :meth:`check_body`."""

    def __init__(self, config: H, renderer: Renderer, http: httpx.AsyncClient | None = None) -> None:
        super().__init__(config, renderer)
        self.http = http if http is not None else httpx.AsyncClient()

    def request_url(self) -> str:
        return self.config.url.get_secret_value()

    def request_headers(self, raw: bytes, delivery_key: str) -> dict[str, str]:
        return {}

    def encode(self, prepared: Prepared) -> bytes:
        return json.dumps(prepared.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def check_body(self, response: httpx.Response) -> None:
        """Raise DeliveryError when a 200 response carries the service's error code."""

    def check_errcode(
        self, response: httpx.Response, *, rate_limited: frozenset[int], fix: str, busy: frozenset[int] = frozenset()
    ) -> None:
        """The robot APIs of DingTalk and WeCom answer HTTP 200 with ``errcode`` (0: sent) and ``errmsg``.
        Their "too fast" codes throttle the robot for about a minute; "busy" is worth a retry; any other code
        is a configuration a person must fix (``fix`` says what to check)."""
        data = response_json(response)
        code = data.get("errcode", 0)
        if code == 0:
            return
        msg = self.redact(str(data.get("errmsg", "")))[:200]
        if code in rate_limited:
            raise DeliveryError(
                f"{self.type} {self.name}: sending too fast (errcode {code}: {msg})", retry_after=60.0, status=429
            )
        if code in busy:
            raise DeliveryError(f"{self.type} {self.name}: service busy (errcode {code}: {msg})")
        raise DeliveryError(
            f"{self.type} {self.name}: rejected (errcode {code}: {msg}); {fix}",
            retryable=False,
            status=response.status_code,
        )

    async def send(self, prepared: Prepared, *, delivery_key: str, timeout: float) -> str:
        raw = self.encode(prepared)
        headers = {"Content-Type": "application/json; charset=utf-8", **self.request_headers(raw, delivery_key)}
        try:
            response = await self.http.post(self.request_url(), content=raw, headers=headers, timeout=timeout)
        except httpx.TimeoutException:
            raise DeliveryError(f"{self.type} {self.name}: no answer within {timeout:g}s") from None
        except httpx.HTTPError as err:
            raise DeliveryError(
                self.redact(f"{self.type} {self.name}: cannot connect ({type(err).__name__}: {err})")
            ) from None
        status = response.status_code
        if status == 429:
            raise DeliveryError(
                f"{self.type} {self.name}: rate limited (HTTP 429)",
                status=429,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500 or status == 408:
            raise DeliveryError(
                f"{self.type} {self.name}: server error HTTP {status}",
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 400:
            detail = self.redact(response.text[:300])
            raise DeliveryError(
                f"{self.type} {self.name}: rejected with HTTP {status}: {detail}", retryable=False, status=status
            )
        self.check_body(response)
        return self.redact(f"HTTP {status} {response.text[:300]}".strip())


def response_json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
