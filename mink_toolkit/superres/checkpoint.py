"""Super-resolution checkpoints, in the toolkit's one format (:mod:`mink_toolkit.checkpoint`)."""

from __future__ import annotations

from pathlib import Path

from ..checkpoint import load_checkpoint, save_checkpoint
from .models import ResidualUNet

__all__ = ["save_superres_checkpoint", "load_superres_checkpoint"]


def save_superres_checkpoint(path, model: ResidualUNet, *, history: dict | None = None) -> Path:
    """Save weights, constructor config and (optionally) the training history (:mod:`mink_toolkit.checkpoint`)."""
    return save_checkpoint(model, path, kind="superres", metadata={"history": history} if history is not None else None)


def load_superres_checkpoint(path, *, expect: dict | None = None) -> tuple[ResidualUNet, dict | None]:
    """Load a :func:`save_superres_checkpoint` file.

    Parameters
    ----------
    path : path
    expect : dict, optional
        Config entries the checkpoint must have (e.g. ``{"factor": 8}``).

    Returns
    -------
    model, history

    Raises
    ------
    FileNotFoundError, ValueError
        See :func:`mink_toolkit.checkpoint.load_checkpoint`.
    """
    model, _, metadata = load_checkpoint(path, kind="superres", build=lambda config: ResidualUNet(**config),
                                         expect=expect)
    return model, metadata.get("history")
