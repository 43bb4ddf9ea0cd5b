"""No raw offset is acknowledged before every offset ahead of it in its partition was processed.

Faust commits a partition's first run of consecutive acknowledged offsets. It checks that the run starts where
the committed offset left off only when that offset is above 0, and it lets one missing offset through even then.
Records Faust fetched but never handed to the stage (a take buffer that outlives a rebalance, a message abandoned
while the flow is suspended) leave a hole ahead of the run, and the commit steps over it: the next crash loses
what was in the hole. So the enrich stage passes each batch through :class:`Positions`, which knows the next
offset each raw partition owes; at a hole it re-reads the partition from there instead of acknowledging past it.
A hole the re-read finds again holds no records (a transaction marker, a compacted range) and is passed; a
transactional producer leaves one such marker after each transaction, so that costs one extra fetch each.

A re-read can itself come to nothing: a fetch already under way when its seek was made goes on being handed out
and carries Faust's read position past the hole again, so the re-read records are dropped as already read, and
with the partition read to its end no event arrives to notice. :meth:`Positions.retry_stalled`, on a timer, seeks
again for every re-read that delivered nothing for ``REREAD_RETRY_SECONDS``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.worker.observe import Throttled

#: A re-read asked for but not seen within this many seconds is asked for again.
REREAD_RETRY_SECONDS = 10.0


@dataclass
class _Reread:
    owed: int  # the first offset of the hole
    first_after: Any  # the message just past the hole when it was found
    asked_at: float


class Positions:
    """The next offset each assigned raw partition owes, from where reading started after the last rebalance."""

    def __init__(
        self, seek: Callable[[Any, int], Awaitable[Any]], first_offset: Callable[[Any], int] | None = None
    ) -> None:
        """``first_offset(event)``: the first offset an event stands for, when one event covers several (the
        marker of an undecodable batch); by default the event's own."""
        self._seek = seek
        self._first_offset = first_offset or (lambda event: event.message.offset)
        self.say = Throttled()
        self._next: dict[Any, int] = {}
        self._rereads: dict[Any, _Reread] = {}

    def started(self, starts: Mapping[Any, int]) -> None:
        """After an assignment: each partition is read from ``starts[tp]`` (the committed offset, or the first)."""
        self._next.update(starts)
        for tp in starts:
            self._rereads.pop(tp, None)

    def revoked(self) -> None:
        self._next.clear()
        self._rereads.clear()

    async def admit(self, events: Sequence[Any]) -> list[Any]:
        """The events to process and acknowledge now; the ones past a hole are left unacknowledged for the
        re-read to deliver again. Partitions this worker does not track (revoked ones) pass untouched: their
        writes are idempotent and Faust commits only assigned partitions."""
        admitted, holes = [], {}
        for event in events:
            tp, offset = event.message.tp, event.message.offset
            owed = self._next.get(tp)
            if owed is None:
                admitted.append(event)
                continue
            if tp in holes:
                continue
            if self._first_offset(event) > owed and not self._hole_is_empty(tp, owed, event.message):
                holes[tp] = (owed, event.message)
                continue
            admitted.append(event)
            self._next[tp] = max(owed, offset + 1)
            self._rereads.pop(tp, None)  # the hole, if any, is being filled
        for tp, (owed, message) in holes.items():
            await self._reread(tp, owed, message)
        return admitted

    async def retry_stalled(self) -> None:
        """Seek again for each re-read that has delivered nothing for ``REREAD_RETRY_SECONDS`` (call it often)."""
        now = time.monotonic()
        for tp, asked in list(self._rereads.items()):
            if now - asked.asked_at < REREAD_RETRY_SECONDS:
                continue
            self.say(
                f"stalled:{tp}",
                logging.WARNING,
                "%s[%d]: the re-read from %d delivered nothing in %.0f s; seeking there again",
                *tp,
                asked.owed,
                now - asked.asked_at,
            )
            asked.asked_at = now
            await self._seek(tp, asked.owed)

    def _hole_is_empty(self, tp: Any, owed: int, message: Any) -> bool:
        asked = self._rereads.get(tp)
        if asked is None or asked.owed != owed or message.offset != asked.first_after.offset:
            return False
        if message is asked.first_after:  # the same delivery again, not the re-read's
            return False
        del self._rereads[tp]
        self.say(
            f"empty:{tp}",
            logging.INFO,
            "%s[%d]: offsets %d..%d hold no records (read twice; a transaction marker or compaction); going on",
            *tp,
            owed,
            message.offset - 1,
        )
        return True

    async def _reread(self, tp: Any, owed: int, message: Any) -> None:
        asked = self._rereads.get(tp)
        now = time.monotonic()
        if asked is not None and asked.owed == owed and now - asked.asked_at < REREAD_RETRY_SECONDS:
            return  # records fetched before the re-read began, still draining
        self.say(
            f"hole:{tp}",
            logging.WARNING,
            "%s[%d]: offsets %d..%d did not reach the enrich stage; re-reading from %d, nothing past them "
            "acknowledged meanwhile",
            *tp,
            owed,
            message.offset - 1,
            owed,
        )
        self._rereads[tp] = _Reread(owed, message, now)
        await self._seek(tp, owed)
