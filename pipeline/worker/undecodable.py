"""A record batch the worker cannot decode becomes one marker record instead of a crashed worker.

aiokafka decompresses a batch while it hands out its records (``PartitionRecords`` in ``aiokafka.consumer.fetcher``
iterates each batch of a fetch). A codec whose library is missing (``UnsupportedCodecError``: "Libraries for snappy
compression codec not found") or a corrupt compressed payload raises there, out of ``getmany``, through Faust's
consumer, and stops the worker; restarted, it fetches the same batch and stops again. And the records the fetch
had yielded before the bad batch are dropped with the exception while the position has already passed them.

So the guard decodes every batch of a fetch up front. A batch that fails is replaced by one marker record at the
batch's last offset: no value, and a header naming the offset range and the error. The stage that reads it
dead-letters it (stage ``kafka.decode``) and acknowledges it, so the offsets move past the batch, the records
around it are processed normally, and the log and the dead letter say exactly which range to re-read with a
client that has the codec.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger("lingting.worker")

#: Header of the marker record that stands for an undecodable batch.
HEADER = "lingting-undecodable"


@dataclass
class _MarkerRecord:
    """What ``PartitionRecords._consumer_record`` reads from a record."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None = None
    value: bytes | None = None
    checksum: int | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class _DecodedBatch:
    """A batch whose records are already decoded (or the marker); every other attribute is the batch's own."""

    def __init__(self, batch: Any, records: list[Any]) -> None:
        self._batch, self._records = batch, records

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __iter__(self):
        return iter(self._records)

    def validate_crc(self) -> bool:
        return True  # checked before decoding (the C batch allows it only before iteration)


class _GuardedRecords:
    """The fetch's ``MemoryRecords`` with each batch decoded in a try."""

    def __init__(self, records: Any, tp: Any) -> None:
        self._records, self._tp = records, tp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    def has_next(self) -> bool:
        return self._records.has_next()

    def next_batch(self) -> Any:
        batch = self._records.next_batch()
        if batch is None or batch.is_control_batch or not batch.validate_crc():
            # control batches carry transaction markers, read by aiokafka itself; a bad CRC is aiokafka's
            # CorruptRecordException, after which it fetches the batch again (a damaged transfer)
            return batch
        try:
            return _DecodedBatch(batch, list(batch))
        except Exception as err:  # any codec or payload error: this batch only, never the fetch
            return _DecodedBatch(batch, [marker(self._tp, batch, err)])


def marker(tp: Any, batch: Any, err: BaseException) -> _MarkerRecord:
    first, last = batch.base_offset, batch.next_offset - 1
    error = f"{type(err).__name__}: {err}"
    log.error(
        "cannot decode the record batch at %s[%d] offsets %d-%d (%d records; %s); it is skipped and "
        "dead-lettered as one message (stage kafka.decode); re-read that range with a client that has "
        "the codec",
        tp.topic,
        tp.partition,
        first,
        last,
        last - first + 1,
        error,
    )
    info = orjson.dumps(
        {
            "topic": tp.topic,
            "partition": tp.partition,
            "first_offset": first,
            "last_offset": last,
            "records": last - first + 1,
            "error": error,
        }
    )
    return _MarkerRecord(
        offset=last, timestamp=batch.first_timestamp, timestamp_type=batch.timestamp_type, headers=[(HEADER, info)]
    )


def _info(event: Any) -> dict[str, Any] | None:
    headers = getattr(event, "headers", None) or getattr(getattr(event, "message", None), "headers", None) or {}
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        if name == HEADER:
            return orjson.loads(value)
    return None


def first_offset(event: Any) -> int:
    """The first offset an event stands for: the batch's first for a marker, else the event's own."""
    info = _info(event)
    return int(info["first_offset"]) if info else event.message.offset


def undecodable(event: Any) -> str | None:
    """For the marker record: the dead letter's error text (offset range and why); else None."""
    info = _info(event)
    if info is None:
        return None
    return (
        f"record batch at {info['topic']}[{info['partition']}] offsets {info['first_offset']}-"
        f"{info['last_offset']} ({info['records']} records) could not be decoded: {info['error']}; "
        "re-read that range with a client that has the codec"
    )


def install() -> None:
    """Make aiokafka's fetcher build guarded partition records (idempotent)."""
    from aiokafka.consumer import fetcher

    if getattr(fetcher.PartitionRecords, "_lingting_guarded", False):
        return
    base = fetcher.PartitionRecords

    class GuardedPartitionRecords(base):  # type: ignore[misc, valid-type]
        _lingting_guarded = True

        def __init__(self, tp: Any, records: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(tp, _GuardedRecords(records, tp), *args, **kwargs)

    fetcher.PartitionRecords = GuardedPartitionRecords
