"""Identity platform: discovery, tokens with real msal, claims, and every documented error."""
from __future__ import annotations

import base64
import datetime
import json

import jwt
import msal
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tests.emulator.client import EmulatorProcess, trusting_session

GRAPH = {"public": "https://graph.microsoft.com", "usgov": "https://graph.microsoft.us",
         "usgov_dod": "https://dod-graph.microsoft.us", "china": "https://microsoftgraph.chinacloudapi.cn"}
ISSUERS = {"public": "https://sts.windows.net/{}/", "usgov": "https://sts.windows.net/{}/",
           "usgov_dod": "https://sts.windows.net/{}/", "china": "https://sts.chinacloudapi.cn/{}/"}
LOGIN_HOSTS = {"public": "login.microsoftonline.com", "usgov": "login.microsoftonline.us",
               "usgov_dod": "login.microsoftonline.us", "china": "login.partner.microsoftonline.cn"}


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def token_request(emulator: EmulatorProcess, cloud: str, tenant_ref: str, **form: str):
    session = trusting_session(emulator.info["ca_bundle"])
    url = f"{emulator.endpoints(cloud)['authority_host']}/{tenant_ref}/oauth2/v2.0/token"
    return session.post(url, data=form, timeout=30)


def assert_aadsts(response, status: int, error: str, code: int) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"] and "\r\nCorrelation ID: " in body["error_description"]
    assert body["trace_id"] and body["correlation_id"] and body["timestamp"]
    return body


