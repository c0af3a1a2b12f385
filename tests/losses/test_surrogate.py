"""Tests of mink_toolkit.losses.surrogate: the surrogate's training loss and the frozen-surrogate term."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mink_toolkit.losses import SurrogateTerm, functional_distance, surrogate_loss
from mink_toolkit.surrogate import DEFAULT_LIPSCHITZ_CAP


@pytest.fixture
def rain():
    rng = np.random.default_rng(0)
    return rng.gamma(0.5, 2.0, size=(6, 32, 32))


def _small_surrogate(lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True, **kw):
    from mink_toolkit.surrogate import MinkowskiSurrogate

    torch.manual_seed(0)
    return MinkowskiSurrogate([0.5, 1.0, 2.0, 4.0], lipschitz_cap=lipschitz_cap, constrained=constrained, width=4, depth=2,
                              levels=2, **kw)


@pytest.mark.parametrize(
    "surrogate_kw",
    [dict(lipschitz_cap=DEFAULT_LIPSCHITZ_CAP, constrained=True), dict(lipschitz_cap=1.0, constrained=True),
     dict(lipschitz_cap=None, constrained=False)],
)
def test_surrogate_term_gradient_is_dense_and_frozen(rain, surrogate_kw):
    """The term passes a finite, non-zero gradient to the prediction and none to the surrogate."""
    surrogate = _small_surrogate(**surrogate_kw)
    term = SurrogateTerm(surrogate).train()  # .train() must leave the frozen surrogate in eval mode
    assert not surrogate.training and not any(p.requires_grad for p in surrogate.parameters())
    target = torch.as_tensor(rain[:2, None], dtype=torch.float32)
    pred = (target * 0.5 + 0.2).requires_grad_(True)
    value = term(pred, target)
    # exactly d(surrogate(pred), surrogate(target)) on mm/h input: the surrogate owns its transform
    expected = functional_distance(surrogate(pred), surrogate(target), surrogate.thresholds)
    assert float(value.detach()) == pytest.approx(float(expected.detach()))
    (grad,) = torch.autograd.grad(value, pred)
    assert torch.isfinite(grad).all() and float(grad.norm()) > 0
    assert float((grad != 0).float().mean()) > 0.5  # soft steps: dense, not a hard threshold's zero
    assert float(term(target, target).detach()) == 0.0


def test_surrogate_term_bad_input():
    with pytest.raises(TypeError, match="nn.Module"):
        SurrogateTerm(lambda x: x)
    with pytest.raises(ValueError, match="thresholds"):
        SurrogateTerm(torch.nn.Identity())


def test_surrogate_loss_is_the_distance_plus_the_components_term():
    rng = np.random.default_rng(2)
    u = [0.5, 1.0, 2.0]
    pred, target = (torch.as_tensor(rng.gamma(1.0, 5.0, (4, 3, 3))) for _ in range(2))
    pred_b0, target_b0 = (torch.as_tensor(rng.integers(0, 5, (4, 3)).astype(float)) for _ in range(2))
    base = functional_distance(pred, target, u, weights=(1.0, 0.5, 2.0))
    zeros = torch.zeros_like(pred_b0)
    b0 = functional_distance(torch.stack([pred_b0, zeros, zeros], -1), torch.stack([target_b0, zeros, zeros], -1), u,
                             weights=(1.0, 0.0, 0.0))
    got = surrogate_loss(pred, target, pred_b0, target_b0, u, components_weight=0.25, weights=(1.0, 0.5, 2.0))
    torch.testing.assert_close(got, base + 0.25 * b0)
    torch.testing.assert_close(surrogate_loss(pred, target, pred_b0, target_b0, u, components_weight=0.0),
                               functional_distance(pred, target, u))
