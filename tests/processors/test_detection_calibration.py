"""TailCalibration: the series' own tail of z turns a z into a tail probability."""

from __future__ import annotations

import math
import random

from processors.detection.calibration import TailCalibration, score_of


def test_surprise_rises_with_z_and_z_of_inverts_it():
    cal = TailCalibration(4000)
    values = [cal.surprise(z) for z in (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0)]
    assert values == sorted(values) and values[0] == 0.0
    for z in (2.0, 4.0, 7.5):
        assert math.isclose(cal.z_of(cal.surprise(z)), z, rel_tol=1e-9)
    # the prior is a normal z's tail: p(z ≥ 4) ≈ 3.2e-5
    assert 4.2 < cal.surprise(4.0) < 4.8


def test_a_heavy_tailed_series_needs_a_higher_z_for_the_same_rarity():
    rnd = random.Random(1)
    light, heavy = TailCalibration(4000), TailCalibration(4000)
    for _ in range(20000):
        light.learn(rnd.gauss(0, 1), 4.5)
        heavy.learn(rnd.gauss(0, 1) * (3 if rnd.random() < 0.05 else 1), 4.5)
    assert heavy.z_of(4.5) > light.z_of(4.5) + 0.5
    state = heavy.to_state()
    assert TailCalibration(4000, state).surprise(5.0) == heavy.surprise(5.0)


def test_score_is_half_at_the_opening_rarity_and_stays_below_one():
    assert score_of(4.5, 4.5) == 0.5
    assert score_of(0.0, 4.5) == 0.0
    assert score_of(300.0, 4.5) < 1.0 and score_of(300.0, 4.5) > score_of(30.0, 4.5)
