r"""Lipschitz neural surrogate of the Minkowski functionals, with hard geometric constraints.

A second route across the differentiability gap (the first is the analytic
relaxation, :mod:`mink_toolkit.relax`): learn a smooth emulator of the exact
functionals and differentiate the emulator.

Architecture
------------
The Minkowski functionals are *additive valuations*: each is a sum over the
image of a function of the 2×2 block of pixels around every lattice vertex
(:mod:`mink_toolkit.functionals`), evaluated on the indicator
:math:`1\{x \ge u\}`. :class:`MinkowskiSurrogate` builds that structure in:

1. the model owns its input transform, :math:`z = \log_{10}(1 + x / 0.01\,\mathrm{mm\,h^{-1}})`
   (:func:`normalise_rain`; dry → 0, 0.1 mm/h → 1.04, 10 mm/h → 3.0; 0.01 mm/h
   is OPERA's quantisation step), so nobody can feed it the wrong
   representation (the published surrogate was fed mm/h after training on
   log-normalised input);
2. at every lattice vertex the 2×2 block of :math:`z` around it gives
   *level features* in units of z: the seven order statistics the exact
   estimator is made of (pixel, pair maxima and minima, block maximum and
   minimum) and a few learnt by a small local network (a 2×2 convolution
   with background (zero) padding, then 1×1 convolutions) — the same
   receptive field as the exact estimator;
3. each threshold :math:`c_k` turns every level feature into a soft
   indicator :math:`\sigma(a_j (s_j - c_k) + b_j)` (shared over thresholds
   and positions), and global **sum** pooling over the :math:`(H+1)(W+1)`
   vertices gives the feature vector of each threshold
   (:meth:`MinkowskiSurrogate.features`);
4. a linear head without bias (so the output stays additive) maps the
   features to raw estimates of area, perimeter, β0 and χ, which the
   constrained head then projects onto the set of values the exact
   estimator can take (:func:`project_feasible`).

With hard steps the exact estimator is a member of this family, and the
head starts at its combination weights; training adapts the steps to the
data, learns β0 and corrects the bias of finite slopes. A few hundred
parameters suffice, the model applies to any field size, and training on
small random crops (with exact targets computed per batch) is cheap.

:class:`ConventionalSurrogate` is the comparison model of the paper's kind
(strided convolutions, global **mean** pooling, dense layers, a linear head
on log1p-compressed outputs), with the same input transform, output
layout, constrained head, certificate and checkpoints; it has to learn the
additivity that the architecture above has built in
(``python -m mink_toolkit reproduce surrogate`` compares accuracy,
parameter count and training time).

Lipschitz certificate
---------------------
With ``lipschitz=True`` every affine map is norm-constrained (its exact
operator norm is divided out whenever it exceeds a cap), the step slopes are
capped, and the activations are 1-Lipschitz (MaxMin / GroupSort of Anil, Lucas & Grosse 2019, or ReLU).
The operator norm of the 2×2 entry convolution is computed exactly from the
singular values of its Fourier symbol (Sedghi, Gupta & Long 2019),
:func:`conv_operator_norm`; the 1×1 convolutions and the head are matrices
(exact spectral norm by SVD). The reshaped-kernel power iteration of
``torch.nn.utils.spectral_norm`` (used by the published code) is *not* an
upper bound for a convolution. :func:`lipschitz_upper_bound` combines the
layer norms, the order statistics' constants and the step slopes with
:math:`\sqrt{(H+1)(W+1)}` (sum pooling) and :math:`\sqrt{n}` (thresholds).

Geometric constraints
---------------------
See :func:`geometric_violations` for the necessary conditions on the
edge-count estimator and their proofs, and :func:`project_feasible` for the
constrained head that meets them for every input and every weight setting.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_choice, check_positive, check_thresholds
from .functionals import FUNCTIONAL_NAMES

__all__ = [
    "RAIN_OFFSET",
    "MinkowskiSurrogate",
    "ConventionalSurrogate",
    "normalise_rain",
    "conv_operator_norm",
    "lipschitz_upper_bound",
    "empirical_lipschitz",
    "project_feasible",
    "geometric_violations",
    "surrogate_loss",
    "train_surrogate",
    "TrainingResult",
    "save_surrogate",
    "load_surrogate",
]

#: mm/h; the offset of the log transform (OPERA's quantisation step).
RAIN_OFFSET = 0.01

ACTIVATIONS = ("maxmin", "relu")

#: The fixed level features: order statistics of the 2×2 block (a b / c d) at a lattice vertex.
ORDER_STATISTICS = ("pixel", "row_max", "row_min", "column_max", "column_min", "block_max", "block_min")

#: Squared ℓ2 Lipschitz constants of the map field -> vertex grid of each order statistic.
FIXED_LIPSCHITZ_SQUARED = (1.0, 2.0, 2.0, 2.0, 2.0, 4.0, 4.0)

#: Head weights of the exact estimator on ORDER_STATISTICS (rows: area, perimeter, β0, χ):
#: A = F, P = E_or - E_and, χ8 = V_or - E_or + F (see mink_toolkit.functionals.combine_terms);
#: β0 starts at χ (it is learnt).
EXACT_HEAD = (
    (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0),
    (1.0, -1.0, 0.0, -1.0, 0.0, 1.0, 0.0),
    (1.0, -1.0, 0.0, -1.0, 0.0, 1.0, 0.0),
)
CHECKPOINT_FORMAT = "mink_toolkit.surrogate"
CHECKPOINT_VERSION = 1


# --------------------------------------------------------------------------
# Input transform
# --------------------------------------------------------------------------


def normalise_rain(rain: torch.Tensor) -> torch.Tensor:
    r"""Map rain rate (mm/h) to the surrogate's input :math:`z = \log_{10}(1 + x/0.01)`.

    Dry pixels map to 0, so zero padding in :math:`z` is "background", the
    same convention as the exact estimator; thresholds spaced evenly in
    :math:`\log u` are (nearly) evenly spaced in :math:`z`.

    Parameters
    ----------
    rain : torch.Tensor, any shape, mm/h, >= 0, no NaN

    Returns
    -------
    torch.Tensor, same shape, dimensionless (decades above 0.01 mm/h)

    Examples
    --------
    >>> import torch
    >>> normalise_rain(torch.tensor([0.0, 0.09, 9.99])).tolist()
    [0.0, 1.0, 3.0]
    """
    return torch.log10(1.0 + rain / RAIN_OFFSET)


def _check_rain_tensor(rain) -> torch.Tensor:
    if not isinstance(rain, torch.Tensor):
        raise TypeError(f"rain must be a torch.Tensor shaped (B, 1, H, W) in mm/h; got {type(rain).__name__}")
    if not torch.is_floating_point(rain):
        raise TypeError(f"rain must be a floating-point tensor; got dtype {rain.dtype}")
    if rain.ndim != 4 or rain.shape[1] != 1:
        raise ValueError(
            f"rain must be shaped (B, 1, H, W) (one channel: rain rate in mm/h); got {tuple(rain.shape)}"
        )
    if rain.shape[-1] == 0 or rain.shape[-2] == 0 or rain.shape[0] == 0:
        raise ValueError(f"rain is empty: shape {tuple(rain.shape)}")
    if torch.isnan(rain).any():
        raise ValueError("rain contains NaN (outside radar coverage?); cut patches inside coverage")
    if (rain < 0).any():
        raise ValueError(f"rain contains negative values (min {float(rain.min()):.3g} mm/h); rain rate must be >= 0")
    return rain


# --------------------------------------------------------------------------
# Operator norms
# --------------------------------------------------------------------------


def conv_operator_norm(weight: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    r"""Exact ℓ2 operator norm of a circular 2-D convolution on a grid.

    For the circular convolution with kernel ``weight`` on an
    :math:`N_1 \times N_2` grid, the operator is block-diagonalised by the 2-D
    DFT; its singular values are those of the :math:`c_{out} \times c_{in}`
    matrices :math:`\hat K(\omega)` at the :math:`N_1 N_2` frequencies
    (Sedghi, Gupta & Long 2019, "The singular values of convolutional
    layers", ICLR). The largest one is returned (differentiable).

    A zero-padded ("full") convolution of an :math:`H \times W` input with a
    :math:`k_1 \times k_2` kernel is the circular convolution on the grid
    :math:`(H + k_1 - 1) \times (W + k_2 - 1)` restricted to inputs supported
    on :math:`H \times W` (no wrap-around happens), so this norm on that grid
    is an upper bound for it; any cropping of the output only lowers it.

    Parameters
    ----------
    weight : torch.Tensor, shape (c_out, c_in, k1, k2)
    grid : (int, int)
        :math:`(N_1, N_2)`, each >= the kernel size.

    Returns
    -------
    torch.Tensor, scalar

    Examples
    --------
    >>> import torch
    >>> w = torch.ones(1, 1, 2, 2)  # 2×2 box sum: symbol 4 at frequency 0
    >>> float(conv_operator_norm(w, (8, 8)))
    4.0
    """
    if weight.ndim != 4:
        raise ValueError(f"weight must be shaped (c_out, c_in, k1, k2); got {tuple(weight.shape)}")
    n1, n2 = int(grid[0]), int(grid[1])
    if n1 < weight.shape[-2] or n2 < weight.shape[-1]:
        raise ValueError(f"grid {grid} is smaller than the kernel {tuple(weight.shape[-2:])}")
    if weight.shape[1] == 1:
        symbol = torch.fft.fft2(weight, s=(n1, n2)).permute(2, 3, 0, 1)  # (N1, N2, c_out, c_in)
        # One input channel: each symbol is a column vector, its norm is the singular value.
        return symbol.abs().square().sum(dim=(-2, -1)).sqrt().max()
    # A real kernel has a Hermitian-symmetric symbol, K(-w) = conj(K(w)), with the same singular
    # values: half the frequencies (rfft2) suffice. The largest singular value is the square root of
    # the largest eigenvalue of the smaller Gram matrix, which is much cheaper than batched SVDs.
    symbol = torch.fft.rfft2(weight, s=(n1, n2)).permute(2, 3, 0, 1)  # (N1, N2 // 2 + 1, c_out, c_in)
    gram = symbol.mH @ symbol if weight.shape[1] <= weight.shape[0] else symbol @ symbol.mH
    return torch.linalg.eigvalsh(gram)[..., -1].max().clamp_min(0.0).sqrt()


def _matrix_norm(weight: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(weight, ord=2)


def _cap(weight: torch.Tensor, norm: torch.Tensor, cap: float) -> torch.Tensor:
    """``weight`` scaled down so that its norm is at most ``cap`` (never scaled up)."""
    return weight / torch.clamp(norm / cap, min=1.0)


class _MaxMin(nn.Module):
    """GroupSort with groups of 2 over the last axis: (max, min) of channel pairs.

    1-Lipschitz and gradient-norm preserving (Anil, Lucas & Grosse 2019).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=-1)
        return torch.cat([torch.maximum(a, b), torch.minimum(a, b)], dim=-1)


