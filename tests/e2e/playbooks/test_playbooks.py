"""playbooks/rollout.yml and playbooks/audit.yml across an inventory that mixes clouds."""
from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

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
    # china, too: a secret someone named with markup; the HTML report shows it as text, never as markup.
    graph = runner.emulator.graph(china)
    web = graph.get("/applications(uniqueName='partner-center-web')").json()
    markup = "<img src=x onerror=alert(1)>"
    added = graph.post(f"/applications/{web['id']}/addPassword", json={"passwordCredential": {"displayName": markup}})
    assert added.status_code == 200, added.text
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
    page = HtmlReport.parse((runner.workdir / "audit" / "report.html").read_text(encoding="utf-8"))
    assert page.external == []  # one self-contained file, readable offline
    assert sorted(page.sections) == sorted(host_name(t) for t in runner.emulator.info["tenants"])
    assert sorted(page.finding_rows) == sorted(flagged), page.finding_rows
    assert any("permission missing: Microsoft Graph: Directory.Read.All (application)" in item
               for item in page.findings[(host_name(public), "web app")])
    assert [item for item in page.findings[(host_name(china), "web app")] if markup in item]
    assert markup not in (runner.workdir / "audit" / "report.html").read_text(encoding="utf-8")


class HtmlReport(HTMLParser):
    """What a reader of report.html sees: a section per tenant, table rows marked as findings with their
    list items, and anything that would reach outside the file."""

    EMBEDS = ("link", "script", "iframe", "object", "embed", "img", "base")

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.finding_rows: list[tuple[str, str]] = []
        self.findings: dict[tuple[str, str], list[str]] = {}
        self.external: list[str] = []
        self._text: list[str] = []
        self._in_style = False
        self._cells: list[str] = []
        self._items: list[str] = []
        self._row_is_finding = False

    @classmethod
    def parse(cls, text: str) -> "HtmlReport":
        """The parsed page."""
        page = cls()
        page.feed(text)
        page.close()
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.external += [f"<{tag} {name}={values[name]}>" for name in ("src", "href", "srcset", "action", "data")
                          if values.get(name) and not (name == "href" and str(values[name]).startswith("#"))]
        self.external += [f"<{tag}>"] if tag in self.EMBEDS else []
        self._in_style = tag == "style"
        if tag in ("h2", "td", "li"):
            self._text = []
        if tag == "tr":
            self._cells, self._items = [], []
            self._row_is_finding = "finding" in (values.get("class") or "").split()

    def handle_data(self, data: str) -> None:
        if self._in_style and ("url(" in data or "@import" in data):
            self.external.append("style: " + data.strip()[:80])
        self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text).strip()
        self._in_style = False
        if tag == "h2":
            self.sections.append(text.split()[0])
        elif tag == "li":
            self._items.append(text)
        elif tag == "td":
            self._cells.append(text)
        elif tag == "tr" and self._cells:
            key = (self.sections[-1], self._cells[0])
            self.findings[key] = self._items
            if self._row_is_finding:
                self.finding_rows.append(key)


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


def report_tasks(run) -> dict[str, bool]:
    """changed of each task that writes a report file, by file name."""
    return {Path(t.result["dest"]).name: t.changed for t in run.tasks
            if t.action in ("ansible.builtin.template", "ansible.builtin.copy") and "dest" in t.result}


def test_audit_without_the_secret_says_not_checked_and_counts_it_as_a_finding(runner):
    """An audit from a machine that does not hold the web app's secret cannot ask Partner Center: the
    report says "not checked" with the reason, never a clean line."""
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    inventory = runner.inventory([runner.emulator.tenant("public"), runner.emulator.tenant("usgov")])
    assert runner.run(PLAYBOOKS / "rollout.yml", *secrets(runner), inventory=inventory).rc == 0
    elsewhere = ["-e", f"web_app_secret_dest={runner.workdir}/other-machine/{{{{ inventory_hostname }}}}-web-app.json"]
    run = runner.run(PLAYBOOKS / "audit.yml", "--check", "-e", f"audit_report_dir={runner.workdir}/audit", *elsewhere,
                     inventory=inventory)
    assert run.rc == 0, run.stdout[-3000:]
    assert run.graph_writes() == [] and not (runner.workdir / "other-machine").exists()
    report = json.loads((runner.workdir / "audit" / "report.json").read_text(encoding="utf-8"))
    for tenant in report["tenants"]:
        web = next(e["app"] for e in tenant["apps"] if e["flow"] == "web app")
        assert web["partner_center"]["checked"] is False and web["partner_center"]["registered"] is None
        assert [p for p in web["problems"] if p.startswith("Partner Center registration not checked: ")
                and "does not exist" in p], web["problems"]
        native = next(e["app"] for e in tenant["apps"] if e["flow"] == "native app")
        assert native["partner_center"] is None and native["problems"] == []  # not applicable, not "not checked"
    markdown = (runner.workdir / "audit" / "report.md").read_text(encoding="utf-8")
    assert markdown.count("| not checked |") == 2 and "| registered |" not in markdown


