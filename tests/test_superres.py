"""Tests of mink_toolkit.superres and the superres experiment."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mink_toolkit import superres as sr
from mink_toolkit.resample import block_mean
from mink_toolkit.losses import MinkowskiLoss
from mink_toolkit.schedules import ExponentialSchedule, LambdaSchedule
from mink_toolkit.surrogate import SurrogateTerm


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def rain():
    rng = np.random.default_rng(0)
    return rng.gamma(0.5, 2.0, size=(6, 32, 32))


# ------------------------------------------------------------------ upsample (block means: tests/test_resample.py)


def test_upsample_nearest_inverts_coarsen_mass(rain):
    coarse = block_mean(rain, 4)
    up = sr.upsample(coarse, 4, "nearest")
    np.testing.assert_allclose(block_mean(up, 4), coarse)
    bic = sr.upsample(coarse, 4, "bicubic")
    assert bic.shape == rain.shape and (bic >= 0).all()
    # bicubic of a constant field is that constant
    np.testing.assert_allclose(sr.upsample(np.full((3, 3), 2.5), 4, "bicubic"), 2.5, rtol=1e-6)
    t = torch.as_tensor(coarse)
    assert isinstance(sr.upsample(t, 4), torch.Tensor)
    with pytest.raises(ValueError, match="method"):
        sr.upsample(coarse, 4, "bilinear")
    with pytest.raises(ValueError, match="NaN"):
        sr.upsample(np.full((2, 2), np.nan), 2)


# ------------------------------------------------------------------ network


def test_unet_starts_as_bicubic_and_is_non_negative():
    torch.manual_seed(0)
    net = sr.ResidualUNet(factor=4, width=4, depth=2)
    coarse = torch.rand(3, 1, 8, 8) * 5
    np.testing.assert_allclose(net(coarse).detach(), sr.upsample(coarse, 4), atol=1e-5)
    # with random head weights the output stays non-negative
    torch.nn.init.normal_(net.head.weight, std=3.0)
    out = net(coarse)
    assert (out >= 0).all() and out.shape == (3, 1, 32, 32)


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


def test_training_reduces_loss_and_logs(rain, tmp_path):
    fine = np.repeat(rain, 2, axis=0).astype(np.float32)
    coarse = block_mean(fine, 4)
    torch.manual_seed(0)
    net = sr.ResidualUNet(factor=4, width=4, depth=1)
    before = float(sr.log_mse(torch.as_tensor(sr.predict(net, coarse)), torch.as_tensor(fine, dtype=torch.float64)))
    h = sr.train_superres(net, coarse, fine, epochs=6, batch_size=4, lr=5e-3, crop=16, progress=False,
                          checkpoint=tmp_path / "net.pt")
    after = float(sr.log_mse(torch.as_tensor(sr.predict(net, coarse)), torch.as_tensor(fine, dtype=torch.float64)))
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
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        net = sr.ResidualUNet(factor=4, width=4, depth=1)
        sr.train_superres(net, coarse, fine, epochs=2, batch_size=3, crop=16, seed=3, progress=False)
        outs.append(sr.predict(net, coarse))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_training_bad_input(rain):
    net = sr.ResidualUNet(factor=4, width=2, depth=1)
    coarse = block_mean(rain, 4)
    with pytest.raises(ValueError, match="factor"):
        sr.train_superres(net, coarse, rain[:, :16, :16], progress=False)
    with pytest.raises(ValueError, match="crop"):
        sr.train_superres(net, coarse, rain, crop=10, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        sr.train_superres(net, coarse, np.where(rain > 1, np.nan, rain), progress=False)


# ------------------------------------------------------------------ loss terms


def _small_surrogate(lipschitz=True, constrained=True, **kw):
    from mink_toolkit.surrogate import MinkowskiSurrogate

    torch.manual_seed(0)
    return MinkowskiSurrogate([0.5, 1.0, 2.0, 4.0], lipschitz=lipschitz, constrained=constrained, width=4, depth=2,
                              levels=2, **kw)


@pytest.mark.parametrize(
    "surrogate_kw",
    [dict(lipschitz=True, constrained=True), dict(lipschitz=True, constrained=True, local_lipschitz=1.0),
     dict(lipschitz=False, constrained=False)],
)
def test_surrogate_term_gradient_is_dense_and_frozen(rain, surrogate_kw):
    """The term passes a finite, non-zero gradient to the prediction and none to the surrogate."""
    from mink_toolkit.losses import functional_distance

    surrogate = _small_surrogate(**surrogate_kw)
    term = SurrogateTerm(surrogate).train()  # .train() must leave the frozen surrogate in eval mode
    assert not surrogate.training and not any(p.requires_grad for p in surrogate.parameters())
    target = torch.as_tensor(rain[:2, None], dtype=torch.float32)
    pred = (target * 0.5 + 0.2).requires_grad_(True)
    value = term(pred, target)
    # exactly d(surrogate(pred), surrogate(target)) on mm/h input: the surrogate owns its transform
    expected = functional_distance(surrogate(pred), surrogate(target), surrogate.thresholds)
    assert float(value.detach()) == pytest.approx(float(expected.detach()))
    (grad,) = torch.autograd.grad(value, pred)
    assert torch.isfinite(grad).all() and float(grad.norm()) > 0
    assert float((grad != 0).float().mean()) > 0.5  # soft steps: dense, not a hard threshold's zero
    assert float(term(target, target).detach()) == 0.0


def test_surrogate_term_bad_input():
    with pytest.raises(TypeError, match="nn.Module"):
        SurrogateTerm(lambda x: x)
    with pytest.raises(ValueError, match="thresholds"):
        SurrogateTerm(torch.nn.Identity())


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
    assert np.isnan(h["term_grad_norm"][0]) and np.isnan(h["mse_grad_norm"][0])
    assert all(g > 0 for g in h["term_grad_norm"][1:]) and all(g > 0 for g in h["mse_grad_norm"][1:])
    assert all(0 <= s <= 1 for s in h["term_grad_high_share"][1:])


# ------------------------------------------------------------------ experiment (quick, in-process)


def test_quick_configuration_keeps_three_seeds(monkeypatch, tmp_path):
    """``--quick`` shrinks data, epochs and sweep rows, never the seeds (the issue asks >= 3)."""
    from mink_toolkit.experiments import superres as exp

    assert len(exp.QUICK.seeds) >= 3 and exp.QUICK.seeds == exp.FULL.seeds
    assert exp.QUICK.max_train_patches < exp.FULL.max_train_patches and exp.QUICK.epochs < exp.FULL.epochs
    seen = {}

    def fake_run(config, **kwargs):
        seen["config"], seen["kwargs"] = config, kwargs
        return {"config": {"factor": 8}, "models": {}, "reference": {"truth_grid_alignment": 0.0}}

    monkeypatch.setattr(exp, "run_superres_experiment", fake_run)
    assert exp.main(["--quick", "--output", str(tmp_path), "--no-sweep", "--no-progress"]) == 0
    assert seen["config"] is exp.QUICK
    assert seen["kwargs"] == {"output": str(tmp_path), "progress": False, "sweep": False}
    assert exp.main(["--output", str(tmp_path)]) == 0 and seen["config"] is exp.FULL


def test_quick_experiment_writes_schema(tmp_path, monkeypatch):
    """The quick configuration end to end on real OPERA files (MINK_DATA_DIR), one seed.

    One seed instead of QUICK's three keeps the unit suite fast; the schema
    and the aggregation over seeds are the same code path.
    """
    from dataclasses import replace

    from mink_toolkit.experiments import superres as exp

    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path / "cache"))
    config = replace(exp.QUICK, seeds=(0,), max_train_patches=16, max_test_patches=4)
    results = exp.run_superres_experiment(config, output=tmp_path, progress=False, log=lambda *a: None,
                                          return_predictions=True)
    on_disk = json.loads((tmp_path / "superres.json").read_text())
    assert "predictions" not in on_disk and "ensembles" not in on_disk
    assert results["ensembles"]["unet_mse"].shape == (1, *results["predictions"]["truth"].shape)
    assert on_disk["models"].keys() == results["models"].keys()
    assert set(on_disk["models"]) == set(exp.MODEL_NAMES)
    for name, entry in on_disk["models"].items():
        assert entry["seeds"] == [0]
        m = entry["metrics"]
        for key in ("mae", "rmse", "rapsd_high_ratio", "max_ratio", "wasserstein_wet", "grid_alignment"):
            assert set(m[key]) == {"mean", "std"}
        assert set(m["fss"]) == {"u=1", "u=5"} and set(m["fss"]["u=1"]) == {"n=1", "n=3", "n=9", "n=27"}
        assert set(m["minkowski_error"]) == {"area", "perimeter", "euler_characteristic", "mean"}
    models = on_disk["models"]
    # the baselines are deterministic; the networks start from bicubic and are trained
    assert models["nearest"]["metrics"]["mae"]["std"] == 0
    assert models["bicubic"]["metrics"]["rapsd_high_ratio"]["mean"] < 1
    assert models["unet_mse"]["training"]["grad_norm_mean"]["mean"] > 0
    # the MSE model has no term; every term passes a measured (finite, positive) gradient to the output
    assert models["unet_mse"]["training"]["term_grad_norm"]["mean"] is None
    for name in ("unet_minkowski", "unet_surrogate_lipschitz", "unet_surrogate_unconstrained"):
        g = models[name]["training"]["term_grad_norm"]["mean"]
        assert g is not None and np.isfinite(g) and g > 0, name
    # predictions for plots: every model, shaped like the truth
    preds = results["predictions"]
    assert set(preds) == {"coarse", "truth", *exp.MODEL_NAMES}
    assert all(preds[n].shape == preds["truth"].shape for n in exp.MODEL_NAMES)
    # the sweep covers the bounds and λ of the configuration
    assert [row["lipschitz_bound"] for row in on_disk["sweep"]["lipschitz"]] == list(config.sweep_bounds)
    assert [row["lambda"] for row in on_disk["sweep"]["lambda"]] == list(config.sweep_lambdas)
    table = (tmp_path / "superres.md").read_text()
    assert "unet_surrogate_lipschitz" in table and "±" in table and "|∂term/∂pred|" in table
    assert "unbounded" in table  # the None bound of the sweep


def test_markdown_tables_format():
    from mink_toolkit.experiments import superres as exp

    entry = {"mean": 0.5, "std": 0.25}
    m = {k: entry for k in ("mae", "rmse", "rapsd_high_ratio", "wasserstein_wet", "grid_alignment", "max_ratio")}
    m["fss"] = {u: {n: entry for n in ("n=1", "n=3", "n=9", "n=27")} for u in ("u=1", "u=5")}
    m["csi"] = {"u=1": entry, "u=5": entry}
    m["minkowski_error"] = {"mean": entry}
    res = {"config": {"factor": 8}, "models": {"x": {"metrics": m}}, "reference": {"truth_grid_alignment": 0.1}}
    text = exp.markdown_tables(res)
    assert "| x | 0.500 ± 0.250 |" in text


def test_the_loss_surrogate_comes_from_the_one_trainer_and_is_cached(monkeypatch, tmp_path):
    """build_surrogate trains with train_surrogate (the protocol of reproduce surrogate), once per settings."""
    import mink_toolkit.experiments.surrogate as surrogate_driver
    from mink_toolkit.experiments import superres as exp

    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path))
    calls = []
    original = surrogate_driver.train_surrogate

    def spy(model, train, val, **kwargs):
        calls.append((model.config(), train.settings["split"], val.settings["split"], kwargs["steps"]))
        return original(model, train, val, **kwargs)

    monkeypatch.setattr(surrogate_driver, "train_surrogate", spy)
    first = exp.build_surrogate(exp.QUICK, lipschitz=4.0, constrained=True)
    assert len(calls) == 1
    config, train_split, val_split, steps = calls[0]
    assert (train_split, val_split) == ("train", "val")
    assert config["local_lipschitz"] == 4.0 and config["constrained"] and config["lipschitz"]
    again = exp.build_surrogate(exp.QUICK, lipschitz=4.0, constrained=True)
    assert len(calls) == 1  # loaded from the cache, in the one checkpoint format
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(again(x), first(x))
    assert list((tmp_path / "surrogates").glob("*.pt"))
    exp.build_surrogate(exp.QUICK, lipschitz=False, constrained=False)
    assert len(calls) == 2 and not calls[1][0]["lipschitz"]
