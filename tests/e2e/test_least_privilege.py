"""Each module works with exactly the Microsoft Graph permissions its documentation lists (checked
against the emulator's enforcement of each operation's permissions), and a missing one fails
clearly, naming it."""
from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Runner

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
FQCN = "partnercenter.national_cloud"


def automation_client(runner: Runner, tenant: dict, roles: list[str]) -> dict:
    """An app registration holding exactly these Microsoft Graph application permissions; its credentials."""
    graph = runner.emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": f"automation {' '.join(roles)}"}).json()
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    ids = {r["value"]: r["id"] for r in resource["appRoles"]}
    for role in roles:
        response = graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo",
                              json={"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": ids[role]})
        assert response.status_code == 201, response.text
    return {"client_id": app["appId"], "client_secret": secret}


def as_client(runner: Runner, tenant: dict, client: dict) -> dict:
    return runner.auth(tenant, client_id=client["client_id"], client_secret=client["client_secret"])


def task(module: str, **params) -> dict:
    return {"name": f"Run {module}", f"{FQCN}.{module}": params}


def test_pc_aad_app_with_owned_by_only(runner):
    tenant = runner.emulator.tenant("public")
    client = automation_client(runner, tenant, ["Application.ReadWrite.OwnedBy"])
    play = runner.play([task("pc_aad_app", unique_name="owned-web", display_name="Owned web app")],
                       as_client(runner, tenant, client))
    assert runner.run(play).rc == 0
    again = runner.run(play)
    assert again.rc == 0 and not again.last.changed


def test_check_mode_needs_only_read(runner):
    tenant = runner.emulator.tenant("public")
    client = automation_client(runner, tenant, ["Application.Read.All"])
    auth = as_client(runner, tenant, client)
    for module, params in (("pc_aad_app", {"unique_name": "ro", "display_name": "Read only"}),
                           ("pc_app_secret", {"unique_name": "ro", "display_name": "Partner Center"})):
        run = runner.run(runner.play([task(module, **params)], auth), "--check")
        assert run.rc == 0, (module, run.stdout)


def consent_as(runner, tenant, client, unique_name, permissions):
    """As the automation client: create an application, then apply its permissions with admin consent."""
    return runner.run(runner.play([task("pc_aad_app", unique_name=unique_name, display_name=f"Least privilege {unique_name}"),
                                   task("pc_aad_permissions", unique_name=unique_name, permissions=permissions, admin_consent=True)],
                                  as_client(runner, tenant, client)))


def test_permissions_and_consent_with_the_documented_set(runner):
    tenant = runner.emulator.tenant("usgov")
    runner.emulator.graph(tenant).post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID})
    client = automation_client(runner, tenant, ["Application.ReadWrite.OwnedBy", "Application.Read.All",
                                                "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All"])
    permissions = [{"api": "Microsoft Graph", "application": ["Directory.Read.All"], "delegated": ["User.Read"]},
                   {"api": "Microsoft Partner Center", "delegated": ["user_impersonation"]}]
    run = consent_as(runner, tenant, client, "lp", permissions)
    assert run.rc == 0, run.stdout
    assert all(p["consented"] for p in run.last.result["permissions"])


def test_consent_without_app_role_assignment_permission_names_it(runner):
    tenant = runner.emulator.tenant("public")
    client = automation_client(runner, tenant, ["Application.ReadWrite.OwnedBy", "Application.Read.All",
                                                "DelegatedPermissionGrant.ReadWrite.All"])
    run = consent_as(runner, tenant, client, "lp2", [{"api": "Microsoft Graph", "application": ["Directory.Read.All"]}])
    assert run.rc != 0 and "AppRoleAssignment.ReadWrite.All" in run.last.msg


def test_missing_partner_center_service_principal_needs_read_write_all(runner):
    tenant = runner.emulator.tenant("public")
    client = automation_client(runner, tenant, ["Application.ReadWrite.OwnedBy", "Application.Read.All",
                                                "DelegatedPermissionGrant.ReadWrite.All"])
    run = consent_as(runner, tenant, client, "lp3", [{"api": "Microsoft Partner Center", "delegated": ["user_impersonation"]}])
    assert run.rc != 0 and "Application.ReadWrite.All" in run.last.msg


def test_secret_with_owned_by(runner, tmp_path):
    tenant = runner.emulator.tenant("china")
    client = automation_client(runner, tenant, ["Application.ReadWrite.OwnedBy"])
    run = runner.run(runner.play([task("pc_aad_app", unique_name="lps", display_name="Secret owner"),
                                  task("pc_app_secret", unique_name="lps", display_name="Partner Center",
                                       dest=str(tmp_path / "s.json"))], as_client(runner, tenant, client)))
    assert run.rc == 0, run.stdout
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["secret"]


@pytest.mark.parametrize("roles", [["Application.Read.All"], ["Application.Read.All", "Directory.Read.All"]])
def test_info_and_registration_check_read_only(runner, tmp_path, roles):
    tenant = runner.emulator.tenant("public")
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    dest = tmp_path / "web.json"
    web = runner.play([], runner.auth(tenant), roles=[{"role": f"{FQCN}.web_app", "vars": {"web_app_secret_dest": str(dest)}}])
    assert runner.run(web).rc == 0
    client = automation_client(runner, tenant, roles)
    auth = as_client(runner, tenant, client)
    run = runner.run(runner.play([task("pc_register_webapp", unique_name="partner-center-web", webapp_secret_file=str(dest)),
                                  task("pc_aad_app_info", unique_name="partner-center-web")], auth))
    assert run.rc == 0, run.stdout
    assert run.graph_writes() == []
    registration, info = run.module_results()
    assert registration.result["registered"] is True
    assert info.result["applications"][0]["permissions"][0]["consented"] is True  # assignments: Application.Read.All
