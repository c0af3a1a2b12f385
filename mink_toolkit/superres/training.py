"""Training of a super-resolution network or generator (:func:`train_superres`) and inference (:func:`predict`)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .._runtime import check_compile
from .._validation import check_array_field, check_choice, check_integer, check_positive
from ..datasets import random_d4, random_windows, take_windows
from ..losses import DATA_LOSSES, fair_crps_loss
from ..schedules import LambdaSchedule, Schedule
from ..verification import high_wavenumber_share
from .checkpoint import save_superres_checkpoint
from .models import ResidualUNet

__all__ = ["train_superres", "predict"]


def _device_of(model) -> torch.device:
    """Where the model's parameters live."""
    return next(iter(model.parameters()), torch.empty(0)).device


class _CompiledTerm:
    """Within ``with``: the term (a :class:`~mink_toolkit.losses.MinkowskiLoss`, or a
    :class:`~mink_toolkit.losses.SurrogateTerm`'s surrogate) computes compiled; restored after."""

    def __init__(self, term, on: bool):
        owners = [term, getattr(term, "surrogate", None)] if on else []
        self.owners = [o for o in owners if isinstance(getattr(o, "compiled", None), bool)]

    def __enter__(self):
        self.before = [o.compiled for o in self.owners]
        for o in self.owners:
            o.compiled = True
        return self

    def __exit__(self, *exc):
        for o, before in zip(self.owners, self.before):
            o.compiled = before
        return False


def _set_term_step(term, step):
    if term is not None and hasattr(term, "step"):
        term.step = step


