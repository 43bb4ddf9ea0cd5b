"""The connection sections of the config (``kafka:``, ``elasticsearch:``, ``api:``) and the names derived from them.

They live in the leaf layer because every layer above needs them: connectors publish to the raw topic, sinks
write the indices, the worker and the API read both. Each component gets the section it needs, never the whole
``pipeline.settings.Settings``, so nothing below ``pipeline/`` depends on how the whole file is put together.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, SecretStr, model_validator

#: A count, size or period of at least one: the bound most settings share, named once. (pydantic's PositiveInt is
#: ``gt=0``, which would change the messages ``config check`` prints.)
AtLeastOne = Annotated[int, Field(ge=1)]


def read_secret(value: SecretStr | None, file: str | None, env: str) -> str | None:
    """A secret from the config value, else the file it names (first line, so a trailing newline does not
    count), else the environment variable ``env``. Never logged: callers keep it out of messages."""
    if value is not None:
        return value.get_secret_value()
    if file:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as err:
            raise ValueError(f"cannot read the secret file {file}: {err.__class__.__name__}") from None
    return os.environ.get(env) or None


def _ssl_context(cafile: str | None, certfile: str | None, keyfile: str | None, check_hostname: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = check_hostname
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    return context


class KafkaSettings(BaseModel):
    """The Kafka cluster and the names of lingting's topics on it."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str = Field(default="127.0.0.1:9092", description="host:port[,host:port...]; env LINGTING_KAFKA.")
    topic_prefix: str = Field(
        default="lingting",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Topics are <prefix>.posts.raw, .posts.enriched, .alerts, .deadletter.",
    )
    partitions: AtLeastOne = Field(default=3, description="Partitions of the topics lingting creates.")
    replication_factor: AtLeastOne = Field(default=1, description="Replicas of the topics lingting creates.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(
        default=None, description="Or sasl_password_file, or env LINGTING_KAFKA_SASL_PASSWORD."
    )
    sasl_password_file: str | None = None
    ssl_cafile: str | None = Field(default=None, description="CA bundle (PEM) that signed the brokers' certificates.")
    ssl_certfile: str | None = Field(default=None, description="Client certificate (PEM), for mutual TLS.")
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    @model_validator(mode="after")
    def _security_consistent(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_mechanism and self.sasl_username):
            raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism and sasl_username")
        if self.sasl_mechanism and not sasl:
            raise ValueError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol}: use "
                "SASL_PLAINTEXT or SASL_SSL"
            )
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ValueError("ssl_keyfile is set without ssl_certfile")
        return self

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of every client (None on PLAINTEXT / SASL_PLAINTEXT)."""
        if not self.uses_ssl:
            return None
        return _ssl_context(self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile, self.ssl_check_hostname)

    def sasl_secret(self) -> str | None:
        return read_secret(self.sasl_password, self.sasl_password_file, "LINGTING_KAFKA_SASL_PASSWORD")

    def kafka_python_options(self) -> dict[str, Any]:
        """Connection keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient:
        the one place the connectors, the admin and the tools get their address and security from."""
        options: dict[str, Any] = {"bootstrap_servers": self.servers, "security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_secret() or "",
            )
        if self.uses_ssl:
            options["ssl_context"] = self.ssl_context()
        return options

    def aiokafka_options(self) -> dict[str, Any]:
        """The same for aiokafka clients (AIOKafkaProducer/Consumer, the admin client)."""
        options = self.kafka_python_options()
        options["bootstrap_servers"] = self.bootstrap
        return options

    def faust_credentials(self) -> dict[str, Any] | None:
        """What ``faust.SASLCredentials``/``faust.SSLCredentials`` take (``kind`` says which); None: PLAINTEXT.
        Faust derives the protocol: SASL with an ssl_context is SASL_SSL."""
        if self.security_protocol == "PLAINTEXT":
            return None
        if self.security_protocol == "SSL":
            return {"kind": "ssl", "context": self.ssl_context()}
        return {
            "kind": "sasl",
            "username": self.sasl_username,
            "password": self.sasl_secret() or "",
            "mechanism": self.sasl_mechanism,
            "ssl_context": self.ssl_context(),
        }

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
    index_prefix: str = Field(
        default="lingting",
        pattern=r"^[a-z0-9._-]+$",
        description="Aliases are <prefix>-posts (monthly indices), -alerts, -deliveries.",
    )
    username: str | None = Field(default=None, description="Basic-auth user (none: no login).")
    password: SecretStr | None = Field(default=None, description="Or password_file, or env LINGTING_ES_PASSWORD.")
    password_file: str | None = None
    api_key: SecretStr | None = Field(
        default=None,
        description="Encoded API key (id:key base64); or api_key_file, "
        "or env LINGTING_ES_API_KEY. Takes precedence over username/password.",
    )
    api_key_file: str | None = None
    ca_certs: str | None = Field(default=None, description="CA bundle (PEM) for an https:// url.")
    ssl_assert_fingerprint: str | None = Field(
        default=None,
        description="SHA-256 fingerprint of the node's certificate (hex), instead of or beside a CA bundle.",
    )
    verify_certs: bool = True
    bulk_size: AtLeastOne = Field(default=500, description="Posts per bulk request.")
    flush_seconds: PositiveFloat = Field(
        default=0.25,
        description="A partial bulk is sent after this long (the "
        "longest a post waits for its batch: part of the produced → searchable delay).",
    )
    kibana_url: str | None = Field(default=None, description="Base URL for links to posts in alerts.")
    retention_days: AtLeastOne | None = Field(
        default=None,
        description="Posts kept this many days: `lingting es "
        "prune` (no --older-than) deletes the whole monthly indices older than "
        "that; none: keep everything.",
    )

    @property
    def names(self) -> IndexNames:
        return IndexNames(self.index_prefix)

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        """What the ``elasticsearch`` client takes as ``basic_auth`` (None: no login)."""
        if not self.username:
            return None
        return self.username, read_secret(self.password, self.password_file, "LINGTING_ES_PASSWORD") or ""

    def client_options(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``Elasticsearch``/``AsyncElasticsearch``: address, auth and TLS, the one place
        the worker, the notifier and the API build their client from (``extra``: timeouts and the like)."""
        options: dict[str, Any] = {"hosts": [self.url], **extra}
        api_key = read_secret(self.api_key, self.api_key_file, "LINGTING_ES_API_KEY")
        if api_key:
            options["api_key"] = api_key
        elif self.basic_auth:
            options["basic_auth"] = self.basic_auth
        if self.url.startswith("https://"):
            if self.ca_certs:
                options["ca_certs"] = self.ca_certs
            if self.ssl_assert_fingerprint:
                options["ssl_assert_fingerprint"] = self.ssl_assert_fingerprint
            options["verify_certs"] = self.verify_certs
        return options

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
