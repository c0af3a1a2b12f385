"""Tests of mink_toolkit.experiments.annealing: ``reproduce annealing`` writes the controls of notebook 02's claim."""

from __future__ import annotations

import json
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
import pytest
import torch

from mink_toolkit.__main__ import main
from mink_toolkit.experiments import annealing as driver

#: A trimmed quick configuration: 2 patches x 2 crops, 10 steps, 2 fixed and 2 annealed rules.
TINY = dict(driver.CONFIGS["quick"], steps=10, eval_every=4, fixed=(0.005, 0.05),
            annealed=("exponential_paper", "cosine"), r2_temperatures=(0.1, 0.005), r2_patches=2)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One trimmed ``--quick`` run through the command line: its folder and JSON."""
    folder = tmp_path_factory.mktemp("annealing")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(driver.CONFIGS, "quick", TINY)
        assert main(["reproduce", "annealing", "--quick", "--no-progress", "--output", str(folder)]) == 0
    return folder, json.loads((folder / "annealing.json").read_text())


def test_json_fields_and_crops_from_the_training_split(quick_run):
    from mink_toolkit.datasets import split_files

    _, results = quick_run
    config = results["config"]
    assert {"seed", "steps", "lr", "eval_every", "starts", "fixed", "annealed", "crop", "patches",
            "crops_per_patch"} <= set(config)
    assert config["quick"] is True and config["steps"] == 10
    n = TINY["patches"] * TINY["crops_per_patch"]
    assert config["n_crops"] == n and config["temperatures"]["fixed"] == [0.005, 0.05]
    assert list(config["temperatures"]["annealed"]) == ["exponential_paper", "cosine"]
    assert len(results["crops"]) == n
    train = set(split_files("train"))
    assert {c["source"] for c in results["crops"]} <= train  # the test (and validation) files are not read
    assert results["data"]["patches_used"] == TINY["patches"]
    low, high = TINY["eligible"]["wet_fraction"]
    assert all(low <= c["wet_fraction"] <= high and c["max"] >= TINY["eligible"]["min_max"] for c in results["crops"])
    rules = ["fixed 0.005", "fixed 0.05", "exponential_paper", "cosine"]
    assert list(results["rules"]) == rules
    # The paper's exponential runs from 0.1 u and reaches its floor 0.005 u within the steps.
    paper = results["rules"]["exponential_paper"]
    assert paper["first"] == pytest.approx(0.1) and paper["last"] == pytest.approx(0.005)
    assert paper["reaches_last_at"] <= config["steps"] - 1 and len(paper["values"]) == config["steps"]
    assert results["eval_steps"] == [4, 8, 10]
    for start in TINY["starts"]:
        assert len(results["start_distance"][start]) == n and min(results["start_distance"][start]) > 0
        for rule in rules:
            crop = results["per_crop"][start][rule]
            assert len(crop["final"]) == len(crop["trajectory_median"]) == n
            assert np.asarray(crop["trajectory"]).shape == (n, len(results["eval_steps"]))
            assert crop["final"] == [row[-1] for row in crop["trajectory"]]
    r2 = results["relaxation_r2"]
    for group in ("crops", "patches"):
        assert list(r2[group]) == ["0.1", "0.005"]
        assert set(r2[group]["0.005"]) == {"area", "perimeter", "euler_characteristic"}
    assert r2["crops"]["0.005"]["area"] > r2["crops"]["0.1"]["area"]  # colder is more accurate


def test_summaries_are_computed_from_the_per_crop_values(quick_run):
    _, results = quick_run
    for start, summary in results["summaries"].items():
        per_crop = results["per_crop"][start]
        finals = {rule: np.asarray(v["final"]) for rule, v in per_crop.items()}
        fixed = [r for r in per_crop if results["rules"][r]["kind"] == "fixed"]
        best = min(fixed, key=lambda r: np.median(finals[r]))
        assert summary["best_fixed"] == best
        for rule, entry in summary["rules"].items():
            assert entry["final"]["median"] == pytest.approx(np.median(finals[rule]))
            assert entry["final"]["q25"] <= entry["final"]["median"] <= entry["final"]["q75"]
            medians = [np.median(row) for row in per_crop[rule]["trajectory"]]
            assert per_crop[rule]["trajectory_median"] == pytest.approx(medians)
            assert entry["trajectory_median"] == pytest.approx(np.median(medians))
            if results["rules"][rule]["kind"] == "annealed":
                assert entry["beats_best_fixed"] == pytest.approx(np.mean(finals[rule] < finals[best]))
                every = np.min([finals[r] for r in fixed], axis=0)
                assert entry["beats_every_fixed"] == pytest.approx(np.mean(finals[rule] < every))
            else:
                assert "beats_best_fixed" not in entry


def test_markdown_and_readme_block_come_from_the_json(quick_run, tmp_path):
    folder, results = quick_run
    table = (folder / "annealing.md").read_text()
    assert "| `exponential_paper` | 0.1 → 0.005 |" in table and "**Start `coarse`**" in table
    buffer = StringIO()
    with redirect_stdout(buffer):
        assert main(["reproduce", "annealing", "--markdown", str(folder / "annealing.json")]) == 0
    assert buffer.getvalue() == table
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- annealing:begin -->\nstale\n<!-- annealing:end -->\nrest\n")
    with redirect_stdout(StringIO()):
        assert main(["reproduce", "annealing", "--markdown", str(folder / "annealing.json"),
                     "--readme", str(readme)]) == 0
    assert readme.read_text() == "intro\n<!-- annealing:begin -->\n" + table + "<!-- annealing:end -->\nrest\n"


def test_cli_errors(quick_run, tmp_path, capsys):
    folder, _ = quick_run
    assert main(["reproduce", "annealing", "--readme", str(tmp_path / "R.md")]) == 2
    assert "--readme needs --markdown JSON" in capsys.readouterr().err
    no_block = tmp_path / "R.md"
    no_block.write_text("no block here\n")
    json_path = str(folder / "annealing.json")
    assert main(["reproduce", "annealing", "--markdown", json_path, "--readme", str(no_block)]) == 1
    err = capsys.readouterr().err
    assert "must hold exactly one block '<!-- annealing:begin -->'" in err and len(err.strip().splitlines()) == 1
    assert main(["reproduce", "annealing", "--output"]) == 2
    assert "expected one argument" in capsys.readouterr().err
    assert main(["reproduce", "annealing", "--steps", "3"]) == 2
    assert "unrecognized arguments: --steps 3" in capsys.readouterr().err


def test_starts_carry_structure_and_the_optimisation_is_deterministic(quick_run):
    """Starts are seeded, wet where the target is wet (never a dry field); the same run gives the same numbers."""
    from mink_toolkit.datasets import load_patches

    levels = driver._levels(TINY)
    crops, _, _ = driver.select_crops(load_patches("train", max_files=1, progress=False), levels, TINY)
    starts = driver.make_starts(crops, TINY)
    again = driver.make_starts(crops, TINY)
    for kind, field in starts.items():
        np.testing.assert_array_equal(field, again[kind])
        assert field.min() > 0
        # Structure at the thresholds: at the lowest one, a good share of each start's pixels is wet.
        assert ((field >= levels[0]).mean(axis=(1, 2)) > 0.1).all()
    temperatures = np.full(4, 0.05)
    one = driver.optimise(starts["coarse"][:2], crops[:2], levels, temperatures, lr=0.05, eval_every=2)
    two = driver.optimise(starts["coarse"][:2], crops[:2], levels, temperatures, lr=0.05, eval_every=2)
    np.testing.assert_array_equal(one["trajectory"], two["trajectory"])
    # Batched crops follow the trajectories they follow alone (Adam is element-wise; the loss is a sum).
    alone = driver.optimise(starts["coarse"][1:2], crops[1:2], levels, temperatures, lr=0.05, eval_every=2)
    np.testing.assert_allclose(alone["field"][0], one["field"][1], rtol=1e-10)
    # The t-norm reaches the loss (notebook 02's exercise 3); a bad one is refused by the loss, naming it.
    godel = driver.optimise(starts["coarse"][:2], crops[:2], levels, temperatures, lr=0.05, eval_every=2,
                            tnorm="godel")
    assert not np.array_equal(godel["field"], one["field"])
    with pytest.raises(ValueError, match="tnorm"):
        driver.optimise(starts["coarse"][:2], crops[:2], levels, temperatures, lr=0.05, eval_every=2, tnorm="max")
