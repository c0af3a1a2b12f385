"""Command line: ``python -m mink_toolkit <command> ...``.

Commands
--------
curves PATHS... --thresholds U1,U2,... --out FILE
    Minkowski curves of OPERA files over time (:func:`curves_main`; the
    engine is :mod:`mink_toolkit.archive`).
reproduce surrogate [--quick] [--output DIR]
    Train and evaluate the neural surrogates.
reproduce superres [--quick] [--output DIR]
    Super-resolution experiment.

The experiments are imported only when used, so that ``--help`` stays fast
and a missing optional piece only affects its command; ``curves`` imports
dask and xarray only when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from ._validation import check_positive, check_thresholds
from .archive import CONNECT_TIMEOUT_S, LOCAL_SCHEDULERS
from .functionals import CONNECTIVITIES, FUNCTIONAL_NAMES, NAN_POLICIES, PERIMETERS
from .io.atomic import atomic_write

__all__ = ["COMMANDS", "EXPERIMENTS", "curves_main", "curves_parser", "main", "write_curves"]

COMMANDS = {
    "curves": "Minkowski curves of OPERA files over time",
}
EXPERIMENTS = {
    "surrogate": ("mink_toolkit.surrogate_experiment", "train and evaluate the neural surrogates"),
    "superres": ("mink_toolkit.superres_experiment", "super-resolution: MSE vs Minkowski losses"),
}


def main(argv: list[str] | None = None) -> int:
    """``python -m mink_toolkit COMMAND ...``; returns the exit status.

    Examples
    --------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: python -m mink_toolkit [-h] {curves,reproduce} ...
    ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m mink_toolkit", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=[*COMMANDS, "reproduce"], help="what to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the command")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    ns = parser.parse_args(argv[:1])
    rest = argv[1:]
    if ns.command == "curves":
        return curves_main(rest)
    if not rest or rest[0] not in EXPERIMENTS:
        names = ", ".join(EXPERIMENTS)
        print(f"usage: python -m mink_toolkit reproduce {{{names}}} [--quick] [--output DIR]", file=sys.stderr)
        return 2
    module = importlib.import_module(EXPERIMENTS[rest[0]][0])
    return int(module.main(rest[1:]) or 0)


# --------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------


def _toolkit_version() -> str:
    # The installed distribution's version (pyproject.toml), without importing
    # the package's __init__ from here: no module imports the package above it.
    try:
        return version("mink_toolkit")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled checkout
        return "unknown"


def _output_format(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix in (".nc", ".nc4"):
        return "netcdf"
    if suffix == ".zarr":
        return "zarr"
    raise ValueError(f"--out must end in .nc (NetCDF) or .zarr (Zarr); got {str(out)!r}")


def write_curves(dataset, out) -> Path:
    """Write curves to NetCDF (h5netcdf, ``.nc``) or Zarr (``.zarr``) atomically.

    Through :func:`~mink_toolkit.io.atomic.atomic_write`: ``out`` is either
    the complete result or untouched.

    Examples
    --------
    >>> import os, tempfile, xarray as xr
    >>> out = os.path.join(tempfile.mkdtemp(), "c.nc")
    >>> write_curves(xr.Dataset({"area": ("time", [1.0, 2.0])}), out).name
    'c.nc'
    """
    out = Path(out)
    fmt = _output_format(out)
    with atomic_write(out) as tmp:
        if fmt == "netcdf":
            dataset.to_netcdf(tmp, engine="h5netcdf")
        else:
            # Zarr format 2: its string dtypes and consolidated metadata are
            # specified (format 3 has neither yet), so other readers can open it.
            dataset.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
    return out


def _parse_thresholds(text: str) -> np.ndarray:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"thresholds must be comma-separated numbers; got {text!r}") from exc
    try:
        return check_thresholds(values, "--thresholds")
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        return check_positive(float(text), "value")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number > 0; got {text!r}") from exc


def curves_parser() -> argparse.ArgumentParser:
    """The ``curves`` command's argument parser."""
    # Here, not at the top: io.series imports xarray (0.3 s), which
    # ``python -m mink_toolkit --help`` does not need.
    from .io.series import ON_DUPLICATE

    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit curves",
        description=(
            "Minkowski curves (area, perimeter, Euler characteristic per threshold) of every "
            "OPERA composite in PATHS, computed lazily with dask, written to NetCDF or Zarr."
        ),
        epilog=(
            "Exit status: 0 success, 1 bad input (missing or unreadable files, mixed products, "
            "empty patterns) or failed computation, 2 bad command line."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATHS",
                        help="ODIM-HDF5 files, directories or glob patterns (quote them)")
    parser.add_argument("--thresholds", required=True, type=_parse_thresholds,
                        help="comma-separated, strictly increasing thresholds in the data's units, e.g. 0.1,0.5,1,5,10")
    parser.add_argument("--out", required=True, type=Path, help="output file: *.nc (NetCDF) or *.zarr (Zarr)")
    parser.add_argument("--connectivity", type=int, choices=CONNECTIVITIES, default=8)
    parser.add_argument("--perimeter", choices=PERIMETERS, default="edges")
    parser.add_argument("--nan-policy", choices=NAN_POLICIES, default="window",
                        help="NaN (outside coverage): 'window' (default) adds no false boundary at the coverage edge")
    parser.add_argument("--scheduler", default="threads",
                        help="threads (default), processes, synchronous, or a dask.distributed address tcp://HOST:PORT")
    parser.add_argument("--connect-timeout", type=_positive_float, default=CONNECT_TIMEOUT_S, metavar="SECONDS",
                        help=f"how long to try to reach a dask.distributed scheduler (default {CONNECT_TIMEOUT_S})")
    parser.add_argument("--workers", type=_positive_int, default=None,
                        help="threads/processes of a local scheduler (default: number of cores)")
    parser.add_argument("--on-duplicate", choices=ON_DUPLICATE, default="raise",
                        help="files with the same nominal time: error (default) or keep the first/last")
    parser.add_argument("--rain-rate", action="store_true",
                        help="convert reflectivity (DBZH) to rain rate (mm/h) before thresholding")
    parser.add_argument("--zr-a", type=_positive_float, default=None, help="Z-R coefficient a (with --rain-rate)")
    parser.add_argument("--zr-b", type=_positive_float, default=None, help="Z-R exponent b (with --rain-rate)")
    parser.add_argument("--coarsen", type=_positive_int, default=1, metavar="FACTOR",
                        help="NaN-aware block mean over FACTORxFACTOR pixels first (2: 1 km CIRRUS -> 2 km)")
    parser.add_argument("--length-unit", choices=("pixel", "km"), default="pixel",
                        help="units of area and perimeter: pixels (default) or km from the grid spacing")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _grid_spacing_km(series) -> float:
    xdim = series.dims[-1]
    x = np.asarray(series[xdim].values, dtype=float)
    if x.size < 2:
        raise ValueError("--length-unit km needs at least two x coordinates")
    return float(abs(x[1] - x[0]) / 1000.0)


