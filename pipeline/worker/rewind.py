"""A partition the group never committed is read from its beginning after every rebalance, not from where a
previous fetch left off.

After a rebalance Faust seeks each assigned partition to its committed offset, through aiokafka's
``seek_to_committed``, which seeks only when the committed offset is above 0. For a partition with nothing
committed yet (none, or 0) the fetch position is left where it was: past the records this worker had fetched
but not processed before the rebalance, which Faust drops with the revoked assignment. Those records are then
never processed, and the first commit after them covers them. Two workers joining while posts arrive lost 41
of 661 posts that way. ``auto_offset_reset=earliest`` promises the beginning, so the beginning it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("lingting.worker")


def install(consumer: Any, topics: set[str], on_start: Callable[[Mapping[Any, int]], None] | None = None) -> None:
    """Wrap the Faust consumer's ``seek_to_committed`` (its post-rebalance seek) for the stream ``topics``
    (not the changelogs, which table recovery positions itself). ``on_start`` is told where each of their
    partitions is read from."""
    original = consumer.seek_to_committed

    async def seek_to_committed() -> Any:
        committed = await original()
        ours = {tp: offset for tp, offset in committed.items() if tp.topic in topics}
        fresh = sorted(tp for tp, offset in ours.items() if not offset)
        starts = {tp: offset for tp, offset in ours.items() if offset}
        if fresh:
            log.info(
                "no committed offset yet for %s: reading from the beginning",
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in fresh),
            )
            for tp, earliest in (await consumer.earliest_offsets(*fresh)).items():
                await consumer.seek(tp, earliest)
                starts[tp] = earliest
        if on_start is not None:
            on_start(starts)
        return committed

    consumer.seek_to_committed = seek_to_committed
