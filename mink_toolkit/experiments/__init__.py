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

__all__ = ["replace_readme_block"]


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
