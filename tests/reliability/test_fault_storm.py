"""Scenario 1, fault storm: playbooks/rollout.yml over 20 tenants in four clouds while the emulator answers
20% of requests with 429 (Retry-After), 5% with 5xx, drops 2% of connections (half of them after the
request took effect) and hides new objects for up to 5 s. Every host must end ok, and the tenants must
hold exactly the converged state: one app per flow, consent complete, one valid managed secret per web
app whose value is in its dest file and signs in. A rerun under the same storm changes nothing.

addPassword, which is not idempotent, is in the storm too; test_rollout_recovers_when_addpassword_fails_once
makes its three ambiguous failures certain (5xx, answer lost after the secret was created, connection
dropped before it was).
"""
from __future__ import annotations

import collections

import pytest

from tests.emulator.inventory import host_name, key_vault_store
from tests.reliability.support import describe, failures, hosts_ok, scenario_seed, writes

SCENARIO = "1. Fault storm"
STORM = {"throttle_probability": 0.2, "retry_after": 1, "server_error_probability": 0.05, "drop_probability": 0.02,
         "drop_after_processing": 0.5, "replication_lag_min_seconds": 0.0, "replication_lag_max_seconds": 5.0}
TENANTS_PER_CLOUD = 5  # four clouds: 20 tenants


def test_rollout_converges_under_a_fault_storm(make_lab, record):
    record.scenario = SCENARIO
    seed = scenario_seed(SCENARIO)
    record.seeds.append(seed)
    lab = make_lab("--tenants", str(TENANTS_PER_CLOUD), "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    assert len(hosts) >= 20
    record.cases = len(hosts)
    inventory = lab.inventory()

    lab.emulator.set_faults(seed=seed, **STORM)
    first = lab.rollout("--forks", "10", inventory=inventory, label="rollout under the storm")
    faults = collections.Counter(e["fault"] for e in first.requests if e["fault"])
    print(f"[reliability] faults injected in the first rollout: {dict(faults)} of {len(first.requests)} requests")
    assert sum(faults.values()) > 0.2 * len(first.requests), "the storm did not happen"
    assert not hosts_ok(first, hosts), (hosts_ok(first, hosts), failures(first))
    assert first.rc == 0

    lab.emulator.set_faults()
    converged = lab.converged(tenants, lag=STORM["replication_lag_max_seconds"])
    assert converged.ok, f"seed {seed}: {converged}"

    lab.emulator.set_faults(seed=seed + 1, **STORM)
    second = lab.rollout("--forks", "10", inventory=inventory, label="rerun under the storm")
    assert not hosts_ok(second, hosts), (hosts_ok(second, hosts), failures(second))
    changed = {host: counters["changed"] for host, counters in second.recap().items() if counters["changed"]}
    assert not changed, f"seed {seed}: the rerun changed something: {changed}"
    assert writes(second.requests) == [], describe(writes(second.requests))

    lab.emulator.set_faults()
    converged = lab.converged(tenants, lag=STORM["replication_lag_max_seconds"])
    assert converged.ok, f"seed {seed}: {converged}"
    lab.finish()


def test_rollout_with_key_vault_as_the_store_converges_under_the_storm(make_lab, record):
    """The same storm on Graph, the identity platform and Key Vault, with every web app's secret kept in its
    tenant's Key Vault (issue 12): every host ends ok, one valid secret per web app held by the vault, and
    a rerun under the storm changes nothing (no Graph write, no vault write)."""
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, Key Vault store")
    record.seeds.append(seed)
    lab = make_lab("--tenants", "2", "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    record.cases = len(hosts)
    inventory = lab.inventory(host_vars={host_name(t): {"web_app_secret_store": key_vault_store(t)} for t in tenants})

    lab.emulator.set_faults(seed=seed, **STORM)
    first = lab.rollout("--forks", "8", inventory=inventory, label="rollout with Key Vault under the storm")
    faults = collections.Counter((e["service"], e["fault"]) for e in first.requests if e["fault"])
    print(f"[reliability] faults injected (service, kind): {dict(faults)} of {len(first.requests)} requests")
    assert any(service == "key_vault" for service, dummy in faults), "the storm did not reach Key Vault"
    assert not hosts_ok(first, hosts), (hosts_ok(first, hosts), failures(first))
    lab.emulator.set_faults()
    converged = lab.converged(tenants, lag=STORM["replication_lag_max_seconds"], key_vault=True)
    assert converged.ok, f"seed {seed}: {converged}"

    lab.emulator.set_faults(seed=seed + 1, **STORM)
    second = lab.rollout("--forks", "8", inventory=inventory, label="rerun with Key Vault under the storm")
    assert not hosts_ok(second, hosts), (hosts_ok(second, hosts), failures(second))
    vault_writes = [e for e in second.requests if e["service"] == "key_vault" and e["method"] != "GET"]
    assert writes(second.requests) == [] and vault_writes == [], describe(writes(second.requests) + vault_writes)
    lab.emulator.set_faults()
    converged = lab.converged(tenants, lag=STORM["replication_lag_max_seconds"], key_vault=True)
    assert converged.ok, f"seed {seed}: {converged}"
    for tenant in tenants:  # the values the vaults hold must appear in no output and no log entry either
        lab.secrets.add(f"Key Vault value of {host_name(tenant)}",
                        lab.emulator.key_vault(tenant).get(f"/secrets/{key_vault_store(tenant)['secret_name']}").json()["value"])
    lab.finish()


@pytest.mark.parametrize("fault", [
    {"server_error_probability": 1.0, "server_error_statuses": [500, 502, 504]},
    {"drop_probability": 1.0, "drop_after_processing": 1.0},
    {"drop_probability": 1.0, "drop_after_processing": 0.0},
], ids=["5xx", "answer-lost", "dropped-before"])
def test_rollout_recovers_when_addpassword_fails_once(make_lab, record, fault):
    """The first addPassword of every web app fails (once: max_faults_per_request); every host must
    still end ok and converged, with no secret whose value was lost."""
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, addPassword fails once")
    record.seeds.append(seed)
    lab = make_lab("--tenants", "1", "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    record.cases = len(hosts)
    inventory = lab.inventory()
    lab.emulator.set_faults(seed=seed, match=r"^POST .*/addPassword$", max_faults_per_request=1, **fault)
    run = lab.rollout(inventory=inventory, label="rollout, addPassword fails once")
    assert sum(1 for e in run.requests if e["fault"]) == len(hosts)
    lab.emulator.set_faults()
    converged = lab.converged(tenants)
    lab.finish()
    assert not hosts_ok(run, hosts), (hosts_ok(run, hosts), failures(run))
    assert converged.ok, str(converged)
