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
