"""Fixtures of the emulator's own tests: one emulator per test session (all four clouds, two
tenants each), reset to its seeded state before every test."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.emulator.client import EmulatorProcess


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """A running emulator (the real `python -m tests.emulator`)."""
    with EmulatorProcess("--tenants", "2", "--fault-seed", "7") as process:
        yield process


@pytest.fixture(autouse=True)
def fresh(emulator: EmulatorProcess) -> None:
    """Seeded state, no faults, empty request log."""
    emulator.reset()
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": None, "utf8_bom": True})
