"""Command line: ``python -m mink_toolkit <command> ...``.

Commands
--------
curves PATHS... --thresholds U1,U2,... --out FILE
    Minkowski curves of OPERA files over time (:func:`curves_main`; the
    work is :func:`mink_toolkit.curves.run_curves`).
reproduce surrogate [--quick] [--output DIR] [--no-compile] [--device DEVICE]
    Train and evaluate the neural surrogates.
reproduce superres [--quick] [--output DIR] [--no-compile] [--device DEVICE]
    Super-resolution experiment. Both train compiled (``torch.compile``)
    unless ``--no-compile``, on ``--device`` (default ``cpu``).
reproduce annealing [--quick] [--output DIR]
    Fixed and annealed temperatures of the relaxation, on many crops.
workshop --out DIR [NOTEBOOK ...]
    Student and instructor copies of the tutorials (:mod:`mink_toolkit.notebook.workshop`).

This module only parses, calls the library and maps its errors to exit
codes: every error is one line on stderr, never a traceback; 2 for a bad
command line (an argument that is wrong on its own or does not fit the
files), 1 for a failure (files missing or unreadable, a failed
computation), 130 when interrupted. The experiments are imported only when
used, so that ``--help`` stays fast and a missing optional piece only
affects its command; ``curves`` imports dask and xarray only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from ._validation import check_positive
from .curves.scheduling import CONNECT_TIMEOUT_S
from .functionals import CONNECTIVITIES, NAN_POLICIES, PERIMETERS

__all__ = ["COMMANDS", "EXIT_SKIPPED", "EXIT_USAGE", "EXPERIMENTS", "curves_main", "curves_parser", "main"]

PROG = "python -m mink_toolkit"
#: Exit status of a bad command line (argparse's own).
EXIT_USAGE = 2
#: Exit status of ``curves`` when the output was written but files were skipped.
EXIT_SKIPPED = 3

COMMANDS = {
    "curves": "Minkowski curves (area, perimeter, Euler characteristic) of OPERA files over time",
    "reproduce": "rerun an experiment of the README: surrogate, superres or annealing",
    "workshop": "student and instructor copies of the tutorial notebooks",
}
EXPERIMENTS = {
    "surrogate": ("mink_toolkit.experiments.surrogate", "train and evaluate the neural surrogates"),
    "superres": ("mink_toolkit.experiments.superres", "super-resolution: MSE vs Minkowski losses"),
    "annealing": ("mink_toolkit.experiments.annealing", "fixed vs annealed temperatures of the relaxation"),
}


def _top_parser() -> argparse.ArgumentParser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {text}" for name, text in COMMANDS.items())
    return argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [-h] COMMAND ...",
        description="Minkowski functionals of radar rain fields: archive curves, experiments, workshop copies.",
        epilog=f"commands:\n{listing}\n\nRun '{PROG} COMMAND --help' for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _reproduce_usage() -> str:
    names = ", ".join(EXPERIMENTS)
    lines = [f"usage: {PROG} reproduce {{{names}}} [--quick] [--output DIR] ...", "", "experiments:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in EXPERIMENTS.items()]
    lines += ["", f"Run '{PROG} reproduce EXPERIMENT --help' for its options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m mink_toolkit COMMAND ...``; returns the exit status.

    Examples
    --------
    >>> main(["--help"])  # doctest: +ELLIPSIS
    usage: python -m mink_toolkit [-h] COMMAND ...
    ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        _top_parser().print_help()
        return 0 if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        _top_parser().print_usage(sys.stderr)
        print(f"{PROG}: error: unknown command {command!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return EXIT_USAGE
    if command == "curves":
        return curves_main(rest)
    if command == "workshop":
        # The notebook layer sits above the command line: imported by name, only when used.
        return _run("workshop", lambda: importlib.import_module("mink_toolkit.notebook.workshop").main(rest))
    if rest[:1] in (["-h"], ["--help"]):
        print(_reproduce_usage())
        return 0
    if not rest or rest[0] not in EXPERIMENTS:
        print(_reproduce_usage().split("\n")[0], file=sys.stderr)
        given = f"; got {rest[0]!r}" if rest else ""
        print(f"reproduce: error: name an experiment: {', '.join(EXPERIMENTS)}{given}", file=sys.stderr)
        return EXIT_USAGE
    try:
        _check_json_argument(rest[1:], "--markdown")
    except ValueError as exc:
        print(f"reproduce {rest[0]}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _run(f"reproduce {rest[0]}", lambda: importlib.import_module(EXPERIMENTS[rest[0]][0]).main(rest[1:]))


def _exit_code(call) -> int:
    """Run ``call``; argparse's exits (help 0, usage 2) become return values."""
    try:
        return int(call() or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def _run(name: str, call) -> int:
    """Run a command: its exit status, or one line on stderr for an error (1), 130 when interrupted."""
    try:
        return _exit_code(call)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, no traceback, for every failure
        print(f"{name}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _option_value(argv: list[str], option: str) -> str | None:
    """The value given to ``option`` (``OPT VALUE`` or ``OPT=VALUE``; the last one wins)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg.split("=", 1)[1]
    return value


def _check_json_argument(argv: list[str], option: str) -> None:
    """A file named by ``option`` must be readable JSON; else a ``ValueError`` naming it."""
    path = _option_value(argv, option)
    if path is None:
        return
    try:
        json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"{option} {path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{option} {path}: not a JSON file ({exc})") from None


# --------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------


def _parse_thresholds(text: str):
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"thresholds must be comma-separated numbers; got {text!r}") from exc
    # Checked (finite, increasing, > 0 for rain) by run_curves, once the files' unit is known:
    # a one-line error naming --thresholds, the values and the unit.
    return values


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


def _is_number_list(text: str) -> bool:
    parts = text.split(",")
    try:
        [float(p) for p in parts]
    except ValueError:
        return False
    return True


def _join_negative_values(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``--thresholds -1,0.5`` as ``--thresholds=-1,0.5``.

    argparse takes a value that starts with ``-`` and is not a plain
    negative number for an option, and answers "expected one argument";
    joined, the value reaches its check, which says what is wrong with it.
    """
    takes_value = {s for a in parser._actions if a.option_strings and a.nargs is None for s in a.option_strings}
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        if arg in takes_value and i + 1 < len(argv) and argv[i + 1].startswith("-") and _is_number_list(argv[i + 1]):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def curves_parser() -> argparse.ArgumentParser:
    """The ``curves`` command's argument parser."""
    # Here, not at the top: these modules import xarray and dask (0.3 s),
    # which ``python -m mink_toolkit --help`` does not need.
    from .curves.engine import LENGTH_UNITS, ON_ERROR
    from .io.series import ON_DUPLICATE
    from .preprocess import DEFAULT_MAX_RAIN

    parser = argparse.ArgumentParser(
        prog=f"{PROG} curves",
        description=(
            "Minkowski curves (area, perimeter, Euler characteristic per threshold) of every "
            "OPERA composite in PATHS, computed lazily with dask, written to NetCDF or Zarr."
        ),
        epilog=(
            "Exit status: 0 success, 1 failure (missing or unreadable files, mixed products, "
            "empty patterns, a failed computation), 2 bad command line (also an option that does not "
            "fit the files, such as thresholds <= 0 for rain), 3 written but files were "
            "skipped (--on-error skip; see the output's skipped_files attribute)."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATHS",
                        help="ODIM-HDF5 files, directories or glob patterns (quote them)")
    parser.add_argument("--thresholds", required=True, type=_parse_thresholds,
                        help="comma-separated, strictly increasing, finite thresholds in the data's units, "
                             "e.g. 0.1,0.5,1,5,10; > 0 for rain rate (mm/h) and accumulation (mm), any value "
                             "for reflectivity (dBZ)")
    parser.add_argument("--out", required=True, type=Path, help="output file: *.nc (NetCDF) or *.zarr (Zarr)")
    parser.add_argument("--connectivity", type=int, choices=CONNECTIVITIES, default=8,
                        help="pixel neighbourhood of the wet regions: 8 (default; diagonal neighbours touch) or 4")
    parser.add_argument("--perimeter", choices=PERIMETERS, default="edges",
                        help="boundary length: 'edges' (default) counts pixel edges, 'crofton' estimates the "
                             "length of the smooth boundary from four directions (Crofton formula)")
    parser.add_argument("--nan-policy", choices=NAN_POLICIES, default="window",
                        help="NaN (outside coverage): 'window' (default) adds no false boundary at the coverage edge")
    parser.add_argument("--scheduler", default="threads",
                        help="threads (default), processes, synchronous, or a dask.distributed address tcp://HOST:PORT")
    parser.add_argument("--connect-timeout", type=_positive_float, default=CONNECT_TIMEOUT_S, metavar="SECONDS",
                        help=f"how long to wait for a dask.distributed scheduler's handshake (default "
                             f"{CONNECT_TIMEOUT_S}); an address where nothing listens fails within 3 s")
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
    parser.add_argument("--length-unit", choices=LENGTH_UNITS, default="pixel",
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


def curves_main(argv: list[str] | None = None) -> int:
    """The ``curves`` command (``python -m mink_toolkit curves PATHS --thresholds U1,U2 --out FILE``).

    Returns the exit status: 0 success, 1 a failure (missing or unreadable
    files, a failed computation; a one-line message on stderr, no output
    file written), 2 bad command line (argparse's usage message, or one
    line for an option that does not fit the files), 3 written, but files
    were skipped (``--on-error skip``; they are listed with the reason in
    the output's ``skipped_files`` attribute).

    Examples
    --------
    >>> curves_main(["/no/such/file.hdf", "--thresholds", "0.1,1", "--out", "curves.nc"])
    1
    """
    from .curves.run import CurvesArgumentError, run_curves

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = curves_parser()
    try:
        args = parser.parse_args(_join_negative_values(argv, parser))
    except SystemExit as exc:  # argparse exits on --help (0) and usage errors (2)
        return int(exc.code or 0)
    try:
        out, n_skipped = run_curves(
            args.paths, args.thresholds, args.out,
            connectivity=args.connectivity, perimeter=args.perimeter, nan_policy=args.nan_policy,
            scheduler=args.scheduler, connect_timeout=args.connect_timeout, workers=args.workers,
            on_duplicate=args.on_duplicate, rain_rate=args.rain_rate, zr_a=args.zr_a, zr_b=args.zr_b,
            coarsen=args.coarsen, max_rain=args.max_rain, on_error=args.on_error,
            length_unit=args.length_unit, overwrite=args.overwrite, resume=args.resume,
            commit_every=args.commit_every, progress=not args.no_progress,
            command=f"{PROG} curves " + " ".join(argv),
        )
    except KeyboardInterrupt as exc:
        print(f"curves: interrupted{'; ' + str(exc).strip(' ()') if str(exc) else '; nothing written'}",
              file=sys.stderr)
        return 130
    except CurvesArgumentError as exc:
        print(f"curves: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
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
