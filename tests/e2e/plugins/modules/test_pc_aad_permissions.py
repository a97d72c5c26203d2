"""pc_aad_permissions end to end: ansible-playbook against the emulator, asserting on the emulator's
state, its request log and the tokens the configured app then obtains (they carry actual consent)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import yaml

from tests.e2e.conftest import COLLECTIONS_PATH, Runner
from tests.emulator.client import GRAPH_RESOURCES, PARTNER_CENTER_RESOURCES

MODULE = "partnercenter.national_cloud.pc_aad_permissions"
GRAPH = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH = "00000002-0000-0000-c000-000000000000"
PARTNER_CENTER = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
# Microsoft Graph ids (the same in every emulated cloud, as the reference records for the real ones).
DIRECTORY_READ_ALL_ROLE = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"
GROUP_READ_ALL_ROLE = "5b567255-7703-4780-807c-7be8301ae99b"
USER_READ_SCOPE = "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
USER_IMPERSONATION = "1cebfa2a-fb4d-419e-b5f9-839b4383e05a"

WEB_SET = [{"api": "Microsoft Graph", "application": ["Read directory data"]}]
NATIVE_SET = [
    {"api": "Microsoft Graph", "delegated": ["Sign in and read user profile", "Read directory data",
                                             "Access the directory as the signed-in user", "Read all groups"]},
    {"api": "Microsoft Partner Center", "delegated": ["Access Partner Center PPE"]},
]
NATIVE_SCOPES = ["Directory.AccessAsUser.All", "Directory.Read.All", "Group.Read.All", "User.Read"]


def task(**params) -> dict:
    return {"name": "Ensure the API permissions", MODULE: params}


def make_app(runner: Runner, tenant: dict, name: str = "perm-app", *, public_client: bool = False,
             service_principal: bool = False, required: list | None = None) -> dict:
    """An app registration created directly in the emulator (not by the module under test)."""
    graph = runner.emulator.graph(tenant)
    body = {"displayName": name, "isFallbackPublicClient": public_client, "requiredResourceAccess": required or []}
    app = graph.post("/applications", json=body).json()
    if service_principal:
        assert graph.post("/servicePrincipals", json={"appId": app["appId"]}).status_code == 201
    return app


def graph_app(runner: Runner, tenant: dict, app: dict) -> dict:
    return runner.emulator.graph(tenant).get(f"/applications/{app['id']}").json()


def rra_set(app: dict) -> set[tuple[str, str, str]]:
    return {(r["resourceAppId"], a["id"], a["type"]) for r in app["requiredResourceAccess"] for a in r["resourceAccess"]}


def sp_of(runner: Runner, tenant: dict, app_id: str) -> dict | None:
    response = runner.emulator.graph(tenant).get(f"/servicePrincipals(appId='{app_id}')")
    return response.json() if response.status_code == 200 else None


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def app_roles(runner: Runner, tenant: dict, app: dict) -> list[str]:
    """The roles of an app-only Graph token of the app (with a secret added directly)."""
    secret = runner.emulator.graph(tenant).post(f"/applications/{app['id']}/addPassword",
                                                json={"passwordCredential": {"displayName": "e2e"}}).json()["secretText"]
    return sorted(claims(runner.emulator.token(tenant, "graph", client_id=app["appId"], secret=secret)).get("roles", []))


def user_scopes(runner: Runner, tenant: dict, app: dict, resource: str) -> list[str]:
    """The scp of a delegated token of the app for the tenant's user (resource owner password grant)."""
    answer = runner.emulator.user_token(tenant, app["appId"], f"{resource}/.default")
    assert "access_token" in answer, answer
    return sorted(claims(answer["access_token"])["scp"].split())


def no_traceback(run) -> bool:
    return "Traceback" not in run.stdout + run.stderr


def values(labels: list[str], api: str, kind: str) -> list[str]:
    """The permissions of one API and kind in a list of the diff ("API: value (kind)" entries), by value."""
    prefix, suffix = f"{api}: ", f" ({kind})"
    return [label[len(prefix):-len(suffix)] for label in labels if label.startswith(prefix) and label.endswith(suffix)]


