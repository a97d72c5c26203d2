"""The emulator's Graph follows Microsoft's published v1.0 schema of each cloud (issue 13): the tables are
current, unknown names are refused in every cloud, and responses carry only what the cloud's schema has."""
from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.clouds import DEFAULT_CLOUDS
from tests.emulator.schema import DEPLOYMENT_OF_CLOUD, SchemaError, for_cloud, generate
from tests.emulator.tests.test_graph_applications import graph_error

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Properties the global service has and the national clouds lack; and some no v1.0 schema has
# (../shared/reference/graph-metadata/README.md).
GLOBAL_ONLY = {"application": ("certification", "nativeAuthenticationApisEnabled", "samlMetadataUrl", "verifiedPublisher"),
               "servicePrincipal": ("resourceSpecificApplicationPermissions", "verifiedPublisher"),
               "organization": ("defaultUsageLocation",)}
NOWHERE = {"organization": ("directorySizeQuota", "isMultipleDataLocationsForServicesEnabled"),
           "servicePrincipal": ("createdDateTime",)}


# The tables -------------------------------------------------------------------------------------------
def test_tables_match_the_published_metadata():
    """Regenerated in memory from ../shared/reference/graph-metadata, every committed table is identical."""
    source = generate.DEFAULT_SOURCE
    if not all((source / name).is_file() for name, dummy in generate.DEPLOYMENTS.values()):
        pytest.fail(f"Microsoft's CSDL files are not in {source}: the schema tables cannot be checked. CI keeps a copy "
                    "of shared/ beside the clone (../shared); elsewhere, put one there.")
    for deployment, text in generate.generate(source).items():
        committed = generate.table_path(deployment)
        assert committed.read_text(encoding="utf-8") == text, (
            f"{committed} is stale or edited by hand: run `make emulator-schema` (python -m tests.emulator.schema.generate)")


def test_tables_record_their_source_and_the_cloud_mapping():
    for cloud in DEFAULT_CLOUDS:
        schema = for_cloud(cloud)
        assert cloud in schema.clouds and schema.deployment == DEPLOYMENT_OF_CLOUD[cloud]
        source = schema.table["source"]
        assert source["file"] == generate.DEPLOYMENTS[schema.deployment][0] and len(source["sha256"]) == 64
        assert source["commit"] == generate.METADATA_COMMIT
    assert for_cloud("usgov") is for_cloud("usgov_dod")


@pytest.mark.parametrize("cloud", DEFAULT_CLOUDS)
def test_published_differences_between_clouds(cloud):
    schema = for_cloud(cloud)
    for type_name, names in GLOBAL_ONLY.items():
        assert all((name in schema.properties(type_name)) == (cloud == "public") for name in names), type_name
    for type_name, names in NOWHERE.items():
        assert not set(names) & set(schema.properties(type_name)), type_name
    assert set(schema.bound_actions("application")) >= {"addPassword", "removePassword"}


def test_stale_or_edited_table_is_detected(tmp_path, monkeypatch):
    """The check the staleness test relies on: a table that differs from the CSDL is reported."""
    for deployment in generate.DEPLOYMENTS:
        text = generate.table_path(deployment).read_text(encoding="utf-8")
        (tmp_path / f"{deployment}.json").write_text(text.replace('"samlMetadataUrl"', '"samlMetadataUri"'), encoding="utf-8")
    monkeypatch.setattr(generate, "TABLE_DIR", tmp_path)
    assert generate.main(["--check"]) == 1


# Unknown names are refused in every cloud ----------------------------------------------------------
@pytest.fixture(params=DEFAULT_CLOUDS)
def cloud_graph(request, emulator):
    tenant = emulator.tenant(request.param)
    return request.param, emulator.graph(tenant)


def _message(response, code: str = "Request_BadRequest") -> str:
    return str(graph_error(response, 400, code)["message"])


