"""Tests of the drivers' allocator setting (mink_toolkit._runtime.keep_freed_memory)."""

from __future__ import annotations

import pytest


def test_keep_freed_memory_applies_in_a_process_of_its_own():
    """The drivers' allocator setting (glibc mallopt) takes effect; run in a child so pytest is unchanged."""
    import subprocess
    import sys

    code = "from mink_toolkit._runtime import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    expected = "True" if sys.platform.startswith("linux") else out  # glibc on Linux; elsewhere it may decline
    assert out == expected


def test_compile_cache_dir_keeps_the_users_choice(monkeypatch, tmp_path):
    from mink_toolkit._runtime import INDUCTOR_CACHE_ENV, compile_cache_dir

    monkeypatch.setenv(INDUCTOR_CACHE_ENV, str(tmp_path / "mine"))
    assert compile_cache_dir() == str(tmp_path / "mine")


def test_compile_cache_dir_defaults_to_the_toolkits_cache(monkeypatch, tmp_path):
    import os

    from mink_toolkit._runtime import INDUCTOR_CACHE_ENV, compile_cache_dir

    monkeypatch.delenv(INDUCTOR_CACHE_ENV, raising=False)
    monkeypatch.setenv("MINK_CACHE_DIR", str(tmp_path))
    assert compile_cache_dir() == str(tmp_path / "torchinductor")
    assert os.environ[INDUCTOR_CACHE_ENV] == str(tmp_path / "torchinductor")  # inductor and spawned workers read it


def test_compiled_is_made_once_per_configuration():
    """Repeated calls reuse one compiled function; nothing is compiled before the first call."""
    from mink_toolkit._runtime import compiled

    def core(x, scale):
        return x * scale

    assert compiled(core, 2.0) is compiled(core, 2.0)
    assert compiled(core, 2.0) is not compiled(core, 3.0)


def test_check_compile():
    import pytest

    from mink_toolkit._runtime import check_compile

    assert check_compile(True) is True
    for bad in ("True", 1, None):
        with pytest.raises(TypeError, match="compile must be True or False"):
            check_compile(bad)


def test_compiled_uses_the_backend_named_by_the_environment(monkeypatch):
    import torch

    from mink_toolkit import _runtime

    def double(x, factor):
        return x * factor

    monkeypatch.setenv(_runtime.COMPILE_BACKEND_ENV, "aot_eager")
    assert _runtime.compile_backend() == "aot_eager"  # what the experiments record
    eager_graph = _runtime.compiled(double, 2.0)
    monkeypatch.delenv(_runtime.COMPILE_BACKEND_ENV)
    assert _runtime.compile_backend() == "inductor"
    assert _runtime.compiled(double, 2.0) is not eager_graph  # a backend of its own in the cache
    assert (double, (2.0,), "aot_eager") in _runtime._COMPILED
    assert float(eager_graph(torch.ones(()))) == 2.0
    monkeypatch.setenv(_runtime.COMPILE_BACKEND_ENV, "no_such_backend")
    with pytest.raises(Exception, match="no_such_backend"):
        _runtime.compiled(double, 3.0)(torch.ones(()))
