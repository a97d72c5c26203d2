"""Azure Key Vault (secrets) in every emulated cloud: one vault per tenant, auth, access, versions,
soft delete, faults and the request log (tests/emulator/key_vault.py)."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from tests.emulator.client import EmulatorError, EmulatorProcess, KeyVaultSession
from tests.emulator.clouds import CLOUDS
from tests.emulator.store import KEY_VAULT_APP_ID

CLOUD_NAMES = ["public", "usgov", "usgov_dod", "china"]


def kv_error(response: requests.Response, status: int, code: str, inner: str | None = None) -> dict[str, Any]:
    """Assert Key Vault's error shape; returns the `error` object."""
    assert response.status_code == status, response.text
    assert response.headers.get("x-ms-request-id")
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if inner:
        assert error["innererror"] == {"code": inner}
    else:
        assert "innererror" not in error
    return dict(error)


@pytest.fixture(params=CLOUD_NAMES)
def tenant(request: pytest.FixtureRequest, emulator: EmulatorProcess) -> dict[str, Any]:
    return emulator.tenant(request.param)


@pytest.fixture
def vault(emulator: EmulatorProcess, tenant: dict[str, Any]) -> KeyVaultSession:
    return emulator.key_vault(tenant)


def test_ready_line_names_each_tenants_vault_and_each_clouds_resource(emulator, tenant):
    cloud = emulator.endpoints(tenant["cloud"])
    assert cloud["key_vault_resource"] == CLOUDS[tenant["cloud"]].key_vault_resource
    assert tenant["key_vault_name"] == tenant["domain"].split(".")[0] + "-kv"
    assert tenant["key_vault_url"] == f"{cloud['key_vault_endpoint']}/{tenant['key_vault_name']}"
    assert tenant["key_vault_url"].startswith("https://127.0.0.1:")
    assert {"public": "https://vault.azure.net", "usgov": "https://vault.usgovcloudapi.net",
            "usgov_dod": "https://vault.usgovcloudapi.net", "china": "https://vault.azure.cn"}[tenant["cloud"]] \
        == cloud["key_vault_resource"]


def test_set_get_and_versions(vault, tenant):
    first = vault.set_secret("webapp-secret", "s3cret-one", contentType="application/x-pc-app-secret",
                             tags={"app_id": "a", "cloud": tenant["cloud"]}, attributes={"exp": 4102444800})
    assert first.status_code == 200 and first.headers["x-ms-request-id"]
    bundle = first.json()
    name_url = f"{tenant['key_vault_url']}/secrets/webapp-secret"
    assert bundle["id"].startswith(name_url + "/") and len(bundle["id"].rsplit("/", 1)[1]) == 32
    assert bundle["value"] == "s3cret-one" and bundle["contentType"] == "application/x-pc-app-secret"
    assert bundle["tags"] == {"app_id": "a", "cloud": tenant["cloud"]}
    attributes = bundle["attributes"]
    assert attributes["enabled"] is True and attributes["exp"] == 4102444800 and "nbf" not in attributes
    assert attributes["created"] == attributes["updated"] and abs(attributes["created"] - time.time()) < 60
    assert attributes["recoveryLevel"] == "Recoverable+Purgeable" and attributes["recoverableDays"] == 90
    second = vault.set_secret("webapp-secret", "s3cret-two").json()
    assert second["id"] != bundle["id"] and "tags" not in second and "contentType" not in second
    for path in ("/secrets/webapp-secret", "/secrets/webapp-secret/", "/secrets/WEBAPP-secret"):
        latest = vault.get(path)
        assert latest.status_code == 200 and latest.json()["value"] == "s3cret-two" and latest.json()["id"] == second["id"]
    old = vault.get(f"/secrets/webapp-secret/{bundle['id'].rsplit('/', 1)[1]}").json()
    assert old["value"] == "s3cret-one" and old["tags"] == bundle["tags"]
    versions = vault.get("/secrets/webapp-secret/versions").json()
    assert versions["nextLink"] is None
    assert sorted(v["id"] for v in versions["value"]) == sorted([bundle["id"], second["id"]])
    assert all("value" not in v for v in versions["value"])
    listed = vault.get("/secrets").json()["value"]
    assert [s["id"] for s in listed] == [name_url] and "value" not in listed[0]
    kv_error(vault.get("/secrets/never-set"), 404, "SecretNotFound")
    kv_error(vault.get("/secrets/webapp-secret/0123456789abcdef0123456789abcdef"), 404, "SecretNotFound")


