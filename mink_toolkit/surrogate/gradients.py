"""Input gradients of the surrogate's loss: what a network trained through it is told."""

from __future__ import annotations

import numpy as np
import torch

from .loss import surrogate_loss

__all__ = ["gradient_maps"]


def gradient_maps(model, rain: np.ndarray, target: np.ndarray, thresholds) -> np.ndarray:
    """Input gradients of the loss a user would differentiate.

    :math:`\\nabla_x d(f(x), f_{\\mathrm{exact}}(x))` with ``d`` =
    :func:`mink_toolkit.losses.functional_distance` over log-thresholds (the
    training loss without β0), ``x`` in mm/h.

    Parameters
    ----------
    model : MinkowskiSurrogate
    rain : ndarray, shape (N, H, W), mm/h
    target : ndarray, shape (N, n, 3), exact functionals
    thresholds : 1-D array_like, mm/h

    Returns
    -------
    ndarray, shape (N, H, W), per mm/h
    """
    x = torch.as_tensor(np.ascontiguousarray(rain), dtype=torch.float32)[:, None].requires_grad_(True)
    pred, comps = model(x, return_components=True)
    loss = surrogate_loss(pred, torch.as_tensor(target), comps, comps.detach(), thresholds,
                          components_weight=0.0)
    (grad,) = torch.autograd.grad(loss * len(rain), x)  # sum over fields: each map is its own
    return grad[:, 0].numpy().astype(np.float64)
