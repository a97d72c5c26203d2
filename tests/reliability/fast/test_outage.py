"""Scenario 4, outage of one cloud's endpoints: playbooks/rollout.yml over one tenant per cloud, while
US Government's identity platform refuses connections, China's Microsoft Graph accepts them and never
answers, and DoD's Partner Center refuses connections. The hosts of those clouds must fail with a
message that names the unreachable endpoint, the global cloud's host must finish, and a rerun with the
endpoints back must complete and converge.

The hosts get short retry budgets (retry_timeout 8 s, request_timeout 4 s) so that the test does not
wait out the defaults (120 s, 30 s); what is tested is the behaviour at the end of the budget.
"""
from __future__ import annotations

import socket
from typing import Iterator

import pytest

from tests.emulator.inventory import host_name
from tests.reliability.support import failures, hosts_ok, scenario_seed

SCENARIO = "4. Outage"
BUDGET = {"retry_timeout": 8, "request_timeout": 4}


@pytest.fixture
def dead_ports() -> Iterator[dict[str, int]]:
    """A port that refuses connections (bound, then closed) and one that accepts them and never answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes handshakes; nobody ever reads or answers
    try:
        yield {"refused": refused, "silent": silent.getsockname()[1]}
    finally:
        silent.close()


def test_one_clouds_unreachable_endpoints_fail_only_its_hosts(make_lab, record, dead_ports):
    record.scenario = SCENARIO
    seed = scenario_seed(SCENARIO)
    record.seeds.append(seed)
    lab = make_lab("--tenants", "1", "--seed", str(seed % 1000 + 1), "--pc-auto-register-after", "0")
    tenants = {t["cloud"]: t for t in lab.emulator.info["tenants"]}
    record.cases = len(tenants)
    refused = f"https://127.0.0.1:{dead_ports['refused']}"
    silent = f"https://127.0.0.1:{dead_ports['silent']}"
    down = {"usgov": ("authority_host", refused), "china": ("graph_endpoint", silent),
            "usgov_dod": ("partner_center_endpoint", refused)}
    broken = lab.inventory(name="outage-inventory.yml", auth=BUDGET,
                           clouds={cloud: {option: url} for cloud, (option, url) in down.items()})
    run = lab.rollout(inventory=broken, label="rollout with unreachable endpoints")

    assert not hosts_ok(run, [host_name(tenants["public"])]), failures(run)
    failed = failures(run)
    problems = []
    for cloud, (option, url) in down.items():
        host = host_name(tenants[cloud])
        msg = failed.get(host)
        print(f"[reliability] {host} ({option} unreachable): {msg}")
        if msg is None:
            problems.append(f"{host}: did not fail although its {option} {url} is unreachable")
        elif url.split("//", 1)[1] not in msg:
            problems.append(f"{host}: the message does not name the unreachable endpoint {url}: {msg}")
    assert not problems, "\n".join(problems)

    rerun = lab.rollout(inventory=lab.inventory(), label="rerun with every endpoint back")
    assert not hosts_ok(rerun, [host_name(t) for t in tenants.values()]), failures(rerun)
    converged = lab.converged(list(tenants.values()))
    lab.finish()
    assert converged.ok, str(converged)
