"""Surrogate checkpoints, in the toolkit's one format (:mod:`mink_toolkit.checkpoint`)."""

from __future__ import annotations

from pathlib import Path

from ..thresholds import check_thresholds
from ..checkpoint import load_checkpoint, save_checkpoint
from .models import ARCHITECTURES, ConventionalSurrogate, MinkowskiSurrogate

__all__ = ["save_surrogate", "load_surrogate"]


def save_surrogate(model: MinkowskiSurrogate | ConventionalSurrogate, path, *, metadata: dict | None = None) -> Path:
    """Write weights and configuration to ``path`` (:func:`mink_toolkit.checkpoint.save_checkpoint`).

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
    path : str or Path
    metadata : dict, optional
        JSON-like extra information (training history, data settings).

    Returns
    -------
    Path
    """
    return save_checkpoint(model, path, kind="surrogate", metadata=metadata)


def _build(config: dict):
    architecture = config.pop("architecture", "additive")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](**config)


def load_surrogate(path, *, thresholds=None, config: dict | None = None) -> MinkowskiSurrogate | ConventionalSurrogate:
    """Load a checkpoint written by :func:`save_surrogate`, validating it.

    Parameters
    ----------
    path : str or Path
    thresholds : 1-D array_like, optional
        If given, must equal the checkpoint's thresholds (mm/h).
    config : dict, optional
        Expected settings (any subset of :meth:`MinkowskiSurrogate.config`
        or :meth:`ConventionalSurrogate.config`, ``architecture`` included:
        "additive" or "conventional"); each must match the checkpoint's.

    Returns
    -------
    MinkowskiSurrogate or ConventionalSurrogate
        As stored, in eval mode.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a readable surrogate checkpoint (corrupt, other format, kind or
        version), thresholds or settings that differ (the message names
        them), weights that do not fit the configuration.
    """
    model, stored, _ = load_checkpoint(path, kind="surrogate", build=_build, expect=dict(config or {}))
    if thresholds is not None:
        wanted = check_thresholds(thresholds)
        have = stored["thresholds"]
        if len(have) != len(wanted) or any(abs(a - b) > 1e-9 * abs(b) for a, b in zip(have, wanted)):
            raise ValueError(
                f"thresholds do not match the checkpoint: asked for {wanted.tolist()}, checkpoint has {have} (mm/h)"
            )
    return model
