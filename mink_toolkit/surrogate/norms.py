"""Operator norms and norm caps of the surrogates' affine maps.

:func:`conv_operator_norm` is the exact ℓ2 operator norm of a convolution
(Sedghi, Gupta & Long 2019); the reshaped-kernel power iteration of
``torch.nn.utils.parametrizations.spectral_norm`` is *not* an upper bound for
a convolution. These are the building blocks of the certificates
(:mod:`~mink_toolkit.surrogate.certify`) and of the caps the Lipschitz
models apply in their forward pass. :func:`conv_norm_power_iteration`
estimates the same norm from below, cheaply enough for every training step
of a large model; certificates always use the exact norm.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["conv_symbol", "conv_operator_norm", "conv_norm_power_iteration", "matrix_norm", "cap_norm", "MaxMin"]


def conv_symbol(weight: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    r"""The symbol :math:`\hat K(\omega)` of a circular 2-D convolution, at half of the grid's frequencies.

    The 2-D DFT of the kernel zero-padded to the grid, at the frequencies
    :math:`(\omega_1, \omega_2)` with :math:`0 \le \omega_2 \le N_2 / 2`
    (the layout of ``torch.fft.rfft2``): a real kernel's symbol is Hermitian
    symmetric, :math:`\hat K(-\omega) = \overline{\hat K(\omega)}`, so these
    carry every singular value. Computed as a sum over the kernel's taps
    (one product of the taps' DFT factors with the weights) rather than an
    FFT of the padded kernel: for the 2×2 and 3×3 kernels of the surrogates
    that is several times faster, forward and backward, and the result is
    contiguous in (frequency, c_out, c_in).

    Parameters
    ----------
    weight : torch.Tensor, shape (c_out, c_in, k1, k2), real
    grid : (int, int)
        :math:`(N_1, N_2)`, each >= the kernel size.

    Returns
    -------
    torch.Tensor, complex, shape (N1, N2 // 2 + 1, c_out, c_in)
    """
    if weight.ndim != 4:
        raise ValueError(f"weight must be shaped (c_out, c_in, k1, k2); got {tuple(weight.shape)}")
    n1, n2 = int(grid[0]), int(grid[1])
    k1, k2 = weight.shape[-2:]
    if n1 < k1 or n2 < k2:
        raise ValueError(f"grid {grid} is smaller than the kernel {tuple(weight.shape[-2:])}")
    real = weight.dtype if weight.dtype in (torch.float32, torch.float64) else torch.float32
    on = {"dtype": real, "device": weight.device}  # the DFT factors live where the weights do
    phase1 = torch.outer(torch.arange(n1, **on), torch.arange(k1, **on)) * (-2.0 * math.pi / n1)
    phase2 = torch.outer(torch.arange(n2 // 2 + 1, **on), torch.arange(k2, **on)) * (-2.0 * math.pi / n2)
    dft1 = torch.polar(torch.ones_like(phase1), phase1)  # (N1, k1)
    dft2 = torch.polar(torch.ones_like(phase2), phase2)  # (N2 // 2 + 1, k2)
    # One matrix product (frequencies x taps) @ (taps x channel pairs): the result is contiguous in
    # (frequency, c_out, c_in), the layout the batched products of conv_norm_power_iteration read
    # without copies (an einsum over the taps returned a strided view that every use had to copy).
    taps = (dft1[:, None, :, None] * dft2[None, :, None, :]).reshape(n1 * (n2 // 2 + 1), k1 * k2)
    c_out, c_in = weight.shape[:2]
    symbol = taps @ weight.to(dft1.dtype).reshape(c_out * c_in, k1 * k2).T
    return symbol.reshape(n1, n2 // 2 + 1, c_out, c_in)


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
    # values: half the frequencies (rfft2; conv_symbol computes the same) suffice. The largest
    # singular value is the square root of the largest eigenvalue of the smaller Gram matrix, which
    # is much cheaper than batched SVDs.
    symbol = torch.fft.rfft2(weight, s=(n1, n2)).permute(2, 3, 0, 1)  # (N1, N2 // 2 + 1, c_out, c_in)
    gram = symbol.mH @ symbol if weight.shape[1] <= weight.shape[0] else symbol @ symbol.mH
    return torch.linalg.eigvalsh(gram)[..., -1].max().clamp_min(0.0).sqrt()


def conv_norm_power_iteration(
    weight: torch.Tensor, grid: tuple[int, int], vectors: torch.Tensor, n_iter: int = 1
) -> torch.Tensor:
    r"""Warm-started power iteration for :func:`conv_operator_norm`: a cheap estimate from below.

    The convolution's counterpart of what
    ``torch.nn.utils.parametrizations.spectral_norm`` does for a matrix
    (Miyato et al. 2018): at every frequency of :func:`conv_symbol`, ``n_iter``
    steps :math:`v \leftarrow \hat K^H \hat K v / \lVert\cdot\rVert` on the
    persistent right singular vector estimates ``vectors`` (updated in place,
    no gradient), then :math:`\max_\omega \lVert \hat K(\omega) v(\omega) \rVert`,
    differentiable in the weights through the maximising frequency (which is
    where the gradient of a maximum goes). Each term is at most that
    frequency's largest singular value, so the result never exceeds the exact
    norm; when the weights change slowly (training steps) and the vectors are
    carried from step to step it tracks the exact norm closely, at the cost of
    a few elementwise products instead of one eigendecomposition per
    frequency.

    It is **not** a bound: use it for the caps of a training forward pass
    only; certificates (:func:`~mink_toolkit.surrogate.lipschitz_upper_bound`)
    and evaluation use :func:`conv_operator_norm`.

    Parameters
    ----------
    weight : torch.Tensor, shape (c_out, c_in, k1, k2)
    grid : (int, int)
    vectors : torch.Tensor, complex, shape (N1, N2 // 2 + 1, c_in)
        The estimates of the right singular vectors; overwritten.
    n_iter : int, default 1

    Returns
    -------
    torch.Tensor, scalar (differentiable in ``weight``)
    """
    with torch.no_grad():
        symbol = conv_symbol(weight.detach(), grid)  # (N1, N2 // 2 + 1, c_out, c_in)
        if vectors.shape != (*symbol.shape[:2], symbol.shape[-1]):
            raise ValueError(f"vectors must be shaped {(*symbol.shape[:2], symbol.shape[-1])}; "
                             f"got {tuple(vectors.shape)}")
        n_freq = symbol.shape[0] * symbol.shape[1]
        matrices = symbol.reshape(n_freq, *symbol.shape[-2:])  # (F, c_out, c_in), no copy
        v = vectors.to(symbol.dtype).reshape(n_freq, 1, -1)  # row vectors (F, 1, c_in)
        for _ in range(int(n_iter)):
            # Batched products on the contiguous symbol: K v as a column, then K^H u as the
            # conjugate of the row u^H K, so that neither the symbol nor its conjugate is copied
            # (about 3x faster on CPU than elementwise products and sums).
            u = matrices @ v.mT  # (F, c_out, 1)
            v = (u.mH @ matrices).conj()  # (F, 1, c_in)
            v = v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(v.real.dtype).tiny)
        v = v.reshape(vectors.shape)
        vectors.copy_(v.to(vectors.dtype))
        values = (matrices @ v.reshape(n_freq, -1, 1)).norm(dim=(-2, -1)).reshape(symbol.shape[:2])
        # The maximising frequency as tensors, not Python ints: a compiled training step
        # (torch.compile(fullgraph=True)) cannot turn a tensor's value into a Python number.
        top = values.argmax()
        row = torch.div(top, values.shape[1], rounding_mode="floor")
        column = top - row * values.shape[1]
    # The maximum's value and gradient are those of its frequency alone: build that one symbol with
    # gradient (a k1 x k2 sum) instead of all of them.
    n1, n2 = int(grid[0]), int(grid[1])
    k1, k2 = weight.shape[-2:]
    real = symbol.real.dtype
    on = {"dtype": real, "device": weight.device}
    phase = (-2.0 * math.pi) * (row.to(real) * torch.arange(k1, **on)[:, None] / n1
                                + column.to(real) * torch.arange(k2, **on)[None, :] / n2)
    at_top = (weight.to(real) * torch.polar(torch.ones_like(phase), phase)).sum(dim=(-2, -1))  # (c_out, c_in)
    v_top = v.reshape(-1, v.shape[-1]).index_select(0, top.reshape(1))[0]  # v[row, column], by a tensor index
    return (at_top @ v_top).norm()


def matrix_norm(weight: torch.Tensor) -> torch.Tensor:
    return torch.linalg.matrix_norm(weight, ord=2)


def cap_norm(weight: torch.Tensor, norm: torch.Tensor, cap: float) -> torch.Tensor:
    """``weight`` scaled down so that its norm is at most ``cap`` (never scaled up)."""
    return weight / torch.clamp(norm / cap, min=1.0)


class MaxMin(nn.Module):
    """GroupSort with groups of 2 over the last axis: (max, min) of channel pairs.

    1-Lipschitz and gradient-norm preserving (Anil, Lucas & Grosse 2019).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=-1)
        return torch.cat([torch.maximum(a, b), torch.minimum(a, b)], dim=-1)

