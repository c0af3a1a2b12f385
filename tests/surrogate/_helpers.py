"""Shared fixtures of the surrogate tests: thresholds, synthetic patches, a small conventional CNN."""

from __future__ import annotations

import numpy as np
import torch

from mink_toolkit.datasets import PatchSet, exact_targets
from mink_toolkit.surrogate import ConventionalSurrogate


THRESHOLDS = np.array([0.2, 0.5, 1.0, 3.0])


def jacobian_norm(fn, z):
    """Spectral norm of the Jacobian of fn at the field z (H, W), flattened output."""
    jac = torch.autograd.functional.jacobian(lambda t: fn(t[None, None]).reshape(-1), z)
    return float(torch.linalg.matrix_norm(jac.reshape(jac.shape[0], -1), 2))


def dense_matrix(fn, shape) -> torch.Tensor:
    """Matrix of a linear map of (H, W) inputs, one basis vector at a time."""
    n = shape[0] * shape[1]
    cols = [fn(torch.eye(n, dtype=torch.float64)[i].reshape(shape)).reshape(-1) for i in range(n)]
    return torch.stack(cols, dim=1)


def synthetic_patches(count, size, seed):
    rng = np.random.default_rng(seed)
    rain = (rng.gamma(0.4, 2.0, (count, size, size)) * (rng.random((count, 1, 1)) < 0.9)).astype(np.float32)
    f, b0 = exact_targets(rain, THRESHOLDS)
    return PatchSet(rain, f, b0, THRESHOLDS, np.zeros(count, "datetime64[s]"), np.array(["synthetic"] * count),
                    np.zeros((count, 2), int))


def small_conventional(**kwargs):
    return ConventionalSurrogate(THRESHOLDS, channels=(4, 6), hidden=(8,), **kwargs)
