"""Benchmark: forward + backward of the relaxed Minkowski functionals.

Batch 32 × 128 × 128, 21 thresholds, float32, CPU: the fused product-t-norm
path of :func:`mink_toolkit.soft_minkowski_functionals` against

* the straightforward broadcasted autograd implementation of the same
  product-t-norm formulas (``implementation="autograd"``: every shifted AND/OR
  a new tensor, autograd keeps them all), and
* :func:`mink_toolkit.paper_relaxation` (the published variant).

Medians over repeats and ratios measured in the same run, plus peak memory
(resident-set growth during one forward + backward, measured in a fresh
child process per variant so that earlier allocations do not hide it), in
units of the batch × thresholds × H × W float32 tensor.

Run: ``.venv/bin/python benchmarks/bench_relax.py [--threads N] [--repeats R] [--batch B]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

VARIANTS = ("fused", "autograd", "paper")


def _make_inputs(batch: int, size: int, n_thresholds: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    # Log-normal "rain" with many dry pixels, roughly like radar patches.
    field = torch.exp(torch.randn(batch, size, size, generator=gen) * 1.5 - 1.0)
    field = torch.where(torch.rand(batch, size, size, generator=gen) < 0.4, torch.zeros_like(field), field)
    thresholds = torch.logspace(-1, 1, n_thresholds, dtype=torch.float64).numpy() + 0.005
    return field, thresholds


def _step(variant: str, field: torch.Tensor, thresholds) -> float:
    from mink_toolkit.relax import paper_relaxation, soft_minkowski_functionals

    x = field.clone().requires_grad_(True)
    if variant == "paper":
        out = paper_relaxation(x, thresholds, 0.1, relative=True)
    else:
        out = soft_minkowski_functionals(x, thresholds, 0.1, relative=True, implementation=variant)
    out.sum().backward()
    return float(x.grad.abs().sum())


def _high_water_mark() -> int:
    """Peak resident set size of this process in bytes (Linux ``VmHWM``).

    ``ru_maxrss`` is not used: Linux keeps the parent's value across
    ``exec``, so a child started by a big parent would report nothing.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status (Linux only)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--thresholds", type=int, default=21)
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.child:  # peak-memory measurement in a fresh process
        field, thresholds = _make_inputs(args.batch, args.size, args.thresholds)
        _step(args.child, field[:1], thresholds)
        before = _high_water_mark()
        _step(args.child, field, thresholds)
        print(json.dumps(_high_water_mark() - before))
        return

    field, thresholds = _make_inputs(args.batch, args.size, args.thresholds)
    unit = args.batch * args.thresholds * args.size * args.size * 4  # bytes of B×n×H×W float32
    print(
        f"forward+backward, batch {args.batch} x {args.size} x {args.size}, {args.thresholds} thresholds, "
        f"float32, {args.threads} thread(s), median of {args.repeats}"
    )
    memory: dict[str, float] = {}
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--child", variant, "--threads", str(args.threads),
               "--batch", str(args.batch), "--size", str(args.size), "--thresholds", str(args.thresholds)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        memory[variant] = float(res.stdout.strip().splitlines()[-1])
    times: dict[str, float] = {}
    for variant in VARIANTS:
        _step(variant, field, thresholds)  # warm-up
        samples = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            _step(variant, field, thresholds)
            samples.append(time.perf_counter() - start)
        times[variant] = statistics.median(samples)
    names = {"fused": "ours (fused product)", "autograd": "straightforward autograd", "paper": "paper_relaxation"}
    print(f"{'variant':28s} {'median s':>9s} {'peak MiB':>9s} {'peak / (B*n*H*W f32)':>21s}")
    for variant in VARIANTS:
        print(f"{names[variant]:28s} {times[variant]:9.3f} {memory[variant] / 2**20:9.0f} {memory[variant] / unit:21.1f}")
    print(f"speed-up ours vs straightforward autograd: {times['autograd'] / times['fused']:.2f}x (target >= 2)")
    print(f"speed-up ours vs paper_relaxation:        {times['paper'] / times['fused']:.2f}x (target >= 1)")


if __name__ == "__main__":
    main()
