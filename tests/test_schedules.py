"""Schedules (mink_toolkit.schedules): annealing factors and loss-term weights."""

import numpy as np
import pytest

from mink_toolkit.schedules import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    LambdaSchedule,
    LinearSchedule,
    Schedule,
)


def test_annealing_schedules():
    exp = ExponentialSchedule(100)
    assert exp(0) == 1.0 and exp(100) == pytest.approx(0.05) and exp(500) == pytest.approx(0.05)
    assert exp(30) == pytest.approx(max(0.05, np.exp(-0.9)))
    assert np.all(np.diff(exp.values()) <= 0)
    lin = LinearSchedule(10, start=1.0, end=0.1)
    assert lin(0) == 1.0 and lin(5) == pytest.approx(0.55) and lin(10) == pytest.approx(0.1)
    cos = CosineSchedule(10, start=1.0, end=0.1)
    assert cos(0) == pytest.approx(1.0) and cos(5) == pytest.approx(0.55) and cos(10) == pytest.approx(0.1)
    assert ConstantSchedule(0.3)(7) == 0.3


def test_lambda_schedule_is_a_schedule_with_warmup():
    s = LambdaSchedule(final=1.0, warmup=4, start=2)
    assert isinstance(s, Schedule)
    assert [s(e) for e in range(7)] == [0, 0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert s.values(7).tolist() == [0, 0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert LambdaSchedule(final=0.3)(0) == 0.3


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: ExponentialSchedule(0), ValueError, "total_steps"),
        (lambda: ExponentialSchedule(2.0), TypeError, "total_steps"),
        (lambda: ExponentialSchedule(10, floor=0.0), ValueError, "floor"),
        (lambda: ConstantSchedule(-1.0), ValueError, "value"),
        (lambda: LambdaSchedule(final=-1.0), ValueError, "final"),
        (lambda: LambdaSchedule(final="1"), TypeError, "final"),
        (lambda: LambdaSchedule(final=1.0, warmup=-1), ValueError, "warmup"),
        (lambda: LambdaSchedule(final=1.0, start=1.5), TypeError, "start"),
    ],
)
def test_bad_settings_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_steps_are_refused():
    exp = ExponentialSchedule(10)
    with pytest.raises(ValueError, match="step"):
        exp(-1)
    with pytest.raises(TypeError, match="step"):
        exp(1.5)
    with pytest.raises(TypeError, match="step"):
        exp(True)
