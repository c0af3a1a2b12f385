r"""The conventional CNN surrogate of the paper's kind, the comparison model of :class:`~mink_toolkit.surrogate.MinkowskiSurrogate`.

Strided convolutions, global mean pooling, dense layers and a linear head on
log1p-compressed outputs; the input transform, output layout, constrained
head, certificate and checkpoints are those of every surrogate
(:class:`~mink_toolkit.surrogate.models.SurrogateBase`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_grid, check_integer
from ..functionals import DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER, expand_functionals
from .models import SurrogateBase, _check_flag
from .norms import cap_norm, conv_norm_power_iteration, conv_operator_norm, matrix_norm

__all__ = ["CONVENTIONAL_LIPSCHITZ_CAP", "ConventionalSurrogate"]

#: Default ``lipschitz_cap`` of :class:`ConventionalSurrogate`: the cap on its head's spectral norm
#: (every convolution and dense layer is capped at 1), so a bound on the map from the normalised
#: input to the compressed outputs.
CONVENTIONAL_LIPSCHITZ_CAP = 64.0


def _conv_grids(input_shape: tuple[int, int], n_layers: int, kernel_size: int) -> list[tuple[int, int]]:
    r"""Circular grids that bound each stride-2 'same' convolution, and the final map size.

    Layer l sees an :math:`s_l \times t_l` input (:math:`s_{l+1} = \lceil s_l / 2 \rceil` for
    stride 2, padding k // 2, odd k); its stride-1 version is a crop of the full convolution,
    i.e. of the circular one on :math:`(s_l + k - 1) \times (t_l + k - 1)`.
    """
    h, w = int(input_shape[0]), int(input_shape[1])
    grids = []
    for _ in range(n_layers):
        grids.append((h + kernel_size - 1, w + kernel_size - 1))
        h, w = (h + 1) // 2, (w + 1) // 2
    grids.append((h, w))
    return grids


def _rewarm_after_load(module, incompatible_keys) -> None:
    module._warm_power_vectors()


class ConventionalSurrogate(SurrogateBase):
    r"""A conventional CNN surrogate of the paper's kind: strided convolutions, mean pooling, dense head.

    The comparison model for :class:`MinkowskiSurrogate`: the same input
    transform (:func:`normalise_rain`), output layout ``(B, n_thresholds, 3)``
    (+ β0), optional constrained head (:func:`project_feasible`), Lipschitz
    certificate (:func:`lipschitz_upper_bound`) and checkpoints
    (:func:`save_surrogate` / :func:`load_surrogate`), but none of the
    additive structure:

    1. :math:`z` = :func:`normalise_rain` of the input;
    2. ``len(channels)`` blocks of a k×k convolution (``nn.Conv2d``) with
       stride 2 and zero padding k // 2, then ReLU;
    3. global **mean** pooling over the last feature map;
    4. ``len(hidden)`` dense layers (``nn.Linear``) with ReLU — their output
       is :meth:`features`, the vector the head reads;
    5. a linear head (``nn.Linear``) predicting, for every threshold, the
       log1p-compressed (area, perimeter, β0, χ)
       (:func:`mink_toolkit.functionals.compress_functionals`, the usual target
       normalisation of a regression network: a linear head could hardly
       produce raw counts up to :math:`HW` = 16 384); the model returns the
       inverse, :math:`\operatorname{sign}(y)\,(e^{|y|} - 1)`
       (:func:`~mink_toolkit.functionals.expand_functionals`), with y clamped
       to :math:`|y| \le \log(1 + 4HW)` — no count of an H × W field can be
       larger than :math:`4HW` — in pixel units; with ``constrained=True`` it
       goes through the constrained head.

    The network must *learn* that the functionals are sums of local terms;
    mean pooling followed by nonlinear dense layers cannot represent that
    exactly, and its predictions are tied to the patch size it was trained
    on (train and evaluate on one size, as the paper did).

    Three ways to bound it:

    * ``lipschitz_cap`` a number (certified): every convolution is divided by its
      exact operator norm on the grid of a ``norm_grid`` input whenever that
      exceeds 1 (Sedghi, Gupta & Long 2019; :func:`conv_operator_norm`),
      every dense layer by its spectral norm (cap 1), and the head by its
      spectral norm (cap ``lipschitz_cap``); ReLU and biases are
      1-Lipschitz, and there is no normalisation layer.
      :func:`lipschitz_upper_bound` recomputes the norms for the actual
      input size. With ``training_norms="power_iteration"`` a training
      forward pass (``model.train()``) caps the convolutions with
      :func:`~mink_toolkit.surrogate.norms.conv_norm_power_iteration`
      instead — one warm-started power-iteration step per pass, an estimate
      from below that tracks the exact norm as the weights move, at a
      fraction of the cost on large grids; in eval mode, and so in
      everything evaluated and certified, the caps use the exact norms.
    * ``spectral_norm=True`` (the published recipe), with ``lipschitz_cap`` a number:
      ``torch.nn.utils.parametrizations.spectral_norm`` on every convolution
      and dense layer — a power iteration on the kernel reshaped to a
      ``(c_out, c_in·k·k)`` matrix, which for a convolution is **not** its
      operator norm (the true norm can be larger), so nothing is certified
      by it; the head is capped at ``lipschitz_cap`` exactly as above, so
      the two bounded variants differ only in how the convolutions are
      normalised. :func:`lipschitz_upper_bound` still gives a sound bound
      from the exact norms of the normalised weights.
    * ``lipschitz_cap=None`` (plain; with ``spectral_norm=True`` the head is
      then left uncapped).

    Parameters
    ----------
    thresholds : 1-D array_like, strictly increasing, > 0, mm/h
    connectivity, perimeter
        Estimators of the targets (see :class:`MinkowskiSurrogate`).
    lipschitz_cap : float or None, default :data:`CONVENTIONAL_LIPSCHITZ_CAP` (64)
        The cap on the head's spectral norm, every convolution and dense
        layer being capped at 1: a bound on the Lipschitz constant of the
        map from the normalised input to the compressed outputs (mean
        pooling and ReLU are 1-Lipschitz). None: no cap (see above).
    constrained : bool, default True
    channels : sequence of int, default (16, 32, 64, 64)
        Output channels of the strided convolution blocks.
    hidden : sequence of int, default (128,)
        Widths of the dense layers after pooling (at least one).
    kernel_size : int, default 3
        Odd.
    spectral_norm : bool, default False
        The published recipe (see above): torch's spectral normalisation of
        the convolutions and dense layers instead of the exact caps; the
        head stays capped at ``lipschitz_cap``.
    pixel_size : float, default 1
    norm_grid : (int, int), default (128, 128)
        Input size at which the convolutions' norms are capped in training.
    training_norms : {"exact", "power_iteration"}, default "exact"
        How a training forward pass of a certified model computes the
        convolutions' norms for the caps (see above); eval mode always uses
        the exact norms.
    compile : bool, default False
        Run :meth:`forward` compiled after its input check (see
        :meth:`~mink_toolkit.surrogate.models.SurrogateBase.forward`); kept
        as ``self.compiled``, not part of :meth:`config` (a checkpoint is
        the same either way).

    Examples
    --------
    >>> import torch
    >>> model = ConventionalSurrogate([0.5, 2.0], channels=(4, 8), hidden=(8,))
    >>> model(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 2, 3])
    """

    architecture = "conventional"

    def __init__(
        self,
        thresholds,
        *,
        connectivity: int = DEFAULT_CONNECTIVITY,
        perimeter: str = DEFAULT_PERIMETER,
        lipschitz_cap: float | None = CONVENTIONAL_LIPSCHITZ_CAP,
        constrained: bool = True,
        channels=(16, 32, 64, 64),
        hidden=(128,),
        kernel_size: int = 3,
        spectral_norm: bool = False,
        pixel_size: float = 1.0,
        norm_grid: tuple[int, int] = (128, 128),
        training_norms: str = "exact",
        compile: bool = False,
    ) -> None:
        super().__init__()
        self._set_common(thresholds, connectivity, perimeter, lipschitz_cap, constrained, pixel_size, compile)
        for name, values in (("channels", channels), ("hidden", hidden)):
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"{name} must be a non-empty sequence of positive integers; got {values!r}")
            for v in values:
                check_integer(v, f"{name} entries", minimum=1)
        check_integer(kernel_size, "kernel_size", minimum=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a 'same' padding of k // 2); got {kernel_size}")
        self.channels = tuple(int(c) for c in channels)
        self.hidden = tuple(int(c) for c in hidden)
        self.kernel_size = int(kernel_size)
        self.spectral_norm = _check_flag(spectral_norm, "spectral_norm")
        self.norm_grid = check_grid(norm_grid, "norm_grid")
        self.training_norms = check_choice(training_norms, self.TRAINING_NORMS, "training_norms")
        k = self.kernel_size
        c_in = (1, *self.channels[:-1])
        d_in = (self.channels[-1], *self.hidden[:-1])
        self.convs = nn.ModuleList([nn.Conv2d(ci, c, k, stride=2, padding=k // 2) for ci, c in zip(c_in, self.channels)])
        self.dense = nn.ModuleList([nn.Linear(di, d) for di, d in zip(d_in, self.hidden)])
        self.head = nn.Linear(self.hidden[-1], 4 * len(self.thresholds))
        with torch.no_grad():
            for layer in (*self.convs, *self.dense):
                # He initialisation (ReLU), as a conventional CNN would use.
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                layer.bias.zero_()
            self.head.weight.normal_(0.0, 0.01)
            # Start area, perimeter and β0 in the positive range: the loss compresses them with
            # log1p(max(·, 0)), whose gradient vanishes for negative values.
            self.head.bias.copy_(torch.tensor([1.0, 1.0, 1.0, 0.0]).repeat(len(self.thresholds)))
        if self.spectral_norm:
            from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

            for layer in (*self.convs, *self.dense):
                _spectral_norm(layer)
        self._power_layers = []
        if self.certified and self.training_norms == "power_iteration":
            # Right singular vector estimates per frequency, carried from step to step (not part of the
            # model's state: they are a cache of the weights, rebuilt by a few iterations).
            generator = torch.Generator().manual_seed(0)
            grids = _conv_grids(self.norm_grid, len(self.convs), k)
            for index, (layer, grid) in enumerate(zip(self.convs, grids)):
                if 1 in layer.weight.shape[:2]:
                    continue  # a vector per frequency: the exact norm is as cheap
                shape = (grid[0], grid[1] // 2 + 1, layer.weight.shape[1])
                vectors = torch.complex(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator))
                self.register_buffer(f"power_vectors_{index}", vectors, persistent=False)
                self._power_layers.append(index)
            self._warm_power_vectors()
            # Loaded weights make the carried estimates stale: converge them again.
            self.register_load_state_dict_post_hook(_rewarm_after_load)

    @property
    def certified(self) -> bool:
        """Whether the convolutions and dense layers are capped by their exact norms (a cap, no ``spectral_norm``)."""
        return self.lipschitz_cap is not None and not self.spectral_norm

    #: Choices of ``training_norms``, and the power iterations run on new or loaded weights.
    TRAINING_NORMS = ("exact", "power_iteration")
    POWER_WARMUP = 30

    def _warm_power_vectors(self) -> None:
        grids = _conv_grids(self.norm_grid, len(self.convs), self.kernel_size)
        with torch.no_grad():
            for index in self._power_layers:
                conv_norm_power_iteration(self.convs[index].weight, grids[index],
                                          getattr(self, f"power_vectors_{index}"), n_iter=self.POWER_WARMUP)

    def config(self) -> dict:
        """Settings that define the model (stored in checkpoints)."""
        return {
            "architecture": self.architecture,
            **self._common_config(),
            "channels": list(self.channels),
            "hidden": list(self.hidden),
            "kernel_size": self.kernel_size,
            "spectral_norm": self.spectral_norm,
            "norm_grid": list(self.norm_grid),
            "training_norms": self.training_norms,
        }

    def layer_weights(self) -> dict[str, object]:
        """Effective weights: norm-capped by ``lipschitz_cap``, spectrally normalised with ``spectral_norm``.

        Exact norms in eval mode; in training mode with
        ``training_norms="power_iteration"`` the power-iteration estimates
        (each call advances them by one step).

        Returns
        -------
        dict
            ``conv`` (list of (c_out, c_in, k, k)), ``dense`` (list of
            matrices), ``head`` (4 n, hidden[-1]).
        """
        conv = [layer.weight for layer in self.convs]  # normalised by the parametrisation if any
        dense = [layer.weight for layer in self.dense]
        head = self.head.weight
        if self.certified:
            grids = _conv_grids(self.norm_grid, len(conv), self.kernel_size)
            conv = [
                cap_norm(w, conv_norm_power_iteration(w, g, getattr(self, f"power_vectors_{i}"))
                        if self.training and i in self._power_layers else conv_operator_norm(w, g), 1.0)
                for i, (w, g) in enumerate(zip(conv, grids))
            ]
            dense = [cap_norm(w, matrix_norm(w), 1.0) for w in dense]
        if self.lipschitz_cap is not None:
            head = cap_norm(head, matrix_norm(head), self.lipschitz_cap)
        return {"conv": conv, "dense": dense, "head": head}

    def features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        """Dense features after mean pooling, from the *normalised* input.

        Parameters
        ----------
        z : torch.Tensor, shape (B, 1, H, W)
            :func:`normalise_rain` of the rain field.

        Returns
        -------
        torch.Tensor, shape (B, hidden[-1])
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != 1:
            raise ValueError(f"z must be a tensor shaped (B, 1, H, W); got {getattr(z, 'shape', type(z))}")
        weights = self.layer_weights() if weights is None else weights
        h = z
        for w, layer in zip(weights["conv"], self.convs):
            h = F.relu(F.conv2d(h, w.to(h.dtype), layer.bias.to(h.dtype), stride=2, padding=self.kernel_size // 2))
        h = h.mean(dim=(-2, -1))
        for w, layer in zip(weights["dense"], self.dense):
            h = F.relu(h @ w.to(h.dtype).T + layer.bias.to(h.dtype))
        return h

    @staticmethod
    def output_range(n_pixels: int) -> float:
        r"""Largest compressed output: :math:`\log(1 + 4HW)`, the log1p of the largest possible count."""
        return math.log1p(4.0 * n_pixels)

    def raw_outputs(self, features: torch.Tensor, weights: dict, n_pixels: int) -> torch.Tensor:
        """Linear head on the compressed scale, then its inverse: (B, n, 4) in pixel units."""
        head = weights["head"].to(features.dtype)
        y = (features @ head.T + self.head.bias.to(features.dtype)).to(torch.float64)
        limit = self.output_range(n_pixels)
        y = y.reshape(len(y), len(self.thresholds), 4).clamp(-limit, limit)
        return expand_functionals(y)  # inverse of the log1p compression

    def extra_repr(self) -> str:
        return (
            f"n_thresholds={len(self.thresholds)}, connectivity={self.connectivity}, perimeter={self.perimeter!r}, "
            f"lipschitz_cap={self.lipschitz_cap}, spectral_norm={self.spectral_norm}, constrained={self.constrained}, "
            f"channels={self.channels}, hidden={self.hidden}, kernel_size={self.kernel_size}"
        )
