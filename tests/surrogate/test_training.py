"""Tests of mink_toolkit.surrogate.training: the one trainer."""

from __future__ import annotations

import pytest
import torch

from mink_toolkit.surrogate import MinkowskiSurrogate, train_surrogate
from ._helpers import THRESHOLDS, small_conventional, synthetic_patches


def test_training_reduces_validation_loss_and_keeps_the_best_weights():
    torch.manual_seed(0)
    train, val = synthetic_patches(16, 24, 0), synthetic_patches(4, 24, 1)
    model = MinkowskiSurrogate(THRESHOLDS, width=8, depth=2, levels=6)
    result = train_surrogate(model, train, val, steps=40, batch_size=8, crop_size=16, eval_every=10,
                             patience=10, val_patches=4, progress=False)
    losses = [h["val_loss"] for h in result.history]
    assert len(losses) == 4 and result.best_val_loss == min(losses)
    assert losses[-1] < losses[0] or result.best_step < 40
    from mink_toolkit.losses import surrogate_loss
    from mink_toolkit.surrogate import predict_functionals

    pred, comps = predict_functionals(model, val.rain)
    again = float(surrogate_loss(pred, torch.as_tensor(val.functionals), comps, torch.as_tensor(val.components),
                                 THRESHOLDS))
    assert again == pytest.approx(result.best_val_loss, rel=1e-5)
    with pytest.raises(ValueError, match="thresholds"):
        train_surrogate(MinkowskiSurrogate([0.3, 1.0]), train, val, steps=1, progress=False)


class _CountingBar:
    """Stands in for a shared tqdm bar: counts updates, keeps the last postfix, must not be closed."""

    def __init__(self):
        self.n, self.postfix, self.closed = 0, None, False

    def update(self, n=1):
        self.n += n

    def set_postfix(self, **kwargs):
        self.postfix = kwargs

    def close(self):
        self.closed = True


def test_training_advances_a_shared_progress_bar_once_per_step():
    # One bar can follow several trainings (notebook 03 trains five models under one bar).
    train, val = synthetic_patches(8, 16, 0), synthetic_patches(2, 16, 1)
    bar = _CountingBar()
    for seed in (0, 1):
        train_surrogate(MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2), train, val, steps=6,
                        batch_size=2, crop_size=16, eval_every=3, patience=5, val_patches=2, seed=seed, progress=bar)
    assert bar.n == 12 and not bar.closed
    assert set(bar.postfix) == {"train", "val"}


def test_whole_patch_training_uses_the_cached_targets(monkeypatch):
    """crop_size = patch size: whole patches, cached (D4-invariant) targets, no recomputation."""
    import mink_toolkit.surrogate.training as training

    train, val = synthetic_patches(8, 16, 4), synthetic_patches(2, 16, 5)

    def refuse(*args, **kwargs):
        raise AssertionError("exact targets recomputed for whole patches")

    monkeypatch.setattr(training, "exact_targets", refuse)
    torch.manual_seed(0)
    model = small_conventional(lipschitz_cap=None, constrained=False)
    result = train_surrogate(model, train, val, steps=20, batch_size=4, crop_size=16, lr=1e-2, eval_every=10,
                             patience=5, val_patches=2, progress=False)
    assert len(result.history) == 2 and result.best_val_loss == min(h["val_loss"] for h in result.history)
    with pytest.raises(AssertionError, match="recomputed"):  # crops still compute their targets
        train_surrogate(model, train, val, steps=1, batch_size=2, crop_size=8, progress=False)


