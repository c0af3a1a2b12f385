"""Tests of mink_toolkit.experiments.surrogate: ``reproduce surrogate`` writes the ablation."""

from __future__ import annotations

import json


def test_reproduce_writes_the_ablation(tmp_path, monkeypatch):
    """All six rows with the fields of the issue's format (a trimmed quick configuration, one seed)."""
    from mink_toolkit.__main__ import main
    from mink_toolkit.experiments import surrogate as driver

    quick = dict(driver.CONFIGS["quick"], seeds=(0,), test_patches=4, gradient_patches=1,
                 attack={"steps": 1, "data": 1, "constant": 1, "random": 0})
    monkeypatch.setitem(driver.CONFIGS, "quick", quick)
    assert main(["reproduce", "surrogate", "--quick", "--no-progress", "--no-compile", "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "surrogate.json").read_text())
    assert (results["compile"], results["compile_backend"], results["device"]) == (False, None, "cpu")
    assert results["seconds"] > 0
    assert list(results["models"]) == ["estimator", "additive", "additive_learnt", "conventional_plain",
                                       "conventional_sn", "conventional_certified"]
    functionals = {"area", "perimeter", "euler_characteristic"}
    for name, m in results["models"].items():
        assert set(m["r2"]) == set(m["mae"]) == functionals
        assert set(m["violations"]) == {"empty_truth", "nonempty_truth"}
        assert "perimeter_min" in m["violations"]["nonempty_truth"]
        assert 0 < m["lipschitz_attacked"] <= m["lipschitz_certified"]
        assert {"high_k_share", "total_variation", "gradient_lipschitz", "relative_variance"} <= set(m["gradient"])
        assert m["parameters"] > 0 and m["contains"]
        assert m["per_seed"][0]["seed"] == 0
        assert (m["train_seconds"] > 0) == (name != "estimator")
    for name in ("estimator", "additive", "additive_learnt", "conventional_sn", "conventional_certified"):
        for group in ("empty_truth", "nonempty_truth"):  # the constrained head: no continuous violation
            assert results["models"][name]["violations"][group]["any"] == 0.0
    assert results["models"]["conventional_sn"]["settings"]["spectral_norm"]
    assert not results["models"]["additive_learnt"]["settings"]["use_order_statistics"]
    assert set(results["models"]["additive"]["gain_over_estimator"]) == functionals
    table = (tmp_path / "surrogate.md").read_text()
    assert "| `additive_learnt` |" in table and "certified L" in table
    assert "Training eager on cpu." in table.splitlines()[0]
    assert (tmp_path / "checkpoints" / "additive_learnt_seed0.pt").is_file()
    assert not (tmp_path / "checkpoints" / "estimator_seed0.pt").exists()  # nothing was trained
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
