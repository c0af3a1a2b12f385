r"""Thresholds: the one check, the defaults, the weighting, the tie-free offset.

Every function of the toolkit that takes thresholds (exact, relaxed and
learned functionals, losses, metrics, the command line) checks them here,
once per public call: :func:`check_thresholds` at the boundary, and the
inner, private functions take the checked ``float64`` array. Numpy only;
torch is imported lazily and only where a tensor is asked for
(``threshold_weights(..., like=tensor)``), so the verification package and
the curves engine stay torch-free.

Contents
--------
:func:`check_thresholds`
    Strictly increasing, finite, 1-D; > 0 for rain units.
:data:`DEFAULT_THRESHOLDS`, :func:`offset_from_grid`
    The toolkit's 21 thresholds, off OPERA's 0.01 mm/h quantisation grid.
:func:`threshold_weights`
    The one threshold weighting: trapezoid over :math:`\log u`.
:class:`Quantiles`, :func:`resolve_thresholds`
    Quantile levels made explicit, and the guard against passing levels
    where mm/h were expected (a bug of the published code).

**One threshold weighting.** Integrals over thresholds run over
:math:`\log u`, not :math:`u`: every decade of thresholds weighs the same.
Integrated over :math:`u`, the 10 mm/h end of the default thresholds would
weigh about 100 times the 0.1 mm/h end, and a loss would mostly ask for the
rare intense cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_positive

__all__ = [
    "RAIN_UNITS",
    "OPERA_QUANTUM",
    "DEFAULT_THRESHOLDS",
    "check_thresholds",
    "is_rain_unit",
    "offset_from_grid",
    "threshold_weights",
    "Quantiles",
    "resolve_thresholds",
]

#: Units of rain rate and accumulation: thresholds must be > 0, and quantile
#: levels passed as thresholds are refused.
RAIN_UNITS = ("mm/h", "mm h-1", "mm/hr", "mm hr-1", "mm")

#: Quantisation step of OPERA rain rates and accumulations (mm/h, mm).
OPERA_QUANTUM = 0.01


def _as_numpy(x) -> np.ndarray:
    """ndarray of ``x``; a torch tensor is detached and copied to the CPU (torch is not imported)."""
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def is_rain_unit(units) -> bool:
    """Whether ``units`` names a rain rate or accumulation (:data:`RAIN_UNITS`).

    Examples
    --------
    >>> is_rain_unit("mm/h"), is_rain_unit("dBZ"), is_rain_unit(None)
    (True, False, False)
    """
    return isinstance(units, str) and units.strip() in RAIN_UNITS


def check_thresholds(thresholds, name: str = "thresholds", *, units: str | None = None) -> np.ndarray:
    """Return ``thresholds`` as a strictly increasing, finite 1-D float64 array.

    The one boundary check of thresholds. A scalar becomes one threshold; a
    torch tensor is detached and copied (its values, float32 rounding
    included, are kept).

    Parameters
    ----------
    thresholds : float, 1-D array_like or tensor
    name : str
        Argument name for the messages, as the caller wrote it (e.g.
        ``"--thresholds"`` on the command line).
    units : str, optional
        Units of the field. For rain units (:data:`RAIN_UNITS`) every
        threshold must be > 0: rain is never negative, so a threshold at or
        below 0 selects the whole coverage. Other units (dBZ) take any
        finite value.

    Returns
    -------
    ndarray, float64, shape (n,)

    Raises
    ------
    TypeError
        Not real numbers (bool, complex, strings).
    ValueError
        Empty, not 1-D, NaN or ±inf, not strictly increasing, or <= 0 for
        rain units; the message names ``name`` and the values.

    Examples
    --------
    >>> check_thresholds([0.1, 1.0])
    array([0.1, 1. ])
    >>> check_thresholds([0.5, float("inf")])
    Traceback (most recent call last):
    ...
    ValueError: thresholds must be finite; got [0.5, inf]
    >>> check_thresholds([-1.0, 0.5], units="mm/h")
    Traceback (most recent call last):
    ...
    ValueError: thresholds must be > 0 for a field in mm/h (rain is never negative); got [-1.0, 0.5]
    """
    arr = _as_numpy(thresholds)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"{name} must be real numbers; got dtype {arr.dtype}")
    arr = np.atleast_1d(arr).astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a scalar or a 1-D sequence; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must contain at least one threshold")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; got {arr.tolist()}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite; got {arr.tolist()}")
    if arr.size > 1 and not np.all(np.diff(arr) > 0):
        raise ValueError(f"{name} must be strictly increasing; got {arr.tolist()}")
    if is_rain_unit(units) and arr[0] <= 0:
        raise ValueError(f"{name} must be > 0 for a field in {units.strip()} (rain is never negative); "
                         f"got {arr.tolist()}")
    return arr


# --------------------------------------------------------------------------
# Thresholds off the data's quantisation grid, and the defaults
# --------------------------------------------------------------------------


def offset_from_grid(thresholds, quantum: float = OPERA_QUANTUM) -> np.ndarray:
    r"""Move thresholds to the middle between two quantisation levels.

    OPERA rain rates are multiples of 0.01 mm/h. A pixel exactly at a
    threshold u is in the exact set :math:`\{x \ge u\}` but gets membership
    0.5 at every temperature in the relaxation (a tie), so relaxed
    functionals never converge to the exact ones at thresholds on the grid.
    Thresholds at ``round(u / q) * q + q / 2`` have no ties with the data.

    Parameters
    ----------
    thresholds : 1-D array_like, strictly increasing
    quantum : float, > 0
        Quantisation step of the data.

    Returns
    -------
    ndarray
        Thresholds half a quantum above the nearest grid value.

    Raises
    ------
    ValueError
        If two thresholds collapse onto the same value.

    Examples
    --------
    >>> offset_from_grid([0.1, 0.126, 1.0])
    array([0.105, 0.135, 1.005])
    """
    u = check_thresholds(thresholds)
    quantum = check_positive(quantum, "quantum")
    moved = np.round(u / quantum) * quantum + quantum / 2
    return check_thresholds(moved, "thresholds (moved off the quantisation grid)")


#: The toolkit's default thresholds (mm/h): 21 log-spaced values from 0.1 to 10 mm/h
#: (10 per decade), each moved half a quantisation step (0.005 mm/h) above OPERA's
#: 0.01 mm/h grid by :func:`offset_from_grid` (0.105, 0.135, …, 10.005), so that no
#: pixel ever sits exactly at a threshold and the relaxed functionals converge to the
#: exact ones on real data. Shared by the relaxation, the surrogate, the metrics and
#: the experiments.
DEFAULT_THRESHOLDS = offset_from_grid(np.geomspace(0.1, 10.0, 21))


# --------------------------------------------------------------------------
# The one threshold weighting
# --------------------------------------------------------------------------


def threshold_weights(thresholds, *, normalise: bool = False, like=None):
    r"""Trapezoid weights of the threshold integral over :math:`\log u`.

    :math:`\int g(u)\,d\log u \approx \sum_k w_k\, g(u_k)` with
    :math:`w_k = (\log u_{k+1} - \log u_{k-1}) / 2` inside and half a step
    at the ends (natural log). The one weighting of the toolkit: the loss
    terms (:func:`~mink_toolkit.losses.functional_distance`, hence
    :class:`~mink_toolkit.losses.MinkowskiLoss` and
    :class:`~mink_toolkit.losses.SurrogateTerm`) and the MF-error metric
    (:func:`mink_toolkit.verification.minkowski_error`, with ``normalise=True``).

    Parameters
    ----------
    thresholds : 1-D array_like or tensor, strictly increasing, > 0
        Thresholds (mm/h).
    normalise : bool
        Divide by :math:`\log(u_{max}/u_{min})`, so the weights sum to 1
        (a weighted mean over thresholds).
    like : torch.Tensor, optional
        Return a tensor of its dtype and device; default: float64 ndarray.

    Returns
    -------
    ndarray or torch.Tensor, shape (n,)
        A single threshold gets weight 1.

    Raises
    ------
    ValueError
        Non-positive, non-finite or non-increasing thresholds.

    Examples
    --------
    >>> threshold_weights([0.1, 1.0, 10.0]).round(4).tolist()
    [1.1513, 2.3026, 1.1513]
    >>> threshold_weights([0.1, 1.0, 10.0], normalise=True).round(12).tolist()
    [0.25, 0.5, 0.25]
    """
    u = check_thresholds(thresholds)
    if u[0] <= 0:
        raise ValueError(f"thresholds must be finite and > 0 (mm/h) to integrate over log u; got {u.tolist()}")
    return _threshold_weights(u, normalise=normalise, like=like)


def _threshold_weights(u: np.ndarray, *, normalise: bool = False, like=None):
    """:func:`threshold_weights` of checked thresholds (float64, increasing, > 0)."""
    w = _trapezoid_weights(np.log(u))
    if normalise and u.size > 1:
        w = w / np.log(u[-1] / u[0])
    if like is not None:
        import torch  # only here: a tensor was asked for

        return torch.as_tensor(w, dtype=like.dtype, device=like.device)
    return w


def _trapezoid_weights(x: np.ndarray) -> np.ndarray:
    """Weights w with sum_k w_k g_k = trapezoid(g, x); a single point gets 1."""
    if x.size == 1:
        return np.ones(1)
    dx = np.diff(x)
    w = np.zeros_like(x)
    w[:-1] += dx / 2
    w[1:] += dx / 2
    return w


# --------------------------------------------------------------------------
# Physical values, or explicit quantiles
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantiles:
    """Quantile levels, to be resolved into physical thresholds explicitly.

    The published super-resolution code passed quantile levels (0.01…0.99)
    where thresholds in mm/h were expected. Wrapping levels in
    ``Quantiles`` says which one is meant; :meth:`resolve` turns them into
    thresholds of a reference sample.

    Parameters
    ----------
    levels : sequence of float in [0, 1], strictly increasing
    min_value : float, optional
        Use only reference values strictly above this (e.g. 0 for wet
        pixels: quantiles of a mostly dry field are otherwise all 0).

    Examples
    --------
    >>> import numpy as np
    >>> Quantiles([0.25, 0.5, 0.75]).resolve(np.arange(1.0, 10.0))
    array([3., 5., 7.])
    """

    levels: tuple
    min_value: float | None = None

    def __post_init__(self):
        levels = check_thresholds(self.levels, "levels")
        if levels[0] < 0 or levels[-1] > 1:
            raise ValueError(f"levels must lie in [0, 1]; got {levels.tolist()}")
        object.__setattr__(self, "levels", tuple(levels.tolist()))

    def resolve(self, reference) -> np.ndarray:
        """Physical thresholds: the quantiles of the finite values of ``reference``.

        Parameters
        ----------
        reference : array_like, tensor or xarray.DataArray
            Sample of the field (e.g. the training targets), in mm/h.

        Returns
        -------
        ndarray, shape (len(levels),), strictly increasing

        Raises
        ------
        ValueError
            If no values remain, or two levels give the same threshold (ties,
            e.g. many dry pixels or quantised values).
        """
        values = _as_numpy(reference).ravel().astype(np.float64)
        values = values[np.isfinite(values)]
        if self.min_value is not None:
            values = values[values > self.min_value]
        if values.size == 0:
            raise ValueError("reference has no finite values (above min_value) to take quantiles of")
        u = np.quantile(values, self.levels)
        if u.size > 1 and not np.all(np.diff(u) > 0):
            raise ValueError(
                f"quantile levels {list(self.levels)} give repeated thresholds {u.tolist()} "
                "(ties in the reference, e.g. dry pixels); use fewer levels or min_value=0"
            )
        return u


def _units_of(reference, units):
    if units is None:  # the caller switched the check off
        return None
    attrs = getattr(reference, "attrs", None)
    if isinstance(attrs, dict) and attrs.get("units"):
        return attrs["units"]
    return units


def resolve_thresholds(thresholds, reference=None, *, units: str | None = "mm/h") -> np.ndarray:
    """Physical thresholds from numbers or :class:`Quantiles`, guarded against quantile levels.

    Parameters
    ----------
    thresholds : 1-D array_like, tensor or Quantiles
        Thresholds in the field's units, or quantile levels wrapped in
        :class:`Quantiles` (resolved against ``reference``).
    reference : array_like, tensor or xarray.DataArray, optional
        Sample to resolve quantiles against; its ``units`` attribute, if
        any, overrides ``units`` (unless ``units`` is None).
    units : str or None
        Units of the field. For rain units (mm/h, mm) thresholds must be
        > 0, and thresholds that look like quantile levels — at least two,
        all in (0, 1) and the largest >= 0.9, like the 0.01…0.99 of the
        published code — raise ``ValueError``. ``None`` skips both checks.

    Returns
    -------
    ndarray, float64, strictly increasing

    Examples
    --------
    >>> resolve_thresholds([0.1, 1.0, 10.0])
    array([ 0.1,  1. , 10. ])
    >>> resolve_thresholds([0.01, 0.5, 0.99])
    Traceback (most recent call last):
    ...
    ValueError: thresholds look like quantile levels (all in (0, 1), up to 0.99) ...
    """
    if isinstance(thresholds, Quantiles):
        if reference is None:
            raise ValueError("thresholds=Quantiles(...) needs a reference sample to resolve against")
        return thresholds.resolve(reference)
    units = _units_of(reference, units)
    u = check_thresholds(thresholds, units=units)
    if is_rain_unit(units) and _look_like_levels(u):
        raise ValueError(
            f"thresholds look like quantile levels (all in (0, 1), up to {u.max():.3g}) but the field is "
            f"in {units}: the published code passed quantile levels 0.01…0.99 where mm/h thresholds were "
            "expected. Pass physical thresholds, Quantiles(levels) to mean quantiles of a reference sample, "
            "or units=None to skip this check."
        )
    return u


def _look_like_levels(u: np.ndarray) -> bool:
    return u.size >= 2 and bool(np.all((u > 0) & (u < 1))) and u.max() >= 0.9
