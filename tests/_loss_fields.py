"""Fields and settings shared by the tests of the Minkowski loss and of its thresholds."""

import numpy as np
import torch

U = [0.255, 1.005, 2.505]  # off the 0.01 grid of the rounded fields (no ties)
#: Temperatures taken as they are (the defaults of minkowski_loss before it shared MinkowskiLoss's).
ABSOLUTE = dict(relative=False, min_temperature=None)


def loss_pair(seed=0, shape=(2, 12, 10)):
    """A target rounded to OPERA's 0.01 mm/h and a noisy non-negative prediction of it (float64)."""
    rng = np.random.default_rng(seed)
    target = torch.tensor(rng.gamma(0.7, 1.5, size=shape).round(2))
    pred = (target + torch.tensor(rng.normal(0, 0.5, size=shape))).clamp_min(0)
    return pred, target
