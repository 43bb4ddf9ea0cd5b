"""A message that could not be processed, with why and where, and its original bytes."""

from __future__ import annotations

import base64

from pydantic import AwareDatetime, BaseModel, Field


class DeadLetter(BaseModel):
    stage: str = Field(description="Where it failed, e.g. 'enrich.validate'.")
    error: str = Field(description="What was wrong, human readable.")
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    original_b64: str = Field(description="The original message value, base64.")
    original_text: str | None = Field(default=None, description="The original value as UTF-8, when it decodes.")
    failed_at: AwareDatetime

    @classmethod
    def wrap(
        cls,
        value: bytes | None,
        *,
        stage: str,
        error: str,
        topic: str,
        failed_at,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | str | None = None,
    ) -> DeadLetter:
        raw = value or b""
        try:
            text: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        return cls(
            stage=stage,
            error=error[:4000],
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            original_b64=base64.b64encode(raw).decode("ascii"),
            original_text=text,
            failed_at=failed_at,
        )
