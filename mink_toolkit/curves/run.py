"""The ``curves`` command as a library function: files in, one curves file out.

:func:`run_curves` plans the series (:func:`~mink_toolkit.io.series.plan_series`),
checks the settings against the files, computes one task per file
(:func:`~mink_toolkit.curves.engine.compute_files`) and writes NetCDF or
Zarr with provenance (:mod:`mink_toolkit.curves.store`), committing and
resuming a Zarr store as it goes. It is the body of
``python -m mink_toolkit curves``, so its messages name the command's
options (``--thresholds``, ``--resume``, ...); an argument that does not
fit -- on its own or with the files -- is a :class:`CurvesArgumentError`.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from ..thresholds import check_thresholds
from ..functionals import DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER, FUNCTIONAL_NAMES
from .engine import CurvesSettings, compute_files, curves_dataset
from .scheduling import CONNECT_TIMEOUT_S, LOCAL_SCHEDULERS
from .store import Committer, CurvesStore, merge_records, output_format, provenance_attrs, write_curves

__all__ = ["CurvesArgumentError", "SCHEDULER_PROBE_S", "run_curves"]

#: Seconds each probe of a ``dask.distributed`` scheduler (a TCP connection,
#: then a dask handshake) may take before the client is made: an address
#: where no scheduler answers fails in this time, not after the client's
#: full timeout (and the same again while it closes).
SCHEDULER_PROBE_S = 3.0
#: Port of a ``dask.distributed`` scheduler when the address gives none.
_DEFAULT_SCHEDULER_PORT = 8786


class CurvesArgumentError(ValueError):
    """An argument of :func:`run_curves` that does not fit, on its own or with the files.

    The command line exits with status 2 (bad command line) on it; other
    errors (files missing or unreadable, a failed computation) exit 1.
    """


def _check_reference(reference, settings: CurvesSettings) -> None:
    """Settings that cannot apply to the series at all: an error before any work."""
    if settings.rain_rate and reference.quantity != "DBZH":
        raise CurvesArgumentError(
            f"--rain-rate converts reflectivity (DBZH); these files hold {reference.quantity!r}")
    for size in reference.shape:
        if size % settings.coarsen:
            raise CurvesArgumentError(f"--coarsen {settings.coarsen} does not divide the grid {reference.shape}")
    unit = "mm/h" if settings.rain_rate else reference.units
    try:
        check_thresholds(settings.thresholds, "--thresholds", units=unit or None)
    except ValueError as exc:
        raise CurvesArgumentError(f"{exc} ({reference.quantity} files)") from None


async def _identity(address: str, timeout: float):
    """The scheduler's answer to ``identity``: a full dask handshake, bounded by ``timeout``."""
    import asyncio

    from distributed.core import rpc

    remote = rpc(address, timeout=timeout)
    try:
        return await asyncio.wait_for(remote.identity(), timeout)
    finally:
        await remote.close_rpc()


def _connect(address: str, timeout: float):
    """A ``distributed.Client`` of the scheduler at ``address``, or one clear error, fast.

    Two probes come first, each bounded by :data:`SCHEDULER_PROBE_S`: a TCP
    connection (refused or unresolvable addresses fail at once) and a dask
    handshake (``identity``). Only then is the client made: a client that
    fails to start waits twice ``timeout`` to close, and its failure is a
    traceback from its finaliser.
    """
    import asyncio

    from distributed import Client
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    def failed(reason) -> OSError:
        return OSError(f"cannot connect to the dask scheduler {address!r} (--scheduler): {reason}")

    try:
        protocol, location = parse_address(address)
        host, port = parse_host_port(location, default_port=_DEFAULT_SCHEDULER_PORT) \
            if protocol in ("tcp", "tls") else (None, None)
    except (ValueError, TypeError) as exc:
        raise CurvesArgumentError(
            f"--scheduler {address!r} is neither threads, processes, synchronous nor a dask scheduler "
            f"address such as tcp://HOST:8786 ({exc})") from None
    probe = min(timeout, SCHEDULER_PROBE_S)
    if host is not None:
        try:
            with socket.create_connection((host, port), timeout=probe):
                pass
        except OSError as exc:
            reason = f"no answer within {probe:g} s" if isinstance(exc, TimeoutError) else (exc.strerror or exc)
            raise failed(f"{host}:{port}: {reason}") from None
    try:
        asyncio.run(_identity(address, probe))
    except asyncio.TimeoutError:
        raise failed(f"no dask scheduler answered within {probe:g} s") from None
    except Exception as exc:  # noqa: BLE001 - whatever answers there, it is not a dask scheduler
        raise failed(f"not a dask scheduler ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise failed(exc) from None


def _check_output(out: Path, fmt: str, resume: bool, overwrite: bool) -> None:
    if resume and fmt != "zarr":
        raise CurvesArgumentError("--resume needs a Zarr output (--out ....zarr): NetCDF is written once, at the end")
    if resume and overwrite:
        raise CurvesArgumentError("--resume continues --out and --overwrite replaces it: pass one of them")
    if out.exists() and not (overwrite or resume):
        hint = " or --resume to continue it" if fmt == "zarr" else ""
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it{hint}")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {str(out)!r}: the directory {str(out.parent)!r} does not exist")
    try:
        # A real write, not os.access: that says yes to root on a read-only file system.
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise PermissionError(f"cannot write --out {str(out)!r}: {exc.strerror or exc}") from None


