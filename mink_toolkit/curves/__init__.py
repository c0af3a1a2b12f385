"""Minkowski curves of radar archives: engine, dask scheduling, writers, the ``curves`` run.

* :mod:`~mink_toolkit.curves.lazy` -- :func:`minkowski_curves`, the curves of
  every field of a (lazy) ``(time, y, x)`` DataArray;
* :mod:`~mink_toolkit.curves.engine` -- :class:`CurvesSettings` and one dask
  task per file (:func:`file_curves`, :func:`compute_files`), the path of
  the ``curves`` command;
* :mod:`~mink_toolkit.curves.scheduling` -- :func:`compute_streaming`: dask
  tasks on a local scheduler or a ``dask.distributed`` cluster, each result
  handed over as it arrives;
* :mod:`~mink_toolkit.curves.store` -- the NetCDF and Zarr writers,
  provenance, and the Zarr store that commits as it goes and resumes;
* :mod:`~mink_toolkit.curves.run` -- :func:`run_curves`, the ``curves``
  command as a library function.
"""

import lazy_loader as _lazy

# Names are imported on first use: the command line reads the scheduler
# constants without importing xarray. The exported names are listed once, in
# __init__.pyi.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