def test_versions_are_paged_with_maxresults_and_next_link(emulator):
    vault = emulator.key_vault(emulator.tenant("public"))
    ids = {vault.set_secret("paged", f"value-{n}").json()["id"] for n in range(5)}
    seen: list[str] = []
    sizes = []
    page = vault.get("/secrets/paged/versions", params={"maxresults": 2}).json()
    while True:
        sizes.append(len(page["value"]))
        seen += [item["id"] for item in page["value"]]
        if not page["nextLink"]:
            break
        assert "api-version=2025-07-01" in page["nextLink"] and "maxresults=2" in page["nextLink"]
        page = vault.get(page["nextLink"]).json()
    assert sizes == [2, 2, 1] and set(seen) == ids and len(seen) == 5
    assert len(vault.get("/secrets/paged/versions").json()["value"]) == 5  # default page: up to 25
    for bad in (0, 26, "x"):
        kv_error(vault.get("/secrets/paged/versions", params={"maxresults": bad}), 400, "BadParameter")
    kv_error(vault.get("/secrets/paged/versions", params={"$skiptoken": "!!"}), 400, "BadParameter")
    assert vault.get("/secrets/nothing-here/versions").json() == {"value": [], "nextLink": None}


def test_soft_deleted_name_answers_404_on_get_and_409_on_set(vault, tenant):
    vault.set_secret("rotated", "v1")
    deleted = vault.delete("/secrets/rotated")
    assert deleted.status_code == 200
    body = deleted.json()
    assert "value" not in body and body["recoveryId"] == f"{tenant['key_vault_url']}/deletedsecrets/rotated"
    assert body["scheduledPurgeDate"] - body["deletedDate"] == 90 * 86400
    kv_error(vault.get("/secrets/rotated"), 404, "SecretNotFound")
    error = kv_error(vault.set_secret("rotated", "v2"), 409, "Conflict", "ObjectIsDeletedButRecoverable")
    assert "deleted but recoverable state" in error["message"]
    kv_error(vault.delete("/secrets/rotated"), 404, "SecretNotFound")
    shown = vault.get("/deletedsecrets/rotated")
    assert shown.status_code == 200 and "value" not in shown.json()
    assert [d["recoveryId"] for d in vault.get("/deletedsecrets").json()["value"]] == [body["recoveryId"]]
    assert vault.delete("/deletedsecrets/rotated").status_code == 204
    kv_error(vault.get("/deletedsecrets/rotated"), 404, "SecretNotFound")
    again = vault.set_secret("rotated", "v2")
    assert again.status_code == 200 and again.json()["value"] == "v2"
    assert len(vault.get("/secrets/rotated/versions").json()["value"]) == 1


def test_recover_brings_back_every_version(emulator):
    vault = emulator.key_vault(emulator.tenant("china"))
    vault.set_secret("kept", "one")
    vault.set_secret("kept", "two")
    vault.delete("/secrets/kept")
    recovered = vault.post("/deletedsecrets/kept/recover")
    assert recovered.status_code == 200 and "value" not in recovered.json()
    assert vault.get("/secrets/kept").json()["value"] == "two"
    assert len(vault.get("/secrets/kept/versions").json()["value"]) == 2


