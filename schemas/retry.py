"""When to try again: the HTTP ``Retry-After`` header and capped exponential backoff.

Shared by the connectors (Kafka waits, feeds, the Weibo API), the notifiers and the Elasticsearch sink, so
every retry in lingting grows, caps and jitters the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_delay(
    attempt: int,
    *,
    initial: float,
    cap: float,
    multiplier: float = 2.0,
    jitter: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    ``initial * multiplier ** (attempt - 1)``, at most ``cap``, then spread by ±``jitter`` (a fraction) so that
    many clients failing together do not retry in lock-step."""
    try:
        delay = min(cap, initial * multiplier ** max(0, attempt - 1))
    except OverflowError:  # days of retries with a large multiplier
        delay = cap
    return delay * (1 + jitter * (2 * rand() - 1)) if jitter else delay
