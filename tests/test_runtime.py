"""Tests of the drivers' allocator setting (mink_toolkit._runtime.keep_freed_memory)."""

from __future__ import annotations


def test_keep_freed_memory_applies_in_a_process_of_its_own():
    """The drivers' allocator setting (glibc mallopt) takes effect; run in a child so pytest is unchanged."""
    import subprocess
    import sys

    code = "from mink_toolkit._runtime import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    expected = "True" if sys.platform.startswith("linux") else out  # glibc on Linux; elsewhere it may decline
    assert out == expected
