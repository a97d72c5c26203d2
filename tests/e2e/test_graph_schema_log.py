"""The collection asks Microsoft Graph for nothing outside the v1.0 schema of the cloud it talks to (issue 13).

Every test that uses the `runner` fixture has its Graph requests checked against the schema table of their
cloud (tests/e2e/conftest.py). This test makes the coverage explicit: the rollout and the audit over an
inventory of all four clouds, every Graph request (those inside $batch included) checked, and the check
itself shown to catch a name outside the schema.
"""
from __future__ import annotations

from tests.e2e.conftest import Runner
from tests.e2e.playbooks.test_playbooks import audit, rollout
from tests.emulator.clouds import DEFAULT_CLOUDS
from tests.emulator.schema import check_log

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def test_rollout_and_audit_of_every_cloud_use_only_names_of_its_schema(runner):
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    first = rollout(runner)
    assert first.rc == 0, first.stdout[-3000:]
    report = audit(runner)
    assert report.rc == 0, report.stdout[-3000:]
    graph = [e for run in (first, report) for e in run.requests if e["service"] == "graph"]
    assert {e["cloud"] for e in graph} == set(DEFAULT_CLOUDS)
    for cloud in DEFAULT_CLOUDS:
        mine = [e for e in graph if e["cloud"] == cloud]
        assert any("$select" in (e["query"] or "").replace("%24", "$") for e in mine), cloud
        assert {e["method"] for e in mine} >= {"GET", "POST", "PATCH"}, cloud
        assert any(e["batch"] for e in mine) and any(e["path"].endswith("/addPassword") for e in mine), cloud
    assert check_log(first.requests + report.requests) == []
    assert not runner.schema_findings


def test_the_log_check_catches_a_name_outside_the_schema(emulator, tmp_path):
    emulator.reset()
    checker = Runner(emulator, tmp_path)
    for cloud in DEFAULT_CLOUDS:
        graph = emulator.graph(emulator.tenant(cloud))
        graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')", params={"$select": "id,createdDateTime"})
        graph.post("/applications", json={"displayName": "x", "web": {"homePage": "https://x.example"}})
    checker.check_schema(emulator.requests_log())
    findings = sorted(checker.schema_findings.values())
    assert len(findings) == 2 * len(DEFAULT_CLOUDS), findings
    assert all(f.split(":", 1)[0] in DEFAULT_CLOUDS for f in findings)
    assert sum("'createdDateTime' on type 'microsoft.graph.servicePrincipal'" in f for f in findings) == len(DEFAULT_CLOUDS)
    assert sum("'web.homePage'" in f for f in findings) == len(DEFAULT_CLOUDS)
    emulator.clear_log()
