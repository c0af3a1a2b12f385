"""Tests of mink_toolkit.experiments.surrogate: ``reproduce surrogate`` writes the ablation."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_reproduce_writes_the_ablation(tmp_path, monkeypatch):
    """All nine rows with the fields of the issue's format (a trimmed quick configuration, one seed)."""
    from mink_toolkit.__main__ import main
    from mink_toolkit.experiments import surrogate as driver

    quick = dict(driver.CONFIGS["quick"], seeds=(0,), test_patches=4, gradient_patches=1,
                 attack={"steps": 1, "data": 1, "constant": 1, "random": 0},
                 bootstrap={"n_resamples": 50, "level": 0.95, "seed": 0})
    monkeypatch.setitem(driver.CONFIGS, "quick", quick)
    assert main(["reproduce", "surrogate", "--quick", "--no-progress", "--no-compile", "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "surrogate.json").read_text())
    assert (results["compile"], results["compile_backend"], results["device"]) == (False, None, "cpu")
    assert results["seconds"] > 0
    assert list(results["models"]) == ["no_input", "estimator", "additive", "additive_learnt",
                                       "additive_configurations", "conventional_unconstrained", "conventional_plain", "conventional_sn",
                                       "conventional_certified"]
    functionals = {"area", "perimeter", "euler_characteristic"}
    for name, m in results["models"].items():
        assert set(m["r2"]) == set(m["mae"]) == functionals
        assert set(m["violations"]) == {"empty_truth", "nonempty_truth"}
        assert "perimeter_min" in m["violations"]["nonempty_truth"]
        assert set(m["skill"]) == set(m["bootstrap"]) == set(m["r2_per_threshold"]) == functionals
        assert m["contains"] and m["seeds"] == [0]
        assert all(len(values) == 1 for values in m["per_seed"].values())
        assert (m["train_seconds"] > 0) == (name not in ("no_input", "estimator"))
        if name == "no_input":  # no model: a constant prediction
            assert m["lipschitz_attacked"] == m["lipschitz_certified"] == m["parameters"] == 0
            assert m["gradient"] is None and m["per_seed"]["gradient_lipschitz_relative"] == [None]
            continue
        assert 0 < m["lipschitz_attacked"] <= m["lipschitz_certified"]
        assert list(m["gradient"]) == list(driver.GRADIENT_MEASURES) and m["gradient"]["rms"]["std"] == 0.0
        assert m["parameters"] > 0
    for name in ("estimator", "additive", "additive_learnt", "additive_configurations", "conventional_plain",
                 "conventional_sn", "conventional_certified"):
        for group in ("empty_truth", "nonempty_truth"):  # the constrained head: no continuous violation
            assert results["models"][name]["violations"][group]["any"] == 0.0
    assert results["models"]["conventional_sn"]["settings"]["spectral_norm"]
    plain, unconstrained = (results["models"][f"conventional_{n}"]["settings"] for n in ("plain", "unconstrained"))
    assert plain["constrained"] and not unconstrained["constrained"]
    assert plain["lipschitz_cap"] is None and unconstrained["lipschitz_cap"] is None
    assert not results["models"]["additive_learnt"]["settings"]["use_order_statistics"]
    assert results["models"]["additive_configurations"]["parameters"] == 62
    assert set(results["models"]["additive"]["gain_over_estimator"]) == functionals
    table = (tmp_path / "surrogate.md").read_text()
    assert "| `additive_learnt` |" in table and "certified L" in table and "relative gradient Lipschitz" in table
    assert "Training eager on cpu." in table.splitlines()[0]
    assert (tmp_path / "checkpoints" / "additive_learnt_seed0.pt").is_file()
    for untrained in ("no_input", "estimator"):  # nothing was trained
        assert not (tmp_path / "checkpoints" / f"{untrained}_seed0.pt").exists()
    # The README's tables come from the JSON by a command.
    from contextlib import redirect_stdout
    from io import StringIO

    buffer = StringIO()
    with redirect_stdout(buffer):
        assert main(["reproduce", "surrogate", "--markdown", str(tmp_path / "surrogate.json")]) == 0
    assert buffer.getvalue() == table
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- surrogate:begin -->\nstale\n<!-- surrogate:end -->\nrest\n")
    assert main(["reproduce", "surrogate", "--markdown", str(tmp_path / "surrogate.json"), "--readme", str(readme)]) == 0
    assert readme.read_text() == "intro\n<!-- surrogate:begin -->\n" + table + "<!-- surrogate:end -->\nrest\n"


def test_measures_over_seeds(tmp_path, monkeypatch):
    """no_input and one trained row over two seeds: per-threshold R², skill, per-seed lists, gradient spread."""
    from mink_toolkit.experiments import surrogate as driver

    quick = dict(driver.CONFIGS["quick"], seeds=(0, 1), test_patches=6, gradient_patches=1,
                 attack={"steps": 1, "data": 1, "constant": 0, "random": 0},
                 bootstrap={"n_resamples": 200, "level": 0.95, "seed": 0})
    monkeypatch.setitem(driver.CONFIGS, "quick", quick)
    results = driver.run(tmp_path, quick=True, progress=False, models=["no_input", "additive"])
    n = len(results["thresholds"])
    base, model = results["models"]["no_input"], results["models"]["additive"]
    for m in (base, model):
        assert all(len(m["r2_per_threshold"][f]) == n for f in m["r2"])
        assert all(len(values) == 2 for values in m["per_seed"].values())
        assert {"r2_area", "mae_perimeter", "skill_euler_characteristic", "train_seconds", "best_step",
                "perimeter_on_lower_bound", "gradient_high_k_share", "gradient_lipschitz_relative",
                "gradient_lipschitz"} <= set(m["per_seed"])
        for f, (low, high) in m["bootstrap"].items():
            assert low <= high
        assert 0.0 <= m["perimeter_on_lower_bound"] <= 1.0
    # The same prediction for every patch: no skill over itself, and at most R² 0 at any one threshold.
    assert base["skill"] == {f: 0.0 for f in base["r2"]}
    assert all(value <= 1e-12 for f in base["r2"] for value in base["r2_per_threshold"][f])
    assert model["skill"]["area"] > 0.5  # the additive model at its exact initialisation beats the threshold curve
    assert model["per_seed"]["skill_area"][0] != model["per_seed"]["skill_area"][1]  # the seeds differ
    g = model["gradient"]["high_k_share"]
    assert g["mean"] == pytest.approx(np.mean(model["per_seed"]["gradient_high_k_share"]))
    assert g["std"] == pytest.approx(np.std(model["per_seed"]["gradient_high_k_share"]))
    assert model["r2"]["area"] == pytest.approx(np.mean(model["per_seed"]["r2_area"]))
    table = driver.markdown(results)
    assert "| `no_input` | – | – |" in table and "u = " in table


def test_summarise_seeds_bootstraps_the_seed_mean_r2():
    """Predictions = truth + noise: the interval holds the seed-mean R² and narrows with more patches."""
    from mink_toolkit.experiments.surrogate import GRADIENT_MEASURES, summarise_seeds
    from mink_toolkit.functionals import FUNCTIONAL_NAMES
    from mink_toolkit.verification import r2_score

    rng = np.random.default_rng(0)

    def case(patches):
        truth = rng.normal(size=(patches, 5, 3))
        violations = {g: {"any": 0.0} for g in ("empty_truth", "nonempty_truth")}
        per_seed = []
        for k in range(3):
            pred = truth + 0.5 * rng.normal(size=truth.shape)
            r2 = {f: r2_score(pred[..., j], truth[..., j]) for j, f in enumerate(FUNCTIONAL_NAMES)}
            per_seed.append({"r2": r2, "mae": r2, "skill": r2, "r2_per_threshold": {f: [v] * 5 for f, v in r2.items()},
                             "violations": violations, "perimeter_on_lower_bound": 0.0, "train_seconds": 1.0,
                             "best_step": 1, "prediction": pred,
                             "gradient": {g: float(k) if k or g == "rms" else float("nan") for g in GRADIENT_MEASURES}})
        return summarise_seeds(per_seed, truth, bootstrap={"n_resamples": 300})

    small, large = case(40), case(640)
    # seed 0's gradient is 0 everywhere: its relative measures are undefined and left out
    assert small["per_seed"]["gradient_high_k_share"] == [None, 1.0, 2.0]
    assert small["gradient"]["high_k_share"] == {"mean": 1.5, "std": 0.5, "seeds": 2}
    assert small["gradient"]["rms"] == {"mean": 1.0, "std": pytest.approx(np.std([0, 1, 2])), "seeds": 3}
    for s in (small, large):
        for f, (low, high) in s["bootstrap"].items():
            assert low < s["r2"][f] < high
    # the interval's width shrinks like 1 / sqrt(patches): 16x the patches, about a quarter of the width
    width = lambda s: s["bootstrap"]["area"][1] - s["bootstrap"]["area"][0]  # noqa: E731
    assert 0.15 < width(large) / width(small) < 0.4


def test_no_input_is_not_a_model_and_the_bound_share():
    from mink_toolkit.experiments import surrogate as driver

    with pytest.raises(ValueError, match="no model"):
        driver.build_model("no_input")
    with pytest.raises(ValueError, match="train_functionals"):
        driver.no_input_prediction(np.zeros((4, 3)))
    area = np.array([[0.5, 4.0, 100.0]])
    on = np.stack([area, 4 * np.minimum(area, np.sqrt(area)), np.zeros_like(area)], axis=-1)  # P = 4 min(A, √A)
    truth = np.ones_like(on)
    assert driver._perimeter_on_lower_bound(on, truth) == 1.0
    above = on * np.array([1.0, 1.001, 1.0])
    assert driver._perimeter_on_lower_bound(above, truth) == 0.0
    truth[0, 0, 0] = 0.0  # an empty true set is not counted
    assert driver._perimeter_on_lower_bound(np.concatenate([on[:, :1], above[:, 1:]], axis=1), truth) == 0.0


def test_the_command_compiles_by_default_and_passes_the_device(tmp_path, monkeypatch):
    """``--no-compile`` and ``--device`` reach :func:`run`; the API refuses a compile that is not a bool."""
    import pytest

    from mink_toolkit.__main__ import main
    from mink_toolkit.experiments import surrogate as driver

    seen = {}

    def fake_run(output, **kwargs):
        seen.update(kwargs)
        return {"seconds": 0.0}

    monkeypatch.setattr(driver, "run", fake_run)
    monkeypatch.setattr(driver, "markdown", lambda results: "")
    assert main(["reproduce", "surrogate", "--quick", "--output", str(tmp_path)]) == 0
    assert (seen["compile"], seen["device"]) == (True, "cpu")
    assert main(["reproduce", "surrogate", "--no-compile", "--device", "cpu:0", "--output", str(tmp_path)]) == 0
    assert (seen["compile"], seen["device"]) == (False, "cpu:0")
    monkeypatch.undo()
    with pytest.raises(TypeError, match="compile must be True or False; got 'yes'"):
        driver.run(tmp_path, quick=True, compile="yes")
    with pytest.raises(ValueError, match="device must be a torch device .*got 'gpu'"):
        driver.run(tmp_path, quick=True, device="gpu")
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_a_compiled_quick_run_records_how_it_trained(tmp_path, monkeypatch):
    """One compiled run (the aot_eager backend: the graph capture without code generation, seconds to compile)."""
    import math

    from mink_toolkit.__main__ import main
    from mink_toolkit.experiments import surrogate as driver

    monkeypatch.setenv("MINK_COMPILE_BACKEND", "aot_eager")
    # restored afterwards (compile_cache_dir would otherwise leave it set in this process)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    quick = driver.CONFIGS["quick"]
    quick = dict(quick, seeds=(0,), test_patches=4, gradient_patches=1,
                 attack={"steps": 1, "data": 1, "constant": 1, "random": 0},
                 model=dict(quick["model"], additive={"width": 2, "depth": 1, "levels": 1}),
                 train=dict(quick["train"], additive=dict(quick["train"]["additive"], steps=4, eval_every=2,
                                                          batch_size=4, val_patches=2)))
    monkeypatch.setitem(driver.CONFIGS, "quick", quick)
    assert main(["reproduce", "surrogate", "--quick", "--models", "additive", "--no-progress",
                 "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "surrogate.json").read_text())
    assert (results["compile"], results["compile_backend"], results["device"]) == (True, "aot_eager", "cpu")
    m = results["models"]["additive"]
    values = [*m["r2"].values(), *m["mae"].values(), m["lipschitz_certified"], m["lipschitz_attacked"],
              m["train_seconds"], results["seconds"]]
    assert all(math.isfinite(v) for v in values), values
    assert m["train_seconds"] > 0
    assert "Training compiled (aot_eager) on cpu." in (tmp_path / "surrogate.md").read_text().splitlines()[0]
