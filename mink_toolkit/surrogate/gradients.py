r"""Input gradients of a functional loss: what a network trained through it is told.

A loss built on the functionals tells a network *where* to change its
output through :math:`\nabla_x d(f(x), f^\star)`. :func:`gradient_maps`
computes that gradient for any differentiable functional ``f`` (a surrogate,
or the relaxation); :func:`gradient_smoothness` summarises how smooth it is,
with measures that answer whether a Lipschitz bound "smooths the gradient".

A bound on the network also shrinks its gradient, and a smaller gradient
moves less in absolute terms without being any smoother. So the measures
that compare models are **scale-free** (unchanged when the whole gradient
is multiplied by a constant; :data:`SCALE_FREE_MEASURES`):

``high_k_share``
    share of the gradient map's variance above 0.25 cycles/pixel
    (:func:`mink_toolkit.verification.high_wavenumber_share`): how much of the
    signal sits at scales of 1–4 pixels.
``total_variation``
    :math:`\mathrm{mean}|\nabla g| / \mathrm{mean}|g|` (per pixel): how fast
    the map changes from pixel to pixel, relative to its size.
``peak_to_rms``
    :math:`\max|g| / \mathrm{rms}(g)`: spikiness.
``relative_variance``
    :math:`\sum_{\mathrm{pixels}} \mathrm{Var}_i\, g(x'_i) / \sum_{\mathrm{pixels}}
    \mathrm{E}_i\, g(x'_i)^2` over several nearby inputs :math:`x'_i` (below):
    0 when the gradient does not care about the noise, 1 when it is nothing
    but noise.
``gradient_lipschitz_relative``
    :math:`\dfrac{\|g(x') - g(x)\| / \|g(x)\|}{\|x' - x\| / \|x\|}` for a
    nearby input :math:`x' = x\,e^{\sigma\xi}` (1 % multiplicative noise, ξ
    standard normal per pixel; dry pixels stay dry), median over fields:
    the relative change of the gradient per relative change of the input
    (dimensionless). 1 means the gradient moves by as large a fraction as
    the input does.

and two that carry the gradient's units (:data:`SCALE_DEPENDENT_MEASURES`),
kept for its size and for comparison with earlier results:

``gradient_lipschitz``
    :math:`\|g(x') - g(x)\| / \|x' - x\|` for the same nearby input, median
    over fields; per (mm/h)². **Scale-dependent**: a network whose gradient
    is 26× smaller has a 26× smaller ``gradient_lipschitz`` at equal
    smoothness, so it does not compare models whose gradients differ in
    size (use ``gradient_lipschitz_relative``).
``rms``
    :math:`\mathrm{rms}(g)`, per mm/h: the gradient's size.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_integer, check_positive
from ..losses.surrogate import surrogate_loss
from ..verification import high_wavenumber_share

__all__ = [
    "gradient_maps",
    "gradient_smoothness",
    "HIGH_WAVENUMBER_CUTOFF",
    "SCALE_FREE_MEASURES",
    "SCALE_DEPENDENT_MEASURES",
]

#: Gradient maps: variance above this wavenumber (cycles per pixel) counts as "high wavenumber".
HIGH_WAVENUMBER_CUTOFF = 0.25

#: Measures of :func:`gradient_smoothness` unchanged when the gradient is multiplied by a constant.
SCALE_FREE_MEASURES = ("high_k_share", "total_variation", "peak_to_rms", "relative_variance",
                       "gradient_lipschitz_relative")

#: Measures of :func:`gradient_smoothness` in the gradient's units (they grow with its size).
SCALE_DEPENDENT_MEASURES = ("gradient_lipschitz", "rms")


def gradient_maps(model, rain: np.ndarray, target: np.ndarray, thresholds=None) -> np.ndarray:
    r"""Input gradients :math:`\nabla_x d(f(x), f^\star)` of the functional distance.

    ``d`` is the surrogate's training distance (:func:`surrogate_loss`
    without β0: the trapezoid log1p distance over log thresholds), ``f`` the
    model, :math:`f^\star` the target functionals; ``x`` in mm/h.

    Parameters
    ----------
    model : callable
        Maps (B, 1, H, W) mm/h to (B, n, 3) functionals (a surrogate, or
        e.g. a wrapper of :func:`mink_toolkit.soft_minkowski_functionals`).
    rain : ndarray, shape (N, H, W), mm/h
    target : ndarray, shape (N, n, 3)
        Functionals to move towards (e.g. the exact ones of the truth).
    thresholds : 1-D array_like, mm/h, optional
        Default: ``model.thresholds``.

    Returns
    -------
    ndarray, shape (N, H, W), per mm/h
    """
    thresholds = model.thresholds if thresholds is None else thresholds
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.as_tensor(np.ascontiguousarray(rain), dtype=torch.float32, device=device)[:, None].requires_grad_(True)
    pred = model(x)
    zeros = torch.zeros(pred.shape[:-1], dtype=pred.dtype, device=pred.device)
    loss = surrogate_loss(pred, torch.as_tensor(target, dtype=pred.dtype, device=pred.device), zeros, zeros,
                          thresholds, components_weight=0.0)
    (grad,) = torch.autograd.grad(loss * len(rain), x)  # sum over fields: each map is its own
    return grad[:, 0].cpu().numpy().astype(np.float64)


def gradient_smoothness(
    model,
    rain: np.ndarray,
    target: np.ndarray,
    thresholds=None,
    *,
    noise: float = 0.01,
    samples: int = 4,
    seed: int = 0,
) -> dict:
    """Smoothness measures of :func:`gradient_maps` (see the module notes).

    Parameters
    ----------
    model, rain, target, thresholds
        As in :func:`gradient_maps`.
    noise : float
        σ of the multiplicative log-normal perturbation of nearby inputs.
    samples : int
        Nearby inputs per field for ``relative_variance``.
    seed : int

    Returns
    -------
    dict of str to float
        The :data:`SCALE_FREE_MEASURES` (``high_k_share``,
        ``total_variation``, ``peak_to_rms``, ``relative_variance``,
        ``gradient_lipschitz_relative``) and the
        :data:`SCALE_DEPENDENT_MEASURES` (``gradient_lipschitz`` per
        (mm/h)², ``rms`` per mm/h); NaN where a measure is undefined (an
        all-zero gradient, all-dry fields).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from mink_toolkit.surrogate import MinkowskiSurrogate
    >>> model = MinkowskiSurrogate([0.5, 2.0], width=4, depth=2, levels=1)
    >>> rain = np.random.default_rng(0).gamma(0.5, 2.0, (2, 16, 16))
    >>> sorted(gradient_smoothness(model, rain, np.zeros((2, 2, 3)), samples=2))
    ['gradient_lipschitz', 'gradient_lipschitz_relative', 'high_k_share', 'peak_to_rms',
     'relative_variance', 'rms', 'total_variation']
    """
    noise = check_positive(noise, "noise")
    samples = check_integer(samples, "samples", minimum=2)
    rain = np.asarray(rain, dtype=np.float64)
    g = gradient_maps(model, rain, target, thresholds)
    rng = np.random.default_rng(seed)
    nearby = [rain * np.exp(noise * rng.standard_normal(rain.shape)) for _ in range(samples)]
    g_near = np.stack([gradient_maps(model, x, target, thresholds) for x in nearby])  # (samples, N, H, W)
    rms = float(np.sqrt(np.mean(g**2)))
    mean_abs = float(np.mean(np.abs(g)))
    tv = np.mean(np.abs(np.diff(g, axis=-1))) + np.mean(np.abs(np.diff(g, axis=-2)))
    step = np.sqrt(((nearby[0] - rain) ** 2).sum(axis=(-2, -1)))  # per field
    change = np.sqrt(((g_near[0] - g) ** 2).sum(axis=(-2, -1)))
    moved = change[step > 0] / step[step > 0]  # dry fields cannot move
    # The same ratio with both sides relative to their own size: dimensionless, and unchanged when the
    # gradient is multiplied by a constant. A field with a zero gradient has no relative change.
    size_x = np.sqrt((rain**2).sum(axis=(-2, -1)))
    size_g = np.sqrt((g**2).sum(axis=(-2, -1)))
    keep = (step > 0) & (size_g > 0)
    relative = (change[keep] / size_g[keep]) / (step[keep] / size_x[keep])
    second = np.mean(g_near**2, axis=0).sum()
    return {
        "high_k_share": high_wavenumber_share(g, HIGH_WAVENUMBER_CUTOFF),
        "total_variation": float(tv / mean_abs) if mean_abs > 0 else float("nan"),
        "peak_to_rms": float(np.abs(g).max() / rms) if rms > 0 else float("nan"),
        "gradient_lipschitz": float(np.median(moved)) if moved.size else float("nan"),
        "gradient_lipschitz_relative": float(np.median(relative)) if relative.size else float("nan"),
        "relative_variance": float(np.var(g_near, axis=0).sum() / second) if second > 0 else float("nan"),
        "rms": rms,
    }
