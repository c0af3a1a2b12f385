"""Shared fixtures. Real OPERA data come from $MINK_DATA_DIR (CI: ../shared/data/opera)."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def opera_rate_field() -> np.ndarray:
    """The 2018-08-24 18:00 Odyssey rain-rate composite (mm/h, NaN outside coverage)."""
    from mink_toolkit import load_opera

    return load_opera("20180824/T_PAAH21_C_EUOC_20180824180000.hdf").values
