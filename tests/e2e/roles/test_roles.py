"""The web_app and native_app roles end to end, in every emulated cloud: create, rerun with no write,
check mode with no write, argument validation."""
from __future__ import annotations

import json
import stat

import jwt
import pytest

from tests.e2e.conftest import Runner
from tests.emulator.client import GRAPH_RESOURCES, PARTNER_CENTER_RESOURCES

CLOUDS = ["public", "usgov", "usgov_dod", "china"]
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"


def role_play(runner: Runner, tenant: dict, role: str, **role_vars) -> list[dict]:
    return runner.play([], runner.auth(tenant), roles=[{"role": f"partnercenter.national_cloud.{role}", "vars": role_vars}])


def app_by_unique_name(runner: Runner, tenant: dict, unique_name: str) -> dict | None:
    found = runner.emulator.graph(tenant).get("/applications", params={"$filter": f"uniqueName eq '{unique_name}'"}).json()
    return found["value"][0] if found["value"] else None


@pytest.mark.parametrize("cloud", CLOUDS)
def test_web_app_role(runner, cloud):
    tenant = runner.emulator.tenant(cloud)
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    play = role_play(runner, tenant, "web_app")
    first = runner.run(play)
    assert first.rc == 0, first.stdout
    app = app_by_unique_name(runner, tenant, "partner-center-web")
    graph = runner.emulator.graph(tenant)
    sp = graph.get(f"/servicePrincipals(appId='{app['appId']}')").json()
    roles = {a["appRoleId"] for a in graph.get(f"/servicePrincipals/{sp['id']}/appRoleAssignments").json()["value"]}
    graph_sp = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    assert {r["value"] for r in graph_sp["appRoles"] if r["id"] in roles} == {"Directory.Read.All"}
    [secret] = app["passwordCredentials"]
    stored_path = runner.workdir / "secrets" / "localhost-partner-center-web.json"  # one file per host and app
    stored = json.loads(stored_path.read_text(encoding="utf-8"))
    assert stored["key_id"] == secret["keyId"] and stat.S_IMODE(stored_path.stat().st_mode) == 0o600
    # One year, as the procedure's shorter choice.
    assert secret["endDateTime"][:4] == str(int(secret["startDateTime"][:4]) + 1)
    assert stored["secret"] not in first.stdout + first.stderr

    second = runner.run(play)
    assert second.rc == 0 and second.recap()["localhost"]["changed"] == 0
    assert second.graph_writes() == [] and second.identity_requests() == [
        r for r in second.identity_requests() if r["client_id"] == app["appId"]]  # only the web app's own sign-in

    checked = runner.run(play, "--check", "--diff")
    assert checked.rc == 0 and checked.recap()["localhost"]["changed"] == 0 and checked.graph_writes() == []


@pytest.mark.parametrize("cloud", CLOUDS)
def test_native_app_role(runner, cloud):
    tenant = runner.emulator.tenant(cloud)
    play = role_play(runner, tenant, "native_app")
    first = runner.run(play)
    assert first.rc == 0, first.stdout
    app = app_by_unique_name(runner, tenant, "partner-center-native")
    assert app["isFallbackPublicClient"] is True and app["publicClient"]["redirectUris"] == ["http://localhost"]
    # Admin consent: a user token for the app carries exactly the procedure's delegated permissions.
    token = runner.emulator.user_token(tenant, app["appId"], f"{GRAPH_RESOURCES[cloud]}/.default")
    scopes = set(jwt.decode(token["access_token"], options={"verify_signature": False})["scp"].split())
    assert scopes == {"User.Read", "Directory.Read.All", "Directory.AccessAsUser.All", "Group.Read.All"}
    pc_token = runner.emulator.user_token(tenant, app["appId"], f"{PARTNER_CENTER_RESOURCES[cloud]}/user_impersonation")
    assert jwt.decode(pc_token["access_token"], options={"verify_signature": False})["scp"] == "user_impersonation"

    second = runner.run(play)
    assert second.rc == 0 and second.recap()["localhost"]["changed"] == 0 and second.graph_writes() == []
    checked = runner.run(play, "--check", "--diff")
    assert checked.rc == 0 and checked.recap()["localhost"]["changed"] == 0 and checked.graph_writes() == []


def test_check_mode_on_an_empty_tenant_writes_nothing(runner):
    tenant = runner.emulator.tenant("usgov")
    for role in ("web_app", "native_app"):
        run = runner.run(role_play(runner, tenant, role), "--check", "--diff")
        assert run.rc == 0, run.stdout
        assert run.graph_writes() == [] and run.recap()["localhost"]["changed"] >= 1
    assert app_by_unique_name(runner, tenant, "partner-center-web") is None


