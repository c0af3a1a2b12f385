"""Tests of mink_toolkit.surrogate.norms: exact operator norms of convolutions and their power iteration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mink_toolkit.surrogate import conv_operator_norm
from mink_toolkit.surrogate.norms import conv_norm_power_iteration, conv_symbol


@pytest.mark.parametrize("c_out,c_in,k", [(3, 1, 2), (2, 2, 3)])
def test_conv_operator_norm_equals_dense_circular_norm(c_out, c_in, k):
    gen = torch.Generator().manual_seed(c_out + k)
    w = torch.randn(c_out, c_in, k, k, generator=gen, dtype=torch.float64)
    grid = (5, 6)

    def circular(x):  # x: (c_in * 5, 6) stacked channels
        x = x.reshape(1, c_in, *grid)
        x = F.pad(x, (0, k - 1, 0, k - 1), mode="circular")
        return F.conv2d(x, w.flip(-1, -2))  # true convolution on the torus

    n = c_in * grid[0] * grid[1]
    cols = [circular(torch.eye(n, dtype=torch.float64)[i]).reshape(-1) for i in range(n)]
    dense = torch.stack(cols, dim=1)
    assert float(conv_operator_norm(w, grid)) == pytest.approx(float(torch.linalg.matrix_norm(dense, 2)), rel=1e-10)


@pytest.mark.parametrize("k1,k2,grid", [(3, 3, (7, 8)), (2, 3, (5, 5))])
def test_conv_symbol_is_the_rfft2_of_the_padded_kernel(k1, k2, grid):
    w = torch.randn(4, 3, k1, k2, generator=torch.Generator().manual_seed(k1), dtype=torch.float64)
    reference = torch.fft.rfft2(w, s=grid).permute(2, 3, 0, 1)
    torch.testing.assert_close(conv_symbol(w, grid), reference, rtol=1e-12, atol=1e-12)


def test_conv_norm_power_iteration_estimates_from_below_and_converges():
    gen = torch.Generator().manual_seed(3)
    w = torch.randn(6, 5, 3, 3, generator=gen, dtype=torch.float64)
    grid = (9, 10)
    exact = float(conv_operator_norm(w, grid))
    vectors = torch.randn(9, 6, 5, generator=gen, dtype=torch.complex128)
    start = vectors.clone()
    first = float(conv_norm_power_iteration(w, grid, vectors))
    assert first <= exact * (1 + 1e-12)
    assert not torch.equal(vectors, start)  # the estimates are carried
    estimates = [float(conv_norm_power_iteration(w, grid, vectors)) for _ in range(200)]
    assert all(e <= exact * (1 + 1e-12) for e in estimates)
    assert estimates[-1] == pytest.approx(exact, rel=1e-8)
    # Differentiable in the weights, like the exact norm at convergence.
    w.requires_grad_(True)
    grad_estimate = torch.autograd.grad(conv_norm_power_iteration(w, grid, vectors), w)[0]
    grad_exact = torch.autograd.grad(conv_operator_norm(w, grid), w)[0]
    torch.testing.assert_close(grad_estimate, grad_exact, rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="vectors"):
        conv_norm_power_iteration(w, grid, vectors[:, :3])


def test_norms_make_their_tensors_on_the_weights_device():
    """A CPU proxy of a GPU run: with ``meta`` as torch's default device, a tensor made without a device
    lands there and meets the CPU weights, which raises; made on the weights' device, nothing does."""
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(4, 3, 3, 3, generator=gen, dtype=torch.float64)
    vectors = torch.randn(7, 4, 3, generator=gen, dtype=torch.complex128)
    reference_symbol = conv_symbol(w, (7, 6))
    reference_norm = conv_norm_power_iteration(w, (7, 6), vectors.clone())
    with torch.device("meta"):
        symbol = conv_symbol(w, (7, 6))
        norm = conv_norm_power_iteration(w, (7, 6), vectors)
    assert symbol.device.type == norm.device.type == "cpu"
    torch.testing.assert_close(symbol, reference_symbol)
    torch.testing.assert_close(norm, reference_norm)


def test_strided_convolution_norm_is_bounded_by_its_circular_grid():
    """Stride 2, zero padding: the dense operator's norm is at most the FFT norm on (s + k - 1)^2."""
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    shape = (2, 5, 6)
    n = int(np.prod(shape))
    cols = [F.conv2d(torch.eye(n, dtype=torch.float64)[i].reshape(1, *shape), w, stride=2, padding=1).reshape(-1)
            for i in range(n)]
    exact = float(torch.linalg.matrix_norm(torch.stack(cols, dim=1), 2))
    bound = float(conv_operator_norm(w, (5 + 2, 6 + 2)))
    assert exact <= bound + 1e-12
    assert exact > 0.3 * bound  # not vacuous
