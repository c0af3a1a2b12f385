r"""Differentiable Minkowski functionals by temperature-annealed sigmoid relaxation.

The exact functionals (:func:`~mink_toolkit.minkowski_functionals`) are sums
of local configuration counts of the excursion set :math:`\{x \ge u\}`
(see :mod:`mink_toolkit.functionals`). Here each pixel's indicator is
replaced by a *membership*

.. math:: p = \sigma\!\left(\frac{x - u}{T}\right),

and each configuration count by its continuous-logic version under a
t-norm (AND) and its t-conorm (OR):

=============  ===================  ===========================  =========
t-norm         AND(a, b)            OR(a, b)                     NOT(a)
=============  ===================  ===========================  =========
product        :math:`ab`           :math:`a + b - ab`           1 − a
Gödel          :math:`\min(a, b)`   :math:`\max(a, b)`           1 − a
Łukasiewicz    max(0, a + b − 1)    min(1, a + b)                1 − a
=============  ===================  ===========================  =========

(blocks of four use the associative extension: product OR
:math:`1 - \prod_i (1 - p_i)`, Łukasiewicz AND :math:`\max(0, \sum_i p_i - 3)`).
The relaxed counts go through :func:`~mink_toolkit.functionals.combine_terms`,
the toolkit's single definition of the functionals, so the relaxed area,
perimeter and Euler characteristic have the same estimators, connectivity,
border convention (pixels outside the array are background, p = 0) and
units as the exact ones, and equal them on binary input as
:math:`T \to 0` — unlike the published code, whose relaxed χ was
4-connected while its targets were 8-connected (kept for comparison as
:func:`~mink_toolkit.relax.paper.paper_relaxation`).

With the product t-norm every relaxed functional is the *multilinear
extension* of its exact estimator: the expected value of the exact
functional of a random binary image whose pixels are independently in the
set with probability p (each configuration count is a sum of products of
independent indicators). This is what makes the relaxation exact on binary
input and smooth in between.

Ties: a pixel exactly at the threshold gets p = 0.5 at every temperature,
while the exact set :math:`\{x \ge u\}` counts it fully. OPERA rain rates
are quantised at 0.01 mm/h, so thresholds on that grid keep a bias that no
temperature removes; :func:`~mink_toolkit.thresholds.offset_from_grid` moves thresholds half a
quantum off the grid.

Sums over the image are taken in two stages (row sums in the working
precision, then float64 over rows) and the terms are combined in float64,
so V − E + F does not cancel catastrophically in float32 on full
2200 × 1900 composites (see tests).

Layout
------
:mod:`~mink_toolkit.relax.tnorms` (the continuous logic),
:mod:`~mink_toolkit.relax.soft` (memberships, temperatures and the relaxed
functionals) and :mod:`~mink_toolkit.relax.paper` (the published
relaxation, for comparison).
"""

from .paper import paper_relaxation, paper_temperature
from .soft import membership_functionals, resolve_temperature, soft_minkowski_functionals, soft_threshold
from .tnorms import TNORMS, t_and, t_not, t_or

__all__ = [
    "TNORMS",
    "t_and",
    "t_or",
    "t_not",
    "resolve_temperature",
    "paper_temperature",
    "soft_threshold",
    "membership_functionals",
    "soft_minkowski_functionals",
    "paper_relaxation",
]
