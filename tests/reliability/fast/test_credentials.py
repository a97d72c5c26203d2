"""Scenario 5, credentials: playbooks/rollout.yml over hosts whose credentials are wrong in one way each
(bad secret, expired secret, unknown tenant, wrong cloud, unknown client, missing permission, a TLS
certificate not trusted because no CA bundle is given). Every host must fail with a clear message
that names the cause, without a traceback and without a retry storm (few requests per host), and
nothing may be written (the client without permission has its one write refused)."""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from tests.reliability.support import ROLLOUT, describe, scenario_seed, writes

SCENARIO = "5. Credentials"
# A host that fails on its first module task sends, at most: OIDC discovery, a token request or two
# (msal retries nothing on an error answer; the collection may retry a throttled one) and one Graph
# request. More than this is a retry storm.
MAX_REQUESTS_PER_HOST = 6


@dataclass
class Case:
    """A host with one thing wrong, and what its failure message must say."""

    name: str
    tenant: dict[str, Any]
    expect: str  # regular expression, searched in msg without case
    who: str = "admin"
    auth: dict[str, Any] | None = None  # overrides of pc_auth
    cloud: str | None = None  # pc_cloud, when the inventory says another cloud than the tenant's


def expire_admin_secret(emulator, tenant: dict[str, Any]) -> None:
    """Move the seeded admin client's secret into the past (its value is still the one we hold)."""
    state = next(t for t in emulator.control("GET", "/state")["tenants"] if t["tenant_id"] == tenant["tenant_id"])
    app = next(a for a in state["applications"] if a["appId"] == tenant["admin"]["client_id"])
    for credential in app["passwordCredentials"]:
        emulator.control("PATCH", f"/tenants/{tenant['tenant_id']}/password-credentials/{credential['keyId']}",
                         json={"startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2025-01-01T00:00:00Z"})


def write_inventory(lab, cases: list[Case]) -> Any:
    """One host per case; pc_auth per host (the emulator's endpoints of the cloud the host names)."""
    info = lab.emulator.info
    hosts = {}
    for case in cases:
        cloud = case.cloud or case.tenant["cloud"]
        # The transport overrides of the modules (the ready line also names the cloud's Key Vault).
        endpoints = {k: info["clouds"][cloud][k] for k in ("authority_host", "graph_endpoint", "partner_center_endpoint")}
        auth = {"cloud": cloud, "tenant_id": case.tenant["tenant_id"], "client_id": case.tenant[case.who]["client_id"],
                "client_secret": case.tenant[case.who]["client_secret"], **endpoints, "ca_bundle": info["ca_bundle"],
                "token_cache": str(lab.token_cache)}
        auth.update(case.auth or {})
        hosts[case.name] = {"pc_auth": {k: v for k, v in auth.items() if v is not None}}
    python = lab.runner.env(lab.workdir)["ANSIBLE_PYTHON_INTERPRETER"]
    data = {"partner_tenants": {"hosts": hosts, "vars": {"ansible_connection": "local", "ansible_python_interpreter": python}}}
    path = lab.workdir / "credentials-inventory.yml"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    path.chmod(0o600)
    return path


def belongs(entry: dict[str, Any], case: Case) -> bool:
    """Whether a request-log entry was sent for this case's host (by tenant in the path or the log)."""
    tenant_id = case.tenant["tenant_id"]
    return entry.get("tenant_id") == tenant_id or f"/{tenant_id}/" in entry["path"]


def test_bad_credentials_fail_clearly_without_retry_storm(make_lab, record):
    record.scenario = SCENARIO
    seed = scenario_seed(SCENARIO)
    record.seeds.append(seed)
    lab = make_lab("--clouds", "public,usgov,china", "--tenants", "4", "--seed", str(seed % 1000 + 1))
    emulator = lab.emulator
    public = [t for t in emulator.info["tenants"] if t["cloud"] == "public"]
    usgov = emulator.tenant("usgov")
    china = emulator.tenant("china")
    expire_admin_secret(emulator, public[1])
    unknown_tenant = {**public[3], "tenant_id": str(uuid.UUID(int=seed, version=4))}
    cases = [
        Case("bad-secret", public[0], r"AADSTS7000215|invalid client secret", auth={"client_secret": f"wrong-{uuid.uuid4()}"}),
        Case("expired-secret", public[1], r"AADSTS7000222|expired"),
        Case("unknown-tenant", unknown_tenant, r"AADSTS90002|tenant .*not found"),
        Case("wrong-cloud-usgov-tenant-as-public", usgov, r"(AADSTS90002|AADSTS900382).*option cloud", cloud="public"),
        Case("unknown-client", public[2], r"AADSTS700016|application .*not found",
             auth={"client_id": str(uuid.UUID(int=seed + 1, version=4))}),
        Case("missing-permission", public[3], r"Application\.ReadWrite\.All", who="limited"),
        Case("untrusted-tls-no-ca-bundle", china, r"certificate", auth={"ca_bundle": None}),
    ]
    record.cases = len(cases)
    inventory = write_inventory(lab, cases)
    run = lab.run(ROLLOUT, *lab.dest_args(), inventory=inventory, label="rollout with bad credentials")

    problems = []
    messages = {task.host: task for task in run.tasks if task.failed}
    for case in cases:
        task = messages.get(case.name)
        if task is None:
            problems.append(f"{case.name}: did not fail")
            continue
        sent = [e for e in run.requests if belongs(e, case)]
        print(f"[reliability] {case.name}: {len(sent)} requests; {task.msg}")
        if not re.search(case.expect, task.msg, re.IGNORECASE):
            problems.append(f"{case.name}: message does not say {case.expect!r}: {task.msg}")
        if len(sent) > MAX_REQUESTS_PER_HOST:
            problems.append(f"{case.name}: {len(sent)} requests (retry storm?): {describe(sent)}")
    assert run.rc != 0
    done = [e for e in writes(run.requests) if e["status"] is None or e["status"] < 400]
    assert done == [], describe(done)
    lab.finish()
    assert not problems, "\n".join(problems)
