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
    assert main(["reproduce", "surrogate", "--quick", "--no-progress", "--output", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "surrogate.json").read_text())
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
