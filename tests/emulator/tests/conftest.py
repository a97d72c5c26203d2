"""The emulator's own tests start every test from its seeded state (the `emulator` fixture is in
tests/conftest.py)."""
from __future__ import annotations

import pytest

from tests.emulator.client import EmulatorProcess


@pytest.fixture(autouse=True)
def fresh(emulator: EmulatorProcess) -> None:
    """Seeded state and settings, no faults, empty request log."""
    emulator.reset()
