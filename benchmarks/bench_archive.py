"""Benchmark: Minkowski curves of an OPERA archive, serial vs dask.

Run: ``MINK_DATA_DIR=../shared/data/opera .venv/bin/python benchmarks/bench_archive.py``
(``make bench`` sets MINK_DATA_DIR).

Prints, in one run and on the same files:

* wall time of the serial reference (a plain loop: ``read_odim`` then
  ``minkowski_functionals`` on the numpy field, one file after another),
  of the lazy series on dask's threaded scheduler, and of a 2-worker
  ``dask.distributed.LocalCluster`` (one thread per worker process), with
  the speed-ups against the serial loop measured in the same run;
* that all three give identical numbers;
* the peak memory of the lazy path, measured in a fresh subprocess (peak
  resident set size from ``resource.getrusage`` and a 5 ms ``psutil``
  sampler, minus the resident size just before computing; and the
  ``tracemalloc`` peak of Python/numpy allocations), compared with the size
  of one field and of the whole archive in memory.

Options: ``--product`` (a registry product, default ``odyssey_rate``: the 24
2018-08-24 files), ``--files N`` (first N files), ``--workers`` (default 2),
``--repeats`` (interleaved repeats, best time kept; default 2).

Timings depend on what else runs on the machine: the load average is
printed before and after; compare ratios only within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

THRESHOLDS = [0.1, 0.5, 1.0, 5.0, 10.0]
NAN_POLICY = "window"


def _paths(product: str, count: int | None) -> list[str]:
    from mink_toolkit import fetch_opera, opera_files

    names = opera_files(product)
    if count is not None:
        names = names[:count]
    return [str(fetch_opera(n)) for n in names]


def serial_curves(paths: list[str]) -> np.ndarray:
    """Reference: one file after another, numpy only. Returns (time, threshold, 3)."""
    from mink_toolkit import minkowski_functionals, read_odim

    out = []
    for path in paths:  # registry order is time order
        field = read_odim(path).values
        out.append(minkowski_functionals(field, THRESHOLDS, nan_policy=NAN_POLICY))
    return np.stack(out)


def _as_array(curves) -> np.ndarray:
    return np.stack([curves[n].values for n in ("area", "perimeter", "euler_characteristic")], axis=-1)


def memory_child(paths: list[str], workers: int) -> None:
    """Lazy path in a fresh process; prints a JSON line with the memory numbers."""
    import resource
    import threading
    import tracemalloc

    import psutil

    from mink_toolkit import minkowski_curves, open_opera

    process = psutil.Process()
    series = open_opera(paths)
    field_bytes = int(np.prod(series.shape[1:])) * series.dtype.itemsize
    archive_bytes = int(series.nbytes)
    baseline_rss = process.memory_info().rss
    peak = {"rss": baseline_rss}
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak["rss"] = max(peak["rss"], process.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    tracemalloc.start()
    sampler.start()
    curves = minkowski_curves(series, THRESHOLDS, nan_policy=NAN_POLICY, scheduler="threads", num_workers=workers)
    done.set()
    sampler.join()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ru_maxrss is in KiB on Linux; it is the process's high-water mark.
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({
        "field_bytes": field_bytes,
        "archive_bytes": archive_bytes,
        "baseline_rss": baseline_rss,
        "peak_rss_sampled": peak["rss"],
        "peak_rss_getrusage": maxrss,
        "tracemalloc_peak": traced_peak,
        "n_times": int(curves.sizes["time"]),
    }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--product", default="odyssey_rate")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repeats; the best time is kept")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    paths = _paths(args.product, args.files)
    if args.memory_child:
        memory_child(paths, args.workers)
        return 0

    import dask
    from distributed import Client, LocalCluster

    from mink_toolkit import minkowski_curves, open_opera

    print(f"bench_archive: {len(paths)} files of {args.product}, thresholds {THRESHOLDS} mm/h, "
          f"nan_policy={NAN_POLICY!r}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"dask {dask.__version__}")

    def timed(run):
        start = time.perf_counter()
        result = run()
        return time.perf_counter() - start, result

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    # Workers import the toolkit (and its dependencies) on first use: count that as start-up.
    client.run(lambda: __import__("mink_toolkit.archive"))
    t_start = time.perf_counter() - t0
    runs = {
        "serial": lambda: serial_curves(paths),
        "threads": lambda: minkowski_curves(open_opera(paths), THRESHOLDS, nan_policy=NAN_POLICY,
                                            scheduler="threads", num_workers=args.workers),
        "cluster": lambda: minkowski_curves(open_opera(paths), THRESHOLDS, nan_policy=NAN_POLICY,
                                            scheduler=client),
    }
    best = {name: float("inf") for name in runs}
    results = {}
    try:
        # Interleaved repeats, best time kept: the machine is shared, and a
        # burst of load from elsewhere should not decide a ratio.
        for _ in range(args.repeats):
            for name, run in runs.items():
                seconds, results[name] = timed(run)
                best[name] = min(best[name], seconds)
    finally:
        client.close()
        cluster.close()
    reference, threads, distributed = results["serial"], results["threads"], results["cluster"]
    t_serial, t_threads, t_cluster = best["serial"], best["threads"], best["cluster"]

    same = np.array_equal(reference, _as_array(threads)) and np.array_equal(reference, _as_array(distributed))
    print(f"identical results (serial == threads == cluster): {same}")
    rows = [
        ("serial loop (numpy)", t_serial),
        (f"dask threads, {args.workers} workers", t_threads),
        (f"LocalCluster, {args.workers} processes", t_cluster),
    ]
    print(f"{'path':<34}{'wall s':>9}{'per file s':>12}{'speed-up':>10}")
    for name, seconds in rows:
        print(f"{name:<34}{seconds:>9.2f}{seconds / len(paths):>12.3f}{t_serial / seconds:>10.2f}")
    print(f"(best of {args.repeats} interleaved runs; LocalCluster start-up incl. worker imports, "
          f"not included above: {t_start:.2f} s; load average now {os.getloadavg()[0]:.1f})")

    def measure(count: int) -> dict:
        child = subprocess.run(
            [sys.executable, __file__, "--memory-child", "--product", args.product,
             "--workers", str(args.workers), "--files", str(count)],
            capture_output=True, text=True, check=True,
        )
        return json.loads(child.stdout.strip().splitlines()[-1])

    mib = 2.0**20
    # Twice, on a quarter of the files and on all of them: the peak of the
    # lazy path must not grow with the length of the series.
    counts = sorted({max(args.workers, len(paths) // 4), len(paths)})
    print(f"memory of the lazy path (dask threads, {args.workers} workers, fresh process each):")
    print(f"{'files':>6}{'archive MiB':>13}{'peak RSS increase MiB':>23}{'= fields':>10}{'% of archive':>14}"
          f"{'tracemalloc peak MiB':>22}{'= fields':>10}")
    field = None
    for count in counts:
        mem = measure(count)
        field, archive = mem["field_bytes"], mem["archive_bytes"]
        rss_peak = max(mem["peak_rss_sampled"], mem["peak_rss_getrusage"])
        rss_increase = rss_peak - mem["baseline_rss"]
        traced = mem["tracemalloc_peak"]
        print(f"{count:>6}{archive / mib:>13.0f}{rss_increase / mib:>23.0f}{rss_increase / field:>10.1f}"
              f"{100 * rss_increase / archive:>14.1f}{traced / mib:>22.0f}{traced / field:>10.1f}")
    print(f"(one field is {field / mib:.1f} MiB; RSS increase = peak resident size during the computation "
          "minus the resident size just before it)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
