"""Scale benchmark: a synthetic archive of hundreds of valid ODIM-HDF5 files, analysed by the engine.

Run: ``MINK_DATA_DIR=../shared/data/opera .venv/bin/python benchmarks/bench_archive_scale.py [--files 300]``

1. **Builds an archive** in a temporary folder (removed at the end; never
   committed): each file is one of the 24 real 2018-08-24 Odyssey
   composites, shifted (``np.roll`` by up to ±200 pixels), flipped and with
   its rain rescaled (× 0.5…2, on the 0.01 mm/h grid), written as a valid
   ODIM-HDF5 file -- every group and attribute of the source copied, the
   image gzip-compressed in the source's chunks, nominal and valid times
   moved to a new 15-minute slot -- so the reader is exercised as on real
   files.
2. **Analyses it** with ``compute_files`` (the ``curves`` engine, window
   NaN policy, 5 thresholds, clutter screen) on dask threads and on a
   ``LocalCluster`` of worker processes, for 1 and 2 workers and for a
   small and the full number of files, and prints files per second per
   worker, the peak resident memory of each worker process (sampled every
   5 ms) and the size of the output (NetCDF and Zarr) against the number
   of files; and what a year of 15-minute composites (35 040 files) would
   take at the measured rate.

The load average is printed before and after: the numbers are only as
good as the machine was quiet.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from bench_archive import THRESHOLDS, WORKER_ENVIRON, PeakRSS  # noqa: E402

FILES_PER_YEAR = 365 * 24 * 4


def _stamp(i: int) -> str:
    start = np.datetime64("2018-08-25T00:00:00")
    return np.datetime_as_string(start + np.timedelta64(15 * i, "m"), unit="s").replace("-", "").replace(":", "").replace("T", "")


def make_file(args) -> str:
    """Write synthetic file ``i`` from a real composite; returns its path."""
    import h5py

    i, source, folder, compression = args
    rng = np.random.default_rng(i)
    stamp = _stamp(i)
    out = os.path.join(folder, f"T_PAAH21_C_EUOC_{stamp}.hdf")
    with h5py.File(source, "r") as src, h5py.File(out, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            if name != "dataset1":
                src.copy(src[name], dst, name=name)
        dataset1 = dst.create_group("dataset1")
        for name in src["dataset1"]:
            if name != "data1":
                src.copy(src["dataset1"][name], dataset1, name=name)
        data1 = dataset1.create_group("data1")
        for name in src["dataset1/data1"]:
            if name != "data":
                src.copy(src["dataset1/data1"][name], data1, name=name)
        image = src["dataset1/data1/data"]
        raw = image[...]
        what = src["dataset1/what"].attrs
        nodata, undetect = float(what["nodata"]), float(what["undetect"])
        measured = (raw != nodata) & (raw != undetect)
        raw[measured] = np.round(raw[measured] * rng.uniform(0.5, 2.0), 2)
        raw = np.roll(raw, tuple(rng.integers(-200, 201, size=2)), axis=(0, 1))
        if rng.random() < 0.5:
            raw = raw[:, ::-1]
        if rng.random() < 0.5:
            raw = raw[::-1]
        data1.create_dataset("data", data=np.ascontiguousarray(raw), chunks=image.chunks,
                             compression="gzip", compression_opts=compression)
        date, clock = stamp[:8].encode(), stamp[8:].encode()
        dst["what"].attrs["date"], dst["what"].attrs["time"] = np.bytes_(date), np.bytes_(clock)
        # The valid period keeps its place relative to the nominal time (ending 5 min after it here).
        end = np.datetime64(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:12]}") + np.timedelta64(5, "m")
        begin = end - np.timedelta64(15, "m")
        for prefix, moment in (("start", begin), ("end", end)):
            text = np.datetime_as_string(moment, unit="s").replace("-", "").replace(":", "")
            dst["dataset1/what"].attrs[f"{prefix}date"] = np.bytes_(text[:8])
            dst["dataset1/what"].attrs[f"{prefix}time"] = np.bytes_(text[9:15])
    return out


def build_archive(count: int, folder: str, workers: int, compression: int) -> list[str]:
    from mink_toolkit import fetch_opera, opera_files

    sources = [str(fetch_opera(n)) for n in opera_files("odyssey_rate")]
    jobs = [(i, sources[i % len(sources)], folder, compression) for i in range(count)]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(make_file, jobs, chunksize=4))


def _import_engine(_=None) -> int:
    import mink_toolkit.curves.engine  # noqa: F401

    return os.getpid()


def run_engine(paths, settings, kind: str, workers: int) -> dict:
    from mink_toolkit.curves.engine import compute_files

    if kind == "threads":
        compute_files(paths[:1], settings, scheduler="synchronous")  # first-use allocations outside the timing
        with PeakRSS([os.getpid()]) as rss:
            start = time.perf_counter()
            run = compute_files(paths, settings, scheduler="threads", num_workers=workers)
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "peaks": rss.peak, "baselines": rss.baseline, "run": run}
    from distributed import Client, LocalCluster

    import dask

    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        pids = list(client.run(_import_engine).values())
        with PeakRSS(pids) as rss:
            start = time.perf_counter()
            run = compute_files(paths, settings, scheduler=client)
            seconds = time.perf_counter() - start
    return {"seconds": seconds, "peaks": rss.peak, "baselines": rss.baseline, "run": run}


def output_sizes(records, settings, folder: str) -> tuple[int, int]:
    from mink_toolkit.curves.engine import curves_dataset
    from mink_toolkit.curves.store import CurvesStore, write_curves

    reference = records[0]["header"]
    nc = Path(folder) / "curves.nc"
    write_curves(curves_dataset(records, settings, reference), nc)
    store = CurvesStore.create(Path(folder) / "curves.zarr", settings, reference)
    store.finalize(records, {"title": "scale benchmark"})
    zarr_bytes = sum(p.stat().st_size for p in store.path.rglob("*") if p.is_file())
    return nc.stat().st_size, zarr_bytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=300, help="files in the synthetic archive (default 300)")
    parser.add_argument("--small", type=int, default=50, help="the smaller run's number of files (default 50)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--compression", type=int, default=4, help="gzip level of the written files (default 4)")
    parser.add_argument("--keep", default=None, help="build the archive in this folder and keep it")
    args = parser.parse_args()

    from mink_toolkit.curves.engine import CurvesSettings

    settings = CurvesSettings(THRESHOLDS, max_rain=150.0)
    mib = 2.0**20
    print(f"bench_archive_scale: {args.files} synthetic files; {os.cpu_count()} cores, load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)")
    folder = args.keep or tempfile.mkdtemp(prefix="mink_scale_")
    os.makedirs(folder, exist_ok=True)
    try:
        start = time.perf_counter()
        paths = build_archive(args.files, folder, max(args.workers), args.compression)
        size = sum(os.path.getsize(p) for p in paths)
        print(f"built {len(paths)} ODIM-HDF5 files ({size / mib:.0f} MiB, gzip {args.compression}) in "
              f"{time.perf_counter() - start:.0f} s in {folder}")
        print(f"{'engine':<14}{'workers':>8}{'files':>7}{'wall s':>9}{'files/s/worker':>16}"
              f"{'peak RSS per worker MiB':>25}{'year (35 040 files) h':>23}")
        last = None
        for kind in ("threads", "cluster"):
            for workers in args.workers:
                for count in sorted({min(args.small, len(paths)), len(paths)}):
                    result = run_engine(paths[:count], settings, kind, workers)
                    rate = count / result["seconds"] / workers
                    peaks = " / ".join(f"{p / mib:.0f}" for p in result["peaks"])
                    if kind == "threads":
                        peaks += " (one process)"
                    year_h = FILES_PER_YEAR / (rate * workers) / 3600
                    print(f"{kind:<14}{workers:>8}{count:>7}{result['seconds']:>9.1f}{rate:>16.2f}"
                          f"{peaks:>25}{year_h:>23.1f}")
                    assert not result["run"].skipped, result["run"].skipped[:3]
                    last = result["run"]
        records = sorted(last.ok, key=lambda r: r["time"])
        for count in sorted({min(args.small, len(records)), len(records)}):
            nc, zarr_bytes = output_sizes(records[:count], settings, folder)
            print(f"output for {count:>5} files: NetCDF {nc / 1024:8.1f} KiB, Zarr {zarr_bytes / 1024:8.1f} KiB "
                  f"({zarr_bytes / count:.0f} B per file)")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"load average now {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
