"""The ``connectors:`` section of the config: one sub-section per source."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    field_validator,
    model_validator,
)

from schemas.settings import AtLeastOne


def _unique_by(key: str, what: str) -> AfterValidator:
    """Validates a list field: no two items share ``key`` (one source polled twice would publish twice)."""

    def check(items: list[Any]) -> list[Any]:
        keys = [getattr(item, key) for item in items]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate {what}: {', '.join(dupes)}")
        return items

    return AfterValidator(check)


class HttpPushConfig(BaseModel):
    """``lingting connect http``: the push endpoint for data vendors."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Listen address.")
    port: int = Field(default=8090, ge=0, le=65535)
    token: str | None = Field(default=None, description="Bearer token clients must send; env LINGTING_HTTP_TOKEN.")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, description="Larger requests get 413.")
    max_pending: AtLeastOne = Field(default=50_000, description="Posts waiting for Kafka before answering 429.")
    dedupe_seconds: NonNegativeFloat = Field(
        default=600.0,
        description="A key accepted within this many seconds is "
        "not published again (client retries, also across a restart); 0: off.",
    )
    dedupe_max_keys: AtLeastOne = Field(
        default=500_000,
        description="Bound of the remembered keys (memory, and the raw-topic read-back at start).",
    )


WEIBO_STREAM_KINDS = ("keyword", "uid", "screen_name")


class WeiboStream(BaseModel):
    """One thing to follow: a keyword search, or an account's timeline by uid or screen_name."""

    model_config = ConfigDict(extra="forbid")

    keyword: str | None = Field(default=None, min_length=1, description="Search term (search/topics.json q).")
    uid: str | None = Field(default=None, pattern=r"^[0-9]+$", description="Account id (statuses/user_timeline).")
    screen_name: str | None = Field(default=None, min_length=1, description="Account nickname (user_timeline).")
    interval: PositiveFloat = Field(default=60.0, description="Seconds between polls of this stream.")
    count: int = Field(default=100, ge=1, le=100, description="Statuses per page (the API's maximum is 100).")

    @field_validator("uid", mode="before")
    @classmethod
    def _uid_as_string(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _exactly_one_target(self) -> WeiboStream:
        given = [k for k in WEIBO_STREAM_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "each weibo stream needs exactly one of keyword, uid, screen_name"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def key(self) -> str:
        """Stable name of the stream: its checkpoint key and its name in logs, e.g. ``keyword:海底捞``."""
        kind = next(k for k in WEIBO_STREAM_KINDS if getattr(self, k) is not None)
        return f"{kind}:{getattr(self, kind)}"


class WeiboConfig(BaseModel):
    """``lingting connect weibo``: the Weibo open API with your access token."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(default="https://api.weibo.com", description="API root (tests point it elsewhere).")
    token: str | None = Field(default=None, description="OAuth2 access token; env LINGTING_WEIBO_TOKEN.")
    streams: Annotated[list[WeiboStream], _unique_by("key", "weibo streams")] = Field(default_factory=list)
    max_pages: AtLeastOne = Field(
        default=50,
        description="Pages read per poll of a stream before giving up on older statuses (a gap, logged).",
    )
    timeout: PositiveFloat = Field(default=30.0, description="Seconds per HTTP request.")
    retry_max_seconds: PositiveFloat = Field(default=300.0, description="Cap of the exponential backoff.")
    token_retry_seconds: PositiveFloat = Field(default=300.0, description="Retry period while the token is rejected.")


class RssFeedConfig(BaseModel):
    """One feed: an RSSHub route (https://rsshub.app/weibo/user/1195230310) or any RSS/Atom url."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://\S+$", description="Feed url (http or https).")
    name: str | None = Field(default=None, description="Name in logs and metrics (default: the url).")
    interval: float = Field(default=300.0, ge=10, description="Seconds between polls of this feed.")
    platform: str | None = Field(
        default=None,
        pattern=r"^[^:\s]+$",
        description="Platform of its posts (default: from the RSSHub route, else news).",
    )


class RssConfig(BaseModel):
    """``lingting connect rss``: RSS/Atom/RSSHub feeds."""

    model_config = ConfigDict(extra="forbid")

    feeds: Annotated[list[RssFeedConfig], _unique_by("url", "rss feeds")] = Field(default_factory=list)
    timeout: PositiveFloat = Field(default=20.0, description="Seconds per HTTP request.")
    user_agent: str = Field(default="lingting-rss/1.0 (brand listening)", min_length=1)
    retry_backoff: PositiveFloat = Field(default=5.0, description="First retry delay of a failing feed; doubles.")
    max_backoff: PositiveFloat = Field(default=900.0, description="Cap of the retry delay of a failing feed.")
    max_seen: int = Field(default=5000, ge=10, description="Entry ids remembered per feed (plus those still in it).")


class ConnectorsConfig(BaseModel):
    """The sources' own settings; command-line options of ``lingting connect`` override them."""

    model_config = ConfigDict(extra="forbid")  # a misspelt source name is an error, not silently ignored

    http: HttpPushConfig = Field(default_factory=HttpPushConfig)
    weibo: WeiboConfig = Field(default_factory=WeiboConfig)
    rss: RssConfig = Field(default_factory=RssConfig)
