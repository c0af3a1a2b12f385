r"""``python -m mink_toolkit reproduce surrogate [--quick] [--output DIR] [--no-compile] [--device D]``: the ablation.

What does a surrogate of the Minkowski functionals learn, and what is built
in? Nine rows, each differing from its neighbour in one factor; the
trained ones by the one trainer (:func:`~mink_toolkit.surrogate.train_surrogate`),
all on the same split — train 2018-08-24 Odyssey 18:00–21:45, validate (early
stopping) on its last two hours, test on the 2024-11-26 NIMBUS rain rate
(other year, season and processing chain) — over the same seeds:

``no_input``
    no model: the per-threshold mean of the training patches' compressed
    functionals (:func:`~mink_toolkit.functionals.compress_functionals`),
    the same prediction for every test patch. The floor of every pooled
    score: the threshold curve alone, without looking at the field.
``estimator``
    the additive architecture at its exact initialisation, **untrained**:
    the seven order statistics of the exact estimator as fixed features and
    the head at the estimator's weights (:func:`~mink_toolkit.surrogate.models.exact_head`),
    soft steps of slope 20 per unit z. What the knowledge alone gives.
``additive``
    the same architecture, trained (Lipschitz caps, constrained head): a
    smoothed exact estimator that training adapts; reported with its gain
    over ``estimator``.
``additive_learnt``
    the additive architecture (2×2 local network with MaxMin activations,
    soft steps, global sum pooling, linear head) **without** the
    hand-computed order statistics and with a random head: the knowledge
    built in is additivity and locality; the local features are learnt.
``additive_configurations``
    additivity and locality as above, but the local features are the
    relaxation's: learnt soft steps per pixel combined by the product t-norm
    into soft counts of the 15 non-background 2×2 configurations
    (:class:`~mink_toolkit.surrogate.ConfigurationSurrogate`); a random
    linear head learns the combination (every 2×2-local estimator is one).
``conventional_unconstrained``
    a conventional CNN of the paper's kind (strided convolutions, global
    mean pooling, dense layers), no bound, no constrained head.
``conventional_plain``
    the same with the constrained head (still no bound).
``conventional_sn``
    the same with the published recipe's bound: ``torch.nn.utils.parametrizations.spectral_norm``
    on every convolution and dense layer (not a certificate).
``conventional_certified``
    the same with exact operator-norm caps (certified) instead.

Writes ``DIR/surrogate.json``: ``{"models": {name: M}}``, each ``M`` with
(functional keys ``area``, ``perimeter``, ``euler_characteristic``; scores in
the compressed space, pooled over test patches and thresholds; mean over
seeds unless stated)

* ``r2``, ``r2_std`` (over seeds), ``mae``, ``mae_std``: per functional;
* ``r2_per_threshold``: ``{functional: [R² per threshold]}``;
* ``skill``: ``{functional: 1 − MSE / MSE of no_input}`` (0 for ``no_input``);
* ``bootstrap``: ``{functional: [low, high]}``, the 95 % interval of the
  seed-mean pooled R² over test patches (1000 resamples of the patches,
  :func:`~mink_toolkit.verification.bootstrap_interval`);
* ``per_seed``: ``{metric: [value per seed]}`` with flat keys
  (``r2_area``, ``mae_perimeter``, ``skill_euler_characteristic``, ...,
  ``perimeter_on_lower_bound``, ``train_seconds``, ``best_step``,
  ``gradient_<measure>``: ``gradient_high_k_share``, ...,
  ``gradient_lipschitz_relative``, ``gradient_lipschitz``), in the order
  of ``seeds``;
* ``gradient``: ``{measure: {"mean", "std", "seeds"}}``, the
  :func:`~mink_toolkit.surrogate.gradient_smoothness` of the loss gradient
  (scale-free measures and the two scale-dependent ones; None for
  ``no_input``) over the ``seeds`` seeds where it is defined (a measure
  relative to the gradient's size is undefined, None in ``per_seed``,
  for a gradient that is 0 everywhere);
* ``perimeter_on_lower_bound``: share of the entries with a non-empty true
  set whose predicted perimeter sits on :math:`4\min(A, \sqrt A)` of the
  predicted area (the symptom of a clamped head);
* ``violations`` (continuous and ``_discrete`` conditions) split into
  ``empty_truth`` and ``nonempty_truth``;
* ``lipschitz_certified`` and ``lipschitz_attacked`` (seed 0; same units:
  final outputs in pixel units per unit of the normalised input z, ℓ2 over
  the field and all outputs; 0 for ``no_input``) and ``attack``;
* ``contains``, ``settings``, ``seeds``, ``parameters``, ``train_seconds``;

``DIR/surrogate.md`` (the tables, also printed by ``--markdown
DIR/surrogate.json``) and ``DIR/checkpoints/<name>_seed<k>.pt``. ``--quick``
uses one file per split and few steps (a smoke test).

The training steps run compiled (``train_surrogate(compile=True)``, the
backend :func:`~mink_toolkit._runtime.compile_backend`) unless
``--no-compile``; evaluation stays eager. ``--device`` (default ``cpu``)
is where the models are trained and evaluated. The JSON records
``compile``, ``compile_backend`` (None when eager), ``device`` and the
run's wall ``seconds``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from .._runtime import check_compile, compile_backend
from .._validation import check_device
from ..checkpoint import load_checkpoint_metadata
from ..datasets import load_patches
from ..functionals import FUNCTIONAL_NAMES, compress_functionals, expand_functionals
from ..io.registry import cache_dir
from ..parallel import spawn_pool
from ..reporting import replace_readme_block
from ..surrogate import (
    ARCHITECTURES,
    CONVENTIONAL_LIPSCHITZ_CAP,
    DEFAULT_LIPSCHITZ_CAP,
    SCALE_DEPENDENT_MEASURES,
    SCALE_FREE_MEASURES,
    attack_starts,
    empirical_lipschitz,
    geometric_violations,
    gradient_smoothness,
    lipschitz_upper_bound,
    load_surrogate,
    predict_functionals,
    save_surrogate,
    train_surrogate,
)
from ..thresholds import DEFAULT_THRESHOLDS
from ..verification import bootstrap_interval, r2_score

__all__ = [
    "MODELS",
    "NO_INPUT",
    "CONFIGS",
    "GRADIENT_MEASURES",
    "build_model",
    "trained_surrogate",
    "no_input_prediction",
    "evaluate_surrogate",
    "summarise_seeds",
    "markdown",
    "run",
    "main",
]

def _model(architecture: str | None, train: bool, contains: str, **settings) -> dict:
    """One row of the ablation: what the model contains, its architecture and its constructor settings."""
    return {"contains": contains, "architecture": architecture, "train": train, "settings": settings}


#: The row without a model: its prediction is computed from the training data (:func:`no_input_prediction`).
NO_INPUT = "no_input"

#: The ablation: a description of what each model contains, and its settings. Neighbouring rows differ
#: in one factor.
MODELS = {
    NO_INPUT: _model(
        None, False,
        "no model: the per-threshold mean of the training patches' compressed functionals (log1p A, "
        "log1p P, signed log1p χ), the same prediction for every test patch"),
    "estimator": _model(
        "additive", False,
        "additive architecture at the exact estimator's initialisation (7 order statistics as fixed "
        "features, head at the estimator's weights, learnt level features at random weights with head "
        "weights near 0), Lipschitz caps, constrained head; untrained",
        lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True),
    "additive": _model(
        "additive", True,
        "the same, trained: order statistics + learnt level features, Lipschitz caps, constrained head",
        lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True),
    "additive_learnt": _model(
        "additive", True,
        "the same without the order statistics and with a random head: every level feature learnt by the "
        "2×2 MaxMin local network (soft steps, sum pooling); Lipschitz caps, constrained head",
        lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True, use_order_statistics=False),
    "additive_configurations": _model(
        "configurations", True,
        "additivity and locality without an estimator: learnt soft steps per pixel combined by the product "
        "t-norm into soft counts of the 15 non-background 2×2 configurations (sum pooling, background "
        "contributes 0), a random linear head; step slope and head capped, constrained head",
        lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True),
    "conventional_unconstrained": _model(
        "conventional", True,
        "conventional CNN (strided convolutions, mean pooling, dense layers), no bound, no constrained head",
        lipschitz_cap=None, constrained=False),
    "conventional_plain": _model(
        "conventional", True,
        "the same with the constrained head; no bound",
        lipschitz_cap=None, constrained=True),
    # spectral_norm replaces the exact caps of the convolutions and dense layers; the head keeps its cap.
    "conventional_sn": _model(
        "conventional", True,
        "the same (constrained head) with torch spectral_norm on every convolution and dense layer and "
        "the head capped (the published recipe, not a certificate)",
        lipschitz_cap=CONVENTIONAL_LIPSCHITZ_CAP, spectral_norm=True, constrained=True),
    # Exact norms of the 128 x 128 convolutions are most of a training step; a warm-started power
    # iteration per frequency tracks them from below for a fraction of it
    # (benchmarks/bench_surrogate_norms.py). Validation, evaluation and the certificate use the exact norms.
    "conventional_certified": _model(
        "conventional", True,
        "the same (constrained head) with exact operator-norm caps instead (certified; estimated by power "
        "iteration in training steps)",
        lipschitz_cap=CONVENTIONAL_LIPSCHITZ_CAP, constrained=True, training_norms="power_iteration"),
}

#: Rough seconds per (model, seed) of the full run on one core (training and evaluation; upper ends of
#: what runs have measured); only used to start the longest runs first so that the worker processes
#: finish together. Results do not depend on the order.
EXPECTED_SECONDS = {NO_INPUT: 1, "estimator": 10, "additive": 90, "additive_learnt": 190,
                    "additive_configurations": 95, "conventional_unconstrained": 60, "conventional_plain": 60,
                    "conventional_sn": 60, "conventional_certified": 140}

#: Reference (full) and quick configurations. Per architecture (and per model where it differs):
#: the model's size and the trainer's settings.
CONFIGS = {
    "full": {
        "data": {"train": None, "val": None, "test": None},
        "seeds": (0, 1, 2),
        "model": {
            "additive": {"width": 16, "depth": 3, "levels": 4},
            "additive_learnt": {"width": 16, "depth": 3, "levels": 8},
            "configurations": {},
            "conventional": {"channels": (16, 32, 64, 64), "hidden": (128,)},
        },
        "train": {
            "additive": {"steps": 400, "batch_size": 32, "crop_size": 32, "lr": 5e-3, "eval_every": 50,
                         "patience": 3, "val_patches": 32},
            "additive_learnt": {"steps": 1200, "batch_size": 32, "crop_size": 32, "lr": 5e-3, "eval_every": 100,
                                "patience": 4, "val_patches": 32, "weights": (1.0, 1.0, 1.0)},
            # The same trainer settings as additive_learnt, its neighbour in the ablation.
            "configurations": {"steps": 1200, "batch_size": 32, "crop_size": 32, "lr": 5e-3, "eval_every": 100,
                               "patience": 4, "val_patches": 32},
            # The conventional CNN sees whole 128 x 128 patches (it is tied to one field size). Batches of
            # 16 and 1000 steps (the same for its four rows) keep the full run within 20 minutes on 2 cores.
            "conventional": {"steps": 1000, "batch_size": 16, "crop_size": 128, "lr": 5e-3, "eval_every": 100,
                             "patience": 4, "val_patches": 32},
        },
        "attack": {"steps": 10, "data": 2, "constant": 3, "random": 1},
        "gradient_patches": 8,
        "bootstrap": {"n_resamples": 1000, "level": 0.95, "seed": 0},
    },
    "quick": {
        "data": {"train": 1, "val": 1, "test": 1},
        "seeds": (0, 1, 2),
        "model": {
            "additive": {"width": 4, "depth": 2, "levels": 2},
            "additive_learnt": {"width": 4, "depth": 2, "levels": 4},
            "configurations": {},
            "conventional": {"channels": (4, 8), "hidden": (8,)},
        },
        "train": {
            "additive": {"steps": 10, "batch_size": 8, "crop_size": 24, "lr": 5e-3, "eval_every": 5,
                         "patience": 2, "val_patches": 4},
            "additive_learnt": {"steps": 10, "batch_size": 8, "crop_size": 24, "lr": 5e-3, "eval_every": 5,
                                "patience": 2, "val_patches": 4},
            "configurations": {"steps": 10, "batch_size": 8, "crop_size": 24, "lr": 5e-3, "eval_every": 5,
                               "patience": 2, "val_patches": 4},
            "conventional": {"steps": 6, "batch_size": 4, "crop_size": 128, "lr": 5e-3, "eval_every": 3,
                             "patience": 2, "val_patches": 4},
        },
        "attack": {"steps": 2, "data": 1, "constant": 1, "random": 0},
        "gradient_patches": 2,
        "test_patches": 8,
        "bootstrap": {"n_resamples": 1000, "level": 0.95, "seed": 0},
    },
}


def _pick(table: dict, name: str, architecture: str) -> dict:
    """A per-model entry of a configuration table, else the architecture's."""
    return dict(table.get(name, table[architecture]))


