r"""Geometric scores: errors of the exact Minkowski functionals.

:func:`minkowski_errors` gives the errors per threshold (in the loss space
of :func:`~mink_toolkit.functionals.compress_functionals`),
:func:`minkowski_error` their mean over log u with the toolkit's one
threshold weighting (:func:`mink_toolkit.thresholds.threshold_weights`).
"""

from __future__ import annotations

import numpy as np

from ..functionals import (
    DEFAULT_CONNECTIVITY,
    DEFAULT_PERIMETER,
    FUNCTIONAL_NAMES,
    _minkowski_functionals,
    compress_functionals,
)
from ..thresholds import DEFAULT_THRESHOLDS, _threshold_weights, check_thresholds
from ._common import _pair, _stack

__all__ = [
    "minkowski_errors",
    "minkowski_error",
]


def minkowski_errors(pred, target, thresholds, *, connectivity: int = DEFAULT_CONNECTIVITY,
                     perimeter: str = DEFAULT_PERIMETER) -> np.ndarray:
    """Exact Minkowski-functional errors per threshold.

    Mean over samples of ``|f(MF(pred)) - f(MF(target))|`` with ``MF`` the
    exact :func:`~mink_toolkit.minkowski_functionals` and ``f`` the loss
    space of :func:`~mink_toolkit.losses.functional_distance` (log1p for
    area and perimeter, signed log1p for χ), so the numbers are comparable
    with the loss.

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h).
    thresholds : 1-D array_like
        Strictly increasing thresholds in mm/h.
    connectivity, perimeter
        As in :func:`~mink_toolkit.minkowski_functionals`.

    Returns
    -------
    ndarray, shape (len(thresholds), 3)
        Columns area, perimeter, Euler characteristic.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 8, 8)); x[0, 2:5, 2:5] = 3.0
    >>> minkowski_errors(x, x, [1.0, 2.0]).tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    p, t = _pair(pred, target)
    return _errors(p, t, check_thresholds(thresholds), connectivity, perimeter)


def _errors(p: np.ndarray, t: np.ndarray, u: np.ndarray, connectivity, perimeter) -> np.ndarray:
    """:func:`minkowski_errors` of a checked pair and checked thresholds."""
    mp = _minkowski_functionals(_stack(p), u, connectivity=connectivity, perimeter=perimeter, pixel_size=1.0)
    mt = _minkowski_functionals(_stack(t), u, connectivity=connectivity, perimeter=perimeter, pixel_size=1.0)
    return np.abs(compress_functionals(mp) - compress_functionals(mt)).mean(axis=0)


def minkowski_error(pred, target, thresholds=DEFAULT_THRESHOLDS, *, connectivity: int = DEFAULT_CONNECTIVITY,
                    perimeter: str = DEFAULT_PERIMETER) -> dict:
    r"""The MF error: :func:`minkowski_errors` averaged over log u, per functional and overall.

    The thresholds are weighted with the toolkit's one weighting,
    :func:`mink_toolkit.thresholds.threshold_weights` (trapezoid over
    :math:`\log u`, normalised to sum to 1), the weighting of the loss
    terms: each decade of thresholds counts the same. The value is the
    :func:`~mink_toolkit.losses.functional_distance` between the exact
    functionals, averaged over samples, divided by :math:`\log(u_{max}/u_{min})`
    (and by 3 for ``"mean"``).

    Parameters
    ----------
    pred, target : array_like, shape (..., H, W)
        Rain rates (mm/h).
    thresholds : 1-D array_like, > 0, increasing
        Thresholds (mm/h); default :data:`~mink_toolkit.DEFAULT_THRESHOLDS`.
    connectivity, perimeter
        As in :func:`~mink_toolkit.minkowski_functionals`.

    Returns
    -------
    dict
        ``area``, ``perimeter``, ``euler_characteristic`` and ``mean`` (of
        the three), floats.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 8, 8)); x[0, 2:5, 2:5] = 3.0
    >>> minkowski_error(x, x, [1.0, 2.0])["mean"]
    0.0
    """
    p, t = _pair(pred, target)
    u = check_thresholds(thresholds)
    if u[0] <= 0:
        raise ValueError(f"thresholds must be finite and > 0 (mm/h) to integrate over log u; got {u.tolist()}")
    errors = _errors(p, t, u, connectivity, perimeter)
    return _mean_over_log_u(errors, u)


def _mean_over_log_u(errors: np.ndarray, u: np.ndarray) -> dict:
    """Per-functional means of ``errors`` (n, 3) over log u, and their ``mean``; ``u`` checked and > 0."""
    w = _threshold_weights(u, normalise=True)
    per = {name: float(w @ errors[:, i]) for i, name in enumerate(FUNCTIONAL_NAMES)}
    return {**per, "mean": float(np.mean(list(per.values())))}
