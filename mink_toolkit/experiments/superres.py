"""``python -m mink_toolkit reproduce superres [--quick] [--output DIR]``.

Deterministic ×8 super-resolution of OPERA rain rates (128 × 128 at 2 km
from 16 × 16 at 16 km), trained on the 2018-08-24 Odyssey files and tested
on the 2024-11-26 NIMBUS rain-rate files (other year, season and processing
chain). Models:

``nearest``, ``bicubic``
    upsampling baselines (deterministic; the seeds do not change them);
``unet_mse``
    :class:`~mink_toolkit.superres.ResidualUNet` with the log-space MSE;
``unet_minkowski``
    the same plus λ · analytic Minkowski loss (relaxed functionals, annealed T);
``unet_surrogate_lipschitz``
    the same plus λ · functional distance through the frozen constrained
    Lipschitz surrogate;
``unet_surrogate_unconstrained``
    the same plus λ · the same through the plain CNN surrogate (no Lipschitz
    bound, no geometric head).

Each network model is trained with every seed; the metrics of
:func:`mink_toolkit.metrics.superres_scores` are reported as mean and std
over seeds in ``DIR/superres.json`` and ``DIR/superres.md``. Then the
trade-off sweep: the surrogate's Lipschitz bound and the weight λ of the
analytic term, against high-wavenumber power, small-window FSS, functional
errors and training stability (step-loss variance, gradient norms, and the
high-wavenumber share of the term's gradient with respect to the output).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .. import metrics
from ..datasets import superres_patches
from ..functionals import DEFAULT_THRESHOLDS
from ..losses import MinkowskiLoss
from ..schedules import ExponentialSchedule, LambdaSchedule
from ..superres import (
    ResidualUNet,
    predict,
    train_superres,
    upsample,
)
from ..surrogate import SurrogateTerm
from .surrogate import trained_surrogate

__all__ = ["SuperresConfig", "FULL", "QUICK", "run_superres_experiment", "markdown_tables", "main"]

MODEL_NAMES = (
    "nearest",
    "bicubic",
    "unet_mse",
    "unet_minkowski",
    "unet_surrogate_lipschitz",
    "unet_surrogate_unconstrained",
)


@dataclass(frozen=True)
class SuperresConfig:
    """Settings of the experiment (all sizes in pixels, rates in mm/h)."""

    train_files: int = 12
    test_files: int = 5
    max_train_patches: int | None = 192
    max_test_patches: int | None = 96
    factor: int = 8
    epochs: int = 8
    batch_size: int = 16
    # Training crops of 48 px (6 × 6 coarse pixels): the surrogate term costs about 5× the
    # U-Net step per pixel, and 48 px keeps the full run within ~12 minutes on 2 cores.
    crop: int | None = 48
    width: int = 8
    depth: int = 2
    lr: float = 2e-3
    seeds: tuple = (0, 1, 2)
    lam_minkowski: float = 3e-3
    lam_surrogate: float = 3e-3
    warmup: int = 2
    start: int = 1
    relative_temperature: float = 0.1
    # trade-off sweep
    # Lipschitz caps of the surrogate's local map (MinkowskiSurrogate's local_lipschitz,
    # default 16; it caps the step slopes at 2L per unit of the surrogate's input z, whose
    # thresholds are 0.1 apart); None = no Lipschitz constraint (same constrained head).
    sweep_bounds: tuple = (1.0, 4.0, 16.0, None)
    sweep_lambdas: tuple = (1e-3, 1e-2, 1e-1)
    sweep_seeds: tuple = (0,)
    # Surrogates: trained by the one trainer with the protocol of ``reproduce surrogate``
    # (mink_toolkit.experiments.surrogate.trained_surrogate), its quick configuration if set.
    surrogate_quick: bool = False
    surrogate_seed: int = 0


#: Reference configuration (about 10 minutes on 2 shared cores).
FULL = SuperresConfig()
#: Smoke-test configuration (well under a minute): only data, epochs and sweep rows shrink;
#: still three seeds per model.
QUICK = replace(
    FULL,
    train_files=1,
    test_files=1,
    max_train_patches=24,
    max_test_patches=8,
    epochs=2,
    crop=32,
    warmup=1,
    start=0,
    sweep_bounds=(1.0, None),
    sweep_lambdas=(1e-2,),
    surrogate_quick=True,
)


# --------------------------------------------------------------------------
# Surrogates
# --------------------------------------------------------------------------


def build_surrogate(config: SuperresConfig, *, lipschitz, constrained: bool, progress: bool = False):
    """The frozen Minkowski surrogate of a loss term, from the one trainer.

    :func:`mink_toolkit.experiments.surrogate.trained_surrogate` trains it
    (or loads it from the user cache) exactly as ``reproduce surrogate``
    trains its models: :func:`~mink_toolkit.surrogate.train_surrogate` on the
    2018 Odyssey patches with early stopping on the last two hours, D4
    augmentation, and the loss integrated over log thresholds. The surrogate
    maps mm/h to the functionals at :data:`~mink_toolkit.DEFAULT_THRESHOLDS`
    and owns its input transform.

    Parameters
    ----------
    config : SuperresConfig
        ``surrogate_quick`` and ``surrogate_seed`` are used.
    lipschitz : bool or float
        ``False``: no Lipschitz constraint; ``True``: the certified network
        with its default cap; a float: that cap on the local map
        (``local_lipschitz`` of :class:`~mink_toolkit.MinkowskiSurrogate`).
    constrained : bool
        Geometric-constraint head.
    progress : bool

    Returns
    -------
    MinkowskiSurrogate in eval mode (:class:`~mink_toolkit.surrogate.SurrogateTerm` freezes it).
    """
    settings = {"lipschitz": lipschitz is not False, "constrained": constrained}
    if lipschitz is not True and lipschitz is not False:
        settings["local_lipschitz"] = float(lipschitz)
    return trained_surrogate(settings, quick=config.surrogate_quick, seed=config.surrogate_seed, progress=progress)


# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------


def _analytic_term(config: SuperresConfig) -> MinkowskiLoss:
    """The relaxed Minkowski loss with the paper's annealing: T = 0.1·u·max(0.05, exp(-3 e/E))."""
    return MinkowskiLoss(DEFAULT_THRESHOLDS, config.relative_temperature, relative=True, min_temperature=None,
                         schedule=ExponentialSchedule(config.epochs))