@pytest.mark.parametrize("cloud", ["public", "usgov", "usgov_dod", "china"])
def test_unmodified_msal_with_verify_gets_a_token_with_the_clouds_claims(emulator, cloud, monkeypatch):
    # msal's own `verify=` only takes effect when REQUESTS_CA_BUNDLE does not override it
    # (see ../shared/reference/build-notes.md); this is msal as users call it.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    tenant = emulator.tenant(cloud)
    app = msal.ConfidentialClientApplication(
        tenant["admin"]["client_id"], client_credential=tenant["admin"]["client_secret"],
        authority=f"{emulator.endpoints(cloud)['authority_host']}/{tenant['tenant_id']}",
        instance_discovery=False, verify=emulator.info["ca_bundle"])
    result = app.acquire_token_for_client([f"{GRAPH[cloud]}/.default"])
    assert result.get("token_type") == "Bearer", result
    claims = claims_of(result["access_token"])
    assert claims["aud"] == GRAPH[cloud]
    assert claims["iss"] == ISSUERS[cloud].format(tenant["tenant_id"])
    assert claims["tid"] == tenant["tenant_id"]
    assert claims["appid"] == tenant["admin"]["client_id"]
    assert claims["appidacr"] == "1" and claims["idtyp"] == "app" and claims["ver"] == "1.0"
    assert claims["roles"] == sorted(["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                                      "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All"])
    assert claims["exp"] - claims["iat"] == 3599
    log = emulator.requests_log(service="identity")
    assert [(e["method"], e["path"].split("/", 2)[2]) for e in log] == [
        ("GET", "v2.0/.well-known/openid-configuration"), ("POST", "oauth2/v2.0/token")]
    assert not any("discovery/instance" in e["path"] for e in emulator.requests_log())


def test_signature_verifies_against_the_published_keys(emulator):
    tenant = emulator.tenant("public")
    token = emulator.token(tenant)
    session = trusting_session(emulator.info["ca_bundle"])
    base = f"{emulator.endpoints('public')['authority_host']}/{tenant['tenant_id']}"
    document = session.get(f"{base}/v2.0/.well-known/openid-configuration", timeout=30).json()
    assert document["issuer"] == f"https://login.microsoftonline.com/{tenant['tenant_id']}/v2.0"
    assert document["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert document["cloud_instance_name"] == "microsoftonline.com"
    assert document["msgraph_host"] == "graph.microsoft.com"
    keys = session.get(document["jwks_uri"], timeout=30).json()["keys"]
    signing_key = jwt.PyJWK(keys[0]).key
    assert jwt.decode(token, signing_key, algorithms=["RS256"], audience=GRAPH["public"])["tid"] == tenant["tenant_id"]


@pytest.mark.parametrize("cloud", ["usgov", "usgov_dod", "china"])
def test_discovery_names_the_tenants_cloud(emulator, cloud):
    tenant = emulator.tenant(cloud)
    session = trusting_session(emulator.info["ca_bundle"])
    base = f"{emulator.endpoints(cloud)['authority_host']}/{tenant['domain']}"
    document = session.get(f"{base}/v2.0/.well-known/openid-configuration", timeout=30).json()
    assert document["issuer"] == f"https://{LOGIN_HOSTS[cloud]}/{tenant['tenant_id']}/v2.0"
    assert document["tenant_region_scope"] == ("AS" if cloud == "china" else "USGov")


def test_certificate_credential(emulator, tmp_path):
    tenant = emulator.tenant("public")
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    issued = ca.issue_cert("pc-automation.example", key_type=trustme.KeyType.RSA)
    certificate = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    graph = emulator.graph(tenant)
    admin_app = tenant["admin"]["client_id"]
    der = certificate.public_bytes(serialization.Encoding.DER)
    response = graph.patch(f"/applications(appId='{admin_app}')", json={"keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(der).decode(), "displayName": "CN=test"}]})
    assert response.status_code == 204, response.text
    stored = graph.get(f"/applications(appId='{admin_app}')", params={"$select": "keyCredentials"}).json()["keyCredentials"]
    assert stored[0]["key"] is None and stored[0]["type"] == "AsymmetricX509Cert"
    credential = {"private_key": issued.private_key_pem.bytes().decode(),
                  "thumbprint": certificate.fingerprint(hashes.SHA1()).hex()}  # msal's x5t is the SHA-1 thumbprint
    app = emulator.confidential_client(tenant, secret=credential)  # type: ignore[arg-type]
    result = app.acquire_token_for_client([f"{GRAPH['public']}/.default"])
    assert "access_token" in result, result
    assert claims_of(result["access_token"])["appidacr"] == "2"
    # Another certificate (not registered on the app) is refused.
    other = ca.issue_cert("intruder.example", key_type=trustme.KeyType.RSA)
    other_certificate = x509.load_pem_x509_certificate(other.cert_chain_pems[0].bytes())
    intruder = emulator.confidential_client(tenant, secret={  # type: ignore[arg-type]
        "private_key": other.private_key_pem.bytes().decode(), "thumbprint": other_certificate.fingerprint(hashes.SHA1()).hex()})
    refused = intruder.acquire_token_for_client([f"{GRAPH['public']}/.default"])
    assert refused["error"] == "invalid_client" and 700027 in refused["error_codes"]


def test_secret_created_through_graph_signs_in_and_expires(emulator):
    tenant = emulator.tenant("public")
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "web app"}).json()
    assert graph.post("/servicePrincipals", json={"appId": app["appId"]}).status_code == 201
    added = graph.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {"displayName": "k1"}}).json()
    token = emulator.token(tenant, client_id=app["appId"], secret=added["secretText"])
    assert claims_of(token)["appid"] == app["appId"]
    assert "roles" not in claims_of(token)  # nothing consented yet
    emulator.control("PATCH", f"/tenants/{tenant['tenant_id']}/password-credentials/{added['keyId']}",
                     json={"endDateTime": "2020-01-01T00:00:00Z"})
    response = token_request(emulator, "public", tenant["tenant_id"], grant_type="client_credentials",
                             client_id=app["appId"], client_secret=added["secretText"], scope=f"{GRAPH['public']}/.default")
    body = assert_aadsts(response, 401, "invalid_client", 7000222)
    assert app["appId"] in body["error_description"]


def test_roles_follow_the_actual_app_role_assignments(emulator):
    tenant = emulator.tenant("public")
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "consented"}).json()
    client_sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    graph_sp = graph.get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").json()
    role_id = next(r["id"] for r in graph_sp["appRoles"] if r["value"] == "Directory.Read.All")
    assignment = graph.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo",
                            json={"principalId": client_sp["id"], "resourceId": graph_sp["id"], "appRoleId": role_id})
    assert assignment.status_code == 201, assignment.text
    assert claims_of(emulator.token(tenant, client_id=app["appId"], secret=secret))["roles"] == ["Directory.Read.All"]
    assert graph.delete(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo/{assignment.json()['id']}").status_code == 204
    assert "roles" not in claims_of(emulator.token(tenant, client_id=app["appId"], secret=secret))


def test_user_sign_in_and_refresh_need_consent(emulator):
    tenant = emulator.tenant("usgov")
    graph = emulator.graph(tenant)
    native = graph.post("/applications", json={"displayName": "native", "isFallbackPublicClient": True,
                                               "publicClient": {"redirectUris": ["http://localhost"]}}).json()
    native_sp = graph.post("/servicePrincipals", json={"appId": native["appId"]}).json()
    scope = f"{GRAPH['usgov']}/User.Read"
    refused = emulator.user_token(tenant, native["appId"], scope)
    assert refused["error"] == "invalid_grant" and refused["error_codes"] == [65001]
    graph_sp = graph.get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").json()
    grant = graph.post("/oauth2PermissionGrants", json={"clientId": native_sp["id"], "consentType": "AllPrincipals",
                                                        "resourceId": graph_sp["id"], "scope": "User.Read Directory.Read.All"})
    assert grant.status_code == 201, grant.text
    result = emulator.user_token(tenant, native["appId"], scope)
    assert "access_token" in result, result
    claims = claims_of(result["access_token"])
    assert claims["scp"] == "Directory.Read.All User.Read" and claims["idtyp"] == "user" and claims["appidacr"] == "0"
    assert claims_of(result["id_token"])["iss"] == f"https://login.microsoftonline.us/{tenant['tenant_id']}/v2.0"
    authority = f"{emulator.endpoints('usgov')['authority_host']}/{tenant['tenant_id']}"
    public = msal.PublicClientApplication(native["appId"], authority=authority, instance_discovery=False,
                                          http_client=trusting_session(emulator.info["ca_bundle"]))
    refreshed = public.acquire_token_by_refresh_token(result["refresh_token"], [scope])
    assert claims_of(refreshed["access_token"])["oid"] == claims["oid"]
    wrong = emulator.user_token(tenant, native["appId"], scope, password="not-the-password")
    assert wrong["error_codes"] == [50126]
    bogus = public.acquire_token_by_refresh_token("not-a-refresh-token", [scope])
    assert bogus["error"] == "invalid_grant" and 9002313 in bogus["error_codes"]
    confidential_only = graph.post("/applications", json={"displayName": "web only"}).json()
    graph.post("/servicePrincipals", json={"appId": confidential_only["appId"]})
    assert emulator.user_token(tenant, confidential_only["appId"], scope)["error_codes"] == [7000218]


def test_v1_endpoint_with_resource(emulator):
    tenant = emulator.tenant("public")
    url = f"{emulator.endpoints('public')['authority_host']}/{tenant['tenant_id']}/oauth2/token"
    response = trusting_session(emulator.info["ca_bundle"]).post(url, data={
        "grant_type": "client_credentials", "client_id": tenant["admin"]["client_id"],
        "client_secret": tenant["admin"]["client_secret"], "resource": GRAPH["public"]}, timeout=30)
    body = response.json()
    assert response.status_code == 200, body
    assert body["resource"] == GRAPH["public"] and isinstance(body["expires_in"], str)
    assert claims_of(body["access_token"])["aud"] == GRAPH["public"]


# Errors: https://learn.microsoft.com/entra/identity-platform/reference-error-codes -------------

def test_unknown_tenant(emulator):
    response = token_request(emulator, "public", "00000000-1111-2222-3333-444444444444", grant_type="client_credentials",
                             client_id="00000000-1111-2222-3333-444444444444", client_secret="x",
                             scope=f"{GRAPH['public']}/.default")
    assert_aadsts(response, 400, "invalid_request", 90002)
    session = trusting_session(emulator.info["ca_bundle"])
    discovery = session.get(f"{emulator.endpoints('public')['authority_host']}/nowhere.example.com/v2.0/"
                            ".well-known/openid-configuration", timeout=30)
    assert_aadsts(discovery, 400, "invalid_request", 90002)
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        emulator.confidential_client({"cloud": "public", "tenant_id": "nowhere.example.com"},
                                     client_id="00000000-1111-2222-3333-444444444444", secret="x")


def test_unknown_client(emulator):
    tenant = emulator.tenant("public")
    response = token_request(emulator, "public", tenant["tenant_id"], grant_type="client_credentials",
                             client_id="00000000-1111-2222-3333-444444444444", client_secret="x",
                             scope=f"{GRAPH['public']}/.default")
    body = assert_aadsts(response, 400, "unauthorized_client", 700016)
    assert "00000000-1111-2222-3333-444444444444" in body["error_description"]


def test_bad_secret(emulator):
    tenant = emulator.tenant("public")
    result = emulator.confidential_client(tenant, secret="wrong-secret").acquire_token_for_client([f"{GRAPH['public']}/.default"])
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]
    # The request log never holds the secret that was sent.
    assert "wrong-secret" not in json.dumps(emulator.requests_log())


