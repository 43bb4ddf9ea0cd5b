"""The source contract: what one connector module implements so that ``connectors/run.py`` can publish it.

A source is a generator of typed items, each carrying the source's position *after* that item:

* :class:`Emit` — a post to publish;
* :class:`Invalid` — an input that is not a post: the run loop keeps it on the dead-letter topic with why;
* :class:`Idle` — nothing to publish yet (a poll interval, a retry wait, a blank line, a post this source
  already sent): the run loop checks ``stop`` and commits what is pending, so a quiet source still checkpoints.

The position is the source's own, typed by the source (``Source[int]`` for a line number, a dict of since_ids
for Weibo) and JSON-serialisable, because the checkpoint stores it. The trap, as in Bytewax's
``StatefulSourcePartition.snapshot``: the position must describe the state *after* the item it travels with.
``items(resume)`` then starts with the first item after ``resume``; one position too early re-sends an item
(harmless: the read-back skips keys already in the topic), one too late loses it (a gap nothing repairs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from schemas import RawPost
from schemas.errors import LingtingError

P = TypeVar("P")


class ConnectorError(LingtingError):
    """A source cannot be read or published (bad input, bad credentials, unreachable broker)."""


@dataclass(frozen=True)
class Emit(Generic[P]):
    """A post to publish; ``position`` is where the source stands right after it."""

    post: RawPost
    position: P


@dataclass(frozen=True)
class Invalid(Generic[P]):
    """An input that cannot become a post. ``raw`` is kept on the dead-letter topic with ``error``; ``where``
    names the input for a person (``{"line": 4}``, ``{"stream": "uid:1", "id": "5012"}``)."""

    position: P
    error: str
    raw: bytes
    where: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Idle(Generic[P]):
    """No post at this point, only time passing or the position moving."""

    position: P


Item = Emit[P] | Invalid[P] | Idle[P]


class Source(ABC, Generic[P]):
    """A source of posts in a deterministic order (so that a position means the same after a restart)."""

    #: The name in ``lingting connect NAME``, in metrics (label ``source``) and in dead letters (``connect.NAME``).
    name: ClassVar[str]

    @abstractmethod
    def items(self, resume: P | None) -> Iterator[Item[P]]:
        """The items after ``resume`` (None: from the start), each with the position after it."""


@dataclass
class Launch:
    """What ``lingting connect NAME`` runs, as the connector module's ``command`` builds it from its CLI
    options and its config section. The shared set-up (logging, config, stop signal, metrics, the publisher,
    the checkpoint) is ``pipeline/cli/connect.py``'s ``run_connector``, written once for every connector.

    Exactly one of ``source`` (a pull source, published by ``run_source`` with a checkpoint) and ``serve``
    (a server such as the HTTP push, which runs until stopped and acknowledges each post itself)."""

    source: Source[Any] | None = None
    serve: Callable[..., None] | None = None
    #: what tells this instance apart from another of the same connector: the default checkpoint file
    ident: str = ""
    #: start over (``--from-start``, or a stream that is new on every run)
    fresh: bool = False
    #: after the run: say what happened beyond the totals, and return the exit code
    finish: Callable[[], int] | None = None