def test_a_pending_registration_leaves_the_native_apps_configured_and_fails_at_the_end(runner):
    """Partner Center registration is a person's portal step: until it is done, the rollout still configures
    every native app, then prints one summary and fails the tenants still waiting (CI notices)."""
    tenants = [runner.emulator.tenant("public"), runner.emulator.tenant("china")]
    run = runner.run(PLAYBOOKS / "rollout.yml", *secrets(runner), inventory=runner.inventory(tenants))
    assert run.rc != 0
    hosts = {host_name(t) for t in tenants}
    assert {h for h, c in run.recap().items() if c["failed"]} == hosts
    failed = [t for t in run.tasks if t.failed]
    assert {t.host for t in failed} == hosts and all(t.action == "ansible.builtin.fail" for t in failed), failed
    for tenant in tenants:
        graph = runner.emulator.graph(tenant)
        native = graph.get("/applications(uniqueName='partner-center-native')").json()
        sp = graph.get(f"/servicePrincipals(appId='{native['appId']}')").json()
        grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{sp['id']}'"}).json()["value"]
        assert len(grants) == 2, grants  # Microsoft Graph and Partner Center, consented for all users
        web = graph.get("/applications(uniqueName='partner-center-web')").json()
        [summary] = [t for t in run.tasks if t.task.startswith("Summarise the web apps waiting")]
        [line] = [m for m in summary.result["msg"] if web["appId"] in m]
        assert line.startswith(f"- {host_name(tenant)} ({tenant['cloud']}, tenant {tenant['tenant_id']})"), line
        assert "Account settings > App management" in line and "partner" in line.lower(), line
    assert not [t for t in run.tasks if t.action.endswith("pc_register_webapp") and t.failed]

    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    done = runner.run(PLAYBOOKS / "rollout.yml", *secrets(runner), inventory=runner.inventory(tenants))
    assert done.rc == 0, done.stdout[-3000:]
    assert not [t for t in done.tasks if t.task.startswith("Summarise the web apps waiting") and t.status != "skipped"]


def test_the_audit_report_changes_only_with_its_content(runner):
    """A second audit that finds the same writes nothing (changed=0 on the report tasks, same bytes, same
    date); a change in a tenant rewrites it, and --diff shows the change, not the whole report."""
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    tenant = runner.emulator.tenant("public")
    inventory = runner.inventory([tenant])
    assert runner.run(PLAYBOOKS / "rollout.yml", *secrets(runner), inventory=inventory).rc == 0
    folder = runner.workdir / "audit"
    first = runner.run(PLAYBOOKS / "audit.yml", "--check", "--diff", "-e", f"audit_report_dir={folder}", *secrets(runner),
                       inventory=inventory)
    assert first.rc == 0 and set(report_tasks(first).values()) == {True}, report_tasks(first)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert set(before) == {"report.md", "report.html", "report.json"}
    second = runner.run(PLAYBOOKS / "audit.yml", "--check", "--diff", "-e", f"audit_report_dir={folder}", *secrets(runner),
                        inventory=inventory)
    assert second.rc == 0 and report_tasks(second) == {"report.md": False, "report.html": False, "report.json": False}
    assert second.recap()[host_name(tenant)]["changed"] == 0
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before

    graph = runner.emulator.graph(tenant)
    web = graph.get("/applications(uniqueName='partner-center-web')").json()
    assert graph.patch(f"/applications/{web['id']}", json={"requiredResourceAccess": []}).status_code == 204
    third = runner.run(PLAYBOOKS / "audit.yml", "--check", "--diff", "-e", f"audit_report_dir={folder}", *secrets(runner),
                       inventory=inventory)
    assert third.rc == 0 and set(report_tasks(third).values()) == {True}
    assert "+| " in third.stdout and "permission missing: Microsoft Graph: Directory.Read.All (application)" in third.stdout
    assert '"tenants"' not in third.stdout and "<html" not in third.stdout  # the JSON and the HTML are not diffed
    unchanged_rows = [line for line in before["report.md"].decode().splitlines() if "native app" in line]
    assert unchanged_rows and not [line for line in third.stdout.splitlines() if line.startswith(("+", "-"))
                                   and "native app" in line]
