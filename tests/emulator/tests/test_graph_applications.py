"""Graph v1.0 applications: CRUD, alternate keys, upsert, OData queries, passwords, strictness."""
from __future__ import annotations

import json

import pytest

from tests.emulator.client import writes

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


def graph_error(response, status: int, code: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["error"]["code"] == code
    inner = body["error"]["innerError"]
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"]
    return body["error"]


@pytest.fixture
def graph(emulator):
    return emulator.graph(emulator.tenant("public"))


def test_create_get_update_delete(emulator, graph):
    created = graph.post("/applications", json={"displayName": "Contoso web"})
    assert created.status_code == 201
    app = created.json()
    assert app["signInAudience"] == "AzureADMyOrg"  # default since April 2024
    assert app["passwordCredentials"] == [] and app["web"]["redirectUris"] == []
    assert app["publisherDomain"] == emulator.tenant("public")["domain"]
    for path in (f"/applications/{app['id']}", f"/applications(appId='{app['appId']}')"):
        assert graph.get(path).json()["id"] == app["id"]
    update = {"web": {"redirectUris": ["https://contoso.example/signin"]}, "notes": "n"}
    patch = graph.patch(f"/applications/{app['id']}", json=update)
    assert patch.status_code == 204 and patch.content == b""
    fetched = graph.get(f"/applications/{app['id']}").json()
    assert fetched["web"]["redirectUris"] == ["https://contoso.example/signin"]
    assert fetched["web"]["implicitGrantSettings"] == {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False}
    assert graph.delete(f"/applications/{app['id']}").status_code == 204
    graph_error(graph.get(f"/applications/{app['id']}"), 404, "Request_ResourceNotFound")


def test_upsert_by_unique_name(emulator, graph):
    path = "/applications(uniqueName='partner-o''brien')"
    graph_error(graph.patch(path, json={"displayName": "x"}), 404, "Request_ResourceNotFound")
    created = graph.patch(path, json={"displayName": "O'Brien app"}, headers={"Prefer": "create-if-missing"})
    assert created.status_code == 201
    assert created.json()["uniqueName"] == "partner-o'brien"
    again = graph.patch(path, json={"displayName": "O'Brien app 2"}, headers={"Prefer": "create-if-missing"})
    assert again.status_code == 204
    assert graph.get(path).json()["displayName"] == "O'Brien app 2"
    listed = graph.get("/applications", params={"$filter": "uniqueName eq 'partner-o''brien'"}).json()["value"]
    assert [a["id"] for a in listed] == [created.json()["id"]]


def test_unique_name_is_unique_and_immutable(graph):
    graph.patch("/applications(uniqueName='one')", json={"displayName": "one"}, headers={"Prefer": "create-if-missing"})
    app = graph.get("/applications(uniqueName='one')").json()
    graph_error(graph.post("/applications", json={"displayName": "dup", "uniqueName": "one"}), 400, "Request_BadRequest")
    graph_error(graph.patch(f"/applications/{app['id']}", json={"uniqueName": "two"}), 400, "Request_BadRequest")


@pytest.mark.parametrize("name", ["O'Brien & Sons #1", "Ünïcødé 应用", "a+b=c?d", "100% 'quoted' \"double\""])
def test_filter_with_quotes_and_special_characters(graph, name):
    created = graph.post("/applications", json={"displayName": name}).json()
    literal = name.replace("'", "''")
    found = graph.get("/applications", params={"$filter": f"displayName eq '{literal}'", "$select": "id,displayName"}).json()
    assert found["value"] == [{"id": created["id"], "displayName": name}]


def test_filter_is_case_insensitive_and_supports_startswith_and_any(graph):
    assert graph.post("/applications", json={"displayName": "MixedCase", "tags": ["Partner"]}).status_code == 201
    for expression in ("displayName eq 'mixedcase'", "startswith(displayName,'mixed')", "tags/any(t:t eq 'partner')",
                       "displayName eq 'nope' or tags/any(t:t eq 'Partner')"):
        values = graph.get("/applications", params={"$filter": expression}).json()["value"]
        assert [v["displayName"] for v in values] == ["MixedCase"], expression


@pytest.mark.parametrize("expression, code", [
    ("displayName ne 'x'", "Request_UnsupportedQuery"),
    ("notes eq 'x'", "Request_UnsupportedQuery"),
    ("displayName eq", "BadRequest"),
    ("displayName eq 'unterminated", "BadRequest"),
])
def test_bad_filters(graph, expression, code):
    graph_error(graph.get("/applications", params={"$filter": expression}), 400, code)


def test_select_and_unknown_select(graph):
    values = graph.get("/applications", params={"$select": "appId,displayName"}).json()["value"]
    assert all(set(v) == {"appId", "displayName"} for v in values) and values
    error = graph_error(graph.get("/applications", params={"$select": "appId,nonsense"}), 400, "Request_BadRequest")
    assert "nonsense" in error["message"]


def test_paging_follows_next_link_to_the_end(graph):
    names = {f"page-{n:02d}" for n in range(7)}
    for name in names:
        graph.post("/applications", json={"displayName": name})
    seen, url, pages = [], "/applications?$top=3&$filter=startswith(displayName,'page-')", 0
    while url:
        body = graph.get(url).json()
        seen += [v["displayName"] for v in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
        assert url is None or url.startswith("https://127.0.0.1:")
    assert sorted(seen) == sorted(names) and pages == 3
    graph_error(graph.get("/applications", params={"$top": "1000"}), 400, "Request_BadRequest")


def test_add_and_remove_password(emulator, graph):
    app = graph.post("/applications", json={"displayName": "secrets"}).json()
    added = graph.post(f"/applications/{app['id']}/addPassword",
                       json={"passwordCredential": {"displayName": "Partner Center", "endDateTime": "2030-01-01T00:00:00Z"}})
    assert added.status_code == 200
    body = added.json()
    assert len(body["secretText"]) == 40 and body["hint"] == body["secretText"][:3]
    assert body["displayName"] == "Partner Center" and body["endDateTime"] == "2030-01-01T00:00:00Z"
    listed = graph.get(f"/applications/{app['id']}").json()["passwordCredentials"]
    assert listed == [{**{k: v for k, v in body.items() if not k.startswith("@")}, "secretText": None}]
    default = graph.post(f"/applications(appId='{app['appId']}')/addPassword", json={}).json()
    assert default["endDateTime"][:4] == str(int(default["startDateTime"][:4]) + 2)  # default lifetime: 2 years
    assert graph.post(f"/applications/{app['id']}/removePassword", json={"keyId": body["keyId"]}).status_code == 204
    remaining = graph.get(f"/applications/{app['id']}").json()["passwordCredentials"]
    assert [c["keyId"] for c in remaining] == [default["keyId"]]
    graph_error(graph.post(f"/applications/{app['id']}/removePassword", json={"keyId": body["keyId"]}), 400,
                "Request_BadRequest")
    log = json.dumps(emulator.requests_log())
    assert body["secretText"] not in log and default["secretText"] not in log


def test_password_credentials_can_be_added_on_create(graph):
    created = graph.post("/applications", json={"displayName": "with secret",
                                                "passwordCredentials": [{"displayName": "initial"}]}).json()
    assert created["passwordCredentials"][0]["secretText"]
    assert graph.get(f"/applications/{created['id']}").json()["passwordCredentials"][0]["secretText"] is None


@pytest.mark.parametrize("body, message", [
    ({"displayName": "x", "foo": 1}, "Property 'foo' does not exist as a declared property or extension property."),
    ({"displayName": "x", "web": {"redirectUri": []}}, "Property 'web.redirectUri' does not exist"),
    ({"displayName": "x", "appId": "00000000-0000-0000-0000-000000000001"}, "Property 'appId' is read-only"),
    ({"displayName": ""}, "Invalid value specified for property 'displayName' of resource 'Application'."),
    ({}, "Invalid value specified for property 'displayName'"),
    ({"displayName": 5}, "Invalid value specified for property 'displayName'"),
    ({"displayName": "x", "signInAudience": "Everyone"}, "property 'signInAudience'"),
    ({"displayName": "x", "web": {"redirectUris": ["http://contoso.example/cb"]}}, "property 'web'"),
    ({"displayName": "x", "web": {"redirectUris": ["/relative"]}}, "property 'web'"),
    ({"displayName": "x", "spa": {"redirectUris": ["https://contoso.example/a,b"]}}, "property 'spa'"),
    ({"displayName": "x", "publicClient": {"redirectUris": ["http://contoso.example"]}}, "property 'publicClient'"),
    # Front-channel logout URL: https only, localhost included (supported-accounts-validation).
    ({"displayName": "x", "web": {"logoutUrl": "http://contoso.example/logout"}}, "property 'web'"),
    ({"displayName": "x", "web": {"logoutUrl": "http://localhost:5000/logout"}}, "property 'web'"),
    ({"displayName": "x", "requiredResourceAccess": [{"resourceAppId": "graph", "resourceAccess": []}]},
     "property 'requiredResourceAccess'"),
    ({"displayName": "x", "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID,
                                                      "resourceAccess": [{"id": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
                                                                          "type": "Delegated"}]}]},
     "property 'requiredResourceAccess'"),
])
def test_strict_bodies(emulator, graph, body, message):
    error = graph_error(graph.post("/applications", json=body), 400, "Request_BadRequest")
    assert message in error["message"]
    assert writes(emulator.requests_log(status="201")) == []