@torch.no_grad()
def _validation_objective(model, val_coarse, val_fine, data_loss, term, lam, final_step, members, seed,
                          batch_size=16, crps=((1,), "log1p")):
    """Objective on validation patches at the end of training: data loss (+ λ·term at its final step)."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    generator = torch.Generator(device=device).manual_seed(seed)
    val_coarse, val_fine = np.asarray(val_coarse, np.float32), np.asarray(val_fine, np.float32)
    total_data = total_term = 0.0
    n = val_coarse.shape[0]
    for i in range(0, n, batch_size):
        xb = torch.from_numpy(val_coarse[i : i + batch_size])[:, None].to(device)
        yb = torch.from_numpy(val_fine[i : i + batch_size])[:, None].to(device)
        if model.stochastic:
            pred = model.sample(xb, members, generator)
            d = fair_crps_loss(pred, yb, scales=crps[0], space=crps[1])
            flat, target = pred.reshape(-1, 1, *pred.shape[-2:]), yb.repeat_interleave(members, dim=0)
        else:
            pred = model(xb)
            d = data_loss(pred, yb)
            flat, target = pred, yb
        weight = xb.shape[0] / n
        total_data += float(d) * weight
        if term is not None and lam > 0:
            previous = getattr(term, "step", None)
            _set_term_step(term, final_step)
            total_term += float(term(flat, target)) * weight
            _set_term_step(term, previous)
    model.train(was_training)
    return total_data + lam * total_term, total_data, total_term


def train_superres(
    model: ResidualUNet,
    coarse,
    fine,
    *,
    term: Callable | None = None,
    schedule: LambdaSchedule = LambdaSchedule(),
    loss: str = "log_mse",
    epochs: int = 10,
    batch_size: int = 16,
    lr: float = 2e-3,
    lr_schedule: str = "cosine",
    crop: int | None = 64,
    members: int = 2,
    crps_scales=(1,),
    crps_space: str = "log1p",
    val=None,
    val_every: int = 1,
    seed: int = 0,
    progress=True,
    checkpoint: str | Path | None = None,
    compile: bool = False,
) -> dict:
    """Train a super-resolution network (or generator) with data loss + λ(epoch)·term.

    Parameters
    ----------
    model : ResidualUNet
        Deterministic, or a generator (``noise_channels > 0``).
    coarse : array_like, shape (N, h, w)
        Coarse rain rates (mm/h), no NaN.
    fine : array_like, shape (N, h·f, w·f)
        Matching fine rain rates (mm/h), no NaN.
    term : callable, optional
        ``term(pred, target) -> scalar`` on (B, 1, H, W) mm/h tensors, e.g.
        :class:`~mink_toolkit.losses.MinkowskiLoss` (with a schedule over
        ``epochs`` steps) or :class:`~mink_toolkit.losses.SurrogateTerm`;
        if it has a ``step`` attribute it is set to the epoch, so a
        temperature schedule advances once per epoch. For a generator it
        scores every member against the target. ``None``: data loss only.
    schedule : LambdaSchedule
        λ per epoch.
    loss : {"log_mse", "log_l1"}
        Data loss of a deterministic model (:func:`~mink_toolkit.losses.log_l1`,
        :func:`~mink_toolkit.losses.log_mse`). A generator is always trained
        with :func:`~mink_toolkit.losses.fair_crps_loss` over ``members``
        draws per input.
    epochs, batch_size : int
        ``batch_size`` inputs per step (a generator sees ``members`` draws of each).
    lr : float
        Adam learning rate (peak).
    lr_schedule : {"cosine", "constant"}
        Cosine decay of the learning rate to 0 over the steps, or constant.
    crop : int or None
        Train on random fine crops of this side (a multiple of the factor
        and of ``2**depth``), with random rotations/flips (rain statistics
        are isotropic to first order); ``None``: whole patches.
    members : int, >= 2
        Draws per input for a generator's fair CRPS.
    crps_scales : sequence of int
        Block sizes of the generator's multi-scale CRPS (:func:`~mink_toolkit.losses.fair_crps_loss`).
    crps_space : {"log1p", "linear"}
        Space of the generator's CRPS (:func:`~mink_toolkit.losses.fair_crps_loss`).
    val : (coarse, fine) arrays, optional
        Validation patches for early stopping: after every ``val_every``
        epochs once λ has reached its final value, the objective the run
        converges to (data loss + λ_final·term at the term's final step;
        for a generator the fair CRPS of ``members`` draws with fixed noise)
        is measured on them, and the weights of the best epoch are restored
        at the end.
    val_every : int
    seed : int
        Seeds batch order, crops, augmentation and a generator's noise (the
        weights are initialised when the model is built: build it under
        ``torch.manual_seed``).
    progress : bool or tqdm bar
        ``True``: a tqdm bar over epochs; a tqdm instance: advanced by one
        per epoch (one overall bar over several trainings); ``False``: none.
    checkpoint : path, optional
        Where to save the final weights, config and history.
    compile : bool
        Run the training step compiled: the network's forward after its
        input check (a stochastic generator's stays eager: its noise
        generator does not trace) and the term's relaxed functionals
        (:class:`~mink_toolkit.losses.MinkowskiLoss`, or the surrogate of a
        :class:`~mink_toolkit.losses.SurrogateTerm`), each compiled once
        per shape with ``torch.compile(fullgraph=True, dynamic=False)``
        and cached in the toolkit's cache folder
        (:func:`mink_toolkit._runtime.compile_cache_dir`); validation stays
        eager. The trained weights agree with an eager run's to the seed
        spread, not bit for bit.

    The batches are put on the device of the model's parameters (move the
    model, and a term that has buffers, with ``.to(device)`` first).

    Returns
    -------
    dict
        History lists per epoch: ``lambda``, ``loss``, ``data`` (data
        loss), ``term``, ``loss_std`` (std of the step losses within the
        epoch), ``grad_norm`` and ``grad_norm_max`` (total gradient norm,
        mean and max over steps), ``term_grad_high_share`` (high-wavenumber
        share of ∂term/∂pred on the first batch), ``term_grad_norm`` and
        ``data_grad_norm`` (ℓ2 norms of ∂term/∂pred and ∂data/∂pred on the
        first batch; NaN while λ = 0), ``val`` (validation objective, NaN
        where not measured); plus ``step_loss`` and ``step_grad_norm`` (every
        step), ``best_epoch`` (restored; the last epoch without ``val``),
        ``seconds``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> rng = np.random.default_rng(0)
    >>> from mink_toolkit.resample import block_mean
    >>> fine = rng.gamma(0.5, 1.0, (8, 16, 16)); coarse = block_mean(fine, 4)
    >>> torch.manual_seed(0) and None
    >>> net = ResidualUNet(factor=4, width=4, depth=1)
    >>> h = train_superres(net, coarse, fine, epochs=2, batch_size=4, crop=None, progress=False)
    >>> len(h["loss"]), len(h["step_loss"])
    (2, 4)
    """
    import copy
    import time

    from tqdm.auto import tqdm

    if not isinstance(model, ResidualUNet):
        raise TypeError(f"model must be a ResidualUNet; got {type(model).__name__}")
    factor = model.factor
    c, f = _check_pairs(coarse, fine, factor, "")
    epochs = check_integer(epochs, "epochs", minimum=1)
    batch_size = check_integer(batch_size, "batch_size", minimum=1)
    lr = check_positive(lr, "lr")
    check_choice(lr_schedule, ("cosine", "constant"), "lr_schedule")
    data_loss = DATA_LOSSES[check_choice(loss, tuple(DATA_LOSSES), "loss")]
    members = check_integer(members, "members", minimum=2)
    check_choice(crps_space, ("log1p", "linear"), "crps_space")
    val_every = check_integer(val_every, "val_every", minimum=1)
    check_compile(compile)
    if crop is not None:
        if crop % factor or crop % 2**model.depth or crop > f.shape[-1] or crop > f.shape[-2]:
            raise ValueError(f"crop must divide by factor {factor} and 2**depth and fit the patches; got {crop}")
    if not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule (e.g. LambdaSchedule); got {type(schedule).__name__}")
    if val is not None:
        if not isinstance(val, (tuple, list)) or len(val) != 2:
            raise TypeError("val must be a (coarse, fine) pair of arrays")
        val_c, val_f = _check_pairs(val[0], val[1], factor, "val ")

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    device = _device_of(model)
    noise = torch.Generator(device=device).manual_seed(int(seed))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    n = c.shape[0]
    steps_per_epoch = -(-n // batch_size)
    total_steps = epochs * steps_per_epoch
    scheduler = None
    if lr_schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda k: 0.5 * (1 + np.cos(np.pi * min(k, total_steps) / total_steps)))
    lam_final = float(schedule(10**9)) if term is not None else 0.0
    first_val_epoch = min(epochs - 1, max(0, getattr(schedule, "total_steps", 1) - 1)) if term is not None else 0
    cutoff = 1.0 / (2 * factor)
    keys = ("lambda", "loss", "data", "term", "loss_std", "grad_norm", "grad_norm_max", "term_grad_high_share",
            "term_grad_norm", "data_grad_norm", "val")
    history: dict = {k: [] for k in keys}
    history["step_loss"], history["step_grad_norm"] = [], []
    best, best_state, best_epoch = float("inf"), None, epochs - 1
    start = time.perf_counter()
    own_bar = progress is True
    bar = tqdm(total=epochs, desc="train", leave=False) if own_bar else (progress or None)
    model.train()
    for epoch in range(epochs):
        lam = schedule(epoch)
        _set_term_step(term, epoch)  # advances MinkowskiLoss's temperature schedule
        order = rng.permutation(n)
        losses, datas, terms, norms = [], [], [], []
        high_share = term_grad = data_grad = float("nan")
        for b0 in range(0, n, batch_size):
            idx = order[b0 : b0 + batch_size]
            if crop is None:
                xb, yb = c[idx], f[idx]
            else:
                # Independent windows per field, aligned with the coarse grid.
                cc = crop // factor
                _, rows, cols = random_windows(c.shape, cc, len(idx), rng, which=idx)
                xb = take_windows(c, idx, rows, cols, cc)
                yb = take_windows(f, idx, rows * factor, cols * factor, crop)
            xb, yb = random_d4(xb, rng, yb)
            xb = torch.from_numpy(np.ascontiguousarray(xb))[:, None].to(device)
            yb = torch.from_numpy(np.ascontiguousarray(yb))[:, None].to(device)
            if model.stochastic:
                pred = model(xb.repeat_interleave(members, dim=0), noise)  # (B·M, 1, H, W), draws of one input together
                data = fair_crps_loss(pred.reshape(xb.shape[0], members, *pred.shape[-2:]), yb, scales=crps_scales,
                                      space=crps_space)
                target = yb.repeat_interleave(members, dim=0)
            else:
                pred = model._forward(xb, None, True) if compile else model(xb)
                data = data_loss(pred, yb)
                target = yb
            total = data
            term_value = torch.zeros((), device=device)
            if term is not None and lam > 0:
                with _CompiledTerm(term, compile):
                    term_value = term(pred, target)
                if b0 == 0:
                    # What the term tells the network, measured where it enters: ∂term/∂pred
                    # (its norm, and how much of it lies above the coarse grid's Nyquist
                    # frequency), next to ∂data/∂pred. Only the first batch of each epoch, to
                    # keep the two extra backward passes cheap.
                    (g,) = torch.autograd.grad(term_value, pred, retain_graph=True)
                    (g_data,) = torch.autograd.grad(data, pred, retain_graph=True)
                    high_share = high_wavenumber_share(g.detach()[:, 0].double().cpu().numpy(), cutoff)
                    term_grad = float(torch.linalg.vector_norm(g))
                    data_grad = float(torch.linalg.vector_norm(g_data))
                total = data + lam * term_value
            if not torch.isfinite(total):
                raise FloatingPointError(f"loss became {float(total)} at epoch {epoch}; lower lr or λ")
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
            )
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(float(total.detach()))
            datas.append(float(data.detach()))
            terms.append(float(term_value.detach()))
            norms.append(float(norm))
        value = float("nan")
        if val is not None and epoch >= first_val_epoch and (
            (epoch - first_val_epoch) % val_every == 0 or epoch == epochs - 1
        ):
            value = _validation_objective(model, val_c, val_f, data_loss, term, lam_final, epochs, members,
                                          seed, crps=(crps_scales, crps_space))[0]
            if value < best:
                best, best_epoch = value, epoch
                best_state = copy.deepcopy(model.state_dict())
        history["lambda"].append(lam)
        history["loss"].append(float(np.mean(losses)))
        history["data"].append(float(np.mean(datas)))
        history["term"].append(float(np.mean(terms)))
        history["loss_std"].append(float(np.std(losses)))
        history["grad_norm"].append(float(np.mean(norms)))
        history["grad_norm_max"].append(float(np.max(norms)))
        history["term_grad_high_share"].append(high_share)
        history["term_grad_norm"].append(term_grad)
        history["data_grad_norm"].append(data_grad)
        history["val"].append(value)
        history["step_loss"] += losses
        history["step_grad_norm"] += norms
        if bar is not None:
            bar.update(1)
    if own_bar:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_epoch"] = int(best_epoch)
    history["seconds"] = time.perf_counter() - start
    _set_term_step(term, epochs)
    model.eval()
    if checkpoint is not None:
        save_superres_checkpoint(checkpoint, model, history=history)
    return history


def _check_pairs(coarse, fine, factor, prefix):
    c = np.asarray(check_array_field(coarse, prefix + "coarse"), dtype=np.float32)
    f = np.asarray(check_array_field(fine, prefix + "fine"), dtype=np.float32)
    if c.ndim != 3 or f.ndim != 3 or c.shape[0] != f.shape[0]:
        raise ValueError(f"{prefix}coarse and {prefix}fine must be (N, h, w) and (N, H, W) with equal N; "
                         f"got {c.shape}, {f.shape}")
    if f.shape[-2:] != (c.shape[-2] * factor, c.shape[-1] * factor):
        raise ValueError(f"{prefix}fine shape {f.shape[-2:]} is not coarse shape {c.shape[-2:]} times factor {factor}")
    if (c < 0).any() or (f < 0).any():
        raise ValueError(f"{prefix}coarse and {prefix}fine must be non-negative rain rates")
    return c, f


@torch.no_grad()
def predict(model: nn.Module, coarse, batch_size: int = 32, *, members: int | None = None, seed: int = 0) -> np.ndarray:
    """Run a trained network on coarse fields (N, h, w) mm/h -> (N, H, W) mm/h (float64).

    For a generator (``model.stochastic``) pass ``members``: the result is
    then (members, N, H, W), draw ``k`` of every input in ``result[k]``, with
    noise seeded by ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> predict(ResidualUNet(factor=2, width=2, depth=1), np.ones((1, 4, 4))).shape
    (1, 8, 8)
    >>> predict(ResidualUNet(factor=2, width=2, depth=1, noise_channels=1), np.ones((3, 4, 4)), members=2).shape
    (2, 3, 8, 8)
    """
    c = np.asarray(check_array_field(coarse, "coarse"), dtype=np.float32)
    if c.ndim != 3:
        raise ValueError(f"coarse must be (N, h, w); got {c.shape}")
    stochastic = getattr(model, "stochastic", False)
    if stochastic and members is None:
        raise ValueError("model is a stochastic generator: pass members= (the ensemble size)")
    if members is not None and not stochastic:
        raise ValueError("members= is for stochastic generators; this model is deterministic")
    was_training = model.training
    device = _device_of(model)
    model.eval()
    if stochastic:
        members = check_integer(members, "members", minimum=1)
        generator = torch.Generator(device=device).manual_seed(int(seed))
        out = [model.sample(torch.from_numpy(c[i : i + batch_size])[:, None].to(device), members, generator)
               .double().cpu().numpy() for i in range(0, len(c), batch_size)]
        result = np.concatenate(out, axis=0).transpose(1, 0, 2, 3)
    else:
        out = [model(torch.from_numpy(c[i : i + batch_size])[:, None].to(device))[:, 0].double().cpu().numpy()
               for i in range(0, len(c), batch_size)]
        result = np.concatenate(out, axis=0)
    model.train(was_training)
    return result

