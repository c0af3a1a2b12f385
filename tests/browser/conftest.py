"""tests/browser: keep each test's outcome on its item, so the page fixture can save a screenshot of a failure."""

import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
