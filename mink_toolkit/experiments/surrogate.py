"""``python -m mink_toolkit reproduce surrogate [--quick] [--output DIR] [--no-compile] [--device D]``: the ablation.

What does a surrogate of the Minkowski functionals learn, and what is built
in? Six models, each trained by the one trainer
(:func:`~mink_toolkit.surrogate.train_surrogate`) on the same split — train
2018-08-24 Odyssey 18:00–21:45, validate (early stopping) on its last two
hours, test on the 2024-11-26 NIMBUS rain rate (other year, season and
processing chain) — over several seeds:

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
``conventional_plain``
    a conventional CNN of the paper's kind (strided convolutions, global
    mean pooling, dense layers), no bound, no constraints.
``conventional_sn``
    the same with the published recipe: ``torch.nn.utils.parametrizations.spectral_norm``
    on every convolution and dense layer (not a certificate), and the
    constrained head.
``conventional_certified``
    the same with exact operator-norm caps (certified) and the constrained head.

Writes ``DIR/surrogate.json`` (``{"models": {name: M}}``, each ``M`` with
``r2`` and ``mae`` keyed by functional (mean over seeds; ``per_seed`` and
``std`` beside), ``violations`` split into ``empty_truth`` and
``nonempty_truth``, ``lipschitz_certified`` and ``lipschitz_attacked`` (same
units: final outputs in pixel units per unit of the normalised input z,
ℓ2 over the field and all outputs), ``gradient`` (smoothness of the loss
gradient), ``parameters``, ``train_seconds``), ``DIR/surrogate.md`` (the
tables, also printed by ``--markdown DIR/surrogate.json``) and
``DIR/checkpoints/<name>_seed<k>.pt``. ``--quick`` uses one file per split
and few steps (a smoke test).

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
from ..functionals import FUNCTIONAL_NAMES, compress_functionals
from ..io.registry import cache_dir
from ..parallel import spawn_pool
from ..reporting import replace_readme_block
from ..surrogate import (
    ARCHITECTURES,
    CONVENTIONAL_LIPSCHITZ_CAP,
    DEFAULT_LIPSCHITZ_CAP,
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
from ..verification import r2_score

__all__ = [
    "MODELS",
    "CONFIGS",
    "build_model",
    "trained_surrogate",
    "evaluate_surrogate",
    "markdown",
    "run",
    "main",
]

def _model(architecture: str, train: bool, contains: str, **settings) -> dict:
    """One row of the ablation: what the model contains, its architecture and its constructor settings."""
    return {"contains": contains, "architecture": architecture, "train": train, "settings": settings}


#: The ablation: a description of what each model contains, and its settings.
MODELS = {
    "estimator": _model(
        "additive", False,
        "additive architecture at the exact estimator's initialisation (7 order statistics as fixed "
        "features, head at the estimator's weights), untrained",
        lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True),
    "additive": _model(
        "additive", True,
        "the same, trained: order statistics + learnt level features, Lipschitz caps, constrained head",
        lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True),
    "additive_learnt": _model(
        "additive", True,
        "additive architecture (2×2 MaxMin local network, soft steps, sum pooling) without the order "
        "statistics, random head; Lipschitz caps, constrained head",
        lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True, use_order_statistics=False),
    "conventional_plain": _model(
        "conventional", True,
        "conventional CNN (strided convolutions, mean pooling, dense layers), no bound, no constraints",
        lipschitz_cap=None, constrained=False),
    # spectral_norm replaces the exact caps of the convolutions and dense layers; the head keeps its cap.
    "conventional_sn": _model(
        "conventional", True,
        "the same with torch spectral_norm on every convolution and dense layer (the published "
        "recipe, not a certificate) and the constrained head",
        lipschitz_cap=CONVENTIONAL_LIPSCHITZ_CAP, spectral_norm=True, constrained=True),
    # Exact norms of the 128 x 128 convolutions are most of a training step; a warm-started power
    # iteration per frequency tracks them from below for a fraction of it
    # (benchmarks/bench_surrogate_norms.py). Validation, evaluation and the certificate use the exact norms.
    "conventional_certified": _model(
        "conventional", True,
        "the same with exact operator-norm caps (certified; estimated by power iteration in training "
        "steps) and the constrained head",
        lipschitz_cap=CONVENTIONAL_LIPSCHITZ_CAP, constrained=True, training_norms="power_iteration"),
}

#: Rough seconds per (model, seed) of the full run on one core (training and evaluation; upper ends of
#: what runs have measured); only used to start the longest runs first so that the worker processes
#: finish together. Results do not depend on the order.
EXPECTED_SECONDS = {"estimator": 10, "additive": 100, "additive_learnt": 215, "conventional_plain": 70,
                    "conventional_sn": 70, "conventional_certified": 160}

#: Reference (full) and quick configurations. Per architecture (and per model where it differs):
#: the model's size and the trainer's settings.
CONFIGS = {
    "full": {
        "data": {"train": None, "val": None, "test": None},
        "seeds": (0, 1, 2),
        "model": {
            "additive": {"width": 16, "depth": 3, "levels": 4},
            "additive_learnt": {"width": 16, "depth": 3, "levels": 8},
            "conventional": {"channels": (16, 32, 64, 64), "hidden": (128,)},
        },
        "train": {
            "additive": {"steps": 400, "batch_size": 32, "crop_size": 32, "lr": 5e-3, "eval_every": 50,
                         "patience": 3, "val_patches": 32},
            "additive_learnt": {"steps": 1500, "batch_size": 32, "crop_size": 32, "lr": 5e-3, "eval_every": 100,
                                "patience": 4, "val_patches": 32, "weights": (1.0, 1.0, 1.0)},
            # The conventional CNN sees whole 128 x 128 patches (it is tied to one field size).
            "conventional": {"steps": 1500, "batch_size": 32, "crop_size": 128, "lr": 5e-3, "eval_every": 100,
                             "patience": 4, "val_patches": 32},
        },
        "attack": {"steps": 10, "data": 2, "constant": 3, "random": 1},
        "gradient_patches": 8,
    },
    "quick": {
        "data": {"train": 1, "val": 1, "test": 1},
        "seeds": (0, 1, 2),
        "model": {
            "additive": {"width": 4, "depth": 2, "levels": 2},
            "additive_learnt": {"width": 4, "depth": 2, "levels": 4},
            "conventional": {"channels": (4, 8), "hidden": (8,)},
        },
        "train": {
            "additive": {"steps": 10, "batch_size": 8, "crop_size": 24, "lr": 5e-3, "eval_every": 5,
                         "patience": 2, "val_patches": 4},
            "additive_learnt": {"steps": 10, "batch_size": 8, "crop_size": 24, "lr": 5e-3, "eval_every": 5,
                                "patience": 2, "val_patches": 4},
            "conventional": {"steps": 6, "batch_size": 4, "crop_size": 128, "lr": 5e-3, "eval_every": 3,
                             "patience": 2, "val_patches": 4},
        },
        "attack": {"steps": 2, "data": 1, "constant": 1, "random": 0},
        "gradient_patches": 2,
        "test_patches": 8,
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


def evaluate_surrogate(model, test, *, attack: dict | None = None, gradient_patches: int = 8, full: bool = True) -> dict:
    """Accuracy, violations and (``full``) Lipschitz bracket and gradient smoothness on a test set.

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
    test : mink_toolkit.datasets.PatchSet
    attack : dict, optional
        ``steps`` and the numbers of ``data``, ``constant`` and ``random``
        start fields of :func:`~mink_toolkit.surrogate.empirical_lipschitz`.
    gradient_patches : int
        Patches (the wettest) for :func:`~mink_toolkit.surrogate.gradient_smoothness`:
        the gradient of the distance between a blurred patch's functionals
        and the exact ones of the patch (as a loss would push a blurry
        prediction towards the truth's geometry).
    full : bool
        Also the certificate, the attack and the gradient measures.

    Returns
    -------
    dict
        ``r2``, ``mae`` (pooled over patches and thresholds, in the space of
        :func:`~mink_toolkit.functionals.compress_functionals`, keyed by
        functional), ``r2_per_threshold``, ``violations`` (continuous and
        discrete conditions, split by empty and non-empty true sets); with
        ``full`` also ``lipschitz_certified``, ``lipschitz_attacked``,
        ``attack`` (per start kind) and ``gradient``.
    """
    attack = dict(CONFIGS["full"]["attack"] if attack is None else attack)
    pred, comps = predict_functionals(model, test.rain)
    size = tuple(test.rain.shape[-2:])
    p = compress_functionals(pred).cpu().numpy()
    t = compress_functionals(test.functionals)
    out = {"r2": {}, "mae": {}, "r2_per_threshold": {}}
    for j, name in enumerate(FUNCTIONAL_NAMES):
        out["r2"][name] = r2_score(p[..., j], t[..., j])
        out["mae"][name] = float(np.abs(p[..., j] - t[..., j]).mean())
        out["r2_per_threshold"][name] = [r2_score(p[:, k, j], t[:, k, j]) for k in range(p.shape[1])]
    out["violations"] = geometric_violations(pred, size, pixel_size=model.pixel_size, components=comps,
                                             truth=test.functionals, discrete=True)
    if not full:
        return out
    wettest = np.argsort(-test.functionals[:, 0, 0], kind="stable")
    out["lipschitz_certified"] = lipschitz_upper_bound(model, size)
    starts = attack_starts(model, size, rain=test.rain[wettest[: attack["data"]]] if attack["data"] else None,
                           n_constant=attack["constant"], n_random=attack["random"])
    found = empirical_lipschitz(model, starts, steps=attack["steps"])
    out["lipschitz_attacked"] = found["lipschitz"]
    out["attack"] = {"by_start": found["by_start"], "best_start": found["best_start"],
                     "best_separation": found["best_separation"]}
    pick = wettest[:gradient_patches]
    out["gradient"] = gradient_smoothness(model, _blurred(test.rain[pick]), test.functionals[pick])
    return out


def _mean_std(values: list) -> dict:
    arr = np.asarray(values, dtype=float)
    return {"mean": float(np.mean(arr)), "std": float(np.std(arr))}


def _fmt(value, spec=".3g") -> str:
    return "–" if value is None else format(value, spec)


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
    seeds = len(results["config"]["seeds"])
    lines = [
        f"Test: {results['data']['test_patches']} patches (128 × 128) of the 2024-11-26 NIMBUS rain rate; trained on "
        f"{results['data']['train_patches']} patches of 2018-08-24 18:00–21:45 (Odyssey), early stopping on "
        f"{results['data']['val_patches']} of 22:00–23:45. R² and MAE pooled over patches and the "
        f"{len(results['thresholds'])} thresholds {results['thresholds'][0]:g}–{results['thresholds'][-1]:g} mm/h "
        f"in log1p space (signed for χ); mean ± std over {seeds} seeds.{_training_mode(results)}",
        "",
        "| model | what it contains | R² A | R² P | R² χ | MAE χ | violations, true set empty | violations, "
        "true set non-empty | certified L | attacked L | parameters | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        r2 = [f"{m['r2'][f]:.4f} ± {m['r2_std'][f]:.4f}" for f in names]
        v = m["violations"]
        lines.append(
            f"| `{name}` | {m['contains']} | " + " | ".join(r2)
            + f" | {m['mae']['euler_characteristic']:.3f} | {100 * v['empty_truth']['any']:.1f} % | "
            f"{100 * v['nonempty_truth']['any']:.1f} % | {_fmt(m['lipschitz_certified'])} | "
            f"{_fmt(m['lipschitz_attacked'])} | {m['parameters']} | {m['train_seconds']:.0f} |"
        )
    lines += [
        "",
        "Violations: share of (patch, threshold) entries breaking at least one continuous necessary condition "
        "(`geometric_violations`), among entries whose true excursion set is empty / non-empty. Lipschitz constants: "
        "final outputs (area, perimeter, β0, χ per threshold, pixel units) per unit of the normalised input "
        "z = log10(1 + x / 0.01 mm/h), ℓ2 over the field and all outputs, 128 × 128 fields; certified = "
        "`lipschitz_upper_bound` (sound), attacked = `empirical_lipschitz` (the largest ratio found; a lower bound).",
        "",
        "Gradient of the functional distance between a blurred patch and the truth (seed 0): smoothness measures "
        "(`gradient_smoothness`).",
        "",
        "| model | high-k share | total variation | peak / RMS | gradient Lipschitz | relative variance | "
        "attack: data / constant / random |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        g = m["gradient"]
        by = m["attack"]["by_start"]
        lines.append(
            f"| `{name}` | {g['high_k_share']:.3f} | {g['total_variation']:.3f} | {g['peak_to_rms']:.1f} | "
            f"{g['gradient_lipschitz']:.3g} | {g['relative_variance']:.3f} | "
            + " / ".join(_fmt(by.get(k)) for k in ("data", "constant", "random")) + " |"
        )
    keys = [k for k in next(iter(models.values()))["violations"]["nonempty_truth"] if k not in ("any", "any_discrete")]
    lines += ["", "Violation rate per condition (non-empty true sets / empty true sets; `_discrete`: forms a "
              "continuous head cannot guarantee):", "",
              "| condition | " + " | ".join(f"`{n}`" for n in models) + " |", "|---|" + "---|" * len(models)]
    for k in keys:
        cells = [f"{100 * m['violations']['nonempty_truth'][k]:.2f} / {100 * m['violations']['empty_truth'][k]:.2f}"
                 for m in models.values()]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


#: Patch sets loaded by this process, by data configuration.
_DATA: dict = {}


def _job(name: str, seed: int, quick: bool, full: bool, progress: bool, compile: bool = False, device: str = "cpu"):
    """Train and evaluate one (model, seed): the unit of work of :func:`run` (picklable, for worker processes).

    Data come from the patch cache (``load_patches``), so a worker process
    reads them rather than computing them again. The model is trained
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
    model = trained_surrogate(base=name, quick=quick, seed=seed, progress=progress, cache=False,
                              data={"train": data["train"], "val": data["val"]}, compile=compile, device=device)
    metrics = evaluate_surrogate(model, test, attack=config["attack"], gradient_patches=config["gradient_patches"],
                                 full=full)
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
    # Longest first (seed 0 also runs the attack and the gradient measures): the workers finish together.
    work.sort(key=lambda item: -EXPECTED_SECONDS.get(item[0], 0) - 30 * item[2])
    if jobs > 1:
        from tqdm.auto import tqdm

        # one torch thread per worker; the workers are ours: reuse freed tensors rather than page-faulting them in anew
        with spawn_pool(jobs, keep_freed=True) as pool:
            futures = {(name, seed): pool.submit(_job, name, seed, quick, full, False, compile, device)
                       for name, seed, full in work}
            done = {}
            for key in tqdm(futures, desc="models x seeds", disable=not progress):
                done[key] = futures[key].result()
    else:
        done = {(name, seed): _job(name, seed, quick, full, progress, compile, device) for name, seed, full in work}
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
        entry = {
            "contains": row["contains"],
            "settings": first_settings,
            "seeds": list(config["seeds"]),
            "r2": {f: _mean_std([m["r2"][f] for m in per_seed])["mean"] for f in FUNCTIONAL_NAMES},
            "r2_std": {f: _mean_std([m["r2"][f] for m in per_seed])["std"] for f in FUNCTIONAL_NAMES},
            "mae": {f: _mean_std([m["mae"][f] for m in per_seed])["mean"] for f in FUNCTIONAL_NAMES},
            "mae_std": {f: _mean_std([m["mae"][f] for m in per_seed])["std"] for f in FUNCTIONAL_NAMES},
            "per_seed": [{"seed": seed, "r2": m["r2"], "mae": m["mae"], "train_seconds": m["train_seconds"],
                          "best_step": m["best_step"]} for seed, m in zip(config["seeds"], per_seed)],
            "r2_per_threshold": per_seed[0]["r2_per_threshold"],
            "violations": {g: {c: _mean_std([m["violations"][g][c] for m in per_seed])["mean"]
                               for c in per_seed[0]["violations"][g]} for g in ("empty_truth", "nonempty_truth")},
            "lipschitz_certified": per_seed[0]["lipschitz_certified"],
            "lipschitz_attacked": per_seed[0]["lipschitz_attacked"],
            "attack": per_seed[0]["attack"],
            "gradient": per_seed[0]["gradient"],
            "parameters": first_parameters,
            "train_seconds": _mean_std([m["train_seconds"] for m in per_seed])["mean"],
        }
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
        description="The surrogate ablation: what is learnt, what is built in (estimator, additive, additive_learnt, "
                    "conventional_plain, conventional_sn, conventional_certified).",
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
