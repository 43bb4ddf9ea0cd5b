"""Pieces of the OpenAPI documents that lingting's HTTP services publish (the push connector, the acknowledge
API), so every response in them is written the same way."""

from __future__ import annotations

from typing import Any


def response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """One OpenAPI response: what it means and, when it has a JSON body, that body's schema."""
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = {"application/json": {"schema": schema}}
    return answer
