# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: appends every task result, as JSON lines, to $PC_E2E_RESULTS."""
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: result_recorder
type: aggregate
short_description: Record task results as JSON lines for the end-to-end tests
description:
  - Writes one JSON object per task result to the file named by E(PC_E2E_RESULTS).
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    """Record host, task, action, status and the module's result."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "result_recorder"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status: str) -> None:
        entry = {
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "action": result._task.action,
            "status": status,
            "result": result._result,
        }
        with open(os.environ["PC_E2E_RESULTS"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