@pytest.mark.parametrize("kind", ["additive", "certified_cnn"])
def test_compiled_training_follows_the_eager_run(monkeypatch, kind):
    """compile=True compiles the step's forward: the same training to float32 rounding (not bit for bit).

    The certified CNN's training step runs the power iteration of its convolution norms, which once
    turned the maximising frequency into a Python int: a graph break that fullgraph compilation refuses
    (the full ``reproduce surrogate`` run failed there after 31 minutes)."""
    # The graph capture and autograd of torch.compile without inductor's code generation (a minute
    # here): inductor itself is exercised on the relaxed functionals and the loss.
    monkeypatch.setenv("MINK_COMPILE_BACKEND", "aot_eager")
    train, val = synthetic_patches(8, 16, 0), synthetic_patches(2, 16, 1)
    results = []
    for compile in (False, True):
        torch.manual_seed(0)
        if kind == "additive":
            model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2)
        else:
            model = small_conventional(lipschitz_cap=4.0, norm_grid=(16, 16), training_norms="power_iteration")
            assert model.certified and model._power_layers  # the training steps use the power iteration
        result = train_surrogate(model, train, val, steps=4, batch_size=4, crop_size=16, eval_every=2,
                                 patience=5, val_patches=2, progress=False, compile=compile)
        results.append((result, model))
    (eager, model_e), (fast, model_c) = results
    assert not model_c.compiled  # the switch of the call, not of the model
    for h_e, h_c in zip(eager.history, fast.history):
        assert h_c["val_loss"] == pytest.approx(h_e["val_loss"], rel=1e-3)
    for p_c, p_e in zip(model_c.parameters(), model_e.parameters()):
        torch.testing.assert_close(p_c, p_e, rtol=1e-3, atol=1e-4)
    with pytest.raises(TypeError, match="compile must be True or False"):
        train_surrogate(model_e, train, val, steps=1, progress=False, compile="no")


def test_train_surrogates_equals_seeded_single_trainings_in_any_number_of_workers():
    """Each (model, seed) run seeds itself: the same weights in this process, in two workers, and by hand."""
    from mink_toolkit.surrogate import train_surrogates

    train, val = synthetic_patches(8, 16, 0), synthetic_patches(2, 16, 1)
    templates = {"additive": MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2),
                 "cnn": small_conventional(lipschitz_cap=None)}
    settings = dict(steps=4, batch_size=2, crop_size=16, eval_every=2, patience=5, val_patches=2)
    threads = torch.get_num_threads()
    here, results = train_surrogates(templates, train, val, seeds=(0, 3), progress=False, **settings)
    assert torch.get_num_threads() == threads  # the caller's thread count is left as it was
    pooled, _ = train_surrogates(templates, train, val, seeds=(0, 3), workers=2, progress=False, **settings)
    assert set(here) == set(pooled) == {(n, s) for n in templates for s in (0, 3)}
    torch.manual_seed(3)
    by_hand = MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2)
    expected = train_surrogate(by_hand, train, val, seed=3, progress=False, **settings)
    assert results["additive", 3].best_val_loss == expected.best_val_loss
    for key, model in here.items():
        assert not model.training
        for name, value in model.state_dict().items():
            assert torch.equal(value, pooled[key].state_dict()[name]), (key, name)
    for name, value in by_hand.state_dict().items():
        assert torch.equal(value, here["additive", 3].state_dict()[name]), name
    # Different seeds give different models.
    assert not torch.equal(here["cnn", 0].state_dict()["head.weight"], here["cnn", 3].state_dict()["head.weight"])


def test_train_surrogates_rejects_bad_arguments():
    from mink_toolkit.surrogate import train_surrogates

    train = synthetic_patches(2, 16, 0)
    model = MinkowskiSurrogate(THRESHOLDS, width=4, depth=1, levels=2)
    with pytest.raises(TypeError, match="models"):
        train_surrogates({"x": object()}, train, train)
    with pytest.raises(ValueError, match="workers"):
        train_surrogates({"x": model}, train, train, workers=0)
    with pytest.raises(TypeError, match="seeds"):
        train_surrogates({"x": model}, train, train, seeds=())
    with pytest.raises(TypeError, match="seed"):
        train_surrogates({"x": model}, train, train, seed=1)
