r"""Super-resolution of rain fields: deterministic U-Nets and a stochastic generator.

The task of the paper's super-resolution experiment on OPERA rain rates: a
128 × 128 field at 2 km is block-averaged by a factor 8 to 16 × 16 at 16 km
(:func:`mink_toolkit.resample.block_mean`), and a model recovers the fine
field from the coarse one.

Baselines
    :func:`upsample` with ``method="nearest"`` (piecewise constant, mass
    conserving) or ``"bicubic"`` (smooth; clamped at 0).
Network
    :class:`ResidualUNet`: a small U-Net that reads the bicubic upsampling of
    the coarse field in ``log1p`` space and predicts a residual there; the
    output is non-negative by construction, and by default
    **mass-conserving**: :func:`conserve_mass` rescales it (smoothly, then
    exactly) so every 8 × 8 block has the coarse pixel's value as its mean.
    The last convolution starts at zero, so an untrained network equals its
    baseline (bicubic, rescaled to the block means).
Generator
    The same network with ``noise_channels > 0``: Gaussian noise enters every
    encoder level, so each call draws another member of an ensemble
    (:meth:`ResidualUNet.sample`). Trained with the fair CRPS over two or more
    draws per input (:func:`~mink_toolkit.losses.fair_crps_loss`, a proper
    scoring rule; optionally on block means at several scales too), it
    learns a distribution of fine fields instead of their blurred mean.
Training
    :func:`train_superres`: loss = data loss
    (:func:`~mink_toolkit.losses.log_mse`, :func:`~mink_toolkit.losses.log_l1`,
    or the fair CRPS of a generator) + λ(epoch)·term, with ``term`` one of
    :class:`~mink_toolkit.losses.MinkowskiLoss` (the relaxed Minkowski loss;
    its temperature schedule advances with the epoch) or
    :class:`~mink_toolkit.losses.SurrogateTerm` (a frozen neural
    surrogate; the surrogate owns its input transform, so it is fed mm/h and
    cannot be fed the wrong representation, a bug of the published code).
    λ follows a :class:`~mink_toolkit.schedules.LambdaSchedule` with warm-up;
    cosine learning-rate decay; early stopping on validation patches; seeds,
    tqdm progress, checkpoints and per-step gradient-norm logging.
Data
    :func:`mink_toolkit.datasets.superres_split`: screened 128 × 128
    patches of the train / validation / test split and their coarse versions.
Layout
    :mod:`~mink_toolkit.superres.baselines` (:func:`upsample`),
    :mod:`~mink_toolkit.superres.models` (:func:`conserve_mass`,
    :class:`ResidualUNet`), :mod:`~mink_toolkit.superres.training`
    (:func:`train_superres`, :func:`predict`),
    :mod:`~mink_toolkit.superres.checkpoint` and
    :mod:`~mink_toolkit.superres.evaluation` (the scores of a trained network
    or generator on test patches, and the stability summary of a training).
"""

from __future__ import annotations

from .baselines import UPSAMPLING_METHODS, upsample  # noqa: F401  (constants stay importable from here)
from .checkpoint import load_superres_checkpoint, save_superres_checkpoint
from .models import MASS_DELTA, MASS_EPS, ResidualUNet, conserve_mass  # noqa: F401
from .training import predict, train_superres

__all__ = [
    "upsample",
    "conserve_mass",
    "ResidualUNet",
    "train_superres",
    "predict",
    "save_superres_checkpoint",
    "load_superres_checkpoint",
]
