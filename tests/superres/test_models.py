"""Tests of mink_toolkit.superres.models: the residual U-Net, mass conservation, the generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit import superres as sr
from mink_toolkit.resample import block_mean


def test_unet_starts_as_its_baseline_and_is_non_negative():
    torch.manual_seed(0)
    coarse = torch.rand(3, 1, 8, 8) * 5
    plain = sr.ResidualUNet(factor=4, width=4, depth=2, mass_conserving=False)
    np.testing.assert_allclose(plain(coarse).detach(), sr.upsample(coarse, 4), atol=1e-5)
    # the mass-conserving network starts as bicubic rescaled to the block means (notebook 04's bicubic_mass)
    net = sr.ResidualUNet(factor=4, width=4, depth=2)
    out = net(coarse).detach()
    np.testing.assert_allclose(out, sr.conserve_mass(sr.upsample(coarse, 4), coarse, 4), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(block_mean(out[:, 0].double().numpy(), 4), coarse[:, 0].double(), rtol=1e-5)
    # with random head weights the output stays non-negative and mass conserving
    torch.nn.init.normal_(net.head.weight, std=3.0)
    out = net(coarse)
    assert (out >= 0).all() and out.shape == (3, 1, 32, 32)
    np.testing.assert_allclose(block_mean(out[:, 0].detach().double().numpy(), 4), coarse[:, 0].double(), rtol=1e-4)


def test_conserve_mass_exact_smooth_and_dry():
    from mink_toolkit import verification

    rng = np.random.default_rng(4)
    fine = rng.gamma(0.5, 2.0, (4, 64, 64))
    coarse = torch.as_tensor(block_mean(fine, 8))[:, None]
    bic = torch.as_tensor(sr.upsample(block_mean(fine, 8), 8))[:, None]
    smooth = sr.conserve_mass(bic, coarse, 8)
    blocky = sr.conserve_mass(bic, coarse, 8, iterations=0)
    for out in (smooth, blocky):
        np.testing.assert_allclose(torch.nn.functional.avg_pool2d(out, 8), coarse, rtol=1e-10)
    # the smooth iterations keep the 16 km grid out of the field: less grid-aligned than one block-wise rescale
    alignment = verification.gradient_grid_alignment
    assert alignment(smooth[:, 0].numpy()) < alignment(blocky[:, 0].numpy()) - 0.1
    # zero weights stay dry; a block with all-zero weights and rain gets it uniformly; a dry block stays dry
    w = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    w[..., :4, :4] = 0.0  # one 4x4 block without weight
    w[..., 0, 4] = 0.0
    c = torch.tensor([[[[2.0, 1.0], [0.0, 3.0]]]], dtype=torch.float64)
    out = sr.conserve_mass(w, c, 4, iterations=0)
    np.testing.assert_allclose(out[0, 0, :4, :4], 2.0)
    assert out[0, 0, 0, 4] == 0 and (out[0, 0, 4:, :4] == 0).all()
    np.testing.assert_allclose(torch.nn.functional.avg_pool2d(out, 4), c)
    x = (torch.rand(1, 1, 8, 8, dtype=torch.float64) + 0.1).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: sr.conserve_mass(v, c, 4, iterations=2), (x,))


def test_generator_members_differ_are_seeded_and_conserve_mass():
    torch.manual_seed(0)
    gen = sr.ResidualUNet(factor=4, width=4, depth=1, noise_channels=2)
    torch.nn.init.normal_(gen.head.weight, std=1.0)  # a trained head passes the noise on
    coarse = torch.rand(2, 1, 8, 8) * 3
    draws = gen.sample(coarse, 4, torch.Generator().manual_seed(1))
    assert draws.shape == (2, 4, 32, 32) and torch.isfinite(draws).all()
    draws = draws.detach()
    assert float((draws[:, 0] - draws[:, 1]).abs().max()) > 1e-3  # members differ
    again = gen.sample(coarse, 4, torch.Generator().manual_seed(1)).detach()
    torch.testing.assert_close(draws, again)  # and are reproducible from the noise seed
    mean = draws.mean(1)
    assert torch.isfinite(mean).all()
    for k in range(4):  # every member has the coarse field's block means
        torch.testing.assert_close(torch.nn.functional.avg_pool2d(draws[:, k : k + 1], 4), coarse, rtol=1e-4,
                                   atol=1e-5)
    ens = sr.predict(gen, coarse[:, 0].numpy(), members=3, seed=2)
    assert ens.shape == (3, 2, 32, 32)
    with pytest.raises(ValueError, match="members="):
        sr.predict(gen, coarse[:, 0].numpy())
    with pytest.raises(ValueError, match="deterministic"):
        sr.predict(sr.ResidualUNet(factor=4, width=2, depth=1), coarse[:, 0].numpy(), members=2)
    assert gen.config()["noise_channels"] == 2 and gen.stochastic


def test_unet_bad_input():
    net = sr.ResidualUNet(factor=4, width=2, depth=1)
    with pytest.raises(ValueError, match=r"\(B, 1, h, w\)"):
        net(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        net(torch.full((1, 1, 4, 4), float("nan")))
    with pytest.raises(TypeError, match="torch.Tensor"):
        net(np.ones((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="depth"):
        sr.ResidualUNet(depth=0)
