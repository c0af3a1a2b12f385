"""pyproject.toml is the source of truth; environment.yml must declare the same packages."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge / pytorch spell some packages differently from PyPI.
CONDA_TO_PYPI = {"pytorch": "torch"}


def _split(req: str) -> tuple[str, str]:
    req = req.split("::")[-1].strip()
    match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    name = match.group(1).lower().replace("_", "-")
    return CONDA_TO_PYPI.get(name, name), match.group(2).replace(" ", "")


def _pyproject():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = dict(_split(r) for r in data["dependencies"])
    extras = dict(_split(r) for group in data["optional-dependencies"].values() for r in group)
    return runtime, extras


def _environment():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = [d for d in env["dependencies"] if isinstance(d, str)]
    parsed = dict(_split(d) for d in deps if not d.startswith(("python", "pip")))
    return parsed


def test_environment_yml_declares_same_packages_and_versions():
    runtime, extras = _pyproject()
    conda = _environment()
    assert conda == {**runtime, **extras}


def test_torch_range_admits_the_cpu_wheel_on_disk():
    runtime, _ = _pyproject()
    spec = runtime["torch"]
    assert "<=2.13.0" in spec or "==2.13.0" in spec, spec


def test_makefile_pins_torch_cpu_wheel():
    assert '"torch==2.13.0"' in (ROOT / "Makefile").read_text()
