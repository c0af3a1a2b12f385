"""The configurations of ``reproduce superres`` (:class:`SuperresConfig`, :data:`FULL`, :data:`QUICK`) and its models."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..._runtime import check_compile
from ..._validation import check_device
from ...surrogate import DEFAULT_LIPSCHITZ_CAP

__all__ = ["BASELINES", "DETERMINISTIC", "GENERATORS", "MODEL_NAMES", "SuperresConfig", "FULL", "QUICK",
           "planned_epochs"]

BASELINES = ("nearest", "bicubic", "bicubic_mass")
DETERMINISTIC = ("unet_mse", "unet_minkowski", "unet_surrogate_lipschitz", "unet_surrogate_unconstrained")
GENERATORS = ("generator", "generator_minkowski")
MODEL_NAMES = BASELINES + DETERMINISTIC + GENERATORS


@dataclass(frozen=True)
class SuperresConfig:
    """Settings of the experiment (sizes in pixels, rates in mm/h)."""

    # data: files per split (None = all of the split) and patches
    train_files: int | None = None
    val_files: int | None = None
    test_files: int | None = None
    max_train_patches: int | None = None
    max_val_patches: int | None = 96
    max_test_patches: int | None = None
    early_stopping_patches: int = 32
    factor: int = 8
    # networks and training (crops of 48 px = 6 × 6 coarse pixels: as good on validation as 64 px, at 56 % of the cost)
    width: int = 16
    depth: int = 2
    epochs: int = 8
    batch_size: int = 16
    crop: int | None = 48
    lr: float = 2e-3
    loss: str = "log_mse"
    val_every: int = 2
    seeds: tuple = (0, 1, 2)
    warmup: int = 2
    start: int = 2
    relative_temperature: float = 0.1
    # generators: fair CRPS in mm/h over 2 draws per input, on the pixels and on 2 × 2 and 4 × 4 block means
    noise_channels: int = 4
    train_members: int = 2
    generator_batch_size: int = 8
    crps_scales: tuple = (1, 2, 4)
    crps_space: str = "linear"
    generator_epochs: int = 6
    ensemble_members: int = 16
    scored_members: int = 8
    # selection on validation
    architectures: tuple = (True, False)  # mass_conserving
    sweep_lambdas: tuple = (1e-3, 1e-2, 1e-1)
    # lipschitz_cap of the surrogate term's model (None: no cap)
    sweep_caps: tuple = (1.0, DEFAULT_LIPSCHITZ_CAP, None)
    generator_lambdas: tuple = (1e-2, 1e-1)
    sweep_seeds: tuple = (0, 1, 2)
    # learning curve of unet_mse on validation: nested fractions of the training patches, at two widths
    learning_curve_fractions: tuple = (0.25, 0.5, 1.0)
    learning_curve_widths: tuple = (16, 32)
    learning_curve_seeds: tuple = (0,)
    tolerance: float = 0.05
    # the two surrogate-term models (and the Lipschitz-cap sweep); notebook 04 leaves them to notebook 03
    surrogate_models: bool = True
    # noise floors of the gaming diagnostics
    bootstrap_resamples: int = 200
    # Surrogates: trained by the one trainer with the protocol of ``reproduce surrogate``
    # (mink_toolkit.experiments.surrogate.trained_surrogate), its quick configuration if set.
    surrogate_quick: bool = False
    surrogate_seed: int = 0
    workers: int = 2
    # how the networks (and the loss terms' surrogates) train: compiled training steps (the backend of
    # mink_toolkit._runtime.compile_backend; validation and evaluation stay eager), on this torch device
    compile: bool = True
    device: str = "cpu"

    def __post_init__(self):
        check_compile(self.compile)
        # the device as a string (a torch.device is accepted): the configuration goes into the JSON
        object.__setattr__(self, "device", check_device(self.device))


#: Reference configuration (65 minutes on 2 cores, compiled, on 2026-12-07: three seeds for every sweep
#: setting and the learning curve; see README).
FULL = SuperresConfig()
#: Smoke-test configuration: every model, three seeds and every selection step, on little data
#: and few epochs (well under a minute on 2 cores, eager; compiled, as the command runs it by
#: default, the first compilations add to that).
QUICK = replace(
    FULL,
    train_files=1,
    val_files=1,
    test_files=1,
    max_train_patches=16,
    max_val_patches=8,
    max_test_patches=8,
    early_stopping_patches=4,
    width=4,
    epochs=2,
    generator_epochs=2,
    batch_size=8,
    crop=32,
    val_every=1,
    warmup=1,
    start=0,
    generator_batch_size=4,
    ensemble_members=8,
    scored_members=2,
    sweep_lambdas=(1e-3, 1e-1),
    sweep_caps=(1.0, None),
    sweep_seeds=(0,),
    learning_curve_fractions=(0.5, 1.0),
    learning_curve_widths=(4, 8),
    generator_lambdas=(1e-2,),
    bootstrap_resamples=50,
    surrogate_quick=True,
    workers=1,
)


def planned_epochs(config: SuperresConfig) -> int:
    """Epochs of all the trainings of a run (the length of its progress bar).

    Examples
    --------
    >>> planned_epochs(QUICK)  # 15 deterministic, 3 learning-curve and 6 generator trainings of 2 epochs each
    48
    """
    sweep, seeds = set(config.sweep_seeds), set(config.seeds)
    n_sweep, n_reused = len(sweep), len(sweep & seeds)
    fresh = len(seeds) - n_reused  # final runs that are not sweep runs of the selected setting
    deterministic = (len(config.architectures) + len(config.sweep_lambdas)) * n_sweep + 2 * fresh
    if config.surrogate_models:
        deterministic += len(config.sweep_caps) * n_sweep + fresh + len(seeds)
    generators = (1 + len(config.generator_lambdas)) * n_sweep + 2 * fresh
    curve = sum(1 for w in config.learning_curve_widths for f in config.learning_curve_fractions
                for s in config.learning_curve_seeds if not (w == config.width and f == 1.0 and s in sweep))
    return (deterministic + curve) * config.epochs + generators * config.generator_epochs

