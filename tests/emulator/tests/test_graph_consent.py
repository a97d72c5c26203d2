"""Graph v1.0 service principals, consent objects, organization, policy, and token/permission checks."""
from __future__ import annotations

import time

import pytest

from tests.emulator.client import GraphSession
from tests.emulator.tests.test_graph_applications import graph_error

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH_APP_ID = "00000002-0000-0000-c000-000000000000"
PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"


@pytest.fixture
def tenant(emulator):
    return emulator.tenant("public")


@pytest.fixture
def graph(emulator, tenant):
    return emulator.graph(tenant)


def test_first_party_service_principals(graph):
    ms_graph = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    assert ms_graph["displayName"] == "Microsoft Graph"
    roles = {r["value"]: r for r in ms_graph["appRoles"]}
    scopes = {s["value"]: s for s in ms_graph["oauth2PermissionScopes"]}
    assert roles["Directory.Read.All"]["id"] == "7ab1d382-f21e-4acd-a863-ba3e13f7da61"
    assert roles["Directory.Read.All"]["displayName"] == "Read directory data"
    assert scopes["User.Read"]["id"] == "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
    assert scopes["User.Read"]["adminConsentDisplayName"] == "Sign in and read user profile"
    aad = graph.get("/servicePrincipals", params={"$filter": f"appId eq '{AAD_GRAPH_APP_ID}'"}).json()["value"]
    assert [s["displayName"] for s in aad] == ["Windows Azure Active Directory"]
    # Partner Center's first-party app is known, but its service principal is absent until created.
    graph_error(graph.get(f"/servicePrincipals(appId='{PARTNER_CENTER_APP_ID}')"), 404, "Request_ResourceNotFound")
    created = graph.post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID})
    assert created.status_code == 201
    assert [s["value"] for s in created.json()["oauth2PermissionScopes"]] == ["user_impersonation"]
    assert created.json()["appRoles"] == []


def test_service_principal_errors_and_upsert(graph):
    graph_error(graph.post("/servicePrincipals", json={"appId": GRAPH_APP_ID}), 409, "Request_MultipleObjectsWithSameKeyValue")
    error = graph_error(graph.post("/servicePrincipals", json={"appId": "12345678-1234-1234-1234-123456789012"}), 400,
                        "Request_BadRequest")
    assert error["details"][0]["code"] == "NoBackingApplicationObject"
    graph_error(graph.post("/servicePrincipals", json={}), 400, "Request_BadRequest")
    app = graph.post("/applications", json={"displayName": "upserted sp"}).json()
    path = f"/servicePrincipals(appId='{app['appId']}')"
    graph_error(graph.patch(path, json={"tags": []}), 404, "Request_ResourceNotFound")
    assert graph.patch(path, json={"tags": ["a"]}, headers={"Prefer": "create-if-missing"}).status_code == 201
    assert graph.patch(path, json={"tags": ["b"]}, headers={"Prefer": "create-if-missing"}).status_code == 204
    assert graph.get(path).json()["tags"] == ["b"]


def _client_sp(graph: GraphSession) -> dict:
    app = graph.post("/applications", json={"displayName": "client"}).json()
    return graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()


