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
workshop --out DIR [NOTEBOOK ...]
    Student and instructor copies of the tutorials (:mod:`mink_toolkit.notebook.workshop`).

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

from ._validation import check_positive
from .thresholds import check_thresholds
from .archive import CONNECT_TIMEOUT_S, LOCAL_SCHEDULERS, ON_ERROR
from .functionals import CONNECTIVITIES, FUNCTIONAL_NAMES, NAN_POLICIES, PERIMETERS
from .io.atomic import atomic_write

__all__ = ["COMMANDS", "EXIT_SKIPPED", "EXPERIMENTS", "curves_main", "curves_parser", "main", "write_curves"]

#: Exit status of ``curves`` when the output was written but files were skipped.
EXIT_SKIPPED = 3

COMMANDS = {
    "curves": "Minkowski curves of OPERA files over time",
    "workshop": "student and instructor copies of the tutorials",
}
EXPERIMENTS = {
    "surrogate": ("mink_toolkit.experiments.surrogate", "train and evaluate the neural surrogates"),
    "superres": ("mink_toolkit.experiments.superres", "super-resolution: MSE vs Minkowski losses"),
}


def main(argv: list[str] | None = None) -> int:
    """``python -m mink_toolkit COMMAND ...``; returns the exit status.

    Examples
    --------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: python -m mink_toolkit [-h] {curves,workshop,reproduce} ...
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
    if ns.command == "workshop":
        # The notebook layer sits above the command line: imported by name, only when used.
        return int(importlib.import_module("mink_toolkit.notebook.workshop").main(rest) or 0)
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


def _max_rain(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    return _positive_float(text)


def _positive_float(text: str) -> float:
    try:
        return check_positive(float(text), "value")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number > 0; got {text!r}") from exc


def curves_parser() -> argparse.ArgumentParser:
    """The ``curves`` command's argument parser."""
    # Here, not at the top: io.series and io.opera import xarray (0.3 s),
    # which ``python -m mink_toolkit --help`` does not need.
    from .io.opera import DEFAULT_MAX_RAIN
    from .io.series import ON_DUPLICATE

    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit curves",
        description=(
            "Minkowski curves (area, perimeter, Euler characteristic per threshold) of every "
            "OPERA composite in PATHS, computed lazily with dask, written to NetCDF or Zarr."
        ),
        epilog=(
            "Exit status: 0 success, 1 bad input (missing or unreadable files, mixed products, "
            "empty patterns) or failed computation, 2 bad command line, 3 written but files were "
            "skipped (--on-error skip; see the output's skipped_files attribute)."
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
    parser.add_argument("--max-rain", type=_max_rain, default=DEFAULT_MAX_RAIN, metavar="MM_PER_H",
                        help=f"clutter screen: rain rates (mm/h) or accumulations (mm) above this become NaN and are "
                             f"counted in the output (default {DEFAULT_MAX_RAIN:g}; 'none' turns it off)")
    parser.add_argument("--on-error", choices=ON_ERROR, default="raise",
                        help="a file that cannot be analysed: stop (raise, default) or record it and go on (skip)")
    parser.add_argument("--length-unit", choices=("pixel", "km"), default="pixel",
                        help="units of area and perimeter: pixels (default) or km from the grid spacing")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--resume", action="store_true",
                        help="Zarr output: continue (or extend) an existing store; files whose sha256 is recorded "
                             "with the same settings are not computed again")
    parser.add_argument("--commit-every", type=_positive_int, default=64, metavar="FILES",
                        help="Zarr output: commit the curves every FILES files (default 64); a run killed "
                             "loses at most the files since the last commit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _provenance_attrs(argv, settings, extra: dict, reference, records, skipped) -> dict:
    from .io.odim import odim_attrs
    from .io.series import PER_FILE_ATTRS

    source = {k: v for k, v in odim_attrs(reference).items() if k not in PER_FILE_ATTRS}
    now = datetime.now(timezone.utc)
    clutter = int(sum(r["clutter_pixels"] for r in records))
    return {
        "title": "Minkowski curves of OPERA radar composites",
        "mink_toolkit_version": _toolkit_version(),
        "created_utc": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m mink_toolkit curves " + " ".join(argv),
        "settings": json.dumps({**settings.to_dict(), **extra}),
        "source_files": json.dumps([{"path": r["path"], "sha256": r["sha256"]} for r in records]),
        "source_attrs": json.dumps(source, default=str),
        # The clutter screen: per time in the coordinate clutter_pixels, in total here.
        "max_rain": "none" if settings.max_rain is None else settings.max_rain,
        "clutter_pixels": clutter,
        "skipped_files": json.dumps([{"path": r["path"], "reason": r["reason"]} for r in skipped]),
        "n_skipped": len(skipped),
        "history": f"{now:%Y-%m-%dT%H:%M:%SZ} mink_toolkit {_toolkit_version()} curves",
    }


def _settings_from_args(args):
    from .archive import CurvesSettings

    if (args.zr_a is not None or args.zr_b is not None) and not args.rain_rate:
        raise ValueError("--zr-a/--zr-b only apply with --rain-rate")
    return CurvesSettings(
        thresholds=args.thresholds,
        connectivity=args.connectivity,
        perimeter=args.perimeter,
        nan_policy=args.nan_policy,
        rain_rate=bool(args.rain_rate),
        zr_a=args.zr_a,
        zr_b=args.zr_b,
        max_rain=args.max_rain,
        coarsen=args.coarsen,
        length_unit=args.length_unit,
    )


def _check_reference(reference, settings) -> None:
    """Settings that cannot apply to the series at all: an error before any work."""
    if settings.rain_rate and reference.quantity != "DBZH":
        raise ValueError(f"--rain-rate converts reflectivity (DBZH); these files hold {reference.quantity!r}")
    for size in reference.shape:
        if size % settings.coarsen:
            raise ValueError(f"--coarsen {settings.coarsen} does not divide the grid {reference.shape}")


def _merge(recorded: dict, new: list, on_duplicate: str) -> list:
    """Rows of the final output: those recorded by earlier runs and this run's, one per path and time."""
    rows = dict(recorded)
    rows.update({r["path"]: r for r in new})  # a file recomputed (its bytes changed) replaces its row
    kept: dict = {}
    for row in sorted(rows.values(), key=lambda r: r["time"]):  # stable: recorded rows first
        other = kept.get(row["time"])
        if other is None:
            kept[row["time"]] = row
        elif on_duplicate == "raise":
            raise ValueError(
                f"two files have the nominal time {np.datetime_as_string(row['time'], unit='s')}: "
                f"{other['path']} (recorded) and {row['path']}; pass --on-duplicate first or last"
            )
        elif on_duplicate == "last":
            kept[row["time"]] = row
    return list(kept.values())


class _Committer:
    """Collects records as they arrive and commits them to the store every ``every`` files."""

    def __init__(self, store, every: int, skipped: list, attrs):
        self.store, self.every, self.skipped, self.attrs = store, every, skipped, attrs
        self.pending: list = []
        self.ok: list = []

    def __call__(self, record: dict) -> None:
        if record["status"] == "skipped":
            self.skipped.append(record)
        elif record["status"] == "ok":
            self.ok.append(record)
            self.pending.append(record)
        if self.store is not None and len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.store is not None and (self.pending or self.skipped):
            self.store.append(self.pending, self.skipped, self.attrs())
        self.pending = []


def run_curves(args, argv: list[str]) -> tuple[Path, int]:
    """Do the work of ``curves`` for parsed ``args``; returns the written path and the number of skipped files."""
    from .archive import compute_files, curves_dataset
    from .curves_store import CurvesStore
    from .io.series import plan_series

    out = Path(args.out)
    fmt = _output_format(out)
    if args.resume and fmt != "zarr":
        raise ValueError("--resume needs a Zarr output (--out ....zarr): NetCDF is written once, at the end")
    if args.resume and args.overwrite:
        raise ValueError("--resume continues --out and --overwrite replaces it: pass one of them")
    if out.exists() and not (args.overwrite or args.resume):
        hint = " or --resume to continue it" if fmt == "zarr" else ""
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it{hint}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the output directory {str(out.parent)!r} does not exist")
    settings = _settings_from_args(args)

    store, recorded = None, {}
    if fmt == "zarr" and args.resume and (out.exists() or any(out.parent.glob(f".{out.name}.old-*"))):
        store = CurvesStore.open(out, settings)
        recorded = {r["path"]: r for r in store.records()}
    headers, skipped = plan_series(args.paths, on_duplicate=args.on_duplicate, on_error=args.on_error,
                                   reference=store.reference if store is not None else None)
    if not headers and not recorded:
        raise ValueError(f"no file could be analysed: all {len(skipped)} were skipped "
                         f"(first: {skipped[0]['path']}: {skipped[0]['reason']})")
    reference = store.reference if store is not None else headers[0]
    _check_reference(reference, settings)
    if fmt == "zarr" and store is None:
        store = CurvesStore.create(out, settings, reference)
    if store is not None:
        # Files skipped by an earlier run and not given now stay listed; given ones are retried.
        given = {h.path for h in headers} | {r["path"] for r in skipped}
        skipped += [r | {"status": "skipped"} for r in store.skipped if r["path"] not in given]
        if recorded:
            print(f"curves: resuming {out}: {len(recorded)} file(s) recorded, {len(headers)} given",
                  file=sys.stderr)

    extra = {"on_duplicate": args.on_duplicate, "on_error": args.on_error, "scheduler": args.scheduler,
             "pixel_size": settings.pixel_size(reference)}

    def attrs_now(records=None):
        rows = records if records is not None else [*recorded.values(), *committer.ok]
        rows = sorted(rows, key=lambda r: (r["time"], r["path"]))
        return _provenance_attrs(argv, settings, extra, reference, rows, skipped)

    committer = _Committer(store, args.commit_every, skipped, attrs_now)
    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if scheduler not in LOCAL_SCHEDULERS:
            # Connect once, here: fails fast and clearly.
            from distributed import Client

            try:
                client = Client(scheduler, timeout=args.connect_timeout, set_as_default=False)
            except (OSError, ValueError) as exc:
                raise OSError(f"cannot connect to the dask scheduler {scheduler!r}: {exc}") from None
            scheduler = stack.enter_context(client)
        try:
            compute_files(
                [h.path for h in headers],
                settings,
                expected=headers,
                known_sha256=[recorded[h.path]["sha256"] if h.path in recorded else None for h in headers],
                on_error=args.on_error,
                scheduler=scheduler,
                num_workers=args.workers,
                progress=not args.no_progress,
                on_record=committer,
            )
        except BaseException as exc:
            if store is not None:
                committer.flush()  # keep what is complete; --resume goes on from there
                if store.committed:
                    note = (f" ({store.committed} file(s) are committed in {out}; "
                            "rerun with --resume to continue)")
                    exc.args = (f"{exc.args[0] if exc.args else exc}{note}", *exc.args[1:])
            raise
    committer.flush()
    records = _merge(recorded, committer.ok, args.on_duplicate)
    if not records:
        raise ValueError(f"no file could be analysed: all {len(skipped)} were skipped "
                         f"(first: {skipped[0]['path']}: {skipped[0]['reason']})")
    records = sorted(records, key=lambda r: (r["time"], r["path"]))  # the order of the output
    attrs = attrs_now(records)
    if store is not None:
        return store.finalize(records, attrs), len(skipped)
    curves = curves_dataset(records, settings, reference)
    curves.attrs = attrs
    for name in FUNCTIONAL_NAMES:
        # NetCDF attributes cannot hold None or bool; settings are in the global attrs.
        curves[name].attrs = {k: v for k, v in curves[name].attrs.items() if isinstance(v, (str, int, float))}
    return write_curves(curves, out), len(skipped)


def curves_main(argv: list[str] | None = None) -> int:
    """The ``curves`` command (``python -m mink_toolkit curves PATHS --thresholds U1,U2 --out FILE``).

    Returns the exit status: 0 success, 1 bad input or failed computation
    (a one-line message on stderr, no output file written), 2 bad command
    line (argparse's usage message), 3 written, but files were skipped
    (``--on-error skip``; they are listed with the reason in the output's
    ``skipped_files`` attribute).

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
        out, n_skipped = run_curves(args, argv)
    except KeyboardInterrupt as exc:
        print(f"curves: interrupted{'; ' + str(exc).strip(' ()') if str(exc) else '; nothing written'}",
              file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, no traceback, for every failure
        print(f"curves: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    if n_skipped:
        print(f"curves: wrote {out}; skipped {n_skipped} file(s), listed with the reason in its "
              "attribute skipped_files", file=sys.stderr)
        return EXIT_SKIPPED
    print(f"curves: wrote {out}", file=sys.stderr)
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if isinstance(exc, (OSError, ValueError, TypeError)) else f"{type(exc).__name__}: {text}"
