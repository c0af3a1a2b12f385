r"""Certified and attacked Lipschitz constants of the surrogates.

:func:`lipschitz_upper_bound` is a sound upper bound computed from exact
operator norms; :func:`empirical_lipschitz` searches for a large ratio
:math:`\|f(a) - f(b)\| / \|a - b\|`, a lower bound. Together they bracket
the true constant.
"""

from __future__ import annotations

import math

import torch

from .models import STATISTIC_TERMS, ConventionalSurrogate, MinkowskiSurrogate, _conv_grids
from .norms import conv_operator_norm, matrix_norm

__all__ = ["lipschitz_upper_bound", "empirical_lipschitz"]


def _conventional_bound(model: ConventionalSurrogate, input_shape, include_head: bool) -> float:
    grids = _conv_grids(input_shape, len(model.channels), model.kernel_size)
    with torch.no_grad():
        weights = model.layer_weights()
        bound = 1.0
        for w, grid in zip(weights["conv"], grids):
            bound *= float(conv_operator_norm(w.double(), grid))
        bound /= math.sqrt(grids[-1][0] * grids[-1][1])  # mean pooling
        for w in weights["dense"]:
            bound *= float(matrix_norm(w.double()))
        if include_head:
            bound *= float(matrix_norm(weights["head"].double()))
    return bound


def lipschitz_upper_bound(
    model: MinkowskiSurrogate | ConventionalSurrogate,
    input_shape: tuple[int, int] = (128, 128),
    *,
    include_head: bool = False,
) -> float:
    r"""Certified ℓ2 Lipschitz bound of ``model.features`` on ``input_shape`` fields.

    Let :math:`S_j` be the grid of level feature j over the
    :math:`P = (H+1)(W+1)` vertices and :math:`T_{kj} = \sigma(a_j(S_j - c_k) + b_j)`.
    Then

    .. math::
        \|\Delta F\| \le \sqrt{n}\,\sqrt{P}\,
        \Big(\sum_{j\,\mathrm{fixed}} \frac{a_j^2}{16}\,\ell_j^2
        + \max_{j\,\mathrm{learnt}} \frac{a_j^2}{16}\; L_g^2\Big)^{1/2} \|\Delta z\|

    * order statistics: :math:`\ell_j^2 = 1` for the pixel (each pixel is the
      top-left of one block), 2 for pair max/min (a pixel is the first member
      of one counted pair and the second of one; the same for diagonal
      pairs), 4 for block max/min
      (each pixel is in 4 blocks), because max and min are 1-Lipschitz in the
      ℓ∞ norm of their arguments;
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

    It holds for any weights, with or without ``lipschitz=True`` (for the
    plain CNN it is merely larger). Measured in the normalised input
    :math:`z` (:func:`normalise_rain`).

    For a :class:`ConventionalSurrogate` (strided convolutions, mean
    pooling, dense layers) the bound is the product of

    * each convolution's exact norm on its circular grid: a stride-2
      convolution with zero padding is a subsampling (norm 1) of the
      stride-1 one, which is a crop of the full convolution, which is the
      circular convolution on the :math:`(s + k - 1) \times (t + k - 1)` grid of
      its :math:`s \times t` input restricted to inputs without wrap-around
      (Sedghi et al. 2019, :func:`conv_operator_norm`);
    * :math:`1/\sqrt{hw}` for mean pooling over the last :math:`h \times w`
      map (per channel :math:`(\sum_p v_p / hw)^2 \le \sum_p v_p^2 / hw`,
      Cauchy–Schwarz);
    * the spectral norm of each dense layer (ReLU and biases are 1-Lipschitz).

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
    input_shape : (int, int), default (128, 128)
    include_head : bool, default False
        Multiply by the head's spectral norm: a bound for the raw outputs
        (before the projection of the constrained head).

    Returns
    -------
    float

    Examples
    --------
    >>> model = MinkowskiSurrogate([1.0], levels=0, local_lipschitz=1.0)
    >>> round(lipschitz_upper_bound(model, (3, 3)), 3)  # 4 * (1/2) * sqrt(1+2+2+2+2+4+4)
    8.246
    """
    if not isinstance(model, (MinkowskiSurrogate, ConventionalSurrogate)):
        raise TypeError(f"model must be a MinkowskiSurrogate or ConventionalSurrogate; got {type(model).__name__}")
    h, w = int(input_shape[0]), int(input_shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"input_shape must be (H, W) with H, W >= 1; got {input_shape}")
    if isinstance(model, ConventionalSurrogate):
        return _conventional_bound(model, (h, w), include_head)
    n_fixed = len(model.statistics)
    fixed_squared = torch.tensor([STATISTIC_TERMS[name][1] for name in model.statistics], dtype=torch.float64)
    with torch.no_grad():
        weights = model.layer_weights()
        step = weights["slope"].double() / 4.0
        squared = float((step[:n_fixed] ** 2 * fixed_squared).sum())
        if model.levels:
            learnt = float(conv_operator_norm(weights["entry"].double(), (h + 1, w + 1)))
            for weight in weights["hidden"]:
                learnt *= float(matrix_norm(weight.double()))
            learnt *= float(matrix_norm(weights["level"].double()))
            squared += float(step[n_fixed:].max()) ** 2 * learnt**2
        head = float(matrix_norm(weights["head"].double())) if include_head else 1.0
    return math.sqrt(squared) * math.sqrt((h + 1) * (w + 1)) * math.sqrt(len(model.thresholds)) * head


def empirical_lipschitz(
    model: MinkowskiSurrogate,
    z: torch.Tensor,
    *,
    steps: int = 40,
    lr: float = 0.02,
    initial_scale: float = 0.05,
    seed: int = 0,
) -> float:
    r"""Largest ratio :math:`\|f(a) - f(b)\| / \|a - b\|` found by gradient ascent.

    Starts from pairs :math:`a = z`, :math:`b = z + \delta` (random
    :math:`\delta` of norm ``initial_scale`` per field) and maximises each
    pair's ratio with Adam on both points; ``f`` = ``model.features``
    (flattened), inputs in normalised units. A lower bound of the true
    constant, to compare with :func:`lipschitz_upper_bound`.

    Parameters
    ----------
    model : MinkowskiSurrogate
    z : torch.Tensor, shape (B, 1, H, W)
        Normalised starting fields (e.g. ``normalise_rain`` of test patches).
    steps : int
    lr : float
    initial_scale : float
    seed : int

    Returns
    -------
    float
        The largest ratio seen over all pairs and steps.
    """
    gen = torch.Generator().manual_seed(seed)
    a = z.detach().clone().float().requires_grad_(True)
    delta = torch.randn(a.shape, generator=gen)
    delta = delta / delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * initial_scale
    b = (z.detach().float() + delta).requires_grad_(True)
    opt = torch.optim.Adam([a, b], lr=lr)
    best = 0.0
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps + 1):
            diff = (model.features(a) - model.features(b)).flatten(1).norm(dim=1)
            ratio = diff / (a - b).flatten(1).norm(dim=1).clamp_min(1e-12)
            best = max(best, float(ratio.detach().max()))
            opt.zero_grad()
            (-ratio.sum()).backward()
            opt.step()
    finally:
        for p, flag in zip(model.parameters(), frozen):
            p.requires_grad_(flag)
    return best
