"""Tests of mink_toolkit.superres.checkpoint (the format itself: tests/test_checkpoint.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit import superres as sr


def test_a_generator_round_trips_with_its_noise_channels(tmp_path):
    torch.manual_seed(0)
    gen = sr.ResidualUNet(factor=2, width=2, depth=1, noise_channels=1, mass_conserving=False)
    torch.nn.init.normal_(gen.head.weight, std=1.0)
    path = sr.save_superres_checkpoint(tmp_path / "gen.pt", gen)
    loaded, history = sr.load_superres_checkpoint(path, expect={"noise_channels": 1})
    assert history is None and loaded.stochastic and loaded.config() == gen.config()
    coarse = np.ones((2, 4, 4))
    np.testing.assert_array_equal(sr.predict(loaded, coarse, members=2, seed=5),
                                  sr.predict(gen, coarse, members=2, seed=5))
    with pytest.raises(ValueError, match="noise_channels"):
        sr.load_superres_checkpoint(path, expect={"noise_channels": 0})
