"""Write a file or a directory atomically: the toolkit's one atomic writer.

Outputs (curves in NetCDF or Zarr, patch caches, checkpoints) are written
under a temporary name in the target's folder and renamed over the target
only when the writer succeeded, so a reader -- or a run started later --
sees either the complete old result or the complete new one, never a
half-written file, whatever interrupts the writer (an exception, Ctrl-C,
a killed process).

The temporary name is unique per process, thread and call
(``.<name>.tmp-<pid>-<random>``), so parallel writers (pytest-xdist
workers, dask workers filling one cache) never write into each other's
temporary; the last rename wins, and every rename leaves a complete file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_write", "remove_path"]


def remove_path(path) -> None:
    """Remove a file, a link or a directory tree if it exists (no error otherwise)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_write(target, *, overwrite: bool = True) -> Iterator[Path]:
    """Context manager: yield a temporary path; on success it becomes ``target``.

    Write the file -- or the directory, such as a Zarr store -- to the
    yielded path. When the ``with`` block ends normally the result replaces
    ``target`` with :func:`os.replace` (atomic on POSIX and Windows for a
    file in the same folder). When it raises (``KeyboardInterrupt``
    included) the temporary is removed and ``target`` is left untouched.

    Parameters
    ----------
    target : str or os.PathLike
        Final path. Its folder must exist.
    overwrite : bool, default True
        Replace an existing ``target``; with ``False`` an existing target
        raises ``FileExistsError`` before anything is written.

    Yields
    ------
    pathlib.Path
        ``<folder>/.<name>.tmp-<pid>-<random>``, not yet existing, in the
        same folder (so the rename never crosses file systems).

    Raises
    ------
    FileNotFoundError
        The target's folder does not exist.
    FileExistsError
        ``target`` exists and ``overwrite`` is False.

    Notes
    -----
    A directory cannot be renamed over a non-empty directory, so an
    existing *directory* target is first renamed aside
    (``.<name>.old-<pid>-<random>``), the new one renamed into place and
    the old one deleted. Between those two renames (microseconds) the
    target name is briefly absent; the previous result is then still
    complete under the ``.old-`` name. Files are replaced in one step.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> target = os.path.join(folder, "result.txt")
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("complete")
    >>> open(target).read(), os.listdir(folder)
    ('complete', ['result.txt'])
    >>> try:
    ...     with atomic_write(target) as tmp:
    ...         _ = tmp.write_text("half")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> open(target).read(), os.listdir(folder)  # untouched, no temporary left
    ('complete', ['result.txt'])
    """
    target = Path(target)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the output directory {str(target.parent)!r} does not exist")
    if not overwrite and (target.exists() or target.is_symlink()):
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = target.with_name(f".{target.name}.tmp-{tag}")
    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise FileNotFoundError(f"nothing was written to the temporary {tmp} for {target}")
        if tmp.is_dir() and target.is_dir() and not target.is_symlink():
            old = target.with_name(f".{target.name}.old-{tag}")
            os.replace(target, old)
            os.replace(tmp, target)
            remove_path(old)
        else:
            if target.is_dir() and not target.is_symlink():
                remove_path(target)  # a file replacing a directory
            os.replace(tmp, target)
    except BaseException:
        remove_path(tmp)
        raise
