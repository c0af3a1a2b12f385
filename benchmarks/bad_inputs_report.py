"""Count how the public boundary treats the bad inputs of ``tests/test_bad_inputs.py``.

Each case is graded as in the test: *clear* (the expected exception, with a
message naming the argument and the offending value or file), *unclear*
(an error, but of the wrong type or with a vague message) or *accepted*
(no error at all). Issue 20's closing note quotes these counts before and
after its fixes::

    python benchmarks/bad_inputs_report.py [--verbose]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="print every case that is not clear")
    args = parser.parse_args(argv)
    # This checkout's package (not an installed one), and the table with its helpers (_odim_files) in tests/.
    sys.path[:0] = [str(ROOT), str(TESTS)]
    import test_bad_inputs as table

    rows = []
    warnings.simplefilter("ignore")
    for kind, cases, grade in (("library", table.CASES, table.check_raised),
                               ("command line", table.CLI_CASES, table.check_cli)):
        for param in cases:
            with tempfile.TemporaryDirectory() as tmp:
                verdict, detail = grade(*param.values, Path(tmp))
            rows.append((kind, param.id, verdict, detail))
    for kind in ("library", "command line"):
        counts = Counter(v for k, _, v, _ in rows if k == kind)
        print(f"{kind:13s} {sum(counts.values()):4d} cases: clear {counts['clear']:3d}, "
              f"unclear {counts['unclear']:3d}, accepted {counts['accepted']:3d}")
    counts = Counter(v for _, _, v, _ in rows)
    print(f"{'total':13s} {len(rows):4d} cases: clear {counts['clear']:3d}, "
          f"unclear {counts['unclear']:3d}, accepted {counts['accepted']:3d}")
    for kind, case_id, verdict, detail in rows:
        if verdict != "clear":
            line = detail.strip().splitlines()[-1] if detail.strip() else ""
            print(f"  {verdict:8s} {case_id}" + (f": {line[:300]}" if args.verbose else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
