"""The one trainer of the surrogates, and its loss.

Every surrogate in the toolkit — the ones evaluated by ``python -m
mink_toolkit reproduce surrogate`` and the ones used as super-resolution
losses — is trained by :func:`train_surrogate`.
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .._runtime import check_compile
from .._validation import check_integer
from ..datasets import exact_targets, random_crops, random_d4
from ..losses.surrogate import surrogate_loss
from .checkpoint import _build
from .conventional import ConventionalSurrogate
from .models import MinkowskiSurrogate, SurrogateBase

__all__ = ["TrainingResult", "predict_functionals", "train_surrogate", "train_surrogates"]


@dataclass
class TrainingResult:
    """What :func:`train_surrogate` did.

    Attributes
    ----------
    history : list of dict
        One entry per evaluation: ``step``, ``train_loss`` (mean since the
        previous evaluation), ``val_loss``.
    best_step : int
        Step of the best validation loss (its weights are kept).
    best_val_loss : float
    train_seconds : float
        Wall-clock time of the training loop (evaluations included).
    stopped_early : bool
    """

    history: list = field(default_factory=list)
    best_step: int = 0
    best_val_loss: float = float("inf")
    train_seconds: float = 0.0
    stopped_early: bool = False


def _device_of(model) -> torch.device:
    """Where the model's parameters live (the CPU for a model without any)."""
    return next(iter(model.parameters()), torch.empty(0)).device


def predict_functionals(model, rain: np.ndarray, batch_size: int = 8):
    """Functionals and β0 of (N, H, W) fields without gradients, in batches, on the model's device."""
    outs, comps = [], []
    device = _device_of(model)
    with torch.no_grad():
        for start in range(0, len(rain), batch_size):
            x = torch.as_tensor(np.ascontiguousarray(rain[start : start + batch_size]), dtype=torch.float32,
                                device=device)[:, None]
            f, b0 = model(x, return_components=True)
            outs.append(f)
            comps.append(b0)
    return torch.cat(outs), torch.cat(comps)