def build_model(name: str, *, quick: bool = False, overrides: dict | None = None):
    """A fresh (untrained) model of the ablation row ``name`` (``overrides`` on top of its settings)."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {tuple(MODELS)}; got {name!r}")
    row = MODELS[name]
    if row["architecture"] is None:
        raise ValueError(f"{name!r} is no model (its prediction is no_input_prediction's); name must be one of "
                         f"{tuple(n for n, r in MODELS.items() if r['architecture'] is not None)}")
    config = CONFIGS["quick" if quick else "full"]
    settings = {**_pick(config["model"], name, row["architecture"]), **row["settings"], **(overrides or {})}
    return ARCHITECTURES[row["architecture"]](DEFAULT_THRESHOLDS, **settings)


def trained_surrogate(settings: dict | None = None, *, base: str = "additive", quick: bool = False, seed: int = 0,
                      progress: bool = False, cache: bool = True, data: dict | None = None, compile: bool = False,
                      device: str = "cpu"):
    """A surrogate trained by :func:`~mink_toolkit.surrogate.train_surrogate` with this experiment's protocol.

    The one way the drivers obtain a trained surrogate: the super-resolution
    experiment's loss terms come from here, so the surrogate used as a loss
    is trained exactly like the ones this experiment evaluates (same data
    splits: 2018 Odyssey, early stopping on its last two hours; same
    trainer, loss, augmentation and configuration).

    Parameters
    ----------
    settings : dict, optional
        Model settings on top of the row ``base``'s, e.g.
        ``{"lipschitz_cap": 4.0}`` or ``{"lipschitz_cap": None, "constrained": False}``.
    base : str
        A row of :data:`MODELS` (its architecture, size and trainer settings).
    quick : bool
        The quick configuration (little data, few steps).
    seed : int
        Seeds the weights and the trainer.
    progress : bool
    cache : bool
        Keep the trained model in the user cache (``cache_dir()/surrogates``),
        in the one checkpoint format, under a key of every setting, the
        trainer configuration and a digest of the training and validation
        data; a later call with the same key loads it.
    data : dict, optional
        ``{"train": PatchSet, "val": PatchSet}`` already loaded.
    compile : bool
        Train with the compiled training step (``train_surrogate(compile=True)``).
        A compiled model is not bit-identical to an eager one: the cache
        key includes ``compile`` (the backend's name) when it is True, so
        the keys of eager models are those of earlier versions.
    device : str or torch.device
        Where the model is trained (the weights are initialised on the CPU
        and moved, so they do not depend on it); the model is returned
        there. A device other than the CPU is part of the cache key.

    Returns
    -------
    model : MinkowskiSurrogate or ConventionalSurrogate
        On ``device``, in eval mode; ``model.training_result`` holds the
        :class:`~mink_toolkit.surrogate.TrainingResult` (or the cached
        metadata).
    """
    import hashlib

    check_compile(compile)
    device = check_device(device)
    config = CONFIGS["quick" if quick else "full"]
    row = MODELS[base]
    torch.manual_seed(seed)
    model = build_model(base, quick=quick, overrides=settings).to(device)
    if not row["train"]:
        model.training_result = {"best_step": 0, "train_seconds": 0.0}
        return model.eval()
    train_settings = _pick(config["train"], base, row["architecture"])
    if data is None:
        data = {s: load_patches(s, DEFAULT_THRESHOLDS, max_files=config["data"][s], progress=progress)
                for s in ("train", "val")}
    digest = hashlib.sha256()
    for split in ("train", "val"):
        digest.update(np.ascontiguousarray(data[split].rain).tobytes())
    key = {"model": model.config(), "train": train_settings, "seed": seed, "data": digest.hexdigest(), "format": 2}
    # Only what differs from the eager CPU training enters the key: the eager CPU models keep their keys.
    if compile:
        key["compile"] = compile_backend()
    if torch.device(device).type != "cpu":
        key["device"] = torch.device(device).type
    key_source = json.dumps(key, sort_keys=True, default=str)
    path = cache_dir() / "surrogates" / f"surrogate-{hashlib.sha256(key_source.encode()).hexdigest()[:20]}.pt"
    if cache and path.is_file():
        try:
            loaded = load_surrogate(path, config=model.config()).to(device)
            loaded.training_result = load_checkpoint_metadata(path)
            return loaded
        except ValueError:  # a stale or corrupt cache entry: train again and overwrite it
            pass
    result = train_surrogate(model, data["train"], data["val"], seed=seed, progress=progress, compile=compile,
                             **train_settings)
    metadata = {"best_step": result.best_step, "train_seconds": result.train_seconds, "history": result.history}
    if cache:
        save_surrogate(model, path, metadata=metadata)
    model.training_result = metadata
    return model.eval()


def _blurred(rain: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """A blurry prediction of ``rain``: what a network trained on MSE outputs, to be pushed towards the truth."""
    from scipy.ndimage import gaussian_filter

    return np.stack([gaussian_filter(x, sigma) for x in rain])


def no_input_prediction(train_functionals) -> np.ndarray:
    """The ``no_input`` row's prediction: the per-threshold mean of the compressed training functionals.

    What a "model" that never looks at the field predicts: for every patch
    the mean over the training patches of
    :func:`~mink_toolkit.functionals.compress_functionals` at each threshold
    (the mean that minimises the squared error in that space). Every pooled
    score is compared with it (``skill``): the threshold curve alone
    already explains much of the pooled variance.

    Parameters
    ----------
    train_functionals : array_like, shape (N, n_thresholds, 3)
        Exact functionals of the training patches (pixel units).

    Returns
    -------
    ndarray, shape (n_thresholds, 3)
        In the compressed space.

    Examples
    --------
    >>> f = np.array([[[3.0, 8.0, 1.0]], [[0.0, 0.0, 0.0]]])
    >>> no_input_prediction(f).round(4).tolist()
    [[0.6931, 1.0986, 0.3466]]
    """
    f = np.asarray(train_functionals, dtype=np.float64)
    if f.ndim != 3 or f.shape[-1] != 3 or len(f) < 1:
        raise ValueError(f"train_functionals must be shaped (N >= 1, n_thresholds, 3); got {f.shape}")
    return compress_functionals(f).mean(axis=0)


def _skill(pred: np.ndarray, baseline: np.ndarray, truth: np.ndarray) -> float:
    """1 − MSE(pred) / MSE(baseline), pooled (NaN when the baseline is exact)."""
    reference = float(np.mean((baseline - truth) ** 2))
    return 1.0 - float(np.mean((pred - truth) ** 2)) / reference if reference > 0 else float("nan")


def _perimeter_on_lower_bound(pred: np.ndarray, truth: np.ndarray, pixel_size: float = 1.0,
                              rtol: float = 1e-6) -> float:
    r"""Share of entries with a non-empty true set whose perimeter sits on :math:`4\min(A, \sqrt A)`.

    ``A`` and ``P`` are the *predicted* area and perimeter (pixel units); an
    entry is on the bound when :math:`|P - 4\min(A, \sqrt A)| \le` ``rtol``
    times the bound (a predicted A = 0 with P = 0 counts: the bound is 0
    there). A head that clamps the perimeter to this bound leaves the
    perimeter there whenever the network's raw value lies below it: the
    symptom of a clamp that passes no gradient. NaN without non-empty true
    sets.
    """
    area = pred[..., 0] / pixel_size**2
    length = pred[..., 1] / pixel_size
    bound = 4.0 * np.minimum(area, np.sqrt(np.maximum(area, 0.0)))
    on = np.abs(length - bound) <= rtol * np.abs(bound)
    wet = truth[..., 0] > 0
    return float(on[wet].mean()) if wet.any() else float("nan")


def evaluate_surrogate(model, test, *, baseline=None, attack: dict | None = None, gradient_patches: int = 8,
                       full: bool = True) -> dict:
    """Accuracy, skill, violations, gradient smoothness and (``full``) the Lipschitz bracket on a test set.

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate or None
        None: the ``no_input`` row, whose prediction is ``baseline`` for
        every patch (no training, no gradient: Lipschitz constants 0,
        gradient measures None).
    test : mink_toolkit.datasets.PatchSet
    baseline : ndarray, shape (n_thresholds, 3), optional
        The ``no_input`` prediction (:func:`no_input_prediction` of the
        training functionals, compressed space): the reference of ``skill``
        (omitted without it).
    attack : dict, optional
        ``steps`` and the numbers of ``data``, ``constant`` and ``random``
        start fields of :func:`~mink_toolkit.surrogate.empirical_lipschitz`.
    gradient_patches : int
        Patches (the wettest) for :func:`~mink_toolkit.surrogate.gradient_smoothness`:
        the gradient of the distance between a blurred patch's functionals
        and the exact ones of the patch (as a loss would push a blurry
        prediction towards the truth's geometry); 0: no gradient measures.
    full : bool
        Also the certificate and the attack.

    Returns
    -------
    dict
        ``r2``, ``mae``, ``skill`` (pooled over patches and thresholds, in
        the space of :func:`~mink_toolkit.functionals.compress_functionals`,
        keyed by functional), ``r2_per_threshold``, ``violations``
        (continuous and discrete conditions, split by empty and non-empty
        true sets), ``perimeter_on_lower_bound``, ``gradient`` (None for
        ``no_input``), ``prediction`` (compressed, (N, n_thresholds, 3), for
        the bootstrap; not for JSON); with ``full`` also
        ``lipschitz_certified``, ``lipschitz_attacked`` and ``attack`` (per
        start kind).
    """
    attack = dict(CONFIGS["full"]["attack"] if attack is None else attack)
    size = tuple(test.rain.shape[-2:])
    t = compress_functionals(test.functionals)
    if model is None:
        if baseline is None:
            raise ValueError("the no_input row (model=None) needs its baseline prediction")
        p = np.broadcast_to(np.asarray(baseline, dtype=np.float64), t.shape)
        pred, comps, pixel_size = expand_functionals(p), None, 1.0
    else:
        pred, comps = predict_functionals(model, test.rain)
        pred = pred.cpu().numpy().astype(np.float64)
        comps, pixel_size = comps.cpu().numpy(), model.pixel_size
        p = compress_functionals(pred)
    out = {"r2": {}, "mae": {}, "skill": {}, "r2_per_threshold": {}}
    for j, name in enumerate(FUNCTIONAL_NAMES):
        out["r2"][name] = r2_score(p[..., j], t[..., j])
        out["mae"][name] = float(np.abs(p[..., j] - t[..., j]).mean())
        if baseline is not None:
            out["skill"][name] = _skill(p[..., j], np.broadcast_to(baseline, t.shape)[..., j], t[..., j])
        out["r2_per_threshold"][name] = [r2_score(p[:, k, j], t[:, k, j]) for k in range(p.shape[1])]
    if baseline is None:
        del out["skill"]
    out["violations"] = geometric_violations(pred, size, pixel_size=pixel_size, components=comps,
                                             truth=test.functionals, discrete=True)
    out["perimeter_on_lower_bound"] = _perimeter_on_lower_bound(pred, test.functionals, pixel_size)
    out["prediction"] = np.array(p)
    wettest = np.argsort(-test.functionals[:, 0, 0], kind="stable")
    out["gradient"] = None
    if model is not None and gradient_patches:
        pick = wettest[:gradient_patches]
        out["gradient"] = gradient_smoothness(model, _blurred(test.rain[pick]), test.functionals[pick])
    if not full:
        return out
    if model is None:  # a constant prediction: every Lipschitz constant is 0
        out.update(lipschitz_certified=0.0, lipschitz_attacked=0.0, attack=None)
        return out
    out["lipschitz_certified"] = lipschitz_upper_bound(model, size)
    starts = attack_starts(model, size, rain=test.rain[wettest[: attack["data"]]] if attack["data"] else None,
                           n_constant=attack["constant"], n_random=attack["random"])
    found = empirical_lipschitz(model, starts, steps=attack["steps"])
    out["lipschitz_attacked"] = found["lipschitz"]
    out["attack"] = {"by_start": found["by_start"], "best_start": found["best_start"],
                     "best_separation": found["best_separation"]}
    return out


#: The gradient measures in the order the tables show them: the scale-free ones first.
GRADIENT_MEASURES = SCALE_FREE_MEASURES + SCALE_DEPENDENT_MEASURES


def _gradient_key(measure: str) -> str:
    """The ``per_seed`` key of a gradient measure: ``gradient_<measure>``, without doubling the prefix."""
    return measure if measure.startswith("gradient_") else f"gradient_{measure}"


def summarise_seeds(per_seed: list, truth_compressed: np.ndarray, *, bootstrap: dict | None = None) -> dict:
    """The measures of one row over its seeds: means, spreads, per-seed lists and the bootstrap interval.

    Parameters
    ----------
    per_seed : list of dict
        :func:`evaluate_surrogate` results (with ``train_seconds`` and
        ``best_step``), one per seed, in seed order; the first may hold the
        certificate and the attack.
    truth_compressed : ndarray, shape (N, n_thresholds, 3)
        Compressed exact functionals of the test patches.
    bootstrap : dict, optional
        ``n_resamples``, ``level``, ``seed`` of
        :func:`~mink_toolkit.verification.bootstrap_interval` (default
        1000, 0.95, 0).

    Returns
    -------
    dict
        ``r2``, ``r2_std``, ``mae``, ``mae_std``, ``skill``,
        ``r2_per_threshold``, ``bootstrap``, ``per_seed`` (flat keys; the
        gradient measures as ``gradient_high_k_share``, ...,
        ``gradient_lipschitz_relative``, ``gradient_lipschitz``,
        ``gradient_rms``, None where undefined),
        ``gradient`` (``{measure: {"mean", "std", "seeds"}}`` over the
        ``seeds`` seeds where the measure is defined: the measures relative
        to the gradient's size are not for a gradient that is 0
        everywhere), ``perimeter_on_lower_bound``, ``violations``,
        ``lipschitz_certified``, ``lipschitz_attacked``, ``attack``,
        ``train_seconds`` (see the module notes).
    """
    settings = {"n_resamples": 1000, "level": 0.95, "seed": 0, **(bootstrap or {})}
    first = per_seed[0]
    flat = {}
    for f in FUNCTIONAL_NAMES:
        for metric in ("r2", "mae", "skill"):
            if metric in first:
                flat[f"{metric}_{f}"] = [float(m[metric][f]) for m in per_seed]
    for key in ("perimeter_on_lower_bound", "train_seconds"):
        flat[key] = [float(m[key]) for m in per_seed]
    flat["best_step"] = [int(m["best_step"]) for m in per_seed]
    for g in GRADIENT_MEASURES:
        flat[_gradient_key(g)] = [None if m["gradient"] is None else _defined(m["gradient"][g]) for m in per_seed]
    interval = {}
    for j, f in enumerate(FUNCTIONAL_NAMES):
        # (N, seeds, n): the patches on axis 0, so a resample draws each patch's predictions of every seed
        preds = np.stack([m["prediction"][..., j] for m in per_seed], axis=1)

        def seed_mean_r2(p, t):
            return float(np.mean([r2_score(p[:, k], t) for k in range(p.shape[1])]))

        b = bootstrap_interval(seed_mean_r2, preds, truth_compressed[..., j], **settings)
        interval[f] = [b["low"], b["high"]]
    return {
        "r2": {f: _mean_std(flat[f"r2_{f}"])["mean"] for f in FUNCTIONAL_NAMES},
        "r2_std": {f: _mean_std(flat[f"r2_{f}"])["std"] for f in FUNCTIONAL_NAMES},
        "mae": {f: _mean_std(flat[f"mae_{f}"])["mean"] for f in FUNCTIONAL_NAMES},
        "mae_std": {f: _mean_std(flat[f"mae_{f}"])["std"] for f in FUNCTIONAL_NAMES},
        **({"skill": {f: _mean_std(flat[f"skill_{f}"])["mean"] for f in FUNCTIONAL_NAMES}} if "skill" in first
           else {}),
        "r2_per_threshold": {f: np.mean([m["r2_per_threshold"][f] for m in per_seed], axis=0).tolist()
                             for f in FUNCTIONAL_NAMES},
        "bootstrap": interval,
        "per_seed": flat,
        "gradient": None if first["gradient"] is None else {
            g: _mean_std_defined(flat[_gradient_key(g)]) for g in GRADIENT_MEASURES},
        "perimeter_on_lower_bound": _mean_std(flat["perimeter_on_lower_bound"])["mean"],
        "violations": {g: {c: _mean_std([m["violations"][g][c] for m in per_seed])["mean"]
                           for c in first["violations"][g]} for g in ("empty_truth", "nonempty_truth")},
        "lipschitz_certified": first.get("lipschitz_certified"),
        "lipschitz_attacked": first.get("lipschitz_attacked"),
        "attack": first.get("attack"),
        "train_seconds": _mean_std(flat["train_seconds"])["mean"],
    }


def _mean_std(values: list) -> dict:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(np.mean(arr)), "std": float(np.std(arr))}


def _defined(value) -> float | None:
    """A float, or None where the measure is undefined (NaN: e.g. a relative measure of a zero gradient)."""
    return None if value is None or not np.isfinite(value) else float(value)


def _mean_std_defined(values: list) -> dict:
    """Mean and std over the seeds where the value is defined, and how many those are."""
    kept = [v for v in values if v is not None]
    return {**(_mean_std(kept) if kept else {"mean": None, "std": None}), "seeds": len(kept)}


def _fmt(value, spec=".3g") -> str:
    return "–" if value is None else format(value, spec)


def _pm(stats: dict | None, seeds: int, spec: str = ".3g") -> str:
    """``mean ± std`` of a ``{"mean", "std", "seeds"}`` entry, saying over how many seeds when not all."""
    if stats is None:
        return "–"
    if not stats.get("seeds", seeds):
        return "undefined"
    kept = stats.get("seeds", seeds)
    cell = f"{stats['mean']:{spec}}" + (f" ± {stats['std']:.2g}" if kept > 1 else "")  # no spread of one value
    return cell if kept == seeds else f"{cell} ({kept} of {seeds} seeds)"


#: Columns of the per-threshold χ table: every this many thresholds.
THRESHOLD_STRIDE = 4

_GRADIENT_HEADERS = {
    "high_k_share": "high-k share", "total_variation": "total variation", "peak_to_rms": "peak / RMS",
    "relative_variance": "relative variance", "gradient_lipschitz_relative": "relative gradient Lipschitz",
    "gradient_lipschitz": "gradient Lipschitz, per (mm/h)²", "rms": "RMS, per mm/h",
}


def _training_mode(results: dict) -> str:
    """How the run trained, for the tables' header line (nothing for results written before it was recorded)."""
    if "compile" not in results:
        return ""
    how = f"compiled ({results.get('compile_backend')})" if results["compile"] else "eager"
    return f" Training {how} on {results.get('device', 'cpu')}."


def markdown(results: dict) -> str:
    """The tables of a :func:`run` result (what ``--markdown`` prints and the README includes)."""
    models = results["models"]
    names = {"area": "A", "perimeter": "P", "euler_characteristic": "χ"}
    config = results["config"]
    seeds = len(config["seeds"])
    boot = {"n_resamples": 1000, "level": 0.95, **config.get("bootstrap", {})}
    thresholds = results["thresholds"]
    n_test = results["data"]["test_patches"]
    lines = [
        f"Test: {n_test} patches (128 × 128) of the 2024-11-26 NIMBUS rain rate; trained on "
        f"{results['data']['train_patches']} patches of 2018-08-24 18:00–21:45 (Odyssey), early stopping on "
        f"{results['data']['val_patches']} of 22:00–23:45; {seeds} seeds ({', '.join(map(str, config['seeds']))}) "
        "per row." + _training_mode(results) + " The rows:",
        "",
        "| model | what it contains |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {m['contains']} |" for name, m in models.items()]
    lines += [
        "",
        f"Accuracy. R² pooled over the test patches and the {len(thresholds)} thresholds "
        f"{thresholds[0]:g}–{thresholds[-1]:g} mm/h in log1p space (signed for χ): mean ± std over the seeds, "
        f"in brackets the {100 * boot['level']:g} % bootstrap interval of the seed-mean R² over test patches "
        f"({boot['n_resamples']} resamples of the {n_test} patches). Skill: 1 − MSE / MSE of `no_input`, pooled "
        "the same way, mean over seeds (0: no better than the per-threshold training mean; below 0: worse). "
        "P on bound: share of (patch, threshold) entries with a non-empty true set whose predicted perimeter "
        "equals 4·min(A, √A) of the predicted area (within 10⁻⁶ relative), mean over seeds. Violations: share "
        "of entries breaking at least one continuous necessary condition (`geometric_violations`), among "
        "entries whose true set is empty / non-empty, mean over seeds. Lipschitz constants (seed 0): final "
        "outputs (area, perimeter, β0, χ per threshold, pixel units) per unit of the normalised input "
        "z = log10(1 + x / 0.01 mm/h), ℓ2 over the field and all outputs, 128 × 128 fields; certified = "
        "`lipschitz_upper_bound` (sound), attacked = `empirical_lipschitz` (the largest ratio found; a lower "
        "bound). Train s: seconds per seed, mean.",
        "",
        "| model | R² A | R² P | R² χ | skill A / P / χ | P on bound | violations, true set empty / non-empty "
        "| certified L | attacked L | parameters | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        r2 = [f"{m['r2'][f]:.4f} ± {m['r2_std'][f]:.4f} [{m['bootstrap'][f][0]:.4f}, {m['bootstrap'][f][1]:.4f}]"
              for f in names]
        skill = " / ".join(f"{m['skill'][f]:.3f}" for f in names)
        v = m["violations"]
        lines.append(
            f"| `{name}` | " + " | ".join(r2) + f" | {skill} | {100 * m['perimeter_on_lower_bound']:.1f} % | "
            f"{100 * v['empty_truth']['any']:.1f} % / {100 * v['nonempty_truth']['any']:.1f} % | "
            f"{_fmt(m['lipschitz_certified'])} | {_fmt(m['lipschitz_attacked'])} | {m['parameters']} | "
            f"{m['train_seconds']:.0f} |"
        )
    columns = list(range(0, len(thresholds), THRESHOLD_STRIDE))
    lines += [
        "",
        f"R² of χ per threshold: pooled over the {n_test} test patches at one threshold (compressed space), mean "
        f"over seeds; every {THRESHOLD_STRIDE}th of the {len(thresholds)} thresholds (all of them in "
        "`r2_per_threshold` of the JSON). A prediction that is the same for every patch, as `no_input`'s, "
        "scores at most 0 at each threshold.",
        "",
        "| model | " + " | ".join(f"u = {thresholds[k]:g} mm/h" for k in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, m in models.items():
        row = m["r2_per_threshold"]["euler_characteristic"]
        lines.append(f"| `{name}` | " + " | ".join(f"{row[k]:.3f}" for k in columns) + " |")
    lines += [
        "",
        "Gradient of the functional distance between a blurred test patch (Gaussian, σ = 2 px) and the exact "
        f"functionals of the patch, on the {config['gradient_patches']} wettest test patches "
        f"(`gradient_smoothness`): mean ± std over the {seeds} seeds. The first five measures are scale-free "
        "(unchanged when the gradient is multiplied by a constant) and compare models; the last two carry the "
        "gradient's units, so a bound that shrinks the gradient lowers them without making it smoother. "
        "`no_input` has no gradient. A measure relative to the gradient's size is undefined for a seed whose "
        "gradient is 0 everywhere (a head that passes no gradient): such seeds are left out, and the cell says "
        "over how many seeds it is.",
        "",
        "| model | " + " | ".join(_GRADIENT_HEADERS[g] for g in GRADIENT_MEASURES) + " |",
        "|---|" + "---|" * len(GRADIENT_MEASURES),
    ]
    for name, m in models.items():
        g = m["gradient"]
        lines.append(f"| `{name}` | " + " | ".join(_pm(None if g is None else g[k], seeds) for k in GRADIENT_MEASURES)
                     + " |")
    lines += ["", "Lipschitz attack (seed 0): the largest ratio found from each kind of start field "
              "(`empirical_lipschitz`).", "", "| model | data | constant | random |", "|---|---|---|---|"]
    for name, m in models.items():
        by = (m.get("attack") or {}).get("by_start", {})
        lines.append(f"| `{name}` | " + " | ".join(_fmt(by.get(k)) for k in ("data", "constant", "random")) + " |")
    keys = []  # every condition of any row, in order (no_input has no β0, so no β0 conditions)
    for m in models.values():
        keys += [k for k in m["violations"]["nonempty_truth"] if k not in ("any", "any_discrete", *keys)]
    lines += ["", "Violation rate per condition, % (non-empty true sets / empty true sets, mean over seeds; "
              "`_discrete`: forms a continuous head cannot guarantee):", "",
              "| condition | " + " | ".join(f"`{n}`" for n in models) + " |", "|---|" + "---|" * len(models)]
    for k in keys:
        cells = [f"{100 * m['violations']['nonempty_truth'][k]:.2f} / {100 * m['violations']['empty_truth'][k]:.2f}"
                 if k in m["violations"]["nonempty_truth"] else "–" for m in models.values()]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: Patch sets loaded by this process, by data configuration.
_DATA: dict = {}


def _job(name: str, seed: int, quick: bool, full: bool, progress: bool, baseline=None, compile: bool = False,
         device: str = "cpu"):
    """Train and evaluate one (model, seed): the unit of work of :func:`run` (picklable, for worker processes).

    Data come from the patch cache (``load_patches``), so a worker process
    reads them rather than computing them again. ``baseline``: the
    ``no_input`` prediction (:func:`no_input_prediction`), the reference of
    the skill and the ``no_input`` row's prediction. The model is trained
    (compiled with ``compile``) and evaluated (eager) on ``device``; its
    weights come back on the CPU.
    """
    config = CONFIGS["quick" if quick else "full"]
    key = json.dumps(config["data"], sort_keys=True)
    if key not in _DATA:  # once per process
        _DATA[key] = {s: load_patches(s, DEFAULT_THRESHOLDS, max_files=config["data"][s], progress=False)
                      for s in ("train", "val", "test")}
    data = _DATA[key]
    test = data["test"]
    if "test_patches" in config:
        test = test.subset(slice(0, config["test_patches"]))
    if MODELS[name]["architecture"] is None:  # no model: nothing to train, its prediction is the baseline
        metrics = evaluate_surrogate(None, test, baseline=baseline, full=full)
        return metrics | {"train_seconds": 0.0, "best_step": 0}, None, None, {"best_step": 0, "train_seconds": 0.0}, 0
    model = trained_surrogate(base=name, quick=quick, seed=seed, progress=progress, cache=False,
                              data={"train": data["train"], "val": data["val"]}, compile=compile, device=device)
    metrics = evaluate_surrogate(model, test, baseline=baseline, attack=config["attack"],
                                 gradient_patches=config["gradient_patches"], full=full)
    metrics["train_seconds"] = float(model.training_result["train_seconds"])
    metrics["best_step"] = int(model.training_result["best_step"])
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # plain CPU tensors back to the driver
    return metrics, state, model.config(), dict(model.training_result), int(
        sum(p.numel() for p in model.parameters()))


def run(output: Path, *, quick: bool = False, progress: bool = True, models=None, jobs: int = 1, compile: bool = True,
        device: str = "cpu") -> dict:
    """Train, evaluate, and write ``surrogate.json``, ``surrogate.md`` and checkpoints.

    Parameters
    ----------
    output : Path
        Folder for the results (created).
    quick : bool
        Small data and few steps (smoke test).
    progress : bool
    models : sequence of str, optional
        A subset of :data:`MODELS` (default all, in order).
    jobs : int
        Worker processes (one thread each) for the (model, seed) runs; 1
        runs them here, in order. Results do not depend on it.
    compile : bool
        Compile the training steps (``train_surrogate(compile=True)``, the
        backend of :func:`~mink_toolkit._runtime.compile_backend`);
        evaluation stays eager. A compiled model is not bit-identical to an
        eager one.
    device : str or torch.device
        Where the models are trained and evaluated (``"cpu"``, ``"cuda"``,
        ``"cuda:1"``).

    Returns
    -------
    dict
        The content of ``surrogate.json``; ``compile``, ``compile_backend``
        (None when eager), ``device`` and the wall ``seconds`` record how it ran.
    """
    check_compile(compile)
    device = check_device(device)
    config = CONFIGS["quick" if quick else "full"]
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    names = list(MODELS if models is None else models)
    started = time.perf_counter()
    data = {s: load_patches(s, DEFAULT_THRESHOLDS, max_files=config["data"][s], progress=progress)
            for s in ("train", "val", "test")}
    test = data["test"]
    if "test_patches" in config:
        test = test.subset(slice(0, config["test_patches"]))
    baseline = no_input_prediction(data["train"].functionals)  # the no_input row, and every row's skill reference
    results = {
        "config": {k: v for k, v in config.items() if k != "data"} | {"quick": quick},
        "thresholds": [float(u) for u in DEFAULT_THRESHOLDS],
        "data": {"train_patches": len(data["train"]), "val_patches": len(data["val"]), "test_patches": len(test)},
        "units": {"lipschitz": "final outputs (pixel units) per unit of z = log10(1 + x / 0.01 mm/h), l2 norms"},
        "models": {},
        "compile": compile,
        "compile_backend": compile_backend() if compile else None,
        "device": device,
    }
    work = [(name, seed, k == 0) for name in names for k, seed in enumerate(config["seeds"])]
    # Longest first (seed 0 also runs the certificate and the attack): the workers finish together.
    work.sort(key=lambda item: -EXPECTED_SECONDS.get(item[0], 0) - 30 * item[2])
    if jobs > 1:
        from tqdm.auto import tqdm

        # one torch thread per worker; the workers are ours: reuse freed tensors rather than page-faulting them in anew
        with spawn_pool(jobs, keep_freed=True) as pool:
            futures = {(name, seed): pool.submit(_job, name, seed, quick, full, False, baseline, compile, device)
                       for name, seed, full in work}
            done = {}
            for key in tqdm(futures, desc="models x seeds", disable=not progress):
                done[key] = futures[key].result()
    else:
        done = {(name, seed): _job(name, seed, quick, full, progress, baseline, compile, device)
               for name, seed, full in work}
    for name in names:
        row = MODELS[name]
        per_seed = []
        for k, seed in enumerate(config["seeds"]):
            metrics, state, settings, training, parameters = done[name, seed]
            per_seed.append(metrics)
            if row["train"]:
                model = ARCHITECTURES[settings["architecture"]](**{k_: v for k_, v in settings.items()
                                                                   if k_ != "architecture"})
                model.load_state_dict(state)
                save_surrogate(model, output / "checkpoints" / f"{name}_seed{seed}.pt", metadata=training)
            if k == 0:
                first_settings, first_parameters = settings, parameters
        entry = {"contains": row["contains"], "settings": first_settings, "seeds": list(config["seeds"]),
                 **summarise_seeds(per_seed, compress_functionals(test.functionals), bootstrap=config.get("bootstrap")),
                 "parameters": first_parameters}
        results["models"][name] = entry
        if progress:
            print(f"{name}: R² " + ", ".join(f"{f} {entry['r2'][f]:.4f}" for f in FUNCTIONAL_NAMES)
                  + f"; certified {entry['lipschitz_certified']:.3g}, attacked {entry['lipschitz_attacked']:.3g}; "
                  f"train {entry['train_seconds']:.0f} s per seed", flush=True)
    if "estimator" in results["models"] and "additive" in results["models"]:
        base, trained = results["models"]["estimator"]["r2"], results["models"]["additive"]["r2"]
        results["models"]["additive"]["gain_over_estimator"] = {f: trained[f] - base[f] for f in FUNCTIONAL_NAMES}
    results["seconds"] = time.perf_counter() - started
    (output / "surrogate.json").write_text(json.dumps(results, indent=1, default=float))
    (output / "surrogate.md").write_text(markdown(results))
    return results


def main(argv: list[str]) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit reproduce surrogate",
        description="The surrogate ablation: what is learnt, what is built in (" + ", ".join(MODELS) + ").",
    )
    parser.add_argument("--quick", action="store_true", help="one file per split and few steps (smoke test)")
    parser.add_argument("--output", default="results", help="output folder (default: results/)")
    parser.add_argument("--models", default=None, help="comma-separated subset of the models (default: all)")
    parser.add_argument("--markdown", metavar="JSON", default=None,
                        help="print the tables of an existing surrogate.json and exit (the README's source)")
    parser.add_argument("--readme", metavar="MD", default=None,
                        help="with --markdown: write the tables into the block '<!-- surrogate:begin -->' … "
                             "'<!-- surrogate:end -->' of this file instead of printing them")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes for the (model, seed) runs, one thread each (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-compile", action="store_true",
                        help="train eagerly; by default the training steps are compiled with torch.compile "
                             "(inductor, or $MINK_COMPILE_BACKEND; the first compilation takes tens of seconds, "
                             "its code is cached); evaluation is eager either way")
    parser.add_argument("--device", default="cpu",
                        help="torch device to train and evaluate on: cpu (default), cuda, cuda:1, ...")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1; got {args.threads}")
    try:
        device = check_device(args.device, "--device")
    except ValueError as exc:
        parser.error(str(exc))
    if args.markdown is not None:
        tables = markdown(json.loads(Path(args.markdown).read_text()))
        if args.readme is not None:
            replace_readme_block(args.readme, "surrogate", tables)
            print(f"wrote the tables of {args.markdown} into {args.readme}")
        else:
            print(tables, end="")
        return 0
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    models = None if args.models is None else [m.strip() for m in args.models.split(",")]
    if models is not None:
        unknown = [m for m in models if m not in MODELS]
        if unknown:
            parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1; got {args.jobs}")
    results = run(Path(args.output), quick=args.quick, progress=not args.no_progress, models=models, jobs=args.jobs,
                  compile=not args.no_compile, device=device)
    print(markdown(results), end="")
    print(f"wrote {Path(args.output) / 'surrogate.json'} and surrogate.md ({results['seconds']:.0f} s)")
    return 0
