"""Control API: request log, reset, tenants, state dump; and the command line."""
from __future__ import annotations

import json
import os
import signal
import stat

import pytest

from tests.emulator.client import EmulatorError, EmulatorProcess, writes

LOG_FIELDS = {"time", "cloud", "service", "method", "path", "query", "status", "tenant_id", "client_id", "body",
              "request_id", "client_request_id", "user_agent", "fault", "duration_ms", "seq", "batch"}


def test_ready_line_describes_every_cloud_and_tenant(emulator):
    info = emulator.info
    assert set(info["clouds"]) == {"public", "usgov", "usgov_dod", "china"}
    for urls in info["clouds"].values():
        endpoints = {"authority_host", "graph_endpoint", "partner_center_endpoint", "key_vault_endpoint"}
        assert set(urls) == endpoints | {"key_vault_resource", "key_vault_dns_suffix"}
        assert all(urls[name].startswith("https://127.0.0.1:") for name in endpoints)
    assert len(info["tenants"]) == 8
    for tenant in info["tenants"]:
        assert {"cloud", "tenant_id", "domain", "admin", "limited"} <= set(tenant)
        assert set(tenant["admin"]) == {"client_id", "client_secret"} and set(tenant["limited"]) == {"client_id", "client_secret"}
    assert os.path.exists(info["ca_bundle"]) and info["control_url"].endswith("/_emulator")


def test_request_log_entries_and_redaction(emulator):
    tenant = emulator.tenant("public")
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "logged"}, headers={"client-request-id": "abc"}).json()
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    log = emulator.requests_log()
    assert all(set(entry) == LOG_FIELDS for entry in log)
    token_post = next(e for e in log if e["service"] == "identity" and e["method"] == "POST")
    assert token_post["body"]["client_secret"] == "**REDACTED**" and token_post["client_id"] == tenant["admin"]["client_id"]
    create = writes(log)[0]
    assert (create["method"], create["path"], create["status"], create["body"]) == (
        "POST", "/v1.0/applications", 201, {"displayName": "logged"})
    assert create["tenant_id"] == tenant["tenant_id"] and create["cloud"] == "public" and create["client_request_id"] == "abc"
    dumped = json.dumps(log)
    for value in (secret, tenant["admin"]["client_secret"]):
        assert value not in dumped
    assert [e["path"] for e in emulator.requests_log(service="graph", method="POST")] == [
        "/v1.0/applications", f"/v1.0/applications/{app['id']}/addPassword"]
    emulator.clear_log()
    assert emulator.requests_log() == []


def test_reset_restores_the_seeded_tenants(emulator):
    tenant = emulator.tenant("usgov")
    emulator.graph(tenant).post("/applications", json={"displayName": "gone after reset"})
    emulator.set_faults(throttle_probability=1.0)
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0, "utf8_bom": False})
    emulator.control("PUT", "/identity/settings", json={"access_token_lifetime": 5})
    info = emulator.reset()
    assert emulator.tenant("usgov") == tenant and info["tenants"] == emulator.info["tenants"]
    names = [a["displayName"] for a in emulator.graph(tenant).get("/applications").json()["value"]]
    assert "gone after reset" not in names
    assert emulator.control("GET", "/faults")["throttle_probability"] == 0.0
    settings = emulator.control("PUT", "/partner-center/settings", json={})
    assert settings == {"auto_register_after": None, "utf8_bom": True}
    assert emulator.control("PUT", "/identity/settings", json={"access_token_lifetime": 3599}) == {"access_token_lifetime": 3599}


def test_add_tenants_and_dump_state(emulator):
    added = emulator.control("POST", "/tenants", json={"cloud": "china", "count": 2})
    assert [t["cloud"] for t in added] == ["china", "china"]
    assert added[0]["domain"].endswith(".partner.onmschina.cn")
    token = emulator.token(added[1])
    assert token
    state = emulator.control("GET", "/state")
    tenant_state = next(t for t in state["tenants"] if t["tenant_id"] == added[1]["tenant_id"])
    assert {sp["displayName"] for sp in tenant_state["service_principals"]} >= {"Microsoft Graph", "Windows Azure Active Directory"}
    assert added[1]["admin"]["client_secret"] not in json.dumps(state)
    with pytest.raises(EmulatorError, match="not emulated"):
        emulator.control("POST", "/tenants", json={"cloud": "germany"})


def test_fault_settings_are_validated(emulator):
    with pytest.raises(EmulatorError, match="unknown fault setting"):
        emulator.set_faults(throttle=1)
    with pytest.raises(EmulatorError, match="between 0 and 1"):
        emulator.set_faults(throttle_probability=2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_stops_cleanly_and_state_survives_a_restart(tmp_path, sig):
    state_file = str(tmp_path / "state.json")
    first = EmulatorProcess("--clouds", "public,china", "--tenants", "1", "--state-file", state_file).start()
    try:
        tenant = first.tenant("china")
        app = first.graph(tenant).post("/applications", json={"displayName": "persisted"}).json()
        assert first.process is not None
        first.process.send_signal(sig)
        assert first.process.wait(15) == 0
    finally:
        first.stop()
    assert stat.S_IMODE(os.stat(state_file).st_mode) == 0o600
    second = EmulatorProcess("--state-file", state_file).start()
    try:
        # key_vault_url holds the (new) port of the cloud's Key Vault.
        def portless(info: dict) -> list:
            return [{k: v for k, v in t.items() if k != "key_vault_url"} for t in info["tenants"]]
        assert portless(second.info) == portless(first.info) and second.info["ca_bundle"] == first.info["ca_bundle"]
        assert set(second.info["clouds"]) == {"public", "china"}
        fetched = second.graph(tenant).get(f"/applications/{app['id']}")
        assert fetched.status_code == 200 and fetched.json()["displayName"] == "persisted"
    finally:
        assert second.stop() == 0


def test_two_emulators_run_side_by_side_on_free_ports():
    with EmulatorProcess("--clouds", "public", "--tenants", "1") as one, \
            EmulatorProcess("--clouds", "public", "--tenants", "1") as two:
        assert one.info["control_url"] != two.info["control_url"]
        assert one.control("GET", "/health") == two.control("GET", "/health") == {"status": "ok"}


def test_cli_rejects_bad_arguments():
    with pytest.raises(EmulatorError, match="unknown cloud"):
        EmulatorProcess("--clouds", "germany", timeout=20).start()
