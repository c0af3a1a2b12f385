"""The jobs of ``reproduce superres``: one training (and/or evaluation) each, in this process or in a worker.

A job is a plain dict (name, seed, settings, splits to evaluate); :func:`_run_job`
builds the network and the loss term it names, trains it with
:func:`~mink_toolkit.superres.train_superres` (unless it carries trained
weights) and scores it (:func:`~mink_toolkit.superres.evaluation.evaluate_network`).
:class:`_Runner` runs lists of them on a :class:`~mink_toolkit.parallel.JobRunner`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ... import verification as metrics
from ...losses import MinkowskiLoss, SurrogateTerm
from ...parallel import JobRunner, SharedEpochCount, worker_context
from ...schedules import ExponentialSchedule, LambdaSchedule
from ...superres import ResidualUNet, train_superres
from ...superres.evaluation import evaluate_network, training_summary
from ...thresholds import DEFAULT_THRESHOLDS
from ..surrogate import trained_surrogate
from .config import GENERATORS, SuperresConfig, planned_epochs

__all__ = ["build_surrogate", "per_patch_scores", "training_subset"]


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
        ``surrogate_quick``, ``surrogate_seed``, ``compile`` and ``device``
        (where it is trained) are used.
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
    MinkowskiSurrogate in eval mode, on the CPU (it travels to the worker processes with the jobs;
    each job moves it to ``config.device``; :class:`~mink_toolkit.losses.SurrogateTerm` freezes it).
    """
    settings = {"lipschitz_cap": lipschitz_cap, "constrained": constrained}
    return trained_surrogate(settings, quick=config.surrogate_quick, seed=config.surrogate_seed, progress=progress,
                             compile=config.compile, device=config.device).cpu()


def _surrogate_args(key):
    """``("lipschitz", cap)`` or ``("unconstrained", None)`` -> keyword arguments of build_surrogate."""
    kind, cap = key
    if kind == "unconstrained":
        return {"lipschitz_cap": None, "constrained": False}
    return {"lipschitz_cap": cap, "constrained": True}


def _analytic_term(config: SuperresConfig, epochs: int) -> MinkowskiLoss:
    """The relaxed Minkowski loss with the paper's annealing: T = 0.1·u·max(0.05, exp(-3 e/E)) over E epochs."""
    return MinkowskiLoss(DEFAULT_THRESHOLDS, config.relative_temperature, relative=True, min_temperature=None,
                         schedule=ExponentialSchedule(epochs))


def _build_network(config: SuperresConfig, job: dict) -> ResidualUNet:
    torch.manual_seed(job["seed"])
    return ResidualUNet(factor=config.factor, width=job.get("width") or config.width, depth=config.depth,
                        mass_conserving=job["mass_conserving"],
                        noise_channels=config.noise_channels if job["name"] in GENERATORS else 0)


def _term_of(config: SuperresConfig, job: dict):
    """The job's loss term on ``config.device`` (compiled or not is ``train_superres``'s ``compile``)."""
    if job["term"] is None:
        return None
    if job["term"] == "minkowski":
        return _analytic_term(config, config.generator_epochs if job["name"] in GENERATORS else config.epochs).to(
            config.device)
    return SurrogateTerm(job["surrogate"]).to(config.device)


