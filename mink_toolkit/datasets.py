"""Patch datasets of OPERA rain rates with exact Minkowski-functional targets.

The surrogate (:mod:`mink_toolkit.surrogate`) learns the map from a rain
field to its Minkowski curves. Its data are 128 × 128 patches (256 km at
2 km) of the OPERA rain-rate composites, with targets computed by the exact
estimator :func:`mink_toolkit.minkowski_functionals` (8-connected χ, edge
perimeter, pixel units) plus the number of components β0
(:func:`mink_toolkit.betti_numbers`), at the thresholds
:data:`DEFAULT_THRESHOLDS`.

Split by time **and** source, never at random by patch (the published code
leaked neighbouring patches of one field into its test set):

``"train"``
    2018-08-24 Odyssey rain rate, 18:00–21:45 UTC (16 files).
``"val"``
    the last two hours of the same day, 22:00–23:45 UTC (8 files): used for
    early stopping only.
``"test"``
    2024-11-26 NIMBUS rain rate, 01:00–02:00 UTC (5 files): another year,
    season and processing chain.

Patches lie fully inside radar coverage (``min_coverage=1``), so there is no
NaN to decide about, and patches holding clutter (> 150 mm/h, see
:func:`mink_toolkit.extract_patches`) are left out.

Computed targets are cached in the user cache folder
(:func:`mink_toolkit.io.registry.cache_dir`, sub-folder ``surrogate``) under a key
made of the SHA-256 of every input file and every setting, so a change of
data or settings can never reuse stale targets.

The eight rotations and reflections of the square (the dihedral group D4)
leave all three functionals and β0 unchanged (the estimators treat rows and
columns alike and the 2×2 configurations map onto each other), so
:func:`d4_transform` is a free augmentation.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import check_array_field, check_choice, check_integer
from .functionals import DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER, component_counts, minkowski_functionals
from .thresholds import DEFAULT_THRESHOLDS, check_thresholds
from .io.atomic import atomic_write
from .io.registry import cache_dir, opera_files, registry
from .preprocess import extract_patches
from .resample import block_mean


def _load_opera(name: str):
    """:func:`mink_toolkit.io.opera.load_opera`, imported when a file is read: the reader pulls in xarray
    and pandas (about 0.9 s), which a process that only gets patches from the cache, such as a worker
    of :func:`~mink_toolkit.surrogate.train_surrogates`, does not need."""
    from .io.opera import load_opera

    return load_opera(name)

__all__ = [
    "SPLITS",
    "PatchSet",
    "split_files",
    "exact_targets",
    "load_patches",
    "d4_transform",
    "random_d4",
    "random_windows",
    "take_windows",
    "random_crops",
    "SuperresData",
    "superres_patches",
    "superres_split",
]


SPLITS = ("train", "val", "test")

#: Version of the cached file layout; bump it when the targets' definition changes.
_CACHE_FORMAT = 1


def split_files(split: str) -> list[str]:
    """Registry names of the OPERA files in one split.

    Parameters
    ----------
    split : {"train", "val", "test"}

    Returns
    -------
    list of str
        Sorted by time. ``"val"`` is every Odyssey file less than two hours
        before the last one (22:00–23:45), ``"train"`` the earlier ones,
        ``"test"`` all NIMBUS rain-rate files.

    Examples
    --------
    >>> from mink_toolkit.datasets import split_files
    >>> [len(split_files(s)) for s in ("train", "val", "test")]
    [16, 8, 5]
    """

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    if split == "test":
        return opera_files("nimbus_rate")
    names = opera_files("odyssey_rate")
    entries = registry()
    times = np.array([np.datetime64(entries[n].time.replace("Z", "")) for n in names])
    # "Last two hours": strictly later than (last time - 2 h), i.e. 8 files at 15 min.
    is_val = times > times.max() - np.timedelta64(2, "h")
    return [n for n, v in zip(names, is_val) if v == (split == "val")]


@dataclass
class PatchSet:
    """Rain-rate patches and their exact functionals.

    Attributes
    ----------
    rain : ndarray, shape (N, H, W), float32
        Rain rate in mm/h, no NaN.
    functionals : ndarray, shape (N, n_thresholds, 3), float64
        Exact (area, perimeter, euler_characteristic) in pixel units
        (8-connected χ, edge perimeter).
    components : ndarray, shape (N, n_thresholds), float64
        Number of 8-connected components β0.
    thresholds : ndarray, shape (n_thresholds,)
        mm/h.
    time : ndarray, shape (N,), datetime64[s]
        Nominal time of each patch's composite.
    source : ndarray, shape (N,), str
        Registry name of each patch's file.
    origin : ndarray, shape (N, 2), int
        Row and column of each patch's first pixel in the composite.
    settings : dict
        The settings the set was built with (split, size, ...).
    """

    rain: np.ndarray
    functionals: np.ndarray
    components: np.ndarray
    thresholds: np.ndarray
    time: np.ndarray
    source: np.ndarray
    origin: np.ndarray
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rain.shape[0])

    def subset(self, index) -> "PatchSet":
        """The patches at ``index`` (any numpy index), as a new set."""
        return PatchSet(
            self.rain[index],
            self.functionals[index],
            self.components[index],
            self.thresholds,
            self.time[index],
            self.source[index],
            self.origin[index],
            dict(self.settings),
        )


def exact_targets(rain, thresholds, *, connectivity: int = DEFAULT_CONNECTIVITY, perimeter: str = DEFAULT_PERIMETER,
                  progress: bool = False, chunk: int = 64):
    """Exact functionals and β0 of a stack of fields.

    Parameters
    ----------
    rain : array_like, shape (N, H, W)
        Rain rate (mm/h), no NaN.
    thresholds : 1-D array_like, strictly increasing
        mm/h.
    connectivity : {8, 4}
        Connectivity of χ and of the components β0.
    perimeter : {"edges", "crofton"}
        Boundary-length estimator.
    progress : bool
        Show a tqdm progress bar (β0 labels every set, the slow part).
    chunk : int
        Fields per step of the progress bar.

    Returns
    -------
    functionals : ndarray, shape (N, n, 3), float64
        :func:`mink_toolkit.minkowski_functionals` (pixel units).
    components : ndarray, shape (N, n), float64
        β0 from :func:`mink_toolkit.functionals.component_counts`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 6, 6)); x[0, 1:3, 1:3] = 5.0; x[0, 4, 4] = 5.0
    >>> f, b0 = exact_targets(x, [1.0])
    >>> f[0, 0].tolist(), b0[0].tolist()
    ([5.0, 12.0, 2.0], [2.0])
    """
    from tqdm.auto import tqdm

    arr = check_array_field(rain, "rain")
    if arr.ndim != 3:
        raise ValueError(f"rain must be shaped (N, H, W); got {arr.shape}")
    thresholds = check_thresholds(thresholds)
    functionals = minkowski_functionals(arr, thresholds, connectivity=connectivity, perimeter=perimeter)
    components = np.empty(arr.shape[:1] + thresholds.shape, dtype=np.float64)
    starts = range(0, arr.shape[0], chunk)
    for start in tqdm(starts, desc="beta0", unit="chunk", disable=not progress, leave=False):
        block = arr[start : start + chunk]
        components[start : start + chunk] = component_counts(block, thresholds, connectivity=connectivity)
    return functionals, components


def _cache_key(files: list[str], settings: dict) -> str:

    entries = registry()
    payload = {
        "format": _CACHE_FORMAT,
        "files": [[n, entries[n].sha256] for n in files],
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _cache_path(split: str, key: str) -> Path:

    return cache_dir() / "surrogate" / f"patches-{split}-{key[:20]}.npz"


def _read_cache(path: Path, key: str) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        return None
    except Exception as err:  # a truncated or corrupt file: say so, then rebuild it
        warnings.warn(f"ignoring unreadable patch cache {path} ({err}); rebuilding it", stacklevel=3)
        return None


def load_patches(
    split: str,
    thresholds=DEFAULT_THRESHOLDS,
    *,
    size: int = 128,
    min_wet_fraction: float = 0.01,
    max_files: int | None = None,
    connectivity: int = DEFAULT_CONNECTIVITY,
    perimeter: str = DEFAULT_PERIMETER,
    cache: bool = True,
    progress: bool = True,
) -> PatchSet:
    """Patches of one split with exact targets, from the cache or computed once.

    Parameters
    ----------
    split : {"train", "val", "test"}
        See the module notes: split by time and source.
    thresholds : 1-D array_like, default :data:`DEFAULT_THRESHOLDS`
        mm/h, strictly increasing.
    size : int, default 128
        Patch side in pixels (non-overlapping patches, stride = size).
    min_wet_fraction : float, default 0.01
        Keep patches with at least this fraction of pixels >= 0.1 mm/h;
        mostly dry patches would teach little.
    max_files : int, optional
        Use only some files of the split (the first ones; for ``"val"``
        the last ones), for quick runs.
    connectivity, perimeter
        Estimators of the targets (see :func:`exact_targets`).
    cache : bool, default True
        Read/write the cache in ``cache_dir()/surrogate``.
    progress : bool, default True
        tqdm progress bar over files.

    Returns
    -------
    PatchSet

    Examples
    --------
    >>> from mink_toolkit.datasets import load_patches
    >>> test = load_patches("test", max_files=1, progress=False)  # doctest: +SKIP
    >>> test.rain.shape[1:], test.functionals.shape[1:]  # doctest: +SKIP
    ((128, 128), (21, 3))
    """
    from tqdm.auto import tqdm


    files = split_files(split)
    thresholds = check_thresholds(thresholds)
    if max_files is not None:
        max_files = check_integer(max_files, "max_files", minimum=1)
        files = files[-max_files:] if split == "val" else files[:max_files]
    settings = {
        "split": split,
        "thresholds": [float(u) for u in thresholds],
        "size": int(size),
        "min_wet_fraction": float(min_wet_fraction),
        "files": len(files),
        "connectivity": int(connectivity),
        "perimeter": perimeter,
    }
    key = _cache_key(files, settings)
    path = _cache_path(split, key)
    data = _read_cache(path, key) if cache else None
    if data is None:
        rains, funcs, comps, times, sources, origins = [], [], [], [], [], []
        for name in tqdm(files, desc=f"{split} patches", unit="file", disable=not progress):
            patches = extract_patches(_load_opera(name), size=size, min_wet_fraction=min_wet_fraction)
            rain = patches.values.astype(np.float32)
            f, b0 = exact_targets(rain, thresholds, connectivity=connectivity, perimeter=perimeter)
            rains.append(rain)
            funcs.append(f)
            comps.append(b0)
            times.append(patches["time"].values.astype("datetime64[s]"))
            sources.append(np.full(len(rain), name))
            origins.append(np.stack([patches["origin_row"].values, patches["origin_col"].values], axis=-1))
        data = {
            "key": np.array(key),
            "rain": np.concatenate(rains),
            "functionals": np.concatenate(funcs),
            "components": np.concatenate(comps),
            "time": np.concatenate(times),
            "source": np.concatenate(sources).astype(str),
            "origin": np.concatenate(origins).astype(np.int64),
        }
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A reader (another test worker, a notebook kernel) never sees half a file.
            with atomic_write(path) as tmp, open(tmp, "wb") as handle:
                np.savez_compressed(handle, **data)
    return PatchSet(
        rain=data["rain"],
        functionals=data["functionals"],
        components=data["components"],
        thresholds=thresholds,
        time=data["time"],
        source=data["source"],
        origin=data["origin"],
        settings=settings,
    )


def d4_transform(x, index: int):
    """One of the 8 symmetries of the square applied to the last two axes.

    ``index`` 0–3 rotate by ``index`` × 90°; 4–7 transpose first, then
    rotate. Works on numpy arrays and torch tensors.

    Parameters
    ----------
    x : ndarray or torch.Tensor, shape (..., H, W)
    index : int in 0 … 7

    Returns
    -------
    Same type, shape (..., H, W) or (..., W, H).

    Examples
    --------
    >>> import numpy as np
    >>> d4_transform(np.arange(4).reshape(2, 2), 1).tolist()
    [[1, 3], [0, 2]]
    """
    index = check_integer(index, "index", minimum=0, maximum=7)
    if type(x).__module__.startswith("torch"):
        import torch

        if index >= 4:
            x = x.transpose(-2, -1)
        return torch.rot90(x, index % 4, dims=(-2, -1))
    x = np.asarray(x)
    if index >= 4:
        x = np.swapaxes(x, -2, -1)
    return np.rot90(x, index % 4, axes=(-2, -1))


def random_d4(batch, rng: np.random.Generator, *others):
    """Apply an independent random D4 symmetry to each field of a batch.

    Every trainer of the toolkit augments with this: the functionals are
    invariant under D4 (surrogate targets need no recomputation), and rain
    statistics are isotropic to first order (super-resolution pairs).

    Parameters
    ----------
    batch : ndarray or torch.Tensor, shape (B, ..., S, S), square fields
    rng : numpy.random.Generator
    *others : arrays or tensors, shape (B, ..., S', S')
        Transformed with the *same* symmetry per field as ``batch`` (e.g.
        the fine fields of coarse inputs: block means commute with D4).

    Returns
    -------
    Same type and shape as ``batch``; with ``others``, a tuple of all of them.

    Examples
    --------
    >>> import numpy as np
    >>> coarse = np.arange(8.0).reshape(2, 2, 2); fine = np.repeat(np.repeat(coarse, 2, 1), 2, 2)
    >>> c, f = random_d4(coarse, np.random.default_rng(1), fine)
    >>> bool(np.array_equal(f[:, ::2, ::2], c))
    True
    """
    arrays = (batch, *others)
    for name, array in zip(("batch", *(f"others[{k}]" for k in range(len(others)))), arrays):
        if array.shape[-1] != array.shape[-2]:
            raise ValueError(f"random_d4 needs square fields; {name} has shape {tuple(array.shape)}")
        if array.shape[0] != batch.shape[0]:
            raise ValueError(f"{name} has {array.shape[0]} fields but batch has {batch.shape[0]}")
    choice = rng.integers(0, 8, size=batch.shape[0])
    outs = [a.clone() if hasattr(a, "clone") else np.array(a, copy=True) for a in arrays]
    for k in np.unique(choice):
        idx = np.flatnonzero(choice == k)
        for out, array in zip(outs, arrays):
            out[idx] = d4_transform(array[idx], int(k))
    return outs[0] if not others else tuple(outs)


def random_windows(shape, size: int, count: int, rng: np.random.Generator, *, which=None):
    """Positions of random ``size × size`` windows in a stack of fields.

    Parameters
    ----------
    shape : (N, H, W)
        Shape of the stack.
    size : int
        Window side, at most min(H, W).
    count : int
        Number of windows (ignored when ``which`` is given).
    rng : numpy.random.Generator
    which : 1-D int array, optional
        The field of each window; default: ``count`` fields drawn at random.

    Returns
    -------
    which, rows, cols : 1-D int arrays
        Field index and top-left corner of each window.
    """
    n, h, w = (int(v) for v in shape)
    size = check_integer(size, "size", minimum=1, maximum=min(h, w))
    if which is None:
        which = rng.integers(0, n, check_integer(count, "count", minimum=1))
    which = np.asarray(which)
    rows = rng.integers(0, h - size + 1, len(which))
    cols = rng.integers(0, w - size + 1, len(which))
    return which, rows, cols


def take_windows(fields, which, rows, cols, size: int):
    """The windows ``fields[which[i], rows[i]:rows[i]+size, cols[i]:cols[i]+size]`` as one array (a copy)."""
    offsets = np.arange(size)
    return fields[np.asarray(which)[:, None, None], np.asarray(rows)[:, None, None] + offsets[None, :, None],
                  np.asarray(cols)[:, None, None] + offsets[None, None, :]]


def random_crops(rain: np.ndarray, size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random square crops of a stack of fields.

    Parameters
    ----------
    rain : ndarray, shape (N, H, W)
    size : int
        Crop side, at most min(H, W).
    count : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (count, size, size), a copy.

    Examples
    --------
    >>> import numpy as np
    >>> random_crops(np.zeros((3, 10, 12)), 4, 5, np.random.default_rng(0)).shape
    (5, 4, 4)
    """
    which, rows, cols = random_windows(rain.shape, size, count, rng)
    return take_windows(rain, which, rows, cols, size)


