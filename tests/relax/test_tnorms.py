"""Tests of the continuous logic of the relaxation (mink_toolkit.relax.tnorms)."""

import pytest
import torch

from mink_toolkit.relax import TNORMS, t_and, t_not, t_or


@pytest.mark.parametrize("tnorm", TNORMS)
def test_tnorm_boundary_conditions_and_de_morgan(tnorm):
    gen = torch.Generator().manual_seed(1)
    a, b, c, d = torch.rand(4, 50, generator=gen, dtype=torch.float64)
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    torch.testing.assert_close(t_and(a, one, tnorm=tnorm), a)
    torch.testing.assert_close(t_or(a, zero, tnorm=tnorm), a)
    torch.testing.assert_close(t_and(a, b, tnorm=tnorm), t_and(b, a, tnorm=tnorm))
    # De Morgan with NOT = 1 - a, for pairs and for blocks of four.
    torch.testing.assert_close(t_or(a, b, tnorm=tnorm), t_not(t_and(t_not(a), t_not(b), tnorm=tnorm)))
    torch.testing.assert_close(
        t_or(a, b, c, d, tnorm=tnorm),
        t_not(t_and(t_not(a), t_not(b), t_not(c), t_not(d), tnorm=tnorm)),
    )
    # Associative extension: the four-way operation is the nested pairwise one.
    torch.testing.assert_close(
        t_and(a, b, c, d, tnorm=tnorm),
        t_and(t_and(a, b, tnorm=tnorm), t_and(c, d, tnorm=tnorm), tnorm=tnorm),
    )


def test_tnorm_formulas():
    a, b = torch.tensor(0.7), torch.tensor(0.4)
    assert float(t_and(a, b, tnorm="product")) == pytest.approx(0.28)
    assert float(t_or(a, b, tnorm="product")) == pytest.approx(0.82)
    assert float(t_and(a, b, tnorm="godel")) == pytest.approx(0.4)
    assert float(t_or(a, b, tnorm="godel")) == pytest.approx(0.7)
    assert float(t_and(a, b, tnorm="lukasiewicz")) == pytest.approx(0.1)
    assert float(t_or(a, b, tnorm="lukasiewicz")) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="tnorm"):
        t_and(a, b, tnorm="min")
