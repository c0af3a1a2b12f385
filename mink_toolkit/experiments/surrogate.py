"""``python -m mink_toolkit reproduce surrogate [--quick] [--output DIR]``.

Trains the three surrogates of :mod:`mink_toolkit.surrogate` on the 2018
Odyssey patches (early stopping on the last two hours) and evaluates them
on the 2024 NIMBUS patches:

``cnn``
    ``lipschitz=False, constrained=False``: the plain CNN baseline.
``lipschitz``
    ``lipschitz=True, constrained=False``: the unconstrained Lipschitz baseline.
``constrained``
    ``lipschitz=True, constrained=True``: certified bound and hard constraints.
``conventional_cnn``
    :class:`mink_toolkit.surrogate.ConventionalSurrogate` with
    ``lipschitz=False, constrained=False``: a conventional CNN of the paper's
    kind (strided convolutions, global mean pooling, dense layers, linear
    head), trained on whole patches, for the comparison of accuracy against
    parameter count and CPU time with the additive architecture above.

Writes ``DIR/surrogate.json`` (``{"models": {name: M}}``, each ``M`` with
``r2`` and ``mae`` keyed by functional, ``violations``,
``lipschitz_certified``, ``lipschitz_empirical``, ``train_seconds``,
``parameters`` and more),
``DIR/surrogate.md`` (the tables) and ``DIR/checkpoints/<name>.pt``.
``--quick`` uses a few files and steps (a smoke test, seconds); the default
is the reference configuration.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..datasets import load_patches
from ..functionals import DEFAULT_THRESHOLDS, FUNCTIONAL_NAMES, compress_functionals
from ..io.registry import cache_dir
from ..metrics import high_wavenumber_share, r2_score
from ..surrogate import (
    ARCHITECTURES,
    empirical_lipschitz,
    geometric_violations,
    gradient_maps,
    lipschitz_upper_bound,
    load_surrogate,
    normalise_rain,
    predict_functionals,
    save_surrogate,
    train_surrogate,
)

__all__ = [
    "MODEL_SETTINGS",
    "CONFIGS",
    "trained_surrogate",
    "evaluate_surrogate",
    "run",
    "main",
]

#: The models compared: keyword arguments of MinkowskiSurrogate, or of ConventionalSurrogate
#: where ``architecture`` is "conventional" (that one uses the ``conventional_*`` configuration).
MODEL_SETTINGS = {
    "cnn": {"lipschitz": False, "constrained": False},
    "lipschitz": {"lipschitz": True, "constrained": False},
    "constrained": {"lipschitz": True, "constrained": True},
    "conventional_cnn": {"architecture": "conventional", "lipschitz": False, "constrained": False},
}

#: Reference (full) and quick configurations.
CONFIGS = {
    "full": {
        "data": {"train": None, "val": None, "test": None},
        "model": {"width": 16, "depth": 3, "levels": 4, "local_lipschitz": 16.0},
        "train": {"steps": 400, "batch_size": 32, "crop_size": 32, "lr": 5e-3, "eval_every": 50,
                  "patience": 3, "val_patches": 32},
        # The conventional CNN sees whole 128 x 128 patches (it is tied to one field size).
        "conventional_model": {"channels": (16, 32, 64, 64), "hidden": (128,)},
        "conventional_train": {"steps": 4000, "batch_size": 32, "crop_size": 128, "lr": 5e-3, "eval_every": 200,
                               "patience": 5, "val_patches": 32},
        "lipschitz_patches": 4,
        "lipschitz_steps": 30,
        "gradient_patches": 16,
    },
    "quick": {
        "data": {"train": 1, "val": 1, "test": 1},
        "model": {"width": 4, "depth": 2, "levels": 2, "local_lipschitz": 16.0},
        "train": {"steps": 20, "batch_size": 8, "crop_size": 24, "lr": 5e-3, "eval_every": 10,
                  "patience": 2, "val_patches": 4},
        "conventional_model": {"channels": (4, 8), "hidden": (8,)},
        "conventional_train": {"steps": 10, "batch_size": 4, "crop_size": 128, "lr": 5e-3, "eval_every": 5,
                               "patience": 2, "val_patches": 4},
        "lipschitz_patches": 1,
        "lipschitz_steps": 3,
        "gradient_patches": 2,
        "test_patches": 8,
    },
}

#: Gradient maps: power above this frequency (cycles per pixel) counts as "high wavenumber".
HIGH_WAVENUMBER_CUTOFF = 0.25


def trained_surrogate(settings: dict | None = None, *, quick: bool = False, seed: int = 0, progress: bool = False,
                      cache: bool = True):
    """A surrogate trained by :func:`~mink_toolkit.surrogate.train_surrogate` with this experiment's protocol.

    The one way the drivers obtain a trained surrogate: the super-resolution
    experiment's loss terms come from here, so the surrogate used as a loss
    is trained exactly like the ones this experiment evaluates (same data
    splits: 2018 Odyssey, early stopping on its last two hours; same
    trainer, loss, augmentation and configuration).

    Parameters
    ----------
    settings : dict, optional
        Model settings on top of the configuration's, as in
        :data:`MODEL_SETTINGS` (``architecture`` included), e.g.
        ``{"lipschitz": True, "constrained": True, "local_lipschitz": 4.0}``.
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

    Returns
    -------
    MinkowskiSurrogate or ConventionalSurrogate
        In eval mode.
    """
    import hashlib

    config = CONFIGS["quick" if quick else "full"]
    settings = dict(MODEL_SETTINGS["constrained"] if settings is None else settings)
    architecture = settings.pop("architecture", "additive")
    prefix = "conventional_" if architecture == "conventional" else ""
    torch.manual_seed(seed)
    model = ARCHITECTURES[architecture](DEFAULT_THRESHOLDS, **{**config[prefix + "model"], **settings})
    data = {s: load_patches(s, DEFAULT_THRESHOLDS, max_files=config["data"][s], progress=progress)
            for s in ("train", "val")}
    digest = hashlib.sha256()
    for split in ("train", "val"):
        digest.update(np.ascontiguousarray(data[split].rain).tobytes())
    key_source = json.dumps({"model": model.config(), "train": config[prefix + "train"], "seed": seed,
                             "data": digest.hexdigest(), "format": 1}, sort_keys=True, default=str)
    path = cache_dir() / "surrogates" / f"surrogate-{hashlib.sha256(key_source.encode()).hexdigest()[:20]}.pt"
    if cache and path.is_file():
        try:
            return load_surrogate(path, config=model.config())
        except ValueError:  # a stale or corrupt cache entry: train again and overwrite it
            pass
    history = train_surrogate(model, data["train"], data["val"], seed=seed, progress=progress,
                              **config[prefix + "train"])
    if cache:
        save_surrogate(model, path, metadata={"best_step": history.best_step, "train_seconds": history.train_seconds})
    return model.eval()


def evaluate_surrogate(model, test, *, lipschitz_patches: int = 4, lipschitz_steps: int = 30,
                       gradient_patches: int = 16) -> dict:
    """Accuracy, violations, Lipschitz constants and gradient smoothness on a test set.

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
    test : mink_toolkit.datasets.PatchSet
    lipschitz_patches, lipschitz_steps : int
        Pairs and steps of :func:`mink_toolkit.surrogate.empirical_lipschitz`.
    gradient_patches : int
        Patches for the gradient-smoothness measure.

    Returns
    -------
    dict
        ``r2``, ``mae`` (pooled, log1p space, keyed by functional),
        ``r2_per_threshold``, ``mae_per_threshold`` (lists), ``violations``,
        ``lipschitz_certified``, ``lipschitz_empirical``,
        ``gradient_high_wavenumber_share``, ``gradient_max_abs`` and
        ``gradient_rms`` (of the loss gradient maps, per mm/h).
    """
    pred, comps = predict_functionals(model, test.rain)
    size = test.rain.shape[-2:]
    p = compress_functionals(pred).numpy()
    t = compress_functionals(torch.as_tensor(test.functionals)).numpy()
    out = {"r2": {}, "mae": {}, "r2_per_threshold": {}, "mae_per_threshold": {}}
    for j, name in enumerate(FUNCTIONAL_NAMES):
        out["r2"][name] = r2_score(p[..., j], t[..., j])
        out["mae"][name] = float(np.abs(p[..., j] - t[..., j]).mean())
        out["r2_per_threshold"][name] = [r2_score(p[:, k, j], t[:, k, j]) for k in range(p.shape[1])]
        out["mae_per_threshold"][name] = [float(np.abs(p[:, k, j] - t[:, k, j]).mean()) for k in range(p.shape[1])]
    out["violations"] = geometric_violations(pred, size, pixel_size=model.pixel_size, components=comps)
    out["lipschitz_certified"] = lipschitz_upper_bound(model, tuple(size))
    # Start the ascent from the wettest patches: that is where the steps are.
    wettest = np.argsort(-test.functionals[:, 0, 0], kind="stable")
    z = normalise_rain(torch.as_tensor(test.rain[wettest[:lipschitz_patches]], dtype=torch.float32)[:, None])
    out["lipschitz_empirical"] = empirical_lipschitz(model, z, steps=lipschitz_steps)
    pick = wettest[:gradient_patches]
    maps = gradient_maps(model, test.rain[pick], test.functionals[pick], model.thresholds)
    out["gradient_high_wavenumber_share"] = high_wavenumber_share(maps, HIGH_WAVENUMBER_CUTOFF)
    # What a Lipschitz cap bounds is the gradient's size, not its spectrum: report peak and RMS too.
    out["gradient_max_abs"] = float(np.abs(maps).max())
    out["gradient_rms"] = float(np.sqrt(np.mean(maps**2)))
    return out


def _markdown(results: dict, thresholds) -> str:
    models = results["models"]
    lines = ["# Surrogate of the Minkowski functionals: results", ""]
    lines += [f"Test: {results['data']['test_patches']} patches of 2024-11-26 NIMBUS rain rate; "
              f"train {results['data']['train_patches']} / validation {results['data']['val_patches']} "
              f"patches of 2018-08-24 Odyssey. R² and MAE in log1p space (signed for χ), pooled over "
              f"patches and {len(thresholds)} thresholds ({thresholds[0]:g}–{thresholds[-1]:g} mm/h).", ""]
    lines += ["| model | R² area | R² perimeter | R² χ | MAE area | MAE perimeter | MAE χ | fields with a violation | "
              "certified Lipschitz | empirical Lipschitz | gradient high-k share | gradient max / RMS | parameters | "
              "train s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        cert = m["lipschitz_certified"]
        lines.append(
            f"| {name} | " + " | ".join(f"{m['r2'][f]:.4f}" for f in FUNCTIONAL_NAMES) + " | "
            + " | ".join(f"{m['mae'][f]:.3f}" for f in FUNCTIONAL_NAMES)
            + f" | {100 * m['violations']['any']:.1f} % | {cert:.4g} | {m['lipschitz_empirical']:.4g} | "
            f"{m['gradient_high_wavenumber_share']:.3f} | {m['gradient_max_abs'] / m['gradient_rms']:.1f} | "
            f"{m['parameters']} | {m['train_seconds']:.0f} |"
        )
    keys = [k for k in next(iter(models.values()))["violations"] if k != "any"]
    lines += ["", "Lipschitz constants in normalised input units (z = log10(1 + x / 0.01 mm/h)), 128 × 128 fields; "
              "empirical = largest ratio found by gradient ascent. Gradient smoothness: share of the variance of "
              "∇x loss above 0.25 cycles/pixel, and peak-to-RMS ratio of ∇x loss (spikiness). "
              "cnn, lipschitz, constrained: the additive architecture (local features, soft steps, global sum "
              "pooling; trained on 32 × 32 crops); conventional_cnn: strided convolutions, global mean pooling, "
              "dense layers (the paper's kind; trained on whole patches). The certified constants of the two "
              "architectures bound different feature maps and are not comparable with each other. "
              "Train s: wall-clock seconds of training, validation included."]
    lines += ["", "Violation fraction per constraint (of field × threshold entries):", "",
              "| constraint | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{100 * m['violations'][k]:.2f} %" for m in models.values()) + " |")
    lines += ["", "R² per threshold (log1p space):", "",
              "| u (mm/h) | " + " | ".join(f"{n} {f[:5]}" for n in models for f in FUNCTIONAL_NAMES) + " |",
              "|---|" + "---|" * (3 * len(models))]
    for k, u in enumerate(thresholds):
        cells = [f"{m['r2_per_threshold'][f][k]:.3f}" for m in models.values() for f in FUNCTIONAL_NAMES]
        lines.append(f"| {u:.3g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(output: Path, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Train, evaluate, and write ``surrogate.json``, ``surrogate.md`` and checkpoints.

    Parameters
    ----------
    output : Path
        Folder for the results (created).
    quick : bool
        Small data and few steps (smoke test).
    seed : int
    progress : bool

    Returns
    -------
    dict
        The content of ``surrogate.json``.
    """
    config = CONFIGS["quick" if quick else "full"]
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    thresholds = DEFAULT_THRESHOLDS
    data = {s: load_patches(s, thresholds, max_files=config["data"][s], progress=progress)
            for s in ("train", "val", "test")}
    test = data["test"]
    if "test_patches" in config:
        test = test.subset(slice(0, config["test_patches"]))
    results = {
        "config": {k: v for k, v in config.items() if k != "data"} | {"quick": quick, "seed": seed},
        "thresholds": [float(u) for u in thresholds],
        "data": {"train_patches": len(data["train"]), "val_patches": len(data["val"]), "test_patches": len(test)},
        "models": {},
    }
    for name, settings in MODEL_SETTINGS.items():
        settings = dict(settings)
        architecture = settings.pop("architecture", "additive")
        prefix = "conventional_" if architecture == "conventional" else ""
        torch.manual_seed(seed)
        model = ARCHITECTURES[architecture](thresholds, **settings, **config[prefix + "model"])
        history = train_surrogate(model, data["train"], data["val"], seed=seed, progress=progress,
                                  **config[prefix + "train"])
        started = time.perf_counter()
        metrics = evaluate_surrogate(
            model, test, lipschitz_patches=config["lipschitz_patches"],
            lipschitz_steps=config["lipschitz_steps"], gradient_patches=config["gradient_patches"],
        )
        metrics["train_seconds"] = history.train_seconds
        metrics["parameters"] = sum(p.numel() for p in model.parameters())
        metrics["eval_seconds"] = time.perf_counter() - started
        metrics["best_step"] = history.best_step
        metrics["settings"] = model.config()
        results["models"][name] = metrics
        save_surrogate(model, output / "checkpoints" / f"surrogate_{name}.pt",
                       metadata={"history": history.history, "best_step": history.best_step})
        if progress:
            print(f"{name}: R² " + ", ".join(f"{f} {metrics['r2'][f]:.3f}" for f in FUNCTIONAL_NAMES)
                  + f"; fields with violations {100 * metrics['violations']['any']:.1f} %; "
                  f"train {history.train_seconds:.0f} s", flush=True)
    (output / "surrogate.json").write_text(json.dumps(results, indent=2))
    (output / "surrogate.md").write_text(_markdown(results, thresholds))
    return results


def main(argv: list[str]) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit reproduce surrogate",
        description="Train and evaluate the Minkowski-functional surrogates (plain CNN, Lipschitz, constrained, "
                    "conventional CNN).",
    )
    parser.add_argument("--quick", action="store_true", help="a few files and steps (smoke test)")
    parser.add_argument("--output", default="results", help="output folder (default: results/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    results = run(Path(args.output), quick=args.quick, seed=args.seed, progress=not args.no_progress)
    print(_markdown(results, results["thresholds"]))
    print(f"wrote {Path(args.output) / 'surrogate.json'} and surrogate.md")
    return 0
