"""The command line itself: parsing, help, errors as one line and an exit status.

Run in-process through ``main``/``curves_main`` (one subprocess smoke test);
small synthetic ODIM files (random rain rates) keep it quick. What the
curves run writes is tests/curves/test_run.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from _odim_files import as_array, serial_reference, write_odim

from mink_toolkit.cli import curves_main, curves_parser, main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args):
    return curves_main([str(a) for a in args])


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no such file"),
        ("empty_glob", "matches no file"),
        ("unreadable", "T_BAD_20180824200000.hdf"),
        ("mixed", "mixed products"),
        ("bad_in_task", "T_SHAPE_20180824200000.hdf"),
        ("no_dir", "the directory"),
        # Arguments that do not fit the files: a bad command line (2).
        ("suffix", "must end in .nc"),
        ("zr_without_rain", "--zr-a/--zr-b only apply with --rain-rate"),
        ("rain_of_rate", "DBZH"),
        ("negative_rain_threshold", "--thresholds must be > 0 for a field in mm/h"),
        ("infinite_threshold", "--thresholds must be finite; got [0.5, inf]"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(case, message, synthetic, tmp_path, capsys):
    folder = Path(synthetic[0]).parent
    out = tmp_path / "curves.nc"
    extra: list = []
    paths: list = list(synthetic)
    if case == "missing":
        paths.append(folder / "T_TEST_20180824200000.hdf")
    elif case == "empty_glob":
        paths = [folder / "*.h5"]
    elif case == "unreadable":
        (folder / "T_BAD_20180824200000.hdf").write_bytes(b"\x89HDF\r\n truncated")
        paths = [folder]
    elif case == "mixed":
        paths.append(write_odim(folder / "T_ODD_20180824200000.hdf", "20180824200000", product="MAX"))
    elif case == "bad_in_task":
        # The header is fine, the image is not: this fails inside a dask task.
        paths.append(write_odim(folder / "T_SHAPE_20180824200000.hdf", "20180824200000", data_shape=(3, 3)))
    elif case == "suffix":
        out = tmp_path / "curves.csv"
    elif case == "no_dir":
        out = tmp_path / "nowhere" / "curves.nc"
    elif case == "zr_without_rain":
        extra = ["--zr-a", "300"]
    elif case == "rain_of_rate":
        extra = ["--rain-rate"]
    thresholds = {"negative_rain_threshold": "-1,0.5", "infinite_threshold": "0.5,inf"}.get(case, "0.1,1")
    before = sorted(os.listdir(tmp_path))
    status = run_cli(*paths, f"--thresholds={thresholds}", "--no-progress", "--out", out, *extra)
    err = capsys.readouterr().err
    usage = case in ("suffix", "zr_without_rain", "rain_of_rate", "negative_rain_threshold", "infinite_threshold")
    assert status == (2 if usage else 1)
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no temporary left


def test_cli_usage_errors_exit_2(synthetic, tmp_path, capsys):
    out = tmp_path / "c.nc"
    assert run_cli(*synthetic, "--thresholds", "1,0.5", "--out", out) == 2
    assert "strictly increasing" in capsys.readouterr().err
    assert run_cli(*synthetic, "--thresholds", "a,b", "--out", out) == 2
    assert run_cli(*synthetic, "--thresholds", "1") == 2  # no --out
    assert run_cli("--help") == 0
    assert not out.exists()


def test_cli_subprocess_smoke(synthetic, tmp_path):
    out = tmp_path / "smoke.nc"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "mink_toolkit", "curves", *synthetic, "--thresholds", "0.1,1",
         "--scheduler", "threads", "--workers", "2", "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "Minkowski curves" in done.stderr  # progress bar on stderr
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(as_array(ds), serial_reference(synthetic, [0.1, 1.0]))


def test_cli_unreachable_scheduler_exits_1(synthetic, tmp_path, capsys):
    out = tmp_path / "c.nc"
    status = run_cli(*synthetic, "--thresholds", "1", "--scheduler", "tcp://127.0.0.1:9",
                     "--connect-timeout", "1", "--out", out)
    assert status == 1
    assert "cannot connect to the dask scheduler 'tcp://127.0.0.1:9'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["archive"]


def test_top_level_dispatch(capsys, synthetic, tmp_path):
    assert main(["--help"]) == 0 and "curves" in capsys.readouterr().out
    assert main([]) == 2
    assert main(["reproduce"]) == 2 and "reproduce {surrogate, superres, annealing}" in capsys.readouterr().err
    assert main(["curves", "--help"]) == 0 and "--max-rain" in capsys.readouterr().out
    out = tmp_path / "c.nc"
    assert main(["curves", *synthetic, "--thresholds", "1", "--no-progress", "--out", str(out)]) == 0
    assert out.exists()


# --------------------------------------------------------------------- thresholds against the unit


@pytest.mark.parametrize("spelling", [["--thresholds=-1,0.5"], ["--thresholds", "-1,0.5"]])
def test_negative_rain_thresholds_exit_2_naming_the_option_value_and_unit(spelling, synthetic, tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert main(["curves", *synthetic, *spelling, "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--thresholds" in err and "-1" in err and "mm/h" in err and "expected one argument" not in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_thresholds_of_reflectivity_may_be_negative_but_finite(tmp_path, capsys):
    dbz = np.full((24, 20), 20.0)
    paths = [write_odim(tmp_path / f"T_DBZ_2024112601{m}00.hdf", f"2024112601{m}00", quantity="DBZH",
                        product="MAX", values=dbz) for m in ("00", "05")]
    out = tmp_path / "dbz.nc"
    common = ["--scheduler", "synchronous", "--no-progress", "--out", out]
    assert run_cli(*paths, "--thresholds", "-10,10", *common) == 0
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds["area"].values.tolist() == [[480.0, 480.0], [480.0, 480.0]]
    assert run_cli(*paths, "--thresholds", "-inf,10", "--overwrite", *common) == 2
    assert "--thresholds must be finite; got [-inf, 10.0]" in capsys.readouterr().err
    # Converted to rain rate, the same files need thresholds > 0.
    assert run_cli(*paths, "--thresholds", "-10,10", "--rain-rate", "--overwrite", *common) == 2
    assert "must be > 0 for a field in mm/h" in capsys.readouterr().err


def test_negative_values_reach_the_check_of_any_option(synthetic, tmp_path, capsys):
    assert run_cli(*synthetic, "--thresholds", "1", "--workers", "-2", "--out", tmp_path / "c.nc") == 2
    assert "expected a positive integer; got '-2'" in capsys.readouterr().err


# --------------------------------------------------------------------- help


def _help(argv, capsys) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_top_level_help_describes_every_command(capsys):
    text = _help(["--help"], capsys)
    for line in ("curves     Minkowski curves", "reproduce  rerun an experiment", "workshop   student and instructor"):
        assert line in text
    assert "args" not in text.split() and "{" not in text


@pytest.mark.parametrize("argv", [["--help"], ["curves", "--help"], ["workshop", "--help"], ["reproduce", "--help"],
                                  ["reproduce", "surrogate", "--help"], ["reproduce", "superres", "--help"],
                                  ["reproduce", "annealing", "--help"]])
def test_no_markup_in_terminal_help(argv, capsys):
    text = _help(argv, capsys)
    for markup in ("``", ":func:", ":mod:", ":class:", ":data:", "**"):
        assert markup not in text, f"{markup!r} in the help of {argv}"


def test_every_curves_option_has_help():
    parser = curves_parser()
    missing = [a.option_strings or a.dest for a in parser._actions if not a.help]
    assert not missing
    assert "pixel neighbourhood" in parser.format_help() and "Crofton" in parser.format_help()


# --------------------------------------------------------------------- files and paths


def test_a_users_corrupt_file_is_not_told_to_fetch_it_again(tmp_path, capsys):
    bad = tmp_path / "mine.hdf"
    bad.write_bytes(b"\x89HDF\r\n truncated")
    assert run_cli(bad, "--thresholds", "1", "--out", tmp_path / "c.nc") == 1
    err = capsys.readouterr().err
    assert "mine.hdf is not a readable ODIM-HDF5 file" in err and "fetch it again" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_unwritable_out_is_one_line_naming_the_path(synthetic, tmp_path, capsys):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        # root writes anywhere but on a file system that refuses every write.
        out = (folder if os.geteuid() != 0 else Path("/proc")) / "c.nc"
        assert run_cli(*synthetic, "--thresholds", "1", "--no-progress", "--out", out) == 1
    finally:
        folder.chmod(0o700)
    err = capsys.readouterr().err
    assert f"cannot write --out '{out}'" in err and "h5py" not in err and "errno" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_bad_scheduler_address_fails_fast_naming_the_option(synthetic, tmp_path, capsys):
    out = tmp_path / "c.nc"
    started = time.perf_counter()
    # Nothing listens on port 9; the handshake's default timeout (20 s) is not waited for.
    assert run_cli(*synthetic, "--thresholds", "1", "--scheduler", "tcp://127.0.0.1:9", "--out", out) == 1
    assert time.perf_counter() - started < 5
    err = capsys.readouterr().err
    assert "--scheduler" in err and "127.0.0.1:9" in err and len(err.strip().splitlines()) == 1
    assert run_cli(*synthetic, "--thresholds", "1", "--scheduler", "tcp://:::1", "--out", out) == 2
    err = capsys.readouterr().err
    assert "--scheduler 'tcp://:::1' is neither" in err and "Traceback" not in err
    assert not out.exists()


# --------------------------------------------------------------------- reproduce


@pytest.mark.parametrize("argv, option", [(["surrogate", "--threads", "-1"], "--threads"),
                                          (["surrogate", "--jobs", "0"], "--jobs"),
                                          (["superres", "--workers", "0"], "--workers")])
def test_reproduce_refuses_counts_below_one(argv, option, capsys):
    assert main(["reproduce", *argv]) == 2
    err = capsys.readouterr().err
    assert f"{option} must be >= 1" in err and "Traceback" not in err


@pytest.mark.parametrize("experiment", ["surrogate", "superres"])
@pytest.mark.parametrize("device, message", [("gpu", "--device must be a torch device such as 'cpu', 'cuda'"),
                                             ("cuda:x", "got 'cuda:x'"),
                                             ("cuda", "--device 'cuda': CUDA is not available here")])
def test_reproduce_refuses_a_device_it_cannot_use(experiment, device, message, tmp_path, capsys):
    """A device torch does not know, or CUDA where torch has none (a CPU build, no GPU): exit 2, one line."""
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA: --device cuda is valid here")
    assert main(["reproduce", experiment, "--quick", "--device", device, "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing ran


@pytest.mark.parametrize("experiment", ["surrogate", "superres", "annealing"])
def test_reproduce_markdown_of_a_missing_or_broken_file(experiment, tmp_path, capsys):
    missing = tmp_path / "missing.json"
    assert main(["reproduce", experiment, "--markdown", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"--markdown {missing}: cannot read it" in err and len(err.strip().splitlines()) == 1
    broken = tmp_path / "broken.json"
    broken.write_text("<html>not JSON</html>")
    assert main(["reproduce", experiment, f"--markdown={broken}"]) == 2
    err = capsys.readouterr().err
    assert f"--markdown {broken}: not a JSON file" in err and len(err.strip().splitlines()) == 1


def test_unknown_command_and_experiment_exit_2(capsys):
    assert main(["curvse"]) == 2
    assert "unknown command 'curvse'; choose from curves, reproduce, workshop" in capsys.readouterr().err
    assert main(["reproduce", "nothing"]) == 2
    assert "name an experiment: surrogate, superres, annealing; got 'nothing'" in capsys.readouterr().err
