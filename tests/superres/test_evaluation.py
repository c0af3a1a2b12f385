"""Tests of mink_toolkit.superres.evaluation: scores of a network or generator, the stability summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit import superres as sr
from mink_toolkit import verification
from mink_toolkit.resample import block_mean
from mink_toolkit.superres.evaluation import (
    RAIN_PRECISION,
    RANK_WET_THRESHOLD,
    evaluate_generator,
    evaluate_network,
    training_summary,
)


def test_a_deterministic_network_is_scored_on_its_prediction(rain):
    torch.manual_seed(0)
    net = sr.ResidualUNet(factor=4, width=2, depth=1)
    coarse = block_mean(rain, 4).astype(np.float32)
    out = evaluate_network(net, coarse, rain.astype(np.float32), members=3, scored_members=2, seed=0, keep=True)
    assert set(out) == {"scores", "prediction"} and out["prediction"].dtype == np.float32
    expected = verification.superres_scores(sr.predict(net, coarse), rain.astype(np.float32).astype(np.float64),
                                            factor=4)
    assert out["scores"] == expected
    assert "prediction" not in evaluate_network(net, coarse, rain, members=3, scored_members=2, seed=0)


def test_a_generator_is_scored_per_member_and_as_an_ensemble(rain):
    torch.manual_seed(0)
    gen = sr.ResidualUNet(factor=4, width=2, depth=1, noise_channels=1)
    torch.nn.init.normal_(gen.head.weight, std=1.0)
    coarse = block_mean(rain, 4).astype(np.float32)
    out = evaluate_network(gen, coarse, rain, members=3, scored_members=2, seed=7, keep=True)
    assert out["prediction"].shape == (3, *rain.shape)
    ensemble = sr.predict(gen, coarse, members=3, seed=7)
    members, ens = evaluate_generator(ensemble, rain, factor=4, scored_members=2)
    assert out["scores"] == members and out["ensemble"] == ens
    first = [verification.superres_scores(m, rain, factor=4)["mae"] for m in ensemble[:2]]
    assert members["mae"] == pytest.approx(np.mean(first))
    assert ens["crps"] == verification.crps_ensemble(ensemble, rain)
    assert len(ens["rank_histogram"]) == 4 and sum(ens["rank_histogram"]) == pytest.approx(1.0)
    assert ens["rank_histogram"] == verification.rank_histogram(ensemble, rain, precision=RAIN_PRECISION).tolist()
    assert ens["rank_histogram_wet"] == verification.rank_histogram_wet(
        ensemble, rain, threshold=RANK_WET_THRESHOLD, precision=RAIN_PRECISION).tolist()
    assert RANK_WET_THRESHOLD == 0.1 and sum(ens["rank_histogram_wet"]) == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # the member scores of a rainless truth (FSS) are NaN
def test_the_wet_rank_histogram_of_a_dry_truth_is_nan(rain):
    truth = np.minimum(rain, 0.09)  # drizzle only: no pixel reaches RANK_WET_THRESHOLD
    ensemble = np.stack([truth, truth + 0.2, truth + 0.004])
    _, ens = evaluate_generator(ensemble, truth, factor=4, scored_members=1)
    assert len(ens["rank_histogram_wet"]) == 4 and np.isnan(ens["rank_histogram_wet"]).all()
    assert sum(ens["rank_histogram"]) == pytest.approx(1.0)


def test_training_summary_of_a_history(rain):
    fine = rain.astype(np.float32)
    torch.manual_seed(0)
    net = sr.ResidualUNet(factor=4, width=2, depth=1)
    h = sr.train_superres(net, block_mean(fine, 4), fine, epochs=2, batch_size=3, crop=16, progress=False)
    s = training_summary(h)
    assert s["final_loss"] == pytest.approx(h["loss"][-1]) and s["best_epoch"] == 1
    assert s["term_grad_norm"] is None and s["term_to_data_grad"] is None  # no term: nothing steered
    assert s["grad_norm_max"] >= s["grad_norm_mean"] > 0
