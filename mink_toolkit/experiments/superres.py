"""``python -m mink_toolkit reproduce superres [--quick] [--output DIR] [--workers N]``.

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
(``per_seed``) next to mean and std. Training jobs run in ``workers``
processes (one thread each; results do not depend on the number of workers).
Writes ``DIR/superres.json`` and ``DIR/superres.md``; ``--markdown JSON``
prints the tables of an existing JSON, and ``--readme README.md`` also
rewrites the README's results block from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .. import verification as metrics
from ..datasets import superres_split
from ..losses import MinkowskiLoss, SurrogateTerm
from ..schedules import ExponentialSchedule, LambdaSchedule
from ..thresholds import DEFAULT_THRESHOLDS
from ..superres import ResidualUNet, conserve_mass, predict, train_superres, upsample
from ..verification import gaming_verdicts, noise_floors
from ..surrogate import DEFAULT_LIPSCHITZ_CAP
from . import replace_readme_block
from .surrogate import trained_surrogate

__all__ = ["SuperresConfig", "FULL", "QUICK", "MODEL_NAMES", "build_surrogate", "run_superres_experiment",
           "markdown_tables", "main"]

BASELINES = ("nearest", "bicubic", "bicubic_mass")
DETERMINISTIC = ("unet_mse", "unet_minkowski", "unet_surrogate_lipschitz", "unet_surrogate_unconstrained")
GENERATORS = ("generator", "generator_minkowski")
MODEL_NAMES = BASELINES + DETERMINISTIC + GENERATORS

#: Reporting precision of OPERA rain rates (mm/h): the rank histogram compares members at it.
RAIN_PRECISION = 0.01



@dataclass(frozen=True)
class SuperresConfig:
    """Settings of the experiment (sizes in pixels, rates in mm/h)."""

    # data: files per split (None = all of the split) and patches
    train_files: int | None = None
    val_files: int | None = None
    test_files: int | None = None
    max_train_patches: int | None = None
    max_val_patches: int | None = 96
    max_test_patches: int | None = None
    early_stopping_patches: int = 32
    factor: int = 8
    # networks and training (crops of 48 px = 6 × 6 coarse pixels: as good on validation as 64 px, at 56 % of the cost)
    width: int = 16
    depth: int = 2
    epochs: int = 8
    batch_size: int = 16
    crop: int | None = 48
    lr: float = 2e-3
    loss: str = "log_mse"
    val_every: int = 2
    seeds: tuple = (0, 1, 2)
    warmup: int = 2
    start: int = 2
    relative_temperature: float = 0.1
    # generators: fair CRPS in mm/h over 2 draws per input, on the pixels and on 2 × 2 and 4 × 4 block means
    noise_channels: int = 4
    train_members: int = 2
    generator_batch_size: int = 8
    crps_scales: tuple = (1, 2, 4)
    crps_space: str = "linear"
    generator_epochs: int = 6
    ensemble_members: int = 16
    scored_members: int = 8
    # selection on validation
    architectures: tuple = (True, False)  # mass_conserving
    sweep_lambdas: tuple = (1e-3, 1e-2, 1e-1)
    # lipschitz_cap of the surrogate term's model (None: no cap)
    sweep_caps: tuple = (1.0, DEFAULT_LIPSCHITZ_CAP, None)
    generator_lambdas: tuple = (1e-2, 1e-1)
    sweep_seeds: tuple = (0,)
    tolerance: float = 0.05
    # the two surrogate-term models (and the Lipschitz-cap sweep); notebook 04 leaves them to notebook 03
    surrogate_models: bool = True
    # noise floors of the gaming diagnostics
    bootstrap_resamples: int = 200
    # Surrogates: trained by the one trainer with the protocol of ``reproduce surrogate``
    # (mink_toolkit.experiments.surrogate.trained_surrogate), its quick configuration if set.
    surrogate_quick: bool = False
    surrogate_seed: int = 0
    workers: int = 2


#: Reference configuration (about 30 minutes on 2 cores, see README).
FULL = SuperresConfig()
#: Smoke-test configuration: every model, three seeds and every selection step, on little data
#: and few epochs (well under a minute on 2 cores).
QUICK = replace(
    FULL,
    train_files=1,
    val_files=1,
    test_files=1,
    max_train_patches=16,
    max_val_patches=8,
    max_test_patches=8,
    early_stopping_patches=4,
    width=4,
    epochs=2,
    generator_epochs=2,
    batch_size=8,
    crop=32,
    val_every=1,
    warmup=1,
    start=0,
    generator_batch_size=4,
    ensemble_members=8,
    scored_members=2,
    sweep_lambdas=(1e-3, 1e-1),
    sweep_caps=(1.0, None),
    generator_lambdas=(1e-2,),
    bootstrap_resamples=50,
    surrogate_quick=True,
    workers=1,
)


# --------------------------------------------------------------------------
# Surrogates
# --------------------------------------------------------------------------


def build_surrogate(config: SuperresConfig, *, lipschitz_cap: float | None, constrained: bool,
                    progress: bool = False):
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
    lipschitz_cap : float or None
        The cap on the local map (``lipschitz_cap`` of
        :class:`~mink_toolkit.MinkowskiSurrogate`;
        :data:`~mink_toolkit.surrogate.DEFAULT_LIPSCHITZ_CAP` its default),
        None for no Lipschitz constraint.
    constrained : bool
        Geometric-constraint head.
    progress : bool

    Returns
    -------
    MinkowskiSurrogate in eval mode (:class:`~mink_toolkit.losses.SurrogateTerm` freezes it).
    """
    settings = {"lipschitz_cap": lipschitz_cap, "constrained": constrained}
    return trained_surrogate(settings, quick=config.surrogate_quick, seed=config.surrogate_seed, progress=progress)


