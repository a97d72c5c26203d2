"""playbooks/rollout.yml and playbooks/audit.yml across an inventory that mixes clouds."""
from __future__ import annotations

import json
import shutil

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


def test_register_web_app_over_two_tenants_keeps_one_secret_file_each(runner):
    """The playbook as shipped (copied, so that its secrets/ folder is the test's): two tenants one after
    the other from one folder, then both in one run over an inventory; every run succeeds for both."""
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    playbook = runner.workdir / "register_web_app.yml"
    shutil.copy(PLAYBOOKS / "register_web_app.yml", playbook)
    first, second = runner.emulator.tenant("public"), runner.emulator.tenant("usgov")
    for tenant in (first, second):
        auth = runner.workdir / f"auth-{tenant['cloud']}.json"
        auth.write_text(json.dumps({"pc_auth": runner.auth(tenant)}), encoding="utf-8")
        auth.chmod(0o600)
        run = runner.run(playbook, "-e", f"@{auth}")
        assert run.rc == 0, run.stdout[-3000:]
    files = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (runner.workdir / "secrets").glob("[!.]*.json")}
    assert set(files) == {f"{t['tenant_id']}-partner-center-web.json" for t in (first, second)}
    assert {f["tenant_id"] for f in files.values()} == {first["tenant_id"], second["tenant_id"]}
    both = runner.run(playbook, "-e", "pc_hosts=partner_tenants", inventory=runner.inventory([first, second]))
    assert both.rc == 0 and all(c["failed"] == 0 and c["changed"] == 0 for c in both.recap().values()), both.stdout[-3000:]
    assert len(both.recap()) == 2 and both.graph_writes() == []


def test_rollout_check_without_any_secret_file_says_what_it_would_do(runner):
    """--check from a machine that never ran the rollout: on new tenants, and on tenants rolled out from
    elsewhere (whose secret this machine does not hold): exit 0, no write, and the words say what a real
    run would do."""
    inventory = runner.inventory([runner.emulator.tenant("public"), runner.emulator.tenant("china")])
    fresh = runner.run(PLAYBOOKS / "rollout.yml", *secrets(runner), "--check", "--diff", inventory=inventory)
    assert fresh.rc == 0, fresh.stdout[-3000:]
    assert fresh.graph_writes() == [] and not (runner.workdir / "secrets").exists()
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    assert runner.run(PLAYBOOKS / "rollout.yml", *secrets(runner), inventory=inventory).rc == 0
    elsewhere = ["-e", f"web_app_secret_dest={runner.workdir}/other-machine/{{{{ inventory_hostname }}}}-web-app.json"]
    check = runner.run(PLAYBOOKS / "rollout.yml", *elsewhere, "--check", "--diff", inventory=inventory)
    assert check.rc == 0, check.stdout[-3000:]
    assert check.graph_writes() == [] and "Errno" not in check.stdout + check.stderr
    secret_tasks = [t for t in check.module_results() if t.action.endswith("pc_app_secret")]
    assert len(secret_tasks) == 2 and all("A real run would fail" in t.msg for t in secret_tasks)
    register_tasks = [t for t in check.module_results() if t.action.endswith("pc_register_webapp")]
    assert register_tasks and all(not t.failed for t in register_tasks)