def test_unknown_select_expand_orderby_filter_names(cloud_graph):
    cloud, graph = cloud_graph
    app = graph.post("/applications", json={"displayName": "schema"}).json()
    assert _message(graph.get("/applications", params={"$select": "id,nonsense"})) == \
        "Could not find a property named 'nonsense' on type 'microsoft.graph.application'."
    _message(graph.get(f"/applications/{app['id']}", params={"$select": "displayName,bogus"}))
    _message(graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')", params={"$select": "id,createdDateTime"}))
    assert "'bogus'" in _message(graph.get("/applications", params={"$filter": "bogus eq 'x'"}))
    assert "'nope'" in _message(graph.get("/applications", params={"$filter": "nope/any(x:x eq 'a')"}))
    assert "'owner'" in _message(graph.get("/applications", params={"$expand": "owner"}))
    assert "'sizeOf'" in _message(graph.get("/applications", params={"$orderby": "sizeOf desc"}))
    assert "'directorySizeQuota'" in _message(graph.get("/organization", params={"$select": "id,directorySizeQuota"}))
    # What the schema has stays accepted.
    assert graph.get("/applications", params={"$select": "id,createdDateTime", "$filter": "identifierUris/any(x:x eq 'a')"}
                     ).status_code == 200
    # A property of the global service only is unknown in the national clouds.
    certification = graph.get("/applications", params={"$select": "id,certification"})
    if cloud == "public":
        assert certification.status_code == 200
    else:
        _message(certification)


def test_unknown_body_names_nested_and_action_parameters(cloud_graph):
    cloud, graph = cloud_graph
    assert _message(graph.post("/applications", json={"displayName": "x", "web": {"redirectUris": [], "homePage": "h"}})) == \
        "Property 'web.homePage' does not exist as a declared property or extension property."
    app = graph.post("/applications", json={"displayName": "schema"}).json()
    assert "'web.implicitGrantSettings.enableIdToken'" in _message(graph.patch(
        f"/applications/{app['id']}", json={"web": {"implicitGrantSettings": {"enableIdToken": True}}}))
    assert "'requiredResourceAccess.resourceAccess.kind'" in _message(graph.patch(f"/applications/{app['id']}", json={
        "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": GRAPH_APP_ID, "kind": "Role"}]}]}))
    assert _message(graph.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {}, "lifetime": "P1D"})) == \
        "The parameter 'lifetime' in the request payload is not a valid parameter for the operation 'addPassword'."
    assert "'passwordCredential.expires'" in _message(graph.post(f"/applications/{app['id']}/addPassword",
                                                                 json={"passwordCredential": {"expires": "2030-01-01"}}))
    assert "'keyIdentifier'" in _message(graph.post(f"/applications/{app['id']}/removePassword", json={"keyIdentifier": "x"}))
    assert "'oops'" in _message(graph.post("/oauth2PermissionGrants", json={"clientId": app["id"], "oops": 1}))
    native = graph.post("/applications", json={"displayName": "x", "nativeAuthenticationApisEnabled": "none"})
    if cloud == "public":
        assert native.status_code == 201
    else:
        assert "'nativeAuthenticationApisEnabled'" in _message(native)


def test_unknown_names_inside_a_batch(cloud_graph):
    cloud, graph = cloud_graph
    answer = graph.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,createdDateTime"},
        {"id": "2", "method": "GET", "url": f"/servicePrincipals(appId='{GRAPH_APP_ID}')?$select=id,appRoles"}]}).json()
    statuses = {r["id"]: r["status"] for r in answer["responses"]}
    assert statuses == {"1": 400, "2": 200}


def test_schema_refuses_unknown_url_segments():
    schema = for_cloud("china")
    with pytest.raises(SchemaError, match="segment 'applicationz'"):
        schema.resolve("/v1.0/applicationz")
    with pytest.raises(SchemaError, match="segment 'setVerifiedPublisher'"):
        schema.resolve("/v1.0/applications/x/setVerifiedPublisher")  # a global-service action
    assert for_cloud("public").resolve("/v1.0/applications/x/setVerifiedPublisher").action == "setVerifiedPublisher"


