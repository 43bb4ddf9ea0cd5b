"""Helpers for testing a source without Kafka (as Bytewax ships ``bytewax.testing``): read a source's items
the way the run loop would, and look at what it published, what it rejected and where it stood."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from connectors.source import Emit, Invalid, Item
from schemas import RawPost

P = TypeVar("P")


def as_pairs(items: Iterable[Item[P]]) -> Iterator[tuple[RawPost | None, P]]:
    """Each item as ``(post, position)``; ``post`` is None for an idle tick or an invalid input."""
    for item in items:
        yield (item.post if isinstance(item, Emit) else None), item.position


def invalid(items: Iterable[Item[P]]) -> list[Invalid[P]]:
    """The inputs the source rejected, in order."""
    return [item for item in items if isinstance(item, Invalid)]
