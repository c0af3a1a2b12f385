r"""Necessary geometric conditions on the functionals, and a head that meets them.

:func:`geometric_violations` checks predictions against conditions every
exact edge-count estimate satisfies; :func:`project_feasible` maps raw
estimates onto values the exact estimator can take.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import check_choice, check_positive

__all__ = ["project_feasible", "geometric_violations"]


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
