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
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_array_field, check_choice, check_integer, check_positive, check_tensor
from .checkpoint import load_checkpoint, save_checkpoint
from .datasets import random_d4, random_windows, take_windows
from .losses import DATA_LOSSES, fair_crps_loss
from .schedules import LambdaSchedule, Schedule
from .verification import high_wavenumber_share

__all__ = [
    "upsample",
    "conserve_mass",
    "ResidualUNet",
    "train_superres",
    "predict",
    "save_superres_checkpoint",
    "load_superres_checkpoint",
]

UPSAMPLING_METHODS = ("nearest", "bicubic")


def _check_factor(factor) -> int:
    return check_integer(factor, "factor", minimum=1)


# --------------------------------------------------------------------------
# Coarsening and upsampling
# --------------------------------------------------------------------------


def _upsample_tensor(coarse: torch.Tensor, factor: int, method: str) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, h*factor, w*factor), non-negative."""
    if method == "nearest":
        return F.interpolate(coarse, scale_factor=factor, mode="nearest")
    # Bicubic (Keys a = -0.75, torch's) overshoots near sharp gradients; rain
    # cannot be negative, so clamp (align_corners=False keeps the block centres).
    up = F.interpolate(coarse, scale_factor=factor, mode="bicubic", align_corners=False)
    return up.clamp_min(0.0)


def upsample(coarse, factor: int = 8, method: str = "bicubic"):
    """Upsample a coarse rain field by an integer factor (baselines and network input).

    Parameters
    ----------
    coarse : ndarray or torch.Tensor, shape (..., h, w)
        Coarse rain rate (mm/h), finite and non-negative.
    factor : int, default 8
    method : {"nearest", "bicubic"}
        ``"nearest"`` repeats each block value (exactly mass conserving);
        ``"bicubic"`` is torch's bicubic interpolation (Keys 1981,
        a = −0.75, ``align_corners=False``) clamped at 0.

    Returns
    -------
    Same type as ``coarse``, shape (..., h*factor, w*factor)

    Examples
    --------
    >>> import numpy as np
    >>> upsample(np.array([[1.0, 2.0]]), 2, "nearest")
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.]])
    """
    factor = _check_factor(factor)
    check_choice(method, UPSAMPLING_METHODS, "method")
    is_tensor = isinstance(coarse, torch.Tensor)
    # NaN is let through here so that it meets the one check below, with the advice that applies.
    t = coarse if is_tensor else torch.as_tensor(check_array_field(coarse, "coarse", allow_nan=True).astype(np.float64))
    check_tensor(t, "coarse", min_ndim=2, finite=True, nonnegative=True, dtypes=(torch.float32, torch.float64),
                 advice="upsampling needs full coverage")
    lead = t.shape[:-2]
    flat = t.reshape(-1, 1, *t.shape[-2:])
    out = _upsample_tensor(flat, factor, method).reshape(*lead, t.shape[-2] * factor, t.shape[-1] * factor)
    return out if is_tensor else out.numpy()


# --------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(inplace=True),
    )


#: Weight (mm/h) given uniformly to a block whose weights are all zero but whose coarse value is not.
MASS_EPS = 1e-3
#: Offset (mm/h) of the log ratios in the smooth iterations of :func:`conserve_mass`.
MASS_DELTA = 1e-3


def conserve_mass(weights: torch.Tensor, coarse: torch.Tensor, factor: int, *, iterations: int = 4) -> torch.Tensor:
    r"""Rescale non-negative fine weights so each ``factor × factor`` block has the coarse value as its mean.

    The output's block means equal ``coarse`` exactly (up to rounding),
    whatever the weights: a network that outputs the weights can only
    *redistribute* the rain of each coarse pixel (Harder et al. 2023,
    hard-constrained downscaling). Pixels with zero weight stay exactly dry,
    and so do blocks with ``coarse = 0``.

    A plain block-wise rescale :math:`x = w\,c/\overline{w}_{block}`
    (``iterations=0``) multiplies neighbouring blocks by different factors
    and draws the 16 km grid into the field as steps (grid-aligned edges).
    So the correction is first spread smoothly: ``iterations`` times,
    :math:`x \leftarrow x \exp(U[\log(c + \delta) - \log(\overline{x}_{block} +
    \delta)])` with :math:`U` the bicubic upsampling (a smooth multiplicative
    back-projection, Irani & Peleg 1991, with :math:`\delta` =
    :data:`MASS_DELTA`); the exact block-wise rescale then only removes a
    small remainder. Blocks whose weights are all zero get the uniform
    weight :data:`MASS_EPS` first. Differentiable throughout.

    Parameters
    ----------
    weights : torch.Tensor, shape (B, C, H, W), >= 0
    coarse : torch.Tensor, shape (B, 1, H/factor, W/factor), >= 0
    factor : int
    iterations : int, >= 0
        Smooth iterations before the exact rescale.

    Returns
    -------
    torch.Tensor, shape (B, C, H, W)

    Examples
    --------
    >>> import torch
    >>> w = torch.rand(2, 1, 16, 16); c = torch.rand(2, 1, 4, 4)
    >>> out = conserve_mass(w, c, 4)
    >>> bool(torch.allclose(torch.nn.functional.avg_pool2d(out, 4), c, atol=1e-6))
    True
    """
    iterations = check_integer(iterations, "iterations", minimum=0)
    nearest = lambda t: F.interpolate(t, scale_factor=factor, mode="nearest")  # noqa: E731
    empty = (F.avg_pool2d(weights, factor) <= 0).to(weights.dtype)
    x = weights + MASS_EPS * nearest(empty)
    for _ in range(iterations):
        log_ratio = torch.log(coarse + MASS_DELTA) - torch.log(F.avg_pool2d(x, factor) + MASS_DELTA)
        x = x * torch.exp(F.interpolate(log_ratio, scale_factor=factor, mode="bicubic", align_corners=False))
    return x * nearest(coarse / F.avg_pool2d(x, factor))


class ResidualUNet(nn.Module):
    """Small residual U-Net for ×``factor`` super-resolution of rain rates; optionally a stochastic generator.

    ``forward(coarse)`` upsamples the coarse field (bicubic by default),
    maps it to ``z = log1p(up)`` and adds the U-Net's residual ``r(z)``;
    ``w = expm1(max(z + r, 0))`` is the fine field in mm/h, non-negative by
    construction. With ``mass_conserving=True`` (default) ``w`` is rescaled
    by :func:`conserve_mass` (smoothly, then exactly), so every 8 × 8 block
    of the output has exactly the coarse pixel's value as its mean: the
    network only redistributes rain. The last convolution is
    initialised at zero, so an untrained network is exactly the (mass
    conserving) upsampling baseline and training only has to learn the
    correction (Kim et al. 2016, residual learning; Ronneberger et al. 2015,
    U-Net).

    With ``noise_channels = k > 0`` it is a **stochastic generator**: every
    encoder level gets ``k`` extra input channels of standard Gaussian noise
    at its resolution (noise injection at every scale), so each call draws a
    different member of an ensemble (:meth:`sample`).

    Parameters
    ----------
    factor : int, default 8
        Upsampling factor.
    width : int, default 16
        Channels at full resolution; doubled at each level.
    depth : int, default 2
        Number of 2× poolings; fine sizes must be multiples of ``2**depth``.
    upsampling : {"bicubic", "nearest"}
        Upsampling of the input.
    mass_conserving : bool, default True
        Rescale the output to the coarse block means.
    noise_channels : int, default 0
        Noise channels per encoder level (0: deterministic).

    Examples
    --------
    >>> import torch
    >>> net = ResidualUNet(factor=4, width=4, depth=1, mass_conserving=False)
    >>> coarse = torch.rand(2, 1, 8, 8)
    >>> out = net(coarse)
    >>> out.shape, bool(torch.allclose(out, upsample(coarse, 4), atol=1e-6))
    (torch.Size([2, 1, 32, 32]), True)
    >>> gen = ResidualUNet(factor=4, width=4, depth=1, noise_channels=2)
    >>> gen.sample(coarse, 3).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(self, factor: int = 8, width: int = 16, depth: int = 2, upsampling: str = "bicubic",
                 mass_conserving: bool = True, noise_channels: int = 0):
        super().__init__()
        self.factor = _check_factor(factor)
        width = check_integer(width, "width", minimum=1)
        depth = check_integer(depth, "depth", minimum=1)
        self.upsampling = check_choice(upsampling, UPSAMPLING_METHODS, "upsampling")
        if not isinstance(mass_conserving, bool):
            raise TypeError(f"mass_conserving must be a bool; got {type(mass_conserving).__name__}")
        self.noise_channels = check_integer(noise_channels, "noise_channels", minimum=0)
        self.width, self.depth, self.mass_conserving = width, depth, mass_conserving
        channels = [width * 2**k for k in range(depth + 1)]
        k = self.noise_channels
        self.encoders = nn.ModuleList(
            [_conv_block(1 + k, channels[0])]
            + [_conv_block(channels[i - 1] + k, channels[i]) for i in range(1, depth + 1)]
        )
        self.decoders = nn.ModuleList(
            [_conv_block(channels[i + 1] + channels[i], channels[i]) for i in reversed(range(depth))]
        )
        self.head = nn.Conv2d(channels[0], 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def stochastic(self) -> bool:
        """True for a generator (``noise_channels > 0``)."""
        return self.noise_channels > 0

    def config(self) -> dict:
        """Constructor arguments (stored in checkpoints)."""
        return {"factor": self.factor, "width": self.width, "depth": self.depth, "upsampling": self.upsampling,
                "mass_conserving": self.mass_conserving, "noise_channels": self.noise_channels}

    def residual(self, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """U-Net residual in log1p space, (B, 1, H, W) -> (B, 1, H, W); draws the noise of a generator."""
        skips = []
        h = z
        for k, encoder in enumerate(self.encoders):
            if k > 0:
                h = F.avg_pool2d(h, 2)
            if self.noise_channels:
                noise = torch.randn((h.shape[0], self.noise_channels, *h.shape[-2:]), generator=generator,
                                    dtype=h.dtype, device=h.device)
                h = torch.cat([h, noise], dim=1)
            h = encoder(h)
            skips.append(h)
        for decoder, skip in zip(self.decoders, reversed(skips[:-1])):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = decoder(torch.cat([h, skip], dim=1))
        return self.head(h)

    def forward(self, coarse: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Coarse rain rate (B, 1, h, w) in mm/h -> fine rain rate (B, 1, h·f, w·f) in mm/h.

        ``coarse`` must be finite, >= 0 and of the model's dtype (float32
        unless the model was converted); anything else raises.

        ``generator`` (a :class:`torch.Generator`) seeds the noise of a
        stochastic model; by default torch's global generator is used.
        """
        if not isinstance(coarse, torch.Tensor):
            raise TypeError(f"coarse must be a torch.Tensor; got {type(coarse).__name__}")
        if coarse.ndim != 4 or coarse.shape[1] != 1:
            raise ValueError(f"coarse must be shaped (B, 1, h, w); got {tuple(coarse.shape)}")
        multiple = 2**self.depth
        if (coarse.shape[-2] * self.factor) % multiple or (coarse.shape[-1] * self.factor) % multiple:
            raise ValueError(
                f"fine size {coarse.shape[-2] * self.factor}×{coarse.shape[-1] * self.factor} must be a "
                f"multiple of 2**depth = {multiple}"
            )
        check_tensor(coarse, "coarse", finite=True, nonnegative=True, dtypes=(self.head.weight.dtype,),
                     advice="the network needs full coverage")
        coarse = coarse.clamp_min(0.0)
        up = _upsample_tensor(coarse, self.factor, self.upsampling)
        z = torch.log1p(up)
        fine = torch.expm1((z + self.residual(z, generator)).clamp_min(0.0))
        if self.mass_conserving:
            fine = conserve_mass(fine, coarse, self.factor)
        return fine

    def sample(self, coarse: torch.Tensor, members: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``members`` draws per input, (B, 1, h, w) -> (B, members, H, W) (identical for a deterministic model)."""
        members = check_integer(members, "members", minimum=1)
        b = coarse.shape[0]
        out = self(coarse.repeat_interleave(members, dim=0), generator)
        return out.reshape(b, members, *out.shape[-2:])


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------




def _set_term_step(term, step):
    if term is not None and hasattr(term, "step"):
        term.step = step


@torch.no_grad()
def _validation_objective(model, val_coarse, val_fine, data_loss, term, lam, final_step, members, seed,
                          batch_size=16, crps=((1,), "log1p")):
    """Objective on validation patches at the end of training: data loss (+ λ·term at its final step)."""
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    val_coarse, val_fine = np.asarray(val_coarse, np.float32), np.asarray(val_fine, np.float32)
    total_data = total_term = 0.0
    n = val_coarse.shape[0]
    for i in range(0, n, batch_size):
        xb = torch.from_numpy(val_coarse[i : i + batch_size])[:, None]
        yb = torch.from_numpy(val_fine[i : i + batch_size])[:, None]
        if model.stochastic:
            pred = model.sample(xb, members, generator)
            d = fair_crps_loss(pred, yb, scales=crps[0], space=crps[1])
            flat, target = pred.reshape(-1, 1, *pred.shape[-2:]), yb.repeat_interleave(members, dim=0)
        else:
            pred = model(xb)
            d = data_loss(pred, yb)
            flat, target = pred, yb
        weight = xb.shape[0] / n
        total_data += float(d) * weight
        if term is not None and lam > 0:
            previous = getattr(term, "step", None)
            _set_term_step(term, final_step)
            total_term += float(term(flat, target)) * weight
            _set_term_step(term, previous)
    model.train(was_training)
    return total_data + lam * total_term, total_data, total_term


def train_superres(
    model: ResidualUNet,
    coarse,
    fine,
    *,
    term: Callable | None = None,
    schedule: LambdaSchedule = LambdaSchedule(),
    loss: str = "log_mse",
    epochs: int = 10,
    batch_size: int = 16,
    lr: float = 2e-3,
    lr_schedule: str = "cosine",
    crop: int | None = 64,
    members: int = 2,
    crps_scales=(1,),
    crps_space: str = "log1p",
    val=None,
    val_every: int = 1,
    seed: int = 0,
    progress=True,
    checkpoint: str | Path | None = None,
) -> dict:
    """Train a super-resolution network (or generator) with data loss + λ(epoch)·term.

    Parameters
    ----------
    model : ResidualUNet
        Deterministic, or a generator (``noise_channels > 0``).
    coarse : array_like, shape (N, h, w)
        Coarse rain rates (mm/h), no NaN.
    fine : array_like, shape (N, h·f, w·f)
        Matching fine rain rates (mm/h), no NaN.
    term : callable, optional
        ``term(pred, target) -> scalar`` on (B, 1, H, W) mm/h tensors, e.g.
        :class:`~mink_toolkit.losses.MinkowskiLoss` (with a schedule over
        ``epochs`` steps) or :class:`~mink_toolkit.losses.SurrogateTerm`;
        if it has a ``step`` attribute it is set to the epoch, so a
        temperature schedule advances once per epoch. For a generator it
        scores every member against the target. ``None``: data loss only.
    schedule : LambdaSchedule
        λ per epoch.
    loss : {"log_mse", "log_l1"}
        Data loss of a deterministic model (:func:`~mink_toolkit.losses.log_l1`,
        :func:`~mink_toolkit.losses.log_mse`). A generator is always trained
        with :func:`~mink_toolkit.losses.fair_crps_loss` over ``members``
        draws per input.
    epochs, batch_size : int
        ``batch_size`` inputs per step (a generator sees ``members`` draws of each).
    lr : float
        Adam learning rate (peak).
    lr_schedule : {"cosine", "constant"}
        Cosine decay of the learning rate to 0 over the steps, or constant.
    crop : int or None
        Train on random fine crops of this side (a multiple of the factor
        and of ``2**depth``), with random rotations/flips (rain statistics
        are isotropic to first order); ``None``: whole patches.
    members : int, >= 2
        Draws per input for a generator's fair CRPS.
    crps_scales : sequence of int
        Block sizes of the generator's multi-scale CRPS (:func:`~mink_toolkit.losses.fair_crps_loss`).
    crps_space : {"log1p", "linear"}
        Space of the generator's CRPS (:func:`~mink_toolkit.losses.fair_crps_loss`).
    val : (coarse, fine) arrays, optional
        Validation patches for early stopping: after every ``val_every``
        epochs once λ has reached its final value, the objective the run
        converges to (data loss + λ_final·term at the term's final step;
        for a generator the fair CRPS of ``members`` draws with fixed noise)
        is measured on them, and the weights of the best epoch are restored
        at the end.
    val_every : int
    seed : int
        Seeds batch order, crops, augmentation and a generator's noise (the
        weights are initialised when the model is built: build it under
        ``torch.manual_seed``).
    progress : bool or tqdm bar
        ``True``: a tqdm bar over epochs; a tqdm instance: advanced by one
        per epoch (one overall bar over several trainings); ``False``: none.
    checkpoint : path, optional
        Where to save the final weights, config and history.

    Returns
    -------
    dict
        History lists per epoch: ``lambda``, ``loss``, ``data`` (data
        loss), ``term``, ``loss_std`` (std of the step losses within the
        epoch), ``grad_norm`` and ``grad_norm_max`` (total gradient norm,
        mean and max over steps), ``term_grad_high_share`` (high-wavenumber
        share of ∂term/∂pred on the first batch), ``term_grad_norm`` and
        ``data_grad_norm`` (ℓ2 norms of ∂term/∂pred and ∂data/∂pred on the
        first batch; NaN while λ = 0), ``val`` (validation objective, NaN
        where not measured); plus ``step_loss`` and ``step_grad_norm`` (every
        step), ``best_epoch`` (restored; the last epoch without ``val``),
        ``seconds``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> rng = np.random.default_rng(0)
    >>> from mink_toolkit.resample import block_mean
    >>> fine = rng.gamma(0.5, 1.0, (8, 16, 16)); coarse = block_mean(fine, 4)
    >>> torch.manual_seed(0) and None
    >>> net = ResidualUNet(factor=4, width=4, depth=1)
    >>> h = train_superres(net, coarse, fine, epochs=2, batch_size=4, crop=None, progress=False)
    >>> len(h["loss"]), len(h["step_loss"])
    (2, 4)
    """
    import copy
    import time

    from tqdm.auto import tqdm

    if not isinstance(model, ResidualUNet):
        raise TypeError(f"model must be a ResidualUNet; got {type(model).__name__}")
    factor = model.factor
    c, f = _check_pairs(coarse, fine, factor, "")
    epochs = check_integer(epochs, "epochs", minimum=1)
    batch_size = check_integer(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    check_choice(lr_schedule, ("cosine", "constant"), "lr_schedule")
    data_loss = DATA_LOSSES[check_choice(loss, tuple(DATA_LOSSES), "loss")]
    members = check_integer(members, "members", minimum=2)
    check_choice(crps_space, ("log1p", "linear"), "crps_space")
    val_every = check_integer(val_every, "val_every", minimum=1)
    if crop is not None:
        if crop % factor or crop % 2**model.depth or crop > f.shape[-1] or crop > f.shape[-2]:
            raise ValueError(f"crop must divide by factor {factor} and 2**depth and fit the patches; got {crop}")
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule (e.g. LambdaSchedule); got {type(schedule).__name__}")
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise TypeError("val must be a (coarse, fine) pair of arrays")
        val_c, val_f = _check_pairs(val[0], val[1], factor, "val ")

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    noise = torch.Generator().manual_seed(int(seed))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    n = c.shape[0]
    steps_per_epoch = -(-n // batch_size)
    total_steps = epochs * steps_per_epoch
    scheduler = None
    if lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda k: 0.5 * (1 + np.cos(np.pi * min(k, total_steps) / total_steps)))
    lam_final = float(schedule(10**9)) if term is not None else 0.0
    first_val_epoch = min(epochs - 1, max(0, getattr(schedule, "total_steps", 1) - 1)) if term is not None else 0
    cutoff = 1.0 / (2 * factor)
    keys = ("lambda", "loss", "data", "term", "loss_std", "grad_norm", "grad_norm_max", "term_grad_high_share",
            "term_grad_norm", "data_grad_norm", "val")
    history: dict = {k: [] for k in keys}
    history["step_loss"], history["step_grad_norm"] = [], []
    best, best_state, best_epoch = float("inf"), None, epochs - 1
    start = time.perf_counter()
    own_bar = progress is True
    bar = tqdm(total=epochs, desc="train", leave=False) if own_bar else (progress or None)
    model.train()
    for epoch in range(epochs):
        lam = schedule(epoch)
        _set_term_step(term, epoch)  # advances MinkowskiLoss's temperature schedule
        order = rng.permutation(n)
        losses, datas, terms, norms = [], [], [], []
        high_share = term_grad = data_grad = float("nan")
        for b0 in range(0, n, batch_size):
            idx = order[b0 : b0 + batch_size]
            if crop is None:
                xb, yb = c[idx], f[idx]
            else:
                # Independent windows per field, aligned with the coarse grid.
                cc = crop // factor
                _, rows, cols = random_windows(c.shape, cc, len(idx), rng, which=idx)
                xb = take_windows(c, idx, rows, cols, cc)
                yb = take_windows(f, idx, rows * factor, cols * factor, crop)
            xb, yb = random_d4(xb, rng, yb)
            xb = torch.from_numpy(np.ascontiguousarray(xb))[:, None]
            yb = torch.from_numpy(np.ascontiguousarray(yb))[:, None]
            if model.stochastic:
                pred = model(xb.repeat_interleave(members, dim=0), noise)  # (B·M, 1, H, W), draws of one input together
                data = fair_crps_loss(pred.reshape(xb.shape[0], members, *pred.shape[-2:]), yb, scales=crps_scales,
                                      space=crps_space)
                target = yb.repeat_interleave(members, dim=0)
            else:
                pred = model(xb)
                data = data_loss(pred, yb)
                target = yb
            total = data
            term_value = torch.zeros(())
            if term is not None and lam > 0:
                term_value = term(pred, target)
                if b0 == 0:
                    # What the term tells the network, measured where it enters: ∂term/∂pred
                    # (its norm, and how much of it lies above the coarse grid's Nyquist
                    # frequency), next to ∂data/∂pred. Only the first batch of each epoch, to
                    # keep the two extra backward passes cheap.
                    (g,) = torch.autograd.grad(term_value, pred, retain_graph=True)
                    (g_data,) = torch.autograd.grad(data, pred, retain_graph=True)
                    high_share = high_wavenumber_share(g.detach()[:, 0].double().numpy(), cutoff)
                    term_grad = float(torch.linalg.vector_norm(g))
                    data_grad = float(torch.linalg.vector_norm(g_data))
                total = data + lam * term_value
            if not torch.isfinite(total):
                raise FloatingPointError(f"loss became {float(total)} at epoch {epoch}; lower lr or λ")
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
            )
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(float(total.detach()))
            datas.append(float(data.detach()))
            terms.append(float(term_value.detach()))
            norms.append(float(norm))
        value = float("nan")
        if val is not None and epoch >= first_val_epoch and (
            (epoch - first_val_epoch) % val_every == 0 or epoch == epochs - 1
        ):
            value = _validation_objective(model, val_c, val_f, data_loss, term, lam_final, epochs, members,
                                          seed, crps=(crps_scales, crps_space))[0]
            if value < best:
                best, best_epoch = value, epoch
                best_state = copy.deepcopy(model.state_dict())
        history["lambda"].append(lam)
        history["loss"].append(float(np.mean(losses)))
        history["data"].append(float(np.mean(datas)))
        history["term"].append(float(np.mean(terms)))
        history["loss_std"].append(float(np.std(losses)))
        history["grad_norm"].append(float(np.mean(norms)))
        history["grad_norm_max"].append(float(np.max(norms)))
        history["term_grad_high_share"].append(high_share)
        history["term_grad_norm"].append(term_grad)
        history["data_grad_norm"].append(data_grad)
        history["val"].append(value)
        history["step_loss"] += losses
        history["step_grad_norm"] += norms
        if bar is not None:
            bar.update(1)
    if own_bar:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_epoch"] = int(best_epoch)
    history["seconds"] = time.perf_counter() - start
    _set_term_step(term, epochs)
    model.eval()
    if checkpoint is not None:
        save_superres_checkpoint(checkpoint, model, history=history)
    return history


def _check_pairs(coarse, fine, factor, prefix):
    c = np.asarray(check_array_field(coarse, prefix + "coarse"), dtype=np.float32)
    f = np.asarray(check_array_field(fine, prefix + "fine"), dtype=np.float32)
    if c.ndim != 3 or f.ndim != 3 or c.shape[0] != f.shape[0]:
        raise ValueError(f"{prefix}coarse and {prefix}fine must be (N, h, w) and (N, H, W) with equal N; "
                         f"got {c.shape}, {f.shape}")
    if f.shape[-2:] != (c.shape[-2] * factor, c.shape[-1] * factor):
        raise ValueError(f"{prefix}fine shape {f.shape[-2:]} is not coarse shape {c.shape[-2:]} times factor {factor}")
    if (c < 0).any() or (f < 0).any():
        raise ValueError(f"{prefix}coarse and {prefix}fine must be non-negative rain rates")
    return c, f


@torch.no_grad()
def predict(model: nn.Module, coarse, batch_size: int = 32, *, members: int | None = None, seed: int = 0) -> np.ndarray:
    """Run a trained network on coarse fields (N, h, w) mm/h -> (N, H, W) mm/h (float64).

    For a generator (``model.stochastic``) pass ``members``: the result is
    then (members, N, H, W), draw ``k`` of every input in ``result[k]``, with
    noise seeded by ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> predict(ResidualUNet(factor=2, width=2, depth=1), np.ones((1, 4, 4))).shape
    (1, 8, 8)
    >>> predict(ResidualUNet(factor=2, width=2, depth=1, noise_channels=1), np.ones((3, 4, 4)), members=2).shape
    (2, 3, 8, 8)
    """
    c = np.asarray(check_array_field(coarse, "coarse"), dtype=np.float32)
    if c.ndim != 3:
        raise ValueError(f"coarse must be (N, h, w); got {c.shape}")
    stochastic = getattr(model, "stochastic", False)
    if stochastic and members is None:
        raise ValueError("model is a stochastic generator: pass members= (the ensemble size)")
    if members is not None and not stochastic:
        raise ValueError("members= is for stochastic generators; this model is deterministic")
    was_training = model.training
    model.eval()
    if stochastic:
        members = check_integer(members, "members", minimum=1)
        generator = torch.Generator().manual_seed(int(seed))
        out = [model.sample(torch.from_numpy(c[i : i + batch_size])[:, None], members, generator).double().numpy()
               for i in range(0, len(c), batch_size)]
        result = np.concatenate(out, axis=0).transpose(1, 0, 2, 3)
    else:
        out = [model(torch.from_numpy(c[i : i + batch_size])[:, None])[:, 0].double().numpy()
               for i in range(0, len(c), batch_size)]
        result = np.concatenate(out, axis=0)
    model.train(was_training)
    return result


def save_superres_checkpoint(path, model: ResidualUNet, *, history: dict | None = None) -> Path:
    """Save weights, constructor config and (optionally) the training history (:mod:`mink_toolkit.checkpoint`)."""
    return save_checkpoint(model, path, kind="superres", metadata={"history": history} if history is not None else None)


def load_superres_checkpoint(path, *, expect: dict | None = None) -> tuple[ResidualUNet, dict | None]:
    """Load a :func:`save_superres_checkpoint` file.

    Parameters
    ----------
    path : path
    expect : dict, optional
        Config entries the checkpoint must have (e.g. ``{"factor": 8}``).

    Returns
    -------
    model, history

    Raises
    ------
    FileNotFoundError, ValueError
        See :func:`mink_toolkit.checkpoint.load_checkpoint`.
    """
    model, _, metadata = load_checkpoint(path, kind="superres", build=lambda config: ResidualUNet(**config),
                                         expect=expect)
    return model, metadata.get("history")
