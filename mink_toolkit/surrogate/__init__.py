r"""Lipschitz neural surrogate of the Minkowski functionals, with hard geometric constraints.

A second route across the differentiability gap (the first is the analytic
relaxation, :mod:`mink_toolkit.relax`): learn a smooth emulator of the exact
functionals and differentiate the emulator.

Architecture
------------
The Minkowski functionals are *additive valuations*: each is a sum over the
image of a function of the 2×2 block of pixels around every lattice vertex
(:mod:`mink_toolkit.functionals`), evaluated on the indicator
:math:`1\{x \ge u\}`. :class:`MinkowskiSurrogate` builds that structure in:

1. the model owns its input transform, :math:`z = \log_{10}(1 + x / 0.01\,\mathrm{mm\,h^{-1}})`
   (:func:`normalise_rain`; dry → 0, 0.1 mm/h → 1.04, 10 mm/h → 3.0; 0.01 mm/h
   is OPERA's quantisation step), so nobody can feed it the wrong
   representation (the published surrogate was fed mm/h after training on
   log-normalised input);
2. at every lattice vertex the 2×2 block of :math:`z` around it gives
   *level features* in units of z: the order statistics the exact
   estimator is made of (pixel, pair maxima and minima, block maximum and
   minimum; diagonal pairs too for the Crofton perimeter) and a few learnt by a small local network (a 2×2 convolution
   with background (zero) padding, then 1×1 convolutions) — the same
   receptive field as the exact estimator;
3. each threshold :math:`c_k` turns every level feature into a soft
   indicator :math:`\sigma(a_j (s_j - c_k) + b_j)` (shared over thresholds
   and positions), and global **sum** pooling over the :math:`(H+1)(W+1)`
   vertices gives the feature vector of each threshold
   (:meth:`MinkowskiSurrogate.features`);
4. a linear head without bias (so the output stays additive) maps the
   features to raw estimates of area, perimeter, β0 and χ, which the
   constrained head then projects onto the set of values the exact
   estimator can take (:func:`project_feasible`).

With hard steps the exact estimator is a member of this family, and the
head starts at its combination weights, derived from
:func:`mink_toolkit.functionals.combine_terms` for the model's
``connectivity`` and ``perimeter`` (one definition of the functionals for
exact, relaxed and surrogate code); training adapts the steps to the
data, learns β0 and corrects the bias of finite slopes. A few hundred
parameters suffice, the model applies to any field size, and training on
small random crops (with exact targets computed per batch) is cheap.

:class:`ConventionalSurrogate` is the comparison model of the paper's kind
(strided convolutions, global **mean** pooling, dense layers, a linear head
on log1p-compressed outputs), with the same input transform, output
layout, constrained head, certificate and checkpoints; it has to learn the
additivity that the architecture above has built in
(``python -m mink_toolkit reproduce surrogate`` compares accuracy,
parameter count and training time).

:class:`ConfigurationSurrogate` (:mod:`~mink_toolkit.surrogate.configurations`)
keeps additivity and locality but no estimator: soft counts of the 15
non-background 2×2 configurations (product t-norm of learnt soft steps, as
the relaxation builds them) read by a random linear head that learns the
combination.

Lipschitz certificate
---------------------
With a ``lipschitz_cap`` (the default; :data:`DEFAULT_LIPSCHITZ_CAP` for
:class:`MinkowskiSurrogate`, None for no cap) every affine map is
norm-constrained (its exact operator norm is divided out whenever it exceeds
a cap), the step slopes are capped, and the activations are 1-Lipschitz (MaxMin / GroupSort of Anil, Lucas & Grosse 2019, or ReLU).
The operator norm of the 2×2 entry convolution is computed exactly from the
singular values of its Fourier symbol (Sedghi, Gupta & Long 2019),
:func:`conv_operator_norm`; the 1×1 convolutions and the head are matrices
(exact spectral norm by SVD). The reshaped-kernel power iteration of
``torch.nn.utils.spectral_norm`` (used by the published code) is *not* an
upper bound for a convolution. :func:`lipschitz_upper_bound` (the
certificate: a bound computed from the weights, not a setting) combines the
layer norms, the order statistics' constants and the step slopes with
:math:`\sqrt{(H+1)(W+1)}` (sum pooling) and :math:`\sqrt{n}` (thresholds).
For the large convolutions of a :class:`ConventionalSurrogate` on 128 × 128
fields the exact norms dominate a training step;
``training_norms="power_iteration"`` estimates them in training forward
passes by a warm-started power iteration on the Fourier symbol
(:func:`conv_norm_power_iteration`, the convolution's counterpart of
torch's ``spectral_norm``), while evaluation and the certificate keep the
exact norms.

Layout
------
:mod:`~mink_toolkit.surrogate.models` (the additive architecture and the
base every surrogate shares), :mod:`~mink_toolkit.surrogate.conventional`
(the conventional CNN), :mod:`~mink_toolkit.surrogate.norms` (operator norms and caps),
:mod:`~mink_toolkit.surrogate.constraints` (necessary conditions and the
constrained head), :mod:`~mink_toolkit.surrogate.certify` (certified and
attacked Lipschitz constants), :mod:`~mink_toolkit.surrogate.training` (the
one trainer) and :mod:`~mink_toolkit.surrogate.checkpoint`.

Geometric constraints
---------------------
See :func:`geometric_violations` for the necessary conditions on the
edge-count estimator and their proofs, and :func:`project_feasible` for the
constrained head that meets them for every input and every weight setting.
"""

from .certify import attack_starts, empirical_lipschitz, lipschitz_upper_bound
from .checkpoint import ARCHITECTURES, load_surrogate, save_surrogate
from .configurations import ConfigurationSurrogate, configuration_head
from .constraints import geometric_violations, project_feasible
from .conventional import CONVENTIONAL_LIPSCHITZ_CAP, ConventionalSurrogate
from .models import (
    DEFAULT_LIPSCHITZ_CAP,
    ORDER_STATISTICS,
    RAIN_OFFSET,
    MinkowskiSurrogate,
    normalise_rain,
    with_lipschitz_cap,
)
from .norms import conv_norm_power_iteration, conv_operator_norm
from .gradients import SCALE_DEPENDENT_MEASURES, SCALE_FREE_MEASURES, gradient_maps, gradient_smoothness
from .training import TrainingResult, predict_functionals, train_surrogate, train_surrogates

__all__ = [
    "RAIN_OFFSET",
    "ORDER_STATISTICS",
    "ARCHITECTURES",
    "DEFAULT_LIPSCHITZ_CAP",
    "CONVENTIONAL_LIPSCHITZ_CAP",
    "MinkowskiSurrogate",
    "ConventionalSurrogate",
    "ConfigurationSurrogate",
    "configuration_head",
    "normalise_rain",
    "conv_operator_norm",
    "conv_norm_power_iteration",
    "lipschitz_upper_bound",
    "empirical_lipschitz",
    "project_feasible",
    "geometric_violations",
    "train_surrogate",
    "train_surrogates",
    "predict_functionals",
    "TrainingResult",
    "save_surrogate",
    "load_surrogate",
    "gradient_maps",
    "gradient_smoothness",
    "SCALE_FREE_MEASURES",
    "SCALE_DEPENDENT_MEASURES",
    "attack_starts",
    "with_lipschitz_cap",
]
