"""Surrogate checkpoints, in the toolkit's one format (:mod:`mink_toolkit.checkpoint`)."""

from __future__ import annotations

from pathlib import Path

from ..thresholds import check_thresholds
from ..checkpoint import load_checkpoint, save_checkpoint
from .configurations import ConfigurationSurrogate
from .conventional import ConventionalSurrogate
from .models import MinkowskiSurrogate

__all__ = ["ARCHITECTURES", "save_surrogate", "load_surrogate"]

#: Surrogate classes by the ``architecture`` of their configuration (checkpoints without one are additive).
ARCHITECTURES = {"additive": MinkowskiSurrogate, "configurations": ConfigurationSurrogate,
                 "conventional": ConventionalSurrogate}


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


def _upgrade(config: dict) -> dict:
    """Settings of a checkpoint written before the Lipschitz cap had one name, in today's names.

    Such checkpoints switched the caps on with a bool ``lipschitz``; the cap
    was ``local_lipschitz`` in the additive model (whose head cap
    ``head_lipschitz`` is now ``head_norm_cap``) and ``head_lipschitz`` in
    the conventional one (which capped its head with it under
    ``spectral_norm=True`` too). Today both read ``lipschitz_cap`` (None: no
    cap); the same settings build the same network.
    """
    if "lipschitz" not in config:
        return config
    config = dict(config)
    capped = bool(config.pop("lipschitz"))
    local = config.pop("local_lipschitz", None)
    head = config.pop("head_lipschitz", None)
    if config.get("architecture", "additive") == "conventional":
        config["lipschitz_cap"] = head if capped or config.get("spectral_norm") else None
    else:
        config["lipschitz_cap"] = local if capped else None
        if head is not None:
            config["head_norm_cap"] = head
    return config


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
        Checkpoints written with the former names of the cap (``lipschitz``,
        ``local_lipschitz``, ``head_lipschitz``) are read in today's names.

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
    model, stored, _ = load_checkpoint(path, kind="surrogate", build=_build, expect=dict(config or {}),
                                       upgrade=_upgrade)
    if thresholds is not None:
        wanted = check_thresholds(thresholds)
        have = stored["thresholds"]
        if len(have) != len(wanted) or any(abs(a - b) > 1e-9 * abs(b) for a, b in zip(have, wanted)):
            raise ValueError(
                f"thresholds do not match the checkpoint: asked for {wanted.tolist()}, checkpoint has {have} (mm/h)"
            )
    return model
