r"""Memberships, temperatures and the relaxed Minkowski functionals (see :mod:`mink_toolkit.relax`).

:func:`soft_threshold` turns a field into memberships
:math:`\sigma((x - u)/T)`; :func:`membership_functionals` evaluates the
configuration counts of :mod:`mink_toolkit.functionals` on memberships with
a t-norm (:mod:`~mink_toolkit.relax.tnorms`) and combines them with
:func:`~mink_toolkit.functionals.combine_terms`;
:func:`soft_minkowski_functionals` does both.

Sums over the image are taken in two stages (row sums in the working
precision, then float64 over rows) and the terms are combined in float64,
so V − E + F does not cancel catastrophically in float32 on full
2200 × 1900 composites (see tests).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .._runtime import check_compile, compiled
from .._validation import check_choice, check_positive, check_temperature, check_tensor
from ..functionals import CONNECTIVITIES, DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER, PERIMETERS, combine_terms, required_terms
from ..thresholds import check_thresholds
from .tnorms import TNORMS, t_and, t_or

__all__ = [
    "resolve_temperature",
    "soft_threshold",
    "membership_functionals",
    "soft_minkowski_functionals",
]


# --------------------------------------------------------------------------
# Validation and temperatures
# --------------------------------------------------------------------------


def _check_field(field, name: str = "field") -> torch.Tensor:
    """A finite floating tensor with at least 2 dims (..., H, W)."""
    if not isinstance(field, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (..., H, W); got {type(field).__name__}")
    if not torch.is_floating_point(field):
        raise TypeError(
            f"{name} must be a floating-point tensor (float32 or float64) to be differentiable; "
            f"got dtype {field.dtype} (convert with .float())"
        )
    check_tensor(field, name, dtypes=(torch.float32, torch.float64))  # float16 cannot resolve a threshold
    if field.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dims (..., H, W); got shape {tuple(field.shape)}")
    if field.shape[-1] == 0 or field.shape[-2] == 0:
        raise ValueError(f"{name} is empty: its last two dims (H, W) are {tuple(field.shape[-2:])}")
    if field.numel() == 0:
        raise ValueError(f"{name} is empty: shape {tuple(field.shape)}")
    finite = torch.isfinite(field.detach())
    if not bool(finite.all()):
        what = "NaN (outside radar coverage?)" if bool(torch.isnan(field.detach()).any()) else "inf"
        raise ValueError(
            f"{name} contains {what}; the relaxed functionals need a finite field "
            "(cut NaN-free patches, e.g. extract_patches(..., min_coverage=1.0))"
        )
    return field


def _checked_thresholds(thresholds, like: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
    """The one check of a public call: float64 values and a tensor like ``like``."""
    values = check_thresholds(thresholds)
    return values, torch.as_tensor(values, dtype=like.dtype, device=like.device)


def resolve_temperature(
    thresholds,
    temperature,
    *,
    relative: bool = False,
    min_temperature: float | None = None,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> torch.Tensor:
    r"""One temperature per threshold, checked.

    Parameters
    ----------
    thresholds : 1-D array_like or tensor, strictly increasing, length n
        Thresholds (mm/h).
    temperature : float or tensor of shape () or (n,)
        Absolute temperature in the units of the thresholds, or, with
        ``relative=True``, the coefficient c of :math:`T = c\,u`. A tensor
        that requires grad keeps its graph (the temperature can be learned).
    relative : bool
        ``T = temperature * u``. The paper used :math:`T = \max(0.1\,u, 10^{-3})`,
        i.e. ``temperature=0.1, relative=True, min_temperature=1e-3``.
    min_temperature : float, optional
        Lower bound on T (applied after the relative scaling).

    Returns
    -------
    torch.Tensor, shape (n,)

    Raises
    ------
    ValueError
        If a temperature is <= 0, NaN or infinite (naming ``temperature``).

    Examples
    --------
    >>> resolve_temperature([0.5, 2.0], 0.1, relative=True)
    tensor([0.0500, 0.2000], dtype=torch.float64)
    """
    return _resolve_temperature(check_thresholds(thresholds), temperature, relative=relative,
                                min_temperature=min_temperature, dtype=dtype, device=device)


def _resolve_temperature(u_np: np.ndarray, temperature, *, relative: bool, min_temperature, dtype, device=None):
    """:func:`resolve_temperature` of thresholds already checked (float64 ndarray)."""
    check_temperature(temperature)  # every public path comes through here: "0.1" is refused, not parsed
    u = torch.as_tensor(u_np, dtype=dtype, device=device)
    if isinstance(temperature, torch.Tensor):
        if not torch.is_floating_point(temperature):
            raise TypeError(f"temperature must be a floating-point tensor; got dtype {temperature.dtype}")
        t = temperature.to(dtype=dtype, device=device)
    elif isinstance(temperature, bool):
        raise TypeError("temperature must be a number or a tensor; got bool")
    else:
        try:
            t = torch.as_tensor(np.asarray(temperature, dtype=np.float64), dtype=dtype, device=device)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"temperature must be a number or a tensor; got {temperature!r}") from exc
    if t.ndim > 1 or (t.ndim == 1 and t.numel() not in (1, u.numel())):
        raise ValueError(
            f"temperature must be a scalar or have one entry per threshold ({u.numel()}); "
            f"got shape {tuple(t.shape)}"
        )
    values = t.detach()
    if not bool(torch.isfinite(values).all()) or bool((values <= 0).any()):
        raise ValueError(f"temperature must be finite and > 0; got {values.cpu().numpy().tolist()}")
    t = t.reshape(-1).expand(u.numel()) if t.numel() == 1 else t.reshape(-1)
    if relative:
        t = t * u
    if min_temperature is not None:
        t = t.clamp_min(check_positive(min_temperature, "min_temperature"))
    if bool((t.detach() <= 0).any()):
        raise ValueError(
            "temperature: the relative temperature c*u is not > 0 at thresholds "
            f"{u_np[(t.detach() <= 0).cpu().numpy()].tolist()}; pass min_temperature"
        )
    return t


# --------------------------------------------------------------------------
# Soft threshold
# --------------------------------------------------------------------------


def soft_threshold(
    field: torch.Tensor,
    thresholds,
    temperature,
    *,
    relative: bool = False,
    min_temperature: float | None = None,
) -> torch.Tensor:
    r"""Membership :math:`\sigma((x - u)/T)` of each pixel in the excursion sets.

    Parameters
    ----------
    field : torch.Tensor, shape (..., H, W), floating, finite
        Rain rate (mm/h).
    thresholds : float or 1-D array_like/tensor (n,), strictly increasing
        Thresholds u in the units of ``field``.
    temperature : float or tensor () or (n,)
        T (see :func:`resolve_temperature`); differentiable if it is a tensor.
    relative, min_temperature
        See :func:`resolve_temperature`.

    Returns
    -------
    torch.Tensor
        Shape (..., H, W) for a scalar threshold, (..., n, H, W) for a 1-D
        sequence; values in [0, 1]; exactly 0.5 where ``field == u``.

    Examples
    --------
    >>> import torch
    >>> soft_threshold(torch.tensor([[0.0, 1.0, 2.0]]), 1.0, 0.5)
    tensor([[0.1192, 0.5000, 0.8808]])
    """
    field = _check_field(field)
    scalar = np.ndim(thresholds) == 0 if not isinstance(thresholds, torch.Tensor) else thresholds.ndim == 0
    p = _field_membership(field, thresholds, temperature, relative, min_temperature)
    return p[..., 0, :, :] if scalar else p


def _field_membership(field: torch.Tensor, thresholds, temperature, relative: bool, min_temperature) -> torch.Tensor:
    """Memberships (..., n, H, W) of a checked ``field``: thresholds and temperature checked here."""
    u_np, u = _checked_thresholds(thresholds, field)
    t = _resolve_temperature(
        u_np, temperature, relative=relative, min_temperature=min_temperature,
        dtype=field.dtype, device=field.device,
    )
    return _membership(field, u, t)


def _membership(field: torch.Tensor, u: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(..., H, W) -> (..., n, H, W) sigmoid memberships (no checks)."""
    z = (field.unsqueeze(-3) - u[:, None, None]) / t[:, None, None]
    return torch.sigmoid(z)


