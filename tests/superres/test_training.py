"""Tests of mink_toolkit.superres.training: train_superres, its validation objective, predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit import superres as sr
from mink_toolkit.losses import MinkowskiLoss, SurrogateTerm, log_mse
from mink_toolkit.resample import block_mean
from mink_toolkit.schedules import ExponentialSchedule, LambdaSchedule
from mink_toolkit.superres.training import _validation_objective
from mink_toolkit.surrogate import DEFAULT_LIPSCHITZ_CAP


def test_training_reduces_loss_and_logs(rain, tmp_path):
    fine = np.repeat(rain, 2, axis=0).astype(np.float32)
    coarse = block_mean(fine, 4)
    torch.manual_seed(0)
    net = sr.ResidualUNet(factor=4, width=4, depth=1)
    before = float(log_mse(torch.as_tensor(sr.predict(net, coarse)), torch.as_tensor(fine, dtype=torch.float64)))
    h = sr.train_superres(net, coarse, fine, epochs=6, batch_size=4, lr=5e-3, crop=16, progress=False,
                          checkpoint=tmp_path / "net.pt")
    after = float(log_mse(torch.as_tensor(sr.predict(net, coarse)), torch.as_tensor(fine, dtype=torch.float64)))
    assert after < before
    assert len(h["grad_norm"]) == 6 and all(np.isfinite(h["step_grad_norm"]))
    loaded, history = sr.load_superres_checkpoint(tmp_path / "net.pt", expect={"factor": 4})
    np.testing.assert_allclose(sr.predict(loaded, coarse), sr.predict(net, coarse))
    assert history["loss"] == h["loss"]
    with pytest.raises(ValueError, match="factor"):
        sr.load_superres_checkpoint(tmp_path / "net.pt", expect={"factor": 8})
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        sr.load_superres_checkpoint(tmp_path / "bad.pt")


def test_training_is_seeded(rain):
    fine = rain.astype(np.float32)
    coarse = block_mean(fine, 4)
    for noise in (0, 2):
        outs = []
        for _ in range(2):
            torch.manual_seed(3)
            net = sr.ResidualUNet(factor=4, width=4, depth=1, noise_channels=noise)
            sr.train_superres(net, coarse, fine, epochs=2, batch_size=3, crop=16, seed=3, progress=False)
            outs.append(sr.predict(net, coarse, **({"members": 2} if noise else {})))
        np.testing.assert_array_equal(outs[0], outs[1])


def test_generator_training_spreads_its_members_and_early_stopping_restores_the_best_epoch(rain):
    fine = np.repeat(rain, 2, axis=0).astype(np.float32)
    coarse = block_mean(fine, 4)
    torch.manual_seed(0)
    gen = sr.ResidualUNet(factor=4, width=4, depth=1, noise_channels=2)
    before = sr.predict(gen, coarse, members=2)
    assert np.abs(before[0] - before[1]).max() < 1e-5  # zero head: no spread yet
    h = sr.train_superres(gen, coarse, fine, epochs=4, batch_size=4, lr=5e-3, crop=16, members=2,
                          crps_scales=(1, 2), val=(coarse[:4], fine[:4]), progress=False)
    after = sr.predict(gen, coarse, members=2)
    assert np.abs(after[0] - after[1]).max() > 1e-3  # the CRPS's spread term taught it to use the noise
    assert len(h["val"]) == 4 and all(np.isfinite(h["val"]))
    assert h["best_epoch"] == int(np.argmin(h["val"]))
    # the restored weights are the best epoch's: the validation objective recomputed equals its minimum
    value = _validation_objective(gen, coarse[:4], fine[:4], log_mse, None, 0.0, 4, 2, 0, crps=((1, 2), "log1p"))[0]
    assert value == pytest.approx(min(h["val"]), rel=1e-5)


def test_training_bad_input(rain):
    net = sr.ResidualUNet(factor=4, width=2, depth=1)
    coarse = block_mean(rain, 4)
    with pytest.raises(ValueError, match="factor"):
        sr.train_superres(net, coarse, rain[:, :16, :16], progress=False)
    with pytest.raises(ValueError, match="crop"):
        sr.train_superres(net, coarse, rain, crop=10, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        sr.train_superres(net, coarse, np.where(rain > 1, np.nan, rain), progress=False)
    with pytest.raises(ValueError, match="loss"):
        sr.train_superres(net, coarse, rain, loss="mse", crop=None, progress=False)
    with pytest.raises(TypeError, match="val"):
        sr.train_superres(net, coarse, rain, val=coarse, crop=None, progress=False)
    with pytest.raises(ValueError, match="val fine"):
        sr.train_superres(net, coarse, rain, val=(coarse, rain[:, :8, :8]), crop=None, progress=False)


def _small_surrogate(lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True, **kw):
    from mink_toolkit.surrogate import MinkowskiSurrogate

    torch.manual_seed(0)
    return MinkowskiSurrogate([0.5, 1.0, 2.0, 4.0], lipschitz_cap=lipschitz_cap, constrained=constrained, width=4, depth=2,
                              levels=2, **kw)


def test_training_advances_the_minkowski_loss_schedule_once_per_epoch(rain):
    """One loss module serves super-resolution: train_superres sets its step to the epoch."""
    fine = rain.astype(np.float32)
    coarse = block_mean(fine, 4)
    term = MinkowskiLoss([1.0, 2.0], 0.1, relative=True, min_temperature=None, schedule=ExponentialSchedule(4))
    np.testing.assert_allclose(term.temperature_at().numpy(), [0.1, 0.2], rtol=1e-9)
    seen = []
    original = term.forward

    def spy(pred, target, step=None):
        seen.append(term.step)
        return original(pred, target, step)

    term.forward = spy
    torch.manual_seed(0)
    net = sr.ResidualUNet(factor=4, width=4, depth=1)
    sr.train_superres(net, coarse, fine, term=term, schedule=LambdaSchedule(final=0.01), epochs=4, batch_size=3,
                      crop=16, progress=False)
    assert sorted(set(seen)) == [0, 1, 2, 3]
    # The paper's floor at the end of the annealing: 0.005·u.
    np.testing.assert_allclose(term.temperature_at(4).numpy(), [0.005, 0.01], rtol=1e-9)


def test_training_logs_term_gradient_only_while_lambda_is_on(rain):
    fine = rain.astype(np.float32)
    coarse = block_mean(fine, 4)
    torch.manual_seed(0)
    net = sr.ResidualUNet(factor=4, width=4, depth=1)
    term = SurrogateTerm(_small_surrogate())
    h = sr.train_superres(net, coarse, fine, term=term, schedule=LambdaSchedule(final=0.01, start=1),
                          epochs=3, batch_size=3, crop=16, progress=False)
    assert h["lambda"] == [0.0, 0.01, 0.01]
    assert np.isnan(h["term_grad_norm"][0]) and np.isnan(h["data_grad_norm"][0])
    assert all(g > 0 for g in h["term_grad_norm"][1:]) and all(g > 0 for g in h["data_grad_norm"][1:])
    assert all(0 <= s <= 1 for s in h["term_grad_high_share"][1:])


def test_compiled_training_follows_the_eager_run(rain, monkeypatch):
    """compile=True compiles the U-Net's forward and the Minkowski term: the same epochs to float32 rounding."""
    # The graph capture and autograd of torch.compile without inductor's code generation (a minute
    # here): inductor itself is exercised on the relaxed functionals and the loss.
    monkeypatch.setenv("MINK_COMPILE_BACKEND", "aot_eager")
    fine = rain[:4].astype(np.float32)
    coarse = block_mean(fine, 4)
    histories, nets, terms = [], [], []
    for compile in (False, True):
        torch.manual_seed(0)
        net = sr.ResidualUNet(factor=4, width=4, depth=1)
        term = MinkowskiLoss([0.5, 1.0, 2.0])
        histories.append(sr.train_superres(net, coarse, fine, term=term, schedule=LambdaSchedule(final=0.1),
                                           epochs=2, batch_size=4, crop=16, progress=False, compile=compile))
        nets.append(net)
        terms.append(term)
    assert not terms[1].compiled  # switched on for the steps only
    np.testing.assert_allclose(histories[1]["step_loss"], histories[0]["step_loss"], rtol=1e-4)
    for p_c, p_e in zip(nets[1].parameters(), nets[0].parameters()):
        torch.testing.assert_close(p_c, p_e, rtol=1e-3, atol=1e-5)
    with pytest.raises(TypeError, match="compile must be True or False"):
        sr.train_superres(nets[0], coarse, fine, epochs=1, progress=False, compile="yes")