# -------------------------------------------------------------------------------------------------
# The procedure's two sets, with consent, in several clouds
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["public", "usgov"])
def test_web_set_with_consent_then_rerun_changes_nothing(runner, cloud):
    tenant = runner.emulator.tenant(cloud)
    app = make_app(runner, tenant, "web")
    first = runner.run(runner.play([task(app_id=app["appId"], permissions=WEB_SET, admin_consent=True)],
                                   runner.auth(tenant)), "--diff")
    assert first.rc == 0, first.stdout
    assert first.last.changed and no_traceback(first)
    writes = [(w["method"], w["path"].split("/")[2].split("(")[0], w["status"]) for w in first.graph_writes()]
    assert writes == [("PATCH", "applications", 204), ("POST", "servicePrincipals", 201), ("POST", "servicePrincipals", 201)]
    assert first.graph_writes()[2]["path"].endswith("/appRoleAssignedTo")
    assert rra_set(graph_app(runner, tenant, app)) == {(GRAPH, DIRECTORY_READ_ALL_ROLE, "Role")}
    result = first.last.result
    assert result["permissions"] == [{"api": "Microsoft Graph", "api_app_id": GRAPH, "value": "Directory.Read.All",
                                      "id": DIRECTORY_READ_ALL_ROLE, "type": "application",
                                      "display_name": "Read directory data", "consented": True}]
    assert [c["value"] for c in result["changes"]["added"]] == ["Directory.Read.All"]
    assert [c["value"] for c in result["changes"]["consented"]] == ["Directory.Read.All"]
    assert result["service_principal_id"] == sp_of(runner, tenant, app["appId"])["id"]
    assert result["diff"]["before"] == {"required": [], "consented": []}
    assert result["diff"]["after"] == {"required": ["Microsoft Graph: Directory.Read.All (application)"],
                                       "consented": ["Microsoft Graph: Directory.Read.All (application)"]}

    second = runner.run(runner.play([task(app_id=app["appId"], permissions=WEB_SET, admin_consent=True)],
                                    runner.auth(tenant)))
    assert second.rc == 0 and not second.last.changed
    assert second.graph_writes() == []
    assert second.last.result["permissions"] == result["permissions"]
    # Two round trips: the app, then one $batch with Microsoft Graph's service principal, the app's, its
    # grants and its assignments.
    round_trips = [r for r in second.requests if r["service"] == "graph" and r["batch"] is None]
    assert [(r["method"], r["path"].rsplit("/", 1)[-1].split("(")[0]) for r in round_trips] == [
        ("GET", "applications"), ("POST", "$batch")]
    assert len([r for r in second.requests if r["batch"] == round_trips[1]["request_id"]]) == 4

    assert app_roles(runner, tenant, app) == ["Directory.Read.All"]


@pytest.mark.parametrize("cloud", ["public", "china"])
def test_native_set_with_consent_then_rerun_changes_nothing(runner, cloud):
    tenant = runner.emulator.tenant(cloud)
    app = make_app(runner, tenant, "native", public_client=True, service_principal=True)
    assert sp_of(runner, tenant, PARTNER_CENTER) is None
    first = runner.run(runner.play([task(object_id=app["id"], permissions=NATIVE_SET, admin_consent=True)],
                                   runner.auth(tenant)), "--diff")
    assert first.rc == 0, first.stdout
    assert first.last.changed and no_traceback(first)
    writes = [(w["method"], w["path"].split("/")[2].split("(")[0]) for w in first.graph_writes()]
    assert writes == [("POST", "servicePrincipals"), ("PATCH", "applications"), ("POST", "oauth2PermissionGrants"),
                      ("POST", "oauth2PermissionGrants")]
    pc_sp = sp_of(runner, tenant, PARTNER_CENTER)
    assert pc_sp is not None
    result = first.last.result
    assert result["changes"]["service_principals_created"] == ["Microsoft Partner Center"]
    assert sorted((p["api"], p["value"], p["type"], p["consented"]) for p in result["permissions"]) == sorted(
        [("Microsoft Graph", v, "delegated", True) for v in NATIVE_SCOPES]
        + [("Microsoft Partner Center", "user_impersonation", "delegated", True)])
    pc = next(p for p in result["permissions"] if p["api_app_id"] == PARTNER_CENTER)
    assert pc["id"] == USER_IMPERSONATION and pc["display_name"] == "Access Partner Center"
    after = result["diff"]["after"]
    assert [label for label in after["required"] if label.startswith("Microsoft Partner Center:")] == [
        "Microsoft Partner Center: user_impersonation (delegated)"]
    assert [label for label in after["consented"] if label.startswith("Microsoft Partner Center:")] == [
        "Microsoft Partner Center: user_impersonation (delegated)"]
    assert rra_set(graph_app(runner, tenant, app)) == {(r["api_app_id"], r["id"], "Scope") for r in result["permissions"]}

    grants = runner.emulator.graph(tenant).get("/oauth2PermissionGrants", params={
        "$filter": f"clientId eq '{result['service_principal_id']}'"}).json()["value"]
    assert sorted((g["resourceId"], g["consentType"], sorted(g["scope"].split())) for g in grants) == sorted(
        [(sp_of(runner, tenant, GRAPH)["id"], "AllPrincipals", NATIVE_SCOPES),
         (pc_sp["id"], "AllPrincipals", ["user_impersonation"])])

    second = runner.run(runner.play([task(object_id=app["id"], permissions=NATIVE_SET, admin_consent=True)],
                                    runner.auth(tenant)))
    assert second.rc == 0 and not second.last.changed and second.graph_writes() == []

    assert user_scopes(runner, tenant, app, GRAPH_RESOURCES[cloud]) == NATIVE_SCOPES
    assert user_scopes(runner, tenant, app, PARTNER_CENTER_RESOURCES[cloud]) == ["user_impersonation"]


