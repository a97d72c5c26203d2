"""pc_aad_app_info end to end: permissions against consent, drift, secrets, registration; never a write."""
from __future__ import annotations

import datetime

from tests.e2e.conftest import Runner

MODULE = "partnercenter.national_cloud.pc_aad_app_info"
WEB_SET = [{"api": "Microsoft Graph", "application": ["Directory.Read.All"]}]


def web_app(runner: Runner, tenant: dict, tmp_path) -> dict:
    """The web app as the web_app role leaves it (the emulated operator registers it at once)."""
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    play = runner.play([], runner.auth(tenant), roles=[{"role": "partnercenter.national_cloud.web_app", "vars": {
        "web_app_secret_dest": str(tmp_path / "web.json")}}])
    assert runner.run(play).rc == 0
    return runner.emulator.graph(tenant).get("/applications(uniqueName='partner-center-web')").json()


def info(**params) -> dict:
    return {"name": "Read the app", MODULE: params}


def test_reports_permissions_consent_secrets_and_registration(runner, tmp_path):
    tenant = runner.emulator.tenant("usgov")
    app = web_app(runner, tenant, tmp_path)
    run = runner.run(runner.play([info(unique_name="partner-center-web", expected_permissions=WEB_SET,
                                       webapp_secret_file=str(tmp_path / "web.json"))], runner.auth(tenant)), "--check")
    assert run.rc == 0 and not run.last.changed and run.graph_writes() == []
    [found] = run.last.result["applications"]
    assert found["app_id"] == app["appId"] and run.last.result["exists"] is True
    assert [(p["api"], p["value"], p["type"], p["consented"]) for p in found["permissions"]] == [
        ("Microsoft Graph", "Directory.Read.All", "application", True)]
    assert found["drift"] == {"missing": [], "extra": []} and found["consent_missing"] == []
    [secret] = found["secrets"]
    assert secret["status"] == "valid" and 363 <= secret["days_to_expiry"] <= 365 and "secret" not in secret
    assert found["partner_center"]["registered"] is True and found["problems"] == []


