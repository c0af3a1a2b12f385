"""The toolkit's one checkpoint format: weights plus the settings that rebuild the model.

Every trained model of the toolkit (surrogates, super-resolution networks) is
saved by :func:`save_checkpoint` as a torch file holding a dict::

    {"format": "mink_toolkit", "version": 1, "kind": "surrogate" | "superres",
     "config": model.config(), "state_dict": ..., "metadata": {...}}

``config()`` returns the keyword arguments of the model's constructor (plus
``architecture`` where a kind has several), so :func:`load_checkpoint`
rebuilds the model and loads its weights with ``strict=True``. Files are
written atomically (:func:`mink_toolkit.io.atomic_write`) and read with
``torch.load(weights_only=True)``, which executes no pickled code. Anything
wrong -- a missing, truncated or foreign file, another kind or version,
settings that differ from what the caller expects, weights that do not fit
the settings -- raises an error that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .io.atomic import atomic_write

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "save_checkpoint", "load_checkpoint", "load_checkpoint_metadata"]

CHECKPOINT_FORMAT = "mink_toolkit"
CHECKPOINT_VERSION = 1


def save_checkpoint(model, path, *, kind: str, metadata: dict | None = None) -> Path:
    """Write ``model``'s weights and ``model.config()`` to ``path`` (atomically).

    Parameters
    ----------
    model : torch.nn.Module with a ``config()`` method
    path : str or Path
        Its folder is created.
    kind : str
        What the model is (``"surrogate"``, ``"superres"``); checked on loading.
    metadata : dict, optional
        JSON-like extra information (training history, data settings).

    Returns
    -------
    Path
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "kind": kind,
        "config": model.config(),
        "state_dict": model.state_dict(),
        "metadata": metadata or {},
    }
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def _same(have, want) -> bool:
    if isinstance(have, (list, tuple)) or isinstance(want, (list, tuple, np.ndarray)):
        try:
            return np.shape(have) == np.shape(want) and bool(np.allclose(have, want, rtol=1e-9, atol=0))
        except TypeError:
            return list(have) == list(want)
    return have == want


def load_checkpoint(
    path,
    *,
    kind: str,
    build: Callable[[dict], object],
    expect: Mapping | None = None,
    upgrade: Callable[[dict], dict] | None = None,
):
    """Read a :func:`save_checkpoint` file and rebuild its model.

    Parameters
    ----------
    path : str or Path
    kind : str
        The kind the caller wants; another kind raises ``ValueError``.
    build : callable
        ``build(config) -> model`` (a fresh, untrained model of those settings).
    expect : mapping, optional
        Settings the checkpoint must have; each is compared with the stored
        ``config`` (numbers and sequences with a relative tolerance of 1e-9).
    upgrade : callable, optional
        ``upgrade(config) -> config``: the stored settings in today's names
        (for checkpoints written before a setting was renamed), applied
        before they are compared and built.

    Returns
    -------
    model, config, metadata
        The model in eval mode with the stored weights.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a readable checkpoint (corrupt or not a torch file), another
        format, kind or version, an unknown or differing expected setting,
        weights that do not fit the settings.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {kind} checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint (corrupt or not a torch file): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{path} is not a mink_toolkit {kind} checkpoint (format {found!r})")
    if payload.get("kind") != kind:
        raise ValueError(f"{path} holds a {payload.get('kind')!r} model, not a {kind!r} one")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {payload.get('version')}; this code reads {CHECKPOINT_VERSION}"
        )
    config = payload.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{path} has no model configuration")
    if upgrade is not None:
        config = upgrade(dict(config))
    for key, value in (expect or {}).items():
        if key not in config:
            raise ValueError(f"unknown {kind} setting {key!r}; the checkpoint has {sorted(config)}")
        if not _same(config[key], value):
            raise ValueError(f"checkpoint setting {key}={config[key]!r} differs from the expected {value!r}")
    try:
        model = build(dict(config))
        model.load_state_dict(payload["state_dict"], strict=True)
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise ValueError(f"{path}: weights do not fit the stored configuration: {err}") from err
    model.eval()
    return model, config, payload.get("metadata") or {}


def load_checkpoint_metadata(path) -> dict:
    """The metadata stored with a checkpoint (training history and time), without building the model.

    Reads the file with ``torch.load(weights_only=True)``; the checks of
    :func:`load_checkpoint` are not repeated (call that one for the model).
    """
    import torch

    payload = torch.load(path, map_location="cpu", weights_only=True)
    return dict(payload.get("metadata") or {})