def test_app_role_assignments(graph):
    client = _client_sp(graph)
    resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    role = next(r for r in resource["appRoles"] if r["value"] == "Directory.Read.All")
    body = {"principalId": client["id"], "resourceId": resource["id"], "appRoleId": role["id"]}
    created = graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo", json=body)
    assert created.status_code == 201
    assignment = created.json()
    assert assignment["principalType"] == "ServicePrincipal" and assignment["resourceDisplayName"] == "Microsoft Graph"
    assert len(assignment["id"]) == 43
    error = graph_error(graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo", json=body), 400, "Request_BadRequest")
    assert error["message"] == "Permission being assigned already exists on the object"
    bad_role = {**body, "appRoleId": "11111111-2222-3333-4444-555555555555"}
    error = graph_error(graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo", json=bad_role), 400,
                        "Request_BadRequest")
    assert error["message"] == "Permission being assigned was not found on application"
    by_resource = graph.get(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo").json()["value"]
    by_principal = graph.get(f"/servicePrincipals/{client['id']}/appRoleAssignments").json()["value"]
    assert assignment["id"] in {a["id"] for a in by_resource}
    assert [a["id"] for a in by_principal] == [assignment["id"]]
    assert graph.delete(f"/servicePrincipals/{client['id']}/appRoleAssignments/{assignment['id']}").status_code == 204
    assert graph.get(f"/servicePrincipals/{client['id']}/appRoleAssignments").json()["value"] == []


def test_one_delegated_grant_per_client_resource_and_consent_type(graph):
    client = _client_sp(graph)
    resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    body = {"clientId": client["id"], "consentType": "AllPrincipals", "resourceId": resource["id"], "scope": "User.Read"}
    created = graph.post("/oauth2PermissionGrants", json=body)
    assert created.status_code == 201
    grant = created.json()
    assert grant["principalId"] is None and grant["scope"] == "User.Read"
    error = graph_error(graph.post("/oauth2PermissionGrants", json=body), 400, "Request_BadRequest")
    assert error["message"] == "Permission entry already exists."
    query = f"clientId eq '{client['id']}' and consentType eq 'AllPrincipals'"
    assert [g["id"] for g in graph.get("/oauth2PermissionGrants", params={"$filter": query}).json()["value"]] == [grant["id"]]
    assert graph.patch(f"/oauth2PermissionGrants/{grant['id']}", json={"scope": "User.Read Group.Read.All"}).status_code == 204
    assert graph.get(f"/oauth2PermissionGrants/{grant['id']}").json()["scope"] == "User.Read Group.Read.All"
    graph_error(graph.patch(f"/oauth2PermissionGrants/{grant['id']}", json={"clientId": resource["id"]}), 400,
                "Request_BadRequest")
    listed = graph.get(f"/servicePrincipals/{client['id']}/oauth2PermissionGrants").json()["value"]
    assert [g["id"] for g in listed] == [grant["id"]]
    assert graph.delete(f"/oauth2PermissionGrants/{grant['id']}").status_code == 204
    graph_error(graph.get(f"/oauth2PermissionGrants/{grant['id']}"), 404, "Request_ResourceNotFound")
    graph_error(graph.post("/oauth2PermissionGrants", json={**body, "consentType": "Principal"}), 400, "Request_BadRequest")


def test_organization(emulator, graph, tenant):
    body = graph.get("/organization").json()
    assert body["value"][0]["id"] == tenant["tenant_id"]
    assert body["value"][0]["verifiedDomains"][0]["name"] == tenant["domain"]


def test_app_management_policy_needs_policy_read_and_is_enforced(emulator, graph, tenant):
    # The seeded admin holds no Policy.* permission, as issue 2 specifies its roles.
    graph_error(graph.get("/policies/defaultAppManagementPolicy"), 403, "Authorization_RequestDenied")
    admin_sp = graph.get(f"/servicePrincipals(appId='{tenant['admin']['client_id']}')").json()
    resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    policy_read = next(r["id"] for r in resource["appRoles"] if r["value"] == "Policy.Read.All")
    graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo",
               json={"principalId": admin_sp["id"], "resourceId": resource["id"], "appRoleId": policy_read})
    reader = emulator.graph(tenant)  # a new token carries the new role
    policy = reader.get("/policies/defaultAppManagementPolicy").json()
    assert policy["id"] == "00000000-0000-0000-0000-000000000000" and policy["isEnabled"] is False
    app = graph.post("/applications", json={"displayName": "policy"}).json()
    emulator.control("PUT", f"/tenants/{tenant['tenant_id']}/app-management-policy", json={
        "isEnabled": True, "applicationRestrictions": {"passwordCredentials": [
            {"restrictionType": "passwordLifetime", "maxLifetime": "P90D",
             "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"}]}})
    error = graph_error(graph.post(f"/applications/{app['id']}/addPassword", json={}), 400,
                        "CredentialInvalidLifetimeAsPerAppPolicy")
    assert "max value allowed as per assigned policy" in error["message"]
    short = graph.post(f"/applications/{app['id']}/addPassword",
                       json={"passwordCredential": {"endDateTime": _days_from_now(30)}})
    assert short.status_code == 200
    emulator.control("PUT", f"/tenants/{tenant['tenant_id']}/app-management-policy", json={
        "isEnabled": True, "applicationRestrictions": {"passwordCredentials": [
            {"restrictionType": "passwordAddition", "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"}]}})
    graph_error(graph.post(f"/applications/{app['id']}/addPassword", json={}), 400, "CredentialTypeNotAllowedAsPerAppPolicy")


def _days_from_now(days: int) -> str:
    import datetime
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


# Token validation (401) and permissions (403) --------------------------------------------------

def test_missing_and_garbled_tokens(emulator):
    graph = GraphSession(emulator, "public", "")
    graph.session.headers.pop("Authorization")
    assert graph_error(graph.get("/applications"), 401, "InvalidAuthenticationToken")["message"] == "Access token is empty."
    garbled = GraphSession(emulator, "public", "not-a-jwt")
    graph_error(garbled.get("/applications"), 401, "InvalidAuthenticationToken")


def test_token_of_another_cloud_or_audience_is_refused(emulator):
    usgov = emulator.tenant("usgov")
    usgov_token = emulator.token(usgov)
    error = graph_error(GraphSession(emulator, "public", usgov_token).get("/applications"), 401, "InvalidAuthenticationToken")
    assert error["message"] == "Access token validation failure. Invalid audience."
    public = emulator.tenant("public")
    emulator.graph(public).post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID})
    pc_token = emulator.token(public, "partner_center")
    graph_error(GraphSession(emulator, "public", pc_token).get("/applications"), 401, "InvalidAuthenticationToken")