def _surrogate_args(key):
    """``("lipschitz", cap)`` or ``("unconstrained", None)`` -> keyword arguments of build_surrogate."""
    kind, cap = key
    if kind == "unconstrained":
        return {"lipschitz_cap": None, "constrained": False}
    return {"lipschitz_cap": cap, "constrained": True}


# --------------------------------------------------------------------------
# Jobs: one training (and/or evaluation) each, in-process or in a worker process
# --------------------------------------------------------------------------

_CONTEXT: dict = {}


def _init_worker(context: dict, epochs_done=None) -> None:
    torch.set_num_threads(1)
    _CONTEXT.clear()
    _CONTEXT.update(context)
    _CONTEXT["epochs_done"] = epochs_done


class _SharedEpochCount:
    """What a worker hands ``train_superres`` as its bar: each epoch is added to an integer shared
    with the main process, which shows it, so the overall bar moves every epoch rather than once a
    training (a training of 10 epochs takes several seconds)."""

    def __init__(self, shared):
        self.shared, self.n = shared, 0

    def update(self, n: int = 1) -> None:
        self.n += n
        with self.shared.get_lock():
            self.shared.value += n

    def close(self) -> None:  # the main process owns the bar
        pass


def _analytic_term(config: SuperresConfig, epochs: int) -> MinkowskiLoss:
    """The relaxed Minkowski loss with the paper's annealing: T = 0.1·u·max(0.05, exp(-3 e/E)) over E epochs."""
    return MinkowskiLoss(DEFAULT_THRESHOLDS, config.relative_temperature, relative=True, min_temperature=None,
                         schedule=ExponentialSchedule(epochs))


def _build_network(config: SuperresConfig, job: dict) -> ResidualUNet:
    torch.manual_seed(job["seed"])
    return ResidualUNet(factor=config.factor, width=config.width, depth=config.depth,
                        mass_conserving=job["mass_conserving"],
                        noise_channels=config.noise_channels if job["name"] in GENERATORS else 0)


def _term_of(config: SuperresConfig, job: dict):
    if job["term"] is None:
        return None
    if job["term"] == "minkowski":
        return _analytic_term(config, config.generator_epochs if job["name"] in GENERATORS else config.epochs)
    return SurrogateTerm(job["surrogate"])


