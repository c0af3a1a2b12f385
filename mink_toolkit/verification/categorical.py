r"""Categorical scores of events ``x >= u``: the contingency table pooled over samples.

Numerators and denominators are summed over every sample before the ratio
is taken, the usual way to aggregate contingency-type scores over many
cases (Roberts & Lean 2008, section 3b).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_finite
from ._common import _pair

__all__ = [
    "critical_success_index",
]


def critical_success_index(pred, target, threshold: float) -> float:
    """Critical success index (threat score) pooled over samples.

    CSI = hits / (hits + misses + false alarms) for events ``x >= threshold``.

    Returns
    -------
    float
        In [0, 1]; NaN when neither field has an event.

    Examples
    --------
    >>> import numpy as np
    >>> critical_success_index(np.array([[2.0, 2.0, 0.0]]), np.array([[2.0, 0.0, 2.0]]), 1.0)
    0.3333333333333333
    """
    p, t = _pair(pred, target)
    check_finite(threshold, "threshold")
    ep, et = p >= threshold, t >= threshold
    hits = np.sum(ep & et)
    denominator = np.sum(ep | et)
    if denominator == 0:
        return float("nan")
    return float(hits / denominator)
