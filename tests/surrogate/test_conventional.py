"""Tests of mink_toolkit.surrogate.conventional: the conventional CNN baseline."""

from __future__ import annotations

import pytest
import torch

from mink_toolkit.surrogate import (
    CONVENTIONAL_LIPSCHITZ_CAP,
    ConventionalSurrogate,
    conv_operator_norm,
    lipschitz_upper_bound,
    normalise_rain,
)
from ._helpers import THRESHOLDS, small_conventional


def test_conventional_forward_shapes_and_errors():
    model = small_conventional(constrained=False, pixel_size=2.0)
    for shape in [(10, 12), (9, 13), (1, 1)]:
        f, b0 = model(torch.rand(2, 1, *shape) * 3, return_components=True)
        assert f.shape == (2, 4, 3) and b0.shape == (2, 4) and f.dtype == torch.float64
    assert model.features(normalise_rain(torch.rand(3, 1, 8, 8))).shape == (3, 8)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        model(torch.rand(2, 2, 8, 8))
    bad = torch.rand(1, 1, 8, 8)
    bad[0, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(bad)
    with pytest.raises(ValueError, match="kernel_size"):
        ConventionalSurrogate(THRESHOLDS, kernel_size=2)
    with pytest.raises(ValueError, match="channels"):
        ConventionalSurrogate(THRESHOLDS, channels=())
    with pytest.raises(ValueError, match="hidden"):
        ConventionalSurrogate(THRESHOLDS, hidden=(8, 0))


def test_conventional_caps_hold_even_for_huge_raw_weights():
    model = small_conventional(norm_grid=(16, 16), lipschitz_cap=3.0)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(100.0)
        w = model.layer_weights()
    assert float(conv_operator_norm(w["conv"][0], (18, 18))) <= 1.0 + 1e-5
    assert float(conv_operator_norm(w["conv"][1], (10, 10))) <= 1.0 + 1e-5
    assert float(torch.linalg.matrix_norm(w["dense"][0], 2)) <= 1.0 + 1e-5
    assert float(torch.linalg.matrix_norm(w["head"], 2)) <= 3.0 * (1 + 1e-5)
    # Two 1-Lipschitz convolutions, mean pooling over the final 4 x 4 map, a 1-Lipschitz dense layer.
    assert lipschitz_upper_bound(model, (16, 16), of="features") <= 0.25 * (1 + 1e-4)


def test_power_iteration_caps_train_cheaply_and_evaluate_exactly():
    torch.manual_seed(2)
    exact = ConventionalSurrogate(THRESHOLDS, channels=(4, 6, 6), hidden=(8,), norm_grid=(16, 16)).double()
    fast = ConventionalSurrogate(THRESHOLDS, channels=(4, 6, 6), hidden=(8,), norm_grid=(16, 16),
                                 training_norms="power_iteration").double()
    fast.load_state_dict(exact.state_dict())  # the vectors are not part of the state: same checkpoint format
    assert set(fast.state_dict()) == set(exact.state_dict())
    assert fast.config()["training_norms"] == "power_iteration"
    x = torch.rand(3, 1, 16, 16, dtype=torch.float64) * 5.0
    # Training mode: the estimated caps are never looser than the exact ones (norms from below) and,
    # after the warm-up iterations, agree with them closely.
    for layer_fast, layer_exact in zip(fast.layer_weights()["conv"], exact.layer_weights()["conv"]):
        assert float(layer_fast.detach().abs().sum()) >= float(layer_exact.detach().abs().sum()) * (1 - 1e-12)
        torch.testing.assert_close(layer_fast, layer_exact, rtol=1e-4, atol=1e-6)
    # Eval mode: exactly the certified model.
    fast.eval()
    exact.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), exact(x), rtol=0, atol=0)
    assert lipschitz_upper_bound(fast, (16, 16)) == lipschitz_upper_bound(exact, (16, 16))
    with pytest.raises(ValueError, match="training_norms"):
        small_conventional(training_norms="approximate")


def test_spectral_norm_is_the_published_recipe_and_not_a_certificate():
    """torch's spectral_norm normalises the reshaped kernel, not the convolution: the true norm can exceed 1."""
    from torch.nn.utils.parametrizations import spectral_norm

    torch.manual_seed(0)
    model = small_conventional(spectral_norm=True)
    assert model.config()["spectral_norm"] and "parametrizations" in dict(model.named_modules())["convs.0"].__dict__["_modules"]
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)  # a 3×3 box filter: reshaped-kernel norm 3, operator norm 9
    spectral_norm(conv)
    for _ in range(20):  # power iterations in training mode
        conv(torch.zeros(1, 1, 8, 8))
    conv.eval()
    assert float(torch.linalg.matrix_norm(conv.weight.detach().reshape(1, -1), 2)) == pytest.approx(1.0, rel=1e-4)
    assert float(conv_operator_norm(conv.weight.detach(), (10, 10))) == pytest.approx(3.0, rel=1e-4)
    # Its head keeps the cap, its convolutions lose the certified ones.
    assert model.lipschitz_cap == CONVENTIONAL_LIPSCHITZ_CAP and not model.certified
    assert small_conventional().certified and not small_conventional(lipschitz_cap=None).certified


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(lipschitz_cap=0.0), ValueError, ["lipschitz_cap", "0.0"]),
        (dict(lipschitz_cap=float("nan")), ValueError, ["lipschitz_cap", "nan"]),
        (dict(lipschitz_cap=False), TypeError, ["lipschitz_cap", "False"]),
        (dict(norm_grid=(0, 0)), ValueError, ["norm_grid", "0"]),
        (dict(norm_grid=128), TypeError, ["norm_grid", "128"]),
        (dict(spectral_norm="no"), TypeError, ["spectral_norm", "'no'"]),
        (dict(constrained=None), TypeError, ["constrained", "None"]),
    ],
)
def test_conventional_constructor_refuses_what_the_forward_pass_cannot_use(kwargs, error, words):
    with pytest.raises(error) as info:
        small_conventional(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_conventional_lipschitz_cap_is_the_head_cap_and_spectral_norm_is_not_one():
    """The cap bounds z -> compressed outputs; with spectral_norm the head keeps it and the convolutions lose theirs."""
    assert small_conventional().lipschitz_cap == CONVENTIONAL_LIPSCHITZ_CAP == 64.0
    certified, plain = small_conventional(lipschitz_cap=2.0), small_conventional(lipschitz_cap=None)
    sn, sn_plain = small_conventional(lipschitz_cap=2.0, spectral_norm=True), small_conventional(spectral_norm=True, lipschitz_cap=None)
    assert certified.certified and not plain.certified and not sn.certified and not sn_plain.certified
    torch.manual_seed(0)
    with torch.no_grad():
        for model in (certified, plain):
            model.head.weight.normal_(0.0, 10.0)
    plain.load_state_dict(certified.state_dict())
    norm = lambda model: float(torch.linalg.matrix_norm(model.layer_weights()["head"].detach(), 2))  # noqa: E731
    assert norm(certified) == pytest.approx(2.0) and norm(plain) > 2.0
