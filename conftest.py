"""pytest settings for validating the tutorials with nbval (``make test``).

At the repository root, not in notebooks/: ``--doctest-modules`` would collect a conftest.py there as a
module, and its name clashes with tests/conftest.py.
"""

from __future__ import annotations

#: Seconds nbval waits for each output message of a cell once the kernel reports the cell done.
#: nbval hard-codes 5 s (``IPyNbCell.output_timeout``). On two busy cores (two xdist workers, each
#: with a kernel training networks) a kernel's IOPub thread can fall that far behind a long training
#: cell, and the cell fails with "Timeout of 5 seconds exceeded waiting for output" although it ran
#: (notebook 03's training cell, on the older-instruction-set pass of CI). 60 s still fails a hung kernel.
OUTPUT_TIMEOUT = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if hasattr(item, "output_timeout"):  # nbval's notebook cells only
            item.output_timeout = OUTPUT_TIMEOUT
