"""Operator norms and norm caps of the surrogates' affine maps.

:func:`conv_operator_norm` is the exact ℓ2 operator norm of a convolution
(Sedghi, Gupta & Long 2019); the reshaped-kernel power iteration of
``torch.nn.utils.parametrizations.spectral_norm`` is *not* an upper bound for
a convolution. These are the building blocks of the certificates
(:mod:`~mink_toolkit.surrogate.certify`) and of the caps the Lipschitz
models apply in their forward pass.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["conv_operator_norm", "matrix_norm", "cap_norm", "MaxMin"]


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

