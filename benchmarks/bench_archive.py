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
2018-08-24 files), ``--files N`` (first N files), ``--workers`` (default 2).
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

    from mink_toolkit.archive import minkowski_curves, open_opera

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
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    paths = _paths(args.product, args.files)
    if args.memory_child:
        memory_child(paths, args.workers)
        return 0

    import dask
    from distributed import Client, LocalCluster

    from mink_toolkit.archive import minkowski_curves, open_opera

    print(f"bench_archive: {len(paths)} files of {args.product}, thresholds {THRESHOLDS} mm/h, "
          f"nan_policy={NAN_POLICY!r}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"dask {dask.__version__}")

    t0 = time.perf_counter()
    reference = serial_curves(paths)
    t_serial = time.perf_counter() - t0

    t0 = time.perf_counter()
    series = open_opera(paths)
    threads = minkowski_curves(series, THRESHOLDS, nan_policy=NAN_POLICY, scheduler="threads",
                               num_workers=args.workers)
    t_threads = time.perf_counter() - t0

    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    t_start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        series = open_opera(paths)
        distributed = minkowski_curves(series, THRESHOLDS, nan_policy=NAN_POLICY, scheduler=client)
        t_cluster = time.perf_counter() - t0
    finally:
        client.close()
        cluster.close()

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
    print(f"(LocalCluster start-up, not included above: {t_start:.2f} s)")

    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--product", args.product, "--workers", str(args.workers)]
        + (["--files", str(args.files)] if args.files else []),
        capture_output=True, text=True, check=True,
    )
    mem = json.loads(child.stdout.strip().splitlines()[-1])
    mib = 2.0**20
    field, archive = mem["field_bytes"], mem["archive_bytes"]
    rss_peak = max(mem["peak_rss_sampled"], mem["peak_rss_getrusage"])
    rss_increase = rss_peak - mem["baseline_rss"]
    print(f"memory of the lazy path (dask threads, {args.workers} workers, fresh process):")
    print(f"  one field in memory          {field / mib:8.1f} MiB")
    print(f"  whole archive in memory      {archive / mib:8.1f} MiB ({mem['n_times']} fields)")
    print(f"  peak RSS increase            {rss_increase / mib:8.1f} MiB = {rss_increase / field:.1f} fields "
          f"= {100 * rss_increase / archive:.1f} % of the archive")
    print(f"  tracemalloc peak             {mem['tracemalloc_peak'] / mib:8.1f} MiB = "
          f"{mem['tracemalloc_peak'] / field:.1f} fields")
    print(f"  (peak RSS {rss_peak / mib:.0f} MiB, RSS before computing {mem['baseline_rss'] / mib:.0f} MiB)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
