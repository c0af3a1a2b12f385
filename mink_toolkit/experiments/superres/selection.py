"""Selection on validation: sweep rows, their mean over seeds, and the rule that picks a setting."""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def _flat_scores(scores: dict, ensemble: dict | None = None) -> dict:
    """The headline numbers of one seed's scores, flat: a sweep row's and a model's ``per_seed``."""
    flat = {"mae": scores["mae"], "rmse": scores["rmse"], "minkowski_error": scores["minkowski_error"]["mean"],
            "spectral_error": scores["spectral_error"], "rapsd_high_ratio": scores["rapsd_high_ratio"],
            "fss_u1_n1": scores["fss"]["u=1"]["n=1"], "fss_u5_n9": scores["fss"]["u=5"]["n=9"],
            "csi_u5": scores["csi"]["u=5"], "wasserstein_wet": scores["wasserstein_wet"],
            "grid_alignment": scores["grid_alignment"], "max_ratio": scores["max_ratio"]}
    if ensemble is not None:
        flat.update({k: ensemble[k] for k in ("crps", "energy_score", "spread_skill", "mean_mae", "mean_rmse")})
    return flat


def _sweep_row(setting: dict, result: dict) -> dict:
    row = {**setting, **_flat_scores(result["val"]["scores"], result["val"].get("ensemble"))}
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
