"""Benchmark: the compiled path (``compile=True``) against eager, ratios measured in one run.

1. Forward + backward of the relaxed Minkowski functionals
   (:func:`mink_toolkit.soft_minkowski_functionals`, batch 32 × 128 × 128,
   21 thresholds, float32, T = 0.1·u): the eager fused path, the same
   compiled, and the plain autograd reference of ``benchmarks/bench_relax.py``
   (``implementation="autograd"``), with peak memory and the first
   compilation's time.
2. One training step (forward, loss, backward, Adam) of the additive
   surrogate as ``reproduce surrogate`` trains it (width 16, depth 3, 4
   levels, batch 32 of 32 × 32 crops) and of the super-resolution U-Net with
   the Minkowski term as ``reproduce superres`` trains it (×8, width 16, depth
   2, batch 16 of 48 × 48 crops, λ = 0.01), eager against compiled.

Peak memory: on a CPU the resident-set growth during one step in a fresh
child process per variant, the peak reset after the warm-up (and, for the
compiled variant, after its compilation) with Linux's ``clear_refs``; on a
GPU ``torch.cuda.max_memory_allocated``. The first compilation's time is
that of the first compiled call minus an eager one, with inductor's cache
in a fresh folder (``--warm-cache`` keeps the toolkit's cache folder: the
time a second run pays).

Run: ``.venv/bin/python benchmarks/bench_compile.py [--batch B] [--repeats R] [--device cpu|cuda]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_relax import _make_inputs  # noqa: E402

RELAX = ("eager", "compiled", "autograd")
STEPS = ("surrogate", "superres")


# --------------------------------------------------------------------------
# What is timed
# --------------------------------------------------------------------------


def _relax_step(variant: str, field: torch.Tensor, thresholds) -> None:
    from mink_toolkit.relax import soft_minkowski_functionals

    x = field.clone().requires_grad_(True)
    implementation = "autograd" if variant == "autograd" else "fused"
    out = soft_minkowski_functionals(x, thresholds, 0.1, relative=True, implementation=implementation,
                                     compile=variant == "compiled")
    out.sum().backward()


def _surrogate_setup(batch: int, device: str):
    """A training step of the additive surrogate as ``reproduce surrogate`` configures it."""
    import numpy as np

    from mink_toolkit.datasets import exact_targets
    from mink_toolkit.losses.surrogate import surrogate_loss
    from mink_toolkit.surrogate import MinkowskiSurrogate
    from mink_toolkit.thresholds import DEFAULT_THRESHOLDS

    torch.manual_seed(0)
    model = MinkowskiSurrogate(DEFAULT_THRESHOLDS, width=16, depth=3, levels=4).to(device)
    rng = np.random.default_rng(0)
    crops = (rng.gamma(0.4, 2.0, (batch, 32, 32)) * (rng.random((batch, 1, 1)) < 0.9)).astype(np.float32)
    target, comps = exact_targets(crops, DEFAULT_THRESHOLDS)
    x = torch.as_tensor(crops, device=device)[:, None]
    target, comps = torch.as_tensor(target, device=device), torch.as_tensor(comps, device=device)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)

    def step(compile: bool) -> None:
        pred, pred_comps = model._forward(x, True, True) if compile else model(x, return_components=True)
        loss = surrogate_loss(pred, target, pred_comps, comps, DEFAULT_THRESHOLDS, components_weight=0.5)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    return step


def _superres_setup(batch: int, device: str):
    """A training step of the ×8 U-Net with the Minkowski term as ``reproduce superres`` configures it."""
    import numpy as np

    from mink_toolkit.losses import MinkowskiLoss, log_mse
    from mink_toolkit.resample import block_mean
    from mink_toolkit.superres import ResidualUNet
    from mink_toolkit.thresholds import DEFAULT_THRESHOLDS

    torch.manual_seed(0)
    model = ResidualUNet(factor=8, width=16, depth=2).to(device)
    rng = np.random.default_rng(0)
    fine = (rng.gamma(0.5, 2.0, (batch, 48, 48))).astype(np.float32)
    xb = torch.as_tensor(block_mean(fine, 8).astype(np.float32), device=device)[:, None]
    yb = torch.as_tensor(fine, device=device)[:, None]
    terms = {c: MinkowskiLoss(DEFAULT_THRESHOLDS, compile=c) for c in (False, True)}
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)

    def step(compile: bool) -> None:
        pred = model._forward(xb, None, True) if compile else model(xb)
        total = log_mse(pred, yb) + 0.01 * terms[compile](pred, yb)
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        optimiser.step()

    return step


def _runner(kind: str, args):
    """``run(variant)``: one timed unit of ``kind`` (a relax variant or a training step)."""
    if kind == "relax":
        field, thresholds = _make_inputs(args.batch, args.size, args.thresholds)
        field = field.to(args.device)
        return lambda variant: _relax_step(variant, field, thresholds)
    step = (_surrogate_setup if kind == "surrogate" else _superres_setup)(
        args.step_batch if kind == "surrogate" else max(1, args.step_batch // 2), args.device)
    return lambda variant: step(variant == "compiled")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(run, variant: str, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    run(variant)
    _sync(device)
    return time.perf_counter() - start


# --------------------------------------------------------------------------
# Peak memory, in a child process per variant
# --------------------------------------------------------------------------


def _rss_status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status (Linux only)")


def _peak_of_one_call(run, variant: str, device: str) -> float:
    """Bytes a call adds at its peak, after a warm-up (which compiles) has run."""
    run(variant)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        run(variant)
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - before)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak resident set (VmHWM) to the current one
    before = _rss_status("VmRSS")
    run(variant)
    return float(_rss_status("VmHWM") - before)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def _child_memory(kind: str, variant: str, args, env) -> float:
    cmd = [sys.executable, __file__, "--child", f"{kind}:{variant}", "--threads", str(args.threads),
           "--batch", str(args.batch), "--size", str(args.size), "--thresholds", str(args.thresholds),
           "--step-batch", str(args.step_batch), "--device", args.device]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return float(res.stdout.strip().splitlines()[-1])


def _measure(kind: str, variants, args) -> tuple[dict, float]:
    """Median seconds per variant and the first compilation's seconds."""
    run = _runner(kind, args)
    eager_first = _timed(run, variants[0], args.device)
    compile_first = _timed(run, "compiled", args.device)
    times = {}
    for variant in variants:
        run(variant)  # warm-up
        times[variant] = statistics.median(_timed(run, variant, args.device) for _ in range(args.repeats))
    return times, compile_first - eager_first


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--thresholds", type=int, default=21)
    parser.add_argument("--step-batch", type=int, default=32, help="surrogate batch (the U-Net's is half)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warm-cache", action="store_true", help="keep inductor's cache (second-run times)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--only", choices=("relax", "steps"), help="run one part of the benchmark")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.child:
        kind, variant = args.child.split(":")
        print(json.dumps(_peak_of_one_call(_runner(kind, args), variant, args.device)))
        return

    env = dict(os.environ)
    if not args.warm_cache:  # a first compilation, not a load from an earlier run's cache
        env["TORCHINDUCTOR_CACHE_DIR"] = os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else (
        f"CPU, {args.threads} thread(s), torch {torch.__version__}")
    print(f"device: {device_name}")
    if args.only != "steps":
        _report_relax(args, env)
    if args.only != "relax":
        _report_steps(args, env)


