"""Reports of the experiments: mean ± std over seeds, markdown cells, JSON, and the README's generated blocks.

numpy and the standard library only (a low layer): the drivers in
:mod:`mink_toolkit.experiments` write their JSON results and markdown tables
with these helpers, and the README's result tables are regenerated from the
JSON by :func:`replace_readme_block`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["aggregate", "plus_minus", "format_value", "json_default", "replace_readme_block"]


def aggregate(runs: list) -> dict:
    """Nested dicts of floats (one per seed) -> same nesting of ``{"mean", "std"}`` (NaN ignored).

    Lists become element-wise means and stds; an entry that is NaN in every
    run becomes ``{"mean": None, "std": None}``.

    Examples
    --------
    >>> aggregate([{"mae": 1.0}, {"mae": 3.0}])
    {'mae': {'mean': 2.0, 'std': 1.0}}
    """
    first = runs[0]
    if isinstance(first, dict):
        return {k: aggregate([r[k] for r in runs]) for k in first}
    if isinstance(first, list):
        arr = np.asarray(runs, dtype=float)
        return {"mean": np.nanmean(arr, 0).tolist(), "std": np.nanstd(arr, 0).tolist()}
    arr = np.asarray(runs, dtype=float)
    if np.all(np.isnan(arr)):
        return {"mean": None, "std": None}
    return {"mean": float(np.nanmean(arr)), "std": float(np.nanstd(arr))}


def plus_minus(entry, digits: int = 3) -> str:
    """``"mean ± std"`` of an :func:`aggregate` entry, ``"–"`` where there is none.

    Examples
    --------
    >>> plus_minus({"mean": 0.5, "std": 0.25}), plus_minus({"mean": None, "std": None})
    ('0.500 ± 0.250', '–')
    """
    if entry is None or entry.get("mean") is None:
        return "–"
    return f"{entry['mean']:.{digits}f} ± {entry['std']:.{digits}f}"


def format_value(value, digits: int = 3) -> str:
    """A table cell: fixed point, or ``g`` format for large and tiny numbers; yes/no for bools, ``"–"`` for None or NaN.

    Examples
    --------
    >>> format_value(0.12345), format_value(12345.0), format_value(None), format_value(True)
    ('0.123', '1.23e+04', '–', 'yes')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}g}" if abs(value) >= 1e3 or (value != 0 and abs(value) < 1e-3) else f"{value:.{digits}f}"


def json_default(obj):
    """``json.dumps(..., default=json_default)``: numpy scalars and tuples as plain JSON values.

    Examples
    --------
    >>> import json, numpy as np
    >>> json.dumps({"a": np.float32(0.5), "b": (1, 2)}, default=json_default)
    '{"a": 0.5, "b": [1, 2]}'
    """
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


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