def _stability(history: dict) -> dict:
    """Training-stability summary: last half of the epochs, where λ is on."""
    half = max(1, len(history["loss"]) // 2)
    steps = np.asarray(history["step_loss"])
    norms = np.asarray(history["step_grad_norm"])
    n_last = max(1, len(steps) // 2)

    def on(key):  # epochs where the term was on (NaN while λ = 0)
        return [v for v in history.get(key, []) if v == v]

    share, term_g, data_g = on("term_grad_high_share"), on("term_grad_norm"), on("data_grad_norm")
    lam = [v for v, g in zip(history["lambda"], history.get("term_grad_norm", [])) if g == g]
    # How hard the term pushes relative to the data loss, where both enter: λ·|∂term/∂pred| / |∂data/∂pred|.
    steer = [l * t / m for l, t, m in zip(lam, term_g, data_g) if m > 0]
    return {
        "final_loss": float(np.mean(history["loss"][-half:])),
        "step_loss_std": float(np.std(steps[-n_last:])),
        "grad_norm_mean": float(np.mean(norms[-n_last:])),
        "grad_norm_max": float(np.max(norms[-n_last:])),
        "term_grad_high_share": float(np.mean(share)) if share else None,
        "term_grad_norm": float(np.mean(term_g)) if term_g else None,
        "term_to_data_grad": float(np.mean(steer)) if steer else None,
        "best_epoch": int(history["best_epoch"]),
        "seconds": float(history["seconds"]),
    }


def _scores(pred, fine, config) -> dict:
    return metrics.superres_scores(pred, fine, factor=config.factor)


def _mean_of(dicts: list):
    """Element-wise mean of nested dicts/lists of floats (e.g. scores of several ensemble members)."""
    first = dicts[0]
    if isinstance(first, dict):
        return {k: _mean_of([d[k] for d in dicts]) for k in first}
    if isinstance(first, list):
        return np.nanmean(np.asarray(dicts, dtype=float), 0).tolist()
    return float(np.nanmean(np.asarray(dicts, dtype=float)))


def evaluate_generator(ensemble: np.ndarray, fine: np.ndarray, config: SuperresConfig) -> tuple[dict, dict]:
    """Member-level scores (mean over members) and ensemble scores of a generator's ensemble.

    Parameters
    ----------
    ensemble : ndarray (M, N, H, W)
        M members for each of N inputs (mm/h).
    fine : ndarray (N, H, W)
        Truth (mm/h).
    config : SuperresConfig

    Returns
    -------
    member_scores : dict
        :func:`~mink_toolkit.verification.superres_scores` of each of the first
        ``config.scored_members`` members, averaged over them.
    ensemble_scores : dict
        ``crps`` (fair, mm/h), ``energy_score``, ``spread_skill``, ``mean_mae``,
        ``mean_rmse`` (of the ensemble mean), ``rank_histogram`` (M + 1
        frequencies, members rounded to :data:`RAIN_PRECISION` like the
        truth) and ``rank_histogram_raw`` (unrounded).
    """
    members = [_scores(m, fine, config) for m in ensemble[: config.scored_members]]
    mean = ensemble.mean(axis=0)
    return _mean_of(members), {
        "crps": metrics.crps_ensemble(ensemble, fine),
        "energy_score": metrics.energy_score(ensemble, fine),
        "spread_skill": metrics.spread_skill_ratio(ensemble, fine),
        "mean_mae": metrics.mae(mean, fine),
        "mean_rmse": metrics.rmse(mean, fine),
        # at OPERA's reporting precision (0.01 mm/h): sub-precision drizzle is "dry", as in the truth
        "rank_histogram": metrics.rank_histogram(ensemble, fine, precision=RAIN_PRECISION).tolist(),
        "rank_histogram_raw": metrics.rank_histogram(ensemble, fine).tolist(),
    }


def _evaluate(net: ResidualUNet, data, config: SuperresConfig, seed: int, keep: bool) -> dict:
    fine = data.fine.astype(np.float64)
    if net.stochastic:
        ensemble = predict(net, data.coarse, members=config.ensemble_members, seed=10_000 + seed)
        member_scores, ensemble_scores = evaluate_generator(ensemble, fine, config)
        out = {"scores": member_scores, "ensemble": ensemble_scores}
        if keep:
            out["prediction"] = ensemble.astype(np.float32)
        return out
    pred = predict(net, data.coarse)
    out = {"scores": _scores(pred, fine, config)}
    if keep:
        out["prediction"] = pred.astype(np.float32)
    return out


def _run_job(job: dict, bar=None) -> dict:
    """Train (unless ``job["state"]`` is given) and evaluate one network; returns plain data."""
    config, train, val = _CONTEXT["config"], _CONTEXT["train"], _CONTEXT["val"]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    net = _build_network(config, job)
    result = {"id": job["id"], "training": None, "epochs_counted": 0}
    if bar is None and _CONTEXT.get("epochs_done") is not None:
        bar = _SharedEpochCount(_CONTEXT["epochs_done"])
    if job.get("state") is None:
        generator = job["name"] in GENERATORS
        schedule = LambdaSchedule(final=float(job["lam"]), warmup=config.warmup, start=config.start)
        n_es = config.early_stopping_patches
        history = train_superres(
            net, train.coarse, train.fine, term=_term_of(config, job), schedule=schedule, loss=config.loss,
            epochs=config.generator_epochs if generator else config.epochs,
            batch_size=config.generator_batch_size if generator else config.batch_size,
            lr=config.lr, crop=config.crop, members=config.train_members, crps_scales=config.crps_scales,
            crps_space=config.crps_space,
            val=(val.coarse[:n_es], val.fine[:n_es]), val_every=config.val_every, seed=job["seed"],
            progress=bar if bar is not None else False,
        )
        result["training"] = _stability(history)
        if isinstance(bar, _SharedEpochCount):
            result["epochs_counted"] = bar.n
        result["state"] = {k: v.detach().clone() for k, v in net.state_dict().items()}
    else:
        net.load_state_dict(job["state"])
        net.eval()
    for split in job["evaluate"]:
        result[split] = _evaluate(net, _CONTEXT[split], config, job["seed"], keep=job.get("keep", False))
    result["cpu_seconds"] = time.process_time() - cpu0
    result["wall_seconds"] = time.perf_counter() - wall0
    return result


def _run_surrogate_job(config: SuperresConfig, key) -> tuple:
    torch.set_num_threads(1)
    cpu0 = time.process_time()
    build_surrogate(config, **_surrogate_args(key))  # trains into the user cache
    return key, time.process_time() - cpu0


def planned_epochs(config: SuperresConfig) -> int:
    """Epochs of all the trainings of a run (the length of its progress bar).

    Examples
    --------
    >>> planned_epochs(QUICK)  # 15 deterministic and 6 generator trainings of 2 epochs each
    42
    """
    sweep, seeds = set(config.sweep_seeds), set(config.seeds)
    n_sweep, n_reused = len(sweep), len(sweep & seeds)
    fresh = len(seeds) - n_reused  # final runs that are not sweep runs of the selected setting
    deterministic = (len(config.architectures) + len(config.sweep_lambdas)) * n_sweep + 2 * fresh
    if config.surrogate_models:
        deterministic += len(config.sweep_caps) * n_sweep + fresh + len(seeds)
    generators = (1 + len(config.generator_lambdas)) * n_sweep + 2 * fresh
    return deterministic * config.epochs + generators * config.generator_epochs


class _Runner:
    """Runs lists of jobs in-process (workers=1) or in a process pool; one overall progress bar."""

    def __init__(self, config, context, progress, log):
        from tqdm.auto import tqdm

        self.config, self.context, self.log = config, context, log
        self.pool = None
        self.cpu_seconds = 0.0
        self.jobs: dict = {}  # job id -> {"cpu_seconds", "wall_seconds"}
        _init_worker(context)
        self.epochs_done, self.epochs_shown, self.epochs_skipped = None, 0, 0
        if config.workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            spawn = mp.get_context("spawn")
            self.epochs_done = spawn.Value("q", 0)  # epochs trained in the workers, for the bar
            self.pool = ProcessPoolExecutor(max_workers=config.workers, mp_context=spawn,
                                            initializer=_init_worker, initargs=(context, self.epochs_done))
        self.bar = tqdm(total=planned_epochs(config), desc="reproduce superres (epochs of all trainings)",
                        disable=not progress, leave=True)

    def surrogates(self, keys, surrogates: dict) -> None:
        missing = [k for k in keys if k not in surrogates]
        if not missing:
            return
        self.bar.set_postfix_str("surrogates")
        if self.pool is not None:  # train them in parallel into the cache, then load here
            for key, cpu in self.pool.map(_run_surrogate_job, [self.config] * len(missing), missing):
                self.jobs[f"surrogate{list(key)}"] = {"cpu_seconds": cpu}
                self.cpu_seconds += cpu
        for key in missing:
            cpu0 = time.process_time()
            surrogates[key] = build_surrogate(self.config, **_surrogate_args(key))
            if self.pool is None:
                self.jobs[f"surrogate{list(key)}"] = {"cpu_seconds": time.process_time() - cpu0}
        self.bar.set_postfix_str("")

    def _epochs(self, job) -> int:
        return self.config.generator_epochs if job["name"] in GENERATORS else self.config.epochs

    def run(self, jobs: list) -> dict:
        results = {}
        if self.pool is None:
            for job in jobs:
                results[job["id"]] = _run_job(job, self.bar)
        else:
            from concurrent.futures import FIRST_COMPLETED, wait

            futures = {self.pool.submit(_run_job, job): job for job in jobs}
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    results[result["id"]] = result
                    if futures[future].get("state") is None:  # epochs planned but not trained (early stop)
                        self.epochs_skipped += self._epochs(futures[future]) - result["epochs_counted"]
                self._sync_bar()
        for job in jobs:
            r = results[job["id"]]
            if self.pool is not None:  # in-process jobs are counted in the main process's CPU time
                self.cpu_seconds += r["cpu_seconds"]
            # a final run that reuses a sweep run's weights can share its id: keep both records
            key = job["id"] if job.get("state") is None else f"{job['id']} (test of the reused weights)"
            self.jobs[key] = {"cpu_seconds": r["cpu_seconds"], "wall_seconds": r["wall_seconds"],
                              "epochs": self._epochs(job) if job.get("state") is None else 0}
            if "val" in r or "test" in r:
                s = (r.get("test") or r["val"])["scores"]
                self.log(f"  {job['id']}: MAE {s['mae']:.4f}, RMSE {s['rmse']:.4f}, MF error "
                         f"{s['minkowski_error']['mean']:.3f} ({r['wall_seconds']:.0f} s)")
        return results

    def _sync_bar(self) -> None:
        """Move the bar to the epochs the workers have trained (plus those a finished job skipped)."""
        position = self.epochs_done.value + self.epochs_skipped
        if position > self.epochs_shown:
            self.bar.update(position - self.epochs_shown)
            self.epochs_shown = position

    def close(self):
        self.bar.close()
        if self.pool is not None:
            self.pool.shutdown()


# --------------------------------------------------------------------------
# Selection on validation
# --------------------------------------------------------------------------


def _sweep_row(setting: dict, result: dict) -> dict:
    s = result["val"]["scores"]
    row = {
        **setting,
        "mae": s["mae"], "rmse": s["rmse"], "minkowski_error": s["minkowski_error"]["mean"],
        "spectral_error": s["spectral_error"], "rapsd_high_ratio": s["rapsd_high_ratio"],
        "fss_u1_n1": s["fss"]["u=1"]["n=1"], "fss_u5_n9": s["fss"]["u=5"]["n=9"],
        "max_ratio": s["max_ratio"], "grid_alignment": s["grid_alignment"],
    }
    if "ensemble" in result["val"]:
        e = result["val"]["ensemble"]
        row.update({"crps": e["crps"], "spread_skill": e["spread_skill"], "mean_mae": e["mean_mae"],
                    "mean_rmse": e["mean_rmse"]})
    t = result["training"]
    if t is not None:
        row.update({k: t[k] for k in ("step_loss_std", "grad_norm_mean", "grad_norm_max", "term_grad_norm",
                                      "term_to_data_grad", "term_grad_high_share", "best_epoch")})
    return row


def _select_term(rows: list, key: str, reference: dict, tolerance: float, *, generator: bool = False):
    """Lowest MF error among rows within ``tolerance`` of the reference (see the module docstring)."""
    if generator:
        keep = [r for r in rows if r["crps"] <= (1 + tolerance) * reference["crps"]
                and r["mean_mae"] <= (1 + tolerance) * reference["mean_mae"]]
        fallback = min(rows, key=lambda r: r["crps"])
    else:
        keep = [r for r in rows if r["mae"] <= (1 + tolerance) * reference["mae"]
                and r["rmse"] <= (1 + tolerance) * reference["rmse"]]
        fallback = min(rows, key=lambda r: r["mae"])
    chosen = min(keep, key=lambda r: r["minkowski_error"]) if keep else fallback
    for r in rows:
        r["within_tolerance"] = r in keep
        r["selected"] = r is chosen
    return chosen[key]


# --------------------------------------------------------------------------
# Aggregation, gaming diagnostics
# --------------------------------------------------------------------------


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


def _json_default(obj):
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# --------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------


def run_superres_experiment(
    config: SuperresConfig = FULL,
    *,
    output: str | Path | None = None,
    progress: bool = True,
    surrogates: dict | None = None,
    return_predictions: bool = False,
    log=print,
) -> dict:
    """Select on validation, then train every model with every seed and test.

    Parameters
    ----------
    config : SuperresConfig
        :data:`FULL` or :data:`QUICK` (or your own).
    output : path, optional
        Folder for ``superres.json`` and ``superres.md``.
    progress : bool
        One overall tqdm bar (in epochs of all trainings).
    surrogates : dict, optional
        Pre-built surrogates keyed ``("lipschitz", cap)`` (cap the
        surrogate's ``lipschitz_cap``, None no Lipschitz constraint) and
        ``("unconstrained", None)``; missing ones come from
        :func:`build_surrogate` (cached in the user cache folder).
    return_predictions : bool
        Also return ``"predictions"``: ``{"coarse", "truth", name: ...}``
        arrays (N, H, W) in mm/h of the test patches, the networks' from
        their first seed (a generator's: its first member), and
        ``"ensembles"``: ``{name: (n_seeds, N, H, W)}`` of every
        deterministic network and ``{name: (members, N, H, W)}`` of every
        generator's first seed (not written to JSON).
    log : callable
        Where progress lines go.

    Returns
    -------
    dict
        ``{"config", "data", "selection", "sweep", "models", "gaming",
        "reference", "timing"}``; also written to ``output/superres.json``.

    Examples
    --------
    A run takes tens of seconds even for :data:`QUICK`, so the example only
    shows the configurations (``run_superres_experiment(QUICK,
    output="results")`` runs it; see notebook 04):

    >>> QUICK.seeds, len(MODEL_NAMES)
    ((0, 1, 2), 9)
    """
    t0, cpu0 = time.perf_counter(), time.process_time()
    load_start = os.getloadavg()
    torch.set_num_threads(1)  # shared 2-core machines; results independent of core count
    surrogates = dict(surrogates or {})
    out_dir = Path(output) if output is not None else None
    log("loading data: train 2018 Odyssey 18:00-21:45, validation 22:00-23:45, test 2024 NIMBUS")
    kw = dict(factor=config.factor)
    train = superres_split("train", files=config.train_files, max_patches=config.max_train_patches, seed=0, **kw)
    val = superres_split("val", files=config.val_files, max_patches=config.max_val_patches, seed=1, **kw)
    test = superres_split("test", files=config.test_files, max_patches=config.max_test_patches, seed=2, **kw)
    log(f"  {len(train)} training, {len(val)} validation, {len(test)} test patches")
    results: dict = {
        "config": asdict(config),
        "data": {"train_files": train.names, "val_files": val.names, "test_files": test.names,
                 "train_patches": len(train), "val_patches": len(val), "test_patches": len(test)},
        "models": {},
    }
    runner = _Runner(config, {"config": config, "train": train, "val": val, "test": test}, progress, log)
    seeds, sweep_seeds = tuple(config.seeds), tuple(config.sweep_seeds)
    tol = config.tolerance
    try:
        # Baselines on validation (selection reference) and test (the table).
        baseline = {}
        for split, data in (("val", val), ("test", test)):
            c = data.coarse.astype(np.float64)
            bic = upsample(c, config.factor, "bicubic")
            # exactly the untrained mass-conserving network: conserve_mass(bicubic)
            fields = {"nearest": upsample(c, config.factor, "nearest"), "bicubic": bic,
                      "bicubic_mass": conserve_mass(torch.from_numpy(bic)[:, None],
                                                    torch.from_numpy(c)[:, None], config.factor)[:, 0].numpy()}
            baseline[split] = {name: (field, _scores(field, data.fine, config)) for name, field in fields.items()}

        def job(name, seed, *, mass_conserving, term=None, lam=0.0, surrogate=None, evaluate=("val",),
                setting=None):
            tag = "".join(f"[{k}={v:g}]" if isinstance(v, float) else f"[{k}={v}]" for k, v in (setting or {}).items())
            return {"id": f"{name}{tag}/seed{seed}", "name": name, "seed": seed, "mass_conserving": mass_conserving,
                    "term": term, "lam": lam, "surrogate": surrogate, "evaluate": evaluate,
                    "setting": dict(setting or {}), "keep": return_predictions and "test" in evaluate}

        def rows_of(jobs, done, key):
            return _mean_rows([_sweep_row({**j["setting"], "seed": j["seed"]}, done[j["id"]]) for j in jobs], key)

        # 1. Architecture (mass-conserving output or not) of unet_mse; surrogates into the cache.
        log("selection 1/3 on validation: architecture of unet_mse")
        if config.surrogate_models:
            surrogate_keys = [("lipschitz", c) for c in config.sweep_caps] + [("unconstrained", None)]
            runner.surrogates(surrogate_keys, surrogates)
        arch_jobs = [job("unet_mse", s, mass_conserving=m, setting={"mass_conserving": m})
                     for m in config.architectures for s in sweep_seeds]
        arch = runner.run(arch_jobs)
        ref_val = baseline["val"]["bicubic"][1]
        arch_rows = rows_of(arch_jobs, arch, "mass_conserving")
        for row in arch_rows:
            row["score"] = row["mae"] / ref_val["mae"] + row["rmse"] / ref_val["rmse"]
        chosen = min(arch_rows, key=lambda r: r["score"])
        mc = bool(chosen["mass_conserving"])
        for r in arch_rows:
            r["selected"] = r is chosen
        log(f"  selected mass_conserving={mc}")

        # 2. λ of the analytic term and of the generator's term; the generator itself (reference).
        log("selection 2/3 on validation: λ of the Minkowski term (U-Net and generator)")
        lam_jobs = [job("unet_minkowski", s, mass_conserving=mc, term="minkowski", lam=lam, setting={"lambda": lam})
                    for lam in config.sweep_lambdas for s in sweep_seeds]
        gen_ref_jobs = [job("generator", s, mass_conserving=mc) for s in sweep_seeds]
        gen_lam_jobs = [job("generator_minkowski", s, mass_conserving=mc, term="minkowski", lam=lam,
                            setting={"lambda": lam}) for lam in config.generator_lambdas for s in sweep_seeds]
        stage2 = runner.run(lam_jobs + gen_ref_jobs + gen_lam_jobs)
        mse_ref = chosen
        lam_rows = rows_of(lam_jobs, stage2, "lambda")
        lam_minkowski = _select_term(lam_rows, "lambda", mse_ref, tol)
        lam_rows.insert(0, {**{k: v for k, v in chosen.items() if k not in ("mass_conserving", "score")},
                            "lambda": 0.0, "reference": "unet_mse", "selected": False})
        for j in gen_ref_jobs:
            j["setting"] = {"lambda": 0.0}
        gen_ref = rows_of(gen_ref_jobs, stage2, "lambda")[0]
        gen_rows = rows_of(gen_lam_jobs, stage2, "lambda")
        lam_generator = _select_term(gen_rows, "lambda", gen_ref, tol, generator=True)
        gen_rows.insert(0, {**gen_ref, "reference": "generator", "selected": False})
        log(f"  selected λ = {lam_minkowski:g} (U-Net), {lam_generator:g} (generator)")

        # 3. Lipschitz cap of the surrogate term at the selected λ; meanwhile the final runs that do not need it.
        lam_surrogate = lam_minkowski  # the surrogate emulates the same distance (same units)
        cap_jobs = []
        if config.surrogate_models:
            cap_jobs = [job("unet_surrogate_lipschitz", s, mass_conserving=mc, term="surrogate", lam=lam_surrogate,
                            surrogate=surrogates["lipschitz", c], setting={"lipschitz_cap": c})
                        for c in config.sweep_caps for s in sweep_seeds]
        settings = {
            "unet_mse": dict(term=None, lam=0.0),
            "unet_minkowski": dict(term="minkowski", lam=lam_minkowski),
            "unet_surrogate_unconstrained": dict(term="surrogate", lam=lam_surrogate,
                                                 surrogate=surrogates.get(("unconstrained", None))),
            "generator": dict(term=None, lam=0.0),
            "generator_minkowski": dict(term="minkowski", lam=lam_generator),
        }
        if not config.surrogate_models:
            del settings["unet_surrogate_unconstrained"]
        reuse = {  # (name, seed) -> id of the sweep run with exactly these settings
            **{("unet_mse", s): f"unet_mse[mass_conserving={mc}]/seed{s}" for s in sweep_seeds},
            **{("unet_minkowski", s): f"unet_minkowski[lambda={lam_minkowski:g}]/seed{s}" for s in sweep_seeds},
            **{("generator", s): f"generator/seed{s}" for s in sweep_seeds},
            **{("generator_minkowski", s): f"generator_minkowski[lambda={lam_generator:g}]/seed{s}"
               for s in sweep_seeds},
        }
        done = {**arch, **stage2}

        def final_jobs_of(names):
            jobs = []
            for name in names:
                for s in seeds:
                    j = job(name, s, mass_conserving=mc, evaluate=("test",), **settings[name])
                    if (name, s) in reuse and reuse[name, s] in done:
                        j["state"] = done[reuse[name, s]]["state"]
                        j["reused_training"] = done[reuse[name, s]]["training"]
                    jobs.append(j)
            return jobs

        log("selection 3/3 on validation: Lipschitz cap of the surrogate term; meanwhile the final runs on test "
            "that do not depend on it")
        final_jobs = final_jobs_of(list(settings))
        stage3 = runner.run(cap_jobs + final_jobs)
        final = {j["id"]: stage3[j["id"]] for j in final_jobs}
        cap, cap_rows = None, []
        if config.surrogate_models:
            cap_rows = rows_of(cap_jobs, stage3, "lipschitz_cap")
            cap = _select_term(cap_rows, "lipschitz_cap", mse_ref, tol)
            log(f"  selected Lipschitz cap {cap}")
            # 4. The capped surrogate model's final runs.
            log("final runs on test: unet_surrogate_lipschitz")
            settings["unet_surrogate_lipschitz"] = dict(term="surrogate", lam=lam_surrogate,
                                                        surrogate=surrogates["lipschitz", cap])
            for s in sweep_seeds:
                reuse["unet_surrogate_lipschitz", s] = job("unet_surrogate_lipschitz", s, mass_conserving=mc,
                                                           setting={"lipschitz_cap": cap})["id"]
            done.update({j["id"]: stage3[j["id"]] for j in cap_jobs})
            lipschitz_jobs = final_jobs_of(["unet_surrogate_lipschitz"])
            final.update(runner.run(lipschitz_jobs))
            final_jobs += lipschitz_jobs
            settings = {name: settings[name] for name in DETERMINISTIC + GENERATORS}

        results["selection"] = {
            "split": "validation",
            "rule": ("architecture: lowest MAE/MAE_bicubic + RMSE/RMSE_bicubic; loss-term settings: lowest MF "
                     f"error among settings within {tol:.0%} of the model without the term on MAE and RMSE "
                     "(generator: CRPS and ensemble-mean MAE), else the lowest MAE (CRPS); mean over "
                     f"seeds {list(sweep_seeds)}"),
            "mass_conserving": mc,
            "lambda_minkowski": lam_minkowski,
            "lambda_surrogate": lam_surrogate if config.surrogate_models else None,
            "lipschitz_cap": cap,
            "lambda_generator": lam_generator,
            "early_stopping": (f"best of every {config.val_every} epochs (once λ is at its final value) by the "
                               f"training objective on {config.early_stopping_patches} validation patches"),
        }
        results["sweep"] = {"split": "validation", "seeds": list(sweep_seeds), "architecture": arch_rows,
                            "lambda": lam_rows, "lipschitz": cap_rows, "generator_lambda": gen_rows}

    finally:
        runner.close()

    # Tables: baselines, then networks (mean, std and per seed).
    predictions = {"coarse": test.coarse.astype(np.float64), "truth": test.fine.astype(np.float64)}
    ensembles = {}
    for name in BASELINES:
        field, scores = baseline["test"][name]
        predictions[name] = field
        agg = _aggregate([scores] * len(seeds))
        results["models"][name] = {"seeds": list(seeds), "deterministic": True,
                                   "metrics": {**agg, "per_seed": [scores] * len(seeds)}}
    for name, kwargs in settings.items():
        runs = [j for j in final_jobs if j["name"] == name]
        per_seed = [final[j["id"]]["test"]["scores"] for j in runs]
        training = [j.get("reused_training") or final[j["id"]]["training"] for j in runs]
        entry = {"seeds": list(seeds), "deterministic": False, "stochastic": name in GENERATORS,
                 "settings": {"mass_conserving": mc, "lambda": kwargs["lam"],
                              **({"lipschitz_cap": cap} if name == "unet_surrogate_lipschitz" else {})},
                 "metrics": {**_aggregate(per_seed), "per_seed": per_seed},
                 "training": _aggregate(training)}
        if name in GENERATORS:
            ens = [final[j["id"]]["test"]["ensemble"] for j in runs]
            entry["ensemble"] = {**_aggregate([{k: v for k, v in e.items() if not k.startswith("rank_histogram")}
                                               for e in ens]),
                                 "rank_histogram": np.mean([e["rank_histogram"] for e in ens], 0).tolist(),
                                 "rank_histogram_raw": np.mean([e["rank_histogram_raw"] for e in ens], 0).tolist(),
                                 "members": config.ensemble_members, "per_seed": ens}
            entry["metrics"]["level"] = "member"
        results["models"][name] = entry
        if return_predictions:
            preds = [final[j["id"]]["test"]["prediction"].astype(np.float64) for j in runs]
            if name in GENERATORS:
                predictions[name] = preds[0][0]
                ensembles[name] = preds[0]
            else:
                predictions[name] = preds[0]
                ensembles[name] = np.stack(preds)

    truth = test.fine.astype(np.float64)
    floors = noise_floors(truth, baseline["test"]["bicubic"][0], n_resamples=config.bootstrap_resamples)
    results["gaming"] = {"floors": floors, "models": gaming_verdicts(results["models"], floors, baselines=BASELINES),
                         "rule": "a diagnostic flags gaming only when it exceeds its floor in more than half "
                                 "of the seeds; floor = the larger upper end of the 95 % bootstrap intervals "
                                 "(over test patches) of the truth and of bicubic"}
    results["reference"] = {"truth_grid_alignment": metrics.gradient_grid_alignment(truth)}
    results["timing"] = {
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": runner.cpu_seconds + time.process_time() - cpu0,
        "workers": config.workers,
        "jobs": runner.jobs,
        "load_average_start": list(load_start),
        "load_average_end": list(os.getloadavg()),
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "superres.json").write_text(json.dumps(results, indent=1, default=_json_default))
        (out_dir / "superres.md").write_text(markdown_tables(results))
        log(f"wrote {out_dir / 'superres.json'} and {out_dir / 'superres.md'}")
    if return_predictions:
        results["predictions"] = predictions
        results["ensembles"] = ensembles
    return results


def _mean_rows(rows: list, key: str) -> list:
    """Sweep rows of several seeds -> one row per setting (mean of the numbers over seeds)."""
    out = []
    for value in dict.fromkeys(r[key] for r in rows):
        group = [r for r in rows if r[key] == value]
        merged = {key: value, "seeds": [r["seed"] for r in group]}
        for k in group[0]:
            if k in (key, "seed"):
                continue
            vals = [r[k] for r in group]
            merged[k] = (float(np.mean(vals)) if all(isinstance(v, (int, float)) and v is not None for v in vals)
                         else vals[0])
        out.append(merged)
    return out


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def _pm(entry, digits=3) -> str:
    if entry is None or entry.get("mean") is None:
        return "–"
    return f"{entry['mean']:.{digits}f} ± {entry['std']:.{digits}f}"


def _fmt(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g}" if abs(value) >= 1e3 or (value != 0 and abs(value) < 1e-3) else f"{value:.{digits}f}"


def _renamed_cap(results: dict) -> dict:
    """Results written when the cap was called ``lipschitz_bound``, with the key ``lipschitz_cap``."""
    def renamed(entry):
        return {("lipschitz_cap" if k == "lipschitz_bound" else k): v for k, v in entry.items()}

    results = dict(results)
    if results.get("selection"):
        results["selection"] = renamed(results["selection"])
    if results.get("sweep"):
        results["sweep"] = {**results["sweep"], "lipschitz": [renamed(r) for r in results["sweep"].get("lipschitz") or []]}
    return results


def markdown_tables(results: dict) -> str:
    """Markdown tables of a :func:`run_superres_experiment` result (mean ± std over seeds)."""
    results = _renamed_cap(results)
    factor = results["config"]["factor"]
    data = results.get("data", {})
    lines = [f"#### Test: 2024 NIMBUS rain rate, ×{factor} ({data.get('test_patches', '?')} patches; "
             f"mean ± std over seeds {results['config']['seeds']})", ""]
    header = ["model", "MAE", "RMSE", "CRPS", "FSS 1mm/h 1px", "FSS 5mm/h 9px", "high-k ratio", "spectral error",
              "MF error", "W1 wet", "grid align", "max ratio"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in results["models"].items():
        m = entry["metrics"]
        ens = entry.get("ensemble")
        crps = _pm(ens["crps"]) if ens else _pm(m["mae"])
        label = f"{name} (members)" if ens else name
        cells = [label, _pm(m["mae"]), _pm(m["rmse"]), crps, _pm(m["fss"]["u=1"]["n=1"]),
                 _pm(m["fss"]["u=5"]["n=9"]), _pm(m["rapsd_high_ratio"]), _pm(m["spectral_error"]),
                 _pm(m["minkowski_error"]["mean"]), _pm(m["wasserstein_wet"]), _pm(m["grid_alignment"]),
                 _pm(m["max_ratio"], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "CRPS (mm/h): fair ensemble CRPS for the generators, the MAE for deterministic models. "
              "Generator rows are member-level (each member scored as a prediction, then averaged over members). "
              "High-k ratio: power above the coarse grid's Nyquist frequency relative to the truth (1 = truth); "
              "spectral error: mean |ln(P_pred/P_true)| over those wavenumbers (0 = truth); MF error: exact "
              "functionals' log1p error averaged over log u (0.1–10 mm/h).", ""]
    gens = {n: e for n, e in results["models"].items() if e.get("ensemble")}
    if gens:
        lines += [f"#### Ensembles ({next(iter(gens.values()))['ensemble']['members']} members per test input)", ""]
        head = ["model", "CRPS", "energy score", "spread/skill", "ensemble-mean MAE", "ensemble-mean RMSE",
                "rank histogram"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, e in gens.items():
            ens = e["ensemble"]
            hist = " ".join(f"{v:.3f}" for v in ens["rank_histogram"])
            lines.append(f"| {name} | {_pm(ens['crps'])} | {_pm(ens['energy_score'], 1)} | "
                         f"{_pm(ens['spread_skill'])} | {_pm(ens['mean_mae'])} | {_pm(ens['mean_rmse'])} | {hist} |")
        lines.append("")
    gaming = results.get("gaming")
    if gaming:
        f = gaming["floors"]
        lines += ["#### Gaming diagnostics per seed (test)", "",
                  f"Noise floors (upper end of the 95 % bootstrap interval over test patches): grid alignment "
                  f"{f['grid_alignment']['floor']:.3f} (truth {f['grid_alignment']['truth']['value']:.3f} "
                  f"[{f['grid_alignment']['truth']['low']:.3f}, {f['grid_alignment']['truth']['high']:.3f}], "
                  f"bicubic {f['grid_alignment']['bicubic']['value']:.3f} "
                  f"[{f['grid_alignment']['bicubic']['low']:.3f}, {f['grid_alignment']['bicubic']['high']:.3f}]); "
                  f"max ratio {f['max_ratio']['floor']:.3f} (truth 1 by definition, bicubic "
                  f"{f['max_ratio']['bicubic']['value']:.3f}). Gaming = above the floor in most seeds.", ""]
        lines += ["| model | grid alignment per seed | max ratio per seed | gaming |", "|---|---|---|---|"]
        for name, v in gaming["models"].items():
            def cells(diag):
                return ", ".join(f"{x:.3f}{'*' if e else ''}" for x, e in
                                 zip(v[diag]["per_seed"], v[diag]["exceeds_floor"]))
            lines.append(f"| {name} | {cells('grid_alignment')} | {cells('max_ratio')} | "
                         f"{'yes' if v['gaming'] else 'no'} |")
        lines += ["", "`*` = above the noise floor.", ""]
    selection, sweep = results.get("selection"), results.get("sweep")
    if selection and sweep:
        lines += [f"#### Selection on validation ({selection['split']}, seeds {sweep['seeds']})", "",
                  f"Selected: mass-conserving output {_fmt(selection['mass_conserving'])}; λ = "
                  f"{selection['lambda_minkowski']:g} (U-Net), {selection['lambda_generator']:g} (generator); "
                  + (f"Lipschitz cap {_fmt(selection['lipschitz_cap']) if selection['lipschitz_cap'] is not None else 'none'} "
                     f"(λ = {selection['lambda_surrogate']:g}). " if selection.get("lambda_surrogate") is not None else "")
                  + f"Rule: {selection['rule']}.", ""]
        cols = ["mae", "rmse", "minkowski_error", "spectral_error", "rapsd_high_ratio", "fss_u1_n1", "max_ratio",
                "grid_alignment", "step_loss_std", "grad_norm_max", "term_to_data_grad", "selected"]
        for key, label, extra in (("architecture", "mass_conserving", ["score"]), ("lambda", "lambda", []),
                                  ("lipschitz", "lipschitz_cap", []),
                                  ("generator_lambda", "lambda", ["crps", "spread_skill", "mean_mae"])):
            rows = sweep.get(key) or []
            if not rows:
                continue
            head = [label] + extra + cols
            lines += [f"Sweep `{key}` (validation):", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            for row in rows:
                first = "none" if row.get(label) is None else _fmt(row[label])
                lines.append("| " + " | ".join([first] + [_fmt(row.get(c)) for c in extra + cols]) + " |")
            lines.append("")
    timing = results.get("timing")
    if timing:
        lines += [f"Run time {timing['seconds'] / 60:.1f} min ({timing['workers']} worker processes, CPU time "
                  f"{timing['cpu_seconds'] / 60:.1f} min; load average {timing['load_average_start'][0]:.1f} at the "
                  f"start, {timing['load_average_end'][0]:.1f} at the end).", ""]
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--markdown", metavar="JSON", help="only print the tables of an existing superres.json")
    parser.add_argument("--readme", metavar="README", help="with --markdown: rewrite the block '<!-- superres:begin -->' … '<!-- superres:end -->' of this file")
    args = parser.parse_args(argv)
    if args.readme and not args.markdown:
        parser.error("--readme needs --markdown JSON")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be >= 1; got {args.workers}")
    if args.markdown:
        results = json.loads(Path(args.markdown).read_text())
        print(markdown_tables(results))
        if args.readme:
            replace_readme_block(args.readme, "superres", markdown_tables(results))
            print(f"{args.readme}: block 'superres' rewritten")
        return 0
    config = QUICK if args.quick else FULL
    if args.workers is not None:
        config = replace(config, workers=args.workers)
    results = run_superres_experiment(config, output=args.output, progress=not args.no_progress)
    print(markdown_tables(results))
    return 0