def test_reordering_duplicating_and_renaming_changes_nothing(runner):
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant, "native", public_client=True)
    assert runner.run(runner.play([task(app_id=app["appId"], permissions=NATIVE_SET + WEB_SET, admin_consent=True)],
                                  runner.auth(tenant))).rc == 0
    same = [
        {"api": "partner_center", "delegated": ["user_impersonation", "Access Partner Center"]},
        {"api": "graph", "application": [DIRECTORY_READ_ALL_ROLE], "delegated": ["Group.Read.All", "User.Read"]},
        {"api": GRAPH, "delegated": ["directory.read.all", "Access directory as the signed in user", USER_READ_SCOPE]},
        {"api": "MICROSOFT GRAPH", "delegated": ["Read all groups"], "application": ["Directory.Read.All"]},
    ]
    again = runner.run(runner.play([task(app_id=app["appId"], permissions=same, admin_consent=True)],
                                   runner.auth(tenant)), "--diff")
    assert again.rc == 0, again.stdout
    assert not again.last.changed and again.graph_writes() == []
    assert again.last.result["diff"]["before"] == again.last.result["diff"]["after"]


def test_every_label_of_partner_centers_permission_names_user_impersonation(runner):
    """"Access Partner Center PPE" (the procedure), "Access Partner Center" and "Access Partner Center API" (the
    2017-2019 authentication document) are one permission (issue 15)."""
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant, "native", public_client=True)
    first = runner.run(runner.play([task(app_id=app["appId"], admin_consent=True, permissions=[
        {"api": "Microsoft Partner Center", "delegated": ["Access Partner Center API"]}])], runner.auth(tenant)))
    assert first.rc == 0 and first.last.changed, first.stdout
    assert rra_set(graph_app(runner, tenant, app)) == {(PARTNER_CENTER, USER_IMPERSONATION, "Scope")}
    assert user_scopes(runner, tenant, app, PARTNER_CENTER_RESOURCES["usgov"]) == ["user_impersonation"]
    same = runner.run(runner.play([task(app_id=app["appId"], admin_consent=True, permissions=[
        {"api": "partner_center", "delegated": ["Access Partner Center PPE", "Access Partner Center",
                                                "access partner center api"]}])], runner.auth(tenant)))
    assert same.rc == 0 and not same.last.changed and same.graph_writes() == []
    assert [(p["value"], p["consented"]) for p in same.last.result["permissions"]] == [("user_impersonation", True)]


