"""Settings of the running process: the allocator of the drivers' workers, and the compiled path.

**The allocator, in one place.** glibc returns large freed blocks (above
its mmap threshold) to the operating system at once, so a loop that frees
and allocates the same big arrays again page-faults them in anew every
time; the kernel time that costs is 10–20 % of a training run and about a
third of a dask worker's CPU per file. Two settings keep the memory:

* :func:`keep_freed_memory` (``mallopt``), applied by the experiment
  drivers in every worker process they start — the surrogate driver
  (``spawn_pool(..., keep_freed=True)``) and the super-resolution driver
  (``JobRunner(..., keep_freed=True)``), both through
  :func:`mink_toolkit.parallel.init_worker` — never in the caller's process;
* :data:`DASK_WORKER_ENVIRON`, the environment of ``dask.distributed``
  worker processes for the curves engine: dask's nanny starts them with
  ``MALLOC_TRIM_THRESHOLD_=65536``, which also switches off glibc's
  adaptive mmap threshold; these values restore the speed (see the
  README's distributed-curves section, and ``benchmarks/bench_archive.py``,
  which passes them to its ``LocalCluster``). The engine's default
  threaded scheduler runs in the caller's process and needs nothing.

:func:`compiled` and :func:`compile_cache_dir` are the opt-in compiled
path (``compile=True`` across the API): a pure-tensor core is compiled once
per configuration with ``torch.compile(fullgraph=True, dynamic=False)``,
and TorchInductor keeps its generated code in the toolkit's cache folder, so
that compilation is paid once per machine rather than once per process.

The bottom layer: standard library only; torch and the cache folder of
:mod:`mink_toolkit.io.registry` are imported where they are used.
"""

from __future__ import annotations

import os
from typing import Callable

__all__ = ["keep_freed_memory", "DASK_WORKER_ENVIRON", "COMPILE_BACKEND_ENV", "check_compile", "compile_backend",
           "compile_cache_dir", "compiled"]

#: Environment of dask worker processes (``distributed.nanny.pre-spawn-environ``): a fixed mmap
#: threshold above the largest field-sized array and a large trim threshold (measured on 2 cores:
#: 107 ms per Odyssey file instead of 149–160 ms with the nanny's default).
DASK_WORKER_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": 2**30, "MALLOC_MMAP_THRESHOLD_": 2**27}

#: Environment variable TorchInductor reads for its on-disk cache; the toolkit sets it only if unset.
INDUCTOR_CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"

#: Compiled cores, one per (function, static options): repeated calls reuse them.
_COMPILED: dict = {}
#: Environment variable naming the ``torch.compile`` backend of :func:`compiled` (default ``inductor``).
COMPILE_BACKEND_ENV = "MINK_COMPILE_BACKEND"


def keep_freed_memory(limit_bytes: int = 1 << 30) -> bool:
    """Let this process's allocator keep freed blocks up to ``limit_bytes`` instead of returning them.

    glibc hands large freed blocks (above its mmap threshold, a few MiB)
    straight back to the operating system, so a training loop whose
    tensors are freed and allocated again at every step page-faults them in
    anew each time: in the surrogate drivers that is 10–20 % of the run
    (kernel time). Raising the mmap and trim thresholds
    (``mallopt(3)``, ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD``) keeps the
    memory in the process for reuse, at the price of a resident size that
    shrinks only when the process ends. The drivers call it in the worker
    processes they start (``--jobs``), never on import or in the caller's
    process.

    Returns
    -------
    bool
        Whether the settings were applied (False where the C library is not
        glibc).
    """
    import ctypes
    import ctypes.util

    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(m_mmap_threshold, int(limit_bytes))) and bool(mallopt(m_trim_threshold, int(limit_bytes)))


def check_compile(value) -> bool:
    """The ``compile`` switch of the API: ``True`` or ``False``, never a truthy string or number.

    Examples
    --------
    >>> check_compile(False)
    False
    >>> check_compile("yes")
    Traceback (most recent call last):
    ...
    TypeError: compile must be True or False; got 'yes'
    """
    if not isinstance(value, bool):
        raise TypeError(f"compile must be True or False; got {value!r}")
    return value


def compile_backend() -> str:
    """The ``torch.compile`` backend of :func:`compiled`: ``$MINK_COMPILE_BACKEND``, else ``"inductor"``.

    Examples
    --------
    >>> import os
    >>> compile_backend() == os.environ.get("MINK_COMPILE_BACKEND", "inductor")
    True
    """
    return os.environ.get(COMPILE_BACKEND_ENV) or "inductor"


def compile_cache_dir() -> str:
    """The folder of TorchInductor's on-disk cache: the toolkit's cache folder unless the user chose one.

    ``$TORCHINDUCTOR_CACHE_DIR`` if it is set (the user's choice is kept);
    otherwise ``cache_dir()/torchinductor`` (:func:`mink_toolkit.io.registry.cache_dir`:
    ``$MINK_CACHE_DIR`` or, on Linux, ``~/.cache/mink_toolkit``), which is
    then put into ``$TORCHINDUCTOR_CACHE_DIR`` of this process so that
    inductor, and the worker processes this process spawns, find it. The
    generated kernels kept there make a second run of the same
    configuration load instead of compile. Called before the first
    compilation by :func:`compiled`.

    Returns
    -------
    str
    """
    chosen = os.environ.get(INDUCTOR_CACHE_ENV)
    if chosen:
        return chosen
    from .io.registry import cache_dir

    folder = str(cache_dir() / "torchinductor")
    os.environ[INDUCTOR_CACHE_ENV] = folder
    return folder


def compiled(fn: Callable, *static) -> Callable:
    """``fn`` with its trailing non-tensor arguments ``static`` fixed, compiled once and cached.

    The compiled function takes the tensors ``fn`` takes first:
    ``compiled(fn, a, b)(x, y) == fn(x, y, a, b)`` up to floating-point
    reordering. It is made by ``torch.compile(fullgraph=True,
    dynamic=False)``: the whole core is one graph (a graph break raises
    instead of falling back to Python silently) and is specialised to the
    shapes it sees (a new shape recompiles, within torch's recompile limit).
    ``fn`` must be a pure-tensor core: its inputs checked beforehand, no
    Python branch on tensor values.

    Parameters
    ----------
    fn : callable
        A module-level function (the cache holds it).
    *static
        Hashable options (thresholds count, estimator names, floats).

    Returns
    -------
    callable
    """
    # The backend: inductor (generated kernels) unless MINK_COMPILE_BACKEND names another
    # torch.compile backend, e.g. "aot_eager" (the same graph capture and autograd, no code
    # generation: seconds instead of a minute to compile, for tests and for debugging).
    backend = compile_backend()
    key = (fn, static, backend)
    if key not in _COMPILED:
        import torch

        compile_cache_dir()

        def core(*tensors):
            return fn(*tensors, *static)

        # Dynamo keeps its compiled graphs, and counts recompilations against its limit, per code
        # object: a code object of its own per configuration keeps configurations from evicting
        # one another (which would fall back to eager without a word).
        core.__code__ = core.__code__.replace()
        _COMPILED[key] = torch.compile(core, fullgraph=True, dynamic=False, backend=backend)
    return _COMPILED[key]