def test_drift_missing_consent_and_expiring_secret_become_problems(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    app = web_app(runner, tenant, tmp_path)
    graph = runner.emulator.graph(tenant)
    sp = graph.get(f"/servicePrincipals(appId='{app['appId']}')").json()
    [assignment] = graph.get(f"/servicePrincipals/{sp['id']}/appRoleAssignments").json()["value"]
    assert graph.delete(f"/servicePrincipals/{sp['id']}/appRoleAssignments/{assignment['id']}").status_code == 204
    graph.patch(f"/applications/{app['id']}", json={"requiredResourceAccess": [
        *app["requiredResourceAccess"],
        {"resourceAppId": "00000003-0000-0000-c000-000000000000",
         "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}]})
    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)).isoformat()
    runner.emulator.control("PATCH", f"/tenants/{tenant['tenant_id']}/password-credentials/"
                                     f"{app['passwordCredentials'][0]['keyId']}", json={"endDateTime": soon})
    run = runner.run(runner.play([info(app_id=app["appId"], expected_permissions=WEB_SET)], runner.auth(tenant)))
    assert run.rc == 0 and run.graph_writes() == []
    [found] = run.last.result["applications"]
    assert found["consent_missing"] == ["Microsoft Graph: Directory.Read.All (application)",
                                        "Microsoft Graph: User.Read (delegated)"]
    assert found["drift"] == {"missing": [], "extra": ["Microsoft Graph: User.Read (delegated)"]}
    assert found["secrets"][0]["status"] == "expiring" and found["secrets"][0]["days_to_expiry"] in (9, 10)
    assert len(found["problems"]) == 4 and found["partner_center"] is None


def test_filter_lists_several_apps_and_a_missing_app_is_not_an_error(runner):
    tenant = runner.emulator.tenant("china")
    graph = runner.emulator.graph(tenant)
    for name in ("Contoso A", "Contoso B", "Other"):
        graph.post("/applications", json={"displayName": name})
    run = runner.run(runner.play([info(filter="startswith(displayName,'Contoso ')"),
                                  info(unique_name="does-not-exist")], runner.auth(tenant)))
    assert run.rc == 0
    listed, missing = run.module_results()
    assert sorted(a["display_name"] for a in listed.result["applications"]) == ["Contoso A", "Contoso B"]
    assert missing.result["exists"] is False and missing.result["applications"] == []
    assert run.graph_writes() == []


def test_limited_reader_sees_unknown_delegated_consent(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    web_app(runner, tenant, tmp_path)
    run = runner.run(runner.play([info(unique_name="partner-center-web")], runner.auth(tenant, who="limited")))
    assert run.rc == 0, run.stdout
    [found] = run.last.result["applications"]
    assert found["permissions"][0]["consented"] is True  # app role assignments: Application.Read.All reads them


def test_bad_input(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([info(unique_name="x", filter="startswith(displayName,'a')")], runner.auth(tenant)))
    assert run.rc != 0 and "filter cannot be combined" in run.last.msg and run.requests == []
    run = runner.run(runner.play([info(unique_name="x", expected_permissions=[{"api": "Microsoft Graph",
                                                                               "application": ["Read everything"]}])],
                                 runner.auth(tenant)))
    assert run.rc != 0 and "Read everything" in run.last.msg and run.graph_writes() == []


def test_each_secret_says_which_store_holds_it_and_unheld_valid_ones_are_findings(runner, tmp_path):
    """The web app's secret kept in Key Vault; a second, same-name secret added by a person is valid but held
    by no store the audit knows: a finding. The store is read, never written."""
    tenant = runner.emulator.tenant("china")
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    store = {"type": "azure_key_vault", "vault_url": tenant["key_vault_url"], "secret_name": "partner-center-web"}
    play = runner.play([], runner.auth(tenant), roles=[{"role": "partnercenter.national_cloud.web_app",
                                                        "vars": {"web_app_secret_store": store}}])
    assert runner.run(play).rc == 0
    graph = runner.emulator.graph(tenant)
    app = graph.get("/applications(uniqueName='partner-center-web')").json()
    held = app["passwordCredentials"][0]["keyId"]
    persons = graph.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {"displayName": "Partner Center"}}).json()
    run = runner.run(runner.play([info(unique_name="partner-center-web", webapp_secret_store=store)], runner.auth(tenant)), "--check")
    assert run.rc == 0 and run.graph_writes() == []
    assert not [r for r in run.requests if r["service"] == "key_vault" and r["method"] != "GET"]
    [found] = run.last.result["applications"]
    by_key = {s["key_id"]: s["held_by"] for s in found["secrets"]}
    assert by_key == {held: f"Key Vault secret partner-center-web in {tenant['key_vault_url']}", persons["keyId"]: None}
    assert found["partner_center"]["registered"] is True
    assert found["problems"] == [f"secret 'Partner Center' ({persons['keyId']}) is valid but {found['secret_store']} does not hold its value"]


def test_partner_centers_missing_service_principal_is_named_as_such(runner):
    """A new tenant has no service principal of Partner Center: the app-only token request fails with AADSTS500011,
    and the audit's detail says that this is the cause and how to add it, not "another cloud" (issue 15)."""
    tenant = runner.emulator.tenant("usgov")
    graph = runner.emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "web"}).json()
    assert graph.post("/servicePrincipals", json={"appId": app["appId"]}).status_code == 201
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {"displayName": "e2e"}}).json()
    assert graph.get("/servicePrincipals(appId='fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd')").status_code == 404
    run = runner.run(runner.play([info(app_id=app["appId"], webapp_client_secret=secret["secretText"])],
                                 runner.auth(tenant)), "--check")
    assert run.rc == 0 and run.graph_writes() == [], run.stdout
    [refused] = [r for r in run.identity_requests() if r["status"] != 200]
    assert refused["client_id"] == app["appId"] and refused["status"] == 400
    [found] = run.last.result["applications"]
    detail = found["partner_center"]["detail"]
    assert found["partner_center"]["registered"] is None and found["partner_center"]["checked"] is False
    assert "AADSTS500011" in detail and "another cloud" not in detail
    assert ("Microsoft Partner Center's service principal (appId fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd) is missing in this "
            "tenant, so no token for https://api.partnercenter.microsoft.com can be issued. To create it, run "
            "partnercenter.national_cloud.pc_register_webapp (create_partner_center_service_principal=true)") in detail
    assert graph.get("/servicePrincipals(appId='fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd')").status_code == 404
