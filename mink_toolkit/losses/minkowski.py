r"""The Minkowski image loss: its settings, the function, the module and the gradient diagnostics.

:func:`minkowski_loss` / :class:`MinkowskiLoss` are the Minkowski image
loss (arXiv 2604.11422): relaxed functionals of the prediction
(:func:`~mink_toolkit.relax.soft_minkowski_functionals`, differentiable)
against exact functionals of the target (no gradient), with the fixes the
published code needed: one definition of the functionals for both sides,
physical thresholds guarded against quantile levels
(:class:`~mink_toolkit.thresholds.Quantiles` makes quantiles explicit), and
a per-threshold gradient-share diagnostic.

**One place for each default.** The settings every entry point shares
(weights, loss space, temperature rule, connectivity, perimeter, pixel
size, t-norm, units) are the fields of :class:`LossSettings`, with their
defaults written there only; :func:`minkowski_loss`,
:func:`threshold_gradients`, :func:`gradient_share` and
:class:`MinkowskiLoss` take them as keywords (or a ``settings=`` object).
The defaults are the paper's: :math:`T = \max(0.1\,u, 10^{-3})`.

**Thresholds are checked once per public call**, at the boundary
(:func:`~mink_toolkit.thresholds.resolve_thresholds`); the module checks
its thresholds when it is built and keeps them, ready for the computation,
for every step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .._runtime import check_compile, compiled
from .._validation import check_array_field, check_choice, check_positive, check_weights
from ..functionals import (
    CONNECTIVITIES,
    DEFAULT_CONNECTIVITY,
    DEFAULT_PERIMETER,
    PERIMETERS,
    _minkowski_functionals,
    compress_functionals,
)
from ..relax.paper import PAPER_MIN_TEMPERATURE, PAPER_RELATIVE_TEMPERATURE
from ..relax.soft import _check_field, _functionals_from_membership, _membership, _resolve_temperature
from ..relax.tnorms import TNORMS
from ..schedules import Schedule
from ..thresholds import Quantiles, _as_numpy, _units_of, is_rain_unit, resolve_thresholds
from .distance import REDUCTIONS, _integrate, _weights_like

__all__ = [
    "SPACES",
    "DEFAULT_TEMPERATURE",
    "LossSettings",
    "minkowski_loss",
    "threshold_gradients",
    "gradient_share",
    "MinkowskiLoss",
]

#: Spaces in which the functionals are compared.
SPACES = ("log1p", "linear")
#: Default base temperature: with the default ``relative=True`` the paper's 0.1·u.
DEFAULT_TEMPERATURE = PAPER_RELATIVE_TEMPERATURE


@dataclass(frozen=True)
class LossSettings:
    r"""Settings shared by every entry point of the Minkowski loss, with their defaults.

    Parameters
    ----------
    weights : 3 floats, finite and >= 0
        Weights of area, perimeter, Euler characteristic.
    space : {"log1p", "linear"}
        Compare ``log1p`` of area and perimeter and the signed log1p of χ
        (the paper's), or the functionals themselves.
    relative : bool
        ``T = temperature * u`` (see :func:`~mink_toolkit.relax.resolve_temperature`).
    min_temperature : float or None
        Lower bound on T. With ``relative=True`` and the default temperature
        0.1 this gives the paper's :math:`T = \max(0.1\,u, 10^{-3})`.
    connectivity, perimeter, pixel_size
        As in :func:`~mink_toolkit.minkowski_functionals`, for both sides.
    tnorm : {"product", "godel", "lukasiewicz"}
        Continuous logic of the relaxed functionals.
    units : str or None
        Units of the fields, for the threshold guard of
        :func:`~mink_toolkit.thresholds.resolve_thresholds` (``None`` skips it).

    Examples
    --------
    >>> LossSettings().relative, LossSettings().min_temperature
    (True, 0.001)
    >>> LossSettings(relative=False, min_temperature=None).replace(space="linear").space
    'linear'
    """

    weights: tuple = (1.0, 1.0, 1.0)
    space: str = "log1p"
    relative: bool = True
    min_temperature: float | None = PAPER_MIN_TEMPERATURE
    connectivity: int = DEFAULT_CONNECTIVITY
    perimeter: str = DEFAULT_PERIMETER
    pixel_size: float = 1.0
    tnorm: str = "product"
    units: str | None = "mm/h"

    def __post_init__(self):
        check_choice(self.space, SPACES, "space")
        check_choice(self.tnorm, TNORMS, "tnorm")
        check_choice(self.connectivity, CONNECTIVITIES, "connectivity")
        check_choice(self.perimeter, PERIMETERS, "perimeter")
        if not isinstance(self.relative, bool):
            raise TypeError(f"relative must be True or False; got {self.relative!r}")
        object.__setattr__(self, "pixel_size", check_positive(self.pixel_size, "pixel_size"))
        if self.min_temperature is not None:
            object.__setattr__(self, "min_temperature", check_positive(self.min_temperature, "min_temperature"))
        object.__setattr__(self, "weights", check_weights(self.weights))

    def replace(self, **changes) -> "LossSettings":
        """A copy with ``changes`` (checked as in the constructor)."""
        return dataclasses.replace(self, **changes)


def _settings(settings: LossSettings | None, overrides: dict, where: str) -> LossSettings:
    """``settings`` (default :class:`LossSettings`) with keyword ``overrides``, unknown names refused."""
    if settings is not None and not isinstance(settings, LossSettings):
        raise TypeError(f"settings must be a LossSettings; got {type(settings).__name__}")
    known = {f.name for f in dataclasses.fields(LossSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"{where}() got unexpected keyword argument(s) {unknown}; "
                        f"its settings are {sorted(known)} (see LossSettings)")
    base = LossSettings() if settings is None else settings
    return base.replace(**overrides) if overrides else base


# --------------------------------------------------------------------------
# The computation, on checked inputs
# --------------------------------------------------------------------------


def _check_pair(pred, target, s: LossSettings):
    """The one check of a call's fields. The target's functionals are computed unchecked later, so it is
    checked here: NaN, inf, and negative values where it is rain."""
    pred = _check_field(pred, "pred")
    check_array_field(_as_numpy(target), "target", nonnegative=is_rain_unit(_units_of(target, s.units)))
    if isinstance(target, torch.Tensor):
        if target.shape != pred.shape:
            raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    elif np.shape(target) != tuple(pred.shape):
        raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {np.shape(target)}")
    return pred


def _exact_target(target, u: np.ndarray, s: LossSettings, like: torch.Tensor) -> torch.Tensor:
    """Exact functionals of the target (no gradient), as a tensor like ``like``."""
    values = _minkowski_functionals(_as_numpy(target), u, connectivity=s.connectivity, perimeter=s.perimeter,
                                    pixel_size=s.pixel_size)
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def _distance(soft, exact, wu, weights, reduction, space):
    if space == "log1p":
        diff = (compress_functionals(soft) - compress_functionals(exact)).abs()
    else:
        diff = (soft - exact).abs()
    return _integrate(diff, wu, weights, reduction)


def _thresholds_for_pred(u: np.ndarray, pred: torch.Tensor):
    """Thresholds and their integration weights in the working dtype and device of ``pred``."""
    u_t = torch.as_tensor(u, dtype=pred.dtype, device=pred.device)
    return u_t, _weights_like(u_t, pred)


def _loss_core(pred, exact, u_t, wu, t, connectivity, perimeter, pixel_size, tnorm, weights, reduction, space):
    """Relaxed functionals of ``pred`` against the ``exact`` ones: the pure-tensor core ``compile=True`` compiles."""
    soft = _functionals_from_membership(_membership(pred, u_t, t), connectivity, perimeter, pixel_size, tnorm,
                                        "fused")
    return _distance(soft, exact, wu, weights, reduction, space)


def _loss(pred, target, u, u_t, wu, t, s: LossSettings, reduction: str, compile: bool = False) -> torch.Tensor:
    """The loss of checked inputs: thresholds ``u`` (float64) and ``u_t`` (working dtype), weights ``wu``, T ``t``.

    The target's exact functionals are computed here, outside the compiled
    core (they are numpy, on the CPU, and carry no gradient).
    """
    exact = _exact_target(target, u, s, pred)
    options = (s.connectivity, s.perimeter, s.pixel_size, s.tnorm, s.weights, reduction, s.space)
    if compile:
        return compiled(_loss_core, *options)(pred, exact, u_t, wu, t)
    return _loss_core(pred, exact, u_t, wu, t, *options)


def _threshold_gradients(pred, target, u, u_t, wu, t, s: LossSettings) -> torch.Tensor:
    """:func:`threshold_gradients` of checked inputs (as :func:`_loss`)."""
    exact = _exact_target(target, u, s, pred)
    copies = pred.detach().unsqueeze(-3).expand(*pred.shape[:-2], u.size, *pred.shape[-2:]).clone()
    copies.requires_grad_(True)
    p = torch.sigmoid((copies - u_t[:, None, None]) / t.detach()[:, None, None])
    soft = _functionals_from_membership(p, s.connectivity, s.perimeter, s.pixel_size, s.tnorm, "fused")
    loss = _distance(soft, exact, wu, s.weights, "mean", s.space)
    (grad,) = torch.autograd.grad(loss, copies)
    return grad


def _share(grad: torch.Tensor) -> torch.Tensor:
    n = grad.shape[-3]
    mass = grad.abs().transpose(-3, 0).reshape(n, -1).sum(-1)
    total = mass.sum()
    return mass / total if total > 0 else torch.zeros_like(mass)


def _setup(pred, target, thresholds, temperature, s: LossSettings):
    """Check a public call's inputs once; the checked thresholds, weights and temperatures."""
    pred = _check_pair(pred, target, s)
    u = resolve_thresholds(thresholds, target, units=s.units)
    t = _resolve_temperature(u, temperature, relative=s.relative, min_temperature=s.min_temperature,
                             dtype=pred.dtype, device=pred.device)
    u_t, wu = _thresholds_for_pred(u, pred)
    return pred, u, u_t, wu, t


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def minkowski_loss(
    pred: torch.Tensor,
    target,
    thresholds,
    temperature=DEFAULT_TEMPERATURE,
    *,
    reduction: str = "mean",
    settings: LossSettings | None = None,
    compile: bool = False,
    **overrides,
) -> torch.Tensor:
    r"""The Minkowski image loss: relaxed functionals of ``pred`` vs exact ones of ``target``.

    .. math::
        L = \sum_j w_j \int |f_j(\tilde M_j(\mathrm{pred}, u; T)) - f_j(M_j(\mathrm{target}, u))|\,d\log u

    with :math:`\tilde M` from
    :func:`~mink_toolkit.relax.soft_minkowski_functionals`, :math:`M` from
    :func:`~mink_toolkit.minkowski_functionals` (the same estimators, so
    the loss of ``pred = target`` tends to 0 as T → 0 for thresholds off
    the data's values), ``f = log1p`` for area and perimeter and signed log1p for χ
    (``space="log1p"``, the paper's) or the identity (``space="linear"``),
    integrated by the trapezoid rule over :math:`\log u`
    (:func:`~mink_toolkit.thresholds.threshold_weights`, the toolkit's one
    threshold weighting).

    Parameters
    ----------
    pred : torch.Tensor, shape (..., H, W), float, finite
        Predicted rain rate (mm/h); gradients flow into it.
    target : torch.Tensor or ndarray, same shape
        Target rain rate (mm/h); no gradient, NaN raises.
    thresholds : 1-D array_like (n,) or Quantiles
        Physical thresholds (mm/h); see
        :func:`~mink_toolkit.thresholds.resolve_thresholds` for the guard
        against quantile levels. Quantiles resolve against ``target``.
    temperature : float or tensor () or (n,)
        See :func:`~mink_toolkit.relax.resolve_temperature`; with the
        default settings (``relative=True, min_temperature=1e-3``) the
        default 0.1 is the paper's :math:`\max(0.1\,u, 10^{-3})`.
    reduction : {"mean", "sum", "none"}
        Over the leading (batch) dims.
    settings : LossSettings, optional
        The shared settings (default ``LossSettings()``).
    compile : bool
        Compute the relaxed functionals and the distance compiled (see
        :func:`~mink_toolkit.relax.soft_minkowski_functionals`): checks and
        the target's exact functionals stay eager, the core is compiled
        once per configuration and shape, its code cached in the toolkit's
        cache folder. Agrees with the eager loss to float32 rounding.
    **overrides
        Fields of :class:`LossSettings` (``weights``, ``space``,
        ``relative``, ``min_temperature``, ``connectivity``, ``perimeter``,
        ``pixel_size``, ``tnorm``, ``units``), replacing those of ``settings``.

    Returns
    -------
    torch.Tensor
        Scalar, or the leading dims for ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> target = torch.zeros(8, 8); target[2:6, 2:6] = 3.0
    >>> pred = torch.full((8, 8), 1.0, requires_grad=True)
    >>> loss = minkowski_loss(pred, target, [0.5, 2.0], 0.1, min_temperature=None)
    >>> loss.backward(); bool(pred.grad.abs().sum() > 0)
    True
    """
    s = _settings(settings, overrides, "minkowski_loss")
    check_choice(reduction, REDUCTIONS, "reduction")
    check_compile(compile)
    pred, u, u_t, wu, t = _setup(pred, target, thresholds, temperature, s)
    return _loss(pred, target, u, u_t, wu, t, s, reduction, compile)


def threshold_gradients(
    pred: torch.Tensor,
    target,
    thresholds,
    temperature=DEFAULT_TEMPERATURE,
    *,
    settings: LossSettings | None = None,
    **overrides,
) -> torch.Tensor:
    r"""The gradient of the loss with respect to ``pred``, split by threshold.

    Threshold k sees the field only through its own memberships, so the
    gradient of :func:`minkowski_loss` (``reduction="mean"``) is a sum
    :math:`\nabla L = \sum_k g_k`; this returns the :math:`g_k`, computed in
    one backward pass on one copy of the field per threshold.

    Parameters
    ----------
    pred, target, thresholds, temperature, settings, **overrides
        As :func:`minkowski_loss`.

    Returns
    -------
    torch.Tensor, shape (..., n, H, W)
        ``result.sum(-3)`` is the gradient of the loss.
    """
    s = _settings(settings, overrides, "threshold_gradients")
    pred, u, u_t, wu, t = _setup(pred, target, thresholds, temperature, s)
    return _threshold_gradients(pred, target, u, u_t, wu, t, s)


def gradient_share(
    pred: torch.Tensor,
    target,
    thresholds,
    temperature=DEFAULT_TEMPERATURE,
    *,
    settings: LossSettings | None = None,
    **overrides,
) -> torch.Tensor:
    r"""Share of the loss gradient that flows through each threshold.

    :math:`\|g_k\|_1 / \sum_j \|g_j\|_1` with :math:`g_k` from
    :func:`threshold_gradients`. The published work found 83 % of the
    gradient at thresholds <= 0.28 mm/h: the low thresholds, with large wet
    areas and small temperatures, dominate training.

    Parameters
    ----------
    pred, target, thresholds, temperature, settings, **overrides
        As :func:`threshold_gradients`.

    Returns
    -------
    torch.Tensor, shape (n,)
        Non-negative shares summing to 1 (all zero if the gradient vanishes).

    Examples
    --------
    >>> import torch
    >>> target = torch.zeros(8, 8); target[2:6, 2:6] = 3.0
    >>> share = gradient_share(torch.ones(8, 8), target, [0.5, 2.0], 0.1, min_temperature=None)
    >>> share.shape, round(float(share.sum()), 6)
    (torch.Size([2]), 1.0)
    """
    s = _settings(settings, overrides, "gradient_share")
    pred, u, u_t, wu, t = _setup(pred, target, thresholds, temperature, s)
    return _share(_threshold_gradients(pred, target, u, u_t, wu, t, s))


class MinkowskiLoss(nn.Module):
    r"""The Minkowski image loss as a module with thresholds, schedule and weights.

    Its defaults are those of :func:`minkowski_loss` (:class:`LossSettings`).

    Parameters
    ----------
    thresholds : 1-D array_like (n,) or Quantiles
        Physical thresholds (mm/h) (guarded, see
        :func:`~mink_toolkit.thresholds.resolve_thresholds`), checked once
        here; ``Quantiles`` resolve against ``reference`` once, or against
        each target if no reference is given.
    temperature : float or tensor
        Base temperature; with the default settings ``relative=True,
        min_temperature=1e-3`` this is the paper's :math:`\max(0.1\,u, 10^{-3})`.
    schedule : Schedule, optional
        Factor on the base temperature at ``step`` (e.g.
        :class:`~mink_toolkit.schedules.ExponentialSchedule`, the paper's).
        The current step is ``self.step`` (set it, or pass ``step=``).
    reduction : {"mean", "sum", "none"}
    reference : array_like, optional
        Sample to resolve ``Quantiles`` against.
    compile : bool
        Compute the loss compiled (see :func:`minkowski_loss`); kept as
        ``self.compiled``. The compiled core is made at the first step and
        reused at every later one (the temperature schedule changes only a
        tensor, not the graph).
    settings, **overrides
        As in :func:`minkowski_loss`; kept as ``self.settings``.

    Examples
    --------
    >>> import torch
    >>> from mink_toolkit.schedules import ExponentialSchedule
    >>> loss_fn = MinkowskiLoss([0.5, 2.0], schedule=ExponentialSchedule(10))
    >>> target = torch.zeros(1, 8, 8); target[:, 2:6, 2:6] = 3.0
    >>> pred = torch.ones(1, 8, 8, requires_grad=True)
    >>> loss_fn.step = 10
    >>> loss_fn(pred, target).backward()
    >>> [round(t, 6) for t in loss_fn.temperature_at().tolist()]
    [0.0025, 0.01]
    """

    def __init__(
        self,
        thresholds,
        temperature=DEFAULT_TEMPERATURE,
        *,
        schedule=None,
        reduction: str = "mean",
        reference=None,
        settings: LossSettings | None = None,
        compile: bool = False,
        **overrides,
    ):
        super().__init__()
        self.settings = _settings(settings, overrides, "MinkowskiLoss")
        # Not ``self.compile``: that is nn.Module's method, which would compile the checks too.
        self.compiled = check_compile(compile)
        check_choice(reduction, REDUCTIONS, "reduction")
        if schedule is not None and not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a Schedule (e.g. ExponentialSchedule); got {type(schedule).__name__}")
        self._cache = {}  # (dtype, device) -> thresholds and weights ready for the computation
        self.temperature = temperature
        if isinstance(thresholds, Quantiles) and reference is None:
            self.quantiles = thresholds
            self._u = None
            self.register_buffer("thresholds", None)
        else:
            self.quantiles = None
            self._u = resolve_thresholds(thresholds, reference, units=self.settings.units)
            self.register_buffer("thresholds", torch.as_tensor(self._u, dtype=torch.float64))
            self._base_temperature(self._u)  # refuse a bad temperature now, not at the first step
        self.schedule = schedule
        self.reduction = reduction
        self.step = 0
        self.register_load_state_dict_post_hook(MinkowskiLoss._thresholds_loaded)

    @staticmethod
    def _thresholds_loaded(module, incompatible_keys) -> None:
        # Loaded thresholds replace the checked ones: check them, once, here.
        if module.thresholds is not None:
            module._u = resolve_thresholds(module.thresholds, units=module.settings.units)
            module._cache.clear()

    def _thresholds_for(self, target) -> np.ndarray:
        return self.quantiles.resolve(target) if self._u is None else self._u

    def _prepared(self, u: np.ndarray, pred: torch.Tensor):
        """Thresholds and weights in ``pred``'s dtype and device: computed once for fixed thresholds."""
        if self._u is None:
            return _thresholds_for_pred(u, pred)
        key = (pred.dtype, pred.device)
        if key not in self._cache:
            self._cache[key] = _thresholds_for_pred(u, pred)
        return self._cache[key]

    def _base_temperature(self, u: np.ndarray) -> torch.Tensor:
        s = self.settings
        return _resolve_temperature(u, self.temperature, relative=s.relative, min_temperature=s.min_temperature,
                                    dtype=torch.float64)

    def _temperature(self, u: np.ndarray, step: int | None) -> torch.Tensor:
        step = self.step if step is None else step
        factor = 1.0 if self.schedule is None else self.schedule(step)
        return self._base_temperature(u) * factor

    def temperature_at(self, step: int | None = None, target=None) -> torch.Tensor:
        """Temperatures (n,) at ``step`` (default ``self.step``): schedule factor × base."""
        return self._temperature(self._thresholds_for(target), step)

    def _inputs(self, pred, target, step):
        pred = _check_pair(pred, target, self.settings)
        u = self._thresholds_for(target)
        u_t, wu = self._prepared(u, pred)
        t = self._temperature(u, step).to(dtype=pred.dtype, device=pred.device)
        return pred, u, u_t, wu, t

    def forward(self, pred: torch.Tensor, target, step: int | None = None) -> torch.Tensor:
        """Loss of ``pred`` (..., H, W) against ``target`` at ``step`` (default ``self.step``)."""
        pred, u, u_t, wu, t = self._inputs(pred, target, step)
        return _loss(pred, target, u, u_t, wu, t, self.settings, self.reduction, self.compiled)

    def gradient_share(self, pred: torch.Tensor, target, step: int | None = None) -> torch.Tensor:
        """Per-threshold share of the loss gradient (see :func:`gradient_share`)."""
        pred, u, u_t, wu, t = self._inputs(pred, target, step)
        return _share(_threshold_gradients(pred, target, u, u_t, wu, t, self.settings))
