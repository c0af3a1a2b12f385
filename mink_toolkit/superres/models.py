r"""The super-resolution network: a residual U-Net in ``log1p`` space, mass conservation, the stochastic generator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._runtime import compiled
from .._validation import check_choice, check_integer, check_tensor
from .baselines import UPSAMPLING_METHODS, _check_factor, _upsample_tensor

__all__ = ["MASS_EPS", "MASS_DELTA", "conserve_mass", "ResidualUNet"]


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


def _unet_outputs(model: "ResidualUNet", coarse: torch.Tensor, generator=None, config: str = "") -> torch.Tensor:
    """The computation of :meth:`ResidualUNet.forward` on a checked input (the core ``compile=True`` compiles).

    ``config`` (unused here) keys the cache of :func:`~mink_toolkit._runtime.compiled`:
    a compiled function, and a recompilation budget, per configuration.
    """
    coarse = coarse.clamp_min(0.0)
    up = _upsample_tensor(coarse, model.factor, model.upsampling)
    z = torch.log1p(up)
    fine = torch.expm1((z + model.residual(z, generator)).clamp_min(0.0))
    if model.mass_conserving:
        fine = conserve_mass(fine, coarse, model.factor)
    return fine


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
    >>> from mink_toolkit.superres import upsample
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
        return self._forward(coarse, generator, False)

    def _forward(self, coarse: torch.Tensor, generator: torch.Generator | None, compile: bool) -> torch.Tensor:
        """:meth:`forward`, its computation after the checks compiled with ``compile``
        (:func:`~mink_toolkit.superres.training.train_superres` chooses per call).

        A stochastic generator stays eager: its ``torch.Generator`` does not trace.
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
        if compile and not self.stochastic:
            # one compiled graph per configuration (instances share it); None: no noise generator
            return compiled(_unet_outputs, None, repr(self.config()))(self, coarse)
        return _unet_outputs(self, coarse, generator)

    def sample(self, coarse: torch.Tensor, members: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``members`` draws per input, (B, 1, h, w) -> (B, members, H, W) (identical for a deterministic model)."""
        members = check_integer(members, "members", minimum=1)
        b = coarse.shape[0]
        out = self(coarse.repeat_interleave(members, dim=0), generator)
        return out.reshape(b, members, *out.shape[-2:])