def test_expired_token_is_refused(emulator):
    emulator.control("PUT", "/identity/settings", json={"access_token_lifetime": 1})
    graph = emulator.graph(emulator.tenant("public"))
    time.sleep(2.1)
    error = graph_error(graph.get("/applications"), 401, "InvalidAuthenticationToken")
    assert error["message"] == "Lifetime validation failed, the token is expired."


def test_token_signed_by_someone_else_is_refused(emulator):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = emulator.tenant("public")
    forged = jwt.encode({"aud": "https://graph.microsoft.com", "tid": public["tenant_id"], "roles": ["Application.ReadWrite.All"],
                         "iss": f"https://sts.windows.net/{public['tenant_id']}/", "exp": 4102444800, "idtyp": "app"},
                        key, algorithm="RS256")
    error = graph_error(GraphSession(emulator, "public", forged).get("/applications"), 401, "InvalidAuthenticationToken")
    assert error["message"] == "Signature is invalid."


def test_limited_client_reads_but_cannot_write(emulator, tenant):
    limited = emulator.graph(tenant, who="limited")
    assert limited.get("/applications").status_code == 200
    error = graph_error(limited.post("/applications", json={"displayName": "x"}), 403, "Authorization_RequestDenied")
    assert error["message"] == "Insufficient privileges to complete the operation."
    graph_error(limited.get("/oauth2PermissionGrants"), 403, "Authorization_RequestDenied")
    assert emulator.requests_log(service="graph", method="POST")[0]["status"] == 403


def test_owned_by_permission_limits_writes_to_owned_apps(emulator, graph, tenant):
    owner_app = graph.post("/applications", json={"displayName": "owner"}).json()
    owner_sp = graph.post("/servicePrincipals", json={"appId": owner_app["appId"]}).json()
    secret = graph.post(f"/applications/{owner_app['id']}/addPassword", json={}).json()["secretText"]
    resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    owned_by = next(r["id"] for r in resource["appRoles"] if r["value"] == "Application.ReadWrite.OwnedBy")
    graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo",
               json={"principalId": owner_sp["id"], "resourceId": resource["id"], "appRoleId": owned_by})
    owner = GraphSession(emulator, "public", emulator.token(tenant, client_id=owner_app["appId"], secret=secret))
    mine = owner.post("/applications", json={"displayName": "mine"}).json()
    assert owner.patch(f"/applications/{mine['id']}", json={"notes": "ok"}).status_code == 204
    assert owner.post("/servicePrincipals", json={"appId": mine["appId"]}).status_code == 201
    graph_error(owner.post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID}), 403, "Authorization_RequestDenied")
    graph_error(owner.patch(f"/applications(appId='{tenant['admin']['client_id']}')", json={"notes": "no"}), 403,
                "Authorization_RequestDenied")
