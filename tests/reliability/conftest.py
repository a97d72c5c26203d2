"""Fixtures of the reliability and security suite (issue 7), and the registration of its summary table.

Each test asks for `record` (a support.Record) and fills in its scenario's numbers; at teardown the
record travels in the test report's user_properties (pytest-xdist ships those from its workers), and
summary.Summary adds them up per scenario and prints the table at the end of the session (and, when
$PC_RELIABILITY_SUMMARY names a file, as `make reliability` does, writes it there as Markdown).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.emulator.client import EmulatorProcess
from tests.reliability.summary import RECORD_KEY, Summary
from tests.reliability.support import Lab, Record


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[Record]:
    """This test's contribution to the summary table (set `.scenario`, then count)."""
    entry = Record()
    yield entry
    request.node.user_properties.append((RECORD_KEY, json.dumps(entry.to_json())))


@pytest.fixture
def make_lab(tmp_path: Path, record: Record) -> Iterator[Callable[..., Lab]]:
    """make_lab(*emulator_args): start an emulator (stopped at teardown) and return a Lab on it."""
    started: list[EmulatorProcess] = []

    def make(*args: str, name: str = "lab") -> Lab:
        emulator = EmulatorProcess(*args).start()
        started.append(emulator)
        workdir = tmp_path / name
        workdir.mkdir(mode=0o700)
        return Lab(emulator, workdir, record)

    yield make
    for emulator in started:
        emulator.stop()


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and not config.pluginmanager.has_plugin("reliability-summary"):
        config.pluginmanager.register(Summary(), "reliability-summary")