def run_curves(
    paths: Sequence,
    thresholds,
    out,
    *,
    connectivity: int = DEFAULT_CONNECTIVITY,
    perimeter: str = DEFAULT_PERIMETER,
    nan_policy: str = "window",
    scheduler: str = "threads",
    connect_timeout: float = CONNECT_TIMEOUT_S,
    workers: int | None = None,
    on_duplicate: str = "raise",
    rain_rate: bool = False,
    zr_a: float | None = None,
    zr_b: float | None = None,
    coarsen: int = 1,
    max_rain: float | None = None,
    on_error: str = "raise",
    length_unit: str = "pixel",
    overwrite: bool = False,
    resume: bool = False,
    commit_every: int = 64,
    progress: bool = True,
    command: str | None = None,
) -> tuple[Path, int]:
    """Minkowski curves of OPERA files, written to ``out`` (NetCDF or Zarr) with provenance.

    The keyword arguments are the options of ``python -m mink_toolkit
    curves`` (``--connect-timeout`` is ``connect_timeout``, and so on;
    ``progress=False`` is ``--no-progress``), with the same defaults
    except ``max_rain``, which the command line sets to
    :data:`~mink_toolkit.preprocess.DEFAULT_MAX_RAIN`.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Files, directories or glob patterns
        (:func:`~mink_toolkit.io.series.resolve_paths`).
    thresholds : 1-D array_like
        Strictly increasing and finite, in the data's units (after
        ``rain_rate``); > 0 for rain rates and accumulations.
    out : str or os.PathLike
        ``*.nc`` (NetCDF, written once at the end) or ``*.zarr`` (Zarr,
        committed every ``commit_every`` files; ``resume`` continues it).
    command : str, optional
        The command line to record in the output's ``command`` attribute
        (default: this function's name).

    Returns
    -------
    path : pathlib.Path
        The written output.
    n_skipped : int
        Files skipped (``on_error="skip"``), listed with the reason in the
        output's ``skipped_files`` attribute.

    Raises
    ------
    CurvesArgumentError
        An argument that does not fit: options that exclude each other,
        ``--out`` of another format, thresholds <= 0 for rain,
        ``rain_rate`` on files that are not reflectivity, ``coarsen`` that
        does not divide the grid, a malformed scheduler address.
    FileExistsError, FileNotFoundError, PermissionError
        ``out`` exists (without ``overwrite``/``resume``), its directory is
        missing or not writable; files are missing.
    OSError, ValueError
        Unreadable or inconsistent files, an unreachable scheduler, a failed
        computation (the files committed so far are kept in a Zarr store,
        and the message says so).
    """
    from ..io.series import plan_series

    try:
        # Unit-free first (finite, increasing); against the files' unit once a header is read.
        check_thresholds(thresholds, "--thresholds")
    except ValueError as exc:
        raise CurvesArgumentError(str(exc)) from None
    out = Path(out)
    try:
        fmt = output_format(out)
    except ValueError as exc:
        raise CurvesArgumentError(str(exc)) from None
    _check_output(out, fmt, resume, overwrite)
    if (zr_a is not None or zr_b is not None) and not rain_rate:
        raise CurvesArgumentError("--zr-a/--zr-b only apply with --rain-rate")
    try:
        settings = CurvesSettings(thresholds=thresholds, connectivity=connectivity, perimeter=perimeter,
                                  nan_policy=nan_policy, rain_rate=bool(rain_rate), zr_a=zr_a, zr_b=zr_b,
                                  max_rain=max_rain, coarsen=coarsen, length_unit=length_unit)
    except ValueError as exc:
        raise CurvesArgumentError(str(exc)) from None
    if command is None:
        command = "mink_toolkit.curves.run_curves"

    store, recorded = None, {}
    if fmt == "zarr" and resume and (out.exists() or any(out.parent.glob(f".{out.name}.old-*"))):
        store = CurvesStore.open(out, settings)
        recorded = {r["path"]: r for r in store.records()}
    headers, skipped = plan_series(paths, on_duplicate=on_duplicate, on_error=on_error,
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

    extra = {"on_duplicate": on_duplicate, "on_error": on_error, "scheduler": scheduler,
             "pixel_size": settings.pixel_size(reference)}

    def attrs_now(records=None):
        rows = records if records is not None else [*recorded.values(), *committer.ok]
        rows = sorted(rows, key=lambda r: (r["time"], r["path"]))
        return provenance_attrs(command, settings, extra, reference, rows, skipped)

    committer = Committer(store, commit_every, skipped, attrs_now)
    with contextlib.ExitStack() as stack:
        client = scheduler
        if scheduler not in LOCAL_SCHEDULERS:
            # Connect once, here: fails fast and clearly.
            client = stack.enter_context(_connect(scheduler, connect_timeout))
        try:
            compute_files(
                [h.path for h in headers],
                settings,
                expected=headers,
                known_sha256=[recorded[h.path]["sha256"] if h.path in recorded else None for h in headers],
                on_error=on_error,
                scheduler=client,
                num_workers=workers,
                progress=progress,
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
    records = merge_records(recorded, committer.ok, on_duplicate)
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