def test_valid_redirect_uris(graph):
    body = {"displayName": "uris", "web": {"redirectUris": ["https://contoso.example/cb", "http://localhost:8400/cb"]},
            "publicClient": {"redirectUris": ["http://localhost", "msalabc://auth", "urn:ietf:wg:oauth:2.0:oob"]}}
    assert graph.post("/applications", json=body).status_code == 201


def test_logout_url_is_https_localhost_included(graph):
    """https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation: https://localhost is
    allowed, the http scheme is not (for updates as for creates)."""
    created = graph.post("/applications", json={"displayName": "logout", "web": {"logoutUrl": "https://localhost/logout"}})
    assert created.status_code == 201 and created.json()["web"]["logoutUrl"] == "https://localhost/logout"
    refused = graph.patch(f"/applications/{created.json()['id']}", json={"web": {"logoutUrl": "http://localhost/logout"}})
    assert "property 'web'" in graph_error(refused, 400, "Request_BadRequest")["message"]
    assert graph.get(f"/applications/{created.json()['id']}").json()["web"]["logoutUrl"] == "https://localhost/logout"


def test_identifier_uris_must_use_a_verified_domain_or_ids(emulator, graph):
    tenant = emulator.tenant("public")
    app = graph.post("/applications", json={"displayName": "api"}).json()
    ok = [f"api://{app['appId']}", f"https://{tenant['domain']}/api", f"api://{tenant['tenant_id']}/thing"]
    assert graph.patch(f"/applications/{app['id']}", json={"identifierUris": ok}).status_code == 204
    graph_error(graph.patch(f"/applications/{app['id']}", json={"identifierUris": ["https://contoso.example/api"]}), 400,
                "HostNameNotOnVerifiedDomain")
    graph_error(graph.patch(f"/applications/{app['id']}", json={"identifierUris": ["api://anything"]}), 400,
                "Request_BadRequest")