def test_order_and_duplicates_in_the_app_itself_change_nothing(runner):
    tenant = runner.emulator.tenant("public")
    messy = [{"resourceAppId": GRAPH, "resourceAccess": [{"id": GROUP_READ_ALL_ROLE, "type": "Role"},
                                                         {"id": DIRECTORY_READ_ALL_ROLE, "type": "Role"}]},
             {"resourceAppId": GRAPH, "resourceAccess": [{"id": DIRECTORY_READ_ALL_ROLE, "type": "Role"}]}]
    app = make_app(runner, tenant, required=messy)
    run = runner.run(runner.play([task(app_id=app["appId"], permissions=[
        {"api": "graph", "application": ["Read directory data", "Read all groups"]}])], runner.auth(tenant)))
    assert run.rc == 0 and not run.last.changed and run.graph_writes() == []


# -------------------------------------------------------------------------------------------------
# exact and merge, and revocation
# -------------------------------------------------------------------------------------------------


def test_merge_adds_and_exact_replaces(runner):
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant, required=[{"resourceAppId": GRAPH, "resourceAccess": [{"id": USER_READ_SCOPE, "type": "Scope"}]}])
    merged = runner.run(runner.play([task(app_id=app["appId"], mode="merge", permissions=[
        {"api": "graph", "application": ["Group.Read.All"]}])], runner.auth(tenant)))
    assert merged.rc == 0 and merged.last.changed
    assert [w["body"] for w in merged.graph_writes()] == [{"requiredResourceAccess": [
        {"resourceAppId": GRAPH, "resourceAccess": [{"id": USER_READ_SCOPE, "type": "Scope"},
                                                    {"id": GROUP_READ_ALL_ROLE, "type": "Role"}]}]}]
    assert merged.last.result["changes"]["removed"] == []
    again = runner.run(runner.play([task(app_id=app["appId"], mode="merge", permissions=[
        {"api": "graph", "application": ["Group.Read.All"]}])], runner.auth(tenant)))
    assert not again.last.changed and again.graph_writes() == []

    exact = runner.run(runner.play([task(app_id=app["appId"], permissions=[
        {"api": "graph", "application": ["Directory.Read.All"]}])], runner.auth(tenant)), "--diff")
    assert exact.rc == 0 and exact.last.changed
    assert rra_set(graph_app(runner, tenant, app)) == {(GRAPH, DIRECTORY_READ_ALL_ROLE, "Role")}
    assert sorted(c["value"] for c in exact.last.result["changes"]["removed"]) == ["Group.Read.All", "User.Read"]
    assert values(exact.last.result["diff"]["before"]["required"], "Microsoft Graph", "delegated") == ["User.Read"]
    assert values(exact.last.result["diff"]["after"]["required"], "Microsoft Graph", "delegated") == []

    cleared = runner.run(runner.play([task(app_id=app["appId"], permissions=[])], runner.auth(tenant)))
    assert cleared.rc == 0 and cleared.last.changed
    assert graph_app(runner, tenant, app)["requiredResourceAccess"] == []


