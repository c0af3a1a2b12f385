"""``python -m mink_toolkit reproduce superres [--quick] [--output DIR] [--workers N] [--no-compile] [--device D]``.

×8 super-resolution of OPERA rain rates (128 × 128 at 2 km from 16 × 16 at
16 km) with three splits by time and source (:func:`mink_toolkit.datasets.superres_split`):
train on 2018-08-24 Odyssey 18:00–21:45, **select on the validation hours**
22:00–23:45 of the same day (early stopping, architecture, λ, Lipschitz
cap, every sweep), and **test** on the 2024-11-26 NIMBUS rain-rate files
(other year, season and processing chain), touched only by the final runs.
Because the selection is part of the run, a later re-run (for example with
a changed surrogate) re-selects by itself.

Models
------
``nearest``, ``bicubic``
    upsampling baselines (deterministic; the seeds do not change them);
``bicubic_mass``
    bicubic rescaled to the coarse block means (:func:`~mink_toolkit.superres.conserve_mass`):
    exactly the untrained mass-conserving U-Net, reported so that the reader
    sees what the constraint gives and what training adds;
``unet_mse``
    :class:`~mink_toolkit.superres.ResidualUNet` with the log-space MSE
    (the deterministic baseline; architecture selected on validation);
``unet_minkowski``
    the same plus λ · analytic Minkowski loss (relaxed functionals, annealed T; λ
    selected on validation);
``unet_surrogate_lipschitz``
    the same plus λ · the same distance through the frozen constrained Lipschitz
    surrogate (its cap selected on validation);
``unet_surrogate_unconstrained``
    the same plus λ · the same through the plain CNN surrogate;
``generator``
    the U-Net with noise injected at every encoder level, trained with the
    fair CRPS over 2 draws per input (a proper scoring rule), evaluated
    with 8 members per test input;
``generator_minkowski``
    the same plus λ · analytic Minkowski loss on every member (λ selected on
    validation).

Selection rule (validation, ``sweep_seeds``): the architecture with the lowest
``MAE/MAE_bicubic + RMSE/RMSE_bicubic``; for a loss term, the setting with the
lowest MF error among those whose MAE and RMSE stay within ``tolerance``
(5 %) of the model without the term (for the generator: CRPS and
ensemble-mean MAE within 5 % of ``generator``'s), else the one with the
lowest MAE (CRPS).

Every network is trained with every seed; each seed's test metrics are kept
(``per_seed``, ``{metric: [value per seed]}``) next to mean and std, and the
differences the README's text relies on (``unet_mse`` against ``bicubic_mass``,
each loss term against ``unet_mse``) get paired 95 % bootstrap intervals over
the test patches, seed by seed (``differences``). A learning curve of
``unet_mse`` (its validation gain over ``bicubic_mass`` at 25, 50 and 100 % of
the training patches, at two widths) says whether more data of the same kind
would help (``learning_curve``). Training jobs run in ``workers``
processes (one thread each; results do not depend on the number of workers).
Their training steps, and those of the loss terms' surrogates, run compiled
(``compile=True`` of :class:`SuperresConfig`, the command's default) unless
``--no-compile``; validation and evaluation stay eager. ``--device`` (default
``cpu``) is where every network is trained and evaluated. The JSON records
``compile``, ``compile_backend`` (None when eager), ``device`` and the wall
time (``timing.seconds``).
Writes ``DIR/superres.json`` and ``DIR/superres.md``; ``--markdown JSON``
prints the tables of an existing JSON, and ``--readme README.md`` also
rewrites the README's results block from it.

Layout
------
:mod:`~mink_toolkit.experiments.superres.config` (:class:`SuperresConfig`,
:data:`FULL`, :data:`QUICK`, the model names),
:mod:`~mink_toolkit.experiments.superres.jobs` (one training and evaluation
per job, :func:`build_surrogate`, the runner over
:class:`~mink_toolkit.parallel.JobRunner`),
:mod:`~mink_toolkit.experiments.superres.selection` (the selection rule),
:mod:`~mink_toolkit.experiments.superres.protocol`
(:func:`run_superres_experiment`, step by step) and
:mod:`~mink_toolkit.experiments.superres.tables` (:func:`markdown_tables`).
The models, losses, scores and the process pool it uses live in the library
(:mod:`mink_toolkit.superres`, :mod:`mink_toolkit.losses`,
:mod:`mink_toolkit.verification`, :mod:`mink_toolkit.parallel`).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ..._validation import check_device
from ...reporting import replace_readme_block
from .config import BASELINES, DETERMINISTIC, FULL, GENERATORS, MODEL_NAMES, QUICK, SuperresConfig, planned_epochs
from .jobs import build_surrogate
from .protocol import run_superres_experiment
from .tables import markdown_tables

__all__ = ["SuperresConfig", "FULL", "QUICK", "MODEL_NAMES", "BASELINES", "DETERMINISTIC", "GENERATORS",
           "planned_epochs", "build_surrogate", "run_superres_experiment", "markdown_tables", "main"]


def main(argv: list[str]) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit reproduce superres",
        description="x8 super-resolution of OPERA rain rates: a U-Net trained with MSE against MSE plus "
                    "Minkowski losses, selected on validation hours and tested on another year.")
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (smoke test, < ~60 s)")
    parser.add_argument("--output", default="results", help="output folder (default: results/)")
    parser.add_argument("--workers", type=int, default=None, help="training processes (default: 2; quick: 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-compile", action="store_true",
                        help="train eagerly; by default the training steps (network, Minkowski or surrogate term) "
                             "are compiled with torch.compile (inductor, or $MINK_COMPILE_BACKEND; the first "
                             "compilation takes tens of seconds, its code is cached); evaluation is eager either way")
    parser.add_argument("--device", default="cpu",
                        help="torch device to train and evaluate on: cpu (default), cuda, cuda:1, ...")
    parser.add_argument("--markdown", metavar="JSON", help="only print the tables of an existing superres.json")
    parser.add_argument("--readme", metavar="README", help="with --markdown: rewrite the block '<!-- superres:begin -->' … '<!-- superres:end -->' of this file")
    args = parser.parse_args(argv)
    if args.readme and not args.markdown:
        parser.error("--readme needs --markdown JSON")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1; got {args.workers}")
    try:
        device = check_device(args.device, "--device")
    except ValueError as exc:
        parser.error(str(exc))
    if args.markdown:
        results = json.loads(Path(args.markdown).read_text())
        print(markdown_tables(results))
        if args.readme:
            replace_readme_block(args.readme, "superres", markdown_tables(results))
            print(f"{args.readme}: block 'superres' rewritten")
        return 0
    config = replace(QUICK if args.quick else FULL, compile=not args.no_compile, device=device)
    if args.workers is not None:
        config = replace(config, workers=args.workers)
    results = run_superres_experiment(config, output=args.output, progress=not args.no_progress)
    print(markdown_tables(results))
    return 0