# --------------------------------------------------------------------------
# Super-resolution patches
# --------------------------------------------------------------------------


@dataclass
class SuperresData:
    """Screened patches and their coarse versions.

    Attributes
    ----------
    fine : ndarray (N, size, size) float32, mm/h
    coarse : ndarray (N, size/factor, size/factor) float32, mm/h
        :func:`mink_toolkit.resample.block_mean` of ``fine``.
    names : list of str
        Registry names of the files the patches come from.
    origin : ndarray (N, 3) int
        File index, origin row and column of each patch.
    """

    fine: np.ndarray
    coarse: np.ndarray
    names: list = field(default_factory=list)
    origin: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), int))

    def __len__(self) -> int:
        return int(self.fine.shape[0])



def _superres_from_files(names, *, files, size, factor, min_wet_fraction, max_patches, seed) -> SuperresData:
    """Fully covered wet patches of ``files`` of ``names`` (evenly spaced in time), coarsened by block means."""
    if files is not None:
        files = check_integer(files, "files", minimum=1)
        pick = np.unique(np.linspace(0, len(names) - 1, min(files, len(names))).round().astype(int))
        names = [names[i] for i in pick]
    fine, origin = [], []
    for k, name in enumerate(names):
        patches = extract_patches(_load_opera(name), size=size, min_coverage=1.0, min_wet_fraction=min_wet_fraction)
        fine.append(np.asarray(patches.values, dtype=np.float32))
        origin += [(k, r, c) for r, c in zip(patches.origin_row.values, patches.origin_col.values)]
    fine_arr = np.concatenate(fine, axis=0)
    origin_arr = np.asarray(origin, dtype=int).reshape(-1, 3)
    if max_patches is not None and len(fine_arr) > max_patches:
        keep = np.sort(np.random.default_rng(seed).choice(len(fine_arr), max_patches, replace=False))
        fine_arr, origin_arr = fine_arr[keep], origin_arr[keep]
    coarse_arr = block_mean(fine_arr, factor).astype(np.float32)
    return SuperresData(fine=fine_arr, coarse=coarse_arr, names=names, origin=origin_arr)


