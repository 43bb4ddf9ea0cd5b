"""The synthetic stream: valid RawPosts, reproducible, and the scenario's events where they belong."""

from __future__ import annotations

import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from connectors.synthetic import SyntheticSource, load_scenario, load_sentences
from connectors.testing import as_pairs
from tests.connectors.kafka_topic import connect_command, key_counts, kill_9_after_first_checkpoint

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "deploy" / "demo" / "scenario.yaml"
START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def stream(seed: int = 7):
    return [p for p, _ in as_pairs(SyntheticSource(load_scenario(SCENARIO), seed=seed, start=START).items(None))]


def minute_of(post) -> int:
    return int((post.created_at - START) / timedelta(minutes=1))


def test_same_seed_same_stream_and_unique_keys():
    a, b = stream(), stream()
    assert [p.model_dump() for p in a[:500]] == [p.model_dump() for p in b[:500]]
    assert len({p.key for p in a}) == len(a)
    assert [p.id for p in stream(seed=8)[:50]] != [p.id for p in a[:50]]


def test_scenario_events_shape_the_stream():
    posts = stream()
    per_minute = Counter(minute_of(p) for p in posts)
    assert all(per_minute[m] == 0 for m in range(120, 135)), "the outage has no posts"
    rats = Counter(minute_of(p) for p in posts if "老鼠" in p.text and "海底捞" in p.text)
    assert sum(rats[m] for m in range(180, 200)) > 10 * max(1, sum(rats[m] for m in range(0, 180)))
    reposts = [p for p in posts if p.repost_of]
    assert reposts and all("//@" in p.text for p in reposts)
    followers = sorted(p.author.followers for p in posts)
    assert followers[-1] > 100 * followers[len(followers) // 2], "follower counts are heavy-tailed"


def test_a_restaurants_posts_are_not_about_hotel_rooms_and_never_repeat_its_name():
    hotel = load_sentences("hotel")
    hotel_sentences = hotel["pos"] + hotel["neg"]
    food = load_sentences("food")
    assert hotel_sentences and food["pos"] and not set(hotel_sentences) & set(food["pos"] + food["neg"])
    own = [p.text for p in stream() if not p.repost_of and "海底捞" in p.text]
    assert len(own) > 1000
    assert not [t for t in own if any(s in t for s in hotel_sentences)]
    assert not [t for t in own if "海底捞海底捞" in t]


def test_resume_continues_the_same_stream():
    source = SyntheticSource(load_scenario(SCENARIO), seed=7, start=START)
    items = list(as_pairs(source.items(None)))
    _, position = items[99]
    resumed = [p for p, _ in as_pairs(SyntheticSource(load_scenario(SCENARIO), seed=7).items(position))]
    assert [p.key for p in resumed[:50]] == [p.key for p, _ in items[100:150]]


@pytest.mark.integration
def test_kill_9_and_restart_publishes_the_stream_exactly_once(make_config, tmp_path):
    config = tmp_path / "lingting.yaml"
    data = make_config()
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    expected = {p.key for p in stream()}
    cmd = connect_command(
        "synthetic", config, tmp_path / "cp.json", "--scenario", str(SCENARIO), "--start", START.isoformat()
    )
    checkpoint = kill_9_after_first_checkpoint(cmd + ["--rate", "3000"], tmp_path / "cp.json", cwd=ROOT)
    assert 0 < checkpoint["position"]["n"] < len(expected), "the kill must land mid-stream"
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=180, stderr=subprocess.DEVNULL)

    keys = key_counts(f"{data['kafka']['topic_prefix']}.posts.raw", data["kafka"]["bootstrap"])
    assert set(keys) == expected
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:5]
