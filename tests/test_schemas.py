"""Wire contract: what producers may send, what is kept, and that the exported JSON Schema is current."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from schemas import Alert, DeadLetter, RawPost
from schemas.export import MODELS, SCHEMA_DIR, render


def raw(**over):
    base = {
        "platform": "weibo",
        "id": "4890123456",
        "text": "海底捞后厨有老鼠？[怒] #海底捞# //@吃货小王:真的假的",
        "created_at": "2026-11-20T21:15:00+08:00",
    }
    base.update(over)
    return base


def test_raw_post_keeps_unknown_vendor_fields_and_builds_key():
    post = RawPost.model_validate(raw(vendor_score=0.7, region="四川"))
    assert post.key == "weibo:4890123456"
    dumped = json.loads(post.model_dump_json())
    assert dumped["vendor_score"] == 0.7 and dumped["region"] == "四川"


def test_numeric_ids_from_json_producers_become_strings():
    assert RawPost.model_validate(raw(id=4890123456)).id == "4890123456"


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"created_at": "2026-11-20 21:15:00"}, "created_at"),  # no offset: event time would be ambiguous
        ({"platform": "wei bo"}, "platform"),
        ({"platform": "weibo:cn"}, "platform"),  # ':' would break the platform:id key
        ({"id": ""}, "id"),
        ({"metrics": {"reposts": -1}}, "metrics"),
    ],
)
def test_invalid_raw_posts_name_the_field(bad, field):
    with pytest.raises(ValidationError) as err:
        RawPost.model_validate(raw(**bad))
    assert field in str(err.value)


def test_missing_text_is_rejected():
    data = raw()
    del data["text"]
    with pytest.raises(ValidationError, match="text"):
        RawPost.model_validate(data)


def test_exported_json_schema_files_are_current():
    for name, model in MODELS.items():
        path = SCHEMA_DIR / f"{name}.schema.json"
        assert path.read_text(encoding="utf-8") == render(model), f"run `lingting schemas` to refresh {path.name}"


def test_dead_letter_keeps_original_bytes_even_when_not_utf8():
    letter = DeadLetter.wrap(
        b"\xff\xfe{broken", stage="enrich.validate", error="bad", topic="t", failed_at="2026-11-20T21:15:00+00:00"
    )
    import base64

    assert base64.b64decode(letter.original_b64) == b"\xff\xfe{broken"
    assert letter.original_text is None


def test_alert_delivery_key_changes_with_each_state():
    a = Alert(
        id="海底捞:2026-11-20T21:00:00+00:00",
        brand="海底捞",
        severity="high",
        status="open",
        window_start="2026-11-20T21:00:00+00:00",
        window_end="2026-11-20T21:01:00+00:00",
        observed=40,
        expected=3.5,
        score=0.97,
    )
    b = a.model_copy(update={"status": "update", "sequence": 1})
    assert a.delivery_key != b.delivery_key and a.delivery_key.startswith(a.id)
