"""Tests of mink_toolkit.superres and the superres experiment."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mink_toolkit import superres as sr
from mink_toolkit.resample import block_mean
from mink_toolkit.losses import MinkowskiLoss, SurrogateTerm, log_mse
from mink_toolkit.schedules import ExponentialSchedule, LambdaSchedule
from mink_toolkit.surrogate import DEFAULT_LIPSCHITZ_CAP


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
    value = sr._validation_objective(gen, coarse[:4], fine[:4], log_mse, None, 0.0, 4, 2, 0, crps=((1, 2), "log1p"))[0]
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


# ------------------------------------------------------------------ loss terms


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


# ------------------------------------------------------------------ experiment (quick, in-process)


def test_quick_configuration_keeps_every_model_and_three_seeds(monkeypatch, tmp_path):
    """``--quick`` shrinks data, epochs and sweep rows, never the seeds or the models (the issue asks >= 3)."""
    from mink_toolkit.experiments import superres as exp

    assert len(exp.QUICK.seeds) >= 3 and exp.QUICK.seeds == exp.FULL.seeds
    assert exp.QUICK.max_train_patches < 100 and exp.QUICK.epochs < exp.FULL.epochs
    assert len(exp.QUICK.sweep_lambdas) >= 2 and len(exp.QUICK.sweep_caps) >= 2  # selection still selects
    seen = {}

    def fake_run(config, **kwargs):
        seen["config"], seen["kwargs"] = config, kwargs
        return {"config": {"factor": 8, "seeds": [0]}, "models": {}}

    monkeypatch.setattr(exp, "run_superres_experiment", fake_run)
    assert exp.main(["--quick", "--output", str(tmp_path), "--no-progress"]) == 0
    assert seen["config"] is exp.QUICK
    assert seen["kwargs"] == {"output": str(tmp_path), "progress": False}
    assert exp.main(["--output", str(tmp_path)]) == 0 and seen["config"] is exp.FULL
    assert exp.main(["--output", str(tmp_path), "--workers", "3"]) == 0 and seen["config"].workers == 3


def test_quick_experiment_writes_schema(tmp_path, monkeypatch):
    """The quick protocol end to end on real OPERA files (MINK_DATA_DIR): selection on validation, test once.

    Two seeds instead of QUICK's three, and even less data, keep the unit
    suite fast; the schema and the aggregation over seeds are the same code.
    """
    from dataclasses import replace

    from mink_toolkit.experiments import superres as exp

    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path / "cache"))
    config = replace(exp.QUICK, seeds=(0, 1), max_train_patches=8, max_val_patches=4, max_test_patches=4,
                     early_stopping_patches=2, epochs=1, ensemble_members=3, bootstrap_resamples=5)
    results = exp.run_superres_experiment(config, output=tmp_path, progress=False, log=lambda *a: None,
                                          return_predictions=True)
    on_disk = json.loads((tmp_path / "superres.json").read_text())
    assert "predictions" not in on_disk and "ensembles" not in on_disk
    truth = results["predictions"]["truth"]
    assert results["ensembles"]["unet_mse"].shape == (2, *truth.shape)
    assert results["ensembles"]["generator"].shape == (3, *truth.shape)  # members of the first seed
    assert list(on_disk["models"]) == list(exp.MODEL_NAMES)
    data = on_disk["data"]
    assert data["val_files"] and not set(data["val_files"]) & set(data["train_files"])
    assert all("20241126" in name for name in data["test_files"])
    # every choice was made on validation; the sweeps are validation numbers
    sel = on_disk["selection"]
    assert sel["split"] == "validation" and on_disk["sweep"]["split"] == "validation"
    assert sel["lambda_minkowski"] in config.sweep_lambdas and sel["lipschitz_cap"] in config.sweep_caps
    assert sel["lambda_generator"] in config.generator_lambdas and sel["mass_conserving"] in (True, False)
    for key in ("architecture", "lambda", "lipschitz", "generator_lambda"):
        rows = on_disk["sweep"][key]
        assert sum(r["selected"] for r in rows) == 1, key
    assert [r["lipschitz_cap"] for r in on_disk["sweep"]["lipschitz"]] == list(config.sweep_caps)
    for name, entry in on_disk["models"].items():
        assert entry["seeds"] == [0, 1]
        m = entry["metrics"]
        for key in ("mae", "rmse", "rapsd_high_ratio", "spectral_error", "max_ratio", "wasserstein_wet",
                    "grid_alignment"):
            assert set(m[key]) == {"mean", "std"}, (name, key)
        assert len(m["per_seed"]) == 2 and "spectral_error" in m["per_seed"][0]
        assert set(m["fss"]) == {"u=1", "u=5"} and set(m["fss"]["u=1"]) == {"n=1", "n=3", "n=9", "n=27"}
        assert set(m["minkowski_error"]) == {"area", "perimeter", "euler_characteristic", "mean"}
    models = on_disk["models"]
    for name in exp.GENERATORS:
        ens = models[name]["ensemble"]
        for key in ("crps", "spread_skill", "mean_mae", "mean_rmse"):
            assert set(ens[key]) == {"mean", "std"}, (name, key)
        assert len(ens["rank_histogram"]) == config.ensemble_members + 1
        assert sum(ens["rank_histogram"]) == pytest.approx(1.0)
        assert models[name]["metrics"]["level"] == "member"
    # the baselines are deterministic; the untrained network is bicubic_mass
    assert models["nearest"]["metrics"]["mae"]["std"] == 0
    assert models["bicubic"]["metrics"]["rapsd_high_ratio"]["mean"] < 1
    assert models["unet_mse"]["training"]["grad_norm_mean"]["mean"] > 0
    assert models["unet_mse"]["training"]["term_grad_norm"]["mean"] is None
    for name in ("unet_minkowski", "unet_surrogate_lipschitz", "unet_surrogate_unconstrained"):
        g = models[name]["training"]["term_grad_norm"]["mean"]
        assert g is not None and np.isfinite(g) and g > 0, name
    # gaming: per-seed values against floors measured on the truth and bicubic
    gaming = on_disk["gaming"]
    assert set(gaming["floors"]) == {"grid_alignment", "max_ratio"}
    assert gaming["floors"]["max_ratio"]["truth"]["value"] == 1.0
    for name, verdict in gaming["models"].items():
        assert len(verdict["grid_alignment"]["per_seed"]) == 2
        assert verdict["grid_alignment"]["per_seed"] == [s["grid_alignment"] for s in models[name]["metrics"]["per_seed"]]
    # the progress bar's length is the number of epochs actually trained (reused sweep runs are not retrained)
    assert exp.planned_epochs(config) == sum(j.get("epochs", 0) for j in on_disk["timing"]["jobs"].values())
    preds = results["predictions"]
    assert set(preds) == {"coarse", "truth", *exp.MODEL_NAMES}
    assert all(preds[n].shape == truth.shape for n in exp.MODEL_NAMES)
    table = (tmp_path / "superres.md").read_text()
    assert "generator_minkowski (members)" in table and "±" in table and "spread/skill" in table
    assert "Selection on validation" in table and "none" in table  # the None bound of the sweep


def test_markdown_tables_and_readme_block(tmp_path, capsys):
    from mink_toolkit.experiments import superres as exp

    entry = {"mean": 0.5, "std": 0.25}
    m = {k: entry for k in ("mae", "rmse", "rapsd_high_ratio", "spectral_error", "wasserstein_wet", "grid_alignment",
                            "max_ratio")}
    m["fss"] = {u: {n: entry for n in ("n=1", "n=3", "n=9", "n=27")} for u in ("u=1", "u=5")}
    m["minkowski_error"] = {"mean": entry}
    gen = {"metrics": m, "ensemble": {"crps": {"mean": 0.1, "std": 0.0}, "energy_score": entry,
                                      "spread_skill": entry, "mean_mae": entry, "mean_rmse": entry,
                                      "rank_histogram": [0.5, 0.5], "members": 1}}
    res = {"config": {"factor": 8, "seeds": [0]}, "models": {"x": {"metrics": m}, "g": gen}}
    text = exp.markdown_tables(res)
    assert "| x | 0.500 ± 0.250 | 0.500 ± 0.250 | 0.500 ± 0.250 |" in text  # CRPS of a deterministic model = MAE
    assert "| g (members) | 0.500 ± 0.250 | 0.500 ± 0.250 | 0.100 ± 0.000 |" in text
    assert "| g | 0.100 ± 0.000 |" in text and "0.500 0.500 |" in text  # the ensemble table
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- superres:begin -->\nold table\n<!-- superres:end -->\noutro\n")
    (tmp_path / "superres.json").write_text(json.dumps(res))
    assert exp.main(["--markdown", str(tmp_path / "superres.json"), "--readme", str(readme)]) == 0
    new = readme.read_text()
    assert "old table" not in new and text.strip() in new and new.startswith("intro\n") and new.endswith("outro\n")
    assert "rewritten" in capsys.readouterr().out
    assert exp.main(["--markdown", str(tmp_path / "superres.json"), "--readme", str(readme)]) == 0
    assert readme.read_text() == new  # idempotent
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="exactly one block"):
        exp.main(["--markdown", str(tmp_path / "superres.json"), "--readme", str(readme)])
    with pytest.raises(SystemExit):
        exp.main(["--readme", str(readme)])


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
    first = exp.build_surrogate(exp.QUICK, lipschitz_cap=4.0, constrained=True)
    assert len(calls) == 1
    config, train_split, val_split, steps = calls[0]
    assert (train_split, val_split) == ("train", "val")
    assert config["lipschitz_cap"] == 4.0 and config["constrained"]
    again = exp.build_surrogate(exp.QUICK, lipschitz_cap=4.0, constrained=True)
    assert len(calls) == 1  # loaded from the cache, in the one checkpoint format
    x = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(again(x), first(x))
    assert list((tmp_path / "surrogates").glob("*.pt"))
    exp.build_surrogate(exp.QUICK, lipschitz_cap=None, constrained=False)
    assert len(calls) == 2 and calls[1][0]["lipschitz_cap"] is None


def test_worker_epochs_reach_the_overall_progress_bar():
    # With worker processes, each epoch a worker trains is added to a shared integer and the main
    # process moves the bar to it, so the bar advances every epoch, not once per finished training.
    import multiprocessing as mp

    from mink_toolkit.experiments import superres as exp

    shared = mp.get_context("spawn").Value("q", 0)
    counter = exp._SharedEpochCount(shared)
    counter.update()
    counter.update(2)
    counter.close()
    assert (counter.n, shared.value) == (3, 3)

    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    runner = object.__new__(exp._Runner)
    runner.bar, runner.epochs_done, runner.epochs_shown, runner.epochs_skipped = Bar(), shared, 0, 0
    runner._sync_bar()
    assert runner.bar.n == 3
    runner.epochs_skipped = 2  # a finished job that stopped early: its planned epochs still count
    shared.value += 1
    runner._sync_bar()
    runner._sync_bar()  # idempotent
    assert runner.bar.n == 6
