"""Run time of each tutorial against its budget (``make bench``; no timing is asserted in tests).

Executes every notebook top to bottom with nbclient in the project's kernel, as ``make
notebooks`` does (the stored files are not touched), and prints its wall-clock time, its budget
(01–02: 30 s, 03–05: 60 s on 2 cores), the cells slower than 5 s with the seconds between two
ticks of their progress bar (they should show one that advances at least every 3 s; "no bar"
flags one without) and the load average, which says how far the numbers can be trusted on a shared machine.
It also prints the CPU time (user + system) the notebook's kernel used: unlike the wall-clock
time it hardly depends on what else runs, so on a busy machine it is the better guide to the
wall-clock time on 2 idle cores (about the same for single-threaded cells, down to half of it
for cells that keep both cores busy).

    python benchmarks/bench_notebooks.py [NOTEBOOK ...]
"""

from __future__ import annotations

import os
import re
import resource
import sys
import time
from pathlib import Path

from mink_toolkit.notebook.execute import cell_durations, execute_notebook, settle_progress_bars

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {"01": 30, "02": 30, "03": 60, "04": 60, "05": 60}
SLOW_CELL_S = 5.0
TICK_TARGET_S = 3.0
# A stored bar's text: "desc: 100% 3000/3000 [postfix]" (make notebooks' final state) or tqdm's meter.
_BAR_COUNT = re.compile(r"(\d+)/(\d+)")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (the notebook kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seconds_per_tick(cell, seconds: float) -> float | None:
    """Mean seconds between two ticks of the progress bars a cell shows (None without a bar)."""
    ticks = 0
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "application/vnd.jupyter.widget-view+json" not in data:
            continue
        match = _BAR_COUNT.search(str(data.get("text/plain", "")))
        if match:
            ticks += int(match.group(1))
    return seconds / ticks if ticks else None


def _slow_cells(nb) -> str:
    parts = []
    for i, s in cell_durations(nb):
        if s <= SLOW_CELL_S:
            continue
        per_tick = seconds_per_tick(nb.cells[i], s)
        note = "no bar" if per_tick is None else f"{per_tick:.2f} s/tick" + (" SLOW" if per_tick > TICK_TARGET_S else "")
        parts.append(f"#{i} {s:.1f} s ({note})")
    return ", ".join(parts) or "-"


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: every tutorial)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    print(f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) at start: {_load()}")
    print(f"{'notebook':<40s} {'time':>8s} {'budget':>7s}  {'':4s} {'kernel CPU':>10s}  load (1, 5, 15 min)   "
          f"cells > {SLOW_CELL_S:.0f} s")
    over = 0
    for path in paths:
        start, cpu_start = time.perf_counter(), _children_cpu()
        nb = execute_notebook(path)  # the kernel has exited (and been waited for) when this returns
        seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
        budget = BUDGET_S.get(path.name[:2])
        verdict = "" if budget is None else ("ok" if seconds <= budget else "OVER")
        over += verdict == "OVER"
        settle_progress_bars(nb)  # each bar's text fallback becomes its final count
        slow = _slow_cells(nb)
        budget_text = f"{budget:d} s" if budget else "-"
        print(f"{path.name:<40s} {seconds:7.1f}s {budget_text:>7s}  {verdict:4s} {cpu:9.1f}s  {_load():<21s} {slow}",
              flush=True)
    print(f"{over} of {len(paths)} notebooks over budget (times include kernel start-up, about 1-2 s)")
    return 0  # a benchmark reports; the budget is checked by reading it, not by failing


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