def test_legacy_azure_ad_graph_set(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(role_play(runner, tenant, "native_app", native_app_permission_set="azure_ad_graph"))
    assert run.rc == 0, run.stdout
    assert "Azure AD Graph" in run.stdout + run.stderr  # the retirement warning
    app = app_by_unique_name(runner, tenant, "partner-center-native")
    apis = {r["resourceAppId"] for r in app["requiredResourceAccess"]}
    assert apis == {"00000002-0000-0000-c000-000000000000", PARTNER_CENTER_APP_ID}


def test_registration_pending_done_and_timeout(runner):
    tenant = runner.emulator.tenant("public")
    pending = runner.run(role_play(runner, tenant, "web_app"))
    assert pending.rc != 0
    failure = next(t for t in pending.tasks if t.failed)
    assert failure.action.endswith("pc_register_webapp") and "Register existing app" in failure.msg
    app = app_by_unique_name(runner, tenant, "partner-center-web")
    assert app["appId"] in failure.msg

    timeout = runner.run(role_play(runner, tenant, "web_app", web_app_registration_wait_timeout=3))
    assert timeout.rc != 0 and "after waiting" in timeout.last.msg
    assert any(t.action == "ansible.builtin.debug" and app["appId"] in str(t.result.get("msg")) for t in timeout.tasks)

    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 2})
    waited = runner.run(role_play(runner, tenant, "web_app", web_app_registration_wait_timeout=60))
    assert waited.rc == 0, waited.stdout
    assert waited.last.result["registered"] is True and waited.last.result["waited_seconds"] > 0

    done = runner.run(role_play(runner, tenant, "web_app", web_app_registration_wait_timeout=60))
    assert done.rc == 0 and done.recap()["localhost"]["changed"] == 0 and done.graph_writes() == []


def test_secret_lifetime_beyond_two_years_needs_the_role_variable(runner):
    tenant = runner.emulator.tenant("public")
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    refused = runner.run(role_play(runner, tenant, "web_app", web_app_secret_expires_in="3y"))
    assert refused.rc != 0 and refused.requests == []
    assert "1 or 2 years" in next(t for t in refused.tasks if t.failed).msg
    allowed = runner.run(role_play(runner, tenant, "web_app", web_app_secret_expires_in="1000d",
                                   web_app_secret_allow_long_lifetime=True))
    assert allowed.rc == 0, allowed.stdout
    assert "beyond the 2 years" in allowed.stdout + allowed.stderr  # the module still warns


@pytest.mark.parametrize("role, variables, message", [
    ("web_app", {"web_app_permission_set": "everything"}, "web_app_permission_set"),
    ("web_app", {"web_app_secret_renew_before_days": "soon"}, "web_app_secret_renew_before_days"),
    ("web_app", {"web_app_redirect_uris": {"uri": "https://one"}}, "web_app_redirect_uris"),
    ("native_app", {"native_app_admin_consent": "maybe"}, "native_app_admin_consent"),
    ("native_app", {"native_app_permission_set": "aad"}, "native_app_permission_set"),
])
def test_argument_specs_reject_bad_variables(runner, role, variables, message):
    tenant = runner.emulator.tenant("public")
    run = runner.run(role_play(runner, tenant, role, **variables))
    assert run.rc != 0
    failure = next(t for t in run.tasks if t.failed)
    assert "Validating arguments" in failure.task and message in failure.msg
    assert run.requests == []


def test_web_app_role_adds_partner_centers_delegated_permission_for_app_user_use(runner):
    """web_app_partner_center_delegated: the web app also gets Partner Center's user_impersonation, consented,
    as Microsoft requires for App+User use in US Government; the audit expects it; a rerun writes nothing."""
    tenant = runner.emulator.tenant("usgov")
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    variables = {"web_app_partner_center_delegated": True}
    first = runner.run(role_play(runner, tenant, "web_app", **variables))
    assert first.rc == 0, first.stdout[-3000:]
    app = app_by_unique_name(runner, tenant, "partner-center-web")
    graph = runner.emulator.graph(tenant)
    pc_sp = graph.get(f"/servicePrincipals(appId='{PARTNER_CENTER_APP_ID}')").json()
    [pc_access] = [r for r in app["requiredResourceAccess"] if r["resourceAppId"] == PARTNER_CENTER_APP_ID]
    scopes = {s["id"]: s["value"] for s in pc_sp["oauth2PermissionScopes"]}
    assert [(scopes[a["id"]], a["type"]) for a in pc_access["resourceAccess"]] == [("user_impersonation", "Scope")]
    sp = graph.get(f"/servicePrincipals(appId='{app['appId']}')").json()
    grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{sp['id']}'"}).json()["value"]
    assert [(g["resourceId"], g["consentType"], g["scope"].split()) for g in grants] == [
        (pc_sp["id"], "AllPrincipals", ["user_impersonation"])]

    again = runner.run(role_play(runner, tenant, "web_app", **variables))
    assert again.rc == 0 and again.graph_writes() == []
    audited = runner.run(runner.play([{"name": "Audit", "ansible.builtin.include_role": {
        "name": "partnercenter.national_cloud.web_app", "tasks_from": "audit"}, "vars": variables}], runner.auth(tenant)))
    assert audited.rc == 0, audited.stdout[-3000:]
    [info] = [t for t in audited.tasks if t.action.endswith("pc_aad_app_info")]
    [described] = info.result["applications"]
    assert described["problems"] == [] and described["drift"] == {"missing": [], "extra": []}
