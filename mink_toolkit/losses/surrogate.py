"""Losses of the neural surrogate: the one it is trained with, and the one it becomes for other models.

:func:`surrogate_loss` is the training objective of :func:`~mink_toolkit.surrogate.train_surrogate`;
:class:`SurrogateTerm` wraps a trained, frozen surrogate as a functional loss
term for another network (super-resolution).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .distance import functional_distance

__all__ = ["surrogate_loss", "SurrogateTerm"]


def surrogate_loss(pred, target, pred_components, target_components, thresholds, *, components_weight: float = 0.5,
                   weights=(1.0, 1.0, 1.0)):
    """Training loss: :func:`~mink_toolkit.losses.functional_distance` plus a β0 term.

    The shared trapezoid log1p distance over :math:`\\log u` (the one
    threshold weighting of the toolkit: each decade of thresholds weighs the
    same, as in the Minkowski loss and the MF-error metric); β0 enters through the same distance
    (as the first column, with weights (1, 0, 0)).

    Parameters
    ----------
    pred, target : torch.Tensor, shape (B, n, 3)
    pred_components, target_components : torch.Tensor, shape (B, n)
    thresholds : 1-D array_like, mm/h
    components_weight : float
    weights : 3 floats
        Weights of area, perimeter and χ in the distance (χ, a signed
        difference of counts that nearly cancel, is the hardest to learn).

    Returns
    -------
    torch.Tensor, scalar
    """
    loss = functional_distance(pred, target, thresholds, weights=weights)
    if components_weight:
        zeros = torch.zeros_like(pred_components)
        as_triplet = lambda b0: torch.stack([b0, zeros, zeros], dim=-1)  # noqa: E731
        loss = loss + components_weight * functional_distance(
            as_triplet(pred_components), as_triplet(target_components.to(pred_components.dtype)), thresholds,
            weights=(1.0, 0.0, 0.0),
        )
    return loss


class SurrogateTerm(nn.Module):
    """Functional distance measured by a frozen neural surrogate.

    ``d(surrogate(pred), surrogate(target))`` with the shared
    :func:`~mink_toolkit.losses.functional_distance`. Both sides go through
    the surrogate, so its emulation bias cancels instead of being learnt by
    the super-resolution network. The surrogate receives rain rates in mm/h
    and applies its own input transform (it owns it); its weights are
    frozen (``requires_grad=False``, eval mode), so only the gradient with
    respect to the prediction flows.

    Parameters
    ----------
    surrogate : nn.Module
        Maps (B, 1, H, W) mm/h to (B, n_thresholds, 3); has a
        ``thresholds`` attribute (mm/h).
    weights : 3 floats
    """

    def __init__(self, surrogate: nn.Module, *, weights=(1.0, 1.0, 1.0)):
        super().__init__()
        if not isinstance(surrogate, nn.Module):
            raise TypeError(f"surrogate must be an nn.Module; got {type(surrogate).__name__}")
        thresholds = getattr(surrogate, "thresholds", None)
        if thresholds is None:
            raise ValueError("surrogate has no thresholds attribute (mm/h); cannot integrate over thresholds")
        self.surrogate = surrogate.eval()
        for p in self.surrogate.parameters():
            p.requires_grad_(False)
        self.register_buffer("thresholds", torch.as_tensor(np.asarray(thresholds, dtype=np.float32)))
        self.weights = tuple(float(w) for w in weights)

    def train(self, mode: bool = True):  # the surrogate stays frozen in eval mode
        super().train(mode)
        self.surrogate.eval()
        return self

    def set_progress(self, progress: float) -> None:  # nothing to anneal
        pass

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            reference = self.surrogate(target)
        return functional_distance(self.surrogate(pred), reference, self.thresholds, weights=self.weights)
