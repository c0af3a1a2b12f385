"""The markdown tables of a ``reproduce superres`` result (``superres.md``, ``--markdown``, the README block)."""

from __future__ import annotations

from ...reporting import format_value as _fmt
from ...reporting import plus_minus as _pm

__all__ = ["markdown_tables"]


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


def _training_mode(results: dict) -> str:
    """How the run trained, for the header line (nothing for results written before it was recorded)."""
    if "compile" not in results:
        return ""
    how = f"compiled ({results.get('compile_backend')})" if results["compile"] else "eager"
    return f"; trained {how} on {results.get('device', 'cpu')}"


def markdown_tables(results: dict) -> str:
    """Markdown tables of a :func:`run_superres_experiment` result (mean ± std over seeds)."""
    results = _renamed_cap(results)
    factor = results["config"]["factor"]
    data = results.get("data", {})
    lines = [f"#### Test: 2024 NIMBUS rain rate, ×{factor} ({data.get('test_patches', '?')} patches; "
             f"mean ± std over seeds {results['config']['seeds']}{_training_mode(results)})", ""]
    header = ["model", "MAE", "RMSE", "CRPS", "FSS 1mm/h 1px", "FSS 5mm/h 9px", "high-k ratio", "spectral error",
              "MF error", "W1 wet", "grid align", "max ratio"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in results["models"].items():
        m = entry["metrics"]
        ens = entry.get("ensemble")
        crps = _pm(ens["crps"]) if ens else _pm(m["mae"])
        label = f"{name} (members)" if ens else name
        if "lipschitz_cap" in entry.get("settings", {}):  # the row says which surrogate it contains
            cap = entry["settings"]["lipschitz_cap"]
            label = f"{name} (cap {'none' if cap is None else f'{cap:g}'})"
        cells = [label, _pm(m["mae"]), _pm(m["rmse"]), crps, _pm(m["fss"]["u=1"]["n=1"]),
                 _pm(m["fss"]["u=5"]["n=9"]), _pm(m["rapsd_high_ratio"]), _pm(m["spectral_error"]),
                 _pm(m["minkowski_error"]["mean"]), _pm(m["wasserstein_wet"]), _pm(m["grid_alignment"]),
                 _pm(m["max_ratio"], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "CRPS (mm/h): fair ensemble CRPS for the generators, the MAE for deterministic models. "
              "Generator rows are member-level (each member scored as a prediction, then averaged over members). "
              "High-k ratio: power above the coarse grid's Nyquist frequency relative to the truth (1 = truth); "
              "spectral error: mean |ln(P_pred/P_true)| over those wavenumbers (0 = truth; results written from "
              "2026-12-07 on: Hann-windowed spectra, six log-spaced wavenumber bins, so every octave counts the "
              "same); MF error: exact "
              "functionals' log1p error averaged over log u (0.1–10 mm/h).", ""]
    gens = {n: e for n, e in results["models"].items() if e.get("ensemble")}
    if gens:
        lines += [f"#### Ensembles ({next(iter(gens.values()))['ensemble']['members']} members per test input)", ""]
        head = ["model", "CRPS", "energy score", "spread/skill", "ensemble-mean MAE", "ensemble-mean RMSE",
                "rank histogram (all pixels)", "rank histogram (wet)"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, e in gens.items():
            ens = e["ensemble"]
            hist = " ".join(f"{v:.3f}" for v in ens["rank_histogram"])
            wet = " ".join(f"{v:.3f}" for v in ens["rank_histogram_wet"]) if "rank_histogram_wet" in ens else "–"
            lines.append(f"| {name} | {_pm(ens['crps'])} | {_pm(ens['energy_score'], 1)} | "
                         f"{_pm(ens['spread_skill'])} | {_pm(ens['mean_mae'])} | {_pm(ens['mean_rmse'])} | {hist} | "
                         f"{wet} |")
        lines += ["", "Rank histograms: all pixels (dry ties broken at random, so dry pixels fill every bin evenly) "
                  "and wet pixels only (truth ≥ 0.1 mm/h); flat = reliable. On wet pixels, high ranks = the truth "
                  "above most members where it rains; choosing pixels by the observed value tilts even a reliable "
                  "ensemble that way when its members rain elsewhere (Bellier et al. 2017), so compare, do not "
                  "expect flat.", ""]
    differences = results.get("differences")
    if differences:
        lines += ["#### Paired differences on test (model / reference − 1, per seed, 95 % bootstrap over test "
                  "patches)", "", "| comparison | MAE | RMSE | MF error |", "|---|---|---|---|"]
        for label, entry in differences.items():
            def cell(metric):
                return ", ".join(f"{r['value']:+.1%} [{r['low']:+.1%}, {r['high']:+.1%}]"
                                 for r in entry[metric]["per_seed"])
            lines.append(f"| {label} | {cell('mae')} | {cell('rmse')} | {cell('minkowski_error')} |")
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
                  + (f"max ratio: the truth's is 1 by definition, so no floor; a seed counts when the lower end "
                     f"of its own 95 % interval over test patches is above 1 (bicubic "
                     f"{f['max_ratio']['bicubic']['value']:.3f}). "
                     if any("intervals" in v.get("max_ratio", {}) for v in gaming["models"].values()) else
                     f"max ratio {f['max_ratio']['floor']:.3f} (truth 1 by definition, bicubic "
                     f"{f['max_ratio']['bicubic']['value']:.3f}). ")
                  + "Gaming = above the floor in most seeds.", ""]
        lines += ["| model | grid alignment per seed | max ratio per seed | gaming |", "|---|---|---|---|"]
        for name, v in gaming["models"].items():
            def cells(diag):
                if "intervals" in v[diag]:  # the value with its own 95 % interval over test patches
                    return ", ".join(f"{i['value']:.3f} [{i['low']:.3f}, {i['high']:.3f}]{'*' if e else ''}"
                                     for i, e in zip(v[diag]["intervals"], v[diag]["exceeds_floor"]))
                return ", ".join(f"{x:.3f}{'*' if e else ''}" for x, e in
                                 zip(v[diag]["per_seed"], v[diag]["exceeds_floor"]))
            lines.append(f"| {name} | {cells('grid_alignment')} | {cells('max_ratio')} | "
                         f"{'yes' if v['gaming'] else 'no'} |")
        lines += ["", "`*` = above the noise floor (max ratio with an interval: the whole interval above 1; "
                  "without: above 1).", ""]
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
    curve = results.get("learning_curve")
    if curve:
        lines += [f"#### Learning curve of unet_mse (validation, seeds {curve['points'][0]['seeds']}): gain over "
                  "bicubic_mass, 1 − score/score of bicubic_mass", "",
                  "| width | training patches | MAE gain | RMSE gain |", "|---|---|---|---|"]
        for p in curve["points"]:
            lines.append(f"| {p['width']} | {p['patches']} ({p['fraction']:.0%}) | {p['mae_gain']:+.2%} | "
                         f"{p['rmse_gain']:+.2%} |")
        lines.append("")
    timing = results.get("timing")
    if timing:
        lines += [f"Run time {timing['seconds'] / 60:.1f} min ({timing['workers']} worker processes, CPU time "
                  f"{timing['cpu_seconds'] / 60:.1f} min; load average {timing['load_average_start'][0]:.1f} at the "
                  f"start, {timing['load_average_end'][0]:.1f} at the end).", ""]
    return "\n".join(lines) + "\n"
