"""The emulator's own tests start every test from its seeded state (the `emulator` fixture is in
tests/conftest.py)."""
from __future__ import annotations

import pytest

from tests.emulator.client import EmulatorProcess


@pytest.fixture(autouse=True)
def fresh(emulator: EmulatorProcess) -> None:
    """Seeded state, no faults, empty request log."""
    emulator.reset()
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": None, "utf8_bom": True})