# --------------------------------------------------------------------------
# Relaxed configuration counts
# --------------------------------------------------------------------------


def _sum_hw(x: torch.Tensor) -> torch.Tensor:
    """Sum over the last two dims into float64.

    Rows are summed in the working precision (short sums, small error), the
    row sums in float64, so the terms of V − E + F (each of order H·W) keep
    their low-order digits for the float64 combination. Casting the whole
    tensor to float64 first is about 10× slower on CPU.
    """
    return x.sum(-1, dtype=None).to(torch.float64).sum(-1)


def _product_base_sums(p: torch.Tensor, names: frozenset) -> torch.Tensor:
    """Forward of the fused product-t-norm counts.

    Returns (..., 5) float64: F = Σp, PA = Σ axial pair products, DA = Σ
    diagonal pair products, BO = blocks_or, BA = Σ block products (the
    entries ``names`` does not need are zero). Everything is a sum of
    products of memberships (never of 1 − p, which rounds small p away in
    float32); blocks_or comes by inclusion–exclusion: with background
    padding every pixel lies in 4 blocks, every axial pair in 2 and every
    diagonal pair in 1, so Σ(1 − Π(1 − p)) = Σ(e1 − e2 + e3 − e4) =
    4F − 2PA − DA + T3 − BA, with T3 = Σ e3 over the blocks.
    """
    zeros = torch.zeros(p.shape[:-2], dtype=torch.float64, device=p.device)
    f = _sum_hw(p)
    ph = p[..., :, :-1] * p[..., :, 1:]  # horizontal pair products (H, W-1)
    pa = _sum_hw(ph) + _sum_hw(p[..., :-1, :] * p[..., 1:, :])
    need_bo = "blocks_or" in names
    da = ba = bo = zeros
    if need_bo or "blocks_and" in names:
        ba = _sum_hw(ph[..., :-1, :] * ph[..., 1:, :])
    if need_bo or "diagonals_and" in names or "diagonals_or" in names:
        da = _sum_hw(p[..., :-1, :-1] * p[..., 1:, 1:]) + _sum_hw(p[..., :-1, 1:] * p[..., 1:, :-1])
    if need_bo:
        hs = p[..., :, :-1] + p[..., :, 1:]
        # e3 of a block (a b / c d) = ab(c + d) + cd(a + b): share the pair
        # products and sums of the two rows.
        t3 = _sum_hw(ph[..., :-1, :] * hs[..., 1:, :]) + _sum_hw(hs[..., :-1, :] * ph[..., 1:, :])
        bo = 4.0 * f - 2.0 * pa - da + t3 - ba
    # Report only what was asked for, so that the outputs match the backward.
    if "diagonals_and" not in names and "diagonals_or" not in names:
        da = zeros
    if "blocks_and" not in names:
        ba = zeros
    return torch.stack([f, pa, da, bo, ba], dim=-1)


