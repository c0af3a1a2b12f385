"""Scores of a trained super-resolution network or generator on test patches, and the stability of its training.

Every score comes from :mod:`mink_toolkit.verification`
(:func:`~mink_toolkit.verification.superres_scores` per prediction; CRPS,
energy score, spread/skill and rank histogram per ensemble); this module
only runs the network (:func:`~mink_toolkit.superres.predict`) and collects
them the way ``reproduce superres`` reports them.
"""

from __future__ import annotations

import numpy as np

from .. import verification as metrics
from .models import ResidualUNet
from .training import predict

__all__ = [
    "RAIN_PRECISION",
    "RANK_WET_THRESHOLD",
    "evaluate_generator",
    "evaluate_network",
    "training_summary",
]

#: Reporting precision of OPERA rain rates (mm/h): the rank histogram compares members at it.
RAIN_PRECISION = 0.01

#: Wet-pixel threshold (mm/h) of the rank histogram restricted to where the truth rains.
RANK_WET_THRESHOLD = 0.1


def _mean_of(dicts: list):
    """Element-wise mean of nested dicts/lists of floats (e.g. scores of several ensemble members)."""
    first = dicts[0]
    if isinstance(first, dict):
        return {k: _mean_of([d[k] for d in dicts]) for k in first}
    if isinstance(first, list):
        return np.nanmean(np.asarray(dicts, dtype=float), 0).tolist()
    return float(np.nanmean(np.asarray(dicts, dtype=float)))


def evaluate_generator(ensemble: np.ndarray, fine: np.ndarray, *, factor: int,
                       scored_members: int) -> tuple[dict, dict]:
    """Member-level scores (mean over members) and ensemble scores of a generator's ensemble.

    Parameters
    ----------
    ensemble : ndarray (M, N, H, W)
        M members for each of N inputs (mm/h).
    fine : ndarray (N, H, W)
        Truth (mm/h).
    factor : int
        Super-resolution factor (of :func:`~mink_toolkit.verification.superres_scores`).
    scored_members : int
        How many members are scored one by one.

    Returns
    -------
    member_scores : dict
        :func:`~mink_toolkit.verification.superres_scores` of each of the first
        ``scored_members`` members, averaged over them.
    ensemble_scores : dict
        ``crps`` (fair, mm/h), ``energy_score``, ``spread_skill``, ``mean_mae``,
        ``mean_rmse`` (of the ensemble mean), ``rank_histogram`` (M + 1
        frequencies over all pixels, members rounded to
        :data:`RAIN_PRECISION` like the truth), ``rank_histogram_raw``
        (unrounded) and ``rank_histogram_wet``
        (:func:`~mink_toolkit.verification.rank_histogram_wet`: only the
        pixels where the truth is >= :data:`RANK_WET_THRESHOLD` mm/h, at
        :data:`RAIN_PRECISION`; the dry pixels, tied in truth and members,
        otherwise flatten the histogram; M + 1 NaN when no pixel is wet).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.gamma(0.5, 2.0, (2, 16, 16)); ensemble = np.stack([truth, truth * 1.1, truth * 0.9])
    >>> members, ens = evaluate_generator(ensemble, truth, factor=4, scored_members=2)
    >>> len(ens["rank_histogram"]), bool(np.isclose(members["mae"], 0.05 * truth.mean()))
    (4, True)
    >>> len(ens["rank_histogram_wet"]), bool(np.isclose(sum(ens["rank_histogram_wet"]), 1.0))
    (4, True)
    """
    members = [metrics.superres_scores(m, fine, factor=factor) for m in ensemble[:scored_members]]
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
        # where it rains only: the dry pixels' random tie breaking would flatten it
        "rank_histogram_wet": (
            metrics.rank_histogram_wet(ensemble, fine, threshold=RANK_WET_THRESHOLD,
                                       precision=RAIN_PRECISION).tolist()
            if np.any(np.asarray(fine) >= RANK_WET_THRESHOLD) else [float("nan")] * (len(ensemble) + 1)
        ),
    }


def evaluate_network(net: ResidualUNet, coarse, fine, *, members: int, scored_members: int, seed: int,
                     keep: bool = False) -> dict:
    """Scores of a network's predictions from ``coarse`` against ``fine`` (test or validation patches).

    Parameters
    ----------
    net : ResidualUNet
        Deterministic, or a generator (``net.stochastic``).
    coarse, fine : ndarray (N, h, w), (N, H, W)
        Coarse input and fine truth (mm/h).
    members : int
        Ensemble size of a generator.
    scored_members : int
        Members of a generator scored one by one (:func:`evaluate_generator`).
    seed : int
        Seeds a generator's noise (:func:`~mink_toolkit.superres.predict`).
    keep : bool
        Also return the prediction (float32; a generator's whole ensemble).

    Returns
    -------
    dict
        ``scores`` (:func:`~mink_toolkit.verification.superres_scores`; a
        generator's member-level mean), for a generator also ``ensemble``
        (:func:`evaluate_generator`), with ``keep`` also ``prediction``.
    """
    fine = fine.astype(np.float64)
    if net.stochastic:
        ensemble = predict(net, coarse, members=members, seed=seed)
        member_scores, ensemble_scores = evaluate_generator(ensemble, fine, factor=net.factor,
                                                            scored_members=scored_members)
        out = {"scores": member_scores, "ensemble": ensemble_scores}
        if keep:
            out["prediction"] = ensemble.astype(np.float32)
        return out
    pred = predict(net, coarse)
    out = {"scores": metrics.superres_scores(pred, fine, factor=net.factor)}
    if keep:
        out["prediction"] = pred.astype(np.float32)
    return out


def training_summary(history: dict) -> dict:
    """Training-stability summary of a :func:`~mink_toolkit.superres.train_superres` history.

    Over the last half of the epochs (where λ is on): the mean loss, the
    spread of the step losses, the gradient norms, and how hard the term
    pushed: its gradient's high-wavenumber share and norm, and
    ``λ·‖∂term/∂pred‖ / ‖∂data/∂pred‖`` (``term_to_data_grad``) over the epochs
    where the term was on (None where it never was); ``best_epoch`` and
    ``seconds``.
    """
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
