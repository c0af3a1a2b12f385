r"""Every training objective of the toolkit: a functional core, thin ``nn.Module`` wrappers.

:mod:`~mink_toolkit.losses.distance`
    :func:`functional_distance`, the one distance between Minkowski
    functionals (trapezoid over log u, log1p space).
:mod:`~mink_toolkit.losses.minkowski`
    The Minkowski image loss: :class:`LossSettings` (the shared settings
    and their defaults, written once), :func:`minkowski_loss`,
    :class:`MinkowskiLoss`, and the gradient diagnostics
    :func:`threshold_gradients`, :func:`gradient_share`.
:mod:`~mink_toolkit.losses.surrogate`
    :func:`surrogate_loss` (the surrogate's training objective) and
    :class:`SurrogateTerm` (a frozen surrogate as a loss term).
:mod:`~mink_toolkit.losses.pixel`
    The super-resolution data losses :func:`log_mse`, :func:`log_l1`.
:mod:`~mink_toolkit.losses.ensemble`
    :func:`fair_crps_loss`, the generator's objective; it wraps the one CRPS
    formula of :func:`mink_toolkit.verification.crps_pixels`.

Thresholds (checking, weighting, quantiles) live in
:mod:`mink_toolkit.thresholds`, below every loss.
"""

from .distance import REDUCTIONS, functional_distance
from .ensemble import fair_crps_loss
from .minkowski import (
    DEFAULT_TEMPERATURE,
    SPACES,
    LossSettings,
    MinkowskiLoss,
    gradient_share,
    minkowski_loss,
    threshold_gradients,
)
from .pixel import DATA_LOSSES, log_l1, log_mse
from .surrogate import SurrogateTerm, surrogate_loss

__all__ = [
    "functional_distance",
    "LossSettings",
    "minkowski_loss",
    "MinkowskiLoss",
    "threshold_gradients",
    "gradient_share",
    "surrogate_loss",
    "SurrogateTerm",
    "log_mse",
    "log_l1",
    "fair_crps_loss",
    "DATA_LOSSES",
    "DEFAULT_TEMPERATURE",
    "REDUCTIONS",
    "SPACES",
]
