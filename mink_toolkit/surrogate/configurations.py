r"""A surrogate that learns how to combine soft 2×2 configuration counts.

:class:`ConfigurationSurrogate` keeps what the additive architecture
(:class:`~mink_toolkit.surrogate.models.MinkowskiSurrogate`) builds in —
additivity (sum pooling over lattice vertices) and locality (the 2×2 block
around each vertex) — but not the exact estimator's order statistics or
its combination weights. Every function of a *binary* 2×2 block is a
linear combination of the 16 indicators of the block's configurations, so
every 2×2-local estimator of area, perimeter and χ (either connectivity,
the edge or the Crofton perimeter) is a linear map of the 16 configuration
counts (:mod:`mink_toolkit.functionals`). The model relaxes those counts
as the analytic relaxation does (:mod:`mink_toolkit.relax`, product
t-norm): a learnt soft step per pixel, products of steps and their
complements per configuration, summed over vertices; a random linear head
then has to *learn* the combination.

Why it exists: the additive architecture without its order statistics
(its level features learnt by a 2×2 MaxMin network, read by a linear head
from pooled sums) learns area and perimeter but not χ, a signed difference
of pooled counts that nearly cancel; the configuration counts give the
head per-vertex contributions to combine instead
(``python -m mink_toolkit reproduce surrogate``, rows ``additive_learnt``
and ``additive_configurations``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive
from ..functionals import DEFAULT_CONNECTIVITY, DEFAULT_PERIMETER
from .models import DEFAULT_LIPSCHITZ_CAP, SoftStepSurrogate, block_statistics, exact_head, order_statistics
from .norms import cap_norm, matrix_norm

__all__ = ["ConfigurationSurrogate", "CONFIGURATIONS", "configuration_head"]

#: The 15 configurations of a 2×2 block (a b / c d) that are not all background, as (a, b, c, d)
#: bits in the order of :meth:`ConfigurationSurrogate.features` (binary a b c d, 0001 to 1111).
CONFIGURATIONS = tuple(tuple((k >> (3 - i)) & 1 for i in range(4)) for k in range(1, 16))


def configuration_head(connectivity: int = DEFAULT_CONNECTIVITY, perimeter: str = DEFAULT_PERIMETER) -> torch.Tensor:
    """Each configuration's contribution to (area, perimeter, β0, χ): the exact estimator in this basis.

    The exact estimator sums, over lattice vertices, the order statistics of
    the block weighted by :func:`~mink_toolkit.surrogate.models.exact_head`
    (derived from :func:`~mink_toolkit.functionals.combine_terms`), so a
    configuration contributes those weights times its statistics. The β0
    row is χ's (as there). Used by the tests (with hard steps the model
    with this head *is* the exact estimator), never by training, which
    starts from a random head.

    Parameters
    ----------
    connectivity : {8, 4}
    perimeter : {"edges", "crofton"}

    Returns
    -------
    torch.Tensor, shape (4, 15), float64
        Columns :data:`CONFIGURATIONS`.

    Examples
    --------
    >>> configuration_head()[:, -1].tolist()  # an all-set block (interior): one pixel of area, nothing else
    [1.0, 0.0, 0.0, 0.0]
    """
    configurations = torch.tensor(CONFIGURATIONS, dtype=torch.float64)  # (15, 4): bits a b c d
    statistics = torch.stack(block_statistics(configurations, order_statistics(perimeter)), dim=-1)
    return exact_head(connectivity, perimeter) @ statistics.T


class ConfigurationSurrogate(SoftStepSurrogate):
    r"""Additive surrogate on soft 2×2 configuration counts with a learnt linear head.

    Maps rain rate ``(B, 1, H, W)`` in mm/h to ``(B, n_thresholds, 3)``
    (area, perimeter, euler_characteristic) and optionally β0, like
    :class:`~mink_toolkit.surrogate.models.MinkowskiSurrogate`:

    1. :math:`z` = :func:`~mink_toolkit.surrogate.models.normalise_rain`,
       padded with background (z = 0);
    2. a soft step per pixel and threshold,
       :math:`p = \sigma(a (z - c_k) + b)`, one learnt slope ``a > 0`` and
       offset ``b`` shared by all thresholds;
    3. at every lattice vertex the product-t-norm indicator of each of the 15
       configurations of its 2×2 block that are not all background
       (:data:`CONFIGURATIONS`; :math:`p_a (1 - p_b) p_c p_d` for 1011, say),
       minus its value on an all-background block, so that background
       contributes nothing whatever the step;
    4. sum pooling over the :math:`(H+1)(W+1)` vertices: 15 soft
       configuration counts per threshold (:meth:`features`);
    5. a bias-free linear head (4 × 15, random at the start) to raw (area,
       perimeter, β0, χ), then the constrained head if ``constrained``.

    With hard steps and :func:`configuration_head` this is the exact
    estimator of either connectivity and perimeter; what training must find
    is the head (and the step). 62 parameters.

    Parameters
    ----------
    thresholds : 1-D array_like, strictly increasing, > 0, mm/h
    connectivity : {8, 4}, default 8
    perimeter : {"edges", "crofton"}, default "edges"
    lipschitz_cap : float or None, default :data:`~mink_toolkit.surrogate.models.DEFAULT_LIPSCHITZ_CAP`
        Caps the step's slope at :math:`a \le 2L` (each soft pixel
        indicator is then L/2-Lipschitz in z, as the steps of
        ``MinkowskiSurrogate``) and the head's spectral norm at
        ``head_norm_cap``; None: no cap.
    constrained : bool, default True
        Project onto the feasible set (needs 8-connected χ and the edge perimeter).
    head_norm_cap : float, default 8
        Unless ``lipschitz_cap`` is None, the cap on the head's spectral
        norm. The exact combination (:func:`configuration_head`) has norm
        5.3 for 8-connected χ and the edge perimeter (5.4 for 4-connected
        χ, 3.8 with the Crofton perimeter), so the cap leaves it reachable.
    pixel_size : float, default 1
    compile : bool, default False
        As for ``MinkowskiSurrogate``: forward compiled after its input check.

    Examples
    --------
    >>> import torch
    >>> model = ConfigurationSurrogate([0.5, 2.0])
    >>> model(torch.zeros(1, 1, 16, 16)).shape, sum(p.numel() for p in model.parameters())
    (torch.Size([1, 2, 3]), 62)
    """

    architecture = "configurations"

    def __init__(
        self,
        thresholds,
        *,
        connectivity: int = DEFAULT_CONNECTIVITY,
        perimeter: str = DEFAULT_PERIMETER,
        lipschitz_cap: float | None = DEFAULT_LIPSCHITZ_CAP,
        constrained: bool = True,
        head_norm_cap: float = 8.0,
        pixel_size: float = 1.0,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self._set_common(thresholds, connectivity, perimeter, lipschitz_cap, constrained, pixel_size, compile)
        self.head_norm_cap = check_positive(head_norm_cap, "head_norm_cap")
        self._register_threshold_levels()
        # Initial slope 20 per unit z (a step half a threshold spacing wide), as MinkowskiSurrogate's.
        self.log_slope = nn.Parameter(torch.full((1,), math.log(20.0)))
        self.step_offset = nn.Parameter(torch.zeros(1))
        n = len(CONFIGURATIONS)
        self.head_weight = nn.Parameter(torch.randn(4, n) / math.sqrt(n))

    def config(self) -> dict:
        """Settings that define the model (stored in checkpoints)."""
        return {"architecture": self.architecture, **self._common_config(), "head_norm_cap": self.head_norm_cap}

    def layer_weights(self) -> dict:
        """Effective weights: ``slope`` (1,) and ``head`` (4, 15), capped unless ``lipschitz_cap`` is None."""
        slope, head = torch.exp(self.log_slope), self.head_weight
        if self.lipschitz_cap is not None:
            slope = torch.clamp(slope, max=self.max_slope)
            head = cap_norm(head, matrix_norm(head), self.head_norm_cap)
        return {"slope": slope, "head": head}

    @staticmethod
    def _configuration_sums(p: torch.Tensor) -> torch.Tensor:
        """Σ over vertices of the 16 configuration indicators of the (…, H+2, W+2) soft indicators p -> (…, 16)."""
        a, b, c, d = p[..., :-1, :-1], p[..., :-1, 1:], p[..., 1:, :-1], p[..., 1:, 1:]
        # Products of the top pair (a, b) and of the bottom pair (c, d) in their 4 states; the 16
        # sums Σ_v top_i(v) bottom_j(v) are one batched matrix product.
        top = torch.stack([(1 - a) * (1 - b), (1 - a) * b, a * (1 - b), a * b], dim=-3).flatten(-2)
        bottom = torch.stack([(1 - c) * (1 - d), (1 - c) * d, c * (1 - d), c * d], dim=-3).flatten(-2)
        return (top @ bottom.transpose(-1, -2)).flatten(-2)  # index 4 i + j = bits a b c d

    def features(self, z: torch.Tensor, weights: dict | None = None) -> torch.Tensor:
        r"""Soft counts of the 15 non-background configurations per threshold, from the normalised input.

        Parameters
        ----------
        z : torch.Tensor, shape (B, 1, H, W)

        Returns
        -------
        torch.Tensor, shape (B, n_thresholds, 15)
            :math:`F_{kq} = \sum_v \big(\pi_q(v) - \pi_q(\varnothing)\big)`, with
            :math:`\pi_q(v)` the product-t-norm indicator of configuration q
            at vertex v and :math:`\pi_q(\varnothing)` its value on an
            all-background block.
        """
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != 1:
            raise ValueError(f"z must be a tensor shaped (B, 1, H, W); got {getattr(z, 'shape', type(z))}")
        weights = self.layer_weights() if weights is None else weights
        dt = z.dtype
        slope, offset = weights["slope"].to(dt), self.step_offset.to(dt)
        c = self.threshold_levels.to(dt)[None, :, None, None]
        p = torch.sigmoid(slope * (F.pad(z, (1, 1, 1, 1)) - c) + offset)  # (B, n, H+2, W+2)
        counts = self._configuration_sums(p)[..., 1:]
        # All-background block: every pixel at the background step; its value times the vertex count.
        p0 = torch.sigmoid(slope * (0.0 - c[0, :, 0, 0]) + offset)  # (n,)
        q = torch.stack([1 - p0, p0], dim=-1)  # (n, 2)
        bits = torch.as_tensor(CONFIGURATIONS, device=z.device)  # (15, 4)
        background = q[:, bits].prod(dim=-1)  # (n, 15)
        n_vertices = (z.shape[-2] + 1) * (z.shape[-1] + 1)
        return counts - n_vertices * background

    def raw_outputs(self, features: torch.Tensor, weights: dict, n_pixels: int) -> torch.Tensor:
        """The bias-free linear head: (B, n, 4) raw area, perimeter, β0, χ in pixel units."""
        return features @ weights["head"].to(features.dtype).T

    def extra_repr(self) -> str:
        return (
            f"n_thresholds={len(self.thresholds)}, connectivity={self.connectivity}, perimeter={self.perimeter!r}, "
            f"lipschitz_cap={self.lipschitz_cap}, constrained={self.constrained}, head_norm_cap={self.head_norm_cap:g}"
        )
