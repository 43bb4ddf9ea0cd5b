"""Wire models of posts: RawPost (what connectors publish) and EnrichedPost (what the worker adds).

JSON on the wire. Unknown extra fields are kept (``extra="allow"``), so a vendor's own
fields travel through the pipeline into Elasticsearch instead of being dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class Author(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None
    followers: int | None = Field(default=None, ge=0)
    verified: bool = False
    created_at: AwareDatetime | None = Field(
        default=None, description="When the account was created (for coordinated-posting checks)."
    )


class Metrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    reposts: int = Field(default=0, ge=0)
    comments: int = Field(default=0, ge=0)
    likes: int = Field(default=0, ge=0)

    @property
    def engagement(self) -> int:
        return self.reposts + self.comments + self.likes


class RawPost(BaseModel):
    """One social media post as a source delivers it."""

    model_config = ConfigDict(extra="allow")

    platform: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^:\s]+$",
        description="Source platform, e.g. weibo, douyin, xiaohongshu, rss.",
    )
    id: str = Field(min_length=1, max_length=256, description="The post's id on its platform.")
    text: str = Field(description="The post text as published (kept unchanged).")
    created_at: AwareDatetime = Field(description="Publication time, ISO 8601 with offset (event time).")
    author: Author | None = None
    url: str | None = None
    metrics: Metrics | None = None
    repost_of: str | None = Field(default=None, description="`platform:id` or id of the reposted post.")

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_string(cls, value: object) -> object:
        # Platforms use numeric ids (Weibo mids); JSON producers often send them as numbers.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def key(self) -> str:
        """The idempotency key: Kafka message key and Elasticsearch document id."""
        return f"{self.platform}:{self.id}"


class Sentiment(BaseModel):
    score: float = Field(ge=0.0, le=1.0, description="P(positive) in [0, 1].")
    label: Literal["positive", "neutral", "negative"]


class EnrichedPost(RawPost):
    """RawPost plus what the worker computed; one record per (post, brand) on the enriched topic."""

    brands: list[str] = Field(default_factory=list)
    brand: str | None = Field(default=None, description="The brand this record is keyed by (None: no brand matched).")
    clean_text: str = Field(default="", description="Normalised text the NLP ran on (the author's own words).")
    quoted_text: str = Field(default="", description="The quoted repost chain (//@user: ...), if any.")
    hashtags: list[str] = Field(default_factory=list)
    mentions: list[str] = Field(default_factory=list)
    tokens: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    sentiment: Sentiment
    processed_at: AwareDatetime


def utc_now() -> datetime:

    return datetime.now(UTC)
