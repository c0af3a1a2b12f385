"""Exercises and solutions in the tutorials: the cell-tag convention, student and instructor copies.

The convention (also in ``CONTRIBUTING.md``)
--------------------------------------------
Every exercise is a pair of code cells, marked by tags in the cell metadata:

``exercise``
    The stub the reader fills in. A stub that ``raise NotImplementedError``
    also carries ``raises-exception``, so that nbval and nbclient accept the
    error it stores.
``solution``
    The worked answer. Its source starts with the cell magic ``%%solution N``
    (:mod:`mink_toolkit.notebook.solutions`, loaded by the notebook's first
    code cell): in a learner's kernel the cell runs nothing and shows a "Show
    solution N" button, so Run All does not reveal it; with
    ``MINK_SOLUTIONS=1`` (``make notebooks``, ``make test``) it runs as plain
    code and its outputs are stored and compared. In the stored notebook its
    source *and* outputs are folded: :func:`apply_cell_visibility` (run by
    ``make notebooks``) derives JupyterLab's ``jupyter.source_hidden`` /
    ``jupyter.outputs_hidden`` and MyST-NB's ``hide-cell`` tag from the tag.

What the text says about the solutions sits in markdown paragraphs that start
with :data:`SOLUTIONS_MARKER` (``**Solutions.**``), so that each copy can say
what it holds.

``python -m mink_toolkit workshop --out DIR`` writes ``DIR/student/`` (solution
cells removed, outputs of exercise cells cleared, the first ``**Solutions.**``
paragraph replaced by :data:`STUDENT_NOTE` and the others removed, everything
else kept) and ``DIR/instructor/`` (solutions expanded and runnable without
``MINK_SOLUTIONS``: the ``%%solution`` lines removed; the paragraphs replaced by
:data:`INSTRUCTOR_NOTE`). It refuses a ``DIR`` that is not empty unless given
``--force``.

Notebooks are handled as :mod:`nbformat` nodes (plain dicts with attribute
access); every function returns a new notebook and leaves its input as it was.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

from .solutions import solution_body

__all__ = [
    "EXERCISE",
    "HIDE_CELL",
    "INSTRUCTOR_NOTE",
    "RAISES_EXCEPTION",
    "SOLUTION",
    "SOLUTIONS_MARKER",
    "STUDENT_NOTE",
    "apply_cell_visibility",
    "instructor_copy",
    "main",
    "replace_solution_notes",
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
#: A markdown paragraph about the solutions starts with this; the copies rewrite such paragraphs.
SOLUTIONS_MARKER = "**Solutions.**"
#: What a student copy says instead (first such paragraph; the others are removed).
STUDENT_NOTE = (f"{SOLUTIONS_MARKER} This student copy has no solutions: "
                "they are not included (your instructor has them).")
#: What an instructor copy says instead.
INSTRUCTOR_NOTE = (f"{SOLUTIONS_MARKER} This instructor copy shows each solution, unfolded and runnable, "
                   "right below its exercise.")
# Paragraphs of a markdown source: the text between blank lines (separators kept by re.split).
_PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n)")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _set_tags(cell, tags: list[str]) -> None:
    if tags:
        cell.setdefault("metadata", {})["tags"] = tags
    else:
        cell.get("metadata", {}).pop("tags", None)


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def replace_solution_notes(nb, note: str) -> int:
    """Replace the first :data:`SOLUTIONS_MARKER` paragraph of the markdown by ``note``, drop the others.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Modified in place.
    note : str
        The paragraph to put in place of the first one.

    Returns
    -------
    int
        The number of paragraphs found (0: nothing was changed).

    Examples
    --------
    >>> from nbformat.v4 import new_markdown_cell, new_notebook
    >>> nb = new_notebook(cells=[new_markdown_cell("Intro.\\n\\n**Solutions.** Hidden.\\n\\nMore."),
    ...                          new_markdown_cell("Do it.\\n\\n**Solutions.** Below.")])
    >>> replace_solution_notes(nb, "**Solutions.** None here.")
    2
    >>> [c.source for c in nb.cells]
    ['Intro.\\n\\n**Solutions.** None here.\\n\\nMore.', 'Do it.']
    """
    found = 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        parts = _PARAGRAPH_BREAK.split(_source(cell))  # paragraph, break, paragraph, ...
        kept = []
        for index in range(0, len(parts), 2):
            paragraph = parts[index]
            if paragraph.lstrip().startswith(SOLUTIONS_MARKER):
                found += 1
                if found > 1:
                    continue  # dropped with the break before it
                paragraph = note
            if kept:
                kept.append(parts[index - 1])
            kept.append(paragraph)
        cell.source = "".join(kept)
    return found


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
    their source (the stub) but lose their outputs and execution count; the
    markdown says that the copy holds no solutions (:data:`STUDENT_NOTE` in
    place of the first :data:`SOLUTIONS_MARKER` paragraph, the others
    removed; without such a paragraph, the note is added to the first
    markdown cell). Every other cell, and the notebook metadata (kernelspec,
    saved widget state), is kept as it is.

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
    removed = len(nb.cells) - len(kept)
    nb.cells = kept
    if not replace_solution_notes(nb, STUDENT_NOTE) and removed:
        first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
        if first is not None:
            first.source = f"{_source(first).rstrip()}\n\n{STUDENT_NOTE}"
    return nb


def instructor_copy(nb):
    """The notebook with every solution expanded (source and outputs shown) and runnable.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The stored tutorial; it is not modified.

    Returns
    -------
    nbformat.NotebookNode
        A copy in which cells tagged ``solution`` lose the folding metadata,
        the ``hide-cell`` tag and their ``%%solution`` line (so they run as
        plain code, without ``MINK_SOLUTIONS``); their ``solution`` tag and
        outputs stay. The :data:`SOLUTIONS_MARKER` paragraphs become
        :data:`INSTRUCTOR_NOTE` (the first) or are removed.
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
        split = solution_body(_source(cell))
        if split is not None:
            cell.source = split[1]
    replace_solution_notes(nb, INSTRUCTOR_NOTE)
    return nb


def write_workshop(notebooks, out) -> list[dict]:
    """Write ``out/student/`` and ``out/instructor/`` copies of notebooks.

    Parameters
    ----------
    notebooks : iterable of path-like
        ``.ipynb`` files.
    out : path-like
        Output folder; created if needed, files of the same name are replaced
        (the command line refuses a folder that is not empty without ``--force``).

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
    parser.add_argument("--force", action="store_true",
                        help="write into --out even if it is not empty (files of the same name are replaced)")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        print(f"workshop: --out {args.out} exists and is not a folder", file=sys.stderr)
        return 2
    if not args.force and args.out.is_dir() and any(args.out.iterdir()):
        print(f"workshop: the output folder {args.out} is not empty; choose another --out, or pass --force "
              "to write into it (files of the same name are replaced)", file=sys.stderr)
        return 2
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
