"""The protocol of ``reproduce superres`` (:func:`run_superres_experiment`), step by step.

1. load the three splits (:func:`_load_splits`) and score the baselines on
   validation and test (:func:`_baselines`);
2. select on validation: the architecture of ``unet_mse``
   (:func:`_select_architecture`), then λ of the Minkowski term for the U-Net
   and the generator (:func:`_select_lambdas`), then the Lipschitz cap of the
   surrogate term, while the final runs that do not depend on it already run
   (:func:`_final_runs`);
3. aggregate the final runs over seeds (:func:`_model_entries`), judge gaming
   against noise floors, and write the JSON and the tables.

The order of the jobs, their seeds and their settings are the protocol's:
the numbers of a run depend on them, not on the number of workers.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ... import verification as metrics
from ..._runtime import compile_backend
from ...datasets import superres_split
from ...reporting import aggregate, json_default
from ...superres import conserve_mass, upsample
from ...verification import gaming_verdicts, noise_floors
from .config import BASELINES, DETERMINISTIC, FULL, GENERATORS, MODEL_NAMES, QUICK, SuperresConfig  # noqa: F401
from .jobs import _Runner, per_patch_scores, training_subset
from .selection import _flat_scores, _mean_rows, _select_term, _sweep_row
from .tables import markdown_tables

__all__ = ["run_superres_experiment"]


def _load_splits(config: SuperresConfig, log):
    """Train, validation and test patches (:func:`~mink_toolkit.datasets.superres_split`), each with its own seed."""
    log("loading data: train 2018 Odyssey 18:00-21:45, validation 22:00-23:45, test 2024 NIMBUS")
    kw = dict(factor=config.factor)
    train = superres_split("train", files=config.train_files, max_patches=config.max_train_patches, seed=0, **kw)
    val = superres_split("val", files=config.val_files, max_patches=config.max_val_patches, seed=1, **kw)
    test = superres_split("test", files=config.test_files, max_patches=config.max_test_patches, seed=2, **kw)
    log(f"  {len(train)} training, {len(val)} validation, {len(test)} test patches")
    return train, val, test


def _baselines(config: SuperresConfig, val, test) -> dict:
    """Baselines on validation (selection reference) and test (the table): ``{split: {name: (field, scores)}}``,
    and ``"per_patch"``: ``{name: per-patch test scores}``."""
    baseline = {}
    for split, data in (("val", val), ("test", test)):
        c = data.coarse.astype(np.float64)
        bic = upsample(c, config.factor, "bicubic")
        # exactly the untrained mass-conserving network: conserve_mass(bicubic)
        fields = {"nearest": upsample(c, config.factor, "nearest"), "bicubic": bic,
                  "bicubic_mass": conserve_mass(torch.from_numpy(bic)[:, None],
                                                torch.from_numpy(c)[:, None], config.factor)[:, 0].numpy()}
        baseline[split] = {name: (field, metrics.superres_scores(field, data.fine, factor=config.factor))
                           for name, field in fields.items()}
    baseline["per_patch"] = {name: per_patch_scores(field, test.fine) for name, (field, _) in baseline["test"].items()}
    return baseline


#: Paired differences the tables and notebook 04 rely on: (model, reference); relative, model/reference - 1.
DIFFERENCES = (("unet_mse", "bicubic_mass"), ("unet_minkowski", "unet_mse"),
               ("unet_surrogate_lipschitz", "unet_mse"), ("unet_surrogate_unconstrained", "unet_mse"))


def _relative_difference(metric):
    """model/reference - 1 of a pooled score from per-patch values (a, b): MAE, RMSE, MF error."""
    def mean(x):
        return np.sqrt(x.mean()) if metric == "squared_error" else x.mean()
    return lambda a, b: float(mean(a) / mean(b) - 1)


def _differences(per_patch: dict, seeds, n_resamples: int) -> dict:
    """Bootstrap intervals (95 %, over test patches, paired) of the relative differences in :data:`DIFFERENCES`.

    ``per_patch[name]`` is one dict of per-patch arrays (a baseline) or a
    list of them (one per seed); seed s of a network is compared with seed
    s of a network reference. Per seed: ``{"value", "low", "high", "std"}``
    of model/reference − 1 for ``mae``, ``rmse`` and ``minkowski_error``.
    """
    out = {}
    for name, ref in DIFFERENCES:
        if name not in per_patch or ref not in per_patch:
            continue
        entry = {}
        for metric, key in (("mae", "abs_error"), ("rmse", "squared_error"), ("minkowski_error", "minkowski_error")):
            rows = []
            for k, _ in enumerate(seeds):
                a = per_patch[name][k][key]
                b = per_patch[ref][k][key] if isinstance(per_patch[ref], list) else per_patch[ref][key]
                rows.append(metrics.bootstrap_interval(_relative_difference(key), a, b, n_resamples=n_resamples,
                                                       seed=k))
            entry[metric] = {"per_seed": rows,
                             "below_zero_every_seed": all(r["high"] < 0 for r in rows),
                             "above_zero_every_seed": all(r["low"] > 0 for r in rows)}
        out[f"{name} vs {ref}"] = entry
    return out


def _max_ratio_intervals(per_patch: dict, seeds, n_resamples: int) -> dict:
    """Per network and seed, the bootstrap interval over test patches of the mean max ratio (wet patches)."""
    out = {}
    for name, rows in per_patch.items():
        if not isinstance(rows, list):
            continue
        out[name] = []
        for k, row in enumerate(rows):
            r = row["max_ratio"][np.isfinite(row["max_ratio"])]
            out[name].append(metrics.bootstrap_interval(np.mean, r, n_resamples=n_resamples, seed=k))
    return out


def _job(name, seed, *, keep_predictions, mass_conserving, term=None, lam=0.0, surrogate=None, evaluate=("val",),
         setting=None) -> dict:
    """One job: its id names the model, the swept setting and the seed."""
    tag = "".join(f"[{k}={v:g}]" if isinstance(v, float) else f"[{k}={v}]" for k, v in (setting or {}).items())
    return {"id": f"{name}{tag}/seed{seed}", "name": name, "seed": seed, "mass_conserving": mass_conserving,
            "term": term, "lam": lam, "surrogate": surrogate, "evaluate": evaluate,
            "setting": dict(setting or {}), "keep": keep_predictions and "test" in evaluate}


def _rows_of(jobs, done, key):
    return _mean_rows([_sweep_row({**j["setting"], "seed": j["seed"]}, done[j["id"]]) for j in jobs], key)


def _select_architecture(config, runner, surrogates, baseline, job, log):
    """Selection 1: mass-conserving output of ``unet_mse`` or not; the surrogates go into the cache first."""
    sweep_seeds = tuple(config.sweep_seeds)
    log("selection 1/3 on validation: architecture of unet_mse")
    if config.surrogate_models:
        surrogate_keys = [("lipschitz", c) for c in config.sweep_caps] + [("unconstrained", None)]
        runner.surrogates(surrogate_keys, surrogates)
    arch_jobs = [job("unet_mse", s, mass_conserving=m, setting={"mass_conserving": m})
                 for m in config.architectures for s in sweep_seeds]
    arch = runner.run(arch_jobs)
    ref_val = baseline["val"]["bicubic"][1]
    arch_rows = _rows_of(arch_jobs, arch, "mass_conserving")
    for row in arch_rows:
        row["score"] = row["mae"] / ref_val["mae"] + row["rmse"] / ref_val["rmse"]
    chosen = min(arch_rows, key=lambda r: r["score"])
    mc = bool(chosen["mass_conserving"])
    for r in arch_rows:
        r["selected"] = r is chosen
    log(f"  selected mass_conserving={mc}")
    return mc, chosen, arch, arch_rows


def _learning_curve_jobs(config, job, mc) -> list:
    """``unet_mse`` on nested fractions of the training patches at each width (validation only).

    The point at the full data and the configured width is the architecture
    sweep's run of the selected output (not trained again).
    """
    jobs = []
    for width in config.learning_curve_widths:
        for fraction in config.learning_curve_fractions:
            for s in config.learning_curve_seeds:
                if width == config.width and fraction == 1.0 and s in config.sweep_seeds:
                    continue
                j = job("unet_mse", s, mass_conserving=mc, setting={"width": width, "train_fraction": fraction})
                j.update(width=width, train_fraction=fraction)
                jobs.append(j)
    return jobs


def _learning_curve(config, done, mc, n_train, baseline) -> dict:
    """Validation gain of ``unet_mse`` over ``bicubic_mass`` (1 − MAE/MAE_bicubic_mass, same for RMSE) per point."""
    ref = baseline["val"]["bicubic_mass"][1]
    rows = []
    for width in config.learning_curve_widths:
        for fraction in config.learning_curve_fractions:
            scores = []
            for s in config.learning_curve_seeds:
                key = (f"unet_mse[mass_conserving={mc}]/seed{s}" if width == config.width and fraction == 1.0
                       and s in config.sweep_seeds else f"unet_mse[width={width}][train_fraction={fraction:g}]/seed{s}")
                scores.append(done[key]["val"]["scores"])
            mae_gain = [1 - x["mae"] / ref["mae"] for x in scores]
            rmse_gain = [1 - x["rmse"] / ref["rmse"] for x in scores]
            rows.append({"width": width, "fraction": fraction,
                         "patches": len(training_subset(n_train, fraction)),
                         "seeds": list(config.learning_curve_seeds),
                         "mae_gain": float(np.mean(mae_gain)), "rmse_gain": float(np.mean(rmse_gain)),
                         "per_seed": {"mae_gain": mae_gain, "rmse_gain": rmse_gain,
                                      "mae": [x["mae"] for x in scores], "rmse": [x["rmse"] for x in scores]}})
    return {"split": "validation", "model": "unet_mse", "reference": "bicubic_mass",
            "gain": "1 - score / score of bicubic_mass (MAE, RMSE)", "points": rows}


def _select_lambdas(config, runner, job, mc, chosen, log, extra=()) -> dict:
    """Selection 2: λ of the analytic term (U-Net) and of the generator's term; the generator itself (reference).

    ``extra`` jobs (the learning curve) run beside them; their results are in ``"stage2"``."""
    sweep_seeds, tol = tuple(config.sweep_seeds), config.tolerance
    log("selection 2/3 on validation: λ of the Minkowski term (U-Net and generator)"
        + (", and the learning curve of unet_mse" if extra else ""))
    lam_jobs = [job("unet_minkowski", s, mass_conserving=mc, term="minkowski", lam=lam, setting={"lambda": lam})
                for lam in config.sweep_lambdas for s in sweep_seeds]
    gen_ref_jobs = [job("generator", s, mass_conserving=mc) for s in sweep_seeds]
    gen_lam_jobs = [job("generator_minkowski", s, mass_conserving=mc, term="minkowski", lam=lam,
                        setting={"lambda": lam}) for lam in config.generator_lambdas for s in sweep_seeds]
    stage2 = runner.run(lam_jobs + gen_ref_jobs + gen_lam_jobs + list(extra))
    lam_rows = _rows_of(lam_jobs, stage2, "lambda")
    lam_minkowski = _select_term(lam_rows, "lambda", chosen, tol)
    lam_rows.insert(0, {**{k: v for k, v in chosen.items() if k not in ("mass_conserving", "score")},
                        "lambda": 0.0, "reference": "unet_mse", "selected": False})
    for j in gen_ref_jobs:
        j["setting"] = {"lambda": 0.0}
    gen_ref = _rows_of(gen_ref_jobs, stage2, "lambda")[0]
    gen_rows = _rows_of(gen_lam_jobs, stage2, "lambda")
    lam_generator = _select_term(gen_rows, "lambda", gen_ref, tol, generator=True)
    gen_rows.insert(0, {**gen_ref, "reference": "generator", "selected": False})
    log(f"  selected λ = {lam_minkowski:g} (U-Net), {lam_generator:g} (generator)")
    return {"stage2": stage2, "lam_rows": lam_rows, "gen_rows": gen_rows, "lam_minkowski": lam_minkowski,
            "lam_generator": lam_generator}


def _final_runs(config, runner, surrogates, job, mc, mse_ref, arch, lambdas, log) -> dict:
    """Selection 3 (the Lipschitz cap of the surrogate term at the selected λ) and every final run on test.

    The final runs that do not depend on the cap run beside the cap sweep; a
    final run whose settings and seed equal a sweep run's reuses its weights
    (tested, not trained again).
    """
    seeds, sweep_seeds, tol = tuple(config.seeds), tuple(config.sweep_seeds), config.tolerance
    lam_minkowski, lam_generator = lambdas["lam_minkowski"], lambdas["lam_generator"]
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
    done = {**arch, **lambdas["stage2"]}

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
        cap_rows = _rows_of(cap_jobs, stage3, "lipschitz_cap")
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
    return {"settings": settings, "final_jobs": final_jobs, "final": final, "cap": cap, "cap_rows": cap_rows,
            "lam_surrogate": lam_surrogate}


def _model_entries(config, baseline, test, runs, mc, return_predictions) -> tuple[dict, dict, dict]:
    """Tables: baselines, then networks (mean, std and per seed); the test predictions if asked for."""
    seeds = tuple(config.seeds)
    settings, final_jobs, final, cap = runs["settings"], runs["final_jobs"], runs["final"], runs["cap"]
    models = {}
    predictions = {"coarse": test.coarse.astype(np.float64), "truth": test.fine.astype(np.float64)}
    ensembles = {}
    per_patch = dict(baseline["per_patch"])
    for name in BASELINES:
        field, scores = baseline["test"][name]
        predictions[name] = field
        agg = aggregate([scores] * len(seeds))
        models[name] = {"seeds": list(seeds), "deterministic": True,
                        "metrics": {**agg, "per_seed": [scores] * len(seeds)},
                        "per_seed": {k: [v] * len(seeds) for k, v in _flat_scores(scores).items()}}
    for name, kwargs in settings.items():
        jobs = [j for j in final_jobs if j["name"] == name]
        per_seed = [final[j["id"]]["test"]["scores"] for j in jobs]
        training = [j.get("reused_training") or final[j["id"]]["training"] for j in jobs]
        entry = {"seeds": list(seeds), "deterministic": False, "stochastic": name in GENERATORS,
                 "settings": {"mass_conserving": mc, "lambda": kwargs["lam"],
                              **({"lipschitz_cap": cap} if name == "unet_surrogate_lipschitz" else {})},
                 "metrics": {**aggregate(per_seed), "per_seed": per_seed},
                 "training": aggregate(training)}
        ens = [final[j["id"]]["test"]["ensemble"] for j in jobs] if name in GENERATORS else [None] * len(jobs)
        flat = [_flat_scores(s, e) for s, e in zip(per_seed, ens)]
        entry["per_seed"] = {k: [f[k] for f in flat] for k in flat[0]}
        if name in GENERATORS:
            histograms = ("rank_histogram", "rank_histogram_raw", "rank_histogram_wet")
            entry["ensemble"] = {**aggregate([{k: v for k, v in e.items() if not k.startswith("rank_histogram")}
                                              for e in ens]),
                                 **{h: np.mean([e[h] for e in ens], 0).tolist() for h in histograms if h in ens[0]},
                                 "members": config.ensemble_members, "per_seed": ens}
            entry["metrics"]["level"] = "member"
        else:
            per_patch[name] = [final[j["id"]]["test"]["per_patch"] for j in jobs]
        models[name] = entry
        if return_predictions:
            preds = [final[j["id"]]["test"]["prediction"].astype(np.float64) for j in jobs]
            if name in GENERATORS:
                predictions[name] = preds[0][0]
                ensembles[name] = preds[0]
            else:
                predictions[name] = preds[0]
                ensembles[name] = np.stack(preds)
    return models, predictions, ensembles, per_patch


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
        :data:`~mink_toolkit.experiments.superres.FULL` or
        :data:`~mink_toolkit.experiments.superres.QUICK` (or your own).
    output : path, optional
        Folder for ``superres.json`` and ``superres.md``.
    progress : bool
        One overall tqdm bar (in epochs of all trainings).
    surrogates : dict, optional
        Pre-built surrogates keyed ``("lipschitz", cap)`` (cap the
        surrogate's ``lipschitz_cap``, None no Lipschitz constraint) and
        ``("unconstrained", None)``; missing ones come from
        :func:`~mink_toolkit.experiments.superres.build_surrogate` (cached in
        the user cache folder).
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
        ``{"config", "data", "compile", "compile_backend", "device",
        "selection", "sweep", "learning_curve", "models", "differences",
        "gaming", "reference", "timing"}`` (``compile_backend`` None when
        eager; the wall time of the run is ``timing["seconds"]``); also
        written to ``output/superres.json``. ``models[name]["per_seed"]``
        is ``{metric: [value per seed]}``; ``differences`` holds the paired
        bootstrap intervals over test patches of
        :data:`DIFFERENCES`; ``learning_curve`` the validation gain of
        ``unet_mse`` over ``bicubic_mass`` per width and share of the
        training patches (absent when ``learning_curve_fractions`` is
        empty).

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
    train, val, test = _load_splits(config, log)
    results: dict = {
        "config": asdict(config),
        "data": {"train_files": train.names, "val_files": val.names, "test_files": test.names,
                 "train_patches": len(train), "val_patches": len(val), "test_patches": len(test)},
        "models": {},
        # how it trained (config.compile and config.device; the backend is the environment's)
        "compile": config.compile,
        "compile_backend": compile_backend() if config.compile else None,
        "device": config.device,
    }
    runner = _Runner(config, {"config": config, "train": train, "val": val, "test": test}, progress, log)
    seeds, sweep_seeds, tol = tuple(config.seeds), tuple(config.sweep_seeds), config.tolerance
    job = partial(_job, keep_predictions=return_predictions)
    try:
        baseline = _baselines(config, val, test)
        mc, chosen, arch, arch_rows = _select_architecture(config, runner, surrogates, baseline, job, log)
        curve_jobs = _learning_curve_jobs(config, job, mc)
        lambdas = _select_lambdas(config, runner, job, mc, chosen, log, extra=curve_jobs)
        if config.learning_curve_fractions:
            results["learning_curve"] = _learning_curve(config, {**arch, **lambdas["stage2"]}, mc, len(train),
                                                        baseline)
        runs = _final_runs(config, runner, surrogates, job, mc, chosen, arch, lambdas, log)
        results["selection"] = {
            "split": "validation",
            "seeds": list(sweep_seeds),
            "rule": ("architecture: lowest MAE/MAE_bicubic + RMSE/RMSE_bicubic; loss-term settings: lowest MF "
                     f"error among settings within {tol:.0%} of the model without the term on MAE and RMSE "
                     "(generator: CRPS and ensemble-mean MAE), else the lowest MAE (CRPS); mean over "
                     f"seeds {list(sweep_seeds)}"),
            "mass_conserving": mc,
            "lambda_minkowski": lambdas["lam_minkowski"],
            "lambda_surrogate": runs["lam_surrogate"] if config.surrogate_models else None,
            "lipschitz_cap": runs["cap"],
            "lambda_generator": lambdas["lam_generator"],
            "early_stopping": (f"best of every {config.val_every} epochs (once λ is at its final value) by the "
                               f"training objective on {config.early_stopping_patches} validation patches"),
        }
        results["sweep"] = {"split": "validation", "seeds": list(sweep_seeds), "architecture": arch_rows,
                            "lambda": lambdas["lam_rows"], "lipschitz": runs["cap_rows"],
                            "generator_lambda": lambdas["gen_rows"]}
    finally:
        runner.close()

    results["models"], predictions, ensembles, per_patch = _model_entries(config, baseline, test, runs, mc,
                                                                          return_predictions)
    results["differences"] = _differences(per_patch, seeds, config.bootstrap_resamples)
    truth = test.fine.astype(np.float64)
    floors = noise_floors(truth, baseline["test"]["bicubic"][0], n_resamples=config.bootstrap_resamples)
    max_ratio = _max_ratio_intervals(per_patch, seeds, config.bootstrap_resamples)
    results["gaming"] = {"floors": floors,
                         "models": gaming_verdicts(results["models"], floors, baselines=BASELINES,
                                                   max_ratio_intervals=max_ratio),
                         "rule": "a diagnostic flags gaming only when it exceeds its floor in more than half "
                                 "of the seeds; grid alignment: floor = the larger upper end of the 95 % "
                                 "bootstrap intervals (over test patches) of the truth and of bicubic; max ratio "
                                 "(1 for the truth by definition, so no floor from it): the lower end of the "
                                 "model's own 95 % bootstrap interval over test patches above 1 (maxima "
                                 "overshoot the truth's beyond sampling noise)"}
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
        (out_dir / "superres.json").write_text(json.dumps(results, indent=1, default=json_default))
        (out_dir / "superres.md").write_text(markdown_tables(results))
        log(f"wrote {out_dir / 'superres.json'} and {out_dir / 'superres.md'}")
    if return_predictions:
        results["predictions"] = predictions
        results["ensembles"] = ensembles
    return results