# --------------------------------------------------------------------------
# Constrained head
# --------------------------------------------------------------------------


def _ceil_two_sqrt(area: torch.Tensor) -> torch.Tensor:
    r""":math:`\lceil 2\sqrt{A} \rceil` for ``area`` >= 0, exact for floating-point input.

    The smallest integer :math:`k` with :math:`k^2 \ge 4A`; the float
    estimate ``ceil(2*sqrt(A))`` is corrected by one where rounding of the
    square root put it off (both comparisons are exact for k < 2**26).
    """
    k = torch.ceil(2.0 * torch.sqrt(area))
    k = torch.where((k >= 1) & ((k - 1.0) ** 2 >= 4.0 * area), k - 1.0, k)
    return torch.where(k**2 < 4.0 * area, k + 1.0, k)


class _StraightThrough(torch.autograd.Function):
    """Forward: the projected values, exactly. Backward: identity to the raw values.

    The straight-through estimator (Bengio, Léonard & Courville 2013): the
    projection onto the feasible set is piecewise constant or clamped in
    places, which would stop gradients; passing them straight through keeps
    training and the surrogate's input gradients dense.
    """

    @staticmethod
    def forward(ctx, raw, projected):  # noqa: D102 - see class docstring
        return projected.clone()

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        return grad, None


