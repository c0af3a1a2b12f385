"""The package's import layering: data flows one way, no lower module imports a higher one.

Every module's imports are read with :mod:`ast` -- at module top *and* inside
functions (a lazy import is still a dependency) -- and each module of the
package is given a layer. A module may import only from its own layer or
below. A new module must be given a layer here, which is the point: its
place in the data flow is then a decision, not an accident.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mink_toolkit"

#: Lowest first. A name stands for the module ``mink_toolkit.<name>`` and,
#: if it is a package, everything in it.
LAYERS = [
    # _runtime (process settings), reporting (tables, JSON, README blocks) and parallel (worker
    # processes) are infrastructure of the drivers: standard library and numpy, torch only lazily.
    ("_validation", "thresholds", "io", "_version", "_runtime", "reporting", "parallel"),
    ("functionals",),
    ("resample", "preprocess"),
    ("verification",),
    # relax/: the continuous logic, the relaxed functionals on it, the published variant on those.
    ("relax.tnorms", "schedules"),
    ("relax.soft",),
    ("relax.paper",),
    ("relax",),
    ("losses",),
    ("datasets", "checkpoint"),
    # surrogate/, inside: the architectures over their norms and head, the tools over the architectures.
    ("surrogate.norms", "surrogate.constraints"),
    ("surrogate.models",),
    ("surrogate.conventional", "surrogate.configurations"),
    ("surrogate.certify", "surrogate.checkpoint", "surrogate.training", "surrogate.gradients"),
    ("surrogate",),
    # superres/, inside: the network over its baselines, training and checkpoints over the network,
    # the evaluation over training's predict.
    ("superres.baselines",),
    ("superres.models",),
    ("superres.checkpoint", "superres.training"),
    ("superres.evaluation",),
    ("superres",),
    ("curves",),
    ("experiments",),
    ("cli",),
    ("notebook",),
    ("__main__",),
]
#: Known violations waiting for a move that is someone else's step, with the
#: reason. An entry that no longer occurs fails the test: remove it then.
PENDING = {
}
# The package's __init__ only attaches the lazy loader; nothing may import it
# (``from . import __version__`` in a submodule would be an import from the top).
TOP = "__init__"


def _layer_of(module: str) -> int:
    """Layer of a dotted module name below ``mink_toolkit``, e.g. ``io.series``."""
    for level, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                return level
    if module == TOP:
        return len(LAYERS)
    raise AssertionError(f"mink_toolkit.{module} has no layer: add it to LAYERS in {__file__}")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]  # a subpackage's __init__ is the subpackage
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path) -> set[str]:
    """Package modules that ``module`` imports, relative names resolved, lazy imports included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    package_parts = module.split(".") if is_package else module.split(".")[:-1]
    if module == TOP:
        package_parts = []
    known = set(_modules())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "mink_toolkit":
                    found.add(TOP)
                elif alias.name.startswith("mink_toolkit."):
                    found.add(alias.name.removeprefix("mink_toolkit."))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module is None or not (node.module == "mink_toolkit" or node.module.startswith("mink_toolkit.")):
                    continue
                base = node.module.split(".")[1:]
            else:
                anchor = package_parts[: len(package_parts) - (node.level - 1)]
                base = anchor + (node.module.split(".") if node.module else [])
            for alias in node.names:
                # "from . import x" and "from .io import series" may name modules.
                candidate = ".".join([*base, alias.name])
                if candidate in known:
                    found.add(candidate)
                elif base:
                    found.add(".".join(base))
                else:
                    found.add(TOP)
    found.discard(module)
    return found


def test_every_module_has_a_layer():
    for module in _modules():
        if module != TOP:
            _layer_of(module)


def test_no_module_imports_a_higher_layer():
    violations, pending_seen = [], set()
    for module, path in _modules().items():
        if module == TOP:
            continue
        own = _layer_of(module)
        for imported in sorted(_imports(module, path)):
            if _layer_of(imported) > own:
                if (module, imported) in PENDING:
                    pending_seen.add((module, imported))
                    continue
                violations.append(f"mink_toolkit.{module} (layer {own}) imports mink_toolkit.{imported} "
                                  f"(layer {_layer_of(imported)})")
    assert not violations, "imports against the data flow:\n" + "\n".join(violations)
    stale = set(PENDING) - pending_seen
    assert not stale, f"these PENDING entries are fixed; remove them: {sorted(stale)}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The parser itself: a function-level relative import of a higher module is found."""
    source = tmp_path / "preprocess.py"
    source.write_text("def f():\n    from .cli import main\n    from . import __version__\n    from .io import series\n")
    found = _imports("preprocess", source)
    assert found == {"cli", TOP, "io.series"}
    assert _layer_of("cli") > _layer_of("preprocess") and _layer_of("io.series") < _layer_of("preprocess")
    with pytest.raises(AssertionError, match="has no layer"):
        _layer_of("brand_new_module")


def test_package_import_is_lazy_and_torch_free():
    """Dask workers import the toolkit for the curves engine; that must not pull in torch."""
    code = (
        "import sys, mink_toolkit as mk\n"
        "assert 'xarray' not in sys.modules, 'import mink_toolkit imported xarray'\n"
        "mk.minkowski_curves, mk.open_opera, mk.read_odim, mk.coarsen_nanmean, mk.atomic_write\n"
        "import mink_toolkit.cli, mink_toolkit.curves, mink_toolkit.io.series, mink_toolkit.resample\n"
        "import mink_toolkit.curves.run, mink_toolkit.curves.lazy, mink_toolkit.preprocess\n"
        "assert 'torch' not in sys.modules, 'the archive path imported torch'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


#: Modules the numpy-only verification package may import (none of them loads torch).
TORCH_FREE = ("_validation", "thresholds", "functionals", "verification")


def test_verification_imports_only_torch_free_modules():
    for module, path in _modules().items():
        if module == "verification" or module.startswith("verification."):
            imported = _imports(module, path)
            wrong = sorted(m for m in imported if not any(m == t or m.startswith(t + ".") for t in TORCH_FREE))
            assert not wrong, f"mink_toolkit.{module} imports {wrong}; verification must stay numpy-only"


def test_importing_verification_loads_no_torch():
    code = (
        "import mink_toolkit.verification, sys\n"
        "mink_toolkit.verification.crps_ensemble([[0.0], [2.0]], [1.0])\n"
        "assert 'torch' not in sys.modules, 'import mink_toolkit.verification imported torch'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
