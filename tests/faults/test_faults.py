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
        print(r.log_tail())
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