def superres_patches(
    product: str,
    *,
    files: int | None = None,
    size: int = 128,
    factor: int = 8,
    min_wet_fraction: float = 0.1,
    max_patches: int | None = None,
    seed: int = 0,
) -> SuperresData:
    """Patches of an OPERA rain-rate product for super-resolution.

    Fully covered ``size × size`` patches (no NaN, clutter above 150 mm/h
    screened out by :func:`mink_toolkit.extract_patches`) with at least
    ``min_wet_fraction`` of pixels ≥ 0.1 mm/h, from ``files`` files spread
    evenly over the product's time range, and their block means
    (:func:`mink_toolkit.resample.block_mean`, mass conserving).

    Parameters
    ----------
    product : {"odyssey_rate", "nimbus_rate"}
        2018 Odyssey (training) or 2024 NIMBUS (test) rain rate.
    files : int, optional
        Number of files (default: all), evenly spaced in time.
    size, factor : int
    min_wet_fraction : float
    max_patches : int, optional
        Keep a random subset of this many patches (seeded).
    seed : int

    Returns
    -------
    SuperresData
    """

    check_choice(product, ("odyssey_rate", "nimbus_rate"), "product")
    names = opera_files(product)
    return _superres_from_files(names, files=files, size=size, factor=factor, min_wet_fraction=min_wet_fraction,
                                max_patches=max_patches, seed=seed)


