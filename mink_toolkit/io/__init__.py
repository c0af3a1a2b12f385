"""Input and output: OPERA files, ODIM-HDF5 decoding, lazy series, atomic writes.

The lowest layer of the toolkit (it imports nothing of it but
``_validation``):

* :mod:`~mink_toolkit.io.registry` -- the registered OPERA files, where to
  find them (``$MINK_DATA_DIR``, cache, download) and their checksums
  (the function ``registry()`` stays in that module: re-exported here it
  would hide the submodule's name);
* :mod:`~mink_toolkit.io.projection` -- longitude/latitude to the grids' LAEA
  coordinates;
* :mod:`~mink_toolkit.io.odim` -- the one ODIM header parser and image decoder
  (:func:`read_odim`, :func:`read_odim_header`);
* :mod:`~mink_toolkit.io.opera` -- registered files by name
  (:func:`load_opera`); what is done to a field after reading it (Z--R
  conversion, the clutter screen, patches) is :mod:`mink_toolkit.preprocess`;
* :mod:`~mink_toolkit.io.series` -- many files as one lazy ``(time, y, x)``
  array;
* :mod:`~mink_toolkit.io.atomic` -- the one atomic writer for files and
  directories.
"""

import lazy_loader as _lazy

# Names are imported on first use (as in the package itself): importing
# mink_toolkit.io.atomic or .registry must not pull in xarray and h5py.
# The exported names are listed once, in __init__.pyi.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
