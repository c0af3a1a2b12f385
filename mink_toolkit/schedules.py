r"""Schedules: a value that changes with the training step.

One family serves every schedule in the toolkit: the temperature factor of
the relaxation (the paper anneals :math:`T = T_0 \cdot f(e)`), and the weight
λ of a functional loss term, which is switched on after a warm-up. A
schedule is a frozen dataclass; ``schedule(step)`` checks ``step`` (an int
>= 0) and returns a float; steps past ``total_steps`` keep the final value.

:class:`ExponentialSchedule`
    The paper's annealing factor :math:`\max(\text{floor}, e^{-\text{rate}\,s/S})`.
:class:`LinearSchedule`, :class:`CosineSchedule`, :class:`ConstantSchedule`
    Alternatives for annealing experiments (notebook 02).
:class:`LambdaSchedule`
    Zero, then a linear warm-up, then constant: the weight of a loss term.

Examples
--------
>>> ExponentialSchedule(4).values().round(3).tolist()
[1.0, 0.472, 0.223, 0.105, 0.05]
>>> LambdaSchedule(final=0.1, warmup=2, start=1).values(5).tolist()
[0.0, 0.05, 0.1, 0.1, 0.1]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_integer, check_positive

__all__ = [
    "Schedule",
    "ExponentialSchedule",
    "LinearSchedule",
    "CosineSchedule",
    "ConstantSchedule",
    "LambdaSchedule",
]


class Schedule:
    """Base class: ``schedule(step)`` is the value at an integer step >= 0.

    Subclasses set ``total_steps`` and implement :meth:`factor` of the
    progress ``step / total_steps`` clipped to [0, 1], or override
    :meth:`at` when they depend on the step itself. Also importable as
    ``TemperatureSchedule``, the relaxation's name for it.
    """

    total_steps: int = 1

    def factor(self, progress: float) -> float:  # pragma: no cover - abstract
        """Value at ``progress`` = step / total_steps in [0, 1]."""
        raise NotImplementedError

    def at(self, step: int) -> float:
        """Value at a checked ``step`` (default: :meth:`factor` of the clipped progress)."""
        return float(self.factor(min(step / self.total_steps, 1.0)))

    def __call__(self, step: int) -> float:
        return self.at(check_integer(step, "step", minimum=0))

    def _check_fields(self, *positive: str) -> None:
        """Check ``total_steps`` (an int >= 1), then each field named in ``positive`` (> 0)."""
        check_integer(self.total_steps, "total_steps", minimum=1)
        for name in positive:
            check_positive(getattr(self, name), name)

    def values(self, n_steps: int | None = None) -> np.ndarray:
        """Values at steps 0 … n_steps − 1 (default ``total_steps + 1``)."""
        n = self.total_steps + 1 if n_steps is None else check_integer(n_steps, "n_steps", minimum=1)
        return np.array([self(k) for k in range(n)])


# The name the relaxation's API has always used for the family (an alias, documented as Schedule).
TemperatureSchedule = Schedule


@dataclass(frozen=True)
class ExponentialSchedule(Schedule):
    r"""The paper's factor :math:`\max(\text{floor}, e^{-\text{rate}\,s/S})`.

    Parameters
    ----------
    total_steps : int
        S, the number of epochs/steps of the annealing.
    rate : float
        3 in the paper.
    floor : float
        0.05 in the paper (final temperature 0.005·u with T0 = 0.1·u).

    Examples
    --------
    >>> s = ExponentialSchedule(100)
    >>> round(s(0), 3), round(s(50), 3), round(s(100), 3)
    (1.0, 0.223, 0.05)
    """

    total_steps: int
    rate: float = 3.0
    floor: float = 0.05

    def __post_init__(self):
        self._check_fields("rate", "floor")

    def factor(self, progress: float) -> float:  # noqa: D102
        return max(self.floor, math.exp(-self.rate * progress))


@dataclass(frozen=True)
class _StartEndSchedule(Schedule):
    """Shared fields of the schedules that go from ``start`` to ``end`` over ``total_steps``."""

    total_steps: int
    start: float = 1.0
    end: float = 0.05

    def __post_init__(self):
        self._check_fields("start", "end")


@dataclass(frozen=True)
class LinearSchedule(_StartEndSchedule):
    """Linear from ``start`` to ``end`` over ``total_steps``.

    Examples
    --------
    >>> LinearSchedule(4, start=1.0, end=0.2).values()
    array([1. , 0.8, 0.6, 0.4, 0.2])
    """

    def factor(self, progress: float) -> float:  # noqa: D102
        return self.start + (self.end - self.start) * progress


@dataclass(frozen=True)
class CosineSchedule(_StartEndSchedule):
    """Half-cosine from ``start`` to ``end`` over ``total_steps``.

    Examples
    --------
    >>> CosineSchedule(2, start=1.0, end=0.2).values()
    array([1. , 0.6, 0.2])
    """

    def factor(self, progress: float) -> float:  # noqa: D102
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class ConstantSchedule(Schedule):
    """A fixed value (no annealing).

    Examples
    --------
    >>> ConstantSchedule(0.5)(1000)
    0.5
    """

    value: float = 1.0
    total_steps: int = 1

    def __post_init__(self):
        check_positive(self.value, "value")
        check_integer(self.total_steps, "total_steps", minimum=1)

    def factor(self, progress: float) -> float:  # noqa: D102
        return self.value


@dataclass(frozen=True)
class LambdaSchedule(Schedule):
    """Weight λ(step) of a loss term: zero, then a linear warm-up, then constant.

    λ = 0 for ``step < start``; it rises linearly to ``final`` over
    ``warmup`` steps (reaching it at ``start + warmup - 1``); ``final``
    afterwards. Starting a functional term after the MSE has shaped the
    output avoids optimising topology on noise at initialisation.

    Parameters
    ----------
    final : float, >= 0
    warmup : int, >= 0
        Steps of the linear rise (0: jump to ``final`` at ``start``).
    start : int, >= 0
        First step with a non-zero weight.

    Examples
    --------
    >>> s = LambdaSchedule(final=0.1, warmup=2, start=1)
    >>> [s(e) for e in range(5)]
    [0.0, 0.05, 0.1, 0.1, 0.1]
    """

    final: float = 0.0
    warmup: int = 0
    start: int = 0

    def __post_init__(self):
        if isinstance(self.final, bool) or not isinstance(self.final, (int, float, np.integer, np.floating)):
            raise TypeError(f"final must be a number; got {type(self.final).__name__}")
        if not (math.isfinite(self.final) and self.final >= 0):
            raise ValueError(f"final must be a finite number >= 0; got {self.final!r}")
        check_integer(self.warmup, "warmup", minimum=0)
        check_integer(self.start, "start", minimum=0)

    @property
    def total_steps(self) -> int:  # noqa: D102 - the step from which λ stays at ``final``
        return max(1, self.start + self.warmup)

    def at(self, step: int) -> float:  # noqa: D102
        if step < self.start:
            return 0.0
        if self.warmup == 0:
            return float(self.final)
        return float(self.final) * min(1.0, (step - self.start + 1) / self.warmup)
