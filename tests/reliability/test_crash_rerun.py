"""Scenario 2, crash and rerun: playbooks/rollout.yml is killed with SIGKILL at a precise point, timed
from the emulator's request log or the callback's results, then run again. The kill takes down what a
crash of the controller would: ansible-playbook's process group and every descendant (ansible-core
starts each worker in a session of its own, so the group alone would leave the module processes
running to completion). The rerun must end ok on every host with the
converged state of scenario 1 and no orphan secret (a valid secret whose value is not in a dest file).

The points cover every step of both flows, between tasks and inside them, and the most dangerous
one twice: right after a secret was created, while its value is still on its way to the module (the
emulator holds the addPassword answer: delay_match), so that the value is certainly lost.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.emulator.inventory import host_name
from tests.reliability.support import (
    PARTNER_CENTER_APP_ID,
    SECRET_NAME,
    Lab,
    Started,
    failures,
    hosts_ok,
    matching,
    scenario_seed,
)

SCENARIO = "2. Crash and rerun"
ADD_PASSWORD = r"^/v1\.0/applications/[^/]+/addPassword$"


@dataclass(frozen=True)
class KillPoint:
    """When to kill: after the nth matching request is logged, after n task results, or after a time."""

    name: str
    service: str | None = None
    method: str | None = None
    path: str | None = None
    body: str | None = None  # a substring of the logged (redacted) JSON body
    nth: int = 1
    task_results: int = 0
    seconds: float = 0.0
    hold: str = ""  # delay_match: hold the answers of these requests while the kill happens

    def reached(self, entries: list[dict[str, Any]], started: Started) -> bool:
        """Whether the point is reached, given every log entry since the run started."""
        if self.seconds:
            return time.monotonic() - started.started >= self.seconds
        if self.task_results:
            return started.task_lines() >= self.task_results
        found = matching(entries, service=self.service, method=self.method, path=self.path,
                         body=None if self.body is None else lambda b: self.body in json.dumps(b))
        return len(found) >= self.nth


# Two hosts (public, usgov): 2 task results per task. Pre-task assert, the web_app role's argument
# validation, then "Ensure the web app registration": 6 results once the app exists on both hosts.
POINTS = [
    KillPoint("at-start-before-any-request", seconds=0.8),
    KillPoint("first-token-request", service="identity", method="POST", path=r"/oauth2/v2\.0/token$"),
    KillPoint("web-app-upsert", service="graph", method="PATCH", path=r"uniqueName='partner-center-web'"),
    KillPoint("web-app-service-principal", service="graph", method="POST", path=r"^/v1\.0/servicePrincipals$"),
    KillPoint("between-tasks-after-app-registration", task_results=6),
    KillPoint("web-app-required-permissions", service="graph", method="PATCH", path=r"^/v1\.0/applications/[^/(]+$",
              body="requiredResourceAccess"),
    KillPoint("web-app-admin-consent", service="graph", method="POST", path=r"/appRoleAssignedTo$"),
    KillPoint("add-password-answered", service="graph", method="POST", path=ADD_PASSWORD),
    KillPoint("add-password-value-in-flight", service="graph", method="POST", path=ADD_PASSWORD, hold="addPassword$"),
    KillPoint("add-password-in-flight-twice", service="graph", method="POST", path=ADD_PASSWORD, nth=2,
              hold="addPassword$"),
    KillPoint("partner-center-check", service="partner_center"),
    KillPoint("native-app-upsert", service="graph", method="PATCH", path=r"uniqueName='partner-center-native'"),
    KillPoint("partner-center-service-principal", service="graph", method="POST", path=r"^/v1\.0/servicePrincipals$",
              body=PARTNER_CENTER_APP_ID),
    KillPoint("native-app-consent-grant", service="graph", method="POST", path=r"^/v1\.0/oauth2PermissionGrants$"),
]


def kill_at(lab: Lab, point: KillPoint, inventory: Any, label: str) -> None:
    """Start the rollout, kill it when the point is reached, and check that it was."""
    if point.hold:
        lab.emulator.set_faults(delay_seconds=20, delay_match=point.hold, services=["graph"])
    else:
        lab.emulator.set_faults()
    lab.collect_requests()
    lab.emulator.clear_log()
    started = lab.start_rollout(inventory=inventory, label=label)
    entries: list[dict[str, Any]] = []
    reached = False
    deadline = time.monotonic() + 600
    while started.running() and time.monotonic() < deadline:
        entries += lab.emulator.requests_log(since=str(entries[-1]["seq"] if entries else 0))
        if point.reached(entries, started):
            reached = True
            started.kill()
            break
        time.sleep(0.02)
    if not reached:
        started.kill()
    run = started.wait()
    lab.emulator.set_faults()
    assert reached, f"{point.name}: the run ended (rc {run.rc}) before the kill point: {failures(run)}"
    print(f"[reliability] killed at {point.name} after {time.monotonic() - started.started:.1f} s, "
          f"{started.task_lines()} task results, {len(entries)} requests")


def valid_secrets(lab: Lab, tenant: dict[str, Any]) -> list[dict[str, Any]]:
    """The web app's secrets named like the role's, from the state dump (hidden ones included)."""
    state = next(t for t in lab.emulator.control("GET", "/state")["tenants"] if t["tenant_id"] == tenant["tenant_id"])
    apps = [a for a in state["applications"] if a.get("uniqueName") == "partner-center-web"]
    return [c for app in apps for c in app["passwordCredentials"] if c["displayName"] == SECRET_NAME]


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_killed_rollout_converges_on_rerun(make_lab, record, point):
    record.scenario = SCENARIO
    record.cases = 1
    seed = scenario_seed(f"{SCENARIO}, {point.name}")
    record.seeds.append(seed)
    lab = make_lab("--clouds", "public,usgov", "--tenants", "1", "--seed", str(seed % 1000 + 1),
                   "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    inventory = lab.inventory()

    kill_at(lab, point, inventory, f"rollout killed at {point.name}")
    if point.hold:
        # The secret exists and its value never reached the module: an orphan, until the rerun repairs it.
        orphans = [c for t in tenants for c in valid_secrets(lab, t)
                   if not lab.dest(t).exists() or json.loads(lab.dest(t).read_text())["key_id"] != c["keyId"]]
        assert orphans, "the kill left no secret whose value was lost"
    if point.name.endswith("-twice"):
        # ... and once more while the rerun repairs those orphans.
        kill_at(lab, point, inventory, f"rerun killed at {point.name}")

    rerun = lab.rollout(inventory=inventory, label="rerun after the kill")
    assert not hosts_ok(rerun, hosts), (hosts_ok(rerun, hosts), failures(rerun))
    converged = lab.converged(tenants)
    assert converged.ok, str(converged)
    leftovers = [p.name for p in lab.secrets_dir.glob(".*.tmp")] if lab.secrets_dir.exists() else []
    assert not leftovers, f"temporary dest files left after the rerun: {leftovers}"
    lab.finish()


def test_kill_points_are_distinct():
    """At least 10 different points, by name and by trigger."""
    assert len({p.name for p in POINTS}) == len(POINTS) >= 10
    assert len({(p.service, p.method, p.path, p.body, p.nth, p.task_results, p.seconds, p.hold) for p in POINTS}) == len(POINTS)
    assert all(re.compile(p.path) for p in POINTS if p.path)
