r"""Deterministic super-resolution of rain fields with Minkowski-functional losses.

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
    output ``expm1(max(log1p(up) + residual, 0))`` is non-negative by
    construction and equals the bicubic baseline at initialisation (the last
    convolution starts at zero).
Training
    :func:`train_superres`: loss = MSE in ``log1p`` space + λ(epoch)·term,
    with ``term`` one of :class:`~mink_toolkit.losses.MinkowskiLoss` (the
    relaxed Minkowski loss; its temperature schedule advances with the
    epoch) or :class:`~mink_toolkit.surrogate.SurrogateTerm` (a frozen neural
    surrogate; the surrogate owns its input transform, so it is fed mm/h and
    cannot be fed the wrong representation, a bug of the published code).
    λ follows a :class:`~mink_toolkit.schedules.LambdaSchedule` with warm-up.
    Seeds, tqdm progress, checkpoints and per-step gradient-norm logging.
Data
    :func:`mink_toolkit.datasets.superres_patches`: screened 128 × 128
    patches of an OPERA product and their coarse versions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_array_field, check_choice, check_integer, check_positive
from .checkpoint import load_checkpoint, save_checkpoint
from .datasets import random_d4, random_windows, take_windows
from .metrics import high_wavenumber_share
from .schedules import LambdaSchedule, Schedule

__all__ = [
    "upsample",
    "log_mse",
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
    t = coarse if is_tensor else torch.as_tensor(check_array_field(coarse, "coarse").astype(np.float64))
    if t.ndim < 2:
        raise ValueError(f"coarse must have at least 2 dims (..., h, w); got shape {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        raise TypeError(f"coarse must be a floating-point tensor; got {t.dtype}")
    if not torch.isfinite(t).all():
        raise ValueError("coarse contains NaN or inf; upsampling needs full coverage")
    if (t < 0).any():
        raise ValueError("coarse contains negative rain rates")
    lead = t.shape[:-2]
    flat = t.reshape(-1, 1, *t.shape[-2:])
    out = _upsample_tensor(flat, factor, method).reshape(*lead, t.shape[-2] * factor, t.shape[-1] * factor)
    return out if is_tensor else out.numpy()


def log_mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared error in ``log1p`` space, :math:`\langle(\log(1+\hat x) - \log(1+x))^2\rangle`.

    Rain rates span four decades; the log keeps the few intense pixels from
    dominating and matches the network's output space.

    Examples
    --------
    >>> import math, torch
    >>> float(log_mse(torch.zeros(2, 2), torch.full((2, 2), math.e - 1)))
    1.0
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return (torch.log1p(pred) - torch.log1p(target)).pow(2).mean()


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


class ResidualUNet(nn.Module):
    """Small residual U-Net for ×``factor`` super-resolution of rain rates.

    ``forward(coarse)`` upsamples the coarse field (bicubic by default),
    maps it to ``z = log1p(up)``, adds the U-Net's residual ``r(z)`` and
    returns ``expm1(max(z + r, 0))`` in mm/h: non-negative by construction.
    The last convolution is initialised at zero, so an untrained network is
    exactly the upsampling baseline and training only has to learn the
    correction (Kim et al. 2016, residual learning for super-resolution;
    Ronneberger et al. 2015, U-Net).

    Parameters
    ----------
    factor : int, default 8
        Upsampling factor.
    width : int, default 8
        Channels at full resolution; doubled at each level.
    depth : int, default 2
        Number of 2× poolings; fine sizes must be multiples of ``2**depth``.
    upsampling : {"bicubic", "nearest"}
        Upsampling of the input.

    Examples
    --------
    >>> import torch
    >>> net = ResidualUNet(factor=4, width=4, depth=1)
    >>> coarse = torch.rand(2, 1, 8, 8)
    >>> out = net(coarse)
    >>> out.shape, bool(torch.allclose(out, upsample(coarse, 4), atol=1e-6))
    (torch.Size([2, 1, 32, 32]), True)
    """

    def __init__(self, factor: int = 8, width: int = 8, depth: int = 2, upsampling: str = "bicubic"):
        super().__init__()
        self.factor = _check_factor(factor)
        width = check_integer(width, "width", minimum=1)
        depth = check_integer(depth, "depth", minimum=1)
        self.upsampling = check_choice(upsampling, UPSAMPLING_METHODS, "upsampling")
        self.width, self.depth = width, depth
        channels = [width * 2**k for k in range(depth + 1)]
        self.encoders = nn.ModuleList(
            [_conv_block(1, channels[0])] + [_conv_block(channels[k - 1], channels[k]) for k in range(1, depth + 1)]
        )
        self.decoders = nn.ModuleList(
            [_conv_block(channels[k + 1] + channels[k], channels[k]) for k in reversed(range(depth))]
        )
        self.head = nn.Conv2d(channels[0], 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def config(self) -> dict:
        """Constructor arguments (stored in checkpoints)."""
        return {"factor": self.factor, "width": self.width, "depth": self.depth, "upsampling": self.upsampling}

    def residual(self, z: torch.Tensor) -> torch.Tensor:
        """U-Net residual in log1p space, (B, 1, H, W) -> (B, 1, H, W)."""
        skips = []
        h = z
        for k, encoder in enumerate(self.encoders):
            if k > 0:
                h = F.avg_pool2d(h, 2)
            h = encoder(h)
            skips.append(h)
        for decoder, skip in zip(self.decoders, reversed(skips[:-1])):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = decoder(torch.cat([h, skip], dim=1))
        return self.head(h)

    def forward(self, coarse: torch.Tensor) -> torch.Tensor:
        """Coarse rain rate (B, 1, h, w) in mm/h -> fine rain rate (B, 1, h·f, w·f) in mm/h."""
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
        if torch.isnan(coarse).any():
            raise ValueError("coarse contains NaN; the network needs full coverage")
        up = _upsample_tensor(coarse.clamp_min(0.0), self.factor, self.upsampling)
        z = torch.log1p(up)
        return torch.expm1((z + self.residual(z)).clamp_min(0.0))


# --------------------------------------------------------------------------
# Loss terms and schedule
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------


def train_superres(
    model: ResidualUNet,
    coarse,
    fine,
    *,
    term: Callable | None = None,
    schedule: LambdaSchedule = LambdaSchedule(),
    epochs: int = 10,
    batch_size: int = 16,
    lr: float = 2e-3,
    crop: int | None = 64,
    seed: int = 0,
    progress: bool = True,
    checkpoint: str | Path | None = None,
) -> dict:
    """Train a super-resolution network with MSE (log space) + λ(epoch)·term.

    Parameters
    ----------
    model : ResidualUNet
    coarse : array_like, shape (N, h, w)
        Coarse rain rates (mm/h), no NaN.
    fine : array_like, shape (N, h·f, w·f)
        Matching fine rain rates (mm/h), no NaN.
    term : callable, optional
        ``term(pred, target) -> scalar`` on (B, 1, H, W) mm/h tensors, e.g.
        :class:`~mink_toolkit.losses.MinkowskiLoss` (with a schedule over
        ``epochs`` steps) or :class:`~mink_toolkit.surrogate.SurrogateTerm`;
        if it has a ``step`` attribute it is set to the epoch, so a
        temperature schedule advances once per epoch. ``None``: MSE only.
    schedule : LambdaSchedule
        λ per epoch.
    epochs, batch_size : int
    lr : float
        Adam learning rate.
    crop : int or None
        Train on random fine crops of this side (a multiple of the factor
        and of ``2**depth``), with random rotations/flips (rain statistics
        are isotropic to first order); ``None``: whole patches.
    seed : int
        Seeds weights initialisation (when the model is built under it),
        batch order, crops and augmentation.
    progress : bool
        tqdm progress bar over epochs.
    checkpoint : path, optional
        Where to save the final weights, config and history.

    Returns
    -------
    dict
        History lists per epoch: ``lambda``, ``loss``, ``mse``, ``term``,
        ``loss_std`` (std of the step losses within the epoch),
        ``grad_norm`` and ``grad_norm_max`` (total gradient norm, mean and
        max over steps), ``term_grad_high_share`` (high-wavenumber share of
        ∂term/∂pred on the first batch), ``term_grad_norm`` and
        ``mse_grad_norm`` (ℓ2 norms of ∂term/∂pred and ∂MSE/∂pred on the
        first batch; NaN while λ = 0); plus ``step_loss`` and
        ``step_grad_norm`` (every step), ``seconds``.

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
    import time

    from tqdm.auto import tqdm

    if not isinstance(model, ResidualUNet):
        raise TypeError(f"model must be a ResidualUNet; got {type(model).__name__}")
    factor = model.factor
    c = np.asarray(check_array_field(coarse, "coarse"), dtype=np.float32)
    f = np.asarray(check_array_field(fine, "fine"), dtype=np.float32)
    if c.ndim != 3 or f.ndim != 3 or c.shape[0] != f.shape[0]:
        raise ValueError(f"coarse and fine must be (N, h, w) and (N, H, W) with equal N; got {c.shape}, {f.shape}")
    if f.shape[-2:] != (c.shape[-2] * factor, c.shape[-1] * factor):
        raise ValueError(f"fine shape {f.shape[-2:]} is not coarse shape {c.shape[-2:]} times factor {factor}")
    if (c < 0).any() or (f < 0).any():
        raise ValueError("coarse and fine must be non-negative rain rates")
    epochs = check_integer(epochs, "epochs", minimum=1)
    batch_size = check_integer(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    if crop is not None:
        if crop % factor or crop % 2**model.depth or crop > f.shape[-1] or crop > f.shape[-2]:
            raise ValueError(f"crop must divide by factor {factor} and 2**depth and fit the patches; got {crop}")
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule (e.g. LambdaSchedule); got {type(schedule).__name__}")

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    cutoff = 1.0 / (2 * factor)
    keys = ("lambda", "loss", "mse", "term", "loss_std", "grad_norm", "grad_norm_max", "term_grad_high_share",
            "term_grad_norm", "mse_grad_norm")
    history: dict = {k: [] for k in keys}
    history["step_loss"], history["step_grad_norm"] = [], []
    start = time.perf_counter()
    n = c.shape[0]
    model.train()
    for epoch in tqdm(range(epochs), desc="train", disable=not progress, leave=False):
        lam = schedule(epoch)
        if term is not None and hasattr(term, "step"):
            term.step = epoch  # advances MinkowskiLoss's temperature schedule
        order = rng.permutation(n)
        losses, mses, terms, norms = [], [], [], []
        high_share = term_grad = mse_grad = float("nan")
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
            xb, yb = torch.from_numpy(np.ascontiguousarray(xb))[:, None], torch.from_numpy(np.ascontiguousarray(yb))[:, None]
            pred = model(xb)
            mse = log_mse(pred, yb)
            loss = mse
            term_value = torch.zeros(())
            if term is not None and lam > 0:
                term_value = term(pred, yb)
                if b0 == 0:
                    # What the term tells the network, measured where it enters: ∂term/∂pred
                    # (its norm, and how much of it lies above the coarse grid's Nyquist
                    # frequency), next to ∂MSE/∂pred. Only the first batch of each epoch, to
                    # keep the two extra backward passes cheap.
                    (g,) = torch.autograd.grad(term_value, pred, retain_graph=True)
                    (g_mse,) = torch.autograd.grad(mse, pred, retain_graph=True)
                    high_share = high_wavenumber_share(g.detach()[:, 0].double().numpy(), cutoff)
                    term_grad = float(torch.linalg.vector_norm(g))
                    mse_grad = float(torch.linalg.vector_norm(g_mse))
                loss = mse + lam * term_value
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
            )
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch}; lower lr or λ")
            optimiser.step()
            losses.append(float(loss.detach()))
            mses.append(float(mse.detach()))
            terms.append(float(term_value.detach()))
            norms.append(float(norm))
        history["lambda"].append(lam)
        history["loss"].append(float(np.mean(losses)))
        history["mse"].append(float(np.mean(mses)))
        history["term"].append(float(np.mean(terms)))
        history["loss_std"].append(float(np.std(losses)))
        history["grad_norm"].append(float(np.mean(norms)))
        history["grad_norm_max"].append(float(np.max(norms)))
        history["term_grad_high_share"].append(high_share)
        history["term_grad_norm"].append(term_grad)
        history["mse_grad_norm"].append(mse_grad)
        history["step_loss"] += losses
        history["step_grad_norm"] += norms
    history["seconds"] = time.perf_counter() - start
    model.eval()
    if checkpoint is not None:
        save_superres_checkpoint(checkpoint, model, history=history)
    return history


@torch.no_grad()
def predict(model: nn.Module, coarse, batch_size: int = 32) -> np.ndarray:
    """Run a trained network on coarse fields (N, h, w) mm/h -> (N, H, W) mm/h (float64).

    Examples
    --------
    >>> import numpy as np
    >>> predict(ResidualUNet(factor=2, width=2, depth=1), np.ones((1, 4, 4))).shape
    (1, 8, 8)
    """
    c = np.asarray(check_array_field(coarse, "coarse"), dtype=np.float32)
    if c.ndim != 3:
        raise ValueError(f"coarse must be (N, h, w); got {c.shape}")
    was_training = model.training
    model.eval()
    out = [model(torch.from_numpy(c[i : i + batch_size])[:, None])[:, 0].double().numpy() for i in range(0, len(c), batch_size)]
    model.train(was_training)
    return np.concatenate(out, axis=0)


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
