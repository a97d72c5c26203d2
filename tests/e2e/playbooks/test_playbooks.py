"""playbooks/rollout.yml and playbooks/audit.yml across an inventory that mixes clouds."""
from __future__ import annotations

import json

from tests.e2e.conftest import REPO_ROOT, Runner
from tests.emulator.inventory import host_name

PLAYBOOKS = REPO_ROOT / "playbooks"


def secrets(runner: Runner) -> list[str]:
    """Keep the secret files in the test's directory, not next to the repository's playbooks."""
    return ["-e", f"web_app_secret_dest={runner.workdir}/secrets/{{{{ inventory_hostname }}}}-web-app.json"]


def rollout(runner: Runner, *args: str):
    return runner.run(PLAYBOOKS / "rollout.yml", *secrets(runner), *args, inventory=runner.inventory())


def audit(runner: Runner, *args: str):
    return runner.run(PLAYBOOKS / "audit.yml", "--check", "--diff", "-e", f"audit_report_dir={runner.workdir}/audit",
                      *secrets(runner), *args, inventory=runner.inventory())


def test_rollout_then_rerun_then_audit(runner):
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    first = rollout(runner)
    assert first.rc == 0, first.stdout[-3000:]
    hosts = {host_name(t) for t in runner.emulator.info["tenants"]}
    assert set(first.recap()) == hosts and all(c["failed"] == 0 for c in first.recap().values())
    second = rollout(runner)
    assert second.rc == 0 and all(c["changed"] == 0 for c in second.recap().values())
    assert second.graph_writes() == []
    checked = audit(runner)
    assert checked.rc == 0 and checked.graph_writes() == []
    report = json.loads((runner.workdir / "audit" / "report.json").read_text(encoding="utf-8"))
    assert {t["host"] for t in report["tenants"]} == hosts and report["failed_hosts"] == []
    assert all(entry["app"]["problems"] == [] for t in report["tenants"] for entry in t["apps"]), report
    markdown = (runner.workdir / "audit" / "report.md").read_text(encoding="utf-8")
    assert markdown.count("| registered |") == len(hosts)


def test_audit_reports_planted_drift_for_exactly_the_tenants_that_have_it(runner):
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    assert rollout(runner).rc == 0
    tenants = {t["cloud"]: t for t in reversed(runner.emulator.info["tenants"])}  # one tenant per cloud
    public, usgov, china, dod = tenants["public"], tenants["usgov"], tenants["china"], tenants["usgov_dod"]
    # public: a permission removed from the web app.
    graph = runner.emulator.graph(public)
    web = graph.get("/applications(uniqueName='partner-center-web')").json()
    assert graph.patch(f"/applications/{web['id']}", json={"requiredResourceAccess": []}).status_code == 204
    # usgov: admin consent of the native app revoked.
    graph = runner.emulator.graph(usgov)
    native = graph.get("/applications(uniqueName='partner-center-native')").json()
    native_sp = graph.get(f"/servicePrincipals(appId='{native['appId']}')").json()
    for grant in graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{native_sp['id']}'"}).json()["value"]:
        assert graph.delete(f"/oauth2PermissionGrants/{grant['id']}").status_code == 204
    # china: the web app's secret expires in 5 days; usgov_dod: it has expired.
    for tenant, end in ((china, 5), (dod, -2)):
        app = runner.emulator.graph(tenant).get("/applications(uniqueName='partner-center-web')").json()
        import datetime
        when = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=end)).isoformat()
        runner.emulator.control("PATCH", f"/tenants/{tenant['tenant_id']}/password-credentials/"
                                         f"{app['passwordCredentials'][0]['keyId']}", json={"endDateTime": when})
    run = audit(runner)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.graph_writes() == []
    report = json.loads((runner.workdir / "audit" / "report.json").read_text(encoding="utf-8"))
    findings = {(t["host"], e["flow"]): e["app"]["problems"] for t in report["tenants"] for e in t["apps"]}
    flagged = {key for key, problems in findings.items() if problems}
    assert flagged == {(host_name(public), "web app"), (host_name(usgov), "native app"),
                       (host_name(china), "web app"), (host_name(dod), "web app")}, findings
    assert any("permission missing: Microsoft Graph: Directory.Read.All (application)" in p
               for p in findings[(host_name(public), "web app")])
    assert sum("consent missing" in p for p in findings[(host_name(usgov), "native app")]) == 5
    assert any("expires in" in p for p in findings[(host_name(china), "web app")])
    assert any("expired" in p for p in findings[(host_name(dod), "web app")])
    markdown = (runner.workdir / "audit" / "report.md").read_text(encoding="utf-8")
    assert "permission missing" in markdown and "expired" in markdown