def test_exact_revokes_consent_no_longer_requested(runner):
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant, "both", public_client=True)
    both = NATIVE_SET + [{"api": "graph", "application": ["Directory.Read.All", "Group.Read.All"]}]
    assert runner.run(runner.play([task(app_id=app["appId"], permissions=both, admin_consent=True)],
                                  runner.auth(tenant))).rc == 0
    assert app_roles(runner, tenant, app) == ["Directory.Read.All", "Group.Read.All"]

    fewer = [{"api": "graph", "delegated": ["User.Read"], "application": ["Directory.Read.All"]},
             {"api": "partner_center", "delegated": ["user_impersonation"]}]
    run = runner.run(runner.play([task(app_id=app["appId"], permissions=fewer, admin_consent=True)],
                                 runner.auth(tenant)), "--diff")
    assert run.rc == 0 and run.last.changed, run.stdout
    writes = run.graph_writes()
    assert [(w["method"], w["path"].split("/")[2].split("(")[0]) for w in writes] == [
        ("PATCH", "applications"), ("PATCH", "oauth2PermissionGrants"), ("DELETE", "servicePrincipals")]
    assert writes[1]["body"] == {"scope": "User.Read"}
    assert "/appRoleAssignedTo/" in writes[2]["path"]
    changes = run.last.result["changes"]
    assert sorted(c["value"] for c in changes["revoked"]) == [
        "Directory.AccessAsUser.All", "Directory.Read.All", "Group.Read.All", "Group.Read.All"]
    assert sorted((c["value"], c["type"]) for c in changes["revoked"] if c["type"] == "application") == [
        ("Group.Read.All", "application")]
    diff = run.last.result["diff"]
    assert values(diff["before"]["consented"], "Microsoft Graph", "application") == ["Directory.Read.All", "Group.Read.All"]
    assert [label for label in diff["after"]["consented"] if label.startswith("Microsoft Graph:")] == [
        "Microsoft Graph: Directory.Read.All (application)", "Microsoft Graph: User.Read (delegated)"]

    assert app_roles(runner, tenant, app) == ["Directory.Read.All"]
    assert user_scopes(runner, tenant, app, GRAPH_RESOURCES["usgov"]) == ["User.Read"]
    assert user_scopes(runner, tenant, app, PARTNER_CENTER_RESOURCES["usgov"]) == ["user_impersonation"]

    # Removing an API altogether deletes its grant; merge never revokes.
    merge = runner.run(runner.play([task(app_id=app["appId"], mode="merge", admin_consent=True, permissions=[
        {"api": "graph", "delegated": ["User.Read"]}])], runner.auth(tenant)))
    assert merge.rc == 0 and not merge.last.changed and merge.graph_writes() == []
    gone = runner.run(runner.play([task(app_id=app["appId"], admin_consent=True, permissions=[
        {"api": "graph", "delegated": ["User.Read"], "application": ["Directory.Read.All"]}])], runner.auth(tenant)))
    assert gone.rc == 0 and gone.last.changed
    assert [(w["method"], w["path"].split("/")[2]) for w in gone.graph_writes()][1:] == [
        ("DELETE", gone.graph_writes()[1]["path"].split("/")[2])]
    assert gone.graph_writes()[1]["path"].split("/")[2] == "oauth2PermissionGrants"
    answer = runner.emulator.user_token(tenant, app["appId"], f"{PARTNER_CENTER_RESOURCES['usgov']}/.default")
    assert "AADSTS65001" in answer.get("error_description", "")


def test_without_admin_consent_consent_is_reported_not_changed(runner):
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant, "native", public_client=True)
    assert runner.run(runner.play([task(app_id=app["appId"], permissions=NATIVE_SET, admin_consent=True)],
                                  runner.auth(tenant))).rc == 0
    run = runner.run(runner.play([task(app_id=app["appId"], permissions=[
        {"api": "graph", "delegated": ["User.Read"]}])], runner.auth(tenant)))
    assert run.rc == 0 and run.last.changed
    assert [w["method"] for w in run.graph_writes()] == ["PATCH"]
    assert run.last.result["changes"]["revoked"] == []
    assert [(p["value"], p["consented"]) for p in run.last.result["permissions"]] == [("User.Read", True)]


# -------------------------------------------------------------------------------------------------
# Check mode, faults, permissions of the caller, Azure AD Graph
# -------------------------------------------------------------------------------------------------


def test_check_mode_makes_no_write(runner):
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant, "native", public_client=True)
    run = runner.run(runner.play([task(app_id=app["appId"], permissions=NATIVE_SET, admin_consent=True)],
                                 runner.auth(tenant)), "--check", "--diff")
    assert run.rc == 0 and run.last.changed, run.stdout
    assert run.graph_writes() == []
    assert graph_app(runner, tenant, app)["requiredResourceAccess"] == []
    assert sp_of(runner, tenant, PARTNER_CENTER) is None and sp_of(runner, tenant, app["appId"]) is None
    result = run.last.result
    assert result["changes"]["service_principals_created"] == ["Microsoft Partner Center"]
    assert sorted(c["value"] for c in result["changes"]["consented"]) == sorted(NATIVE_SCOPES + ["user_impersonation"])
    assert all(p["consented"] is False for p in result["permissions"])  # the actual state
    assert values(result["diff"]["after"]["consented"], "Microsoft Graph", "delegated") == NATIVE_SCOPES
    assert "Access Partner Center" in run.stdout or "user_impersonation" in run.stdout

    real = runner.run(runner.play([task(app_id=app["appId"], permissions=NATIVE_SET, admin_consent=True)],
                                  runner.auth(tenant)))
    assert real.last.result["changes"] == result["changes"]
    check_again = runner.run(runner.play([task(app_id=app["appId"], permissions=NATIVE_SET, admin_consent=True)],
                                         runner.auth(tenant)), "--check")
    assert not check_again.last.changed and check_again.graph_writes() == []


