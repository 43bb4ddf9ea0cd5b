"""What travels between the worker's stages, and the size limits that keep every record sendable.

* A raw post is decoded once (pydantic's JSON parser), enriched once, indexed from the enrich stage itself.
* The enriched topic carries a *detection record*: only the fields the brand monitor reads, one per matched
  brand, with the long texts cut. Posts that match no brand do not travel at all: they are already indexed.
* Text longer than ``MAX_TEXT_CHARS`` is cut before anything else and the post says so (``text_truncated``,
  ``text_length``): a 1 MB post is indexed and counted instead of failing at the producer's request limit.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from schemas import EnrichedPost, RawPost
from schemas.errors import validation_summary

#: Characters of a post's text the worker keeps (a long Weibo article is ~2,000; 20,000 is far beyond any post).
MAX_TEXT_CHARS = 20_000
#: Characters of text and clean text in a detection record: enough for the story fingerprint and the samples.
DETECT_TEXT_CHARS = 1_000
DETECT_MAX_TOKENS = 300
#: Bytes of an original message kept in a dead letter (the producer's request limit is 1 MB).
DEAD_LETTER_MAX_BYTES = 200_000
WATERMARK_KIND = "watermark"
#: the detection record's field naming the raw partition the post was read from (not part of EnrichedPost)
SOURCE_PARTITION = "source_partition"

_DETECT_FIELDS = ("platform", "id", "url", "author", "metrics", "repost_of", "brands", "hashtags", "sentiment")


def decode_raw(value: bytes | None) -> RawPost:
    """The message as a RawPost, its text cut to ``MAX_TEXT_CHARS``; raises ``ValueError`` saying what is wrong."""
    try:
        post = RawPost.model_validate_json(value or b"")
    except ValidationError as err:
        raise ValueError("invalid RawPost: " + validation_summary(err, limit=10, top="(message)")) from None
    if len(post.text) > MAX_TEXT_CHARS:
        length = len(post.text)
        post = post.model_copy(
            update={"text": post.text[:MAX_TEXT_CHARS], "text_truncated": True, "text_length": length}
        )
    return post


def detection_record(post: EnrichedPost, brand: str, source_partition: int | None = None) -> bytes:
    """The slim record of one (post, brand) for the detect stage, with the raw partition it was read from."""
    data: dict[str, Any] = post.model_dump(mode="json", include=set(_DETECT_FIELDS), exclude_none=True)
    data["brand"] = brand
    data["text"] = post.text[:DETECT_TEXT_CHARS]
    data["clean_text"] = post.clean_text[:DETECT_TEXT_CHARS]
    data["tokens"] = post.tokens[:DETECT_MAX_TOKENS]
    data["created_at"] = post.created_at.isoformat()
    data["processed_at"] = post.processed_at.isoformat()
    if source_partition is not None:
        data[SOURCE_PARTITION] = source_partition
    return orjson.dumps(data)


def watermark_record(brand: str, at_iso: str) -> bytes:
    return orjson.dumps({"kind": WATERMARK_KIND, "brand": brand, "at": at_iso})


def parse_enriched(value: bytes) -> dict[str, Any]:
    return orjson.loads(value)


def bounded_original(value: bytes | None) -> tuple[bytes, str]:
    """The original bytes to keep in a dead letter, and a note when they had to be cut."""
    raw = value or b""
    if len(raw) <= DEAD_LETTER_MAX_BYTES:
        return raw, ""
    return raw[:DEAD_LETTER_MAX_BYTES], f" (original cut to its first {DEAD_LETTER_MAX_BYTES} of {len(raw)} bytes)"