def superres_split(
    split: str,
    *,
    files: int | None = None,
    size: int = 128,
    factor: int = 8,
    min_wet_fraction: float = 0.1,
    max_patches: int | None = None,
    seed: int = 0,
) -> SuperresData:
    """Super-resolution patches of one time split (:func:`split_files`): train, validation or test.

    As :func:`superres_patches`, but from the files of a split: ``"train"``
    (2018-08-24 Odyssey rain rate, 18:00–21:45), ``"val"`` (22:00–23:45, the
    surrogate's validation hours: model selection and early stopping) or
    ``"test"`` (2024-11-26 NIMBUS rain rate, touched only for final tables).

    Parameters
    ----------
    split : {"train", "val", "test"}
    files : int, optional
        Use this many of the split's files, evenly spaced in time (default: all).
    size, factor, min_wet_fraction, max_patches, seed
        As in :func:`superres_patches`.

    Returns
    -------
    SuperresData
        ``names`` are the split's files used.

    Examples
    --------
    >>> from mink_toolkit.datasets import split_files
    >>> len(split_files("val"))  # superres_split("val") cuts its patches from these
    8
    """
    names = split_files(split)
    return _superres_from_files(names, files=files, size=size, factor=factor, min_wet_fraction=min_wet_fraction,
                                max_patches=max_patches, seed=seed)