def _report_relax(args, env) -> None:
    print(f"relaxed functionals, forward + backward: batch {args.batch} x {args.size} x {args.size}, "
          f"{args.thresholds} thresholds, float32, T = 0.1 u, median of {args.repeats}")
    times, compile_s = _measure("relax", RELAX, args)
    unit = args.batch * args.thresholds * args.size * args.size * 4
    memory = {} if args.skip_memory else {v: _child_memory("relax", v, args, env) for v in RELAX}
    names = {"eager": "eager fused", "compiled": "compiled fused (compile=True)", "autograd": "plain autograd"}
    print(f"{'variant':32s} {'median s':>9s} {'peak MiB':>9s} {'peak / (B*n*H*W f32)':>21s}")
    for v in RELAX:
        mem = memory.get(v, float("nan"))
        print(f"{names[v]:32s} {times[v]:9.3f} {mem / 2**20:9.0f} {mem / unit:21.2f}")
    print(f"first compilation: {compile_s:.1f} s")
    print(f"compiled vs eager fused:     {times['eager'] / times['compiled']:.2f}x")
    print(f"compiled vs plain autograd:  {times['autograd'] / times['compiled']:.2f}x (target >= 10)")
    print(f"eager fused vs plain autograd: {times['autograd'] / times['eager']:.2f}x")


def _report_steps(args, env) -> None:
    for kind, title in (("surrogate", f"additive surrogate, batch {args.step_batch} of 32 x 32"),
                        ("superres", f"U-Net x8 + Minkowski term, batch {max(1, args.step_batch // 2)} of 48 x 48")):
        times, compile_s = _measure(kind, ("eager", "compiled"), args)
        memory = {} if args.skip_memory else {v: _child_memory(kind, v, args, env) for v in ("eager", "compiled")}
        print(f"training step, {title}: eager {times['eager'] * 1e3:.1f} ms, compiled "
              f"{times['compiled'] * 1e3:.1f} ms ({times['eager'] / times['compiled']:.2f}x), peak "
              f"{memory.get('eager', float('nan')) / 2**20:.0f} vs {memory.get('compiled', float('nan')) / 2**20:.0f} MiB, "
              f"first compilation {compile_s:.1f} s")


if __name__ == "__main__":
    main()