@pytest.mark.parametrize("scope, code", [
    ("https://graph.microsoft.com/User.Read", 1002012),  # client credentials need /.default
    ("https://graph.microsoft.com/.default https://api.partnercenter.microsoft.com/.default", 1002012),
])
def test_invalid_scope(emulator, scope, code):
    tenant = emulator.tenant("public")
    response = token_request(emulator, "public", tenant["tenant_id"], grant_type="client_credentials",
                             client_id=tenant["admin"]["client_id"], client_secret=tenant["admin"]["client_secret"], scope=scope)
    assert_aadsts(response, 400, "invalid_scope", code)


def test_scope_of_another_cloud(emulator):
    tenant = emulator.tenant("public")
    result = emulator.confidential_client(tenant).acquire_token_for_client(["https://graph.microsoft.us/.default"])
    assert result["error"] == "invalid_resource" and result["error_codes"] == [500011]
    assert "https://graph.microsoft.us" in result["error_description"]


def test_confidential_client_at_another_clouds_authority(emulator):
    usgov = emulator.tenant("usgov")
    response = token_request(emulator, "public", usgov["tenant_id"], grant_type="client_credentials",
                             client_id=usgov["admin"]["client_id"], client_secret=usgov["admin"]["client_secret"],
                             scope=f"{GRAPH['usgov']}/.default")
    assert_aadsts(response, 400, "invalid_request", 900382)
    china = emulator.tenant("china")
    response = token_request(emulator, "public", china["tenant_id"], grant_type="client_credentials",
                             client_id=china["admin"]["client_id"], client_secret=china["admin"]["client_secret"],
                             scope=f"{GRAPH['china']}/.default")
    assert_aadsts(response, 400, "invalid_request", 90038)


