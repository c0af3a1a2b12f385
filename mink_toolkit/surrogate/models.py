r"""The surrogate models: the additive Minkowski surrogate and a conventional CNN.

See :mod:`mink_toolkit.surrogate` for the design. Both models own their
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

from .._validation import check_choice, check_grid, check_integer, check_positive, check_tensor, check_thresholds
from ..functionals import CONNECTIVITIES, PERIMETERS, combine_terms, expand_functionals
from .constraints import project_feasible
from .norms import MaxMin, cap_norm, conv_norm_power_iteration, conv_operator_norm, matrix_norm

__all__ = [
    "RAIN_OFFSET",
    "ORDER_STATISTICS",
    "STATISTIC_TERMS",
    "order_statistics",
    "exact_head",
    "normalise_rain",
    "SurrogateBase",
    "MinkowskiSurrogate",
    "ConventionalSurrogate",
    "ARCHITECTURES",
    "with_lipschitz",
]

RAIN_OFFSET = 0.01

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


def order_statistics(perimeter: str = "edges") -> tuple[str, ...]:
    """Names of the order statistics a surrogate with this perimeter estimator uses."""
    check_choice(perimeter, PERIMETERS, "perimeter")
    return ORDER_STATISTICS + (DIAGONAL_STATISTICS if perimeter == "crofton" else ())


def exact_head(connectivity: int = 8, perimeter: str = "edges") -> torch.Tensor:
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

    def _set_common(self, thresholds, connectivity, perimeter, lipschitz, constrained, pixel_size) -> None:
        thresholds = check_thresholds(thresholds)
        if (thresholds <= 0).any():
            raise ValueError(f"thresholds must be > 0 mm/h; got {thresholds.tolist()}")
        check_choice(connectivity, CONNECTIVITIES, "connectivity")
        check_choice(perimeter, PERIMETERS, "perimeter")
        if constrained and (connectivity, perimeter) != (8, "edges"):
            raise ValueError(
                "constrained=True projects onto the feasible set of 8-connected χ and the edge perimeter; "
                f"got connectivity={connectivity}, perimeter={perimeter!r} (pass constrained=False)"
            )
        self.thresholds = thresholds
        self.connectivity = int(connectivity)
        self.perimeter = perimeter
        self.lipschitz = bool(lipschitz)
        self.constrained = bool(constrained)
        self.pixel_size = check_positive(pixel_size, "pixel_size")

    def _common_config(self) -> dict:
        return {
            "thresholds": [float(u) for u in self.thresholds],
            "connectivity": self.connectivity,
            "perimeter": self.perimeter,
            "lipschitz": self.lipschitz,
            "constrained": self.constrained,
            "pixel_size": self.pixel_size,
        }

    def config(self) -> dict:  # pragma: no cover - abstract
        """Settings that define the model (stored in checkpoints)."""
        raise NotImplementedError

    def layer_weights(self) -> dict:  # pragma: no cover - abstract
        """Effective (capped when ``lipschitz=True``) weights."""
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
        """
        out = self.normalised_outputs(normalise_rain(_check_rain_tensor(rain)))
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
        out = project_feasible(raw, n_pixels) if self.constrained else raw.to(torch.float64)
        s = self.pixel_size
        return out * torch.tensor([s**2, s, 1.0, 1.0], dtype=out.dtype, device=out.device)