def test_malformed_ids_and_alternate_keys(graph):
    error = graph_error(graph.get("/applications/not-a-guid"), 400, "Request_BadRequest")
    assert error["message"] == "Invalid object identifier 'not-a-guid'."
    graph_error(graph.get("/applications(appId='not-a-guid')"), 400, "Request_BadRequest")
    graph_error(graph.get("/applications/00000000-0000-0000-0000-000000000000"), 404, "Request_ResourceNotFound")


def test_client_request_id_is_echoed(graph):
    response = graph.get("/applications", headers={"client-request-id": "11111111-2222-3333-4444-555555555555"})
    assert response.headers["client-request-id"] == "11111111-2222-3333-4444-555555555555"
    error = graph.get("/applications/not-a-guid", headers={"client-request-id": "11111111-2222-3333-4444-555555555555"})
    assert error.json()["error"]["innerError"]["client-request-id"] == "11111111-2222-3333-4444-555555555555"


def test_delete_takes_the_service_principal_and_its_consent(emulator, graph):
    app = graph.post("/applications", json={"displayName": "to delete"}).json()
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    graph_sp = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    graph.post("/oauth2PermissionGrants", json={"clientId": sp["id"], "consentType": "AllPrincipals",
                                                "resourceId": graph_sp["id"], "scope": "User.Read"})
    assert graph.delete(f"/applications(appId='{app['appId']}')").status_code == 204
    graph_error(graph.get(f"/servicePrincipals/{sp['id']}"), 404, "Request_ResourceNotFound")
    grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{sp['id']}'"}).json()["value"]
    assert grants == []


