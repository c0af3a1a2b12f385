"""Longitude/latitude to the OPERA grids' projected coordinates (LAEA), without PROJ.

:func:`project_lonlat` is used by :func:`mink_toolkit.io.odim.read_odim` to
anchor each grid (its upper-left corner) and by users to locate places on a
composite.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["project_lonlat"]


def _parse_projdef(projdef: str) -> dict[str, str]:
    params = {}
    for token in projdef.split():
        key, _, value = token.lstrip("+").partition("=")
        params[key] = value
    return params


# Ellipsoids named in PROJ strings: semi-major axis (m), inverse flattening.
_ELLIPSOIDS = {"WGS84": (6378137.0, 298.257223563), "GRS80": (6378137.0, 298.257222101)}


def project_lonlat(lon, lat, projdef: str) -> tuple[np.ndarray, np.ndarray]:
    r"""Project longitude/latitude (degrees) with an OPERA LAEA ``projdef``.

    The ellipsoidal oblique Lambert azimuthal equal-area projection, written
    out from Snyder (1987), *Map Projections -- A Working Manual*, USGS
    Professional Paper 1395, pp. 187--188 (eqs. 3-12, 24-16 to 24-19), so
    that no PROJ installation is needed. Only ``+proj=laea`` with
    ``+ellps=WGS84``/``GRS80`` (or ``+a``/``+rf``), ``+lat_0``, ``+lon_0``,
    ``+x_0``, ``+y_0`` and ``+units=m`` is supported. Agrees with the
    corner coordinates stored in the OPERA files to better than 1 m.

    Parameters
    ----------
    lon, lat : array_like
        Degrees east / north; broadcast together.
    projdef : str
        PROJ string, e.g. ``read_odim(path).attrs["projdef"]``.

    Returns
    -------
    x, y : ndarray
        Projected coordinates in metres (float64).

    Examples
    --------
    >>> pd = ("+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 "
    ...       "+y_0=-2100000.0 +units=m +ellps=WGS84")
    >>> x, y = project_lonlat(10.0, 55.0, pd)
    >>> float(x), float(y)
    (1950000.0, -2100000.0)
    """
    params = _parse_projdef(projdef)
    if params.get("proj") != "laea":
        raise ValueError(f"projdef must be a '+proj=laea' PROJ string; got {projdef!r}")
    if params.get("units", "m") != "m":
        raise ValueError(f"projdef must use +units=m; got {projdef!r}")
    if "a" in params:
        a = float(params["a"])
        inv_f = float(params.get("rf", "inf"))
    else:
        ellps = params.get("ellps", "WGS84")
        if ellps not in _ELLIPSOIDS:
            raise ValueError(f"projdef ellipsoid {ellps!r} is not supported (use WGS84 or GRS80)")
        a, inv_f = _ELLIPSOIDS[ellps]
    flattening = 0.0 if math.isinf(inv_f) else 1.0 / inv_f
    e2 = flattening * (2.0 - flattening)
    e = math.sqrt(e2)
    lat0 = math.radians(float(params.get("lat_0", 0.0)))
    lon0 = math.radians(float(params.get("lon_0", 0.0)))
    x0 = float(params.get("x_0", 0.0))
    y0 = float(params.get("y_0", 0.0))

    def authalic_q(phi):
        s = np.sin(phi)
        if e == 0.0:
            return 2.0 * s
        return (1 - e2) * (s / (1 - e2 * s**2) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))

    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    qp = authalic_q(math.pi / 2)
    beta = np.arcsin(np.clip(authalic_q(phi) / qp, -1.0, 1.0))
    beta1 = math.asin(float(authalic_q(lat0)) / qp)
    rq = a * math.sqrt(qp / 2.0)
    m1 = math.cos(lat0) / math.sqrt(1 - e2 * math.sin(lat0) ** 2)
    d = a * m1 / (rq * math.cos(beta1))
    dlam = lam - lon0
    b = rq * np.sqrt(
        2.0 / (1 + math.sin(beta1) * np.sin(beta) + math.cos(beta1) * np.cos(beta) * np.cos(dlam))
    )
    x = x0 + b * d * np.cos(beta) * np.sin(dlam)
    y = y0 + (b / d) * (math.cos(beta1) * np.sin(beta) - math.sin(beta1) * np.cos(beta) * np.cos(dlam))
    return x, y