class MinkowskiSurrogate(SurrogateBase):
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
    lipschitz : bool, default True
        Norm-constrain every affine map and the step slopes (see
        ``local_lipschitz``); the plain CNN baseline when False.
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
    local_lipschitz : float, default 16
        With ``lipschitz=True``, the cap on the Lipschitz constant of each
        path from the field to one soft indicator: order statistics are
        2-Lipschitz from the field to their vertex grid (each pixel lies in
        4 blocks); the learnt path's entry convolution is capped at 2, its
        1×1 convolutions and level map at 1; and the steps' slopes at
        :math:`a_j \le 2L` (a sigmoid of slope a is a/4-Lipschitz).
        Thresholds are 0.1 apart in z: a larger L allows sharper steps (more
        accurate), a smaller one smoother gradients.
    head_lipschitz : float, default 4
        With ``lipschitz=True``, the cap on the head's spectral norm (the
        exact combination has norm 2.6).
    activation : {"maxmin", "relu"}, default "maxmin"
    pixel_size : float, default 1
        Area is returned times its square, perimeter times it.
    norm_grid : (int, int), default (129, 129)
        Grid of the entry convolution's operator norm used for the cap
        (that of a 128 × 128 input); :func:`lipschitz_upper_bound` recomputes
        it for the actual input size.

    Examples
    --------
    >>> import torch
    >>> model = MinkowskiSurrogate([0.5, 2.0], width=8, depth=2)
    >>> model(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 2, 3])
    """

    architecture = "additive"
    ENTRY_CAP = 2.0

    def __init__(
        self,
        thresholds,
        *,
        connectivity: int = 8,
        perimeter: str = "edges",
        lipschitz: bool = True,
        constrained: bool = True,
        width: int = 16,
        depth: int = 3,
        levels: int = 4,
        use_order_statistics: bool = True,
        local_lipschitz: float = 16.0,
        head_lipschitz: float = 4.0,
        activation: str = "maxmin",
        pixel_size: float = 1.0,
        norm_grid: tuple[int, int] = (129, 129),
    ) -> None:
        super().__init__()
        self._set_common(thresholds, connectivity, perimeter, lipschitz, constrained, pixel_size)
        for name, value, low in (("width", width, 1), ("depth", depth, 1), ("levels", levels, 0)):
            check_integer(value, name, minimum=low)
        if not use_order_statistics and levels < 1:
            raise ValueError("use_order_statistics=False needs levels >= 1 learnt level features")
        check_choice(activation, ACTIVATIONS, "activation")
        if activation == "maxmin" and width % 2:
            raise ValueError(f"width must be even for activation='maxmin'; got {width}")
        self.use_order_statistics = bool(use_order_statistics)
        # Without the hand-computed order statistics every level feature is learnt (and the head random).
        self.statistics = order_statistics(perimeter) if self.use_order_statistics else ()
        self.width = int(width)
        self.depth = int(depth)
        self.levels = int(levels)
        self.local_lipschitz = check_positive(local_lipschitz, "local_lipschitz")
        self.head_lipschitz = check_positive(head_lipschitz, "head_lipschitz")
        self.activation = activation
        self.norm_grid = check_grid(norm_grid, "norm_grid", minimum=2)  # the 2×2 entry kernel
        self.register_buffer(
            "threshold_levels", normalise_rain(torch.as_tensor(self.thresholds, dtype=torch.float32)), persistent=False
        )
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
            "local_lipschitz": self.local_lipschitz,
            "head_lipschitz": self.head_lipschitz,
            "activation": self.activation,
            "norm_grid": list(self.norm_grid),
        }

    @property
    def max_slope(self) -> float:
        """Largest step slope allowed with ``lipschitz=True``: :math:`2L`."""
        return 2.0 * self.local_lipschitz

    # -- weights ----------------------------------------------------------
    def layer_weights(self) -> dict[str, object]:
        """Effective weights: capped when ``lipschitz=True``.

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
        if self.lipschitz:
            entry = cap_norm(entry, conv_operator_norm(entry, self.norm_grid), self.ENTRY_CAP)
            hidden = [cap_norm(w, matrix_norm(w), 1.0) for w in hidden]
            level = cap_norm(level, matrix_norm(level), 1.0)
            slope = torch.clamp(slope, max=self.max_slope)
            head = cap_norm(head, matrix_norm(head), self.head_lipschitz)
        return {"entry": entry, "hidden": hidden, "level": level, "slope": slope, "head": head}

    # -- forward ----------------------------------------------------------
    def level_features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        """Level features :math:`s_j(v)` at every lattice vertex, shape (B, (H+1)(W+1), n_statistics + levels)."""
        weights = self.layer_weights() if weights is None else weights
        # The 2×2 blocks (a b / c d) around every lattice vertex, background (z = 0) outside.
        blocks = F.unfold(F.pad(z, (1, 1, 1, 1)), kernel_size=2).transpose(1, 2)  # (B, P, 4)
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
        stats = [compute[name]() for name in self.statistics]
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
            f"lipschitz={self.lipschitz}, constrained={self.constrained}, width={self.width}, depth={self.depth}, levels={self.levels}, "
            f"local_lipschitz={self.local_lipschitz:g}, head_lipschitz={self.head_lipschitz:g}, activation={self.activation!r}"
        )


def with_lipschitz(model, local_lipschitz: float):
    """A copy of a trained surrogate under another Lipschitz cap (no retraining).

    The caps act in the forward pass (weights scaled down, slopes clipped),
    so lowering ``local_lipschitz`` smooths the model at once, at the price
    of accuracy; raising it beyond what training used changes nothing.

    Parameters
    ----------
    model : MinkowskiSurrogate, with ``lipschitz=True``
    local_lipschitz : float, > 0

    Returns
    -------
    MinkowskiSurrogate
    """
    if not isinstance(model, MinkowskiSurrogate):
        raise TypeError(f"with_lipschitz needs a MinkowskiSurrogate (its caps are set by local_lipschitz); "
                        f"got {type(model).__name__}")
    if not getattr(model, "lipschitz", False):
        raise ValueError("with_lipschitz needs a model built with lipschitz=True")
    clone = copy.deepcopy(model)
    clone.local_lipschitz = check_positive(local_lipschitz, "local_lipschitz")
    return clone.eval()


