r"""Input gradients of a functional loss: what a network trained through it is told.

A loss built on the functionals tells a network *where* to change its
output through :math:`\nabla_x d(f(x), f^\star)`. :func:`gradient_maps`
computes that gradient for any differentiable functional ``f`` (a surrogate,
or the relaxation); :func:`gradient_smoothness` summarises how smooth it is,
with measures that answer whether a Lipschitz bound "smooths the gradient":

``high_k_share``
    share of the gradient map's variance above 0.25 cycles/pixel
    (:func:`mink_toolkit.verification.high_wavenumber_share`): how much of the
    signal sits at scales of 1–4 pixels.
``total_variation``
    :math:`\mathrm{mean}|\nabla g| / \mathrm{mean}|g|` (per pixel): how fast
    the map changes from pixel to pixel, relative to its size.
``peak_to_rms``
    :math:`\max|g| / \mathrm{rms}(g)`: spikiness.
``gradient_lipschitz``
    :math:`\|g(x') - g(x)\| / \|x' - x\|` for nearby inputs :math:`x' = x\,e^{\sigma\xi}`
    (1 % multiplicative noise, ξ standard normal per pixel; dry pixels stay
    dry): how much the gradient itself moves when the input moves a little
    (median over fields; per (mm/h)²).
``relative_variance``
    :math:`\sum_{\mathrm{pixels}} \mathrm{Var}_i\, g(x'_i) / \sum_{\mathrm{pixels}}
    \mathrm{E}_i\, g(x'_i)^2` over several such nearby inputs: 0 when the
    gradient does not care about the noise, 1 when it is nothing but noise.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_integer, check_positive
from ..losses.surrogate import surrogate_loss
from ..verification import high_wavenumber_share

__all__ = ["gradient_maps", "gradient_smoothness", "HIGH_WAVENUMBER_CUTOFF"]

#: Gradient maps: variance above this wavenumber (cycles per pixel) counts as "high wavenumber".
HIGH_WAVENUMBER_CUTOFF = 0.25


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
        ``high_k_share``, ``total_variation``, ``peak_to_rms``,
        ``gradient_lipschitz``, ``relative_variance``, ``rms`` (per mm/h).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from mink_toolkit.surrogate import MinkowskiSurrogate
    >>> model = MinkowskiSurrogate([0.5, 2.0], width=4, depth=2, levels=1)
    >>> rain = np.random.default_rng(0).gamma(0.5, 2.0, (2, 16, 16))
    >>> sorted(gradient_smoothness(model, rain, np.zeros((2, 2, 3)), samples=2))
    ['gradient_lipschitz', 'high_k_share', 'peak_to_rms', 'relative_variance', 'rms', 'total_variation']
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
    step = np.sqrt(((nearby[0] - rain) ** 2).sum(axis=(-2, -1)))
    moved = np.sqrt(((g_near[0] - g) ** 2).sum(axis=(-2, -1)))[step > 0] / step[step > 0]  # dry fields cannot move
    second = np.mean(g_near**2, axis=0).sum()
    return {
        "high_k_share": high_wavenumber_share(g, HIGH_WAVENUMBER_CUTOFF),
        "total_variation": float(tv / mean_abs) if mean_abs > 0 else float("nan"),
        "peak_to_rms": float(np.abs(g).max() / rms) if rms > 0 else float("nan"),
        "gradient_lipschitz": float(np.median(moved)) if moved.size else float("nan"),
        "relative_variance": float(np.var(g_near, axis=0).sum() / second) if second > 0 else float("nan"),
        "rms": rms,
    }
