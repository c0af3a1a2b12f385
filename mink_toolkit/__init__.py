"""mink_toolkit: differentiable Minkowski functionals of precipitation fields.

Exact functionals (:mod:`mink_toolkit.functionals`), OPERA radar input,
their analytic relaxation, a Lipschitz neural surrogate, super-resolution
experiments and archive analysis; see the README's library map.

Every public name is imported on first use (``lazy_loader``, as in
scikit-image): ``import mink_toolkit`` stays light (no torch, no xarray),
which matters for every dask worker process and for the ``curves`` command.
The names and where they come from are declared once, in ``__init__.pyi``,
which IDEs and type checkers read as well.
"""

import lazy_loader as _lazy

__version__ = "0.1.0"

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
