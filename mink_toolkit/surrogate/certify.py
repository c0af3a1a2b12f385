r"""Certified and attacked Lipschitz constants of the surrogates.

:func:`lipschitz_upper_bound` is a sound upper bound computed from exact
operator norms; :func:`empirical_lipschitz` searches for a large ratio
:math:`\|f(a) - f(b)\| / \|a - b\|`, a lower bound. Together they bracket
the true constant.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import check_choice, check_integer
from .configurations import ConfigurationSurrogate
from .constraints import head_lipschitz_constant
from .conventional import ConventionalSurrogate, _conv_grids
from .models import STATISTIC_TERMS, MinkowskiSurrogate
from .norms import conv_operator_norm, matrix_norm

__all__ = ["lipschitz_upper_bound", "attack_starts", "empirical_lipschitz"]


def _conventional_feature_bound(model: ConventionalSurrogate, input_shape) -> float:
    grids = _conv_grids(input_shape, len(model.channels), model.kernel_size)
    with torch.no_grad():
        weights = model.layer_weights()
        bound = 1.0
        for w, grid in zip(weights["conv"], grids):
            bound *= float(conv_operator_norm(w.double(), grid))
        bound /= math.sqrt(grids[-1][0] * grids[-1][1])  # mean pooling
        for w in weights["dense"]:
            bound *= float(matrix_norm(w.double()))
    return bound


def _additive_feature_bound(model: MinkowskiSurrogate, h: int, w: int) -> float:
    n_fixed = len(model.statistics)
    with torch.no_grad():
        weights = model.layer_weights()
        step = weights["slope"].double() / 4.0
        fixed_squared = torch.tensor([STATISTIC_TERMS[name][1] for name in model.statistics], dtype=torch.float64,
                                     device=step.device)
        squared = float((step[:n_fixed] ** 2 * fixed_squared).sum())
        if model.levels:
            learnt = float(conv_operator_norm(weights["entry"].double(), (h + 1, w + 1)))
            for weight in weights["hidden"]:
                learnt *= float(matrix_norm(weight.double()))
            learnt *= float(matrix_norm(weights["level"].double()))
            squared += float(step[n_fixed:].max()) ** 2 * learnt**2
    return math.sqrt(squared) * math.sqrt((h + 1) * (w + 1)) * math.sqrt(len(model.thresholds))


def _configuration_feature_bound(model: ConfigurationSurrogate, h: int, w: int) -> float:
    with torch.no_grad():
        slope = float(model.layer_weights()["slope"].double().max())
    return math.sqrt(2.0) * slope * math.sqrt((h + 1) * (w + 1)) * math.sqrt(len(model.thresholds))


def lipschitz_upper_bound(
    model: MinkowskiSurrogate | ConfigurationSurrogate | ConventionalSurrogate,
    input_shape: tuple[int, int] = (128, 128),
    *,
    of: str = "outputs",
) -> float:
    r"""Certified ℓ2 Lipschitz bound of the model on ``input_shape`` fields, from the normalised input.

    Sound for any weights: it bounds :math:`\|f(z_1) - f(z_2)\|_2 / \|z_1 - z_2\|_2`
    for every pair of fields, with :math:`z` = :func:`normalise_rain` of the
    rain (ℓ2 over all pixels) and, for ``of="outputs"`` (the default), f the
    model's **final outputs** — the ``(n_thresholds, 4)`` array of area,
    perimeter, β0 and χ per threshold, in the units the model returns them
    (pixel units times powers of ``pixel_size``), after the constrained head
    if the model has one. ``of="features"`` bounds the feature vector the head
    reads (:meth:`~MinkowskiSurrogate.features`).

    **Additive model.** Let :math:`S_j` be the grid of level feature j over the
    :math:`P = (H+1)(W+1)` vertices and :math:`T_{kj} = \sigma(a_j(S_j - c_k) + b_j)`.
    Then

    .. math::
        \|\Delta F\| \le \sqrt{n}\,\sqrt{P}\,
        \Big(\sum_{j\,\mathrm{fixed}} \frac{a_j^2}{16}\,\ell_j^2
        + \max_{j\,\mathrm{learnt}} \frac{a_j^2}{16}\; L_g^2\Big)^{1/2} \|\Delta z\|

    * order statistics: :math:`\ell_j^2 = 1` for the pixel (each pixel is the
      top-left of one block), 2 for pair max/min (a pixel is the first member
      of one counted pair and the second of one; the same for diagonal
      pairs), 4 for block max/min (each pixel is in 4 blocks), because max
      and min are 1-Lipschitz in the ℓ∞ norm of their arguments;
    * learnt features: :math:`L_g = \|K_0\|\prod_l \|W_l\|_2\,\|W_s\|_2`, with
      :math:`\|K_0\|` the exact norm of the zero-padded 2×2 entry convolution's
      circular extension on the :math:`(H+1)\times(W+1)` grid (Sedghi et al.
      2019, :func:`conv_operator_norm`; an upper bound for the padded one), the
      spectral norms of the 1×1 convolutions and of the level map (a 1×1
      convolution acts on every position alike, so its norm is the matrix's);
      MaxMin/ReLU, shifts and biases are 1-Lipschitz;
    * the soft step :math:`\sigma(a t + b)` is :math:`a/4`-Lipschitz;
    * sum pooling over P vertices: :math:`\|\sum_p v_p\| \le \sqrt P \|v\|`
      (Cauchy–Schwarz); the same map for n thresholds, stacked: :math:`\sqrt n`.

    The raw outputs are :math:`F W^\top` per threshold: times :math:`\|W\|_2`.

    **Configuration model** (:class:`~mink_toolkit.surrogate.configurations.ConfigurationSurrogate`).
    At a vertex, the derivative of the configuration indicators with
    respect to one soft pixel indicator :math:`p_i` is :math:`\pm` the product
    of the other three pixels' factors, once for each of their 8 states
    with each sign; those products are non-negative and sum to 1, so the
    column has norm :math:`\le \sqrt 2`, and the vertex's Jacobian (4
    columns) has norm :math:`\le \sqrt 8`. Each pixel lies in 4 blocks
    (:math:`\sqrt 4`), the soft step is :math:`a/4`-Lipschitz, and sum pooling
    and thresholds add :math:`\sqrt P \sqrt n` as above:
    :math:`\|\Delta F\| \le \sqrt 2\, a \sqrt P \sqrt n\, \|\Delta z\|`.

    **Conventional model.** The features' bound is the product of

    * each convolution's exact norm on its circular grid: a stride-2
      convolution with zero padding is a subsampling (norm 1) of the
      stride-1 one, which is a crop of the full convolution, which is the
      circular convolution on the :math:`(s + k - 1) \times (t + k - 1)` grid of
      its :math:`s \times t` input restricted to inputs without wrap-around
      (Sedghi et al. 2019, :func:`conv_operator_norm`) — of the weights the
      model actually uses, so for ``spectral_norm=True`` the exact norm of
      the power-iteration-normalised kernels, not the 1 that the published
      recipe assumes;
    * :math:`1/\sqrt{hw}` for mean pooling over the last :math:`h \times w`
      map (per channel :math:`(\sum_p v_p / hw)^2 \le \sum_p v_p^2 / hw`,
      Cauchy–Schwarz);
    * the spectral norm of each dense layer (ReLU and biases are 1-Lipschitz).

    The head is linear (times :math:`\|W\|_2`) on the log1p-compressed scale,
    clamped to :math:`|y| \le \log(1 + 4HW)` (1-Lipschitz), then expanded by
    :math:`\operatorname{sign}(y)(e^{|y|} - 1)`, whose slope is at most
    :math:`e^{\log(1 + 4HW)} = 1 + 4HW` there.

    **Both.** The constrained head is :math:`8\sqrt n`-Lipschitz
    (:func:`~mink_toolkit.surrogate.constraints.head_lipschitz_constant`), and
    the units multiply by at most :math:`\max(1, s, s^2)` for pixel size s.

    Parameters
    ----------
    model : MinkowskiSurrogate, ConfigurationSurrogate or ConventionalSurrogate
    input_shape : (int, int), default (128, 128)
    of : {"outputs", "features"}

    Returns
    -------
    float

    Examples
    --------
    >>> model = MinkowskiSurrogate([1.0], levels=0, lipschitz_cap=1.0)
    >>> round(lipschitz_upper_bound(model, (3, 3), of="features"), 3)  # 4 * (1/2) * sqrt(1+2+2+2+2+4+4)
    8.246
    """
    if not isinstance(model, (MinkowskiSurrogate, ConfigurationSurrogate, ConventionalSurrogate)):
        raise TypeError("model must be a MinkowskiSurrogate, ConfigurationSurrogate or ConventionalSurrogate; "
                        f"got {type(model).__name__}")
    check_choice(of, ("outputs", "features"), "of")
    if len(input_shape) != 2:
        raise ValueError(f"input_shape must be (H, W); got {input_shape}")
    h = check_integer(input_shape[0], "input_shape[0]", minimum=1)
    w = check_integer(input_shape[1], "input_shape[1]", minimum=1)
    # In eval mode: a spectral_norm parametrisation would otherwise take a power-iteration step
    # (and change the weights) each time they are read.
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, ConventionalSurrogate):
            bound = _conventional_feature_bound(model, (h, w))
        elif isinstance(model, ConfigurationSurrogate):
            bound = _configuration_feature_bound(model, h, w)
        else:
            bound = _additive_feature_bound(model, h, w)
        with torch.no_grad():
            head_norm = float(matrix_norm(model.layer_weights()["head"].double()))
    finally:
        model.train(was_training)
    if of == "features":
        return bound
    bound *= head_norm
    if isinstance(model, ConventionalSurrogate):
        bound *= math.exp(model.output_range(h * w))
    if model.constrained:
        bound *= head_lipschitz_constant(len(model.thresholds))
    return bound * max(1.0, model.pixel_size, model.pixel_size**2)


def attack_starts(
    model: MinkowskiSurrogate | ConventionalSurrogate,
    input_shape: tuple[int, int] = (128, 128),
    *,
    rain=None,
    n_constant: int = 6,
    n_random: int = 4,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Starting fields for :func:`empirical_lipschitz`, in the normalised input z.

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
    input_shape : (int, int)
    rain : array_like or torch.Tensor, shape (N, H, W), mm/h, optional
        Real fields (e.g. the wettest test patches): start ``"data"``.
    n_constant : int
        Constant fields at this many of the model's threshold levels (spread
        over them): at a threshold level every vertex of an additive model
        sits on the steep part of a step at once, which is where its
        constant is largest (start ``"constant"``).
    n_random : int
        Fields of independent uniform z in [0, max level + 0.5] (start ``"random"``).
    seed : int

    Returns
    -------
    dict of str to torch.Tensor, each (B, 1, H, W) float32, z >= 0
    """
    from .models import normalise_rain

    h = check_integer(input_shape[0], "input_shape[0]", minimum=1)
    w = check_integer(input_shape[1], "input_shape[1]", minimum=1)
    gen = torch.Generator().manual_seed(seed)
    levels = normalise_rain(torch.as_tensor(model.thresholds, dtype=torch.float32))
    starts: dict[str, torch.Tensor] = {}
    if rain is not None:
        data = rain.detach().float() if isinstance(rain, torch.Tensor) else torch.as_tensor(np.asarray(rain), dtype=torch.float32)
        if data.ndim != 3 or tuple(data.shape[-2:]) != (h, w):
            raise ValueError(f"rain must be shaped (N, {h}, {w}); got {tuple(data.shape)}")
        starts["data"] = normalise_rain(data)[:, None]
    if n_constant:
        pick = torch.linspace(0, len(levels) - 1, n_constant).round().long()
        starts["constant"] = levels[pick].reshape(-1, 1, 1, 1).expand(-1, 1, h, w).clone()
    if n_random:
        top = float(levels.max()) + 0.5
        starts["random"] = torch.rand(n_random, 1, h, w, generator=gen) * top
    return starts


