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
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import check_array_field, check_integer, check_thresholds
from .functionals import DEFAULT_THRESHOLDS, betti_numbers, minkowski_functionals

__all__ = [
    "SPLITS",
    "PatchSet",
    "split_files",
    "exact_targets",
    "load_patches",
    "d4_transform",
    "random_d4",
    "random_crops",
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
    from .io.registry import opera_files, registry

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


def exact_targets(rain, thresholds, *, connectivity: int = 8, perimeter: str = "edges",
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
        β0 from :func:`mink_toolkit.betti_numbers`.

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
        components[start : start + chunk] = betti_numbers(block, thresholds, connectivity=connectivity)[..., 0]
    return functionals, components


def _cache_key(files: list[str], settings: dict) -> str:
    from .io.registry import registry

    entries = registry()
    payload = {
        "format": _CACHE_FORMAT,
        "files": [[n, entries[n].sha256] for n in files],
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _cache_path(split: str, key: str) -> Path:
    from .io.registry import cache_dir

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
    connectivity: int = 8,
    perimeter: str = "edges",
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

    from .io.opera import extract_patches, load_opera

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
            patches = extract_patches(load_opera(name), size=size, min_wet_fraction=min_wet_fraction)
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
            # unique per process: parallel test workers may build the same cache
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
            np.savez_compressed(tmp, **data)
            tmp.replace(path)  # atomic: a reader never sees half a file
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
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < 8:
        raise ValueError(f"index must be an integer in 0..7; got {index!r}")
    try:
        import torch

        is_tensor = isinstance(x, torch.Tensor)
    except ImportError:  # pragma: no cover - torch is a dependency
        is_tensor = False
    if is_tensor:
        if index >= 4:
            x = x.transpose(-2, -1)
        return torch.rot90(x, int(index % 4), dims=(-2, -1))
    x = np.asarray(x)
    if index >= 4:
        x = np.swapaxes(x, -2, -1)
    return np.rot90(x, int(index % 4), axes=(-2, -1))


def random_d4(batch, rng: np.random.Generator):
    """Apply an independent random D4 symmetry to each field of a batch.

    Parameters
    ----------
    batch : ndarray or torch.Tensor, shape (B, ..., S, S), square fields
    rng : numpy.random.Generator

    Returns
    -------
    Same type and shape.
    """
    if batch.shape[-1] != batch.shape[-2]:
        raise ValueError(f"random_d4 needs square fields; got shape {tuple(batch.shape)}")
    choice = rng.integers(0, 8, size=batch.shape[0])
    out = batch.clone() if hasattr(batch, "clone") else np.array(batch, copy=True)
    for k in np.unique(choice):
        idx = np.flatnonzero(choice == k)
        out[idx] = d4_transform(batch[idx], int(k))
    return out


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
    """
    n, h, w = rain.shape
    if not 1 <= size <= min(h, w):
        raise ValueError(f"size must be in 1..{min(h, w)}; got {size}")
    which = rng.integers(0, n, count)
    rows = rng.integers(0, h - size + 1, count)
    cols = rng.integers(0, w - size + 1, count)
    offsets = np.arange(size)
    return rain[which[:, None, None], rows[:, None, None] + offsets[None, :, None], cols[:, None, None] + offsets[None, None, :]]
