"""The connection sections of the config (``kafka:``, ``elasticsearch:``, ``api:``) and the names derived from them.

They live in the leaf layer because every layer above needs them: connectors publish to the raw topic, sinks
write the indices, the worker and the API read both. Each component gets the section it needs, never the whole
``pipeline.settings.Settings``, so nothing below ``pipeline/`` depends on how the whole file is put together.
"""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class KafkaSettings(BaseModel):
    """The Kafka cluster and the names of lingting's topics on it."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str = Field(default="127.0.0.1:9092", description="host:port[,host:port...]; env LINGTING_KAFKA.")
    topic_prefix: str = Field(default="lingting", pattern=r"^[A-Za-z0-9._-]+$",
                              description="Topics are <prefix>.posts.raw, .posts.enriched, .alerts, .deadletter.")
    partitions: int = Field(default=3, ge=1, description="Partitions of the topics lingting creates.")
    replication_factor: int = Field(default=1, ge=1, description="Replicas of the topics lingting creates.")

    @property
    def servers(self) -> list[str]:
        """``bootstrap`` as the list the Kafka clients take."""
        return self.bootstrap.split(",")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    @property
    def raw_topic(self) -> str:
        return self.topic("posts.raw")

    @property
    def enriched_topic(self) -> str:
        return self.topic("posts.enriched")

    @property
    def alerts_topic(self) -> str:
        return self.topic("alerts")

    @property
    def deadletter_topic(self) -> str:
        return self.topic("deadletter")

    @property
    def all_topics(self) -> list[str]:
        return [self.raw_topic, self.enriched_topic, self.alerts_topic, self.deadletter_topic]


@dataclass(frozen=True)
class IndexNames:
    """The Elasticsearch names under one ``index_prefix``: analysts and the API read the aliases, writers use
    the concrete indices behind them (``-v1``, or one per month for posts)."""

    prefix: str

    @property
    def posts_alias(self) -> str:
        return f"{self.prefix}-posts"

    @property
    def alerts_alias(self) -> str:
        return f"{self.prefix}-alerts"

    @property
    def alerts_index(self) -> str:
        return f"{self.prefix}-alerts-v1"

    @property
    def deliveries_alias(self) -> str:
        return f"{self.prefix}-deliveries"

    @property
    def deliveries_index(self) -> str:
        return f"{self.prefix}-deliveries-v1"


class ElasticsearchSettings(BaseModel):
    """The Elasticsearch cluster and the names of lingting's indices on it."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(default="http://127.0.0.1:9200", description="env LINGTING_ES.")
    index_prefix: str = Field(default="lingting", pattern=r"^[a-z0-9._-]+$",
                              description="Aliases are <prefix>-posts (monthly indices), -alerts, -deliveries.")
    username: str | None = Field(default=None, description="Basic-auth user (none: no login).")
    password: str | None = None
    bulk_size: int = Field(default=500, ge=1, description="Posts per bulk request.")
    flush_seconds: float = Field(default=1.0, gt=0, description="A partial bulk is sent after this long.")
    kibana_url: str | None = Field(default=None, description="Base URL for links to posts in alerts.")

    @property
    def names(self) -> IndexNames:
        return IndexNames(self.index_prefix)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """What the ``elasticsearch`` client takes as ``basic_auth`` (None: no login)."""
        return (self.username, self.password or "") if self.username else None

    @property
    def posts_alias(self) -> str:
        return self.names.posts_alias

    @property
    def alerts_alias(self) -> str:
        return self.names.alerts_alias

    @property
    def deliveries_alias(self) -> str:
        return self.names.deliveries_alias


class ApiSettings(BaseModel):
    """The acknowledge API (``lingting api``) that the buttons of chat messages open."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Listen address.")
    port: int = Field(default=8088, ge=0, le=65535)
    token: str | None = Field(default=None, description="Bearer token for the acknowledge API; env LINGTING_API_TOKEN.")
    public_url: str | None = Field(default=None, description="URL that chat buttons link to.")
