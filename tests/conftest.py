# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Repository-wide pytest hooks.

A skipped test in CI usually means a missing install step (an import that failed, an emulator that did
not start), so every skip is reported as a failure unless PC_ALLOW_SKIPS=1 is set in the environment.
Expected failures (xfail) are not skips and are governed by xfail_strict instead.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from tests.emulator.client import EmulatorProcess

ALLOW_SKIPS_ENV = "PC_ALLOW_SKIPS"


def _skips_allowed() -> bool:
    return os.environ.get(ALLOW_SKIPS_ENV) == "1"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, lineno, message = longrepr
        return f"{message} ({path}:{lineno})"
    return str(longrepr)


def _fail_skip(report, what: str) -> None:
    reason = _skip_reason(report)
    report.outcome = "failed"
    report.longrepr = (
        f"{what} was skipped, and skips fail this run (set {ALLOW_SKIPS_ENV}=1 to allow them): {reason}"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and not _skips_allowed():
        _fail_skip(report, f"test {item.nodeid}")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    # Module-level skips (pytest.importorskip, pytest.skip(allow_module_level=True)) happen at collection.
    report = yield
    if report.skipped and not _skips_allowed():
        _fail_skip(report, f"collection of {collector.nodeid}")
    return report


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """A running emulator (the real `python -m tests.emulator`): all four clouds, two tenants each.

    One per test session (and per xdist worker); suites reset it as their tests need.
    """
    with EmulatorProcess("--tenants", "2", "--fault-seed", "7") as process:
        yield process
