"""Benchmark: the certified conventional surrogate's norm caps in a training step.

The ``conventional_certified`` row of ``python -m mink_toolkit reproduce
surrogate`` caps every convolution of a :class:`~mink_toolkit.surrogate.ConventionalSurrogate`
(channels 16, 32, 64, 64; 128 × 128 fields) by its operator norm. This
prints, in one run, the median time of one training step (forward,
backward, Adam; by default the driver's batch size, one thread, as in the
driver's worker processes)

* with the exact norms (``training_norms="exact"``: eigenvalues of the
  Fourier symbol's Gram matrices at every frequency, with backward),
* with the warm-started power iteration (``training_norms="power_iteration"``,
  what the driver uses),
* without caps (``lipschitz_cap=None``): the rest of the step,

their ratios, and how far the power-iteration estimate is from the exact
norm while training: the largest relative gap over the layers, checked
every few steps. The fields are log-normal "rain" with dry pixels and the
loss a stand-in (squared log1p outputs), so the weights move as in early
training; timings do not depend on the data.

Run: ``.venv/bin/python benchmarks/bench_surrogate_norms.py [--repeats R] [--steps S] [--batch B]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _fields(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    field = torch.exp(torch.randn(batch, 1, size, size, generator=gen) * 1.5 - 1.0)
    return torch.where(torch.rand(batch, 1, size, size, generator=gen) < 0.4, torch.zeros_like(field), field)


def _model(**settings):
    from mink_toolkit.thresholds import DEFAULT_THRESHOLDS
    from mink_toolkit.surrogate import ConventionalSurrogate

    torch.manual_seed(0)
    return ConventionalSurrogate(DEFAULT_THRESHOLDS, channels=(16, 32, 64, 64), hidden=(128,), **settings)


def _step(model, optimizer, x) -> None:
    loss = model(x).clamp_min(0).log1p().square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def _median_step(model, x, repeats: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    _step(model, optimizer, x)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _step(model, optimizer, x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _largest_gap(model, steps: int, check_every: int, x) -> float:
    """Train with power-iteration caps; the largest relative gap estimate / exact - 1 seen at the checks."""
    from mink_toolkit.surrogate.conventional import _conv_grids
    from mink_toolkit.surrogate.norms import conv_norm_power_iteration, conv_operator_norm

    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    grids = _conv_grids(model.norm_grid, len(model.convs), model.kernel_size)
    gaps = []
    for step in range(1, steps + 1):
        _step(model, optimizer, x)
        if step % check_every == 0:
            with torch.no_grad():
                for index in model._power_layers:
                    weight, grid = model.convs[index].weight, grids[index]
                    # n_iter=0: the current estimate, without advancing it.
                    vectors = getattr(model, f"power_vectors_{index}").clone()
                    estimate = float(conv_norm_power_iteration(weight, grid, vectors, n_iter=0))
                    gaps.append(abs(estimate / float(conv_operator_norm(weight, grid)) - 1.0))
    return max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per variant (median kept)")
    parser.add_argument("--steps", type=int, default=60, help="training steps for the tracking check")
    parser.add_argument("--batch", type=int, default=None,
                        help="fields per step (default: the full run's conventional batch size)")
    args = parser.parse_args()
    from mink_toolkit.experiments.surrogate import CONFIGS

    batch = args.batch or CONFIGS["full"]["train"]["conventional"]["batch_size"]
    torch.set_num_threads(1)
    x = _fields(batch, 128)
    seconds = {
        "exact": _median_step(_model(training_norms="exact"), x, args.repeats),
        "power_iteration": _median_step(_model(training_norms="power_iteration"), x, args.repeats),
        "no caps": _median_step(_model(lipschitz_cap=None), x, args.repeats),
    }
    print(f"training step of the certified conventional surrogate (batch {batch}, 128 x 128, 1 thread), median of "
          f"{args.repeats}:")
    for name, value in seconds.items():
        print(f"  {name:<16} {value:.3f} s")
    exact, power, rest = seconds["exact"], seconds["power_iteration"], seconds["no caps"]
    print(f"  exact / power_iteration: {exact / power:.1f}x")
    print(f"  share of the exact step spent on the norms: {(exact - rest) / exact:.0%} "
          f"({exact - rest:.3f} s); power_iteration: {(power - rest) / power:.0%} ({power - rest:.3f} s)")
    gap = _largest_gap(_model(training_norms="power_iteration"), args.steps, 10, x)
    print(f"power-iteration estimate vs exact norm over {args.steps} training steps (every 10): "
          f"largest relative gap {gap:.1e}")


if __name__ == "__main__":
    main()
