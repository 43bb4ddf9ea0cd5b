"""The raw-offset guard of the enrich stage (pipeline/worker/positions.py): nothing is acknowledged past a record
that was fetched but not processed, and a hole with no records in it does not stall the partition."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from pipeline.worker.positions import Positions

RAW0, RAW1 = ("t.posts.raw", 0), ("t.posts.raw", 1)


def event(tp: tuple[str, int], offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(tp=tp, offset=offset))


def offsets(events: list[SimpleNamespace]) -> list[tuple[int, int]]:
    return [(e.message.tp[1], e.message.offset) for e in events]


def guard() -> tuple[Positions, list[tuple[tuple[str, int], int]]]:
    sought: list[tuple[tuple[str, int], int]] = []

    async def seek(tp: tuple[str, int], offset: int) -> None:
        sought.append((tp, offset))

    positions = Positions(seek)
    positions.started({RAW0: 3, RAW1: 0})
    return positions, sought


def admit(positions: Positions, events: list[SimpleNamespace]) -> list[tuple[int, int]]:
    return offsets(asyncio.run(positions.admit(events)))


def test_contiguous_batches_pass_whole_and_redeliveries_pass_again() -> None:
    positions, sought = guard()
    assert admit(positions, [event(RAW0, 3), event(RAW1, 0), event(RAW0, 4)]) == [(0, 3), (1, 0), (0, 4)]
    assert admit(positions, [event(RAW0, 3), event(RAW0, 4), event(RAW0, 5)]) == [(0, 3), (0, 4), (0, 5)]
    assert sought == []


def test_a_hole_is_reread_and_nothing_past_it_is_admitted_until_it_is_filled() -> None:
    positions, sought = guard()
    # offsets 3 and 4 of partition 0 never reached the stage
    assert admit(positions, [event(RAW0, 5), event(RAW1, 0), event(RAW0, 6)]) == [(1, 0)]
    assert sought == [(RAW0, 3)]
    # records fetched before the seek still drain: skipped, and no second seek for them
    assert admit(positions, [event(RAW0, 7)]) == []
    assert sought == [(RAW0, 3)]
    # the re-read brings the hole, then the rest
    assert admit(positions, [event(RAW0, 3), event(RAW0, 4), event(RAW0, 5)]) == [(0, 3), (0, 4), (0, 5)]
    assert admit(positions, [event(RAW0, 6), event(RAW0, 7)]) == [(0, 6), (0, 7)]


def test_a_hole_found_again_by_the_reread_holds_no_records_and_is_passed() -> None:
    positions, sought = guard()
    first = event(RAW0, 5)
    assert admit(positions, [first]) == []
    assert admit(positions, [first]) == []  # the same delivery again proves nothing
    assert admit(positions, [event(RAW0, 5), event(RAW0, 6)]) == [(0, 5), (0, 6)]  # the re-read's own
    assert sought == [(RAW0, 3)]


def test_partitions_not_tracked_pass_and_a_revoke_forgets_every_position() -> None:
    positions, sought = guard()
    assert admit(positions, [event(("t.posts.raw", 2), 40)]) == [(2, 40)]
    positions.revoked()
    assert admit(positions, [event(RAW0, 90)]) == [(0, 90)]
    assert sought == []


def test_a_reread_that_delivers_nothing_is_asked_for_again(monkeypatch) -> None:
    """A fetch under way during the re-read's seek can leave the partition read to its end with the hole still
    open, and then no event comes to notice: the timer's retry seeks again."""
    import pipeline.worker.positions as module

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    positions, sought = guard()
    assert admit(positions, [event(RAW0, 5), event(RAW0, 6)]) == []
    assert sought == [(RAW0, 3)]
    clock[0] += module.REREAD_RETRY_SECONDS / 2
    asyncio.run(positions.retry_stalled())
    assert sought == [(RAW0, 3)]  # still within the time a re-read may take
    clock[0] += module.REREAD_RETRY_SECONDS
    asyncio.run(positions.retry_stalled())
    assert sought == [(RAW0, 3), (RAW0, 3)]
    # the second seek delivers: the hole fills, and nothing is asked for again
    assert admit(positions, [event(RAW0, 3), event(RAW0, 4), event(RAW0, 5)]) == [(0, 3), (0, 4), (0, 5)]
    clock[0] += 3 * module.REREAD_RETRY_SECONDS
    asyncio.run(positions.retry_stalled())
    assert sought == [(RAW0, 3), (RAW0, 3)]
