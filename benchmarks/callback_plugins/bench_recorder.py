# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: appends task starts and task results, with wall-clock times, as JSON lines
to the file named by $PC_BENCH_EVENTS (benchmarks/rollout.py reads them back)."""
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_recorder
type: aggregate
short_description: Record task starts and results with times for the rollout benchmark
description:
  - Writes one JSON object per task start, per host start and per task result to the file named by E(PC_BENCH_EVENTS).
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    """Record what ran where and when: the benchmark matches the emulator's request log against it."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_recorder"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("PC_BENCH_EVENTS")

    def _write(self, entry):
        if not self._path:
            return
        entry["time"] = time.time()
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")

    @staticmethod
    def _task(task):
        return {"task_uuid": task._uuid, "task": task.get_name(), "action": task.action,
                "run_once": bool(task.run_once), "role": task._role.get_name() if task._role else None}

    def _result(self, result, status):
        entry = {"event": "result", "status": status, "host": result._host.get_name(), **self._task(result._task)}
        entry["changed"] = bool(result._result.get("changed", False))
        self._write(entry)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write({"event": "task_start", **self._task(task)})

    def v2_playbook_on_handler_task_start(self, task):
        self._write({"event": "task_start", "handler": True, **self._task(task)})

    def v2_runner_on_start(self, host, task):
        self._write({"event": "host_start", "host": host.get_name(), **self._task(task)})

    def v2_runner_on_ok(self, result):
        self._result(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._result(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._result(result, "unreachable")

    def v2_playbook_on_include(self, included_file):
        self._write({"event": "include", "file": included_file._filename, "hosts": [h.get_name() for h in included_file._hosts],
                     **self._task(included_file._task)})

    def v2_playbook_on_stats(self, stats):
        self._write({"event": "stats", "hosts": {h: stats.summarize(h) for h in sorted(stats.processed)}})
