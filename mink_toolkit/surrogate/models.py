r"""The additive Minkowski surrogate, and what every surrogate shares.

See :mod:`mink_toolkit.surrogate` for the design; the conventional CNN it is
compared with is in :mod:`~mink_toolkit.surrogate.conventional`. Both models own their
input transform (:func:`normalise_rain`), share the output layout
(``(B, n_thresholds, 3)`` functionals, optionally β0) and the constrained
head (:func:`~mink_toolkit.surrogate.constraints.project_feasible`).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

import numpy as np

from .._runtime import check_compile, compiled
from .._validation import check_choice, check_grid, check_integer, check_positive, check_tensor
from ..thresholds import check_thresholds
from ..functionals import CONNECTIVITIES, DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER, PERIMETERS, combine_terms
from .constraints import project_feasible
from .norms import MaxMin, cap_norm, conv_operator_norm, matrix_norm

__all__ = [
    "RAIN_OFFSET",
    "ORDER_STATISTICS",
    "STATISTIC_TERMS",
    "order_statistics",
    "block_statistics",
    "exact_head",
    "normalise_rain",
    "SurrogateBase",
    "MinkowskiSurrogate",
    "DEFAULT_LIPSCHITZ_CAP",
    "check_lipschitz_cap",
    "with_lipschitz_cap",
]

RAIN_OFFSET = 0.01

#: Default ``lipschitz_cap`` of :class:`MinkowskiSurrogate`, the one place it is written: the cap on
#: the Lipschitz constant of each path from the field to one soft indicator (thresholds are about 0.1
#: apart in z, so steps this sharp still resolve them). The experiments' cap sweeps and every
#: "default cap" refer to this name.
DEFAULT_LIPSCHITZ_CAP = 16.0


def check_lipschitz_cap(value, name: str = "lipschitz_cap") -> float | None:
    """Return a Lipschitz cap as a float, or None (no cap), raising unless it is finite and > 0.

    Parameters
    ----------
    value : float or None
    name : str
        Argument name for the message.

    Returns
    -------
    float or None

    Examples
    --------
    >>> check_lipschitz_cap(16) , check_lipschitz_cap(None)
    (16.0, None)
    >>> check_lipschitz_cap(0.0)
    Traceback (most recent call last):
    ...
    ValueError: lipschitz_cap must be finite and > 0 (or None: no cap); got 0.0
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number > 0 or None (no cap), not a bool; got {value!r}")
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number > 0 or None (no cap); got {value!r} ({type(value).__name__})")
    cap = float(value)
    if not math.isfinite(cap) or cap <= 0:
        raise ValueError(f"{name} must be finite and > 0 (or None: no cap); got {cap}")
    return cap