def test_disabled_secret_is_forbidden_and_dates_are_informational(vault):
    disabled = vault.set_secret("off", "hidden", attributes={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["attributes"]["enabled"] is False
    error = kv_error(vault.get("/secrets/off"), 403, "Forbidden", "SecretDisabled")
    assert error["message"] == "Operation get is not allowed on a disabled secret."
    version = disabled.json()["id"].rsplit("/", 1)[1]
    kv_error(vault.get(f"/secrets/off/{version}"), 403, "Forbidden", "SecretDisabled")
    assert vault.get("/secrets/off/versions").json()["value"][0]["attributes"]["enabled"] is False
    enabled = vault.patch(f"/secrets/off/{version}", json={"attributes": {"enabled": True}})
    assert enabled.status_code == 200 and "value" not in enabled.json()
    assert vault.get("/secrets/off").json()["value"] == "hidden"
    # exp and nbf do not stop a get (about-secrets, "Date-time controlled operations").
    now = int(time.time())
    expired = vault.set_secret("expired", "old", attributes={"exp": now - 3600, "nbf": now - 7200}).json()
    assert expired["attributes"]["exp"] == now - 3600
    assert vault.get("/secrets/expired").json()["value"] == "old"
    vault.set_secret("future", "later", attributes={"nbf": now + 86400})
    assert vault.get("/secrets/future").json()["value"] == "later"


def test_names_and_bodies_are_checked(emulator):
    vault = emulator.key_vault(emulator.tenant("usgov"))
    for bad in ("bad_name", "dots.not.allowed", "x" * 128):
        error = kv_error(vault.set_secret(bad, "v"), 400, "BadParameter")
        assert error["message"] == f"The request URI contains an invalid name: {bad}"
        kv_error(vault.get(f"/secrets/{bad}"), 400, "BadParameter")
    assert vault.set_secret("x" * 127, "v").status_code == 200
    kv_error(vault.put("/secrets/novalue", json={"contentType": "text/plain"}), 400, "BadParameter")
    kv_error(vault.put("/secrets/badtags", json={"value": "v", "tags": {"n": 1}}), 400, "BadParameter")
    kv_error(vault.put("/secrets/manytags", json={"value": "v", "tags": {str(n): "t" for n in range(16)}}), 400, "BadParameter")
    kv_error(vault.put("/secrets/badexp", json={"value": "v", "attributes": {"exp": "2030-01-01"}}), 400, "BadParameter")
    kv_error(vault.put("/secrets/big", json={"value": "v" * (25 * 1024 + 1)}), 400, "BadParameter")
    kv_error(vault.put("/secrets/notjson", data=b"{", headers={"Content-Type": "application/json"}), 400, "BadParameter")


def test_api_version_is_required_and_known(emulator):
    vault = emulator.key_vault(emulator.tenant("public"))
    vault.set_secret("versioned", "v")
    for version in ("7.4", "7.5", "7.6", "2025-07-01"):
        assert vault.get("/secrets/versioned", api_version=version).status_code == 200
    kv_error(vault.get("/secrets/versioned", api_version=None), 400, "BadParameter")
    error = kv_error(vault.get("/secrets/versioned", api_version="2099-01-01"), 400, "BadParameter")
    assert "(2099-01-01) is not recognized" in error["message"]


def test_no_token_gets_the_401_challenge(emulator, tenant):
    cloud = CLOUDS[tenant["cloud"]]
    response = KeyVaultSession(emulator, tenant["key_vault_url"], None).get("/secrets/any")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (f'Bearer authorization="https://{cloud.login_host}/{tenant["tenant_id"]}", '
                                                    f'resource="{cloud.key_vault_resource}"')
    assert response.json() == {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}
    entry = emulator.requests_log(service="key_vault")[-1]
    assert entry["status"] == 401 and entry["tenant_id"] == tenant["tenant_id"] and entry["cloud"] == tenant["cloud"]


def test_a_graph_token_is_refused_for_its_audience(emulator, tenant):
    graph_token = emulator.token(tenant, "graph")
    error = kv_error(emulator.key_vault(tenant, token=graph_token).get("/secrets/any"), 401, "Unauthorized")
    cloud = CLOUDS[tenant["cloud"]]
    assert error["message"] == (f"AKV10022: Invalid audience. Expected {cloud.key_vault_resource} or {KEY_VAULT_APP_ID}, "
                                f"found: {cloud.graph_resource}.")


def test_audience_forms(emulator):
    tenant = emulator.tenant("usgov")
    by_app_id = emulator.token(tenant, KEY_VAULT_APP_ID)
    assert emulator.key_vault(tenant, token=by_app_id).set_secret("aud", "v").status_code == 200
    # A v1 token for "https://vault.usgovcloudapi.net/" carries the slash, which Key Vault refuses (go-autorest#525).
    form = {"grant_type": "client_credentials", "client_id": tenant["admin"]["client_id"],
            "client_secret": tenant["admin"]["client_secret"], "resource": "https://vault.usgovcloudapi.net/"}
    assert emulator.session is not None
    url = f"{emulator.endpoints('usgov')['authority_host']}/{tenant['tenant_id']}/oauth2/token"
    slash = emulator.session.post(url, data=form, timeout=30).json()["access_token"]
    error = kv_error(emulator.key_vault(tenant, token=slash).get("/secrets/aud"), 401, "Unauthorized")
    assert error["message"].startswith("AKV10022: Invalid audience.") and "found: https://vault.usgovcloudapi.net/." in error["message"]


def test_identity_issues_key_vault_tokens_only_for_the_tenants_cloud(emulator):
    tenant = emulator.tenant("public")
    with pytest.raises(EmulatorError, match="AADSTS500011"):
        emulator.token(tenant, "https://vault.usgovcloudapi.net")
    with pytest.raises(EmulatorError, match="AADSTS500011"):
        emulator.token(emulator.tenant("china"), "https://vault.azure.net")


def test_a_token_of_another_tenant_is_refused(emulator, tenant):
    other = emulator.tenant(tenant["cloud"], 1)
    foreign = emulator.key_vault(tenant, token=emulator.token(other, "key_vault"))
    error = kv_error(foreign.get("/secrets/any"), 401, "Unauthorized")
    issuer = CLOUDS[tenant["cloud"]].access_token_issuer
    assert error["message"] == (f"AKV10032: Invalid issuer. Expected one of {issuer(tenant['tenant_id'])}, "
                                f"found {issuer(other['tenant_id'])}.")
    assert foreign.get("/secrets/any").headers["WWW-Authenticate"].startswith("Bearer authorization=")


def test_us_government_l4_and_dod_vaults_are_apart(emulator):
    l4, dod = emulator.tenant("usgov"), emulator.tenant("usgov_dod")
    # Same resource URI, but the vault belongs to another tenant (and is served by the other cloud's port).
    error = kv_error(emulator.key_vault(dod, token=emulator.token(l4, "key_vault")).get("/secrets/x"), 401, "Unauthorized")
    assert error["message"].startswith("AKV10032: Invalid issuer.")


def test_the_limited_client_is_forbidden(emulator, tenant):
    limited = emulator.key_vault(tenant, who="limited")
    error = kv_error(limited.get("/secrets/anything"), 403, "Forbidden", "AccessDenied")
    assert error["message"].startswith(f"The user, group or application 'appid={tenant['limited']['client_id']};oid=")
    assert f"does not have secrets get permission on key vault '{tenant['key_vault_name']};location=" in error["message"]
    error = kv_error(limited.set_secret("anything", "v"), 403, "Forbidden", "AccessDenied")
    assert "does not have secrets set permission" in error["message"]
    assert "does not have secrets list permission" in kv_error(limited.get("/secrets/a/versions"), 403, "Forbidden", "AccessDenied")["message"]
    assert "secrets delete permission" in kv_error(limited.delete("/secrets/a"), 403, "Forbidden", "AccessDenied")["message"]
    assert "secrets purge permission" in kv_error(limited.delete("/deletedsecrets/a"), 403, "Forbidden", "AccessDenied")["message"]
    assert emulator.key_vault(tenant).get("/secrets/anything").status_code == 404  # nothing was written


def test_faults_apply_to_key_vault(emulator):
    tenant = emulator.tenant("usgov_dod")
    vault = emulator.key_vault(tenant)
    emulator.set_faults(seed=5, throttle_probability=1.0, retry_after=3, services=["key_vault"], max_faults_per_request=1)
    throttled = vault.set_secret("faulty", "v")
    kv_error(throttled, 429, "Throttled")
    assert throttled.headers["Retry-After"] == "3"
    assert vault.set_secret("faulty", "v").status_code == 200  # the second attempt goes through
    assert emulator.requests_log(service="key_vault", status="429")[-1]["fault"] == "throttle"
    emulator.set_faults(server_error_probability=1.0, server_error_statuses=[503], retry_after=1, services=["key_vault"])
    kv_error(vault.get("/secrets/faulty"), 503, "ServiceUnavailable")
    emulator.set_faults(drop_probability=1.0, drop_after_processing=1.0, services=["key_vault"], match="^PUT ")
    with pytest.raises(requests.ConnectionError):
        vault.set_secret("faulty", "dropped-after-processing")
    emulator.set_faults()
    assert vault.get("/secrets/faulty").json()["value"] == "dropped-after-processing"  # the write took effect
    emulator.set_faults(delay_seconds=0.5, delay_match=r"^GET .*/secrets/faulty\?api-version=", services=["key_vault"])
    started = time.monotonic()
    assert vault.get("/secrets/faulty").status_code == 200 and time.monotonic() - started >= 0.5
    emulator.set_faults(throttle_probability=1.0, services=["graph"])
    assert vault.get("/secrets/faulty").status_code == 200  # faults for Graph only spare Key Vault


def test_the_request_log_never_holds_a_secret_value(emulator, tenant):
    vault = emulator.key_vault(tenant)
    value = f"never-log-me-{tenant['cloud']}-{time.time()}"
    vault.set_secret("logged", value, tags={"purpose": "test"})
    vault.get("/secrets/logged")
    vault.patch("/secrets/logged/", json={"contentType": "text/plain"})
    vault.get("/secrets/logged/versions")
    entries = emulator.requests_log(service="key_vault")
    assert value not in json.dumps(entries)
    put = [e for e in entries if e["method"] == "PUT"][-1]
    assert put["body"] == {"value": "**REDACTED**", "tags": {"purpose": "test"}}
    assert put["path"] == f"/{tenant['key_vault_name']}/secrets/logged" and put["status"] == 200
    assert put["cloud"] == tenant["cloud"] and put["tenant_id"] == tenant["tenant_id"]
    assert put["client_id"] == tenant["admin"]["client_id"]
    assert value not in json.dumps(emulator.control("GET", "/state"))


def test_reset_clears_vaults(emulator):
    tenant = emulator.tenant("public")
    emulator.key_vault(tenant).set_secret("ephemeral", "v")
    emulator.reset()
    kv_error(emulator.key_vault(emulator.tenant("public")).get("/secrets/ephemeral"), 404, "SecretNotFound")


def test_unknown_vault_and_tenants_added_later(emulator):
    base = emulator.endpoints("public")["key_vault_endpoint"]
    assert emulator.session is not None
    kv_error(emulator.session.get(f"{base}/no-such-kv/secrets/x?api-version=2025-07-01"), 404, "VaultNotFound")
    added = emulator.control("POST", "/tenants", json={"cloud": "china", "domain_prefix": "contoso"})[0]
    assert added["key_vault_name"] == "contoso-kv" and added["key_vault_url"].endswith("/contoso-kv")
    assert emulator.key_vault(added).set_secret("fresh", "v").status_code == 200


def test_state_file_keeps_vaults(tmp_path):
    state_file = str(tmp_path / "state.json")
    with EmulatorProcess("--clouds", "usgov", "--tenants", "1", "--state-file", state_file) as first:
        first.key_vault(first.tenant("usgov")).set_secret("kept", "across-restarts")
    with EmulatorProcess("--state-file", state_file) as second:
        tenant = second.tenant("usgov")
        assert second.key_vault(tenant).get("/secrets/kept").json()["value"] == "across-restarts"
