r"""Necessary geometric conditions on the functionals, and a continuous head that meets them.

:func:`geometric_violations` checks predictions against conditions that the
exact edge-count estimator (8-connected χ) satisfies on every binary image;
:func:`project_feasible` is the constrained head of the surrogates: a
continuous, Lipschitz map from raw estimates onto values that satisfy every
*continuous* condition, whatever the input and the weights.

Continuous and discrete conditions
----------------------------------
Exact values are counts: the area of a non-empty set is at least one pixel,
and the perimeter of A cells is at least :math:`2\lceil 2\sqrt A\rceil`
(Harary & Harborth 1976). These two facts make the feasible set of (area,
perimeter) disconnected near A = 0 (no perimeter fits :math:`0 < A < 1`), so
no continuous map can reach both A = 0 and A ≥ 1 while honouring them: a head
that does (the projection this module had before) must jump, and a loss
through it has a value and a gradient that disagree. The head therefore meets
continuous relaxations of them, each still a *necessary* condition of exact
values (every exact value satisfies it, because exact areas are 0 or ≥ 1):

* ``perimeter_min``: :math:`P \ge 4\min(A, \sqrt A)`, relaxing
  :math:`A > 0 \Rightarrow P \ge 2\lceil 2\sqrt A\rceil`;
* ``euler_lower``: :math:`\chi \ge 2\min(A, 1) - P/4`, relaxing
  :math:`A > 0 \Rightarrow \chi \ge 2 - P/4`;
* ``components_range``: :math:`\min(A, 1) \le \beta_0 \le \min(A, P/4)`,
  relaxing :math:`A > 0 \Rightarrow \beta_0 \ge 1`.

(:math:`2\lceil 2\sqrt A\rceil \ge 4\sqrt A`, and for :math:`A \ge 1`,
:math:`\min(A, \sqrt A) = \sqrt A` and :math:`\min(A, 1) = 1`; for A = 0 the
continuous forms read P ≥ 0, χ ≥ −P/4 and β0 ≥ 0, which the other conditions
then pin to 0.) ``geometric_violations(..., discrete=True)`` adds the discrete
forms, which an emulator with continuous outputs cannot be asked to meet
everywhere.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_choice, check_positive
from ..functionals import DEFAULT_PERIMETER

__all__ = ["project_feasible", "head_lipschitz_constant", "HEAD_SOFTNESS", "HEAD_RELATIVE_SOFTNESS", "geometric_violations", "CONDITIONS", "DISCRETE_CONDITIONS"]

#: The continuous necessary conditions (those the constrained head guarantees).
CONDITIONS = (
    "area_range",
    "area_monotone",
    "perimeter_zero",
    "perimeter_min",
    "perimeter_max",
    "euler_zero",
    "euler_upper",
    "euler_lower",
)
#: Conditions on β0 (checked when components are given).
COMPONENT_CONDITIONS = ("components_range", "euler_components")
#: Discrete forms (``discrete=True``): exact values meet them, continuous emulators cannot everywhere.
DISCRETE_CONDITIONS = ("area_gap", "perimeter_min_discrete", "euler_lower_discrete", "components_min_discrete")


def _ceil_two_sqrt(area: torch.Tensor) -> torch.Tensor:
    r""":math:`\lceil 2\sqrt{A} \rceil` for ``area`` >= 0, exact for floating-point input.

    The smallest integer :math:`k` with :math:`k^2 \ge 4A`; the float
    estimate ``ceil(2*sqrt(A))`` is corrected by one where rounding of the
    square root put it off (both comparisons are exact for k < 2**26).
    """
    k = torch.ceil(2.0 * torch.sqrt(area))
    k = torch.where((k >= 1) & ((k - 1.0) ** 2 >= 4.0 * area), k - 1.0, k)
    return torch.where(k**2 < 4.0 * area, k + 1.0, k)


#: Smoothing width of the constrained head's soft clamps, in pixel units (area in pixels, perimeter in
#: pixel edges, counts for β0 and χ): a raw value at an end of its interval comes out this far inside.
HEAD_SOFTNESS = 0.25
#: ... plus this fraction of the interval's width (perimeter, χ and β0; not area, whose first interval is [0, HW]):
#: a raw value far outside a wide interval still gets a derivative of order 1 (see :func:`project_feasible`).
HEAD_RELATIVE_SOFTNESS = 0.02


def _squareplus(x: torch.Tensor, softness) -> torch.Tensor:
    r"""A smooth ReLU with algebraic tails: :math:`h(x) = (x + \sqrt{x^2 + 4s^2})/2`.

    :math:`0 < h'(x) < 1` everywhere, :math:`h(x) 	o \max(x, 0)` as
    :math:`s 	o 0`, and :math:`h'(x) pprox s^2/x^2` far below 0: the
    derivative decays like a power, not like the exponential of a softplus,
    so a raw value far outside its interval still gets a usable gradient
    (Adam rescales it; an exponential tail underflows). Barron 2021,
    "Squareplus: a softplus-like algebraic rectifier". Written in two safe
    branches so that neither the value nor the gradient cancels for large
    :math:`|x|`.
    """
    b = 4.0 * softness**2
    below = torch.minimum(x, torch.zeros_like(x))
    above = torch.maximum(x, torch.zeros_like(x))
    negative = b / (2.0 * (torch.sqrt(below * below + b) - below))  # = (x + √(x² + b))/2 without cancellation
    positive = 0.5 * (above + torch.sqrt(above * above + b))
    return torch.where(x < 0, negative, positive)


def _clamp(x: torch.Tensor, low: torch.Tensor, high: torch.Tensor, relative: float = 0.0) -> torch.Tensor:
    r"""A soft clamp of ``x`` into ``[low, high]``: :math:`l + h(x - l) - h(x - u)` (:func:`_squareplus`).

    The softness is :math:`s = s_0 + \kappa\,(u - l)` with :math:`s_0` =
    :data:`HEAD_SOFTNESS` and :math:`\kappa` = ``relative``.

    For ``high >= low`` the value lies in ``[low, high]`` (strictly inside when
    ``high > low``), its derivative in ``x`` is :math:`h'(x - l) - h'(x - u) > 0`
    everywhere, and for a fixed softness its partial derivatives in
    (x, low, high) are non-negative and sum to 1, so it is 1-Lipschitz in
    the ℓ∞ norm of (x, low, high) like the hard clamp it replaces (the limit
    s → 0). A softness that grows with the width adds
    :math:`|\partial/\partial s| \cdot 2\kappa \le 2\kappa` (for squareplus,
    :math:`\partial h_s(y)/\partial s = 2/\sqrt{(y/s)^2 + 4} \in (0, 1]`), so the
    soft clamp is :math:`(1 + 2\kappa)`-Lipschitz in ℓ∞. The last ulps of rounding are cut by a hard clamp whose
    gradient is not used (value of the hard clamp, gradient of the soft one),
    so feasibility is exact in floating point.
    """
    softness = HEAD_SOFTNESS + relative * (high - low).clamp_min(0.0) if relative else HEAD_SOFTNESS
    soft = low + _squareplus(x - low, softness) - _squareplus(x - high, softness)
    hard = torch.minimum(torch.maximum(soft.detach(), low.detach()), high.detach())
    return hard + (soft - soft.detach())  # the value of ``hard`` exactly, the gradient of ``soft``


def _squareplus_slope(x: torch.Tensor, softness: float) -> torch.Tensor:
    r""":math:`h'(x) = (1 + x/r)/2`, :math:`r = \sqrt{x^2 + 4s^2}`, written as :math:`b/(2r(r - x))` for x < 0 (no cancellation)."""
    b = 4.0 * softness**2
    below = torch.minimum(x, torch.zeros_like(x))
    r_below = torch.sqrt(below * below + b)
    return torch.where(x < 0, b / (2.0 * r_below * (r_below - below)), 0.5 * (1.0 + x / torch.sqrt(x * x + b)))


class _AreaChain(torch.autograd.Function):
    r"""The area chain :math:`A_k = \operatorname{sc}(a_k; 0, A_{k-1})`, :math:`A_{-1} = HW`, fused.

    The same values and gradients as looping :func:`_clamp` over the
    thresholds under autograd (tested against it), at a fraction of the cost:
    the chain is sequential, so autograd recorded about 40 small operations
    per threshold, which made the head several times slower than the
    network under it. Here the forward loop runs without a graph, and the
    backward pass is the chain's linear recurrence
    :math:`\bar A_{k-1} \mathrel{+}= \bar A_k\,h'(a_k - A_{k-1})`,
    :math:`\bar a_k = \bar A_k\,(h'(a_k) - h'(a_k - A_{k-1}))` (constant softness,
    lower end 0). First derivatives only, which is all the toolkit takes.
    """

    @staticmethod
    def forward(ctx, raw_area: torch.Tensor, n_pixels: float) -> torch.Tensor:
        b = 4.0 * HEAD_SOFTNESS**2
        from_zero = _squareplus(raw_area, HEAD_SOFTNESS)  # h(a_k - 0) for every threshold at once
        columns = raw_area.movedim(-1, 0)
        bound = torch.full_like(columns[0], float(n_pixels))
        areas = []
        for k in range(columns.shape[0]):  # as few operations per step as possible: this loop is the head's cost
            y = columns[k] - bound
            r = torch.sqrt(y * y + b)
            h = torch.where(y < 0, (0.5 * b) / (r - y), 0.5 * (y + r))  # _squareplus(y), the same two branches
            bound = torch.minimum((from_zero[..., k] - h).clamp_min(0.0), bound)
            areas.append(bound)
        area = torch.stack(areas, dim=-1)
        ctx.save_for_backward(raw_area, area)
        ctx.n_pixels = float(n_pixels)
        return area

    @staticmethod
    def backward(ctx, grad_area: torch.Tensor):
        raw_area, area = ctx.saved_tensors
        s = HEAD_SOFTNESS
        upper = torch.cat([torch.full_like(area[..., :1], ctx.n_pixels), area[..., :-1]], dim=-1)
        through_upper = _squareplus_slope(raw_area - upper, s)  # ∂A_k/∂A_{k-1}
        own = _squareplus_slope(raw_area, s) - through_upper  # ∂A_k/∂a_k
        total = grad_area.clone()
        for k in range(area.shape[-1] - 1, 0, -1):  # reverse accumulation along the chain
            total[..., k - 1] += total[..., k] * through_upper[..., k]
        return total * own, None


def perimeter_lower_bound(area: torch.Tensor) -> torch.Tensor:
    r"""The continuous lower bound :math:`4\min(A, \sqrt A)` on the perimeter (4-Lipschitz in A)."""
    # √max(A, 1) gives the same minimum (A <= 1 <= √1 below one pixel) and keeps √ away from 0, where its
    # derivative is infinite and an empty set's zero gradient would become NaN.
    return 4.0 * torch.minimum(area, torch.sqrt(area.clamp_min(1.0)))


def project_feasible(raw: torch.Tensor, n_pixels: int, *, bound_gradients: bool = True) -> torch.Tensor:
    r"""The constrained head: a smooth map of raw estimates into the feasible set.

    Works in pixel units, per sample, along the threshold axis (increasing
    thresholds). Each output is its raw value passed through a **soft clamp**
    (:math:`\operatorname{sc}(x; l, u) = l + h(x - l) - h(x - u)`, with
    :math:`h(x) = (x + \sqrt{x^2 + 4s^2})/2` and :math:`s` =
    :data:`HEAD_SOFTNESS` pixel units) into an interval whose ends are
    continuous functions of the outputs before it, and every interval is
    non-empty, so the result meets every continuous condition of
    :func:`geometric_violations` (with components) for **any** input:

    1. area: :math:`A_k = \operatorname{sc}(a_k; 0, A_{k-1})`, :math:`A_{-1} = HW`
       (non-increasing in u, in [0, HW]);
    2. perimeter: :math:`P = \operatorname{sc}(p; 4\min(A, \sqrt A), 4A)`
       (non-empty: :math:`\min(A, \sqrt A) \le A`; A = 0 gives P = 0);
    3. χ: :math:`\operatorname{sc}(c; 2\min(A, 1) - P/4, \min(A, P/4))`
       (non-empty: for A ≥ 1, P ≥ 4 so :math:`2 - P/4 \le \min(A, P/4)`; for
       A < 1, P = 4A and both ends equal A);
    4. β0: :math:`\operatorname{sc}(b; \max(\min(A,1), \chi),
       \min(A, P/4, (\chi + P/4)/2))`, i.e. :math:`\chi \le \beta_0` and
       :math:`2\beta_0 - P/4 \le \chi` (non-empty: :math:`\min(A,1) \le
       (\chi + P/4)/2` because :math:`\chi \ge 2\min(A,1) - P/4`, and
       :math:`\chi \le (\chi + P/4)/2` because :math:`\chi \le P/4`). χ goes
       first because it is a primary output; β0 adapts to it.

    **Why a soft clamp with algebraic tails.** The hard clamp and running
    minimum this head had before are the limit :math:`s \to 0`; outside its
    interval their derivative with respect to the raw value is exactly 0. A
    network whose raw perimeter starts below :math:`4\min(A, \sqrt A)` (a
    conventional CNN starts near 1.7 pixel edges) then never receives a
    perimeter gradient, and its perimeter sits on the bound for good. Here
    the derivative of every output with respect to its own raw value,
    :math:`h'(x - l) - h'(x - u)`, is positive everywhere (for a non-empty
    interval), about 1/2 at the interval's ends, and decays only like
    :math:`s^2/d^2` at a distance d outside, not exponentially as a sigmoid
    or softplus parametrisation would, so an optimiser that rescales
    gradients (Adam) still moves it. The price: a raw value exactly at an end
    comes out about s inside (a raw area of 0 gives about 0.25 pixel), and
    inside the interval the output is the raw value to within
    :math:`s^2/d` at a distance d from the nearest end. An interior
    (sigmoid) parametrisation :math:`l + (u - l)\sigma(x)` was not used: its
    slope scales with the interval's width (up to :math:`4HW`), which would
    multiply the certificate, and it changes the meaning of the raw values,
    which are pixel-unit estimates here (the additive surrogate's are the
    exact estimator's at initialisation).

    The map is continuous and differentiable, with its true gradient (the
    last ulps of rounding are cut by a hard clamp whose gradient is not used).
    The soft clamp's partial derivatives in (x, l, u) are non-negative and
    sum to 1, so, like a hard clamp, it is 1-Lipschitz in the ℓ∞ norm: each
    output moves by at most 4 times the largest change of a raw value
    (:func:`head_lipschitz_constant`).

    Parameters
    ----------
    raw : torch.Tensor, shape (..., n_thresholds, 4)
        Raw (area, perimeter, β0, χ) in pixel units.
    n_pixels : int
        :math:`H W`, the number of pixels of the field.
    bound_gradients : bool, default True
        ``False``: the same values, but the gradient reaches each output's
        own raw value only (the interval ends of perimeter, χ and β0 pass no
        gradient to the outputs they are computed from). The surrogates use
        it in their own training steps: with the true gradient an output
        held at an end of its interval drags the output that end is made of
        — a raw χ above :math:`P/4` pushes P down through its upper end —
        and a learnt surrogate's perimeter then ends on its lower bound
        (measured on ``additive_learnt`` after 200 steps: raw P a median 648
        pixel edges below :math:`4\sqrt A`, against 628 above it with
        ``False``). Evaluation, certificates and a surrogate used as a loss
        use the true gradient.

    Returns
    -------
    torch.Tensor, shape (..., n_thresholds, 4), float64
        Constrained (area, perimeter, β0, χ).

    Examples
    --------
    >>> import torch
    >>> raw = torch.tensor([[[0.9, 1.0, 3.0, -2.0], [0.2, 3.0, 1.0, 1.0]]])
    >>> [[round(v, 3) for v in row] for row in project_feasible(raw, 16)[0].tolist()]
    [[0.961, 3.843, 0.961, 0.961], [0.294, 1.178, 0.294, 0.294]]

    A 3×3 square (A = 9, P = 12) with impossible χ = 5 and β0 = 0: χ and β0
    end near their upper bound P/4 = 3, each value about s inside its interval:

    >>> [round(v, 2) for v in project_feasible(torch.tensor([[[9.0, 12.0, 0.0, 5.0]]]), 16)[0, 0].tolist()]
    [9.0, 12.71, 3.13, 3.13]
    """
    if raw.ndim < 2 or raw.shape[-1] != 4:
        raise ValueError(f"raw must be shaped (..., n_thresholds, 4); got {tuple(raw.shape)}")
    r = raw.to(torch.float64)
    # Area: each threshold's area softly clamped into [0, area at the threshold below] (HW below the first),
    # a chain rather than a running minimum, whose gradient reaches only the smallest raw value.
    area = _AreaChain.apply(r[..., 0], float(n_pixels))
    if not isinstance(bound_gradients, bool):
        raise TypeError(f"bound_gradients must be a bool; got {type(bound_gradients).__name__}")

    def held(t: torch.Tensor) -> torch.Tensor:  # an interval end's input, with or without its gradient
        return t if bound_gradients else t.detach()

    a = held(area)
    perimeter = _clamp(r[..., 1], perimeter_lower_bound(a), 4.0 * a, HEAD_RELATIVE_SOFTNESS)
    quarter = held(perimeter) / 4.0
    one = torch.minimum(a, torch.ones_like(a))
    euler = _clamp(r[..., 3], 2.0 * one - quarter, torch.minimum(a, quarter), HEAD_RELATIVE_SOFTNESS)
    e = held(euler)
    # Largest float b with 2b - P/4 <= χ as geometric_violations computes it (the sum may
    # round up): at most two ulps below (χ + P/4)/2, which keeps the map continuous.
    half = (e + quarter) / 2.0
    with torch.no_grad():
        for _ in range(2):
            over = 2.0 * half - quarter > e
            half = torch.where(over, torch.nextafter(half, torch.full_like(half, -torch.inf)), half)
    half = half + ((e + quarter) / 2.0 - ((e + quarter) / 2.0).detach())  # the gradient of the exact value
    components = _clamp(
        r[..., 2],
        torch.maximum(one, e),
        torch.minimum(torch.minimum(a, quarter), half),
        HEAD_RELATIVE_SOFTNESS,
    )
    return torch.stack([area, perimeter, components, euler], dim=-1)


def head_lipschitz_constant(n_thresholds: int) -> float:
    r"""ℓ2 Lipschitz constant of :func:`project_feasible` on (n_thresholds, 4) arrays: :math:`8\sqrt n\,(1 + 2\kappa)`.

    κ = :data:`HEAD_RELATIVE_SOFTNESS`. In the ℓ∞ norm each output moves by
    at most :math:`4(1 + 2\kappa)\delta` when every raw value moves by at
    most δ: the area's soft clamps are 1-Lipschitz in the ℓ∞ norm of (raw
    value, lower end, upper end), so along the area chain
    :math:`|\Delta A_k| \le \max(|\Delta a_k|, |\Delta A_{k-1}|) \le \delta`;
    the other soft clamps are :math:`(1 + 2\kappa)`-Lipschitz. The
    perimeter's ends :math:`4\min(A, \sqrt A)` and :math:`4A` are
    4-Lipschitz in A, so :math:`|\Delta P| \le 4(1 + 2\kappa)\delta`; χ's ends
    move by at most :math:`2\delta + |\Delta P|/4 \le (3 + 2\kappa)\delta`, so
    :math:`|\Delta\chi| \le (1 + 2\kappa)(3 + 2\kappa)\delta`; β0's ends by at
    most that and :math:`(|\Delta\chi| + |\Delta P|/4)/2`, so
    :math:`|\Delta\beta_0| \le (1 + 2\kappa)^2(3 + 2\kappa)\delta`, below
    :math:`4(1 + 2\kappa)\delta` for κ ≤ 0.1. With :math:`\|v\|_\infty \le \|v\|_2
    \le \sqrt{4n}\,\|v\|_\infty` on the 4n outputs the ℓ2 constant is at most
    :math:`4(1 + 2\kappa)\sqrt{4n} = 8\sqrt n\,(1 + 2\kappa)`.

    Examples
    --------
    >>> round(head_lipschitz_constant(21), 4)
    38.127
    """
    return 8.0 * float(np.sqrt(n_thresholds)) * (1.0 + 2.0 * HEAD_RELATIVE_SOFTNESS)


def _masks(f: np.ndarray, b0, image_shape, pixel_size: float, rtol: float, discrete: bool) -> dict:
    """Boolean violation masks (fields, n) per condition (area_monotone: (fields, n), False at k = 0)."""
    area = f[..., 0] / pixel_size**2
    length = f[..., 1] / pixel_size
    euler = f[..., 2]
    n_pixels = float(image_shape[0] * image_shape[1])

    def le(a, b):  # a <= b up to rtol
        return a <= b + rtol * np.maximum(np.abs(a), np.abs(b))

    # The conditions on a non-empty set are checked where A > 0; an empty (or negative) area
    # is judged by area_range and the *_zero conditions alone, so no entry counts twice.
    wet = area > 0
    dry = ~wet
    one = np.minimum(area, 1.0)
    with np.errstate(invalid="ignore"):
        root = np.sqrt(np.maximum(area, 0.0))
    monotone = np.zeros(area.shape, dtype=bool)
    monotone[..., 1:] = ~le(area[..., 1:], area[..., :-1])
    bad = {
        "area_range": ~(le(0.0, area) & le(area, n_pixels)),
        "area_monotone": monotone,
        "perimeter_zero": dry & (length != 0),
        "perimeter_min": wet & ~le(4.0 * np.minimum(area, root) * (1.0 - rtol), length),
        "perimeter_max": wet & ~le(length, 4.0 * area),
        "euler_zero": dry & (euler != 0),
        "euler_upper": wet & ~le(euler, np.minimum(area, length / 4.0)),
        "euler_lower": wet & ~le(2.0 * one - length / 4.0, euler),
    }
    if b0 is not None:
        in_range = le(one, b0) & le(b0, np.minimum(area, length / 4.0))
        bad["components_range"] = np.where(wet, ~in_range, b0 != 0)
        bad["euler_components"] = wet & ~(le(2.0 * b0 - length / 4.0, euler) & le(euler, b0))
    if discrete:
        with np.errstate(invalid="ignore"):
            ceil_bound = 2.0 * np.ceil(2.0 * np.sqrt(np.maximum(area * (1.0 - rtol), 0.0)))
        bad["area_gap"] = (area > 0) & ~le(1.0, area)
        bad["perimeter_min_discrete"] = wet & ~le(ceil_bound, length)
        bad["euler_lower_discrete"] = wet & ~le(2.0 - length / 4.0, euler)
        if b0 is not None:
            bad["components_min_discrete"] = wet & ~le(1.0, b0)
    return bad


def _rates(bad: dict, select: np.ndarray) -> dict:
    """Fraction of the selected entries violating each condition, and ``any`` of the continuous ones."""
    count = int(select.sum())
    out = {name: (float(v[select].mean()) if count else 0.0) for name, v in bad.items()}
    continuous = [v for name, v in bad.items() if name not in DISCRETE_CONDITIONS]
    anything = np.logical_or.reduce(continuous)
    out["any"] = float(anything[select].mean()) if count else 0.0
    if any(name in DISCRETE_CONDITIONS for name in bad):
        out["any_discrete"] = float(np.logical_or.reduce(list(bad.values()))[select].mean()) if count else 0.0
    return out


def geometric_violations(
    functionals,
    image_shape: tuple[int, int],
    *,
    pixel_size: float = 1.0,
    perimeter: str = DEFAULT_PERIMETER,
    components=None,
    truth=None,
    discrete: bool = False,
    rtol: float = 1e-9,
) -> dict:
    r"""Fractions of predictions that break necessary conditions of the exact estimator.

    Each condition holds for the exact functionals of **every** binary image
    (8-connected χ, edge perimeter, background outside the array); in pixel
    units, with :math:`\beta_0, \beta_1` the numbers of components and holes:

    ``area_range``: :math:`0 \le A \le HW` — A counts pixels.
    ``area_monotone``: :math:`A(u_{k+1}) \le A(u_k)` — the excursion sets are nested.
    ``perimeter_zero``: :math:`A = 0 \Rightarrow P = 0` — no pixel, no edge.
    ``perimeter_min``: :math:`P \ge 4\min(A, \sqrt A)` — the minimal
    perimeter of a polyomino of A cells is :math:`2\lceil 2\sqrt A\rceil \ge 4\sqrt A`
    (Harary & Harborth 1976), and exact areas are 0 or ≥ 1. (The continuous
    bound :math:`P^2 \ge 4\pi A` is false here: one pixel has P = 4 < √(4π).)
    ``perimeter_max``: :math:`P \le 4A` — each pixel has 4 edges.
    ``euler_zero``: :math:`A = 0 \Rightarrow \chi = 0`.
    ``euler_upper``: :math:`\chi \le \min(A, P/4)` — :math:`\chi = \beta_0 - \beta_1 \le \beta_0`,
    each component holds a pixel (:math:`\beta_0 \le A`) and has at least 4
    boundary edges (:math:`\beta_0 \le P/4`).
    ``euler_lower``: :math:`\chi \ge 2\min(A, 1) - P/4` — every component
    and every hole is bounded by its own closed curve of at least 4 edges
    (a hole of the 4-connected background is enclosed by a single
    8-connected component, Rosenfeld 1970), so :math:`\beta_0 + \beta_1 \le P/4`,
    hence :math:`\chi = 2\beta_0 - (\beta_0 + \beta_1) \ge 2\beta_0 - P/4 \ge 2 - P/4`
    when A > 0 (then A ≥ 1).

    With ``components`` (β0) also:
    ``components_range``: :math:`\min(A, 1) \le \beta_0 \le \min(A, P/4)`;
    ``euler_components``: :math:`2\beta_0 - P/4 \le \chi \le \beta_0`.

    These are the *continuous* conditions, the ones a continuous emulator can
    meet everywhere and the constrained head (:func:`project_feasible`)
    guarantees. ``discrete=True`` adds the discrete forms they relax (see the
    module notes): ``area_gap`` (:math:`0 < A < 1`), ``perimeter_min_discrete``
    (:math:`A > 0 \Rightarrow P \ge 2\lceil 2\sqrt A\rceil`), ``euler_lower_discrete``
    (:math:`A > 0 \Rightarrow \chi \ge 2 - P/4`) and, with components,
    ``components_min_discrete`` (:math:`A > 0 \Rightarrow \beta_0 \ge 1`).

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
    truth : array_like, shape like ``functionals``, optional
        Exact functionals of the same fields: the rates are then split into
        entries whose true set is empty (true area 0, where an emulator's
        small non-zero outputs are violations of ``perimeter_min`` and the
        like) and entries whose true set is not.
    discrete : bool, default False
        Also check the discrete forms.
    rtol : float, default 1e-9
        Relative tolerance of each comparison, for rounding in the pixel-size
        conversion.

    Returns
    -------
    dict
        Without ``truth``: the fraction of (field, threshold) entries
        violating each condition (``area_monotone``: of entries k ≥ 1
        compared with k − 1, counted over all entries), and ``any``: the
        fraction of fields (all leading indices) with at least one
        continuous violation — the paper's "physically impossible fields"
        (``any_discrete`` the same with the discrete forms).
        With ``truth``: ``{"empty_truth": {...}, "nonempty_truth": {...},
        "fields_any": float}``, each group's rates over its entries and its
        ``any`` the fraction of its entries with a continuous violation.

    Examples
    --------
    >>> import numpy as np
    >>> from mink_toolkit import minkowski_functionals
    >>> x = np.random.default_rng(0).random((4, 16, 16))
    >>> v = geometric_violations(minkowski_functionals(x, [0.3, 0.6]), (16, 16), discrete=True)
    >>> max(v.values())
    0.0
    >>> geometric_violations(np.array([[[2.0, 4.0, 1.0]]]), (8, 8))["perimeter_min"]  # 4√2 > 4
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
    b0 = None
    if components is not None:
        if isinstance(components, torch.Tensor):
            components = components.detach().cpu().numpy()
        b0 = np.asarray(components, dtype=np.float64).reshape(f.shape[:-1])
    bad = _masks(f, b0, image_shape, pixel_size, rtol, discrete)
    continuous = np.logical_or.reduce([v for name, v in bad.items() if name not in DISCRETE_CONDITIONS])
    if truth is None:
        out = {name: float(v.mean()) for name, v in bad.items()}
        # Monotonicity is a property of adjacent pairs: its rate is over the n - 1 pairs.
        out["area_monotone"] = float(bad["area_monotone"][..., 1:].mean()) if f.shape[-2] > 1 else 0.0
        out["any"] = float(continuous.any(axis=-1).mean())
        if discrete:
            out["any_discrete"] = float(np.logical_or.reduce(list(bad.values())).any(axis=-1).mean())
        return out
    if isinstance(truth, torch.Tensor):
        truth = truth.detach().cpu().numpy()
    t = np.asarray(truth, dtype=np.float64).reshape(-1, *np.shape(truth)[-2:])
    if t.shape != f.shape:
        raise ValueError(f"truth must be shaped like functionals {f.shape}; got {t.shape}")
    empty = t[..., 0] <= 0
    return {
        "empty_truth": _rates(bad, empty),
        "nonempty_truth": _rates(bad, ~empty),
        "fields_any": float(continuous.any(axis=-1).mean()),
    }
