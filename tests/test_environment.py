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


def test_torch_is_not_capped_and_admits_the_cpu_wheel_on_disk():
    from packaging.specifiers import SpecifierSet

    runtime, _ = _pyproject()
    spec = SpecifierSet(runtime["torch"])
    # No upper bound: a user's newer or CUDA torch must never be downgraded.
    assert not any(s.operator in ("<", "<=", "==", "~=", "===") for s in spec), spec
    assert "2.13.0" in spec and "2.99.0" in spec


def test_makefile_installs_torch_first_from_an_overridable_spec():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^TORCH_SPEC \?= torch==2\.13\.0$", text, re.M), "TORCH_SPEC ?= torch==2.13.0 expected"
    recipe = text[text.index("$(STAMP):"):]
    assert recipe.index("pip install $(TORCH_SPEC)") < recipe.index('pip install -e ".[test,lab]"')
