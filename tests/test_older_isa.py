"""The second notebook run of ``make test`` really runs other kernels (see tests/older_isa.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from older_isa import numpy_dispatched_features, older_isa_environment  # noqa: E402

PROBE = """
import json, torch
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
print(json.dumps({"torch": torch.backends.cpu.get_cpu_capability(),
                  "numpy": [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]}))
"""


def _probe(extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "NPY_DISABLE_CPU_FEATURES")}
    env.update(extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_older_isa_environment_switches_torch_and_numpy_to_baseline_kernels():
    native = _probe({})
    older = _probe(older_isa_environment())
    print(f"torch capability: native {native['torch']}, older-ISA run {older['torch']}; "
          f"numpy SIMD groups above baseline: native {native['numpy']}, older-ISA run {older['numpy']}")
    assert older["torch"] == "DEFAULT"
    assert older["numpy"] == []
    # On any machine with vector units the native run uses them, so the two runs differ.
    assert native["torch"] != "DEFAULT" or native["numpy"], "this CPU has no SIMD above the baselines"


def test_numpy_features_listed_are_those_found():
    features = numpy_dispatched_features()
    env = older_isa_environment()
    assert env["ATEN_CPU_CAPABILITY"] == "default"
    assert env["ONEDNN_MAX_CPU_ISA"] == "SSE41"
    if os.environ.get("NPY_DISABLE_CPU_FEATURES"):  # the second run: numpy hides what it disabled
        assert env["NPY_DISABLE_CPU_FEATURES"] == os.environ["NPY_DISABLE_CPU_FEATURES"]
    else:
        assert env.get("NPY_DISABLE_CPU_FEATURES", "") == ",".join(features)


def test_this_run_reports_its_kernels():
    """In the older-ISA run (variables set), the process itself must be on the baseline kernels."""
    import torch

    if os.environ.get("ATEN_CPU_CAPABILITY") == "default":
        assert torch.backends.cpu.get_cpu_capability() == "DEFAULT"
        assert numpy_dispatched_features() == []
    print(f"this run: torch {torch.backends.cpu.get_cpu_capability()}, numpy {numpy_dispatched_features()}")
