"""The fault suite, short versions (bench/faults.py runs the full durations and writes the figures): on the real
local stack, each scenario must end with 0 lost, 0 duplicated, the worker alive and every invalid message
dead-lettered with its stage and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import stack
from tests.faults import scenarios

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_stack() -> stack.StackStatus:
    # the faults act on the local stack's processes, so never on $LINGTING_KAFKA / $LINGTING_ES
    return stack.up()


@pytest.fixture
def run(local_stack, tmp_path: Path):
    r = scenarios.Run(local_stack["kafka"].address, local_stack["elasticsearch"].address, tmp_path)
    r.start_worker()
    try:
        scenarios.wait_consuming(r)
        yield r
    finally:
        r.stop()
        print(r.log_tails())
        assert stack.status().healthy or stack.up().healthy  # leave the stack as the next test needs it


def _assert_clean(outcome: scenarios.Outcome) -> None:
    print(outcome.to_dict())
    assert outcome.lost == 0 and outcome.duplicated == 0, outcome
    assert outcome.worker_alive, outcome
    assert outcome.catch_up_seconds is not None, outcome


def test_hostile_input_is_dead_lettered_and_the_rest_indexed(run) -> None:
    outcome = scenarios.hostile_input(run, valid_posts=100)
    _assert_clean(outcome)
    assert sum(outcome.dead_letters.values()) == len(scenarios.HOSTILE), outcome
    for letter in run.dead_letters(len(scenarios.HOSTILE)):
        assert letter["stage"] and letter["error"], letter
    # what an operator scrapes says the same
    assert run.http("/healthz") == (200, "ok\n")
    m = run.metrics()
    raw = run.settings.kafka.raw_topic
    assert m[("lingting_dead_letters_total", (("stage", "enrich.validate"),))] == len(scenarios.HOSTILE)
    indexed = outcome.sent
    assert m[("lingting_posts_total", (("direction", "in"), ("stage", "enrich")))] == indexed + len(scenarios.HOSTILE)
    assert m[("lingting_posts_total", (("direction", "out"), ("stage", "index")))] == indexed
    detected = ("lingting_posts_total", (("direction", "in"), ("stage", "detect")))
    scenarios.wait_until(lambda: run.metrics().get(detected) == indexed, 30, "every post through detect")
    lags = {
        dict(k[1])["partition"]: v
        for k, v in m.items()
        if k[0] == "lingting_consumer_lag" and dict(k[1])["topic"] == raw
    }
    assert sorted(lags) == ["0", "1", "2"] and all(v >= 0 for v in lags.values()), lags
    assert m[("lingting_es_bulk_seconds_count", ())] >= 1
    assert ("lingting_es_bulk_errors_total", ()) in m
    assert m[("lingting_posts_held", ())] == 0
    assert m[("lingting_notifier_queue_depth", ())] == 0
    assert m[("lingting_worker_ready", ())] == 1


def test_elasticsearch_hung_then_resumed(run) -> None:
    _assert_clean(scenarios.es_hung(run, posts=300, hang_seconds=20))


def test_kafka_broker_restarted(run) -> None:
    _assert_clean(scenarios.kafka_restarted(run, posts=300))


def test_worker_sigkilled_mid_stream(run) -> None:
    _assert_clean(scenarios.worker_killed(run, posts=1000))


def test_a_valid_1mb_post_is_indexed_or_dead_lettered(run) -> None:
    outcome = scenarios.one_mb_post(run, timeout=45)
    print(outcome.to_dict())
    assert outcome.lost == 0, outcome
    assert outcome.worker_alive, outcome


def test_elasticsearch_stopped_then_started(run) -> None:
    outcome = scenarios.es_stopped(run, posts=300, down_seconds=20)
    _assert_clean(outcome)
    # not ready while it cannot write, and it says why
    assert "/healthz meanwhile: 503 Elasticsearch unreachable for" in outcome.notes, outcome
    assert "nothing acknowledged" in outcome.notes, outcome
    assert run.http("/healthz")[0] == 200


def test_undecodable_batch_is_dead_lettered_with_its_range_and_the_rest_indexed(run) -> None:
    outcome = scenarios.undecodable_batch(run, posts=200, bad=5)
    _assert_clean(outcome)
    assert outcome.dead_letters == {"kafka.decode": 1}, outcome
    assert "offsets" in outcome.notes and "(5 records)" in outcome.notes and "snappy" in outcome.notes, outcome
    assert "cannot decode the record batch at" in run.log_tail("w1", 20_000)


def test_one_of_two_workers_killed_the_other_takes_over_and_nothing_is_lost(run) -> None:
    # the takeover re-reads from the dead worker's commits; a re-read that a fetch under way overran is asked
    # for again (pipeline/worker/positions.py), so the partitions do not stall
    outcome = scenarios.one_of_two_workers_killed(run, posts=600, catch_up_timeout=120)
    _assert_clean(outcome)
