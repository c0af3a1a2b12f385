"""Small synthetic ODIM-HDF5 composites for the tests (random values, nothing cut from real data).

Imported by the tests as ``from _odim_files import write_odim`` (``tests/``
is on ``sys.path`` because ``tests/conftest.py`` lives there); the
``synthetic`` fixture in ``conftest.py`` writes a four-file archive.
"""

from __future__ import annotations

import h5py
import numpy as np

# The OPERA upper-left corner: read_odim projects it to x = 0, y = 0.
UL_LON, UL_LAT = -39.5357864125034, 67.02283275830867
PROJDEF = "+proj=laea +lat_0=55.0 +lon_0=10.0 +x_0=1950000.0 +y_0=-2100000.0 +units=m +ellps=WGS84"
NODATA, UNDETECT = -9999000.0, -8888000.0


def write_odim(path, stamp="20180824180000", *, shape=(24, 20), quantity="RATE", product="COMP",
               scale=2000.0, values=None, data_shape=None, seed=0):
    """A small synthetic ODIM-HDF5 composite (ODIM 2.0 layout, as the Odyssey files).

    Random rain (log-normal) with a no-coverage band (nodata) on the left and
    undetect pixels, so the NaN policies matter.
    """
    rng = np.random.default_rng(seed)
    if values is None:
        values = rng.lognormal(-1.0, 1.5, size=shape).round(2)
        values[rng.random(shape) < 0.4] = UNDETECT
        values[:, : shape[1] // 4] = NODATA
    if data_shape is not None:
        values = np.zeros(data_shape)
    date, clock = stamp[:8], stamp[8:]
    with h5py.File(path, "w") as f:
        f.attrs["Conventions"] = np.bytes_("ODIM_H5/V2_0")
        what = f.create_group("what").attrs
        for k, v in {"date": date, "time": clock, "object": "COMP", "source": "ORG:247",
                     "version": "H5rad 2.0"}.items():
            what[k] = np.bytes_(v)
        where = f.create_group("where").attrs
        where["projdef"] = np.bytes_(PROJDEF)
        where["xscale"], where["yscale"] = scale, scale
        where["ysize"], where["xsize"] = np.uint64(shape[0]), np.uint64(shape[1])
        where["UL_lon"], where["UL_lat"] = UL_LON, UL_LAT
        dwhat = f.create_group("dataset1/what").attrs
        for k, v in {"product": product, "quantity": quantity, "startdate": date, "starttime": clock,
                     "enddate": date, "endtime": clock}.items():
            dwhat[k] = np.bytes_(v)
        dwhat["gain"], dwhat["offset"], dwhat["nodata"], dwhat["undetect"] = 1.0, 0.0, NODATA, UNDETECT
        f.create_dataset("dataset1/data1/data", data=np.asarray(values, dtype=np.float64), compression="gzip")
    return str(path)


THRESHOLDS = [0.1, 0.5, 1.0, 5.0, 10.0]
NAMES = ("area", "perimeter", "euler_characteristic")


def serial_reference(paths, thresholds=THRESHOLDS, **kwargs):
    """Independent reference curves: one file at a time, numpy only, in time order."""
    from mink_toolkit import minkowski_functionals, read_odim

    fields = sorted((read_odim(p) for p in paths), key=lambda f: f["time"].values)
    kwargs.setdefault("nan_policy", "window")
    return np.stack([minkowski_functionals(f.values, thresholds, **kwargs) for f in fields])


def as_array(curves):
    """(time, threshold, 3) array of a curves Dataset."""
    return np.stack([curves[n].values for n in NAMES], axis=-1)
