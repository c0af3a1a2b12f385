r"""Pixel-wise data losses of the super-resolution networks, in ``log1p`` space.

Rain rates span four decades; comparing ``log1p`` of the fields keeps the
few intense pixels from dominating and matches the network's output space.
"""

from __future__ import annotations

import torch

__all__ = ["log_mse", "log_l1", "DATA_LOSSES"]


def _log1p_difference(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``log1p(pred) - log1p(target)``, the residual both losses score, after checking the shapes agree."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return torch.log1p(pred) - torch.log1p(target)


def log_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error in ``log1p`` space, :math:`\langle(\log(1+\hat x) - \log(1+x))^2\rangle`.

    Rain rates span four decades; the log keeps the few intense pixels from
    dominating and matches the network's output space.

    Examples
    --------
    >>> import math, torch
    >>> float(log_mse(torch.zeros(2, 2), torch.full((2, 2), math.e - 1)))
    1.0
    """
    return _log1p_difference(pred, target).pow(2).mean()


def log_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean absolute error in ``log1p`` space, :math:`\langle|\log(1+\hat x) - \log(1+x)|\rangle`.

    Its minimiser is the conditional *median* of ``log1p(x)`` (hence of
    ``x``); an alternative to :func:`log_mse` (the default), which scored
    about the same on the validation hours.

    Examples
    --------
    >>> import math, torch
    >>> float(log_l1(torch.zeros(2, 2), torch.full((2, 2), math.e - 1)))
    1.0
    """
    return _log1p_difference(pred, target).abs().mean()


#: Data losses of deterministic models, by name (generators use
#: :func:`~mink_toolkit.losses.fair_crps_loss`).
DATA_LOSSES = {"log_mse": log_mse, "log_l1": log_l1}