# Responses carry only what the cloud's schema has -------------------------------------------------
def _served(emulator, cloud: str) -> list[tuple[str, str, Any]]:
    """(type, where, body) of every kind of object the emulator's Graph serves, in one tenant of a cloud."""
    tenant = emulator.tenant(cloud)
    graph = emulator.graph(tenant)
    created = graph.post("/applications", json={"displayName": "served", "passwordCredentials": [{"displayName": "s"}]})
    app = created.json()
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    policy_read = next(r["id"] for r in resource["appRoles"] if r["value"] == "Policy.Read.All")
    admin_sp = graph.get(f"/servicePrincipals(appId='{tenant['admin']['client_id']}')").json()
    assignment = graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo",
                            json={"principalId": admin_sp["id"], "resourceId": resource["id"], "appRoleId": policy_read}).json()
    grant = graph.post("/oauth2PermissionGrants", json={"clientId": sp["id"], "consentType": "AllPrincipals",
                                                        "resourceId": resource["id"], "scope": "User.Read"}).json()
    password = graph.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {"displayName": "p"}}).json()
    reader = emulator.graph(tenant)  # a token with Policy.Read.All
    organization = graph.get("/organization").json()["value"]
    return [
        ("application", "POST /applications", app),
        ("application", "GET /applications", graph.get("/applications").json()["value"]),
        ("application", "GET /applications/{id}", graph.get(f"/applications/{app['id']}").json()),
        ("servicePrincipal", "POST /servicePrincipals", sp),
        ("servicePrincipal", "GET /servicePrincipals", graph.get("/servicePrincipals").json()["value"]),
        ("servicePrincipal", "GET /servicePrincipals(appId=)", resource),
        ("appRoleAssignment", "POST appRoleAssignedTo", assignment),
        ("appRoleAssignment", "GET appRoleAssignedTo", graph.get(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo").json()["value"]),
        ("appRoleAssignment", "GET appRoleAssignments", graph.get(f"/servicePrincipals/{admin_sp['id']}/appRoleAssignments").json()["value"]),
        ("oAuth2PermissionGrant", "POST /oauth2PermissionGrants", grant),
        ("oAuth2PermissionGrant", "GET /oauth2PermissionGrants", graph.get("/oauth2PermissionGrants").json()["value"]),
        ("oAuth2PermissionGrant", "GET /oauth2PermissionGrants/{id}", graph.get(f"/oauth2PermissionGrants/{grant['id']}").json()),
        ("passwordCredential", "POST addPassword", password),
        ("organization", "GET /organization", organization),
        ("organization", "GET /organization/{id}", graph.get(f"/organization/{tenant['tenant_id']}").json()),
        ("tenantAppManagementPolicy", "GET defaultAppManagementPolicy", reader.get("/policies/defaultAppManagementPolicy").json()),
    ]


@pytest.mark.parametrize("cloud", DEFAULT_CLOUDS)
def test_responses_carry_only_the_clouds_properties(emulator, cloud):
    schema = for_cloud(cloud)
    served = _served(emulator, cloud)
    assert {type_name for type_name, where, body in served} >= {"application", "servicePrincipal", "appRoleAssignment",
                                                                "oAuth2PermissionGrant", "organization", "tenantAppManagementPolicy"}
    for type_name, where, body in served:
        assert body and "error" not in body, where
        assert schema.unknown_names(type_name, body) == [], f"{cloud}: {where}"
    by_where = {where: body for type_name, where, body in served}
    for type_name, where in (("application", "GET /applications/{id}"), ("servicePrincipal", "GET /servicePrincipals(appId=)"),
                             ("organization", "GET /organization/{id}")):
        present = [name for name in GLOBAL_ONLY[type_name] if name in by_where[where]]
        assert present == (list(GLOBAL_ONLY[type_name]) if cloud == "public" else []), (cloud, where)
        assert not set(NOWHERE.get(type_name, ())) & set(by_where[where]), (cloud, where)
