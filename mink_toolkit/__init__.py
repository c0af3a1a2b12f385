"""mink_toolkit: differentiable Minkowski functionals of precipitation fields.

Exact functionals (:mod:`mink_toolkit.functionals`), OPERA radar input
(:mod:`mink_toolkit.opera`, :mod:`mink_toolkit.registry`) and, in further
modules, their analytic relaxation, a Lipschitz neural surrogate,
super-resolution experiments and archive analysis.
"""

from .functionals import (
    FUNCTIONAL_NAMES,
    betti_numbers,
    combine_terms,
    minkowski_functionals,
    required_terms,
)

__version__ = "0.1.0"

import importlib as _importlib

# Names exported from modules that need torch are imported on first use
# (PEP 562): ``import mink_toolkit`` stays light (numpy, xarray, h5py), which
# matters for every dask worker process and for the ``curves`` command.
_LAZY_EXPORTS: dict[str, str] = {}
_SUBMODULES = (
    "archive", "datasets", "functionals", "losses", "metrics", "opera", "plotting",
    "registry", "relax", "superres", "superres_experiment", "surrogate",
    "surrogate_experiment", "widgets",
)


def _lazy(module: str, names) -> list:
    """Register ``names`` as exported lazily from ``mink_toolkit.<module>``."""
    _LAZY_EXPORTS.update(dict.fromkeys(names, module))
    return list(names)


def __getattr__(name: str):
    if name in _LAZY_EXPORTS:
        value = getattr(_importlib.import_module(f".{_LAZY_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mink_toolkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_EXPORTS) | set(_SUBMODULES))

__all__ = [
    "FUNCTIONAL_NAMES",
    "betti_numbers",
    "combine_terms",
    "minkowski_functionals",
    "required_terms",
]

# --- OPERA input (mink_toolkit.opera, mink_toolkit.registry) ---
from .opera import (
    dbz_to_rainrate,
    extract_patches,
    load_opera,
    project_lonlat,
    read_odim,
)
from .registry import (
    OperaChecksumError,
    OperaDataNotFoundError,
    OperaFileError,
    fetch_opera,
    opera_files,
)

__all__ += [
    "OperaChecksumError",
    "OperaDataNotFoundError",
    "OperaFileError",
    "dbz_to_rainrate",
    "extract_patches",
    "fetch_opera",
    "load_opera",
    "opera_files",
    "project_lonlat",
    "read_odim",
]
# --- end OPERA input ---

# --- archive analysis (mink_toolkit.archive) ---
from .archive import coarsen_nanmean, minkowski_curves, open_opera, to_rainrate

__all__ += ["coarsen_nanmean", "minkowski_curves", "open_opera", "to_rainrate"]
# --- end archive analysis ---

# --- super-resolution (mink_toolkit.metrics, mink_toolkit.superres) ---
from .metrics import (
    critical_success_index,
    fractions_skill_score,
    gradient_grid_alignment,
    high_wavenumber_power_ratio,
    maximum_ratio,
    minkowski_errors,
    rapsd,
    superres_scores,
    wet_wasserstein,
)

__all__ += [
    "critical_success_index",
    "fractions_skill_score",
    "gradient_grid_alignment",
    "high_wavenumber_power_ratio",
    "maximum_ratio",
    "minkowski_errors",
    "rapsd",
    "superres_scores",
    "wet_wasserstein",
]
__all__ += _lazy(
    "superres",
    [
        "AnalyticMinkowskiTerm",
        "LambdaSchedule",
        "ResidualUNet",
        "SurrogateTerm",
        "coarsen",
        "superres_patches",
        "train_superres",
        "upsample",
    ],
)
# --- end super-resolution ---

# --- relaxation and Minkowski image loss (mink_toolkit.relax, mink_toolkit.losses) ---
__all__ += _lazy(
    "losses",
    [
        "MinkowskiLoss",
        "Quantiles",
        "compress_functionals",
        "functional_distance",
        "gradient_share",
        "minkowski_loss",
        "resolve_thresholds",
        "threshold_gradients",
    ],
)
__all__ += _lazy(
    "relax",
    [
        "ConstantSchedule",
        "CosineSchedule",
        "ExponentialSchedule",
        "LinearSchedule",
        "TemperatureSchedule",
        "membership_functionals",
        "offset_from_grid",
        "paper_relaxation",
        "paper_temperature",
        "resolve_temperature",
        "soft_minkowski_functionals",
        "soft_threshold",
    ],
)
# --- end relaxation and loss ---

# --- neural surrogate (mink_toolkit.surrogate, mink_toolkit.datasets) ---
from .datasets import DEFAULT_THRESHOLDS, PatchSet, load_patches

__all__ += ["DEFAULT_THRESHOLDS", "PatchSet", "load_patches"]
__all__ += _lazy(
    "surrogate",
    [
        "ConventionalSurrogate",
        "MinkowskiSurrogate",
        "geometric_violations",
        "lipschitz_upper_bound",
        "load_surrogate",
        "save_surrogate",
        "train_surrogate",
    ],
)
# --- end neural surrogate ---
