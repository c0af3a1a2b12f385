"""The experiment drivers behind ``python -m mink_toolkit reproduce ...``.

:mod:`~mink_toolkit.experiments.surrogate`
    ``reproduce surrogate``: train and evaluate the surrogates (ablation).
:mod:`~mink_toolkit.experiments.superres`
    ``reproduce superres``: super-resolution with MSE and Minkowski losses.
:mod:`~mink_toolkit.experiments.annealing`
    ``reproduce annealing``: fixed and annealed temperatures of the relaxation.

Drivers hold the experimental protocol (data splits, configurations, tables);
every model, loss and metric they use lives in the library, and so do the
process pool they run their jobs on (:mod:`mink_toolkit.parallel`), the
report helpers and README block writer (:mod:`mink_toolkit.reporting`) and
the allocator setting of their workers (:mod:`mink_toolkit._runtime`).
"""