def train_surrogate(
    model: MinkowskiSurrogate | ConventionalSurrogate,
    train,
    val,
    *,
    steps: int = 1500,
    batch_size: int = 32,
    crop_size: int = 32,
    lr: float = 5e-3,
    eval_every: int = 100,
    patience: int = 5,
    val_patches: int = 48,
    components_weight: float = 0.5,
    weights=(1.0, 1.0, 1.0),
    seed: int = 0,
    progress=True,
    compile: bool = False,
) -> TrainingResult:
    """Train a surrogate on random crops with exact targets; early stopping on validation.

    Each step draws ``batch_size`` random ``crop_size`` crops of the training
    patches, applies a random D4 symmetry to each, computes their exact
    functionals and β0 (:func:`mink_toolkit.datasets.exact_targets`, cheap
    at this size) and takes an Adam step on :func:`surrogate_loss`. The model
    is additive, so what it learns on crops holds on full patches. With
    ``crop_size`` equal to the patch size (what a :class:`ConventionalSurrogate`
    needs: it is tied to one field size) whole patches are drawn and their
    cached targets used, which the D4 symmetry leaves unchanged. Every
    ``eval_every`` steps the loss on ``val_patches`` full validation patches
    (fixed, cached targets) is computed; the best weights are kept and
    training stops after ``patience`` evaluations without improvement. The
    learning rate follows a cosine schedule.

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
        Trained in place (its best weights are loaded at the end).
    train, val : mink_toolkit.datasets.PatchSet
        Thresholds, connectivity and perimeter estimator must match the model's.
    steps, batch_size, crop_size, lr, eval_every, patience, val_patches : int/float
    components_weight : float
        Weight of the β0 term of :func:`surrogate_loss`.
    weights : 3 floats
        Weights of area, perimeter and χ in :func:`surrogate_loss`.
    seed : int
        Seeds torch and the crop sampler.
    progress : bool or tqdm bar
        ``True``: a tqdm bar over the steps; a tqdm instance (``tqdm.auto``):
        advanced by one per step, with the losses as its postfix, so that one
        bar can follow several trainings; ``False``: silent.
    compile : bool
        Run the training step's forward pass compiled (see
        :meth:`~mink_toolkit.surrogate.models.SurrogateBase.forward`): the
        first step pays the compilation (cached in the toolkit's cache
        folder for the next run), the evaluations stay eager. The trained
        weights agree with an eager run's only to the seed spread, not bit
        for bit (floating-point sums are reordered).

    The batches are put on the device of the model's parameters (move the
    model with ``model.to(device)`` first).

    Returns
    -------
    TrainingResult
    """
    from tqdm.auto import tqdm

    check_compile(compile)
    for name, data in (("train", train), ("val", val)):
        have = np.asarray(data.thresholds, dtype=np.float64)
        if have.shape != model.thresholds.shape or not np.allclose(have, model.thresholds):
            raise ValueError(f"{name} thresholds {np.asarray(data.thresholds).tolist()} differ from the model's")
        for key in ("connectivity", "perimeter"):
            # Patch sets record the estimators of their targets; one that differs would teach the wrong ones.
            if key in data.settings and data.settings[key] != getattr(model, key):
                raise ValueError(
                    f"{name} targets were computed with {key}={data.settings[key]!r} but the model has "
                    f"{key}={getattr(model, key)!r}; load the patches with the model's estimators"
                )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    thresholds = model.thresholds
    val_index = np.sort(np.random.default_rng(seed + 1).permutation(len(val))[: min(val_patches, len(val))])
    val_rain = val.rain[val_index]
    device = _device_of(model)
    val_target = torch.as_tensor(val.functionals[val_index], device=device)
    val_comp = torch.as_tensor(val.components[val_index], device=device)

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    result = TrainingResult()
    best_state = copy.deepcopy(model.state_dict())
    running, count, bad_evals = 0.0, 0, 0
    start = time.perf_counter()
    own_bar = isinstance(progress, bool)
    bar = tqdm(total=steps, desc="train surrogate", disable=not progress, leave=False) if own_bar else progress
    whole_patches = tuple(train.rain.shape[-2:]) == (crop_size, crop_size)
    for step in range(1, steps + 1):
        if whole_patches:
            pick = rng.integers(0, len(train), size=batch_size)
            crops = random_d4(train.rain[pick], rng)
            target, comps = train.functionals[pick], train.components[pick]
        else:
            crops = random_d4(random_crops(train.rain, crop_size, batch_size, rng), rng)
            target, comps = exact_targets(crops, thresholds, connectivity=model.connectivity,
                                          perimeter=model.perimeter)
        x = torch.as_tensor(np.ascontiguousarray(crops), dtype=torch.float32, device=device)[:, None]
        # The eager step calls the module (its hooks run); the compiled one its checked, compiled forward.
        pred, pred_comps = model._forward(x, True, True) if compile else model(x, return_components=True)
        loss = surrogate_loss(pred, torch.as_tensor(target, device=device), pred_comps,
                              torch.as_tensor(comps, device=device), thresholds,
                              components_weight=components_weight, weights=weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        running += float(loss.detach())
        count += 1
        bar.update()
        if step % eval_every == 0 or step == steps:
            model.eval()
            vp, vc = predict_functionals(model, val_rain)
            val_loss = float(surrogate_loss(vp, val_target, vc, val_comp, thresholds,
                                            components_weight=components_weight, weights=weights))
            model.train()
            result.history.append({"step": step, "train_loss": running / count, "val_loss": val_loss})
            bar.set_postfix(train=f"{running / count:.3f}", val=f"{val_loss:.3f}")
            running, count = 0.0, 0
            if val_loss < result.best_val_loss:
                result.best_val_loss, result.best_step = val_loss, step
                best_state = copy.deepcopy(model.state_dict())
                bad_evals = 0
            else:
                bad_evals += 1
                if bad_evals >= patience:
                    result.stopped_early = True
                    break
    if own_bar:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    result.train_seconds = time.perf_counter() - start
    return result


def _train_job(job: dict, bar=None) -> dict:
    """One (model, seed) of :func:`train_surrogates`, in this process or a worker: build, seed, train."""
    from ..parallel import SharedEpochCount, worker_context

    context = worker_context()
    if bar is None and context.get("epochs_done") is not None:
        bar = SharedEpochCount(context["epochs_done"])
    torch.manual_seed(job["seed"])  # the initial weights, as a user's torch.manual_seed before the constructor
    model = _build(dict(job["config"]))
    result = train_surrogate(model, context["train"], context["val"], seed=job["seed"],
                             progress=bar if bar is not None else False, **context["settings"])
    out = {"state": model.state_dict(), "result": result}
    if isinstance(bar, SharedEpochCount):
        out["epochs_counted"] = bar.n
    return out


def train_surrogates(models: dict, train, val, *, seeds=(0,), workers: int = 1, progress=True,
                     desc: str = "training surrogates (steps)", **settings) -> tuple[dict, dict]:
    """Train several surrogates over several seeds, optionally in worker processes; one progress bar.

    Each untrained model of ``models`` serves as a template: for every seed
    a fresh model of the same configuration (:meth:`config`) is built after
    ``torch.manual_seed(seed)`` and trained by :func:`train_surrogate` with
    ``seed=seed`` and ``settings``. With ``workers > 1`` the (model, seed)
    runs are spread over that many spawned processes with one torch thread
    each (:class:`~mink_toolkit.parallel.JobRunner`; on a few cores more
    throughput than one process with several threads). Every run seeds
    itself, so the results do not depend on ``workers``.

    Parameters
    ----------
    models : dict of str to MinkowskiSurrogate or ConventionalSurrogate
        Templates by name (their weights are not used).
    train, val : mink_toolkit.datasets.PatchSet
    seeds : sequence of int
    workers : int
        Processes (1: train here, in turn).
    progress : bool
        One tqdm bar over the steps of all runs (a run that stops early moves
        it by the steps it skipped).
    desc : str
        The bar's label.
    **settings
        :func:`train_surrogate`'s keywords (``steps``, ``batch_size``, ...;
        not ``seed``, ``progress``).

    Returns
    -------
    trained : dict
        ``{(name, seed): model}``, trained, in eval mode, on the CPU.
    results : dict
        ``{(name, seed): TrainingResult}``.
    """
    from ..parallel import JobRunner

    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict {name: untrained surrogate}")
    for name, model in models.items():
        if not isinstance(model, SurrogateBase):
            raise TypeError(f"models[{name!r}] must be a surrogate (MinkowskiSurrogate, ConfigurationSurrogate or "
                            "ConventionalSurrogate); "
                            f"got {type(model).__name__}")
    seeds = tuple(check_integer(seed, "seeds") for seed in seeds)
    if not seeds:
        raise TypeError("seeds must be a non-empty sequence of ints; got an empty one")
    workers = check_integer(workers, "workers", minimum=1)
    for key in ("seed", "progress", "compile"):
        if key in settings:
            raise TypeError(f"train_surrogates sets {key!r} itself; do not pass it")
    steps = int(settings.get("steps", inspect.signature(train_surrogate).parameters["steps"].default))
    jobs = [{"id": (name, seed), "config": model.config(), "seed": seed}
            for seed in seeds for name, model in models.items()]
    context = {"train": train, "val": val, "settings": settings}
    threads = torch.get_num_threads()  # the runner sets one thread here too (its in-process jobs); restored below
    runner = JobRunner(_train_job, context, workers=workers, total=steps * len(jobs), desc=desc,
                       progress=bool(progress))
    try:
        outputs = runner.run(jobs, lambda job: steps)
    finally:
        runner.close()
        torch.set_num_threads(threads)
    trained, results = {}, {}
    for job in jobs:
        out = outputs[job["id"]]
        model = _build(dict(job["config"]))
        model.load_state_dict(out["state"])
        trained[job["id"]] = model.eval()
        results[job["id"]] = out["result"]
    return trained, results