def test_json_batching(emulator, graph):
    app = graph.post("/applications", json={"displayName": "batched"}).json()
    body = {"requests": [
        {"id": "1", "method": "GET", "url": f"/applications(appId='{app['appId']}')?$select=id,displayName"},
        {"id": "2", "method": "GET", "url": "/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?$select=id"},
        {"id": "3", "method": "GET", "url": "/applications/not-a-guid"},
        {"id": "4", "method": "PATCH", "url": f"/applications/{app['id']}", "body": {"notes": "via batch"},
         "headers": {"Content-Type": "application/json"}, "dependsOn": ["1"]},
        {"id": "5", "method": "GET", "url": "/applications(uniqueName='a%20b')", "dependsOn": ["3"]},
    ]}
    emulator.clear_log()
    response = graph.post("/$batch", json=body)
    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert answers["1"]["status"] == 200 and answers["1"]["body"]["displayName"] == "batched"
    assert answers["2"]["status"] == 200 and set(answers["2"]["body"]) == {"@odata.context", "id"}
    assert answers["3"]["status"] == 400 and answers["3"]["body"]["error"]["code"] == "Request_BadRequest"
    assert answers["4"]["status"] == 204 and graph.get(f"/applications/{app['id']}").json()["notes"] == "via batch"
    assert answers["5"]["status"] == 424
    log = emulator.requests_log(service="graph")
    outer = next(e for e in log if e["path"] == "/v1.0/$batch")
    inner = [e for e in log if e["batch"] == outer["request_id"]]
    # The request whose dependency failed never ran: it is not in the log.
    assert [(e["method"], e["status"]) for e in inner] == [("GET", 200), ("GET", 200), ("GET", 400), ("PATCH", 204)]
    assert inner[3]["body"] == {"notes": "via batch"}


def test_batch_limits_and_inner_throttling(emulator, graph):
    too_many = {"requests": [{"id": str(n), "method": "GET", "url": "/organization"} for n in range(21)]}
    graph_error(graph.post("/$batch", json=too_many), 400, "BadRequest")
    duplicate_ids = {"requests": [{"id": "1", "method": "GET", "url": "/organization"},
                                  {"id": "1", "method": "GET", "url": "/organization"}]}
    graph_error(graph.post("/$batch", json=duplicate_ids), 400, "BadRequest")
    emulator.set_faults(rate_limit_capacity=3, rate_limit_refill_per_second=0.1, retry_after=1)
    answers = graph.post("/$batch", json={"requests": [{"id": str(n), "method": "GET", "url": "/organization"}
                                                       for n in range(4)]})
    assert answers.status_code == 200  # the $batch itself took the first token
    statuses = [r["status"] for r in answers.json()["responses"]]
    assert statuses == [200, 200, 429, 429] and answers.json()["responses"][2]["headers"]["Retry-After"]