def _provenance_attrs(args, argv, series, hashes: dict[str, str], pixel_size: float) -> dict:
    settings = {
        "thresholds": [float(u) for u in args.thresholds],
        "connectivity": args.connectivity,
        "perimeter": args.perimeter,
        "nan_policy": args.nan_policy,
        "scheduler": args.scheduler,
        "on_duplicate": args.on_duplicate,
        "rain_rate": bool(args.rain_rate),
        "zr_a": args.zr_a,
        "zr_b": args.zr_b,
        "coarsen": args.coarsen,
        "length_unit": args.length_unit,
        "pixel_size": pixel_size,
    }
    files = [{"path": p, "sha256": h} for p, h in hashes.items()]
    source = {k: v for k, v in series.attrs.items() if isinstance(v, (str, int, float))}
    return {
        "title": "Minkowski curves of OPERA radar composites",
        "mink_toolkit_version": _toolkit_version(),
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m mink_toolkit curves " + " ".join(argv),
        "settings": json.dumps(settings),
        "source_files": json.dumps(files),
        "source_attrs": json.dumps(source, default=str),
        "history": f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} mink_toolkit {_toolkit_version()} curves",
    }


def run_curves(args, argv: list[str]):
    """Do the work of ``curves`` for parsed ``args``; returns the written path."""
    out = Path(args.out)
    _output_format(out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the output directory {str(out.parent)!r} does not exist")
    if (args.zr_a is not None or args.zr_b is not None) and not args.rain_rate:
        raise ValueError("--zr-a/--zr-b only apply with --rain-rate")

    from .archive import file_checksums, minkowski_curves
    from .io.series import open_opera, to_rainrate
    from .resample import coarsen_nanmean

    series = open_opera(args.paths, on_duplicate=args.on_duplicate)
    if args.rain_rate:
        series = to_rainrate(series, a=args.zr_a, b=args.zr_b)
    if args.coarsen > 1:
        series = coarsen_nanmean(series, args.coarsen)
    pixel_size = _grid_spacing_km(series) if args.length_unit == "km" else 1.0

    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if scheduler not in LOCAL_SCHEDULERS:
            # One connection for the curves and the checksums; fails fast and clearly.
            from distributed import Client

            try:
                client = Client(scheduler, timeout=args.connect_timeout, set_as_default=False)
            except (OSError, ValueError) as exc:
                raise OSError(f"cannot connect to the dask scheduler {scheduler!r}: {exc}") from None
            scheduler = stack.enter_context(client)
        curves = minkowski_curves(
            series,
            args.thresholds,
            connectivity=args.connectivity,
            perimeter=args.perimeter,
            nan_policy=args.nan_policy,
            pixel_size=pixel_size,
            length_unit="km" if args.length_unit == "km" else None,
            scheduler=scheduler,
            num_workers=args.workers,
            progress=not args.no_progress,
        )
        paths = [str(p) for p in series["path"].values]
        # Hashed where the files are read (the workers, on a cluster), in parallel.
        digests = file_checksums(paths, scheduler, args.workers)
    hashes = dict(zip(paths, digests))
    curves = curves.assign_coords(sha256=("time", np.array([hashes[p] for p in paths])))
    curves["sha256"].attrs["long_name"] = "SHA-256 of the source file"
    curves.attrs = _provenance_attrs(args, argv, series, hashes, pixel_size)
    for name in FUNCTIONAL_NAMES:
        # NetCDF attributes cannot hold None or bool; settings are in the global attrs.
        curves[name].attrs = {k: v for k, v in curves[name].attrs.items() if isinstance(v, (str, int, float))}
    return write_curves(curves, out)


def curves_main(argv: list[str] | None = None) -> int:
    """``python -m mink_toolkit curves PATHS... --thresholds ... --out FILE``.

    Returns the exit status: 0 success, 1 bad input or failed computation
    (a one-line message on stderr, no output file written), 2 bad command
    line (argparse's usage message).

    Examples
    --------
    >>> curves_main(["/no/such/file.hdf", "--thresholds", "0.1,1", "--out", "curves.nc"])
    1
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = curves_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return int(exc.code or 0)
    try:
        out = run_curves(args, argv)
    except KeyboardInterrupt:
        print("curves: interrupted; nothing written", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError) as exc:
        print(f"curves: error: {exc}", file=sys.stderr)
        return 1
    print(f"curves: wrote {out}", file=sys.stderr)
    return 0
