"""Surrogate checkpoints: weights plus the configuration that rebuilds the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .._validation import check_thresholds
from .models import ARCHITECTURES, ConventionalSurrogate, MinkowskiSurrogate

__all__ = ["save_surrogate", "load_surrogate"]

CHECKPOINT_FORMAT = "mink_toolkit.surrogate"
CHECKPOINT_VERSION = 1


def save_surrogate(model: MinkowskiSurrogate | ConventionalSurrogate, path, *, metadata: dict | None = None) -> Path:
    """Write weights and configuration to ``path`` (a torch file).

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": model.config(),
            "state_dict": model.state_dict(),
            "metadata": metadata or {},
        },
        path,
    )
    return path


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
        As stored (checkpoints without ``architecture`` are additive), in eval mode.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a readable surrogate checkpoint (corrupt, other format or
        version), thresholds or settings that differ (the message names
        them), weights that do not fit the configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no surrogate checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable surrogate checkpoint (corrupt or not a torch file): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a mink_toolkit surrogate checkpoint (format {payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r})")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {payload.get('version')}; this code reads {CHECKPOINT_VERSION}")
    stored = payload.get("config")
    if not isinstance(stored, dict) or "thresholds" not in stored:
        raise ValueError(f"{path} has no model configuration")
    if thresholds is not None:
        wanted = check_thresholds(thresholds)
        have = np.asarray(stored["thresholds"], dtype=np.float64)
        if wanted.shape != have.shape or not np.allclose(wanted, have, rtol=1e-9, atol=0):
            raise ValueError(
                f"thresholds do not match the checkpoint: asked for {wanted.tolist()}, "
                f"checkpoint has {have.tolist()} (mm/h)"
            )
    architecture = stored.get("architecture", "additive")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{path} has unknown architecture {architecture!r}; expected one of {sorted(ARCHITECTURES)}")
    if config is not None:
        for key, value in config.items():
            if key == "architecture":
                if value != architecture:
                    raise ValueError(f"checkpoint setting architecture={architecture!r} differs from the expected {value!r}")
                continue
            if key not in stored:
                raise ValueError(f"unknown surrogate setting {key!r}; the checkpoint has {sorted(stored)}")
            have = stored[key]
            same = (np.shape(have) == np.shape(value) and np.allclose(have, value)
                    if key in ("thresholds", "norm_grid", "channels", "hidden") else have == value)
            if not same:
                raise ValueError(f"checkpoint setting {key}={have!r} differs from the expected {value!r}")
    try:
        settings = {k: v for k, v in stored.items() if k != "architecture"}
        model = ARCHITECTURES[architecture](**settings)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (TypeError, RuntimeError, KeyError) as err:
        raise ValueError(f"{path}: weights do not fit the stored configuration: {err}") from err
    model.eval()
    return model