def training_subset(n_patches: int, fraction: float) -> np.ndarray:
    """Indices of the first ``fraction`` of the training patches in one fixed random order (seed 0).

    The subsets of a learning curve are nested: the 25 % are part of the 50 %.

    Examples
    --------
    >>> a, b = training_subset(8, 0.25), training_subset(8, 0.5)
    >>> len(a), len(b), set(a) <= set(b), len(training_subset(8, 1.0))
    (2, 4, True, 8)
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
    order = np.random.default_rng(0).permutation(n_patches)
    return np.sort(order[: max(1, int(round(fraction * n_patches)))])


def _run_job(job: dict, bar=None) -> dict:
    """Train (unless ``job["state"]`` is given) and evaluate one network; returns plain data."""
    context = worker_context()
    config, train, val = context["config"], context["train"], context["val"]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    net = _build_network(config, job).to(config.device)  # initialised on the CPU: the same weights on any device
    result = {"id": job["id"], "training": None, "epochs_counted": 0}
    if bar is None and context.get("epochs_done") is not None:
        bar = SharedEpochCount(context["epochs_done"])
    if job.get("state") is None:
        generator = job["name"] in GENERATORS
        schedule = LambdaSchedule(final=float(job["lam"]), warmup=config.warmup, start=config.start)
        n_es = config.early_stopping_patches
        coarse, fine = train.coarse, train.fine
        if job.get("train_fraction", 1.0) < 1.0:  # a learning-curve point
            keep = training_subset(len(train), job["train_fraction"])
            coarse, fine = coarse[keep], fine[keep]
        history = train_superres(
            net, coarse, fine, term=_term_of(config, job), schedule=schedule, loss=config.loss,
            epochs=config.generator_epochs if generator else config.epochs,
            batch_size=config.generator_batch_size if generator else config.batch_size,
            lr=config.lr, crop=config.crop, members=config.train_members, crps_scales=config.crps_scales,
            crps_space=config.crps_space,
            val=(val.coarse[:n_es], val.fine[:n_es]), val_every=config.val_every, seed=job["seed"],
            progress=bar if bar is not None else False, compile=config.compile,
        )
        result["training"] = training_summary(history)
        if isinstance(bar, SharedEpochCount):
            result["epochs_counted"] = bar.n
        result["state"] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}  # CPU: back to the driver
    else:
        net.load_state_dict(job["state"])
        net.eval()
    # evaluation stays eager (net.forward; only train_superres's step is compiled), on config.device
    for split in job["evaluate"]:
        data = context[split]
        per_patch = split == "test" and not net.stochastic
        # a generator's test noise is seeded apart from its training noise
        result[split] = evaluate_network(net, data.coarse, data.fine, members=config.ensemble_members,
                                         scored_members=config.scored_members, seed=10_000 + job["seed"],
                                         keep=job.get("keep", False) or per_patch)
        if per_patch:
            result[split]["per_patch"] = per_patch_scores(result[split]["prediction"], data.fine)
            if not job.get("keep", False):
                del result[split]["prediction"]
    result["cpu_seconds"] = time.process_time() - cpu0
    result["wall_seconds"] = time.perf_counter() - wall0
    return result


def per_patch_scores(pred, fine) -> dict:
    """Scores of every test patch, for bootstrap intervals over patches (:func:`~mink_toolkit.experiments.superres.protocol`).

    ``abs_error`` and ``squared_error`` (patch means, mm/h and (mm/h)²: the
    test MAE is the mean of the first, the RMSE the root of the mean of the
    second), ``minkowski_error`` (the MF error of each patch,
    :func:`~mink_toolkit.verification.minkowski_error`; the test value is
    their mean) and ``max_ratio`` (max(pred)/max(truth) of each patch, NaN
    for a dry truth; the test value is their mean over wet patches).
    """
    pred, fine = np.asarray(pred, dtype=np.float64), np.asarray(fine, dtype=np.float64)
    diff = pred - fine
    truth_max = fine.max(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(truth_max > 0, pred.max(axis=(-2, -1)) / truth_max, np.nan)
    return {
        "abs_error": np.abs(diff).mean(axis=(-2, -1)),
        "squared_error": (diff**2).mean(axis=(-2, -1)),
        "minkowski_error": np.array([metrics.minkowski_error(p[None], t[None])["mean"] for p, t in zip(pred, fine)]),
        "max_ratio": ratio,
    }


def _run_surrogate_job(config: SuperresConfig, key) -> tuple:
    torch.set_num_threads(1)
    cpu0 = time.process_time()
    build_surrogate(config, **_surrogate_args(key))  # trains into the user cache
    return key, time.process_time() - cpu0



class _Runner:
    """The experiment's jobs on a :class:`~mink_toolkit.parallel.JobRunner`: surrogates first, then trainings;
    CPU time, wall time and epochs per job, and a log line per evaluated job."""

    def __init__(self, config, context, progress, log):
        self.config, self.log = config, log
        self.cpu_seconds = 0.0
        self.jobs: dict = {}  # job id -> {"cpu_seconds", "wall_seconds"}
        # The workers are ours: they reuse freed tensors rather than page-faulting them in anew, as the
        # surrogate driver's do (mink_toolkit._runtime documents the setting).
        self.runner = JobRunner(_run_job, context, workers=config.workers, total=planned_epochs(config),
                                desc="reproduce superres (epochs of all trainings)", progress=progress,
                                keep_freed=True)

    def surrogates(self, keys, surrogates: dict) -> None:
        missing = [k for k in keys if k not in surrogates]
        if not missing:
            return
        pool, bar = self.runner.pool, self.runner.bar
        bar.set_postfix_str("surrogates")
        if pool is not None:  # train them in parallel into the cache, then load here
            for key, cpu in pool.map(_run_surrogate_job, [self.config] * len(missing), missing):
                self.jobs[f"surrogate{list(key)}"] = {"cpu_seconds": cpu}
                self.cpu_seconds += cpu
        for key in missing:
            cpu0 = time.process_time()
            surrogates[key] = build_surrogate(self.config, **_surrogate_args(key))
            if pool is None:
                self.jobs[f"surrogate{list(key)}"] = {"cpu_seconds": time.process_time() - cpu0}
        bar.set_postfix_str("")

    def _epochs(self, job) -> int:
        return self.config.generator_epochs if job["name"] in GENERATORS else self.config.epochs

    def _planned(self, job) -> int:
        """Epochs the bar expects of a job: none for one that reuses trained weights."""
        return self._epochs(job) if job.get("state") is None else 0

    def run(self, jobs: list) -> dict:
        results = self.runner.run(jobs, self._planned)
        for job in jobs:
            r = results[job["id"]]
            if self.runner.pool is not None:  # in-process jobs are counted in the main process's CPU time
                self.cpu_seconds += r["cpu_seconds"]
            # a final run that reuses a sweep run's weights can share its id: keep both records
            key = job["id"] if job.get("state") is None else f"{job['id']} (test of the reused weights)"
            self.jobs[key] = {"cpu_seconds": r["cpu_seconds"], "wall_seconds": r["wall_seconds"],
                              "epochs": self._planned(job)}
            if "val" in r or "test" in r:
                s = (r.get("test") or r["val"])["scores"]
                self.log(f"  {job['id']}: MAE {s['mae']:.4f}, RMSE {s['rmse']:.4f}, MF error "
                         f"{s['minkowski_error']['mean']:.3f} ({r['wall_seconds']:.0f} s)")
        return results

    def close(self):
        self.runner.close()
