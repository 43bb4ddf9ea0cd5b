"""What a polling source shares (RSS feeds, the Weibo API): run forever or one round (``--once``), stop
promptly, stay responsive while waiting, and back off a failing target the same way.

While it waits (for the next poll, for a retry), a polling source still yields :class:`Idle` at least every
``HEARTBEAT_SECONDS``: the run loop needs those ticks to commit a pending batch and to notice ``stop``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import ClassVar, TypeVar

from connectors.metrics import connector_metrics
from connectors.source import Idle, Source
from schemas.retry import backoff_delay

P = TypeVar("P")


class PollingSource(Source[P]):
    HEARTBEAT_SECONDS: ClassVar[float] = 1.0

    def __init__(self, *, once: bool = False, stop: threading.Event | None = None) -> None:
        self.once = once
        self.stop = stop or threading.Event()
        self.metrics = connector_metrics(self.name)

    def idle(self, seconds: float, position: Callable[[], P]) -> Iterator[Idle[P]]:
        """Wait ``seconds`` (or until stop), yielding an Idle tick with the current position every heartbeat."""
        end = time.monotonic() + max(0.0, seconds)
        while not self.stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(self.HEARTBEAT_SECONDS, left))
            yield Idle(position())

    @staticmethod
    def retry_delay(failures: int, *, initial: float, cap: float, retry_after: float | None = None) -> float:
        """Seconds before polling a target again after ``failures`` failures in a row; a Retry-After the
        service sent wins when longer (capped too: a bogus header must not park a target for days)."""
        return max(backoff_delay(failures, initial=initial, cap=cap), min(retry_after or 0.0, cap))
