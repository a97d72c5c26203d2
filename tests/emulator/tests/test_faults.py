"""Faults: throttling (random and token bucket), server errors, dropped connections, replication lag."""
from __future__ import annotations

import time

import pytest
import requests

from tests.emulator.client import EmulatorProcess, writes
from tests.emulator.tests.test_graph_applications import graph_error


@pytest.fixture
def tenant(emulator):
    return emulator.tenant("public")


def test_throttling_answers_429_with_retry_after_and_throttle_headers(emulator, tenant):
    graph = emulator.graph(tenant)
    emulator.set_faults(seed=3, throttle_probability=1.0, retry_after=2, services=["graph"])
    response = graph.get("/applications")
    graph_error(response, 429, "TooManyRequests")
    assert response.headers["Retry-After"] == "2"
    assert response.headers["x-ms-throttle-scope"] == f"Tenant_Application/ReadWrite/{tenant['admin']['client_id']}/{tenant['tenant_id']}"
    assert response.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    assert emulator.requests_log(service="graph")[-1]["fault"] == "throttle"


def test_token_bucket_per_client_and_tenant(emulator, tenant):
    graph = emulator.graph(tenant)
    limited = emulator.graph(tenant, who="limited")
    emulator.set_faults(rate_limit_capacity=3, rate_limit_refill_per_second=1)
    statuses = [graph.get("/organization").status_code for dummy in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert limited.get("/applications").status_code == 200  # another client has its own bucket
    time.sleep(1.1)
    assert graph.get("/organization").status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors(emulator, tenant, status):
    graph = emulator.graph(tenant)
    emulator.set_faults(server_error_probability=1.0, server_error_statuses=[status], retry_after=1)
    response = graph.get("/applications")
    assert response.status_code == status
    assert response.json()["error"]["code"] in ("InternalServerError", "ServiceUnavailable")
    assert ("Retry-After" in response.headers) == (status == 503)


def test_identity_platform_faults(emulator, tenant):
    emulator.set_faults(throttle_probability=1.0, services=["identity"])
    result = emulator.confidential_client(tenant).acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert result["error"] == "temporarily_unavailable" and 90055 in result["error_codes"]


def test_dropped_connections_before_and_after_processing(emulator, tenant):
    graph = emulator.graph(tenant)
    emulator.set_faults(seed=1, drop_probability=1.0, drop_after_processing=0.0)
    with pytest.raises(requests.ConnectionError):
        graph.post("/applications", json={"displayName": "dropped before"})
    emulator.set_faults(seed=1, drop_probability=1.0, drop_after_processing=1.0)
    with pytest.raises(requests.ConnectionError):
        graph.post("/applications", json={"displayName": "dropped after"})
    emulator.set_faults()
    names = {a["displayName"] for a in graph.get("/applications").json()["value"]}
    assert "dropped after" in names and "dropped before" not in names
    faults = [e["fault"] for e in writes(emulator.requests_log())]
    assert faults == ["drop_before", "drop_after"]


def test_replication_lag(emulator, tenant):
    graph = emulator.graph(tenant)
    emulator.set_faults(replication_lag_min_seconds=1.5, replication_lag_max_seconds=1.5)
    app = graph.post("/applications", json={"displayName": "lagging"}).json()
    graph_error(graph.get(f"/applications/{app['id']}"), 404, "Request_ResourceNotFound")
    graph_error(graph.patch(f"/applications/{app['id']}", json={"notes": "x"}), 404, "Request_ResourceNotFound")
    error = graph_error(graph.post("/servicePrincipals", json={"appId": app["appId"]}), 400, "Request_BadRequest")
    assert error["details"][0]["code"] == "NoBackingApplicationObject"
    time.sleep(1.6)
    assert graph.get(f"/applications/{app['id']}").status_code == 200
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    graph_sp = graph.get("/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')").json()
    grant = {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"], "scope": "User.Read"}
    graph_error(graph.post("/oauth2PermissionGrants", json=grant), 404, "Request_ResourceNotFound")
    time.sleep(1.6)
    assert graph.post("/oauth2PermissionGrants", json=grant).status_code == 201


def test_new_secret_signs_in_only_once_replicated(emulator, tenant):
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "secret lag"}).json()
    graph.post("/servicePrincipals", json={"appId": app["appId"]})
    emulator.set_faults(replication_lag_min_seconds=1.5, replication_lag_max_seconds=1.5)
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    result = emulator.confidential_client(tenant, client_id=app["appId"], secret=secret).acquire_token_for_client(
        ["https://graph.microsoft.com/.default"])
    assert result["error_codes"] == [7000215]
    time.sleep(1.6)
    # msal remembers the 400 for 60 s per identical request (reference §1.3): use a fresh client.
    fresh = emulator.confidential_client(tenant, client_id=app["appId"], secret=secret)
    assert "access_token" in fresh.acquire_token_for_client(["https://graph.microsoft.com/.default"])


def test_fault_decisions_are_reproducible_per_seed():
    def run(seed: int) -> list[int]:
        # Faults set at start: the command line, not the control API.
        with EmulatorProcess("--clouds", "public", "--tenants", "1", "--fault-seed", str(seed),
                             "--faults", '{"services": ["graph"]}', "--throttle-probability", "0.5") as emulator:
            assert emulator.control("GET", "/faults")["throttle_probability"] == 0.5
            graph = emulator.graph(emulator.tenant("public"))
            return [graph.get("/organization").status_code for dummy in range(20)]

    first, second, other = run(11), run(11), run(12)
    assert first == second and first != other and {200, 429} == set(first)