def _blocks_others(x: torch.Tensor, outside: float) -> torch.Tensor:
    """Σ over the four 2×2 blocks holding each pixel of the product of the other three.

    ``x`` (..., H, W) is padded with ``outside``; with x = p (outside 0)
    this is ∂/∂p of Σ Π p over blocks, with x = 1 − p (outside 1) it is
    ∂/∂p of Σ (1 − Π(1 − p)). For the pixel a with row neighbours l, r:
    blocks above contribute l·(pair above-left) + r·(pair above-right), and
    likewise below, so one horizontal pair product map serves all four.
    Temporaries are dropped as soon as possible (peak memory).
    """
    pad = F.pad(x, (1, 1, 1, 1), value=outside)
    del x
    pairs = pad[..., :, :-1] * pad[..., :, 1:]  # (H+2, W+1)
    s = pairs[..., :-2, :] + pairs[..., 2:, :]  # above + below (H, W+1)
    del pairs
    rows = pad[..., 1:-1, :]
    out = rows[..., :, :-2] * s[..., :, :-1]
    out.addcmul_(rows[..., :, 2:], s[..., :, 1:])
    return out


class _ProductCounts(torch.autograd.Function):
    """Sums of the product-t-norm counts with a hand-written backward.

    Saves only the memberships ``p``; the backward rebuilds the few local
    products it needs, so no per-shift temporaries are kept for autograd.
    """

    @staticmethod
    def forward(ctx, p: torch.Tensor, names: frozenset):  # noqa: D102
        ctx.save_for_backward(p)
        ctx.names = names
        return _product_base_sums(p, names)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        (p,) = ctx.saved_tensors
        names = ctx.names
        g = grad_out.to(p.dtype)[..., None, None, :]  # (..., 1, 1, 5)
        g_f, g_pa, g_da, g_bo, g_ba = (g[..., k] for k in range(5))
        pad = F.pad(p, (1, 1, 1, 1))  # background outside the array
        vert = pad[..., :-2, :] + pad[..., 2:, :]  # up + down neighbours (H, W+2)
        # ∂PA/∂p = sum of the four axial neighbours; grad built in place.
        grad = vert[..., :, 1:-1] + pad[..., 1:-1, :-2]
        grad += pad[..., 1:-1, 2:]
        del pad
        grad.mul_(g_pa).add_(g_f)
        if "diagonals_and" in names or "diagonals_or" in names:
            grad.addcmul_(g_da, vert[..., :, :-2] + vert[..., :, 2:])
        del vert
        if "blocks_and" in names:
            grad.addcmul_(g_ba, _blocks_others(p, 0.0))
        if "blocks_or" in names:
            grad.addcmul_(g_bo, _blocks_others(1.0 - p, 1.0))
        return grad, None