def project_feasible(raw: torch.Tensor, n_pixels: int) -> torch.Tensor:
    r"""Map raw estimates onto values the exact edge-count estimator can take.

    Works in pixel units, per sample, along the threshold axis (increasing
    thresholds). Every step only *clamps* a quantity into an interval that
    the previous steps made non-empty, so a raw estimate that is already
    feasible is returned unchanged; the result meets every condition of
    :func:`geometric_violations` (with ``components``) for **any** input:

    1. area: :math:`\tilde A_k = \min(\max(a_k, 0), HW)`; then the running
       minimum over thresholds :math:`\bar A_k = \min_{j \le k} \tilde A_j`
       (non-increasing in u, still in [0, HW]); then the small-area map
       :math:`A = 0` if :math:`\bar A < 1/2`, :math:`A = 1` if
       :math:`1/2 \le \bar A < 3/2`, :math:`A = \bar A` otherwise. It is
       non-decreasing, so monotonicity survives, and it lands in
       :math:`\{0, 1\} \cup [3/2, HW]`: the only areas for which
       :math:`2\lceil 2\sqrt A\rceil \le 4A`, i.e. for which a perimeter exists
       (for :math:`0 < A < 1`, :math:`4 > 4A`; for :math:`1 < A < 3/2`,
       :math:`6 > 4A`).
    2. perimeter: 0 if A = 0, else clamp into
       :math:`[L, 4A]` with :math:`L = 2\lceil 2\sqrt A\rceil`. Non-empty:
       A = 1 gives [4, 4]; for :math:`3/2 \le A \le 9/4`, L = 6 <= 4A; for
       :math:`A > 9/4`, :math:`L < 4\sqrt A + 2 \le 4A` since
       :math:`\sqrt A > 1.37`.
    3. χ: 0 if A = 0, else clamp into :math:`[2 - P/4, \min(A, P/4)]`
       (non-empty: :math:`P \ge 4` and :math:`A \ge 1`).
    4. β0: 0 if A = 0, else clamp into
       :math:`[\max(1, \chi), \min(A, P/4, (\chi + P/4)/2)]`, i.e.
       :math:`\chi \le \beta_0` and :math:`2\beta_0 - P/4 \le \chi`.
       Non-empty: :math:`1 \le (\chi + P/4)/2` because :math:`\chi \ge 2 - P/4`,
       and :math:`\chi \le (\chi + P/4)/2` because :math:`\chi \le P/4`.
       χ goes first because it is a primary output; β0 (non-local, harder to
       learn) adapts to it.

    The ceiling is evaluated exactly (:func:`_ceil_two_sqrt`), and the bounds
    are computed with the same floating-point operations as the checks of
    :func:`geometric_violations`, in float64, so a check never fails by
    rounding.

    Parameters
    ----------
    raw : torch.Tensor, shape (..., n_thresholds, 4)
        Raw (area, perimeter, β0, χ) in pixel units.
    n_pixels : int
        :math:`H W`, the number of pixels of the field.

    Returns
    -------
    torch.Tensor, shape (..., n_thresholds, 4), float64
        Projected (area, perimeter, β0, χ). Differentiable with a
        straight-through gradient (identity to ``raw``).

    Examples
    --------
    >>> import torch
    >>> raw = torch.tensor([[[0.9, 1.0, 3.0, -2.0], [0.2, 3.0, 1.0, 1.0]]])
    >>> project_feasible(raw, 16)[0].tolist()
    [[1.0, 4.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]
    >>> project_feasible(torch.tensor([[[9.0, 12.0, 0.0, 5.0]]]), 16)[0].tolist()  # a 3×3 square: χ, β0 <= P/4 = 3
    [[9.0, 12.0, 3.0, 3.0]]
    """
    if raw.ndim < 2 or raw.shape[-1] != 4:
        raise ValueError(f"raw must be shaped (..., n_thresholds, 4); got {tuple(raw.shape)}")
    with torch.no_grad():
        r = raw.detach().to(torch.float64)
        area = r[..., 0].clamp(0.0, float(n_pixels))
        area = torch.cummin(area, dim=-1).values
        area = torch.where(area < 0.5, torch.zeros_like(area), torch.where(area < 1.5, torch.ones_like(area), area))
        wet = area > 0
        lower = 2.0 * _ceil_two_sqrt(area)
        perimeter = torch.minimum(torch.maximum(r[..., 1], lower), 4.0 * area)
        quarter = perimeter / 4.0
        euler = torch.minimum(torch.maximum(r[..., 3], 2.0 - quarter), torch.minimum(area, quarter))
        # Largest float b with 2b - P/4 <= χ as the checks compute it (the sum may round up).
        half = (euler + quarter) / 2.0
        for _ in range(2):
            half = torch.where(2.0 * half - quarter > euler, torch.nextafter(half, torch.full_like(half, -math.inf)), half)
        components = torch.minimum(
            torch.maximum(r[..., 2], torch.clamp(euler, min=1.0)),
            torch.minimum(torch.minimum(area, quarter), half),
        )
        zero = torch.zeros_like(area)
        projected = torch.stack(
            [
                area,
                torch.where(wet, perimeter, zero),
                torch.where(wet, components, zero),
                torch.where(wet, euler, zero),
            ],
            dim=-1,
        )
    return _StraightThrough.apply(raw.to(torch.float64), projected)


def geometric_violations(
    functionals,
    image_shape: tuple[int, int],
    *,
    pixel_size: float = 1.0,
    perimeter: str = "edges",
    components=None,
    rtol: float = 1e-9,
) -> dict[str, float]:
    r"""Fractions of predictions that break necessary conditions of the exact estimator.

    Each condition holds for the exact functionals of **every** binary image
    (8-connected χ, edge perimeter, background outside the array); in pixel
    units, with :math:`\beta_0, \beta_1` the numbers of components and holes:

    ``area_range``: :math:`0 \le A \le HW` — A counts pixels.
    ``area_monotone``: :math:`A(u_{k+1}) \le A(u_k)` — the excursion sets are nested.
    ``perimeter_zero``: :math:`A = 0 \Rightarrow P = 0` — no pixel, no edge.
    ``perimeter_min``: :math:`A > 0 \Rightarrow P \ge 2\lceil 2\sqrt A\rceil` —
    the minimal perimeter of a polyomino of A cells (Harary & Harborth 1976);
    it also gives :math:`P > 0` when :math:`A > 0`. (The continuous bound
    :math:`P^2 \ge 4\pi A` is false here: one pixel has P = 4 < √(4π).)
    ``perimeter_max``: :math:`P \le 4A` — each pixel has 4 edges.
    ``euler_zero``: :math:`A = 0 \Rightarrow \chi = 0`.
    ``euler_upper``: :math:`\chi \le \min(A, P/4)` — :math:`\chi = \beta_0 - \beta_1 \le \beta_0`,
    each component holds a pixel (:math:`\beta_0 \le A`) and has at least 4
    boundary edges (:math:`\beta_0 \le P/4`).
    ``euler_lower``: :math:`A > 0 \Rightarrow \chi \ge 2 - P/4` — every
    component and every hole is bounded by its own closed curve of at least
    4 edges (a hole of the 4-connected background is enclosed by a single
    8-connected component, Rosenfeld 1970), so :math:`\beta_0 + \beta_1 \le P/4`,
    hence :math:`\chi = 2\beta_0 - (\beta_0 + \beta_1) \ge 2\beta_0 - P/4 \ge 2 - P/4`.

    With ``components`` (β0) also:
    ``components_range``: :math:`A = 0 \Rightarrow \beta_0 = 0`, else
    :math:`1 \le \beta_0 \le \min(A, P/4)`;
    ``euler_components``: :math:`A > 0 \Rightarrow 2\beta_0 - P/4 \le \chi \le \beta_0`.

    ``any``: fraction of fields (all leading indices) with at least one
    violation at some threshold — the paper's "physically impossible fields".

    Parameters
    ----------
    functionals : array_like or torch.Tensor, shape (..., n_thresholds, 3)
        (area, perimeter, euler_characteristic), thresholds increasing.
    image_shape : (int, int)
        (H, W) of the fields, pixels.
    pixel_size : float, default 1
        Area is divided by its square and perimeter by it before checking.
    perimeter : {"edges"}
        Only the edge-count estimator's conditions are implemented.
    components : array_like, shape (..., n_thresholds), optional
        β0 predictions.
    rtol : float, default 1e-9
        Relative tolerance of each comparison, for rounding in the pixel-size
        conversion (the ceiling is evaluated at :math:`A(1 - \mathrm{rtol})`).

    Returns
    -------
    dict of str to float
        Fraction of (field, threshold) entries violating each condition
        (``area_monotone``: of adjacent threshold pairs), and ``any``.

    Examples
    --------
    >>> import numpy as np
    >>> from mink_toolkit import minkowski_functionals
    >>> x = np.random.default_rng(0).random((4, 16, 16))
    >>> v = geometric_violations(minkowski_functionals(x, [0.3, 0.6]), (16, 16))
    >>> max(v.values())
    0.0
    >>> geometric_violations(np.array([[[2.0, 4.0, 1.0]]]), (8, 8))["perimeter_min"]
    1.0
    """
    check_choice(perimeter, ("edges",), "perimeter")
    pixel_size = check_positive(pixel_size, "pixel_size")
    if isinstance(functionals, torch.Tensor):
        functionals = functionals.detach().cpu().numpy()
    f = np.asarray(functionals, dtype=np.float64)
    if f.ndim < 2 or f.shape[-1] != 3:
        raise ValueError(f"functionals must be shaped (..., n_thresholds, 3); got {f.shape}")
    if np.isnan(f).any():
        raise ValueError("functionals contain NaN")
    if len(image_shape) != 2 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (H, W) with H, W >= 1; got {image_shape}")
    f = f.reshape(-1, *f.shape[-2:])
    area = f[..., 0] / pixel_size**2
    length = f[..., 1] / pixel_size
    euler = f[..., 2]
    n_pixels = float(image_shape[0] * image_shape[1])

    def le(a, b):  # a <= b up to rtol
        return a <= b + rtol * np.maximum(np.abs(a), np.abs(b))

    wet = area > 0
    dry = ~wet
    with np.errstate(invalid="ignore"):
        ceil_bound = 2.0 * np.ceil(2.0 * np.sqrt(np.maximum(area * (1.0 - rtol), 0.0)))
    bad = {
        "area_range": ~(le(0.0, area) & le(area, n_pixels)),
        "perimeter_zero": dry & (length != 0),
        "perimeter_min": wet & ~le(ceil_bound, length),
        "perimeter_max": wet & ~le(length, 4.0 * area),
        "euler_zero": dry & (euler != 0),
        "euler_upper": wet & ~le(euler, np.minimum(area, length / 4.0)),
        "euler_lower": wet & ~le(2.0 - length / 4.0, euler),
    }
    monotone_bad = ~le(area[..., 1:], area[..., :-1])
    if components is not None:
        if isinstance(components, torch.Tensor):
            components = components.detach().cpu().numpy()
        b0 = np.asarray(components, dtype=np.float64).reshape(area.shape)
        bad["components_range"] = np.where(
            wet, ~(le(1.0, b0) & le(b0, np.minimum(area, length / 4.0))), b0 != 0
        )
        bad["euler_components"] = wet & ~(le(2.0 * b0 - length / 4.0, euler) & le(euler, b0))
    out = {name: float(v.mean()) for name, v in bad.items()}
    out["area_monotone"] = float(monotone_bad.mean()) if monotone_bad.size else 0.0
    per_field = np.zeros(area.shape[0], dtype=bool)
    for v in bad.values():
        per_field |= v.any(axis=-1)
    per_field |= monotone_bad.any(axis=-1)
    out["any"] = float(per_field.mean())
    return out


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


