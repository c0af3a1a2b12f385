"""Tests of mink_toolkit.experiments.superres: the Lipschitz-cap sweep's settings and results."""

from __future__ import annotations

from mink_toolkit.surrogate import DEFAULT_LIPSCHITZ_CAP


def test_cap_sweep_passes_the_cap_unchanged_and_reads_results_with_the_former_key():
    from mink_toolkit.experiments import superres as exp

    assert DEFAULT_LIPSCHITZ_CAP in exp.FULL.sweep_caps and None in exp.FULL.sweep_caps
    # The surrogate of each sweep entry is built with that cap; no round trip through a bool.
    assert exp._surrogate_args(("lipschitz", DEFAULT_LIPSCHITZ_CAP)) == {"lipschitz_cap": DEFAULT_LIPSCHITZ_CAP,
                                                                          "constrained": True}
    assert exp._surrogate_args(("lipschitz", None)) == {"lipschitz_cap": None, "constrained": True}
    assert exp._surrogate_args(("unconstrained", None)) == {"lipschitz_cap": None, "constrained": False}
    # Results written when the key was "lipschitz_bound" render as today's.
    old = {"selection": {"lipschitz_bound": 16.0, "other": 1}, "sweep": {"lipschitz": [{"lipschitz_bound": None}]}}
    new = exp._renamed_cap(old)
    assert new["selection"] == {"lipschitz_cap": 16.0, "other": 1}
    assert new["sweep"]["lipschitz"] == [{"lipschitz_cap": None}]
    assert old["selection"] == {"lipschitz_bound": 16.0, "other": 1}  # the caller's dict is left alone
