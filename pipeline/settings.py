"""One YAML config file, validated by pydantic; environment variables override addresses.

Load order: ``--config PATH`` > ``$LINGTING_CONFIG`` > built-in defaults (no brands).
``LINGTING_KAFKA`` and ``LINGTING_ES`` override ``kafka.bootstrap`` and ``elasticsearch.url``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError, field_validator, model_validator

from connectors.config import ConnectorsConfig
from pipeline.web.config import ReportSettings, WebSettings
from processors.brands import BrandRule, validate_rules
from processors.detection.settings import DetectionSettings
from schemas.errors import ConfigError, RuleError, key_path, validation_problems
from schemas.settings import ApiSettings, ElasticsearchSettings, KafkaSettings
from sinks.notify.config import NotifyConfig


class WorkerSettings(BaseModel):
    """The stream worker (``lingting worker``). Workers with one ``app_id`` share the work; each needs its own
    ``data_dir`` and ``web_port`` when several run on one machine."""

    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(default="lingting-worker", description="Faust app id = Kafka consumer group.")
    data_dir: str = Field(
        default=".lingting/worker", description="Parent of the per-worker state directories (worker-0, worker-1, ...)."
    )
    web_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of /healthz and /metrics on 127.0.0.1 (0: off). When taken, the next "
        "free one is used, so several workers share a machine.",
    )
    live: bool = Field(default=True, description="Close quiet windows by wall clock too (off for pure replays).")
    tick_seconds: PositiveFloat = 5.0
    sentiment_model_dir: str | None = Field(
        default=None,
        description="A sentiment model written by `lingting train-sentiment --out DIR` to use "
        "instead of the shipped one (default: the shipped model).",
    )


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    elasticsearch: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    brands: list[BrandRule] = Field(default_factory=list)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    connectors: ConnectorsConfig = Field(default_factory=ConnectorsConfig)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    language: str = Field(default="zh", pattern=r"^(zh|en)$", description="Language of alert messages.")

    @field_validator("brands")
    @classmethod
    def _rules_consistent(cls, brands: list[BrandRule]) -> list[BrandRule]:
        try:
            validate_rules(brands)  # unique names, competitors exist, queries compile
        except RuleError as err:
            raise ValueError(str(err)) from None
        return brands

    @model_validator(mode="after")
    def _brand_detection_overrides_valid(self) -> Settings:
        for i, brand in enumerate(self.brands):
            try:
                self.detection_for(brand.name)
            except ValidationError as err:
                first = err.errors()[0]
                raise ValueError(f"brands[{i}].detection.{key_path(first['loc'])}: {first['msg']}") from None
        return self

    @model_validator(mode="after")
    def _route_brands_configured(self) -> Settings:
        # a route naming a brand nobody configured would never match: its alerts would go nowhere, silently
        names = {b.name for b in self.brands}
        for i, route in enumerate(self.notify.routes):
            for j, brand in enumerate(route.brands):
                if brand not in names:
                    raise ValueError(
                        f"notify.routes[{i}].brands[{j}]: brand {brand!r} is not configured "
                        f"(brands: {', '.join(sorted(names)) or 'none'})"
                    )
        return self

    def brand(self, name: str) -> BrandRule | None:
        return next((b for b in self.brands if b.name == name), None)

    def detection_for(self, brand: str) -> DetectionSettings:
        """The global detection settings with the brand's own overrides merged on top."""
        rule = self.brand(brand)
        overrides = getattr(rule, "detection", None) or {}
        if not overrides:
            return self.detection
        return DetectionSettings.model_validate({**self.detection.model_dump(), **overrides})


def format_validation_error(err: ValidationError, source: str) -> str:
    return "\n".join([f"invalid configuration in {source}:", *(f"  - {p}" for p in validation_problems(err))])


def settings_from_dict(data: dict[str, Any], source: str = "config") -> Settings:
    data = dict(data or {})
    if kafka := os.environ.get("LINGTING_KAFKA"):
        data["kafka"] = {**(data.get("kafka") or {}), "bootstrap": kafka}
    if es := os.environ.get("LINGTING_ES"):
        data["elasticsearch"] = {**(data.get("elasticsearch") or {}), "url": es}
    if token := os.environ.get("LINGTING_API_TOKEN"):
        data["api"] = {**(data.get("api") or {}), "token": token}
    if viewer := os.environ.get("LINGTING_WEB_VIEWER_TOKEN"):
        data["web"] = {**(data.get("web") or {}), "viewer_token": viewer}
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate the config; raise ConfigError naming the bad key."""
    path = path or os.environ.get("LINGTING_CONFIG")
    if not path:
        return settings_from_dict({}, "defaults")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config file {p}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {p} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must be a mapping at the top level (brands:, notify:, ...)")
    return settings_from_dict(data, str(p))


def external_services_configured() -> bool:
    """True when the user points lingting at their own Kafka/ES (then the demo starts no local stack)."""
    return bool(os.environ.get("LINGTING_KAFKA") or os.environ.get("LINGTING_ES"))


def load_sentiment_model(directory: str | Path | None, key: str = "worker.sentiment_model_dir"):
    """The sentiment model in ``directory`` (written by ``train-sentiment --out``), or None for the shipped one.
    A directory without a model is a ConfigError naming ``key`` (the config key or the CLI flag)."""
    if directory is None:
        return None
    from processors.sentiment import DEFAULT_MODEL, LinearSentiment

    path = Path(directory).expanduser()
    if not (path / DEFAULT_MODEL).is_file():
        raise ConfigError(
            f"{key}: {path} has no {DEFAULT_MODEL} (a directory written by `lingting train-sentiment --out DIR`)"
        )
    try:
        return LinearSentiment.from_dir(path)
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"{key}: {path / DEFAULT_MODEL} is not a lingting sentiment model: {err}") from None