class MinkowskiSurrogate(nn.Module):
    r"""Neural emulator of :func:`mink_toolkit.minkowski_functionals` for rain fields.

    Maps rain rate ``(B, 1, H, W)`` in mm/h to ``(B, n_thresholds, 3)``
    (area, perimeter, euler_characteristic; 8-connected χ, edge perimeter;
    pixel units times powers of ``pixel_size``), float64, and optionally β0.

    Architecture (see the module notes for why):

    1. :math:`z` = :func:`normalise_rain` of the input;
    2. at every lattice vertex :math:`v` the 2×2 block of :math:`z` around it
       gives *level features* :math:`s_j(v)` in units of z: the seven
       order statistics the exact estimator is made of (:data:`ORDER_STATISTICS`:
       the pixel, max and min of the horizontal and the vertical pair, max
       and min of the block), and ``levels`` more learnt by a local network
       (2×2 convolution, zero = dry padding, ``depth - 1`` 1×1 convolutions,
       1-Lipschitz activations, a linear map);
    3. each threshold :math:`c_k` (normalised) turns them into soft
       indicators :math:`\sigma(a_j (s_j(v) - c_k) + b_j)` with learnt
       slopes :math:`a_j > 0` and offsets :math:`b_j`;
    4. global sum pooling over the :math:`(H+1)(W+1)` vertices gives the
       features :math:`F_{k} \in \mathbb R^{7 + \mathrm{levels}}`
       (:meth:`features`);
    5. a bias-free linear head gives raw (area, perimeter, β0, χ) per
       threshold; with ``constrained=True`` they are projected onto the
       feasible set (:func:`project_feasible`).

    With hard steps the exact estimator lies in this family (area = pixel
    count, perimeter = pair maxima − pair minima, χ = block maxima − pair
    maxima + pixels), and the head is initialised there; training adapts
    the steps to OPERA's quantised values, learns β0 (which is not local)
    and corrects the smoothing that a finite slope brings. That is why few
    parameters and a few minutes of CPU suffice, where a conventional CNN
    with mean pooling and a dense head (the paper's) must discover additivity.

    Parameters
    ----------
    thresholds : 1-D array_like, strictly increasing, > 0, mm/h
    lipschitz : bool, default True
        Norm-constrain every affine map and the step slopes (see
        ``local_lipschitz``); the plain CNN baseline when False.
    constrained : bool, default True
        Project the outputs onto the feasible set; plain linear outputs when False.
    width : int, default 16
        Channels of the local network (even, for MaxMin).
    depth : int, default 3
        Layers of the local network before the level map (the 2×2 entry
        convolution and ``depth - 1`` 1×1 convolutions).
    levels : int, default 4
        Number of learnt level features (besides the 7 order statistics).
    local_lipschitz : float, default 16
        With ``lipschitz=True``, the cap on the Lipschitz constant of each
        path from the field to one soft indicator: order statistics are
        2-Lipschitz from the field to their vertex grid (each pixel lies in
        4 blocks); the learnt path's entry convolution is capped at 2, its
        1×1 convolutions and level map at 1; and the steps' slopes at
        :math:`a_j \le 2L` (a sigmoid of slope a is a/4-Lipschitz).
        Thresholds are 0.1 apart in z: a larger L allows sharper steps (more
        accurate), a smaller one smoother gradients.
    head_lipschitz : float, default 4
        With ``lipschitz=True``, the cap on the head's spectral norm (the
        exact combination has norm 2.6).
    activation : {"maxmin", "relu"}, default "maxmin"
    pixel_size : float, default 1
        Area is returned times its square, perimeter times it.
    norm_grid : (int, int), default (129, 129)
        Grid of the entry convolution's operator norm used for the cap
        (that of a 128 × 128 input); :func:`lipschitz_upper_bound` recomputes
        it for the actual input size.

    Examples
    --------
    >>> import torch
    >>> model = MinkowskiSurrogate([0.5, 2.0], width=8, depth=2)
    >>> model(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 2, 3])
    """

    ENTRY_CAP = 2.0

    def __init__(
        self,
        thresholds,
        *,
        lipschitz: bool = True,
        constrained: bool = True,
        width: int = 16,
        depth: int = 3,
        levels: int = 4,
        local_lipschitz: float = 16.0,
        head_lipschitz: float = 4.0,
        activation: str = "maxmin",
        pixel_size: float = 1.0,
        norm_grid: tuple[int, int] = (129, 129),
    ) -> None:
        super().__init__()
        thresholds = check_thresholds(thresholds)
        if (thresholds <= 0).any():
            raise ValueError(f"thresholds must be > 0 mm/h; got {thresholds.tolist()}")
        for name, value, low in (("width", width, 1), ("depth", depth, 1), ("levels", levels, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
        check_choice(activation, ACTIVATIONS, "activation")
        if activation == "maxmin" and width % 2:
            raise ValueError(f"width must be even for activation='maxmin'; got {width}")
        self.thresholds = thresholds
        self.lipschitz = bool(lipschitz)
        self.constrained = bool(constrained)
        self.width = int(width)
        self.depth = int(depth)
        self.levels = int(levels)
        self.local_lipschitz = check_positive(local_lipschitz, "local_lipschitz")
        self.head_lipschitz = check_positive(head_lipschitz, "head_lipschitz")
        self.activation = activation
        self.pixel_size = check_positive(pixel_size, "pixel_size")
        self.norm_grid = (int(norm_grid[0]), int(norm_grid[1]))
        self.register_buffer(
            "threshold_levels", normalise_rain(torch.as_tensor(thresholds, dtype=torch.float32)), persistent=False
        )
        m = self.width
        self.entry_weight = nn.Parameter(torch.randn(m, 1, 2, 2) * 0.5)
        self.entry_bias = nn.Parameter(torch.zeros(m))
        self.hidden_weights = nn.ParameterList(
            [nn.Parameter(torch.randn(m, m) / math.sqrt(m)) for _ in range(self.depth - 1)]
        )
        self.hidden_biases = nn.ParameterList([nn.Parameter(torch.zeros(m)) for _ in range(self.depth - 1)])
        self.level_weight = nn.Parameter(torch.randn(self.levels, m) / math.sqrt(m))
        self.level_bias = nn.Parameter(torch.zeros(self.levels))
        n_features = len(ORDER_STATISTICS) + self.levels
        # Initial slope 20 per unit z: a step half a threshold spacing (0.1) wide; then learnt.
        self.log_slope = nn.Parameter(torch.full((n_features,), math.log(20.0)))
        self.step_offset = nn.Parameter(torch.zeros(n_features))
        head = torch.zeros(4, n_features)
        head[:, : len(ORDER_STATISTICS)] = torch.as_tensor(EXACT_HEAD, dtype=torch.float32)
        head[:, len(ORDER_STATISTICS) :] = torch.randn(4, self.levels) * 0.01
        self.head_weight = nn.Parameter(head)
        self.act = _MaxMin() if activation == "maxmin" else nn.ReLU()

    # -- configuration ----------------------------------------------------
    def config(self) -> dict:
        """Settings that define the model (stored in checkpoints)."""
        return {
            "thresholds": [float(u) for u in self.thresholds],
            "lipschitz": self.lipschitz,
            "constrained": self.constrained,
            "width": self.width,
            "depth": self.depth,
            "levels": self.levels,
            "local_lipschitz": self.local_lipschitz,
            "head_lipschitz": self.head_lipschitz,
            "activation": self.activation,
            "pixel_size": self.pixel_size,
            "norm_grid": list(self.norm_grid),
        }

    @property
    def max_slope(self) -> float:
        """Largest step slope allowed with ``lipschitz=True``: :math:`2L`."""
        return 2.0 * self.local_lipschitz

    # -- weights ----------------------------------------------------------
    def layer_weights(self) -> dict[str, object]:
        """Effective weights: capped when ``lipschitz=True``.

        Returns
        -------
        dict
            ``entry`` (m, 1, 2, 2), ``hidden`` (list of (m, m)), ``level``
            (levels, m), ``slope`` (levels,), ``head`` (4, levels).
        """
        entry = self.entry_weight
        hidden = list(self.hidden_weights)
        level = self.level_weight
        slope = torch.exp(self.log_slope)
        head = self.head_weight
        if self.lipschitz:
            entry = _cap(entry, conv_operator_norm(entry, self.norm_grid), self.ENTRY_CAP)
            hidden = [_cap(w, _matrix_norm(w), 1.0) for w in hidden]
            level = _cap(level, _matrix_norm(level), 1.0)
            slope = torch.clamp(slope, max=self.max_slope)
            head = _cap(head, _matrix_norm(head), self.head_lipschitz)
        return {"entry": entry, "hidden": hidden, "level": level, "slope": slope, "head": head}

    # -- forward ----------------------------------------------------------
    def level_features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        """Level features :math:`s_j(v)` at every lattice vertex, shape (B, (H+1)(W+1), 7 + levels)."""
        weights = self.layer_weights() if weights is None else weights
        # The 2×2 blocks (a b / c d) around every lattice vertex, background (z = 0) outside.
        blocks = F.unfold(F.pad(z, (1, 1, 1, 1)), kernel_size=2).transpose(1, 2)  # (B, P, 4)
        a, b, c, d = blocks.unbind(-1)
        # Every horizontal (vertical) pair of the padded grid is the top row (left column) of one block.
        stats = [a, torch.maximum(a, b), torch.minimum(a, b), torch.maximum(a, c), torch.minimum(a, c),
                 blocks.amax(-1), blocks.amin(-1)]
        if self.levels == 0:
            return torch.stack(stats, dim=-1)
        # Learnt features: unfold + matmul is the 2×2 convolution with padding 1, channels last.
        h = self.act(blocks @ weights["entry"].reshape(self.width, 4).T + self.entry_bias)
        for w, bias in zip(weights["hidden"], self.hidden_biases):
            h = self.act(h @ w.T + bias)
        learnt = h @ weights["level"].T + self.level_bias
        return torch.cat([torch.stack(stats, dim=-1), learnt], dim=-1)

    def features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        r"""Sum-pooled soft indicators of each threshold, from the *normalised* input.

        Parameters
        ----------
        z : torch.Tensor, shape (B, 1, H, W)
            :func:`normalise_rain` of the rain field.

        Returns
        -------
        torch.Tensor, shape (B, n_thresholds, 7 + levels)
            :math:`F_{kj} = \sum_v \sigma(a_j (s_j(v) - c_k) + b_j)`;
            flattened, the vector that :func:`lipschitz_upper_bound` certifies.
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != 1:
            raise ValueError(f"z must be a tensor shaped (B, 1, H, W); got {getattr(z, 'shape', type(z))}")
        weights = self.layer_weights() if weights is None else weights
        s = self.level_features(z, weights)  # (B, P, J)
        c = self.threshold_levels.to(s.dtype)
        t = weights["slope"] * (s[:, None, :, :] - c[None, :, None, None]) + self.step_offset  # (B, n, P, J)
        return torch.sigmoid(t).sum(dim=2)

    def forward(self, rain: torch.Tensor, *, return_components: bool = False):
        """Functionals of rain fields.

        Parameters
        ----------
        rain : torch.Tensor, shape (B, 1, H, W)
            Rain rate in mm/h (>= 0, no NaN).
        return_components : bool
            Also return β0.

        Returns
        -------
        functionals : torch.Tensor, shape (B, n_thresholds, 3), float64
        components : torch.Tensor, shape (B, n_thresholds), float64
            Only with ``return_components=True``.
        """
        rain = _check_rain_tensor(rain)
        height, width = rain.shape[-2:]
        weights = self.layer_weights()
        feats = self.features(normalise_rain(rain), weights)
        raw = feats @ weights["head"].T  # (B, n, 4): area, perimeter, β0, χ in pixel units
        return _output_from_raw(raw, height, width, self.constrained, self.pixel_size, return_components)

    def extra_repr(self) -> str:
        return (
            f"n_thresholds={len(self.thresholds)}, lipschitz={self.lipschitz}, constrained={self.constrained}, "
            f"width={self.width}, depth={self.depth}, levels={self.levels}, "
            f"local_lipschitz={self.local_lipschitz:g}, head_lipschitz={self.head_lipschitz:g}, activation={self.activation!r}"
        )


# --------------------------------------------------------------------------
# The conventional baseline
# --------------------------------------------------------------------------


def _output_from_raw(raw: torch.Tensor, height: int, width: int, constrained: bool, pixel_size: float,
                     return_components: bool):
    """Shared output layout: raw (B, n, 4) = (area, perimeter, β0, χ) in pixel units -> (B, n, 3) [+ β0]."""
    out = project_feasible(raw, height * width) if constrained else raw.to(torch.float64)
    s = pixel_size
    functionals = torch.stack([out[..., 0] * s**2, out[..., 1] * s, out[..., 3]], dim=-1)
    if return_components:
        return functionals, out[..., 2]
    return functionals


def _conv_grids(input_shape: tuple[int, int], n_layers: int, kernel_size: int) -> list[tuple[int, int]]:
    r"""Circular grids that bound each stride-2 'same' convolution, and the final map size.

    Layer l sees an :math:`s_l \times t_l` input (:math:`s_{l+1} = \lceil s_l / 2 \rceil` for
    stride 2, padding k // 2, odd k); its stride-1 version is a crop of the full convolution,
    i.e. of the circular one on :math:`(s_l + k - 1) \times (t_l + k - 1)`.
    """
    h, w = int(input_shape[0]), int(input_shape[1])
    grids = []
    for _ in range(n_layers):
        grids.append((h + kernel_size - 1, w + kernel_size - 1))
        h, w = (h + 1) // 2, (w + 1) // 2
    grids.append((h, w))
    return grids


class ConventionalSurrogate(nn.Module):
    r"""A conventional CNN surrogate of the paper's kind: strided convolutions, mean pooling, dense head.

    The comparison model for :class:`MinkowskiSurrogate`: the same input
    transform (:func:`normalise_rain`), output layout ``(B, n_thresholds, 3)``
    (+ β0), optional constrained head (:func:`project_feasible`), Lipschitz
    certificate (:func:`lipschitz_upper_bound`) and checkpoints
    (:func:`save_surrogate` / :func:`load_surrogate`), but none of the
    additive structure:

    1. :math:`z` = :func:`normalise_rain` of the input;
    2. ``len(channels)`` blocks of a k×k convolution with stride 2 and zero
       padding k // 2, then ReLU (the first block is the entry convolution);
    3. global **mean** pooling over the last feature map;
    4. ``len(hidden)`` dense layers with ReLU — their output is
       :meth:`features`, the vector the head reads;
    5. a linear head (with bias) predicting, for every threshold, the
       log1p-compressed (area, perimeter, β0, χ)
       (:func:`mink_toolkit.losses.compress_functionals`, the usual target
       normalisation of a regression network: a linear head could hardly
       produce raw counts up to :math:`HW` = 16 384); the model returns the
       inverse, :math:`\operatorname{sign}(y)\,(e^{|y|} - 1)`, clamped to
       :math:`|y| \le 50`, in pixel units; with ``constrained=True`` it is
       projected onto the feasible set.

    The network must *learn* that the functionals are sums of local terms;
    mean pooling followed by nonlinear dense layers cannot represent that
    exactly, and its predictions are tied to the patch size it was trained
    on (train and evaluate on one size, as the paper did).

    With ``lipschitz=True`` every convolution is divided by its exact
    operator norm on the grid of a ``norm_grid`` input whenever that exceeds
    1 (Sedghi, Gupta & Long 2019; :func:`conv_operator_norm` — not the
    reshaped-kernel power iteration of ``torch.nn.utils.spectral_norm``),
    every dense layer by its spectral norm (cap 1), and the head by its
    spectral norm (cap ``head_lipschitz``); ReLU and biases are
    1-Lipschitz, and there is no normalisation layer.
    :func:`lipschitz_upper_bound` recomputes the norms for the actual input
    size.

    Parameters
    ----------
    thresholds : 1-D array_like, strictly increasing, > 0, mm/h
    lipschitz : bool, default True
    constrained : bool, default True
    channels : sequence of int, default (16, 32, 64, 64)
        Output channels of the strided convolution blocks.
    hidden : sequence of int, default (128,)
        Widths of the dense layers after pooling (at least one).
    kernel_size : int, default 3
        Odd.
    head_lipschitz : float, default 64
        With ``lipschitz=True``, the cap on the head's spectral norm.
    pixel_size : float, default 1
    norm_grid : (int, int), default (128, 128)
        Input size at which the convolutions' norms are capped in training.

    Examples
    --------
    >>> import torch
    >>> model = ConventionalSurrogate([0.5, 2.0], channels=(4, 8), hidden=(8,))
    >>> model(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 2, 3])
    """

    architecture = "conventional"

    def __init__(
        self,
        thresholds,
        *,
        lipschitz: bool = True,
        constrained: bool = True,
        channels=(16, 32, 64, 64),
        hidden=(128,),
        kernel_size: int = 3,
        head_lipschitz: float = 64.0,
        pixel_size: float = 1.0,
        norm_grid: tuple[int, int] = (128, 128),
    ) -> None:
        super().__init__()
        thresholds = check_thresholds(thresholds)
        if (thresholds <= 0).any():
            raise ValueError(f"thresholds must be > 0 mm/h; got {thresholds.tolist()}")
        for name, values in (("channels", channels), ("hidden", hidden)):
            values = list(values) if isinstance(values, (list, tuple)) else None
            if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in values):
                raise ValueError(f"{name} must be a non-empty sequence of positive integers; got {values!r}")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 \
                or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd positive integer; got {kernel_size!r}")
        self.thresholds = thresholds
        self.lipschitz = bool(lipschitz)
        self.constrained = bool(constrained)
        self.channels = tuple(int(c) for c in channels)
        self.hidden = tuple(int(c) for c in hidden)
        self.kernel_size = int(kernel_size)
        self.head_lipschitz = check_positive(head_lipschitz, "head_lipschitz")
        self.pixel_size = check_positive(pixel_size, "pixel_size")
        self.norm_grid = (int(norm_grid[0]), int(norm_grid[1]))
        k = self.kernel_size
        c_in = (1, *self.channels[:-1])
        # He initialisation (ReLU), as a conventional CNN would use.
        self.conv_weights = nn.ParameterList(
            [nn.Parameter(torch.randn(c, ci, k, k) * math.sqrt(2.0 / (ci * k * k))) for c, ci in zip(self.channels, c_in)]
        )
        self.conv_biases = nn.ParameterList([nn.Parameter(torch.zeros(c)) for c in self.channels])
        d_in = (self.channels[-1], *self.hidden[:-1])
        self.dense_weights = nn.ParameterList(
            [nn.Parameter(torch.randn(d, di) * math.sqrt(2.0 / di)) for d, di in zip(self.hidden, d_in)]
        )
        self.dense_biases = nn.ParameterList([nn.Parameter(torch.zeros(d)) for d in self.hidden])
        n_out = 4 * len(thresholds)
        self.head_weight = nn.Parameter(torch.randn(n_out, self.hidden[-1]) * 0.01)
        # Start area, perimeter and β0 in the positive range: the loss compresses them with
        # log1p(max(·, 0)), whose gradient vanishes for negative values.
        self.head_bias = nn.Parameter(torch.tensor([1.0, 1.0, 1.0, 0.0]).repeat(len(thresholds)))

    def config(self) -> dict:
        """Settings that define the model (stored in checkpoints)."""
        return {
            "architecture": self.architecture,
            "thresholds": [float(u) for u in self.thresholds],
            "lipschitz": self.lipschitz,
            "constrained": self.constrained,
            "channels": list(self.channels),
            "hidden": list(self.hidden),
            "kernel_size": self.kernel_size,
            "head_lipschitz": self.head_lipschitz,
            "pixel_size": self.pixel_size,
            "norm_grid": list(self.norm_grid),
        }

    def layer_weights(self) -> dict[str, object]:
        """Effective weights: norm-capped when ``lipschitz=True``.

        Returns
        -------
        dict
            ``conv`` (list of (c_out, c_in, k, k)), ``dense`` (list of
            matrices), ``head`` (4 n, hidden[-1]).
        """
        conv, dense, head = list(self.conv_weights), list(self.dense_weights), self.head_weight
        if self.lipschitz:
            grids = _conv_grids(self.norm_grid, len(conv), self.kernel_size)
            conv = [_cap(w, conv_operator_norm(w, g), 1.0) for w, g in zip(conv, grids)]
            dense = [_cap(w, _matrix_norm(w), 1.0) for w in dense]
            head = _cap(head, _matrix_norm(head), self.head_lipschitz)
        return {"conv": conv, "dense": dense, "head": head}

    def features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        """Dense features after mean pooling, from the *normalised* input.

        Parameters
        ----------
        z : torch.Tensor, shape (B, 1, H, W)
            :func:`normalise_rain` of the rain field.

        Returns
        -------
        torch.Tensor, shape (B, hidden[-1])
            The vector :func:`lipschitz_upper_bound` certifies.
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != 1:
            raise ValueError(f"z must be a tensor shaped (B, 1, H, W); got {getattr(z, 'shape', type(z))}")
        weights = self.layer_weights() if weights is None else weights
        h = z
        for w, b in zip(weights["conv"], self.conv_biases):
            h = F.relu(F.conv2d(h, w.to(h.dtype), b.to(h.dtype), stride=2, padding=self.kernel_size // 2))
        h = h.mean(dim=(-2, -1))
        for w, b in zip(weights["dense"], self.dense_biases):
            h = F.relu(h @ w.to(h.dtype).T + b.to(h.dtype))
        return h

    def forward(self, rain: torch.Tensor, *, return_components: bool = False):
        """Functionals of rain fields; same contract as :meth:`MinkowskiSurrogate.forward`.

        Parameters
        ----------
        rain : torch.Tensor, shape (B, 1, H, W)
            Rain rate in mm/h (>= 0, no NaN).
        return_components : bool

        Returns
        -------
        functionals : torch.Tensor, shape (B, n_thresholds, 3), float64
        components : torch.Tensor, shape (B, n_thresholds), float64
            Only with ``return_components=True``.
        """
        rain = _check_rain_tensor(rain)
        height, width = rain.shape[-2:]
        weights = self.layer_weights()
        feats = self.features(normalise_rain(rain), weights)
        y = (feats @ weights["head"].to(feats.dtype).T + self.head_bias.to(feats.dtype)).to(torch.float64)
        y = y.reshape(len(y), len(self.thresholds), 4).clamp(-50.0, 50.0)
        raw = torch.sign(y) * torch.expm1(y.abs())  # inverse of the log1p compression
        return _output_from_raw(raw, height, width, self.constrained, self.pixel_size, return_components)

    def extra_repr(self) -> str:
        return (
            f"n_thresholds={len(self.thresholds)}, lipschitz={self.lipschitz}, constrained={self.constrained}, "
            f"channels={self.channels}, hidden={self.hidden}, kernel_size={self.kernel_size}"
        )


#: Surrogate classes by the ``architecture`` of their configuration (checkpoints without one are additive).
ARCHITECTURES = {"additive": MinkowskiSurrogate, "conventional": ConventionalSurrogate}


def _conventional_bound(model: ConventionalSurrogate, input_shape, include_head: bool) -> float:
    grids = _conv_grids(input_shape, len(model.channels), model.kernel_size)
    with torch.no_grad():
        weights = model.layer_weights()
        bound = 1.0
        for w, grid in zip(weights["conv"], grids):
            bound *= float(conv_operator_norm(w.double(), grid))
        bound /= math.sqrt(grids[-1][0] * grids[-1][1])  # mean pooling
        for w in weights["dense"]:
            bound *= float(_matrix_norm(w.double()))
        if include_head:
            bound *= float(_matrix_norm(weights["head"].double()))
    return bound


# --------------------------------------------------------------------------
# Certified and empirical Lipschitz constants
# --------------------------------------------------------------------------


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
      of one counted pair and the second of one), 4 for block max/min
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
    n_fixed = len(ORDER_STATISTICS)
    with torch.no_grad():
        weights = model.layer_weights()
        step = weights["slope"].double() / 4.0
        squared = float((step[:n_fixed] ** 2 * torch.as_tensor(FIXED_LIPSCHITZ_SQUARED, dtype=torch.float64)).sum())
        if model.levels:
            learnt = float(conv_operator_norm(weights["entry"].double(), (h + 1, w + 1)))
            for weight in weights["hidden"]:
                learnt *= float(_matrix_norm(weight.double()))
            learnt *= float(_matrix_norm(weights["level"].double()))
            squared += float(step[n_fixed:].max()) ** 2 * learnt**2
        head = float(_matrix_norm(weights["head"].double())) if include_head else 1.0
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


# --------------------------------------------------------------------------
# Loss, training, checkpoints
# --------------------------------------------------------------------------


def surrogate_loss(pred, target, pred_components, target_components, thresholds, *, components_weight: float = 0.5):
    """Training loss: :func:`mink_toolkit.losses.functional_distance` in log-threshold.

    The shared trapezoid log1p distance, integrated over
    :math:`\\log_{10} u` rather than :math:`u`, so that each decade of
    thresholds weighs the same (over :math:`u` the 10 mm/h end would weigh
    about 100 times the 0.1 mm/h end); β0 enters through the same distance
    (as the first column, with weights (1, 0, 0)).

    Parameters
    ----------
    pred, target : torch.Tensor, shape (B, n, 3)
    pred_components, target_components : torch.Tensor, shape (B, n)
    thresholds : 1-D array_like, mm/h
    components_weight : float

    Returns
    -------
    torch.Tensor, scalar
    """
    from .losses import functional_distance

    axis = np.log10(np.asarray(thresholds, dtype=np.float64))
    loss = functional_distance(pred, target, axis)
    if components_weight:
        zeros = torch.zeros_like(pred_components)
        as_triplet = lambda b0: torch.stack([b0, zeros, zeros], dim=-1)  # noqa: E731
        loss = loss + components_weight * functional_distance(
            as_triplet(pred_components), as_triplet(target_components.to(pred_components.dtype)), axis,
            weights=(1.0, 0.0, 0.0),
        )
    return loss


@dataclass
class TrainingResult:
    """What :func:`train_surrogate` did.

    Attributes
    ----------
    history : list of dict
        One entry per evaluation: ``step``, ``train_loss`` (mean since the
        previous evaluation), ``val_loss``.
    best_step : int
        Step of the best validation loss (its weights are kept).
    best_val_loss : float
    train_seconds : float
        Wall-clock time of the training loop (evaluations included).
    stopped_early : bool
    """

    history: list = field(default_factory=list)
    best_step: int = 0
    best_val_loss: float = float("inf")
    train_seconds: float = 0.0
    stopped_early: bool = False


def _predict(model, rain: np.ndarray, batch_size: int = 8):
    """Functionals and β0 of (N, H, W) fields without gradients, in batches."""
    outs, comps = [], []
    with torch.no_grad():
        for start in range(0, len(rain), batch_size):
            x = torch.as_tensor(np.ascontiguousarray(rain[start : start + batch_size]), dtype=torch.float32)[:, None]
            f, b0 = model(x, return_components=True)
            outs.append(f)
            comps.append(b0)
    return torch.cat(outs), torch.cat(comps)


def train_surrogate(
    model: MinkowskiSurrogate | ConventionalSurrogate,
    train,
    val,
    *,
    steps: int = 1500,
    batch_size: int = 32,
    crop_size: int = 32,
    lr: float = 5e-3,
    eval_every: int = 100,
    patience: int = 5,
    val_patches: int = 48,
    components_weight: float = 0.5,
    seed: int = 0,
    progress: bool = True,
) -> TrainingResult:
    """Train a surrogate on random crops with exact targets; early stopping on validation.

    Each step draws ``batch_size`` random ``crop_size`` crops of the training
    patches, applies a random D4 symmetry to each, computes their exact
    functionals and β0 (:func:`mink_toolkit.datasets.exact_targets`, cheap
    at this size) and takes an Adam step on :func:`surrogate_loss`. The model
    is additive, so what it learns on crops holds on full patches. With
    ``crop_size`` equal to the patch size (what a :class:`ConventionalSurrogate`
    needs: it is tied to one field size) whole patches are drawn and their
    cached targets used, which the D4 symmetry leaves unchanged. Every
    ``eval_every`` steps the loss on ``val_patches`` full validation patches
    (fixed, cached targets) is computed; the best weights are kept and
    training stops after ``patience`` evaluations without improvement. The
    learning rate follows a cosine schedule.

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
        Trained in place (its best weights are loaded at the end).
    train, val : mink_toolkit.datasets.PatchSet
        Thresholds must match the model's.
    steps, batch_size, crop_size, lr, eval_every, patience, val_patches : int/float
    components_weight : float
        Weight of the β0 term of :func:`surrogate_loss`.
    seed : int
        Seeds torch and the crop sampler.
    progress : bool
        tqdm progress bar.

    Returns
    -------
    TrainingResult
    """
    from tqdm.auto import tqdm

    from .datasets import exact_targets, random_crops, random_d4

    for name, data in (("train", train), ("val", val)):
        have = np.asarray(data.thresholds, dtype=np.float64)
        if have.shape != model.thresholds.shape or not np.allclose(have, model.thresholds):
            raise ValueError(f"{name} thresholds {np.asarray(data.thresholds).tolist()} differ from the model's")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    thresholds = model.thresholds
    val_index = np.sort(np.random.default_rng(seed + 1).permutation(len(val))[: min(val_patches, len(val))])
    val_rain = val.rain[val_index]
    val_target = torch.as_tensor(val.functionals[val_index])
    val_comp = torch.as_tensor(val.components[val_index])

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    result = TrainingResult()
    best_state = copy.deepcopy(model.state_dict())
    running, count, bad_evals = 0.0, 0, 0
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc="train surrogate", disable=not progress, leave=False)
    whole_patches = tuple(train.rain.shape[-2:]) == (crop_size, crop_size)
    for step in bar:
        if whole_patches:
            pick = rng.integers(0, len(train), size=batch_size)
            crops = random_d4(train.rain[pick], rng)
            target, comps = train.functionals[pick], train.components[pick]
        else:
            crops = random_d4(random_crops(train.rain, crop_size, batch_size, rng), rng)
            target, comps = exact_targets(crops, thresholds)
        pred, pred_comps = model(torch.as_tensor(np.ascontiguousarray(crops), dtype=torch.float32)[:, None], return_components=True)
        loss = surrogate_loss(pred, torch.as_tensor(target), pred_comps, torch.as_tensor(comps), thresholds,
                              components_weight=components_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        running += float(loss.detach())
        count += 1
        if step % eval_every == 0 or step == steps:
            model.eval()
            vp, vc = _predict(model, val_rain)
            val_loss = float(surrogate_loss(vp, val_target, vc, val_comp, thresholds, components_weight=components_weight))
            model.train()
            result.history.append({"step": step, "train_loss": running / count, "val_loss": val_loss})
            bar.set_postfix(train=f"{running / count:.3f}", val=f"{val_loss:.3f}")
            running, count = 0.0, 0
            if val_loss < result.best_val_loss:
                result.best_val_loss, result.best_step = val_loss, step
                best_state = copy.deepcopy(model.state_dict())
                bad_evals = 0
            else:
                bad_evals += 1
                if bad_evals >= patience:
                    result.stopped_early = True
                    break
    model.load_state_dict(best_state)
    model.eval()
    result.train_seconds = time.perf_counter() - start
    return result


def save_surrogate(model: MinkowskiSurrogate | ConventionalSurrogate, path, *, metadata: dict | None = None) -> Path:
    """Write weights and configuration to ``path`` (a torch file).

    Parameters
    ----------
    model : MinkowskiSurrogate or ConventionalSurrogate
    path : str or Path
    metadata : dict, optional
        JSON-like extra information (training history, data settings).

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": model.config(),
            "state_dict": model.state_dict(),
            "metadata": metadata or {},
        },
        path,
    )
    return path


def load_surrogate(path, *, thresholds=None, config: dict | None = None) -> MinkowskiSurrogate | ConventionalSurrogate:
    """Load a checkpoint written by :func:`save_surrogate`, validating it.

    Parameters
    ----------
    path : str or Path
    thresholds : 1-D array_like, optional
        If given, must equal the checkpoint's thresholds (mm/h).
    config : dict, optional
        Expected settings (any subset of :meth:`MinkowskiSurrogate.config`
        or :meth:`ConventionalSurrogate.config`, ``architecture`` included:
        "additive" or "conventional"); each must match the checkpoint's.

    Returns
    -------
    MinkowskiSurrogate or ConventionalSurrogate
        As stored (checkpoints without ``architecture`` are additive), in eval mode.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        Not a readable surrogate checkpoint (corrupt, other format or
        version), thresholds or settings that differ (the message names
        them), weights that do not fit the configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no surrogate checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path} is not a readable surrogate checkpoint (corrupt or not a torch file): {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a mink_toolkit surrogate checkpoint (format {payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r})")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {payload.get('version')}; this code reads {CHECKPOINT_VERSION}")
    stored = payload.get("config")
    if not isinstance(stored, dict) or "thresholds" not in stored:
        raise ValueError(f"{path} has no model configuration")
    if thresholds is not None:
        wanted = check_thresholds(thresholds)
        have = np.asarray(stored["thresholds"], dtype=np.float64)
        if wanted.shape != have.shape or not np.allclose(wanted, have, rtol=1e-9, atol=0):
            raise ValueError(
                f"thresholds do not match the checkpoint: asked for {wanted.tolist()}, "
                f"checkpoint has {have.tolist()} (mm/h)"
            )
    architecture = stored.get("architecture", "additive")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{path} has unknown architecture {architecture!r}; expected one of {sorted(ARCHITECTURES)}")
    if config is not None:
        for key, value in config.items():
            if key == "architecture":
                if value != architecture:
                    raise ValueError(f"checkpoint setting architecture={architecture!r} differs from the expected {value!r}")
                continue
            if key not in stored:
                raise ValueError(f"unknown surrogate setting {key!r}; the checkpoint has {sorted(stored)}")
            have = stored[key]
            same = (np.shape(have) == np.shape(value) and np.allclose(have, value)
                    if key in ("thresholds", "norm_grid", "channels", "hidden") else have == value)
            if not same:
                raise ValueError(f"checkpoint setting {key}={have!r} differs from the expected {value!r}")
    try:
        settings = {k: v for k, v in stored.items() if k != "architecture"}
        model = ARCHITECTURES[architecture](**settings)
        model.load_state_dict(payload["state_dict"], strict=True)
    except (TypeError, RuntimeError, KeyError) as err:
        raise ValueError(f"{path}: weights do not fit the stored configuration: {err}") from err
    model.eval()
    return model
