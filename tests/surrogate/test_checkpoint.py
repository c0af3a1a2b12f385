"""Tests of mink_toolkit.surrogate.checkpoint: save, load, validate."""

from __future__ import annotations

import pytest
import torch

from mink_toolkit.surrogate import (
    DEFAULT_LIPSCHITZ_CAP,
    ConventionalSurrogate,
    MinkowskiSurrogate,
    load_surrogate,
    save_surrogate,
)
from ._helpers import THRESHOLDS, small_conventional


def test_checkpoint_roundtrip_and_validation(tmp_path):
    torch.manual_seed(1)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=4, lipschitz_cap=None)
    path = save_surrogate(model, tmp_path / "m.pt", metadata={"note": "test"})
    loaded = load_surrogate(path, thresholds=THRESHOLDS, config={"lipschitz_cap": None, "width": 4})
    x = torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(loaded(x), model(x))
    assert loaded.config() == model.config()
    with pytest.raises(ValueError, match="thresholds do not match"):
        load_surrogate(path, thresholds=[0.2, 0.5, 1.0, 2.0])
    with pytest.raises(ValueError, match="lipschitz_cap"):
        load_surrogate(path, config={"lipschitz_cap": DEFAULT_LIPSCHITZ_CAP})
    with pytest.raises(ValueError, match="unknown surrogate setting"):
        load_surrogate(path, config={"colour": "blue"})
    with pytest.raises(FileNotFoundError):
        load_surrogate(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt"):
        load_surrogate(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not a mink_toolkit surrogate"):
        load_surrogate(other)
    payload = torch.load(path, weights_only=True)
    payload["config"]["width"] = 6  # weights of width 4 under a width-6 configuration
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not fit"):
        load_surrogate(tmp_path / "mismatch.pt")


def test_conventional_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(1)
    model = small_conventional(constrained=False, norm_grid=(9, 9))
    path = save_surrogate(model, tmp_path / "conv.pt")
    loaded = load_surrogate(path, thresholds=THRESHOLDS, config={"architecture": "conventional", "channels": [4, 6]})
    assert isinstance(loaded, ConventionalSurrogate) and loaded.config() == model.config()
    x = torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(ValueError, match="architecture"):
        load_surrogate(path, config={"architecture": "additive"})
    with pytest.raises(ValueError, match="channels"):
        load_surrogate(path, config={"channels": [4, 8]})
    additive = save_surrogate(MinkowskiSurrogate(THRESHOLDS, width=4, depth=2), tmp_path / "additive.pt")
    assert isinstance(load_surrogate(additive, config={"architecture": "additive"}), MinkowskiSurrogate)
    with pytest.raises(ValueError, match="architecture"):
        load_surrogate(additive, config={"architecture": "conventional"})


@pytest.mark.parametrize(
    "architecture, old, new",
    [
        ("additive", {"lipschitz": True, "local_lipschitz": 4.0, "head_lipschitz": 3.0},
         {"lipschitz_cap": 4.0, "head_norm_cap": 3.0}),
        ("additive", {"lipschitz": False, "local_lipschitz": 16.0, "head_lipschitz": 4.0},
         {"lipschitz_cap": None, "head_norm_cap": 4.0}),
        ("conventional", {"lipschitz": True, "head_lipschitz": 8.0, "spectral_norm": False},
         {"lipschitz_cap": 8.0, "spectral_norm": False}),
        ("conventional", {"lipschitz": False, "head_lipschitz": 16.0, "spectral_norm": True},
         {"lipschitz_cap": 16.0, "spectral_norm": True}),
        ("conventional", {"lipschitz": False, "head_lipschitz": 64.0, "spectral_norm": False},
         {"lipschitz_cap": None, "spectral_norm": False}),
    ],
)
def test_checkpoints_with_the_former_cap_names_still_load(tmp_path, architecture, old, new):
    """Before the cap had one name: a bool ``lipschitz`` with ``local_lipschitz`` / ``head_lipschitz``."""
    torch.manual_seed(2)
    if architecture == "additive":
        model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=2, levels=2, **new)
    else:
        model = small_conventional(norm_grid=(9, 9), **new)
    path = save_surrogate(model, tmp_path / "new.pt")
    payload = torch.load(path, weights_only=True)
    config = {k: v for k, v in payload["config"].items() if k not in new}
    payload["config"] = {**config, **old}
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_surrogate(tmp_path / "old.pt", config=new)
    assert loaded.config() == model.config()
    x = torch.rand(2, 1, 9, 9)
    torch.testing.assert_close(loaded(x), model.eval()(x))