def test_converges_under_replication_lag_and_throttling(runner):
    tenant = runner.emulator.tenant("usgov")
    runner.emulator.set_faults(seed=11, replication_lag_min_seconds=1, replication_lag_max_seconds=2,
                               throttle_probability=0.3, retry_after=1, services=["graph"])
    app_task = {"partnercenter.national_cloud.pc_aad_app": {"unique_name": "pc-native", "display_name": "Native",
                                                            "is_fallback_public_client": True}}
    tasks = [app_task, task(unique_name="pc-native", permissions=NATIVE_SET + WEB_SET, admin_consent=True)]
    run = runner.run(runner.play(tasks, runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    assert "throttle" in {r["fault"] for r in run.requests}
    assert no_traceback(run)
    runner.emulator.set_faults()
    time.sleep(2)  # objects created under the lag become visible
    again = runner.run(runner.play(tasks[1:], runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []
    app = runner.emulator.graph(tenant).get("/applications(uniqueName='pc-native')").json()
    assert user_scopes(runner, tenant, app, GRAPH_RESOURCES["usgov"]) == NATIVE_SCOPES
    assert app_roles(runner, tenant, app) == ["Directory.Read.All"]


def test_converges_under_dropped_connections_and_server_errors(runner):
    """Grants, assignments and service principals are unique in Graph, so their creation is retried
    safely when a response is lost: the duplicate is recognised, never created twice."""
    tenant = runner.emulator.tenant("china")
    app = make_app(runner, tenant, "native", public_client=True)
    runner.emulator.set_faults(seed=2, drop_probability=0.3, drop_after_processing=0.5, server_error_probability=0.2,
                               services=["graph"])
    tasks = [task(app_id=app["appId"], permissions=NATIVE_SET + WEB_SET, admin_consent=True)]
    run = runner.run(runner.play(tasks, runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    assert {"drop_after", "drop_before"} & {r["fault"] for r in run.requests}
    runner.emulator.set_faults()
    again = runner.run(runner.play(tasks, runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []
    assert user_scopes(runner, tenant, app, GRAPH_RESOURCES["china"]) == NATIVE_SCOPES
    assert app_roles(runner, tenant, app) == ["Directory.Read.All"]
    client = sp_of(runner, tenant, app["appId"])
    assert len(runner.emulator.graph(tenant).get("/oauth2PermissionGrants", params={
        "$filter": f"clientId eq '{client['id']}'"}).json()["value"]) == 2


def test_limited_client_gets_a_clear_403(runner):
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant, "web")
    run = runner.run(runner.play([task(app_id=app["appId"], permissions=WEB_SET)], runner.auth(tenant, who="limited")))
    assert run.rc != 0 and no_traceback(run)
    assert "Authorization_RequestDenied" in run.last.msg and "Application.ReadWrite" in run.last.msg
    assert run.last.result["error"]["status"] == 403
    # With admin_consent, reading the consent the app holds is refused before anything is written.
    with_sp = make_app(runner, tenant, "web2", service_principal=True)
    consent = runner.run(runner.play([task(app_id=with_sp["appId"], permissions=WEB_SET, admin_consent=True)],
                                     runner.auth(tenant, who="limited")))
    assert consent.rc != 0 and no_traceback(consent)
    assert "DelegatedPermissionGrant" in consent.last.msg and "admin_consent" in consent.last.msg
    assert consent.graph_writes() == []


def test_azure_ad_graph_works_and_warns(runner):
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant, "legacy", public_client=True)
    legacy = [{"api": "Windows Azure Active Directory", "delegated": [
        "Sign in and read user profile", "Read directory data", "Access the directory as the signed-in user", "Read all groups"]},
        {"api": "partner_center", "delegated": ["Access Partner Center PPE"]}]
    run = runner.run(runner.play([task(app_id=app["appId"], permissions=legacy, admin_consent=True)], runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    [warning] = [w for w in run.last.result.get("warnings", []) if "Azure AD Graph" in w]
    assert "retired" in warning and "Microsoft Graph" in warning and "Directory.AccessAsUser.All" in warning
    assert {(k, i) for k, i, dummy in rra_set(graph_app(runner, tenant, app))} == {
        (AAD_GRAPH, "311a71cc-e848-46a1-bdf8-97ff7156d8e6"), (AAD_GRAPH, "5778995a-e1bf-45b8-affa-663a9f3f4d04"),
        (AAD_GRAPH, "a42657d6-7f20-40e3-b6f0-cee03008a62a"), (AAD_GRAPH, "6234d376-f627-4f0f-90e0-dff25c5211a3"),
        (PARTNER_CENTER, USER_IMPERSONATION)}
    assert user_scopes(runner, tenant, app, "https://graph.windows.net") == NATIVE_SCOPES


def test_a_change_of_api_reads_as_a_removal_and_an_addition(runner):
    """The web app moved from Microsoft Graph's Directory.Read.All to Azure AD Graph's "Read directory data"
    (Directory.Read.All too): the diff names API and permission together, check mode says "would" (issue 15)."""
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant, "web")
    assert runner.run(runner.play([task(app_id=app["appId"], permissions=WEB_SET, admin_consent=True)],
                                  runner.auth(tenant))).rc == 0
    legacy = [{"api": "Windows Azure Active Directory", "application": ["Read directory data"]}]
    play = runner.play([task(app_id=app["appId"], permissions=legacy, admin_consent=True)], runner.auth(tenant))
    checked = runner.run(play, "--check", "--diff")
    assert checked.rc == 0 and checked.last.changed, checked.stdout
    assert checked.graph_writes() == []
    assert rra_set(graph_app(runner, tenant, app)) == {(GRAPH, DIRECTORY_READ_ALL_ROLE, "Role")}
    before = {"required": ["Microsoft Graph: Directory.Read.All (application)"],
              "consented": ["Microsoft Graph: Directory.Read.All (application)"]}
    after = {"required": ["Windows Azure Active Directory: Directory.Read.All (application)"],
             "consented": ["Windows Azure Active Directory: Directory.Read.All (application)"]}
    assert checked.last.result["diff"] == {"before": before, "after": after}
    # What ansible-playbook prints: one line removed, one added, each naming its API.
    assert '-        "Microsoft Graph: Directory.Read.All (application)"' in checked.stdout, checked.stdout
    assert '+        "Windows Azure Active Directory: Directory.Read.All (application)"' in checked.stdout, checked.stdout
    [warning] = [w for w in checked.last.result.get("warnings", []) if "Azure AD Graph" in w]
    assert "its permissions would be set as asked" in warning and "were set" not in warning

    real = runner.run(play, "--diff")
    assert real.rc == 0 and real.last.changed, real.stdout
    assert real.last.result["diff"] == {"before": before, "after": after}
    assert [(w["method"], w["path"].split("/")[2].split("(")[0]) for w in real.graph_writes()] == [
        ("PATCH", "applications"), ("POST", "servicePrincipals"), ("DELETE", "servicePrincipals")]
    assert rra_set(graph_app(runner, tenant, app)) == {(AAD_GRAPH, "5778995a-e1bf-45b8-affa-663a9f3f4d04", "Role")}
    client = sp_of(runner, tenant, app["appId"])
    assignments = runner.emulator.graph(tenant).get(f"/servicePrincipals/{client['id']}/appRoleAssignments").json()["value"]
    assert [(a["resourceId"], a["appRoleId"]) for a in assignments] == [
        (sp_of(runner, tenant, AAD_GRAPH)["id"], "5778995a-e1bf-45b8-affa-663a9f3f4d04")]
    [warning] = [w for w in real.last.result.get("warnings", []) if "Azure AD Graph" in w]
    assert "its permissions are set as asked" in warning


# -------------------------------------------------------------------------------------------------
# Bad input: a clear message, no traceback, nothing written
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("permissions", "fragments"), [
    ([{"api": "graph", "application": ["Read directry data"]}], ["Unknown application permission", "Directory.Read.All"]),
    ([{"api": "graph", "application": ["Read all chat messages"]}], ["Chat.Read.All", "ChatMessage.Read.All"]),
    ([{"api": "graph", "application": ["User.Read"]}], ["delegated permission", "list it under delegated"]),
    ([{"api": "Contoso Payroll API", "delegated": ["x"]}], ["No API named 'Contoso Payroll API'"]),
    ([{"api": "Microsoft Grph", "delegated": ["User.Read"]}], ["Microsoft Graph"]),
    ([{"api": "11111111-2222-3333-4444-555555555555", "delegated": ["x"]}], ["no service principal"]),
])
def test_unknown_names_fail_before_any_write(runner, permissions, fragments):
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant)
    run = runner.run(runner.play([task(app_id=app["appId"], permissions=permissions, admin_consent=True)],
                                 runner.auth(tenant)))
    assert run.rc != 0 and run.last.failed and no_traceback(run)
    for fragment in fragments:
        assert fragment in run.last.msg, run.last.msg
    assert run.graph_writes() == []


@pytest.mark.parametrize(("params", "fragment"), [
    ({"permissions": [{"api": "graph", "delegated": [""]}]}, "permissions[0].delegated[0]"),
    ({"permissions": [{"api": " ", "delegated": ["User.Read"]}]}, "permissions[0].api"),
    ({"permissions": [{"api": "00000003-0000-0000-c000-00000000000", "delegated": ["User.Read"]}]}, "not a valid appId"),
    ({"permissions": [{"api": "graph", "application": ["7ab1d382-f21e-4acd-a863"]}]}, "not a valid permission id"),
    ({"permissions": [{"api": "graph", "scopes": ["User.Read"]}]}, "scopes"),
    ({"permissions": [{"api": "graph", "delegated": [["User.Read"]]}]}, "permissions[0].delegated[0]"),
    ({"permissions": [{"api": ["graph"]}]}, "permissions[0].api"),
    ({"permissions": "graph"}, "dictionary requested"),  # ansible-core's own message for a list of dicts
    ({"permissions": [{"api": "graph"}], "mode": "replace"}, "mode"),
    ({"permissions": [{"api": "graph"}], "app_id": "not-a-guid"}, "app_id must be a GUID"),
])
def test_bad_input_fails_before_any_request(runner, params, fragment):
    tenant = runner.emulator.tenant("public")
    params = {"app_id": "5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11", **params}
    run = runner.run(runner.play([task(**params)], runner.auth(tenant)))
    assert run.rc != 0 and no_traceback(run)
    assert fragment in run.last.msg, run.last.msg
    assert run.requests == []


def test_missing_application_is_a_clear_failure(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([task(app_id="5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11", permissions=WEB_SET,
                                       consistency_timeout=1)], runner.auth(tenant)))
    assert run.rc != 0 and no_traceback(run)
    assert "No application with app_id" in run.last.msg and "pc_aad_app" in run.last.msg
    assert run.graph_writes() == []


def test_the_examples_of_the_procedure_run(runner):
    """The first two EXAMPLES (web set, native set) as written, credentials from module_defaults."""
    from ansible_collections.partnercenter.national_cloud.plugins.modules import pc_aad_permissions

    examples = yaml.safe_load(pc_aad_permissions.EXAMPLES)[:2]
    for example in examples:
        for option in ("cloud", "tenant_id", "client_id", "client_secret"):
            example[MODULE].pop(option, None)
    tenant = runner.emulator.tenant("public")
    graph = runner.emulator.graph(tenant)
    web = graph.post("/applications", json={"displayName": "Partner Center web app", "uniqueName": "partner-center-web"}).json()
    native = make_app(runner, tenant, "Partner Center native app", public_client=True)
    run = runner.run(runner.play(examples, runner.auth(tenant), vars={"native_app": {"app_id": native["appId"]}}))
    assert run.rc == 0, run.stdout
    assert [t.changed for t in run.module_results()] == [True, True]
    assert app_roles(runner, tenant, web) == ["Directory.Read.All"]
    assert user_scopes(runner, tenant, native, GRAPH_RESOURCES["public"]) == NATIVE_SCOPES
    assert user_scopes(runner, tenant, native, PARTNER_CENTER_RESOURCES["public"]) == ["user_impersonation"]


def test_docs_render_with_ansible_doc():
    completed = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), MODULE], capture_output=True, text=True,
                               env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH)}, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "admin_consent" in completed.stdout and "Access Partner Center PPE" in completed.stdout
    assert "DelegatedPermissionGrant.ReadWrite.All" in completed.stdout
