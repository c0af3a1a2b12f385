"""Exercises and solutions in the tutorials: the cell-tag convention, student and instructor copies.

The convention (also in ``CONTRIBUTING.md``)
--------------------------------------------
Every exercise is a pair of code cells, marked by tags in the cell metadata:

``exercise``
    The stub the reader fills in. A stub that ``raise NotImplementedError``
    also carries ``raises-exception``, so that nbval and nbclient accept the
    error it stores.
``solution``
    The worked answer. Its source *and* its outputs stay hidden until the
    reader expands it: :func:`apply_cell_visibility` (run by ``make
    notebooks``) derives JupyterLab's ``jupyter.source_hidden`` /
    ``jupyter.outputs_hidden`` and MyST-NB's ``hide-cell`` tag from it, so an
    author only sets the tag.

``python -m mink_toolkit workshop --out DIR`` writes ``DIR/student/`` (solution
cells removed, outputs of exercise cells cleared, everything else kept) and
``DIR/instructor/`` (everything, solutions expanded).

Notebooks are handled as :mod:`nbformat` nodes (plain dicts with attribute
access); every function returns a new notebook and leaves its input as it was.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

__all__ = [
    "EXERCISE",
    "HIDE_CELL",
    "RAISES_EXCEPTION",
    "SOLUTION",
    "apply_cell_visibility",
    "instructor_copy",
    "main",
    "student_copy",
    "write_workshop",
]

EXERCISE = "exercise"
SOLUTION = "solution"
RAISES_EXCEPTION = "raises-exception"
#: MyST-NB's tag for a cell folded behind a "show" button (source and outputs).
HIDE_CELL = "hide-cell"
#: JupyterLab's cell metadata for folded source and outputs.
_HIDDEN = {"source_hidden": True, "outputs_hidden": True}


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _set_tags(cell, tags: list[str]) -> None:
    if tags:
        cell.setdefault("metadata", {})["tags"] = tags
    else:
        cell.get("metadata", {}).pop("tags", None)


def apply_cell_visibility(nb):
    """Hide every ``solution`` cell, source and outputs, in JupyterLab and in the docs.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A version-4 notebook.

    Returns
    -------
    nbformat.NotebookNode
        A copy in which each cell tagged ``solution`` has
        ``metadata.jupyter.source_hidden`` and ``outputs_hidden`` set and the
        ``hide-cell`` tag (MyST-NB). Other cells are left as they are: the tag
        is what decides.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        tags = _tags(cell)
        if SOLUTION not in tags:
            continue
        cell.setdefault("metadata", {}).setdefault("jupyter", {}).update(_HIDDEN)
        if HIDE_CELL not in tags:
            _set_tags(cell, [*tags, HIDE_CELL])
    return nb


def student_copy(nb):
    """The notebook a workshop participant gets.

    Cells tagged ``solution`` are removed; cells tagged ``exercise`` keep
    their source (the stub) but lose their outputs and execution count;
    every other cell, and the notebook metadata (kernelspec, saved widget
    state), is kept as it is.

    Parameters
    ----------
    nb : nbformat.NotebookNode

    Returns
    -------
    nbformat.NotebookNode
    """
    nb = copy.deepcopy(nb)
    kept = []
    for cell in nb.cells:
        tags = _tags(cell)
        if SOLUTION in tags:
            continue
        if EXERCISE in tags and cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        kept.append(cell)
    nb.cells = kept
    return nb


def instructor_copy(nb):
    """The notebook with every solution expanded (source and outputs shown).

    Parameters
    ----------
    nb : nbformat.NotebookNode

    Returns
    -------
    nbformat.NotebookNode
        A copy in which cells tagged ``solution`` lose the folding metadata
        and the ``hide-cell`` tag; their ``solution`` tag stays.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        tags = _tags(cell)
        if SOLUTION not in tags:
            continue
        folding = cell.get("metadata", {}).get("jupyter", {})
        for key in _HIDDEN:
            folding.pop(key, None)
        if not folding:
            cell.metadata.pop("jupyter", None)
        _set_tags(cell, [t for t in tags if t != HIDE_CELL])
    return nb


def write_workshop(notebooks, out) -> list[dict]:
    """Write ``out/student/`` and ``out/instructor/`` copies of notebooks.

    Parameters
    ----------
    notebooks : iterable of path-like
        ``.ipynb`` files.
    out : path-like
        Output folder; created if needed, files of the same name are replaced.

    Returns
    -------
    list of dict
        Per notebook: ``name``, ``student`` and ``instructor`` paths, and the
        numbers of ``solutions_removed`` and ``exercises_cleared``.

    Raises
    ------
    nbformat.ValidationError
        If a copy is not a valid notebook (nothing is written for it).
    """
    import nbformat

    out = Path(out)
    report = []
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        student, instructor = student_copy(nb), instructor_copy(nb)
        # Validate both before writing either, so a bad notebook leaves no half-written pair.
        nbformat.validate(student)
        nbformat.validate(instructor)
        paths = {}
        for kind, copy_ in (("student", student), ("instructor", instructor)):
            target = out / kind / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(copy_, target)
            paths[kind] = target
        tags = [_tags(c) for c in nb.cells]
        report.append({
            "name": path.name,
            **paths,
            "solutions_removed": sum(SOLUTION in t for t in tags),
            "exercises_cleared": sum(EXERCISE in t and c.cell_type == "code" for t, c in zip(tags, nb.cells)),
        })
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m mink_toolkit workshop --out DIR [NOTEBOOK ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m mink_toolkit workshop",
        description="Write student copies (solutions removed, exercise outputs cleared) and "
                    "instructor copies (solutions expanded) of the tutorial notebooks.",
    )
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to copy (default: notebooks/*.ipynb in the current folder)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (student/ and instructor/ inside)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    if not notebooks:
        print("workshop: no notebooks given and none in ./notebooks", file=sys.stderr)
        return 2
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"workshop: not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    import nbformat

    try:
        report = write_workshop(notebooks, args.out)
    except (nbformat.ValidationError, nbformat.reader.NotJSONError, OSError) as exc:
        print(f"workshop: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    for row in report:
        print(f"{row['name']}: {row['solutions_removed']} solution cells removed, "
              f"{row['exercises_cleared']} exercise cells cleared")
    print(f"student copies in {args.out / 'student'}, instructor copies in {args.out / 'instructor'}")
    print("Saved widgets show before the kernel runs only in trusted notebooks: "
          "run `jupyter trust` on the copies where they will be opened.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