def _aggregate(runs: list) -> dict:
    """Nested dicts of floats (one per seed) -> same nesting of {"mean", "std"}."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: _aggregate([r[k] for r in runs]) for k in first}
    if isinstance(first, list):
        arr = np.asarray(runs, dtype=float)
        return {"mean": np.nanmean(arr, 0).tolist(), "std": np.nanstd(arr, 0).tolist()}
    arr = np.asarray(runs, dtype=float)
    if np.all(np.isnan(arr)):
        return {"mean": None, "std": None}
    return {"mean": float(np.nanmean(arr)), "std": float(np.nanstd(arr))}


def _train_one(config, train, term, lam, seed, progress, checkpoint=None):
    torch.manual_seed(seed)
    net = ResidualUNet(factor=config.factor, width=config.width, depth=config.depth)
    schedule = LambdaSchedule(final=float(lam), warmup=config.warmup, start=config.start)
    history = train_superres(
        net,
        train.coarse,
        train.fine,
        term=term,
        schedule=schedule,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        crop=config.crop,
        seed=seed,
        progress=progress,
        checkpoint=checkpoint,
    )
    return net, history


def _stability(history: dict) -> dict:
    """Training-stability summary: last half of the epochs, where λ is on."""
    half = max(1, len(history["loss"]) // 2)
    steps = np.asarray(history["step_loss"])
    norms = np.asarray(history["step_grad_norm"])
    n_last = max(1, len(steps) // 2)
    def on(key):  # epochs where the term was on (NaN while λ = 0)
        return [v for v in history.get(key, []) if v == v]

    share, term_g, mse_g = on("term_grad_high_share"), on("term_grad_norm"), on("mse_grad_norm")
    lam = [v for v, g in zip(history["lambda"], history.get("term_grad_norm", [])) if g == g]
    # How hard the term pushes relative to the MSE, where both enter: λ·|∂term/∂pred| / |∂MSE/∂pred|.
    steer = [l * t / m for l, t, m in zip(lam, term_g, mse_g) if m > 0]
    return {
        "final_loss": float(np.mean(history["loss"][-half:])),
        "step_loss_std": float(np.std(steps[-n_last:])),
        "grad_norm_mean": float(np.mean(norms[-n_last:])),
        "grad_norm_max": float(np.max(norms[-n_last:])),
        "term_grad_high_share": float(np.mean(share)) if share else None,
        "term_grad_norm": float(np.mean(term_g)) if term_g else None,
        "term_to_mse_grad": float(np.mean(steer)) if steer else None,
        "seconds": float(history["seconds"]),
    }


def _scores(pred, test, config):
    return metrics.superres_scores(pred, test.fine, factor=config.factor)


def run_superres_experiment(
    config: SuperresConfig = FULL,
    *,
    output: str | Path | None = None,
    progress: bool = True,
    sweep: bool = True,
    surrogates: dict | None = None,
    return_predictions: bool = False,
    log=print,
) -> dict:
    """Run the super-resolution comparison (and the trade-off sweep).

    Parameters
    ----------
    config : SuperresConfig
        :data:`FULL` or :data:`QUICK` (or your own).
    output : path, optional
        Folder for ``superres.json``, ``superres.md`` and checkpoints.
    progress : bool
        tqdm bars.
    sweep : bool
        Also run the Lipschitz-bound and λ sweep.
    surrogates : dict, optional
        Pre-trained surrogates keyed ``"lipschitz"`` and ``"unconstrained"``
        (and, for the sweep, ``("lipschitz", bound)``); missing ones are
        trained (cached in the user cache folder).
    return_predictions : bool
        Also return ``"predictions"``: ``{"coarse", "truth", name: ...}``
        arrays (N, H, W) in mm/h of the test patches, the networks' from
        their first seed, and ``"ensembles"``: ``{name: (n_seeds, N, H, W)}``
        of every network (not written to JSON; for plots and spreads).
    log : callable
        Where progress lines go.

    Returns
    -------
    dict
        ``{"config", "models": {name: {"seeds", "metrics", "training"}},
        "reference", "sweep", "seconds"}``; also written to
        ``output/superres.json`` when ``output`` is given.

    Examples
    --------
    A run takes tens of seconds even for :data:`QUICK`, so the example only
    shows the configurations (``run_superres_experiment(QUICK,
    output="results")`` runs it; see notebook 04):

    >>> from dataclasses import replace
    >>> QUICK.seeds, len(MODEL_NAMES)
    ((0, 1, 2), 6)
    >>> replace(QUICK, seeds=(0,)).epochs
    2
    """
    t0 = time.perf_counter()
    torch.set_num_threads(1)  # shared 2-core machines; results independent of core count
    surrogates = dict(surrogates or {})
    out_dir = Path(output) if output is not None else None
    log(f"loading data: {config.train_files} training files (2018 Odyssey), {config.test_files} test files (2024 NIMBUS)")
    train = superres_patches(
        "odyssey_rate", files=config.train_files, factor=config.factor, max_patches=config.max_train_patches, seed=0
    )
    test = superres_patches(
        "nimbus_rate", files=config.test_files, factor=config.factor, max_patches=config.max_test_patches, seed=1
    )
    log(f"  {len(train.fine)} training patches, {len(test.fine)} test patches")

    def surrogate(kind, bound=True):
        # kind "lipschitz": constrained head, Lipschitz cap `bound` (True = the default cap 16,
        # None = no Lipschitz constraint); kind "unconstrained": the plain CNN baseline
        # (no Lipschitz constraint, no geometric head).
        bound = True if bound == 16.0 else bound
        key = kind if kind == "unconstrained" or bound is True else (kind, bound)
        if key not in surrogates:
            if kind == "unconstrained":
                surrogates[key] = build_surrogate(config, lipschitz=False, constrained=False, progress=progress)
            else:
                surrogates[key] = build_surrogate(
                    config, lipschitz=False if bound is None else bound, constrained=True, progress=progress,
                )
        return surrogates[key]

    results: dict = {"config": asdict(config), "models": {}, "data": {
        "train_files": train.names, "test_files": test.names,
        "train_patches": int(len(train.fine)), "test_patches": int(len(test.fine)),
    }}
    truth_alignment = metrics.gradient_grid_alignment(test.fine)
    results["reference"] = {"truth_grid_alignment": truth_alignment}

    predictions = {"coarse": test.coarse.astype(np.float64), "truth": test.fine.astype(np.float64)}
    for name in ("nearest", "bicubic"):
        pred = upsample(test.coarse.astype(np.float64), config.factor, name)
        predictions[name] = pred
        scores = _scores(pred, test, config)
        results["models"][name] = {
            "seeds": list(config.seeds), "deterministic": True,
            "metrics": _aggregate([scores] * len(config.seeds)),
        }
        log(f"{name}: MAE {scores['mae']:.3f}")

    def term_for(name):
        if name == "unet_mse":
            return None, 0.0
        if name == "unet_minkowski":
            return _analytic_term(config), config.lam_minkowski
        kind = "lipschitz" if name == "unet_surrogate_lipschitz" else "unconstrained"
        return SurrogateTerm(surrogate(kind)), config.lam_surrogate

    done = {}  # (name, seed) -> (scores, stability), reused by the sweep
    ensembles: dict = {}  # name -> one prediction per seed
    for name in MODEL_NAMES[2:]:
        per_seed, training = [], []
        for seed in config.seeds:
            term, lam = term_for(name)
            ckpt = out_dir / "checkpoints" / f"{name}_seed{seed}.pt" if out_dir is not None else None
            net, history = _train_one(config, train, term, lam, seed, progress, ckpt)
            pred = predict(net, test.coarse)
            if name not in predictions:
                predictions[name] = pred
            ensembles.setdefault(name, []).append(pred)
            scores = _scores(pred, test, config)
            per_seed.append(scores)
            training.append(_stability(history))
            done[name, seed] = (scores, training[-1])
            log(f"{name} seed {seed}: MAE {scores['mae']:.3f}, FSS(1 mm/h, 1 px) {scores['fss']['u=1']['n=1']:.3f}, "
                f"high-k ratio {scores['rapsd_high_ratio']:.3f} ({history['seconds']:.1f} s)")
        results["models"][name] = {
            "seeds": list(config.seeds), "deterministic": False,
            "metrics": _aggregate(per_seed), "training": _aggregate(training),
        }

    if sweep:
        results["sweep"] = _sweep(config, train, test, surrogate, progress, log, done)
    results["seconds"] = time.perf_counter() - t0
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "superres.json").write_text(json.dumps(results, indent=1, default=_json_default))
        (out_dir / "superres.md").write_text(markdown_tables(results))
        log(f"wrote {out_dir / 'superres.json'} and {out_dir / 'superres.md'}")
    if return_predictions:
        results["predictions"] = predictions
        results["ensembles"] = {name: np.stack(preds) for name, preds in ensembles.items()}
    return results


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _sweep(config, train, test, surrogate, progress, log, done=None) -> dict:
    """Lipschitz-bound sweep (surrogate term) and λ sweep (analytic term).

    ``done`` maps (model name, seed) to the main runs' (scores, stability); a
    sweep point identical to a main run (default bound with the main λ, or the
    main λ of the analytic term) reuses it instead of training again.
    """
    rows_bound, rows_lambda = [], []
    done = done or {}

    def one(term, lam, same_as=None):
        per_seed, stab = [], []
        for seed in config.sweep_seeds:
            if same_as is not None and (same_as, seed) in done:
                scores, stability = done[same_as, seed]
                per_seed.append(scores)
                stab.append(stability)
                continue
            net, history = _train_one(config, train, term, lam, seed, progress)
            per_seed.append(_scores(predict(net, test.coarse), test, config))
            stab.append(_stability(history))
        s, t = _aggregate(per_seed), _aggregate(stab)
        return {
            "rapsd_high_ratio": s["rapsd_high_ratio"]["mean"],
            "fss_u1_n1": s["fss"]["u=1"]["n=1"]["mean"],
            "fss_u1_n3": s["fss"]["u=1"]["n=3"]["mean"],
            "fss_u5_n1": s["fss"]["u=5"]["n=1"]["mean"],
            "minkowski_error": s["minkowski_error"]["mean"]["mean"],
            "mae": s["mae"]["mean"],
            "max_ratio": s["max_ratio"]["mean"],
            "grid_alignment": s["grid_alignment"]["mean"],
            "step_loss_std": t["step_loss_std"]["mean"],
            "grad_norm_mean": t["grad_norm_mean"]["mean"],
            "grad_norm_max": t["grad_norm_max"]["mean"],
            "term_grad_high_share": t["term_grad_high_share"]["mean"],
            "term_grad_norm": t["term_grad_norm"]["mean"],
            "term_to_mse_grad": t["term_to_mse_grad"]["mean"],
        }

    for bound in config.sweep_bounds:
        same = "unet_surrogate_lipschitz" if bound == 16.0 else None
        row = {"lipschitz_bound": bound, "lambda": config.lam_surrogate,
               **one(SurrogateTerm(surrogate("lipschitz", bound)), config.lam_surrogate, same)}
        rows_bound.append(row)
        log(f"sweep bound {bound}: high-k {row['rapsd_high_ratio']:.3f}, FSS(1,1) {row['fss_u1_n1']:.3f}, "
            f"|∂term/∂pred| {_fmt(row['term_grad_norm'])}, λ·|∂term|/|∂MSE| {_fmt(row['term_to_mse_grad'])}")
    for lam in config.sweep_lambdas:
        term = _analytic_term(config)
        row = {"lambda": lam, **one(term, lam, "unet_minkowski" if lam == config.lam_minkowski else None)}
        rows_lambda.append(row)
        log(f"sweep λ {lam:g}: high-k {row['rapsd_high_ratio']:.3f}, FSS(1,1) {row['fss_u1_n1']:.3f}, "
            f"max ratio {row['max_ratio']:.2f}")
    return {"seeds": list(config.sweep_seeds), "lipschitz": rows_bound, "lambda": rows_lambda}


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def _pm(entry, digits=3) -> str:
    if entry is None or entry.get("mean") is None:
        return "–"
    return f"{entry['mean']:.{digits}f} ± {entry['std']:.{digits}f}"


def _pm_g(entry) -> str:
    """mean ± std with 3 significant digits (gradient norms span decades)."""
    if entry is None or entry.get("mean") is None:
        return "–"
    return f"{_fmt(entry['mean'])} ± {_fmt(entry['std'])}"


def _fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}g}" if abs(value) >= 1e3 or (value != 0 and abs(value) < 1e-3) else f"{value:.{digits}f}"


def markdown_tables(results: dict) -> str:
    """Markdown tables (mean ± std over seeds) of a :func:`run_superres_experiment` result."""
    lines = ["## Super-resolution ×{}: test on 2024 NIMBUS rain rate".format(results["config"]["factor"]), ""]
    header = ["model", "MAE", "RMSE", "FSS 1mm/h 1px", "FSS 1mm/h 9px", "FSS 5mm/h 1px", "FSS 5mm/h 9px",
              "CSI 1mm/h", "CSI 5mm/h", "high-k power ratio", "MF error", "W1 wet", "grid alignment", "max ratio"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in results["models"].items():
        m = entry["metrics"]
        cells = [name, _pm(m["mae"]), _pm(m["rmse"]), _pm(m["fss"]["u=1"]["n=1"]), _pm(m["fss"]["u=1"]["n=9"]),
                 _pm(m["fss"]["u=5"]["n=1"]), _pm(m["fss"]["u=5"]["n=9"]), _pm(m["csi"]["u=1"]), _pm(m["csi"]["u=5"]),
                 _pm(m["rapsd_high_ratio"]), _pm(m["minkowski_error"]["mean"]), _pm(m["wasserstein_wet"]),
                 _pm(m["grid_alignment"]), _pm(m["max_ratio"], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Truth's grid alignment: {results['reference']['truth_grid_alignment']:.3f}. "
              "MF error: mean |log1p difference| of exact area, perimeter and Euler characteristic over "
              "21 thresholds 0.1–10 mm/h. High-k power ratio: power above the coarse grid's Nyquist "
              "frequency relative to the truth (1 = truth, < 1 blur).", ""]
    trained = {name: e["training"] for name, e in results["models"].items() if "training" in e}
    if trained:
        lines += ["### Training (mean ± std over seeds; second half of training)", ""]
        keys = [("final_loss", "final loss"), ("step_loss_std", "step-loss std"), ("grad_norm_mean", "grad norm"),
                ("grad_norm_max", "grad norm max"), ("term_grad_norm", "|∂term/∂pred|"),
                ("term_to_mse_grad", "λ·|∂term/∂pred| / |∂MSE/∂pred|"),
                ("term_grad_high_share", "term-gradient high-k share"), ("seconds", "seconds")]
        lines += ["| model | " + " | ".join(k[1] for k in keys) + " |", "|" + "---|" * (len(keys) + 1)]
        for name, t in trained.items():
            cells = [_pm(t[k], 1) if k == "seconds" else _pm_g(t[k]) for k, _ in keys]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    sweep = results.get("sweep")
    if sweep:
        cols = ["rapsd_high_ratio", "fss_u1_n1", "fss_u1_n3", "fss_u5_n1", "minkowski_error", "mae", "max_ratio",
                "grid_alignment", "step_loss_std", "grad_norm_mean", "grad_norm_max", "term_grad_norm",
                "term_to_mse_grad", "term_grad_high_share"]
        for key, label in (("lipschitz", "lipschitz_bound"), ("lambda", "lambda")):
            lines += [f"### Sweep over {label} (seeds {sweep['seeds']})", ""]
            head = [label] + cols
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for row in sweep[key]:
                first = "unbounded" if row.get(label) is None else _fmt(row[label])
                lines.append("| " + " | ".join([first] + [_fmt(row[c]) for c in cols]) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m mink_toolkit reproduce superres", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (smoke test, < ~60 s)")
    parser.add_argument("--output", default="results", help="output folder (default: results/)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the Lipschitz-bound and λ sweep")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    results = run_superres_experiment(config, output=args.output, progress=not args.no_progress, sweep=not args.no_sweep)
    print(markdown_tables(results))
    return 0
