"""OPERA files by registry name: fetched and read.

:func:`load_opera` is ``read_odim(fetch_opera(name))`` for a file of the
EUMETNET OPERA composites described in ``../shared/data/opera/README.md``
(see :mod:`mink_toolkit.io.registry` and :mod:`mink_toolkit.io.odim`). What
is done to a field after reading it -- Z--R conversion, the clutter screen,
patches -- is :mod:`mink_toolkit.preprocess`.
"""

from __future__ import annotations

import xarray as xr

from .odim import read_odim
from .registry import fetch_opera

__all__ = ["load_opera"]


def load_opera(name: str, *, download: bool = True, **read_kwargs) -> xr.DataArray:
    """Fetch a registered OPERA file and read it: ``read_odim(fetch_opera(name))``.

    Parameters
    ----------
    name : str
        Registry name (see :func:`mink_toolkit.opera_files`).
    download : bool, default True
        Passed to :func:`mink_toolkit.fetch_opera`.
    **read_kwargs
        Passed to :func:`~mink_toolkit.io.odim.read_odim`.

    Returns
    -------
    xarray.DataArray
        As :func:`~mink_toolkit.io.odim.read_odim`, with ``attrs["registry_name"] = name``.

    Examples
    --------
    >>> from mink_toolkit import load_opera, opera_files
    >>> rain = load_opera(opera_files("nimbus_rate")[0])
    >>> str(rain.time.values)[:19]
    '2024-11-26T01:00:00'
    """
    da = read_odim(fetch_opera(name, download=download), **read_kwargs)
    da.attrs["registry_name"] = name
    return da
