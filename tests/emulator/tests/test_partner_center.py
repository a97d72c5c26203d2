"""Partner Center: token acceptance, the app-only probe, registration and its emulated operator."""
from __future__ import annotations

import json
import time

import pytest

from tests.emulator.client import trusting_session

PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
PC_RESOURCE = {"public": "https://api.partnercenter.microsoft.com", "china": "https://partner.partnercenterapi.microsoftonline.cn"}


def web_app(emulator, tenant):
    """A web app with a secret, and the Partner Center service principal in the tenant."""
    graph = emulator.graph(tenant)
    graph.post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID})
    app = graph.post("/applications", json={"displayName": "pc web app"}).json()
    graph.post("/servicePrincipals", json={"appId": app["appId"]})
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    return app, secret


def customers(emulator, cloud, token, **headers):
    session = trusting_session(emulator.info["ca_bundle"])
    url = f"{emulator.endpoints(cloud)['partner_center_endpoint']}/v1/customers"
    return session.get(url, params={"size": 1}, headers={"Authorization": f"Bearer {token}", **headers}, timeout=30)


def pc_body(response) -> dict:
    assert response.content.startswith("\ufeff".encode()), response.content[:10]  # Partner Center's BOM
    return json.loads(response.content.decode("utf-8-sig"))


@pytest.mark.parametrize("cloud", ["public", "china"])
def test_unregistered_then_registered(emulator, cloud):
    tenant = emulator.tenant(cloud)
    app, secret = web_app(emulator, tenant)
    token = emulator.token(tenant, "partner_center", client_id=app["appId"], secret=secret)
    refused = customers(emulator, cloud, token, **{"MS-CorrelationId": "c0ffee00-0000-0000-0000-000000000000"})
    assert refused.status_code == 403
    assert pc_body(refused) == {"code": "2032", "description": "Access denied", "data": [], "source": "PartnerFD"}
    assert refused.headers["MS-CorrelationId"] == "c0ffee00-0000-0000-0000-000000000000"
    registration = {"tenant_id": tenant["tenant_id"], "app_id": app["appId"]}
    registered = emulator.control("POST", "/partner-center/registrations", json=registration)
    assert registered["registered_by"] == "portal"
    ok = customers(emulator, cloud, token)
    assert ok.status_code == 200
    body = pc_body(ok)
    assert body["attributes"] == {"objectType": "Collection"} and len(body["items"]) == 1 and body["totalCount"] == 2
    emulator.control("DELETE", "/partner-center/registrations", json={"tenant_id": tenant["tenant_id"], "app_id": app["appId"]})
    assert customers(emulator, cloud, token).status_code == 403


def test_operator_registers_after_a_delay(emulator):
    tenant = emulator.tenant("public")
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 1.0})
    app, secret = web_app(emulator, tenant)
    token = emulator.token(tenant, "partner_center", client_id=app["appId"], secret=secret)
    assert customers(emulator, "public", token).status_code == 403
    time.sleep(1.2)
    assert customers(emulator, "public", token).status_code == 200
    registrations = emulator.control("GET", "/partner-center/registrations")
    assert [(r["app_id"], r["registered_by"]) for r in registrations] == [(app["appId"], "auto")]


def test_operator_with_no_delay_registers_before_the_first_call(emulator):
    tenant = emulator.tenant("usgov")
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    app, secret = web_app(emulator, tenant)
    token = emulator.token(tenant, "partner_center", client_id=app["appId"], secret=secret)
    assert customers(emulator, "usgov", token).status_code == 200


def test_token_problems_are_401_with_www_authenticate(emulator):
    tenant = emulator.tenant("public")
    app, secret = web_app(emulator, tenant)
    graph_token = emulator.token(tenant, "graph", client_id=app["appId"], secret=secret)
    wrong_audience = customers(emulator, "public", graph_token)
    assert wrong_audience.status_code == 401 and wrong_audience.headers["WWW-Authenticate"].startswith("OAuth realm=")
    aad_graph = emulator.token(tenant, "https://graph.windows.net", client_id=app["appId"], secret=secret)
    retired = customers(emulator, "public", aad_graph)
    assert retired.status_code == 401 and pc_body(retired)["code"] == "900420"
    missing = trusting_session(emulator.info["ca_bundle"]).get(
        f"{emulator.endpoints('public')['partner_center_endpoint']}/v1/customers", timeout=30)
    assert missing.status_code == 401 and pc_body(missing)["code"] == "800001"
    usgov_token = emulator.token(tenant, "partner_center", client_id=app["appId"], secret=secret)
    assert customers(emulator, "usgov", usgov_token).status_code == 401  # a public-cloud tenant at the US Gov endpoint


def test_app_plus_user_needs_no_registration(emulator):
    tenant = emulator.tenant("public")
    graph = emulator.graph(tenant)
    pc_sp = graph.post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID}).json()
    native = graph.post("/applications", json={"displayName": "native", "isFallbackPublicClient": True}).json()
    native_sp = graph.post("/servicePrincipals", json={"appId": native["appId"]}).json()
    graph.post("/oauth2PermissionGrants", json={"clientId": native_sp["id"], "consentType": "AllPrincipals",
                                                "resourceId": pc_sp["id"], "scope": "user_impersonation"})
    result = emulator.user_token(tenant, native["appId"], f"{PC_RESOURCE['public']}/user_impersonation")
    assert "access_token" in result, result
    assert customers(emulator, "public", result["access_token"]).status_code == 200
    session = trusting_session(emulator.info["ca_bundle"])
    profile = session.get(f"{emulator.endpoints('public')['partner_center_endpoint']}/v1/profiles/organization",
                          headers={"Authorization": f"Bearer {result['access_token']}"}, timeout=30)
    assert pc_body(profile)["tenantId"] == tenant["tenant_id"]


def test_bom_can_be_switched_off(emulator):
    emulator.control("PUT", "/partner-center/settings", json={"utf8_bom": False})
    tenant = emulator.tenant("public")
    app, secret = web_app(emulator, tenant)
    token = emulator.token(tenant, "partner_center", client_id=app["appId"], secret=secret)
    assert customers(emulator, "public", token).json()["code"] == "2032"
