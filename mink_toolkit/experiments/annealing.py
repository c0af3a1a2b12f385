"""``python -m mink_toolkit reproduce annealing [--quick] [--output DIR]``: does the relaxation need annealing?

Notebook 02's optimisation experiment, under controls. A rain field is
optimised (Adam on log rain) so that its **relaxed** functionals
(:func:`~mink_toolkit.losses.minkowski_loss`, product t-norm, 8-connected χ,
edge perimeter, T = c·u with ``relative=True``) match a target's **exact**
ones; success is the **exact** distance of the result
(:func:`~mink_toolkit.minkowski_functionals` and
:func:`~mink_toolkit.losses.functional_distance`), evaluated every few steps.
Every temperature rule gets the same crops, starts, optimiser, learning rate
and step budget.

Targets
    32 × 32 crops of the 2018-08-24 Odyssey **training** patches
    (:func:`~mink_toolkit.datasets.load_patches` ``("train")``; validation and
    test files are not read), chosen by a fixed rule (:func:`select_crops`):
    each 128 × 128 patch is cut into its 16 tiles; a tile is *eligible* when
    its wet fraction at the lowest threshold is within ``wet_fraction`` and
    its maximum reaches ``min_max`` mm/h (structure at many thresholds); of
    the patches with at least ``crops_per_patch`` eligible tiles (in time
    order), ``patches`` are taken at evenly spaced positions, and from each
    the ``crops_per_patch`` eligible tiles whose wet fraction is nearest 1/2.
Starts (never a dry field)
    ``coarse``: the target's 4 × 4 block means, upsampled bicubically
    (:func:`~mink_toolkit.superres.baselines.upsample`, clamped at 0), the
    super-resolution setting; ``blurred``: the target under a Gaussian blur
    (σ = 2 pixels). Both are floored at ``floor`` mm/h (below every threshold:
    dry) so that their log exists, and jittered by a seeded log-normal factor
    (σ = ``jitter``) that breaks ties between equal pixels.
Temperature rules (relative, T/u)
    fixed values from 0.005 to 1; the paper's exponential 0.1·max(0.05,
    e^(−3 s/S)) with S = steps − 1, so it reaches its floor 0.005 at the
    last step; a half-cosine from 0.1 to 0.005; the exponential notebook 02
    used before this study, 0.5·max(0.01, e^(−3 s/steps)) (it never reaches
    its floor and ends at about 0.025); a half-cosine from 0.5 to 0.005
    (notebook 02's exercise 1). Notebook 02 runs a small version of this
    study with these functions.
Reported
    per crop, start and rule: the final exact distance and the median of
    the exact distance over the trajectory (every ``eval_every`` steps, the
    start excluded); per start and rule: median and quartiles of the final
    distance over crops, median of the trajectory medians, and for each
    annealed rule the share of crops on which it ends strictly closer than
    the best fixed T (chosen by its median final distance on these same
    crops, so an optimistic choice for the fixed T) and than every fixed T;
    the relaxed loss of the target itself at each rule's final T (what a
    perfect optimiser would still see: the relaxation's bias); and the
    relaxation's R² against the exact functionals (pooled over fields and
    thresholds, in the loss space of
    :func:`~mink_toolkit.functionals.compress_functionals`) on the crops at the
    optimisation's thresholds and on evenly spaced training patches at the
    21 :data:`~mink_toolkit.thresholds.DEFAULT_THRESHOLDS`.

Writes ``DIR/annealing.json`` and ``DIR/annealing.md`` (the tables, also
printed by ``--markdown DIR/annealing.json``; ``--readme README.md`` writes
them into the block ``<!-- annealing:begin -->`` … ``<!-- annealing:end -->``).
``--quick`` uses one training file, a few crops and few steps (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..datasets import load_patches
from ..functionals import FUNCTIONAL_NAMES, compress_functionals, minkowski_functionals
from ..losses import functional_distance, minkowski_loss
from ..relax import soft_minkowski_functionals
from ..reporting import json_default, replace_readme_block
from ..resample import block_mean
from ..schedules import ConstantSchedule, CosineSchedule, ExponentialSchedule
from ..superres.baselines import upsample
from ..thresholds import DEFAULT_THRESHOLDS, offset_from_grid
from ..verification import r2_score

__all__ = ["CONFIGS", "STARTS", "select_crops", "make_starts", "temperature_rules", "optimise", "relaxation_r2",
           "summarise", "markdown", "run", "main"]

#: The start fields, described as the JSON and the tables say it.
STARTS = {
    "coarse": "the target's 4 × 4 block means, upsampled bicubically and clamped at 0",
    "blurred": "the target blurred by a Gaussian of σ = 2 pixels",
}


#: Full and quick configurations. Temperatures are relative (T = c·u, ``relative=True``).
CONFIGS = {
    "full": {
        "seed": 0,
        "max_files": None,
        "crop": 32,
        "patches": 8,
        "crops_per_patch": 3,
        "eligible": {"wet_fraction": (0.25, 0.75), "min_max": 2.0},
        # Notebook 02's thresholds: 8 log-spaced from 0.2 to 5 mm/h, half a quantum off the 0.01 mm/h grid.
        "levels": {"low": 0.2, "high": 5.0, "n": 8},
        "starts": ("coarse", "blurred"),
        "coarse_factor": 4,
        "blur_sigma": 2.0,
        "floor": 0.01,
        "jitter": 0.05,
        "steps": 200,
        "lr": 0.05,
        "eval_every": 5,
        "fixed": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0),
        "annealed": ("exponential_paper", "cosine", "exponential_notebook", "cosine_hot"),
        "r2_temperatures": (1.0, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005),
        "r2_patches": 32,
    }
}
#: The smoke test: one file, 4 crops, few steps, the fixed temperatures' two ends and a moderate one.
CONFIGS["quick"] = dict(CONFIGS["full"], max_files=1, patches=2, crops_per_patch=2, steps=30, fixed=(0.005, 0.05, 1.0),
                        r2_temperatures=(0.1, 0.05, 0.01, 0.005), r2_patches=4)

#: The annealed rules: a description and the schedule of the relative temperature over ``steps`` steps.
ANNEALED = {
    "exponential_paper": (
        "the paper's: 0.1 · max(0.05, exp(−3 s/S)), S = steps − 1",
        lambda steps: (0.1, ExponentialSchedule(max(steps - 1, 1), rate=3.0, floor=0.05))),
    "cosine": (
        "half-cosine from 0.1 to 0.005 over S = steps − 1",
        lambda steps: (1.0, CosineSchedule(max(steps - 1, 1), start=0.1, end=0.005))),
    "exponential_notebook": (
        "notebook 02's former schedule: 0.5 · max(0.01, exp(−3 s/steps)); never reaches its floor",
        lambda steps: (0.5, ExponentialSchedule(steps, rate=3.0, floor=0.01))),
    "cosine_hot": (
        "half-cosine from 0.5 to 0.005 over S = steps − 1 (notebook 02's exercise 1)",
        lambda steps: (1.0, CosineSchedule(max(steps - 1, 1), start=0.5, end=0.005))),
}


def _levels(config: dict) -> np.ndarray:
    spec = config["levels"]
    return offset_from_grid(np.geomspace(spec["low"], spec["high"], spec["n"]))


def _fixed_name(value: float) -> str:
    return f"fixed {value:g}"


def temperature_rules(config: dict) -> dict:
    """Every rule of a configuration: name -> ``{"kind", "description", "values"}``.

    ``values`` holds the relative temperature T/u at steps 0 … steps − 1
    (the whole rule is computed before the optimisation starts).

    Examples
    --------
    >>> rules = temperature_rules({"steps": 200, "fixed": (0.05,), "annealed": ("exponential_paper",)})
    >>> [round(float(v), 4) for v in rules["exponential_paper"]["values"][[0, -1]]]
    [0.1, 0.005]
    >>> rules["fixed 0.05"]["kind"]
    'fixed'
    """
    steps = int(config["steps"])
    rules = {}
    for value in config["fixed"]:
        schedule = ConstantSchedule(float(value))
        rules[_fixed_name(value)] = {"kind": "fixed", "description": f"T = {value:g} u at every step",
                                     "values": np.array([schedule(s) for s in range(steps)])}
    for name in config["annealed"]:
        description, build = ANNEALED[name]
        scale, schedule = build(steps)
        rules[name] = {"kind": "annealed", "description": description,
                       "values": np.array([scale * schedule(s) for s in range(steps)])}
    return rules


def _tiles(rain: np.ndarray, size: int) -> tuple[np.ndarray, list]:
    """The non-overlapping ``size`` × ``size`` tiles of each field: (N, k, size, size) and their offsets."""
    n, h, w = rain.shape
    offsets = [(r, c) for r in range(0, h - size + 1, size) for c in range(0, w - size + 1, size)]
    return np.stack([rain[:, r:r + size, c:c + size] for r, c in offsets], axis=1), offsets


def select_crops(patches, levels: np.ndarray, config: dict) -> tuple[np.ndarray, list[dict], dict]:
    """Target crops of training patches by the fixed rule of the module notes.

    Parameters
    ----------
    patches : mink_toolkit.datasets.PatchSet
        Training patches, in time order.
    levels : ndarray
        The optimisation's thresholds (mm/h); the wet fraction is taken at the lowest.
    config : dict
        ``crop``, ``patches``, ``crops_per_patch`` and ``eligible``.

    Returns
    -------
    crops : ndarray, shape (n, crop, crop), float64
        mm/h.
    info : list of dict
        Per crop: source file, time, patch index and origin, tile offset, wet fraction, maximum.
    counts : dict
        Patches read, eligible patches, patches and files used.
    """
    size = int(config["crop"])
    low, high = config["eligible"]["wet_fraction"]
    tiles, offsets = _tiles(np.asarray(patches.rain, dtype=np.float64), size)
    wet = (tiles >= levels[0]).mean(axis=(-2, -1))  # (N, k)
    eligible = (wet >= low) & (wet <= high) & (tiles.max(axis=(-2, -1)) >= config["eligible"]["min_max"])
    per_patch = int(config["crops_per_patch"])
    candidates = np.flatnonzero(eligible.sum(1) >= per_patch)
    wanted = int(config["patches"])
    if candidates.size < wanted:
        raise ValueError(f"only {candidates.size} training patches have {per_patch} eligible crops; "
                         f"the configuration asks for {wanted}")
    chosen = candidates[np.unique(np.linspace(0, candidates.size - 1, wanted).round().astype(int))]
    crops, info = [], []
    for p in chosen:
        tiles_p = np.flatnonzero(eligible[p])
        order = tiles_p[np.argsort(np.abs(wet[p, tiles_p] - 0.5), kind="stable")][:per_patch]
        for k in sorted(order):
            crops.append(tiles[p, k])
            info.append({"source": str(patches.source[p]), "time": str(patches.time[p]), "patch": int(p),
                         "patch_origin": [int(v) for v in patches.origin[p]], "offset": list(offsets[k]),
                         "wet_fraction": float(wet[p, k]), "max": float(tiles[p, k].max())})
    counts = {"train_patches": len(patches), "eligible_patches": int(candidates.size), "patches_used": len(chosen),
              "files_used": len({patches.source[p] for p in chosen})}
    return np.stack(crops), info, counts


def make_starts(crops: np.ndarray, config: dict) -> dict:
    """The start fields (mm/h, float64) of each kind in ``config["starts"]``, floored and jittered.

    The jitter is a log-normal factor drawn from ``config["seed"]`` (one draw
    per start kind, in the order of ``config["starts"]``).
    """
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(int(config["seed"]))
    out = {}
    for kind in config["starts"]:
        if kind == "coarse":
            factor = int(config["coarse_factor"])
            field = upsample(block_mean(crops, factor), factor, "bicubic")
        elif kind == "blurred":
            field = np.stack([gaussian_filter(c, float(config["blur_sigma"]), mode="nearest") for c in crops])
        else:
            raise ValueError(f"unknown start {kind!r}; choose from {tuple(STARTS)}")
        jitter = np.exp(float(config["jitter"]) * rng.standard_normal(crops.shape))
        out[kind] = np.maximum(field, float(config["floor"])) * jitter
    return out


def _exact_distance(fields: np.ndarray, target_functionals: torch.Tensor, levels: np.ndarray) -> np.ndarray:
    f = torch.as_tensor(minkowski_functionals(fields, levels))
    return functional_distance(f, target_functionals, levels, reduction="none").numpy()


def optimise(start: np.ndarray, targets: np.ndarray, levels: np.ndarray, temperatures: np.ndarray, *, lr: float,
             eval_every: int, tnorm: str = "product", bar=None) -> dict:
    """Adam on log rain: relaxed functionals of the field towards the targets' exact ones.

    The crops are optimised together, as one batch whose loss is the sum of
    the per-crop losses: Adam's update is element-wise, so each crop follows
    exactly the trajectory it would follow alone.

    Parameters
    ----------
    start, targets : ndarray, shape (n, H, W)
        Start fields (> 0) and targets, mm/h.
    levels : ndarray
        Thresholds, mm/h.
    temperatures : ndarray, shape (steps,)
        Relative temperature T/u at each step.
    lr : float
    eval_every : int
        Steps between evaluations of the exact distance.
    tnorm : {"product", "godel", "lukasiewicz"}, default "product"
        The relaxation's continuous logic (:func:`~mink_toolkit.losses.minkowski_loss`);
        the experiment uses the product t-norm, notebook 02's exercise the others.
    bar : tqdm, optional
        Updated once per step.

    Returns
    -------
    dict
        ``start`` (n,), ``final`` (n,), ``trajectory`` (n, evaluations) exact
        distances at steps ``eval_steps`` (after that many updates), and the
        ``field`` at the end.
    """
    target_functionals = torch.as_tensor(minkowski_functionals(targets, levels))
    target_tensor = torch.as_tensor(targets)
    log_rain = torch.log(torch.as_tensor(start, dtype=torch.float64)).requires_grad_(True)
    optimiser = torch.optim.Adam([log_rain], lr=lr)
    steps = len(temperatures)
    eval_steps = [s for s in range(eval_every, steps + 1, eval_every)]
    if not eval_steps or eval_steps[-1] != steps:
        eval_steps.append(steps)
    trajectory = []
    for step, temperature in enumerate(temperatures, start=1):
        loss = minkowski_loss(log_rain.exp(), target_tensor, levels, float(temperature), relative=True,
                              min_temperature=None, reduction="sum", tnorm=tnorm)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step in eval_steps:
            trajectory.append(_exact_distance(log_rain.detach().exp().numpy(), target_functionals, levels))
        if bar is not None:
            bar.update()
    field = log_rain.detach().exp().numpy()
    return {"start": _exact_distance(start, target_functionals, levels), "final": trajectory[-1],
            "trajectory": np.stack(trajectory, axis=1), "eval_steps": eval_steps, "field": field}


def relaxation_r2(fields: np.ndarray, thresholds: np.ndarray, temperatures) -> dict:
    """R² of the relaxed against the exact functionals at each relative temperature.

    Pooled over fields and thresholds, per functional, in the space of
    :func:`~mink_toolkit.functionals.compress_functionals` (the loss's).

    Returns
    -------
    dict
        ``{str(c): {functional: R²}}`` for each c in ``temperatures``.
    """
    exact = compress_functionals(minkowski_functionals(fields, thresholds))
    x = torch.as_tensor(fields, dtype=torch.float64)
    out = {}
    with torch.no_grad():
        for c in temperatures:
            soft = compress_functionals(soft_minkowski_functionals(x, thresholds, float(c), relative=True)).numpy()
            out[f"{c:g}"] = {name: r2_score(soft[..., j], exact[..., j]) for j, name in enumerate(FUNCTIONAL_NAMES)}
    return out


def _target_bias(targets: np.ndarray, levels: np.ndarray, temperature: float) -> np.ndarray:
    """The relaxed loss of each target against its own exact functionals at T = temperature · u."""
    t = torch.as_tensor(targets)
    with torch.no_grad():
        return minkowski_loss(t, t, levels, float(temperature), relative=True, min_temperature=None,
                              reduction="none").numpy()


def _quartiles(values) -> dict:
    q25, q50, q75 = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return {"median": float(q50), "q25": float(q25), "q75": float(q75)}


def summarise(per_rule: dict, kinds: dict) -> dict:
    """Summaries of one start's per-crop results.

    Parameters
    ----------
    per_rule : dict
        ``{rule: {"final": [per crop], "trajectory_median": [per crop], ...}}``.
    kinds : dict
        ``{rule: "fixed" | "annealed"}``.

    Returns
    -------
    dict
        ``best_fixed`` (the fixed rule with the lowest median final distance;
        the first of equals) and ``rules``: per rule the median and quartiles
        of the final distance (``final``), ``trajectory_median`` (median over
        crops of the per-crop trajectory medians), and for annealed rules
        ``beats_best_fixed``, ``ties_best_fixed`` and ``beats_every_fixed``
        (shares of crops: strictly lower final distance than the best fixed
        rule; equal to it; strictly lower than every fixed rule on that crop).

    Examples
    --------
    >>> per_rule = {"fixed 0.1": {"final": [1.0, 2.0, 3.0], "trajectory_median": [1, 2, 3]},
    ...             "fixed 1": {"final": [5.0, 5.0, 5.0], "trajectory_median": [5, 5, 5]},
    ...             "cosine": {"final": [0.5, 2.0, 4.0], "trajectory_median": [1, 1, 1]}}
    >>> s = summarise(per_rule, {"fixed 0.1": "fixed", "fixed 1": "fixed", "cosine": "annealed"})
    >>> s["best_fixed"], s["rules"]["cosine"]["beats_best_fixed"], s["rules"]["cosine"]["ties_best_fixed"]
    ('fixed 0.1', 0.3333333333333333, 0.3333333333333333)
    """
    fixed = [r for r in per_rule if kinds[r] == "fixed"]
    final = {r: np.asarray(per_rule[r]["final"], dtype=float) for r in per_rule}
    best = min(fixed, key=lambda r: float(np.median(final[r]))) if fixed else None
    every_fixed = np.min(np.stack([final[r] for r in fixed]), axis=0) if fixed else None
    rules = {}
    for r in per_rule:
        entry = {"final": _quartiles(final[r]),
                 "trajectory_median": float(np.median(np.asarray(per_rule[r]["trajectory_median"], dtype=float)))}
        if kinds[r] == "annealed" and best is not None:
            entry["beats_best_fixed"] = float(np.mean(final[r] < final[best]))
            entry["ties_best_fixed"] = float(np.mean(final[r] == final[best]))
            entry["beats_every_fixed"] = float(np.mean(final[r] < every_fixed))
        rules[r] = entry
    return {"best_fixed": best, "rules": rules}


def _share(value: float, n: int) -> str:
    return f"{round(value * n):d}/{n}"


def markdown(results: dict) -> str:
    """The tables of a :func:`run` result (what ``--markdown`` prints and the README includes)."""
    config = results["config"]
    data = results["data"]
    n = len(results["crops"])
    levels = results["levels"]
    lines = [
        f"{n} crops ({config['crop']} × {config['crop']}) of {data['patches_used']} training patches "
        f"({data['files_used']} files of 2018-08-24 Odyssey 18:00–21:45; the test set is not read); "
        f"{len(levels)} thresholds {levels[0]:.3f}–{levels[-1]:.3f} mm/h. Adam (lr {config['lr']:g}) on log rain, "
        f"{config['steps']} steps for every rule, loss `minkowski_loss` (product t-norm, T = c·u); success is the "
        f"exact functional distance to the target (`functional_distance` of `minkowski_functionals`), evaluated "
        f"every {config['eval_every']} steps. Starts are floored at {config['floor']:g} mm/h (dry) and jittered by "
        f"a log-normal factor (σ = {config['jitter']:g}, seed {config['seed']}). "
        f"Distance: median [quartiles] over crops; trajectory: median over "
        f"crops of each crop's median over the evaluations. \"Beats\": share of crops on which an annealed rule ends "
        f"strictly closer than the best fixed T (chosen by median final distance on these crops) / than every "
        f"fixed T. Target's own loss: the relaxed loss of the target itself at the rule's last T (median over "
        f"crops), the bias a perfect optimiser would still see.",
    ]
    for start, summary in results["summaries"].items():
        start_distance = _quartiles(results["start_distance"][start])
        lines += [
            "",
            f"**Start `{start}`** ({STARTS[start]}): exact distance at the start {start_distance['median']:.2f} "
            f"[{start_distance['q25']:.2f}, {start_distance['q75']:.2f}]; best fixed T: "
            f"`{summary['best_fixed']}`.",
            "",
            "| rule | T/u first → last | final distance | trajectory | beats best fixed T (ties) | "
            "beats every fixed T | target's own loss |",
            "|---|---|---|---|---|---|---|",
        ]
        for rule, entry in summary["rules"].items():
            info = results["rules"][rule]
            f = entry["final"]
            beats = every = "–"
            if "beats_best_fixed" in entry:
                beats = f"{_share(entry['beats_best_fixed'], n)} ({_share(entry['ties_best_fixed'], n)})"
                every = _share(entry["beats_every_fixed"], n)
            lines.append(
                f"| `{rule}` | {info['first']:.3g} → {info['last']:.3g} | {f['median']:.2f} [{f['q25']:.2f}, "
                f"{f['q75']:.2f}] | {entry['trajectory_median']:.2f} | {beats} | {every} | "
                f"{info['target_loss_median']:.3f} |")
    r2 = results["relaxation_r2"]
    lines += [
        "",
        f"Relaxation R² against the exact functionals (pooled over fields and thresholds, log1p space, "
        f"signed for χ): "
        f"the {n} crops at the {len(levels)} thresholds above, and {r2['patches_used']} training patches "
        f"(128 × 128, evenly spaced in time) at the {len(r2['thresholds'])} thresholds "
        f"{r2['thresholds'][0]:.3f}–{r2['thresholds'][-1]:.3f} mm/h.",
        "",
        "| T/u | crops: R² A | R² P | R² χ | patches: R² A | R² P | R² χ |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in r2["crops"]:
        row = [f"{r2[group][c][name]:.4f}" for group in ("crops", "patches") for name in FUNCTIONAL_NAMES]
        lines.append(f"| {c} | " + " | ".join(row) + " |")
    lines += ["", f"Run time {results['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def run(output: Path, *, quick: bool = False, progress: bool = True) -> dict:
    """Run the experiment and write ``annealing.json`` and ``annealing.md``.

    Parameters
    ----------
    output : Path
        Folder for the results (created).
    quick : bool
        One training file, a few crops and few steps (smoke test).
    progress : bool
        Progress bars (data loading, the optimisations).

    Returns
    -------
    dict
        The content of ``annealing.json``.
    """
    from tqdm.auto import tqdm

    config = CONFIGS["quick" if quick else "full"]
    started = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    levels = _levels(config)
    patches = load_patches("train", DEFAULT_THRESHOLDS, max_files=config["max_files"], progress=progress)
    crops, info, counts = select_crops(patches, levels, config)
    starts = make_starts(crops, config)
    rules = temperature_rules(config)
    kinds = {name: rule["kind"] for name, rule in rules.items()}
    results = {
        "config": dict(config) | {
            "quick": quick, "n_crops": len(crops),
            "optimiser": "Adam on log rain, the crops as one batch (loss summed)",
            "loss": "minkowski_loss, product t-norm, relative=True, min_temperature=None",
            "temperatures": {"unit": "T/u (relative=True)", "fixed": list(config["fixed"]),
                             "annealed": {name: ANNEALED[name][0] for name in config["annealed"]}},
        },
        "levels": [float(u) for u in levels],
        "data": counts,
        "crops": info,
        "starts": {k: STARTS[k] for k in config["starts"]},
        "rules": {},
        "start_distance": {},
        "eval_steps": None,
        "per_crop": {},
        "summaries": {},
    }
    for name, rule in rules.items():
        values = rule["values"]
        results["rules"][name] = {
            "kind": rule["kind"], "description": rule["description"], "first": float(values[0]),
            "last": float(values[-1]), "values": values.tolist(),
            # the first step (0-based) at the final temperature: where an annealed rule reaches its floor
            "reaches_last_at": int(np.flatnonzero(values == values[-1])[0]),
            "target_loss_median": float(np.median(_target_bias(crops, levels, values[-1]))),
        }
    torch.manual_seed(int(config["seed"]))  # nothing below draws from torch; set for any future change
    total = len(config["starts"]) * len(rules) * int(config["steps"])
    with tqdm(total=total, desc=f"{len(rules)} rules × {len(config['starts'])} starts × {len(crops)} crops",
              unit="step", disable=not progress) as bar:
        for kind in config["starts"]:
            per_rule = {}
            for name, rule in rules.items():
                out = optimise(starts[kind], crops, levels, rule["values"], lr=float(config["lr"]),
                               eval_every=int(config["eval_every"]), bar=bar)
                results["eval_steps"] = out["eval_steps"]
                results["start_distance"][kind] = out["start"].tolist()
                per_rule[name] = {"final": out["final"].tolist(),
                                  "trajectory_median": np.median(out["trajectory"], axis=1).tolist(),
                                  "trajectory": out["trajectory"].tolist()}
            results["per_crop"][kind] = per_rule
            results["summaries"][kind] = summarise(per_rule, kinds)
    stride = max(1, len(patches) // int(config["r2_patches"]))
    pick = np.arange(0, len(patches), stride)[: int(config["r2_patches"])]
    results["relaxation_r2"] = {
        "crops": relaxation_r2(crops, levels, config["r2_temperatures"]),
        "patches": relaxation_r2(np.asarray(patches.rain[pick], dtype=np.float64), DEFAULT_THRESHOLDS,
                                 config["r2_temperatures"]),
        "patches_used": int(pick.size),
        "thresholds": [float(u) for u in DEFAULT_THRESHOLDS],
    }
    results["seconds"] = time.perf_counter() - started
    (output / "annealing.json").write_text(json.dumps(results, indent=1, default=json_default))
    (output / "annealing.md").write_text(markdown(results))
    return results


def main(argv: list[str]) -> int:
    """Command-line entry point (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit reproduce annealing",
        description="Does the relaxation need annealing? Fixed and annealed temperatures on many training crops "
                    "and two structured starts, judged by the exact functional distance; and the relaxation's R² "
                    "per temperature.",
    )
    parser.add_argument("--quick", action="store_true", help="one training file, 4 crops, 30 steps (smoke test)")
    parser.add_argument("--output", default="results", help="output folder (default: results/)")
    parser.add_argument("--markdown", metavar="JSON", default=None,
                        help="print the tables of an existing annealing.json and exit (the README's source)")
    parser.add_argument("--readme", metavar="MD", default=None,
                        help="with --markdown: write the tables into the block '<!-- annealing:begin -->' … "
                             "'<!-- annealing:end -->' of this file instead of printing them")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.readme is not None and args.markdown is None:
        parser.error("--readme needs --markdown JSON")
    if args.markdown is not None:
        tables = markdown(json.loads(Path(args.markdown).read_text()))
        if args.readme is not None:
            replace_readme_block(args.readme, "annealing", tables)
            print(f"wrote the tables of {args.markdown} into {args.readme}")
        else:
            print(tables, end="")
        return 0
    results = run(Path(args.output), quick=args.quick, progress=not args.no_progress)
    print(markdown(results), end="")
    print(f"wrote {Path(args.output) / 'annealing.json'} and annealing.md ({results['seconds']:.0f} s)")
    return 0