def _product_terms(p: torch.Tensor, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Product-t-norm configuration counts, float64 image sums (see :func:`_product_base_sums`).

    pairs_or = 4F − PA and diagonals_or = 4F − DA (inclusion–exclusion with
    every pixel in 4 axial and 4 diagonal pairs of the padded grid).
    """
    f, pa, da, bo, ba = _ProductCounts.apply(p, frozenset(names)).unbind(-1)
    terms = {
        "pixels": f,
        "pairs_or": 4.0 * f - pa,
        "pairs_and": pa,
        "blocks_or": bo,
        "blocks_and": ba,
        "diagonals_or": 4.0 * f - da,
        "diagonals_and": da,
    }
    return {k: terms[k] for k in names}


def _generic_terms(p: torch.Tensor, names: tuple[str, ...], tnorm: str) -> dict[str, torch.Tensor]:
    """Straightforward relaxed counts: every shifted AND/OR a new tensor (autograd).

    Used for the Gödel and Łukasiewicz t-norms, and with ``tnorm="product"``
    as the reference implementation the fused path is tested and benchmarked
    against.
    """
    pad = F.pad(p, (1, 1, 1, 1))  # p = 0 outside the array
    out: dict[str, torch.Tensor] = {}
    if "pixels" in names:
        out["pixels"] = _sum_hw(p)
    left, right = pad[..., 1:-1, :-1], pad[..., 1:-1, 1:]
    up, down = pad[..., :-1, 1:-1], pad[..., 1:, 1:-1]
    if "pairs_or" in names:
        out["pairs_or"] = _sum_hw(t_or(left, right, tnorm=tnorm)) + _sum_hw(t_or(up, down, tnorm=tnorm))
    if "pairs_and" in names:
        out["pairs_and"] = _sum_hw(t_and(left, right, tnorm=tnorm)) + _sum_hw(t_and(up, down, tnorm=tnorm))
    tl, tr, bl, br = pad[..., :-1, :-1], pad[..., :-1, 1:], pad[..., 1:, :-1], pad[..., 1:, 1:]
    if "blocks_or" in names:
        out["blocks_or"] = _sum_hw(t_or(tl, tr, bl, br, tnorm=tnorm))
    if "blocks_and" in names:
        out["blocks_and"] = _sum_hw(t_and(tl, tr, bl, br, tnorm=tnorm))
    if "diagonals_or" in names:
        out["diagonals_or"] = _sum_hw(t_or(tl, br, tnorm=tnorm)) + _sum_hw(t_or(tr, bl, tnorm=tnorm))
    if "diagonals_and" in names:
        out["diagonals_and"] = _sum_hw(t_and(tl, br, tnorm=tnorm)) + _sum_hw(t_and(tr, bl, tnorm=tnorm))
    return out


def _check_membership(membership) -> torch.Tensor:
    if not isinstance(membership, torch.Tensor):
        raise TypeError(f"membership must be a torch.Tensor (..., H, W); got {type(membership).__name__}")
    if not torch.is_floating_point(membership):
        raise TypeError(f"membership must be a floating-point tensor; got dtype {membership.dtype}")
    if membership.ndim < 2 or membership.shape[-1] == 0 or membership.shape[-2] == 0:
        raise ValueError(f"membership must be shaped (..., H, W) with H, W > 0; got {tuple(membership.shape)}")
    values = membership.detach()
    if not bool(((values >= 0) & (values <= 1)).all()):
        raise ValueError("membership must lie in [0, 1] (NaN not allowed)")
    return membership


def _check_options(connectivity, perimeter, pixel_size, tnorm: str, implementation: str) -> float:
    """The option checks of the relaxed functionals; returns the checked ``pixel_size``."""
    check_choice(tnorm, TNORMS, "tnorm")
    check_choice(implementation, ("fused", "autograd"), "implementation")
    check_choice(connectivity, CONNECTIVITIES, "connectivity")
    check_choice(perimeter, PERIMETERS, "perimeter")
    return check_positive(pixel_size, "pixel_size")


def membership_functionals(
    membership: torch.Tensor,
    *,
    connectivity: int = DEFAULT_CONNECTIVITY,
    perimeter: str = DEFAULT_PERIMETER,
    pixel_size: float = 1.0,
    tnorm: str = "product",
    implementation: str = "fused",
) -> torch.Tensor:
    r"""Minkowski functionals of fuzzy sets given pixel memberships.

    Parameters
    ----------
    membership : torch.Tensor, shape (..., H, W), values in [0, 1]
        Membership of each pixel (the probability that it is in the set).
    connectivity, perimeter, pixel_size
        As in :func:`~mink_toolkit.minkowski_functionals`.
    tnorm : {"product", "godel", "lukasiewicz"}
        Continuous logic for the configuration counts.
    implementation : {"fused", "autograd"}
        ``"fused"`` (product t-norm only, the default for it): shared
        products, inclusion–exclusion and a hand-written backward.
        ``"autograd"``: the straightforward version, every shifted AND/OR a
        new tensor (the only one for Gödel/Łukasiewicz).

    Returns
    -------
    torch.Tensor, shape (..., 3), dtype of ``membership``
        (area, perimeter, euler_characteristic).

    Notes
    -----
    With the product t-norm the result is the expected value of the exact
    functional of a random binary image whose pixels are independently in
    the set with probability ``membership`` (multilinear extension).

    Examples
    --------
    >>> import torch
    >>> membership_functionals(torch.full((1, 1), 0.5))
    tensor([0.5000, 2.0000, 0.5000])
    """
    pixel_size = _check_options(connectivity, perimeter, pixel_size, tnorm, implementation)
    membership = _check_membership(membership)
    return _functionals_from_membership(membership, connectivity, perimeter, pixel_size, tnorm, implementation)


def _soft_functionals_core(field, u, t, connectivity, perimeter, pixel_size, tnorm, implementation):
    """Memberships and functionals of checked tensors: the pure-tensor core that ``compile=True`` compiles.

    No checks and no Python branch on tensor values (those ran at the
    public boundary), so ``torch.compile(fullgraph=True)`` traces it whole.
    """
    return _functionals_from_membership(_membership(field, u, t), connectivity, perimeter, pixel_size, tnorm,
                                        implementation)


def _functionals_from_membership(p, connectivity, perimeter, pixel_size, tnorm, implementation):
    names = required_terms(connectivity, perimeter)
    if tnorm == "product" and implementation == "fused":
        terms = _product_terms(p, names)
    else:
        terms = _generic_terms(p, names, tnorm)
    # The single definition of the functionals, evaluated in float64 on the
    # image sums (it is linear), then back to the working precision.
    area, length, euler = combine_terms(
        terms, connectivity=connectivity, perimeter=perimeter, pixel_size=pixel_size
    )
    return torch.stack([area, length, euler], dim=-1).to(p.dtype)


def soft_minkowski_functionals(
    field: torch.Tensor,
    thresholds,
    temperature,
    *,
    connectivity: int = DEFAULT_CONNECTIVITY,
    perimeter: str = DEFAULT_PERIMETER,
    pixel_size: float = 1.0,
    tnorm: str = "product",
    relative: bool = False,
    min_temperature: float | None = None,
    implementation: str = "fused",
    compile: bool = False,
) -> torch.Tensor:
    r"""Relaxed area, perimeter and Euler characteristic, differentiable in the field.

    Each pixel belongs to the excursion set :math:`\{x \ge u\}` with
    membership :math:`p = \sigma((x - u)/T)`; the configuration counts of
    :mod:`mink_toolkit.functionals` are evaluated with the chosen t-norm and
    combined by :func:`~mink_toolkit.functionals.combine_terms`, the same
    definition :func:`~mink_toolkit.minkowski_functionals` uses.

    With ``tnorm="product"`` each functional is the multilinear extension of
    its exact estimator: **the expected value of the exact functional when
    each pixel is independently in the excursion set with probability**
    :math:`\sigma((x - u)/T)`. On binary input it equals the exact value;
    as :math:`T \to 0` it converges to the exact functionals of
    :math:`\{x > u\}` plus half of the pixels exactly at u (a tie gets
    p = 0.5 at every temperature; see :func:`~mink_toolkit.thresholds.offset_from_grid`).

    Parameters
    ----------
    field : torch.Tensor, shape (..., H, W), float32 or float64
        Rain rate (mm/h). Must be finite (NaN or inf raises ``ValueError``).
    thresholds : float or 1-D array_like/tensor (n,), strictly increasing
        Physical thresholds u (mm/h), not quantile levels.
    temperature : float or tensor, shape () or (n,), > 0
        Absolute T in mm/h, or with ``relative=True`` the coefficient c of
        T = c·u. Gradients flow into a tensor temperature.
    connectivity : {8, 4}
        Foreground connectivity of χ (8: V − E + F of the closed pixels).
    perimeter : {"edges", "crofton"}
        Boundary-length estimator (see :func:`~mink_toolkit.minkowski_functionals`).
    pixel_size : float, > 0
        Side of a pixel; area scales with its square, perimeter linearly.
    tnorm : {"product", "godel", "lukasiewicz"}
        Continuous logic. Gödel is also exact in the hard limit but its
        gradient reaches only the arg-max/arg-min pixel of each pair or
        block; Łukasiewicz clips (zero gradient where saturated).
    relative, min_temperature
        See :func:`resolve_temperature`.
    implementation : {"fused", "autograd"}
        See :func:`membership_functionals`.
    compile : bool
        Run the computation compiled (``torch.compile`` with
        ``fullgraph=True, dynamic=False``; inductor on CPU needs a C
        compiler). The inputs are checked first, as always; the compiled
        core is made once per configuration and shape and reused, its
        generated code kept in the toolkit's cache folder
        (:func:`mink_toolkit._runtime.compile_cache_dir`). The first call
        pays the compilation (tens of seconds on a CPU), later ones run
        several times faster for training-sized batches; the result agrees
        with the eager one to float32 rounding, not bit for bit. Default
        ``False``: eager, for notebooks and one-off calls.

    Returns
    -------
    torch.Tensor, shape (..., n, 3), dtype of ``field``
        Last axis (area, perimeter, euler_characteristic), in the layout
        and units of :func:`~mink_toolkit.minkowski_functionals`.

    Notes
    -----
    Image sums are accumulated and combined in float64 (see module notes).
    References: Gray (1971) and Ohser & Mücklich (2000) for the
    configuration counts; the multilinear extension is standard in
    pseudo-Boolean optimisation (Boros & Hammer 2002).

    Examples
    --------
    >>> import torch
    >>> square = torch.zeros(5, 5); square[1:4, 1:4] = 1.0
    >>> soft_minkowski_functionals(square, [0.5], 1e-3)
    tensor([[ 9., 12.,  1.]])
    """
    pixel_size = _check_options(connectivity, perimeter, pixel_size, tnorm, implementation)
    check_compile(compile)
    field = _check_field(field)
    u_np, u = _checked_thresholds(thresholds, field)
    t = _resolve_temperature(u_np, temperature, relative=relative, min_temperature=min_temperature,
                             dtype=field.dtype, device=field.device)
    options = (connectivity, perimeter, pixel_size, tnorm, implementation)
    core = compiled(_soft_functionals_core, *options) if compile else _soft_functionals_core
    return core(field, u, t) if compile else core(field, u, t, *options)