def empirical_lipschitz(
    model: MinkowskiSurrogate | ConventionalSurrogate,
    starts,
    *,
    of: str = "outputs",
    steps: int = 10,
    lr: float = 0.02,
    separations=(1e-3, 0.05),
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> dict:
    r"""An attack on the Lipschitz constant: the largest ratio :math:`\|f(a) - f(b)\| / \|a - b\|` found.

    A lower bound of the true constant, in the units of
    :func:`lipschitz_upper_bound` (f = the final outputs, or the features
    for ``of="features"``; a and b normalised inputs z, ℓ2 over all pixels),
    so the pair brackets it. From each start field and each initial
    separation (root-mean-square difference per pixel) the pair
    :math:`a = z`, :math:`b = z + \delta` (random δ) is moved by projected
    gradient ascent (Adam on both points, z kept >= 0) on the ratio; the
    largest ratio seen at any step is kept. The smallest separation measures
    single-point Jacobian norms (the ratio of a pair 10⁻³ apart is the
    directional derivative up to second order), the larger one finite
    differences across the steps.

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
    starts : torch.Tensor (B, 1, H, W) or dict of them
        Normalised start fields, e.g. from :func:`attack_starts`.
    of : {"outputs", "features"}
    steps : int
        Ascent steps per start and separation.
    lr : float
        Adam learning rate (units of z).
    separations : sequence of float
        Initial RMS separations per pixel, in z.
    seed : int
    dtype : torch.dtype
        Precision of the attack (float32 by default, the models' own: about
        twice as fast as float64 and accurate enough for ratios of pairs at
        least 10⁻³ apart per pixel).

    Returns
    -------
    dict
        ``lipschitz`` (the largest ratio), ``by_start`` (largest per start
        kind), ``best_start`` and ``best_separation``.
    """
    check_choice(of, ("outputs", "features"), "of")
    steps = check_integer(steps, "steps", minimum=0)
    if isinstance(starts, torch.Tensor):
        starts = {"given": starts}
    if not starts:
        raise ValueError("starts is empty: give at least one start field")

    def f(a, b):  # both points in one batch
        z = torch.cat([a, b])
        out = model.features(z) if of == "features" else model.normalised_outputs(z)
        out = out.flatten(1)
        return out[: len(a)], out[len(a):]

    gen = torch.Generator().manual_seed(seed)  # the draws are made on the CPU and moved: the same on any device
    device = next(iter(model.parameters()), torch.empty(0)).device
    frozen = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    result = {"lipschitz": 0.0, "by_start": {}, "best_start": None, "best_separation": None}
    try:
        for kind, z in starts.items():
            if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != 1:
                raise ValueError(f"starts[{kind!r}] must be a tensor shaped (B, 1, H, W)")
            best_kind = 0.0
            for separation in separations:
                a = z.detach().clone().to(dtype=dtype, device=device).clamp_min(0.0).requires_grad_(True)
                delta = torch.randn(a.shape, generator=gen, dtype=dtype).to(device)
                delta *= separation * math.sqrt(a[0].numel()) / delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                b = (a.detach() + delta).clamp_min(0.0).requires_grad_(True)
                optimiser = torch.optim.Adam([a, b], lr=lr * max(separation / 0.05, 1e-3))
                for _ in range(steps + 1):
                    gap = (a - b).flatten(1).norm(dim=1)
                    fa, fb = f(a, b)
                    ratio = (fa - fb).norm(dim=1) / gap.clamp_min(1e-12)
                    ratio = torch.where(gap > 0, ratio, torch.zeros_like(ratio))
                    value = float(ratio.detach().max())
                    if value > best_kind:
                        best_kind = value
                    if value > result["lipschitz"]:
                        result.update(lipschitz=value, best_start=kind, best_separation=float(separation))
                    optimiser.zero_grad()
                    (-ratio.sum()).backward()
                    optimiser.step()
                    with torch.no_grad():
                        a.clamp_(min=0.0)
                        b.clamp_(min=0.0)
            result["by_start"][kind] = best_kind
    finally:
        for p, flag in zip(model.parameters(), frozen):
            p.requires_grad_(flag)
        model.train(was_training)
    return result
