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
