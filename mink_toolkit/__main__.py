"""``python -m mink_toolkit``: see :mod:`mink_toolkit.cli`."""

import sys

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
