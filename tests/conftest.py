"""Shared fixtures. Real OPERA data come from $MINK_DATA_DIR (CI: ../shared/data/opera)."""

import numpy as np
import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each test's outcome on its item (tests/browser saves a screenshot of a failed page).

    Here rather than in tests/browser/conftest.py: `make test` also collects doctests, and two
    modules named ``conftest`` in directories without ``__init__.py`` collide under it.
    """
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


@pytest.fixture(scope="session")
def opera_rate_field() -> np.ndarray:
    """The 2018-08-24 18:00 Odyssey rain-rate composite (mm/h, NaN outside coverage)."""
    from mink_toolkit import load_opera

    return load_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf").values


@pytest.fixture
def synthetic(tmp_path):
    """Four synthetic rain-rate files 15 min apart, written out of time order (paths as str)."""
    from _odim_files import write_odim

    folder = tmp_path / "archive"
    folder.mkdir()
    stamps = ["20180824184500", "20180824180000", "20180824183000", "20180824181500"]
    return [write_odim(folder / f"T_TEST_{s}.hdf", s, seed=i) for i, s in enumerate(stamps)]


@pytest.fixture(scope="session")
def odyssey_paths():
    """The first three 2018-08-24 Odyssey files (str paths)."""
    from mink_toolkit import fetch_opera, opera_files

    return [str(fetch_opera(n)) for n in opera_files("odyssey_rate")[:3]]
