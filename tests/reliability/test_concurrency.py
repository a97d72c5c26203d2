"""Scenario 3, concurrency: two rollouts of the same inventory at once (the same controller: same
dest files and token cache). Both must end ok, the tenants must hold exactly the converged state (no
duplicate app, service principal, grant, assignment or secret; no secret whose value is lost), and a
third rollout must change nothing.

Two runs started together rarely read the same object at the same instant, so a race would show only
now and then. To make each race certain, the emulator holds the answers to one kind of read
(delay_match) long enough that both runs have read before either writes: the application (pc_aad_app),
the consent ($batch reads of pc_aad_permissions and pc_register_webapp) or the secrets (pc_app_secret).
The last variant starts the second run as the first one creates its secrets, without holding anything.
"""
from __future__ import annotations

import time

import pytest

from tests.emulator.inventory import host_name
from tests.reliability.support import describe, failures, hosts_ok, matching, scenario_seed, wait_until, writes

SCENARIO = "3. Concurrency"
APP_READ = r"^GET /v1\.0/applications\(uniqueName='[^']+'\)\?\$select=id,appId,displayName,uniqueName,signInAudience,web,"
CONSENT_READS = r"^POST /v1\.0/\$batch$"
SECRET_READ = r"^GET /v1\.0/applications\(uniqueName='partner-center-web'\)\?\$select=.*createdDateTime,passwordCredentials$"

VARIANTS = [
    pytest.param("application-reads-overlap", APP_READ, 15, id="together-application-reads-overlap"),
    pytest.param("consent-reads-overlap", CONSENT_READS, 15, id="together-consent-reads-overlap"),
    pytest.param("secret-reads-overlap", SECRET_READ, 25, id="together-secret-reads-overlap"),
    pytest.param("second-at-first-secret", "", 0, id="second-starts-at-first-secret"),
]


@pytest.mark.parametrize(("variant", "hold", "seconds"), VARIANTS)
def test_two_rollouts_at_once_converge_without_duplicates(make_lab, record, variant, hold, seconds):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, {variant}")
    record.seeds.append(seed)
    lab = make_lab("--tenants", "1", "--seed", str(seed % 1000 + 1), "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    record.cases = len(hosts)
    inventory = lab.inventory()
    if hold:
        lab.emulator.set_faults(delay_seconds=seconds, delay_match=hold, services=["graph"])
    lab.emulator.clear_log()

    first = lab.start_rollout(inventory=inventory, label="first of two concurrent rollouts")
    if not hold:
        assert wait_until(lambda: matching(lab.emulator.requests_log(service="graph", method="POST"),
                                           path=r"/addPassword$") or not first.running(), 600)
    second = lab.start_rollout(inventory=inventory, label="second of two concurrent rollouts")
    started = time.monotonic()
    runs = [first.wait(), second.wait()]
    print(f"[reliability] {variant}: both runs ended after {time.monotonic() - started:.0f} s")
    held = [e for e in lab.emulator.requests_log(service="graph") if e["fault"] == "delay"]
    lab.emulator.set_faults()
    if hold:
        assert len(held) >= 2 * len(hosts), f"the hold {hold!r} caught only {describe(held)}"
    for run in runs:
        assert not hosts_ok(run, hosts), (hosts_ok(run, hosts), failures(run))

    converged = lab.converged(tenants)
    third = lab.rollout(inventory=inventory, label="rollout after the concurrent ones")
    lab.finish()
    assert converged.ok, str(converged)
    assert not hosts_ok(third, hosts), (hosts_ok(third, hosts), failures(third))
    assert writes(third.requests) == [], describe(writes(third.requests))
