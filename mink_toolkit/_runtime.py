"""Settings of the running process that the experiment drivers apply to their worker processes.

The bottom layer: standard library only, nothing of the package.
"""

from __future__ import annotations

__all__ = ["keep_freed_memory"]


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