def test_usgov_and_dod_tenants_share_the_authority(emulator):
    dod = emulator.tenant("usgov_dod")
    response = token_request(emulator, "usgov", dod["tenant_id"], grant_type="client_credentials",
                             client_id=dod["admin"]["client_id"], client_secret=dod["admin"]["client_secret"],
                             scope=f"{GRAPH['usgov_dod']}/.default")
    assert response.status_code == 200, response.text


def test_client_without_service_principal(emulator):
    tenant = emulator.tenant("public")
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "no sp"}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    response = token_request(emulator, "public", tenant["tenant_id"], grant_type="client_credentials",
                             client_id=app["appId"], client_secret=secret, scope=f"{GRAPH['public']}/.default")
    assert_aadsts(response, 401, "invalid_client", 7000229)


def test_missing_credential_and_unsupported_grant(emulator):
    tenant = emulator.tenant("public")
    response = token_request(emulator, "public", tenant["tenant_id"], grant_type="client_credentials",
                             client_id=tenant["admin"]["client_id"], scope=f"{GRAPH['public']}/.default")
    assert_aadsts(response, 401, "invalid_client", 7000218)
    response = token_request(emulator, "public", tenant["tenant_id"], grant_type="magic",
                             client_id=tenant["admin"]["client_id"])
    assert_aadsts(response, 400, "unsupported_grant_type", 70003)


def test_partner_center_token_needs_its_service_principal(emulator):
    tenant = emulator.tenant("public")
    result = emulator.confidential_client(tenant).acquire_token_for_client(["https://api.partnercenter.microsoft.com/.default"])
    assert result["error_codes"] == [500011]
    graph = emulator.graph(tenant)
    assert graph.post("/servicePrincipals", json={"appId": "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"}).status_code == 201
    token = emulator.token(tenant, "partner_center")
    assert claims_of(token)["aud"] == "https://api.partnercenter.microsoft.com"


def test_expiry_is_enforced_even_for_seeded_clients(emulator):
    tenant = emulator.tenant("china")
    graph = emulator.graph(tenant)
    key_id = graph.get(f"/applications(appId='{tenant['admin']['client_id']}')").json()["passwordCredentials"][0]["keyId"]
    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).isoformat()
    emulator.control("PATCH", f"/tenants/{tenant['tenant_id']}/password-credentials/{key_id}", json={"endDateTime": past})
    response = token_request(emulator, "china", tenant["tenant_id"], grant_type="client_credentials",
                             client_id=tenant["admin"]["client_id"], client_secret=tenant["admin"]["client_secret"],
                             scope=f"{GRAPH['china']}/.default")
    assert_aadsts(response, 401, "invalid_client", 7000222)
