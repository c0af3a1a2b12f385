"""The experiment drivers behind ``python -m mink_toolkit reproduce ...``.

:mod:`~mink_toolkit.experiments.surrogate`
    ``reproduce surrogate``: train and evaluate the surrogates (ablation).
:mod:`~mink_toolkit.experiments.superres`
    ``reproduce superres``: super-resolution with MSE and Minkowski losses.

Drivers hold the experimental protocol (data splits, configurations, tables);
every model, loss and metric they use lives in the library.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["replace_readme_block", "keep_freed_memory"]


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


def replace_readme_block(path, name: str, text: str) -> Path:
    """Replace the generated block ``name`` of a markdown file with ``text``.

    The block sits between the lines ``<!-- name:begin -->`` and
    ``<!-- name:end -->`` (kept); that is how the README's result tables are
    regenerated from the experiments' JSON by a command
    (``python -m mink_toolkit reproduce surrogate --markdown results/surrogate.json --readme README.md``)
    instead of being typed.

    Parameters
    ----------
    path : str or Path
    name : str
    text : str

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        If the file has not exactly one such block.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "R.md"
    >>> _ = p.write_text("# R\\n<!-- t:begin -->\\nold\\n<!-- t:end -->\\n")
    >>> _ = replace_readme_block(p, "t", "new table\\n")
    >>> p.read_text()
    '# R\\n<!-- t:begin -->\\nnew table\\n<!-- t:end -->\\n'
    """
    path = Path(path)
    source = path.read_text()
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    if source.count(begin) != 1 or source.count(end) != 1 or source.index(begin) > source.index(end):
        raise ValueError(f"{path} must hold exactly one block '{begin.strip()}' … '{end}'")
    head, rest = source.split(begin)
    _, tail = rest.split(end)
    path.write_text(head + begin + text.rstrip("\n") + "\n" + end + tail)
    return path