# --------------------------------------------------------------------------
# The conventional baseline
# --------------------------------------------------------------------------


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

    * ``lipschitz=True`` (certified): every convolution is divided by its
      exact operator norm on the grid of a ``norm_grid`` input whenever that
      exceeds 1 (Sedghi, Gupta & Long 2019; :func:`conv_operator_norm`),
      every dense layer by its spectral norm (cap 1), and the head by its
      spectral norm (cap ``head_lipschitz``); ReLU and biases are
      1-Lipschitz, and there is no normalisation layer.
      :func:`lipschitz_upper_bound` recomputes the norms for the actual
      input size. With ``training_norms="power_iteration"`` a training
      forward pass (``model.train()``) caps the convolutions with
      :func:`~mink_toolkit.surrogate.norms.conv_norm_power_iteration`
      instead — one warm-started power-iteration step per pass, an estimate
      from below that tracks the exact norm as the weights move, at a
      fraction of the cost on large grids; in eval mode, and so in
      everything evaluated and certified, the caps use the exact norms.
    * ``spectral_norm=True`` (the published recipe):
      ``torch.nn.utils.parametrizations.spectral_norm`` on every convolution
      and dense layer — a power iteration on the kernel reshaped to a
      ``(c_out, c_in·k·k)`` matrix, which for a convolution is **not** its
      operator norm (the true norm can be larger), so nothing is certified
      by it; the head is capped at ``head_lipschitz`` exactly as above, so
      the two bounded variants differ only in how the convolutions are
      normalised. :func:`lipschitz_upper_bound` still gives a sound bound
      from the exact norms of the normalised weights.
    * neither (plain).

    Parameters
    ----------
    thresholds : 1-D array_like, strictly increasing, > 0, mm/h
    connectivity, perimeter
        Estimators of the targets (see :class:`MinkowskiSurrogate`).
    lipschitz : bool, default True
        Certified caps (see above).
    constrained : bool, default True
    channels : sequence of int, default (16, 32, 64, 64)
        Output channels of the strided convolution blocks.
    hidden : sequence of int, default (128,)
        Widths of the dense layers after pooling (at least one).
    kernel_size : int, default 3
        Odd.
    head_lipschitz : float, default 64
        With ``lipschitz=True`` or ``spectral_norm=True``, the cap on the
        head's spectral norm.
    spectral_norm : bool, default False
        The published recipe (see above); excludes ``lipschitz=True``.
    pixel_size : float, default 1
    norm_grid : (int, int), default (128, 128)
        Input size at which the convolutions' norms are capped in training.
    training_norms : {"exact", "power_iteration"}, default "exact"
        How a training forward pass of a ``lipschitz=True`` model computes the
        convolutions' norms for the caps (see above); eval mode always uses
        the exact norms.

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
        connectivity: int = 8,
        perimeter: str = "edges",
        lipschitz: bool = True,
        constrained: bool = True,
        channels=(16, 32, 64, 64),
        hidden=(128,),
        kernel_size: int = 3,
        head_lipschitz: float = 64.0,
        spectral_norm: bool = False,
        pixel_size: float = 1.0,
        norm_grid: tuple[int, int] = (128, 128),
        training_norms: str = "exact",
    ) -> None:
        super().__init__()
        self._set_common(thresholds, connectivity, perimeter, lipschitz, constrained, pixel_size)
        for name, values in (("channels", channels), ("hidden", hidden)):
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"{name} must be a non-empty sequence of positive integers; got {values!r}")
            for v in values:
                check_integer(v, f"{name} entries", minimum=1)
        check_integer(kernel_size, "kernel_size", minimum=1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a 'same' padding of k // 2); got {kernel_size}")
        if spectral_norm and lipschitz:
            raise ValueError("spectral_norm=True is the published (uncertified) recipe; pass lipschitz=False with it")
        self.channels = tuple(int(c) for c in channels)
        self.hidden = tuple(int(c) for c in hidden)
        self.kernel_size = int(kernel_size)
        self.head_lipschitz = check_positive(head_lipschitz, "head_lipschitz")
        self.spectral_norm = bool(spectral_norm)
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
        if self.lipschitz and self.training_norms == "power_iteration":
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
            "head_lipschitz": self.head_lipschitz,
            "spectral_norm": self.spectral_norm,
            "norm_grid": list(self.norm_grid),
            "training_norms": self.training_norms,
        }

    def layer_weights(self) -> dict[str, object]:
        """Effective weights: norm-capped when ``lipschitz=True``, spectrally normalised with ``spectral_norm``.

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
        if self.lipschitz:
            grids = _conv_grids(self.norm_grid, len(conv), self.kernel_size)
            conv = [
                cap_norm(w, conv_norm_power_iteration(w, g, getattr(self, f"power_vectors_{i}"))
                        if self.training and i in self._power_layers else conv_operator_norm(w, g), 1.0)
                for i, (w, g) in enumerate(zip(conv, grids))
            ]
            dense = [cap_norm(w, matrix_norm(w), 1.0) for w in dense]
        if self.lipschitz or self.spectral_norm:
            head = cap_norm(head, matrix_norm(head), self.head_lipschitz)
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
            f"lipschitz={self.lipschitz}, spectral_norm={self.spectral_norm}, constrained={self.constrained}, "
            f"channels={self.channels}, hidden={self.hidden}, kernel_size={self.kernel_size}"
        )


#: Surrogate classes by the ``architecture`` of their configuration (checkpoints without one are additive).
ARCHITECTURES = {"additive": MinkowskiSurrogate, "conventional": ConventionalSurrogate}
