"""Benchmark: Minkowski curves of an OPERA archive, serial vs the dask engine.

Run: ``MINK_DATA_DIR=../shared/data/opera .venv/bin/python benchmarks/bench_archive.py``
(``make bench`` sets MINK_DATA_DIR).

Prints, in one run and on the same files, the wall time and the speed-up
against a serial loop measured in the same run of:

* the serial reference: ``file_curves`` -- the very work of one task (read
  the file once, sha256, decode, clutter screen, functionals) -- in a plain
  loop, one file after another;
* ``compute_files`` (the ``curves`` command's engine, one task per file) on
  dask's threaded scheduler, on dask's process scheduler (a process pool
  started and warmed before timing; its start-up is printed apart), and on
  a ``dask.distributed.LocalCluster`` of worker processes (one thread each);
* ``minkowski_curves(open_opera(paths))``, the lazy-series path of the
  notebooks, on threads;

that all give identical numbers; the tasks per file of each graph; and the
peak memory per worker -- resident set size sampled every 5 ms -- of a
fresh process running the threaded engine, for a quarter of the files and
for all of them (it must not grow with the number of files), and of each
LocalCluster worker.

Options: ``--product`` (a registry product, default ``odyssey_rate``: the 24
2018-08-24 files), ``--files N`` (first N files), ``--workers`` (default 2),
``--repeats`` (interleaved repeats, best time kept; default 3).

Timings depend on what else runs on the machine: the load average is
printed before and after; compare ratios only within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

from mink_toolkit._runtime import DASK_WORKER_ENVIRON

THRESHOLDS = [0.1, 0.5, 1.0, 5.0, 10.0]
#: Environment of LocalCluster workers: the toolkit's one allocator setting for dask workers
#: (documented in mink_toolkit._runtime; the README shows the same two settings for a real cluster).
WORKER_ENVIRON = dict(DASK_WORKER_ENVIRON)


def _paths(product: str, count: int | None) -> list[str]:
    from mink_toolkit import fetch_opera, opera_files

    names = opera_files(product)
    if count is not None:
        names = names[:count]
    return [str(fetch_opera(n)) for n in names]


def _settings():
    from mink_toolkit.curves.engine import CurvesSettings

    return CurvesSettings(THRESHOLDS, max_rain=150.0)  # the command line's defaults


def _curves(records) -> np.ndarray:
    return np.stack([r["curves"] for r in sorted(records, key=lambda r: r["time"])])


def _as_array(curves) -> np.ndarray:
    return np.stack([curves[n].values for n in ("area", "perimeter", "euler_characteristic")], axis=-1)


class PeakRSS:
    """Sample the resident set size of some processes every 5 ms; keep each one's peak."""

    def __init__(self, pids):
        import psutil

        self.processes = [psutil.Process(pid) for pid in pids]
        self.baseline = [p.memory_info().rss for p in self.processes]
        self.peak = list(self.baseline)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._done.is_set():
            for i, process in enumerate(self.processes):
                self.peak[i] = max(self.peak[i], process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()


def memory_child(paths: list[str], workers: int) -> None:
    """The threaded engine in a fresh process; prints a JSON line with the memory numbers."""
    from mink_toolkit.curves.engine import compute_files

    settings = _settings()
    compute_files(paths[:1], settings, scheduler="synchronous")  # imports and first-use allocations
    with PeakRSS([os.getpid()]) as rss:
        compute_files(paths, settings, scheduler="threads", num_workers=workers)
    print(json.dumps({"baseline_rss": rss.baseline[0], "peak_rss": rss.peak[0], "n_files": len(paths)}))


def _import_engine(_) -> int:
    import mink_toolkit.curves.engine  # noqa: F401

    return os.getpid()


def _warm_process_pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    # Import the engine in every worker before timing (start-up is reported apart).
    list(pool.map(_import_engine, range(4 * workers)))
    return pool


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--product", default="odyssey_rate")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats; the best time is kept")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    paths = _paths(args.product, args.files)
    if args.memory_child:
        memory_child(paths, args.workers)
        return 0

    import dask
    from distributed import Client, LocalCluster

    from mink_toolkit import minkowski_curves, open_opera
    from mink_toolkit.curves.engine import compute_files, file_curves

    settings = _settings()
    w = args.workers
    print(f"bench_archive: {len(paths)} files of {args.product}, thresholds {THRESHOLDS} mm/h, window NaN "
          f"policy, clutter screen 150 mm/h; {os.cpu_count()} cores, load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min); dask {dask.__version__}")

    t0 = time.perf_counter()
    pool = _warm_process_pool(w)
    t_pool = time.perf_counter() - t0
    t0 = time.perf_counter()
    # Workers without dask's MALLOC_TRIM_THRESHOLD_=65536: with it glibc maps and unmaps every
    # field-sized array anew, and a task costs about 1.5x the CPU (see WORKER_ENVIRON).
    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENVIRON}):
        cluster = LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    client.run(_import_engine, 0)
    t_cluster = time.perf_counter() - t0
    worker_pids = list(client.run(os.getpid).values())

    def processes():
        with dask.config.set(pool=pool):
            return compute_files(paths, settings, scheduler="processes").ok

    runs = {
        "serial": lambda: [file_curves(p, settings) for p in paths],
        "threads": lambda: compute_files(paths, settings, scheduler="threads", num_workers=w).ok,
        "processes": processes,
        "cluster": lambda: compute_files(paths, settings, scheduler=client).ok,
        "lazy series": lambda: minkowski_curves(open_opera(paths), THRESHOLDS, max_rain=150.0,
                                                scheduler="threads", num_workers=w),
    }
    best = {name: float("inf") for name in runs}
    results = {}
    cluster_rss = None
    try:
        # Interleaved repeats, best time kept: the machine is shared, and a
        # burst of load from elsewhere should not decide a ratio.
        for _ in range(args.repeats):
            for name, run in runs.items():
                if name == "cluster":
                    with PeakRSS(worker_pids) as rss:
                        start = time.perf_counter()
                        results[name] = run()
                        seconds = time.perf_counter() - start
                    cluster_rss = rss if cluster_rss is None else cluster_rss
                else:
                    start = time.perf_counter()
                    results[name] = run()
                    seconds = time.perf_counter() - start
                best[name] = min(best[name], seconds)
    finally:
        client.close()
        cluster.close()
        pool.shutdown()

    reference = _curves(results["serial"])
    same = all(np.array_equal(reference, _curves(results[n])) for n in ("threads", "processes", "cluster"))
    same = same and np.array_equal(reference, _as_array(results["lazy series"]))
    print(f"identical results (serial == threads == processes == cluster == lazy series): {same}")

    # Tasks per file of the lazy path: the read and the counts of one field, after fusion.
    optimised = dask.optimize(*open_opera(paths).data.to_delayed().ravel())
    keys = set().union(*(set(d.__dask_graph__()) for d in optimised))
    print(f"tasks per file: compute_files 1 (one call per file); lazy series {len(keys) / len(paths) + 1:.0f} "
          "(the read, fused with whatever produced the field, and the counts)")

    rows = [
        ("serial loop (file_curves)", best["serial"]),
        (f"dask threads, {w} workers", best["threads"]),
        (f"dask processes, {w} workers", best["processes"]),
        (f"LocalCluster, {w} processes", best["cluster"]),
        (f"lazy series on threads, {w}", best["lazy series"]),
    ]
    print(f"{'path':<32}{'wall s':>9}{'per file s':>12}{'speed-up':>10}{'files/s/worker':>16}")
    for name, seconds in rows:
        workers = 1 if name.startswith("serial") else w
        print(f"{name:<32}{seconds:>9.2f}{seconds / len(paths):>12.3f}{best['serial'] / seconds:>10.2f}"
              f"{len(paths) / seconds / workers:>16.2f}")
    print(f"(best of {args.repeats} interleaved runs; start-up not included above: process pool "
          f"{t_pool:.2f} s, LocalCluster {t_cluster:.2f} s; load average now "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())})")

    mib = 2.0**20

    def measure(count: int) -> dict:
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", "--product", args.product,
             "--workers", str(w), "--files", str(count)],
            capture_output=True, text=True, check=True,
        )
        return json.loads(child.stdout.strip().splitlines()[-1])

    field_mib = 2200 * 1900 * 8 / mib if args.product != "cirrus_dbzh" else 4400 * 3800 * 8 / mib
    print(f"memory (one field is {field_mib:.0f} MiB):")
    for count in sorted({max(w, len(paths) // 4), len(paths)}):
        mem = measure(count)
        increase = (mem["peak_rss"] - mem["baseline_rss"]) / mib
        print(f"  threads engine, {count:>4} files: peak RSS {mem['peak_rss'] / mib:7.0f} MiB, "
              f"{increase:6.0f} MiB above the idle process (= {increase / field_mib:.1f} fields for {w} workers)")
    if cluster_rss is not None:
        for i, (base, peak) in enumerate(zip(cluster_rss.baseline, cluster_rss.peak)):
            print(f"  LocalCluster worker {i}: peak RSS {peak / mib:7.0f} MiB ({(peak - base) / mib:+.0f} MiB "
                  f"during the run, {len(paths)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