def _check_flag(value, name: str) -> bool:
    """A switch: ``True`` or ``False`` (numpy's too), never a truthy string or number converted silently."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


ACTIVATIONS = ("maxmin", "relu")

#: The fixed level features: order statistics of the 2×2 block (a b / c d) at a lattice vertex,
#: with the configuration count of :mod:`mink_toolkit.functionals` each one's soft step sums to
#: and the squared ℓ2 Lipschitz constant of the map field -> vertex grid (each pixel is the
#: top-left member of one block, a member of two counted pairs per direction, of four blocks).
#: Every horizontal (vertical, diagonal) pair of the background-padded field is the top row
#: (left column, diagonal) of exactly one block, so the sums over blocks are the counts.
STATISTIC_TERMS = {
    "pixel": ("pixels", 1.0),
    "row_max": ("pairs_or", 2.0),
    "row_min": ("pairs_and", 2.0),
    "column_max": ("pairs_or", 2.0),
    "column_min": ("pairs_and", 2.0),
    "block_max": ("blocks_or", 4.0),
    "block_min": ("blocks_and", 4.0),
    "diagonal_max": ("diagonals_or", 2.0),
    "diagonal_min": ("diagonals_and", 2.0),
    "antidiagonal_max": ("diagonals_or", 2.0),
    "antidiagonal_min": ("diagonals_and", 2.0),
}

#: The order statistics of the edge perimeter (χ of either connectivity needs nothing more).
ORDER_STATISTICS = ("pixel", "row_max", "row_min", "column_max", "column_min", "block_max", "block_min")
#: The statistics the Crofton perimeter adds: both diagonals of the block.
DIAGONAL_STATISTICS = ("diagonal_max", "diagonal_min", "antidiagonal_max", "antidiagonal_min")


def order_statistics(perimeter: str = DEFAULT_PERIMETER) -> tuple[str, ...]:
    """Names of the order statistics a surrogate with this perimeter estimator uses."""
    check_choice(perimeter, PERIMETERS, "perimeter")
    return ORDER_STATISTICS + (DIAGONAL_STATISTICS if perimeter == "crofton" else ())


def block_statistics(blocks: torch.Tensor, names) -> list[torch.Tensor]:
    """Order statistics of 2×2 blocks: the one definition of :data:`STATISTIC_TERMS`' statistics.

    Parameters
    ----------
    blocks : torch.Tensor, shape (..., 4)
        The blocks' pixels in the order a b / c d (top row, then bottom row).
    names : sequence of str
        Keys of :data:`STATISTIC_TERMS`.

    Returns
    -------
    list of torch.Tensor, each of shape (...)

    Examples
    --------
    >>> [int(s) for s in block_statistics(torch.tensor([1.0, 0.0, 1.0, 1.0]), ("row_max", "row_min", "block_min"))]
    [1, 0, 0]
    """
    a, b, c, d = blocks.unbind(-1)
    # Every horizontal (vertical, diagonal) pair of the padded grid is the top row (left
    # column, diagonal) of exactly one block (see STATISTIC_TERMS).
    compute = {
        "pixel": lambda: a,
        "row_max": lambda: torch.maximum(a, b),
        "row_min": lambda: torch.minimum(a, b),
        "column_max": lambda: torch.maximum(a, c),
        "column_min": lambda: torch.minimum(a, c),
        "block_max": lambda: blocks.amax(-1),
        "block_min": lambda: blocks.amin(-1),
        "diagonal_max": lambda: torch.maximum(a, d),
        "diagonal_min": lambda: torch.minimum(a, d),
        "antidiagonal_max": lambda: torch.maximum(b, c),
        "antidiagonal_min": lambda: torch.minimum(b, c),
    }
    return [compute[name]() for name in names]


def exact_head(connectivity: int = DEFAULT_CONNECTIVITY, perimeter: str = DEFAULT_PERIMETER) -> torch.Tensor:
    """Weights of the exact estimator on the order statistics, derived from :func:`combine_terms`.

    ``combine_terms`` is linear in the configuration counts, so evaluating it
    on one count at a time gives each count's coefficient in (area,
    perimeter, χ), in pixel units; each order statistic takes the
    coefficient of the count it sums to (:data:`STATISTIC_TERMS`). The β0
    row starts at χ (β0 is not a local functional; it is learnt).

    Parameters
    ----------
    connectivity : {8, 4}
    perimeter : {"edges", "crofton"}

    Returns
    -------
    torch.Tensor, shape (4, n_statistics)
        Rows area, perimeter, β0, χ; columns :func:`order_statistics`.

    Examples
    --------
    >>> exact_head(8, "edges").tolist()  # A = F, P = E_or - E_and, χ8 = V_or - E_or + F
    [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, -1.0, 1.0, -1.0, 0.0, 0.0], [1.0, -1.0, 0.0, -1.0, 0.0, 1.0, 0.0], [1.0, -1.0, 0.0, -1.0, 0.0, 1.0, 0.0]]
    """
    statistics = order_statistics(perimeter)
    terms = {name for name, _ in STATISTIC_TERMS.values()}
    head = torch.zeros(4, len(statistics), dtype=torch.float64)
    for j, statistic in enumerate(statistics):
        term = STATISTIC_TERMS[statistic][0]
        unit = {t: float(t == term) for t in terms}
        area, length, euler = combine_terms(unit, connectivity=connectivity, perimeter=perimeter)
        head[:, j] = torch.tensor([area, length, euler, euler], dtype=torch.float64)
    return head


# --------------------------------------------------------------------------
# Input transform
# --------------------------------------------------------------------------


def normalise_rain(rain: torch.Tensor) -> torch.Tensor:
    r"""Map rain rate (mm/h) to the surrogate's input :math:`z = \log_{10}(1 + x/0.01)`.

    Dry pixels map to 0, so zero padding in :math:`z` is "background", the
    same convention as the exact estimator; thresholds spaced evenly in
    :math:`\log u` are (nearly) evenly spaced in :math:`z`.

    Parameters
    ----------
    rain : torch.Tensor, any shape, mm/h, >= 0, no NaN

    Returns
    -------
    torch.Tensor, same shape, dimensionless (decades above 0.01 mm/h)

    Examples
    --------
    >>> import torch
    >>> normalise_rain(torch.tensor([0.0, 0.09, 9.99])).tolist()
    [0.0, 1.0, 3.0]
    """
    return torch.log10(1.0 + rain / RAIN_OFFSET)


def _check_rain_tensor(rain) -> torch.Tensor:
    if not isinstance(rain, torch.Tensor):
        raise TypeError(f"rain must be a torch.Tensor shaped (B, 1, H, W) in mm/h; got {type(rain).__name__}")
    if not torch.is_floating_point(rain):
        raise TypeError(f"rain must be a floating-point tensor; got dtype {rain.dtype}")
    if rain.ndim != 4 or rain.shape[1] != 1:
        raise ValueError(
            f"rain must be shaped (B, 1, H, W) (one channel: rain rate in mm/h); got {tuple(rain.shape)}"
        )
    if rain.shape[-1] == 0 or rain.shape[-2] == 0 or rain.shape[0] == 0:
        raise ValueError(f"rain is empty: shape {tuple(rain.shape)}")
    if torch.isnan(rain).any():
        raise ValueError("rain contains NaN (outside radar coverage?); cut patches inside coverage")
    check_tensor(rain, "rain", finite=True)  # +inf would become a NaN output downstream
    if (rain < 0).any():
        raise ValueError(f"rain contains negative values (min {float(rain.min()):.3g} mm/h); rain rate must be >= 0")
    return rain


# --------------------------------------------------------------------------
# What every surrogate shares
# --------------------------------------------------------------------------


class SurrogateBase(nn.Module):
    """What every surrogate shares: its thresholds and estimators, input transform, output layout and head.

    Subclasses implement :meth:`layer_weights`, :meth:`features` (from the
    normalised input z) and :meth:`raw_outputs` (features -> raw (area,
    perimeter, β0, χ) per threshold in pixel units); :meth:`forward` is the
    same for all: check the rain field, :func:`normalise_rain`, features,
    raw outputs, then the constrained head (or none) and the units.
    """

    architecture = "base"

    def _set_common(self, thresholds, connectivity, perimeter, lipschitz_cap, constrained, pixel_size,
                    compile=False) -> None:
        # The surrogate's input is rain in mm/h: the one threshold check, with the rain rule.
        thresholds = check_thresholds(thresholds, units="mm/h")
        check_choice(connectivity, CONNECTIVITIES, "connectivity")
        check_choice(perimeter, PERIMETERS, "perimeter")
        constrained = _check_flag(constrained, "constrained")
        if constrained and (connectivity, perimeter) != (8, "edges"):
            raise ValueError(
                "constrained=True projects onto the feasible set of 8-connected χ and the edge perimeter; "
                f"got connectivity={connectivity}, perimeter={perimeter!r} (pass constrained=False)"
            )
        self.thresholds = thresholds
        self.connectivity = int(connectivity)
        self.perimeter = perimeter
        self.lipschitz_cap = check_lipschitz_cap(lipschitz_cap)
        self.constrained = constrained
        self.pixel_size = check_positive(pixel_size, "pixel_size")
        # Not ``self.compile``: that is nn.Module's method, which would compile the input check too.
        self.compiled = check_compile(compile)

    def _common_config(self) -> dict:
        return {
            "thresholds": [float(u) for u in self.thresholds],
            "connectivity": self.connectivity,
            "perimeter": self.perimeter,
            "lipschitz_cap": self.lipschitz_cap,
            "constrained": self.constrained,
            "pixel_size": self.pixel_size,
        }

    def config(self) -> dict:  # pragma: no cover - abstract
        """Settings that define the model (stored in checkpoints)."""
        raise NotImplementedError

    def layer_weights(self) -> dict:  # pragma: no cover - abstract
        """Effective weights (capped unless ``lipschitz_cap`` is None)."""
        raise NotImplementedError

    def features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:  # pragma: no cover
        """Features of the normalised input, the vector the head reads."""
        raise NotImplementedError

    def raw_outputs(self, features: torch.Tensor, weights: dict, n_pixels: int) -> torch.Tensor:  # pragma: no cover
        """Raw (area, perimeter, β0, χ) per threshold in pixel units, shape (B, n, 4), for fields of n_pixels."""
        raise NotImplementedError

    def forward(self, rain: torch.Tensor, *, return_components: bool = False):
        """Functionals of rain fields.

        Parameters
        ----------
        rain : torch.Tensor, shape (B, 1, H, W)
            Rain rate in mm/h (>= 0, no NaN).
        return_components : bool
            Also return β0.

        Returns
        -------
        functionals : torch.Tensor, shape (B, n_thresholds, 3), float64
        components : torch.Tensor, shape (B, n_thresholds), float64
            Only with ``return_components=True``.

        Notes
        -----
        With ``self.compiled`` (the ``compile=True`` of the constructor) the
        input is checked eagerly and the rest (normalisation, features,
        head) runs as one graph of ``torch.compile(fullgraph=True,
        dynamic=False)``, compiled at the first call for each input shape
        and grad mode, its code cached in the toolkit's cache folder
        (:func:`mink_toolkit._runtime.compile_cache_dir`). It agrees with the
        eager forward to float32 rounding, not bit for bit.
        """
        return self._forward(rain, return_components, getattr(self, "compiled", False))

    def _forward(self, rain: torch.Tensor, return_components: bool, compile: bool):
        """:meth:`forward`, eager or compiled (the training loops choose per call)."""
        rain = _check_rain_tensor(rain)
        if compile:  # one compiled graph per architecture and configuration (instances share it)
            out = compiled(_surrogate_outputs, repr(self.config()))(self, rain)
        else:
            out = self.normalised_outputs(normalise_rain(rain))
        functionals = out[..., [0, 1, 3]]
        return (functionals, out[..., 2]) if return_components else functionals

    def normalised_outputs(self, z: torch.Tensor) -> torch.Tensor:
        """The final outputs as a function of the normalised input: the map the certificate bounds.

        Parameters
        ----------
        z : torch.Tensor, shape (B, 1, H, W)
            :func:`normalise_rain` of the rain field (>= 0).

        Returns
        -------
        torch.Tensor, shape (B, n_thresholds, 4), float64
            Area (times ``pixel_size``²), perimeter (times ``pixel_size``),
            β0 and χ per threshold, after the constrained head if there is one.
        """
        n_pixels = z.shape[-2] * z.shape[-1]
        weights = self.layer_weights()
        raw = self.raw_outputs(self.features(z, weights), weights, n_pixels)
        # Training steps pass each output's gradient to its own raw value only (see project_feasible).
        out = (project_feasible(raw, n_pixels, bound_gradients=not self.training) if self.constrained
               else raw.to(torch.float64))
        s = self.pixel_size
        return out * torch.tensor([s**2, s, 1.0, 1.0], dtype=out.dtype, device=out.device)


def _surrogate_outputs(model: SurrogateBase, rain: torch.Tensor, config: str = "") -> torch.Tensor:
    """The compiled core of a surrogate's forward: checked rain -> :meth:`SurrogateBase.normalised_outputs`.

    ``config`` (the model's configuration, unused here) keys the cache of
    :func:`~mink_toolkit._runtime.compiled`, so that each configuration has
    a compiled function, and a recompilation budget, of its own.
    """
    return model.normalised_outputs(normalise_rain(rain))


class SoftStepSurrogate(SurrogateBase):
    """What the surrogates built on soft steps of the normalised field share (additive, configurations).

    The thresholds in units of z (the buffer ``threshold_levels``) and the
    cap on the steps' slopes that ``lipschitz_cap`` implies.
    """

    def _register_threshold_levels(self) -> None:
        self.register_buffer(
            "threshold_levels", normalise_rain(torch.as_tensor(self.thresholds, dtype=torch.float32)), persistent=False
        )

    @property
    def max_slope(self) -> float | None:
        """Largest step slope allowed: :math:`2L` for ``lipschitz_cap`` L (None without a cap)."""
        return None if self.lipschitz_cap is None else 2.0 * self.lipschitz_cap


class MinkowskiSurrogate(SoftStepSurrogate):
    r"""Neural emulator of :func:`mink_toolkit.minkowski_functionals` for rain fields.

    Maps rain rate ``(B, 1, H, W)`` in mm/h to ``(B, n_thresholds, 3)``
    (area, perimeter, euler_characteristic with the estimators chosen by
    ``connectivity`` and ``perimeter``, as :func:`mink_toolkit.minkowski_functionals`;
    pixel units times powers of ``pixel_size``), float64, and optionally β0.

    Architecture (see the module notes for why):

    1. :math:`z` = :func:`normalise_rain` of the input;
    2. at every lattice vertex :math:`v` the 2×2 block of :math:`z` around it
       gives *level features* :math:`s_j(v)` in units of z: the order
       statistics the exact estimator is made of (:func:`order_statistics`:
       the pixel, max and min of the horizontal and the vertical pair, max
       and min of the block, and for the Crofton perimeter max and min of
       both diagonals), and ``levels`` more learnt by a local network
       (2×2 convolution, zero = dry padding, ``depth - 1`` 1×1 convolutions,
       1-Lipschitz activations, a linear map);
    3. each threshold :math:`c_k` (normalised) turns them into soft
       indicators :math:`\sigma(a_j (s_j(v) - c_k) + b_j)` with learnt
       slopes :math:`a_j > 0` and offsets :math:`b_j`;
    4. global sum pooling over the :math:`(H+1)(W+1)` vertices gives the
       features :math:`F_{k} \in \mathbb R^{n_s + \mathrm{levels}}`
       (:meth:`features`);
    5. a bias-free linear head gives raw (area, perimeter, β0, χ) per
       threshold; with ``constrained=True`` they are projected onto the
       feasible set (:func:`project_feasible`).

    With hard steps the exact estimator lies in this family (for 8-connected
    χ and the edge perimeter: area = pixel count, perimeter = pair maxima −
    pair minima, χ = block maxima − pair maxima + pixels), and the head is
    initialised there, with weights derived from
    :func:`~mink_toolkit.functionals.combine_terms` (:func:`exact_head`), the
    toolkit's one definition of the functionals; training adapts
    the steps to OPERA's quantised values, learns β0 (which is not local)
    and corrects the smoothing that a finite slope brings. That is why few
    parameters and a few minutes of CPU suffice, where a conventional CNN
    with mean pooling and a dense head (the paper's) must discover additivity.

    Parameters
    ----------
    thresholds : 1-D array_like, strictly increasing, > 0, mm/h
    connectivity : {8, 4}, default 8
        Foreground connectivity of χ, as in :func:`mink_toolkit.minkowski_functionals`.
    perimeter : {"edges", "crofton"}, default "edges"
        Boundary-length estimator, as there.
    lipschitz_cap : float or None, default :data:`DEFAULT_LIPSCHITZ_CAP` (16)
        The cap L on the Lipschitz constant of each path from the field to
        one soft indicator: order statistics are 2-Lipschitz from the field
        to their vertex grid (each pixel lies in 4 blocks); the learnt
        path's entry convolution is capped at :attr:`ENTRY_NORM_CAP` (2),
        its 1×1 convolutions and level map at 1; and the steps' slopes at
        :math:`a_j \le 2L` (a sigmoid of slope a is a/4-Lipschitz); the head
        at ``head_norm_cap``. Thresholds are 0.1 apart in z: a larger L
        allows sharper steps (more accurate), a smaller one smoother
        gradients. None: no cap on any weight (the plain baseline).
    constrained : bool, default True
        Project the outputs onto the feasible set; plain linear outputs when
        False. The feasible set is that of 8-connected χ and the edge
        perimeter (:func:`~mink_toolkit.surrogate.constraints.geometric_violations`),
        so ``constrained=True`` requires those estimators.
    width : int, default 16
        Channels of the local network (even, for MaxMin).
    depth : int, default 3
        Layers of the local network before the level map (the 2×2 entry
        convolution and ``depth - 1`` 1×1 convolutions).
    levels : int, default 4
        Number of learnt level features (besides the order statistics).
    use_order_statistics : bool, default True
        Include the hand-computed order statistics of the exact estimator
        as fixed level features and start the head at the estimator's
        weights. With False every level feature is learnt by the local
        network and the head starts random: the knowledge built in is then
        only additivity (sum pooling) and locality (2×2 receptive field);
        MaxMin activations can represent pair and block maxima and minima,
        so the exact estimator stays reachable.
    head_norm_cap : float, default 4
        Unless ``lipschitz_cap`` is None, the cap on the head's spectral
        norm (the exact combination has norm 2.6).
    activation : {"maxmin", "relu"}, default "maxmin"
    pixel_size : float, default 1
        Area is returned times its square, perimeter times it.
    norm_grid : (int, int), default (129, 129)
        Grid of the entry convolution's operator norm used for the cap
        (that of a 128 × 128 input); :func:`lipschitz_upper_bound` recomputes
        it for the actual input size.
    compile : bool, default False
        Run :meth:`forward` compiled after its input check (see
        :meth:`~mink_toolkit.surrogate.models.SurrogateBase.forward`); kept
        as ``self.compiled``, not part of :meth:`config` (a checkpoint is
        the same either way).

    Examples
    --------
    >>> import torch
    >>> model = MinkowskiSurrogate([0.5, 2.0], width=8, depth=2)
    >>> model(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 2, 3])
    """

    architecture = "additive"
    #: Cap on the entry convolution's operator norm: the 2-Lipschitz constant of the order statistics'
    #: map field -> vertex grid, so that the learnt path is capped like the fixed ones.
    ENTRY_NORM_CAP = 2.0

    def __init__(
        self,
        thresholds,
        *,
        connectivity: int = DEFAULT_CONNECTIVITY,
        perimeter: str = DEFAULT_PERIMETER,
        lipschitz_cap: float | None = DEFAULT_LIPSCHITZ_CAP,
        constrained: bool = True,
        width: int = 16,
        depth: int = 3,
        levels: int = 4,
        use_order_statistics: bool = True,
        head_norm_cap: float = 4.0,
        activation: str = "maxmin",
        pixel_size: float = 1.0,
        norm_grid: tuple[int, int] = (129, 129),
        compile: bool = False,
    ) -> None:
        super().__init__()
        self._set_common(thresholds, connectivity, perimeter, lipschitz_cap, constrained, pixel_size, compile)
        for name, value, low in (("width", width, 1), ("depth", depth, 1), ("levels", levels, 0)):
            check_integer(value, name, minimum=low)
        use_order_statistics = _check_flag(use_order_statistics, "use_order_statistics")
        if not use_order_statistics and levels < 1:
            raise ValueError("use_order_statistics=False needs levels >= 1 learnt level features")
        check_choice(activation, ACTIVATIONS, "activation")
        if activation == "maxmin" and width % 2:
            raise ValueError(f"width must be even for activation='maxmin'; got {width}")
        self.use_order_statistics = use_order_statistics
        # Without the hand-computed order statistics every level feature is learnt (and the head random).
        self.statistics = order_statistics(perimeter) if self.use_order_statistics else ()
        self.width = int(width)
        self.depth = int(depth)
        self.levels = int(levels)
        self.head_norm_cap = check_positive(head_norm_cap, "head_norm_cap")
        self.activation = activation
        self.norm_grid = check_grid(norm_grid, "norm_grid", minimum=2)  # the 2×2 entry kernel
        self._register_threshold_levels()
        m = self.width
        self.entry_weight = nn.Parameter(torch.randn(m, 1, 2, 2) * 0.5)
        self.entry_bias = nn.Parameter(torch.zeros(m))
        self.hidden_weights = nn.ParameterList(
            [nn.Parameter(torch.randn(m, m) / math.sqrt(m)) for _ in range(self.depth - 1)]
        )
        self.hidden_biases = nn.ParameterList([nn.Parameter(torch.zeros(m)) for _ in range(self.depth - 1)])
        self.level_weight = nn.Parameter(torch.randn(self.levels, m) / math.sqrt(m))
        self.level_bias = nn.Parameter(torch.zeros(self.levels))
        n_stats = len(self.statistics)
        n_features = n_stats + self.levels
        # Initial slope 20 per unit z: a step half a threshold spacing (0.1) wide; then learnt.
        self.log_slope = nn.Parameter(torch.full((n_features,), math.log(20.0)))
        self.step_offset = nn.Parameter(torch.zeros(n_features))
        head = torch.zeros(4, n_features)
        if n_stats:
            head[:, :n_stats] = exact_head(self.connectivity, self.perimeter).float()
            head[:, n_stats:] = torch.randn(4, self.levels) * 0.01
        else:
            # No knowledge of the estimator's weights: a random head of the usual scale.
            head[:] = torch.randn(4, self.levels) / math.sqrt(self.levels)
        self.head_weight = nn.Parameter(head)
        self.act = MaxMin() if activation == "maxmin" else nn.ReLU()

    # -- configuration ----------------------------------------------------
    def config(self) -> dict:
        """Settings that define the model (stored in checkpoints)."""
        return {
            "architecture": self.architecture,
            **self._common_config(),
            "width": self.width,
            "depth": self.depth,
            "levels": self.levels,
            "use_order_statistics": self.use_order_statistics,
            "head_norm_cap": self.head_norm_cap,
            "activation": self.activation,
            "norm_grid": list(self.norm_grid),
        }

    # -- weights ----------------------------------------------------------
    def layer_weights(self) -> dict[str, object]:
        """Effective weights: capped unless ``lipschitz_cap`` is None.

        Returns
        -------
        dict
            ``entry`` (m, 1, 2, 2), ``hidden`` (list of (m, m)), ``level``
            (levels, m), ``slope`` (levels,), ``head`` (4, levels).
        """
        entry = self.entry_weight
        hidden = list(self.hidden_weights)
        level = self.level_weight
        slope = torch.exp(self.log_slope)
        head = self.head_weight
        if self.lipschitz_cap is not None:
            entry = cap_norm(entry, conv_operator_norm(entry, self.norm_grid), self.ENTRY_NORM_CAP)
            hidden = [cap_norm(w, matrix_norm(w), 1.0) for w in hidden]
            level = cap_norm(level, matrix_norm(level), 1.0)
            slope = torch.clamp(slope, max=self.max_slope)
            head = cap_norm(head, matrix_norm(head), self.head_norm_cap)
        return {"entry": entry, "hidden": hidden, "level": level, "slope": slope, "head": head}

    # -- forward ----------------------------------------------------------
    def level_features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        """Level features :math:`s_j(v)` at every lattice vertex, shape (B, (H+1)(W+1), n_statistics + levels)."""
        weights = self.layer_weights() if weights is None else weights
        # The 2×2 blocks (a b / c d) around every lattice vertex, background (z = 0) outside.
        blocks = F.unfold(F.pad(z, (1, 1, 1, 1)), kernel_size=2).transpose(1, 2)  # (B, P, 4)
        stats = block_statistics(blocks, self.statistics)
        if self.levels == 0:
            return torch.stack(stats, dim=-1)
        # Learnt features: unfold + matmul is the 2×2 convolution with padding 1, channels last.
        dt = z.dtype  # weights follow the input's precision (the attack works in float64)
        h = self.act(blocks @ weights["entry"].reshape(self.width, 4).to(dt).T + self.entry_bias.to(dt))
        for w, bias in zip(weights["hidden"], self.hidden_biases):
            h = self.act(h @ w.to(dt).T + bias.to(dt))
        learnt = h @ weights["level"].to(dt).T + self.level_bias.to(dt)
        return torch.cat([torch.stack(stats, dim=-1), learnt], dim=-1) if stats else learnt

    def features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        r"""Sum-pooled soft indicators of each threshold, from the *normalised* input.

        Parameters
        ----------
        z : torch.Tensor, shape (B, 1, H, W)
            :func:`normalise_rain` of the rain field.

        Returns
        -------
        torch.Tensor, shape (B, n_thresholds, n_statistics + levels)
            :math:`F_{kj} = \sum_v \sigma(a_j (s_j(v) - c_k) + b_j)`;
            flattened, the vector that :func:`lipschitz_upper_bound` certifies.
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != 1:
            raise ValueError(f"z must be a tensor shaped (B, 1, H, W); got {getattr(z, 'shape', type(z))}")
        weights = self.layer_weights() if weights is None else weights
        s = self.level_features(z, weights)  # (B, P, J)
        c = self.threshold_levels.to(s.dtype)
        slope, offset = weights["slope"].to(s.dtype), self.step_offset.to(s.dtype)
        t = slope * (s[:, None, :, :] - c[None, :, None, None]) + offset  # (B, n, P, J)
        return torch.sigmoid(t).sum(dim=2)

    def raw_outputs(self, features: torch.Tensor, weights: dict, n_pixels: int) -> torch.Tensor:
        """The bias-free linear head: (B, n, 4) raw area, perimeter, β0, χ in pixel units."""
        return features @ weights["head"].to(features.dtype).T

    def extra_repr(self) -> str:
        return (
            f"n_thresholds={len(self.thresholds)}, connectivity={self.connectivity}, perimeter={self.perimeter!r}, "
            f"lipschitz_cap={self.lipschitz_cap}, constrained={self.constrained}, width={self.width}, depth={self.depth}, "
            f"levels={self.levels}, head_norm_cap={self.head_norm_cap:g}, activation={self.activation!r}"
        )


def with_lipschitz_cap(model, lipschitz_cap: float):
    """A copy of a trained surrogate under another Lipschitz cap (no retraining).

    The caps act in the forward pass (weights scaled down, slopes clipped),
    so lowering ``lipschitz_cap`` smooths the model at once, at the price
    of accuracy; raising it beyond what training used changes nothing.

    Parameters
    ----------
    model : MinkowskiSurrogate, with a ``lipschitz_cap`` (not None)
    lipschitz_cap : float, > 0

    Returns
    -------
    MinkowskiSurrogate
    """
    if not isinstance(model, MinkowskiSurrogate):
        raise TypeError(f"with_lipschitz_cap needs a MinkowskiSurrogate (its caps are set by lipschitz_cap); "
                        f"got {type(model).__name__}")
    if model.lipschitz_cap is None:
        raise ValueError("with_lipschitz_cap needs a model built with a lipschitz_cap (it has lipschitz_cap=None)")
    cap = check_lipschitz_cap(lipschitz_cap)
    if cap is None:
        raise ValueError("lipschitz_cap must be finite and > 0 here (a cap to apply); got None")
    clone = copy.deepcopy(model)
    clone.lipschitz_cap = cap
    return clone.eval()
