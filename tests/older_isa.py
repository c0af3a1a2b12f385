"""The environment of the second notebook run: torch, oneDNN and numpy on older instruction sets.

Learners' laptops have other CPUs than the one that stored the tutorials' outputs, and torch's
vectorised kernels, oneDNN and numpy's SIMD loops round differently on each (CONVENTIONS.md §4).
``make test`` therefore runs the notebooks and doctests a second time with

* ``ATEN_CPU_CAPABILITY=default``: torch's scalar (non-vectorised) kernels;
* ``ONEDNN_MAX_CPU_ISA=SSE41``: oneDNN (convolutions) limited to SSE4.1;
* ``NPY_DISABLE_CPU_FEATURES``: every SIMD group above numpy's baseline that this machine has
  (``numpy.show_runtime()`` lists them; on x86-64 for example ``X86_V3`` and ``X86_V4``).

Run as a script, it prints the assignments for ``env`` (the Makefile uses it); imported, it
gives them as a dict (``tests/test_older_isa.py`` checks that they really change the kernels).
"""

from __future__ import annotations

import os
import sys


def numpy_dispatched_features() -> list[str]:
    """numpy's SIMD groups above its baseline that this machine has (what ``show_runtime`` calls found)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]


def older_isa_environment() -> dict[str, str]:
    """The variables of the second run (see the module docstring)."""
    env = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}
    # Inside the second run numpy already reports the disabled groups as missing: keep them listed.
    already = [f for f in os.environ.get("NPY_DISABLE_CPU_FEATURES", "").replace(",", " ").split() if f]
    features = already + [f for f in numpy_dispatched_features() if f not in already]
    if features:  # an empty value is an error for numpy: leave it out when there is nothing to disable
        env["NPY_DISABLE_CPU_FEATURES"] = ",".join(features)
    return env


if __name__ == "__main__":
    print(" ".join(f"{key}={value}" for key, value in older_isa_environment().items()))
    sys.exit(0)
