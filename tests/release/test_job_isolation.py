"""The job-isolation proof (issue 12), as AWX / Automation Platform runs jobs: every `ansible-runner run`
of rollout.yml starts from a fresh private data directory, a fresh HOME and an empty token cache, with
the collection installed from the tarball, over tenants of two clouds. With a store that travels with
the job (Azure Key Vault in each tenant's cloud, OpenBao) the second job changes nothing and writes
nothing to Graph, and every web app has exactly one valid secret whose stored value signs in. With the
file store (gone with the first job's folder) the second job fails clearly and removes nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.emulator.client import GRAPH_RESOURCES, EmulatorProcess, writes
from tests.emulator.inventory import host_name, write_inventory
from tests.openbao import OpenBao, kv_policy
from tests.release.conftest import NAME, NAMESPACE, output_of, run, tool

SECRET_NAME = "Partner Center"
CLOUDS = ("public", "usgov")


def job(collections: Path, env: dict[str, str], workdir: Path, emulator: EmulatorProcess, tenants: list[dict[str, Any]],
        ident: str, host_vars: Callable[[dict[str, Any]], dict[str, Any]], extravars: dict[str, Any] | None = None):
    """One AWX-like job: a new private data dir, HOME and token cache; returns (completed, final stats)."""
    private = workdir / ident / "private-data-dir"
    home = workdir / ident / "home"
    (private / "project").mkdir(parents=True)
    home.mkdir(mode=0o700)
    installed_playbooks = collections / "ansible_collections" / NAMESPACE / NAME / "playbooks"
    shutil.copy(installed_playbooks / "rollout.yml", private / "project" / "rollout.yml")
    # No token_cache option: the modules' default cache under the job's own (empty) HOME.
    write_inventory(emulator.info, private / "inventory" / "hosts", tenants=tenants, host_vars=host_vars)
    (private / "env").mkdir()
    (private / "env" / "envvars").write_text(json.dumps({
        "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false", "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache")}), encoding="utf-8")
    if extravars:
        (private / "env" / "extravars").write_text(json.dumps(extravars), encoding="utf-8")
    emulator.clear_log()
    completed = run([tool("ansible-runner"), "run", str(private), "-p", "rollout.yml", "--ident", ident],
                    cwd=private, env={**env, "HOME": str(home)}, timeout=900)
    events = [json.loads(p.read_text(encoding="utf-8")) for p in (private / "artifacts" / ident / "job_events").glob("*.json")]
    stats = next((e["event_data"] for e in events if e.get("event") == "playbook_on_stats"), {})
    return completed, stats, private


def web_app(emulator: EmulatorProcess, tenant: dict[str, Any]) -> dict[str, Any]:
    return emulator.graph(tenant).get("/applications(uniqueName='partner-center-web')").json()


def valid_secrets(app: dict[str, Any]) -> list[dict[str, Any]]:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    return [c for c in app["passwordCredentials"] if c["displayName"] == SECRET_NAME
            and datetime.fromisoformat(c["endDateTime"].replace("Z", "+00:00")) > now]


def signs_in(emulator: EmulatorProcess, tenant: dict[str, Any], app_id: str, value: str) -> bool:
    client = emulator.confidential_client(tenant, client_id=app_id, secret=value)
    return "access_token" in client.acquire_token_for_client([f"{GRAPH_RESOURCES[tenant['cloud']]}/.default"])


def stored_value(emulator: EmulatorProcess, openbao: OpenBao, store: str, tenant: dict[str, Any]) -> tuple[str, str]:
    """(key id, value) of the web app's secret as the store holds it."""
    if store == "azure_key_vault":
        bundle = emulator.key_vault(tenant).get("/secrets/partner-center-web").json()
        return bundle["tags"]["key-id"], bundle["value"]
    found = openbao.read_secret(f"partner-center/{host_name(tenant)}")
    assert found is not None
    return found.data["key_id"], found.data["secret"]


@pytest.mark.parametrize("store", ["azure_key_vault", "hashi_vault"])
def test_a_store_that_travels_with_the_job_makes_the_second_job_a_no_op(installed, emulator, openbao, tmp_path, store):
    collections, env = installed
    emulator.reset()
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    tenants = [emulator.tenant(cloud) for cloud in CLOUDS]
    token = openbao.token(kv_policy("partner-center/*", ["create", "read", "update"]))

    def host_vars(tenant: dict[str, Any]) -> dict[str, Any]:
        if store == "azure_key_vault":
            settings = {"type": "azure_key_vault", "vault_url": tenant["key_vault_url"], "secret_name": "partner-center-web"}
        else:
            settings = {"type": "hashi_vault", "url": openbao.url, "path": f"partner-center/{host_name(tenant)}", "token": token}
        return {"web_app_secret_store": settings}

    first, stats, dummy = job(collections, env, tmp_path, emulator, tenants, "first", host_vars)
    assert first.returncode == 0 and not stats.get("failures"), output_of(first)[-4000:]
    second, stats, private = job(collections, env, tmp_path, emulator, tenants, "second", host_vars)
    assert second.returncode == 0, output_of(second)[-4000:]
    assert stats["changed"] == {} and stats["failures"] == {}
    assert writes(emulator.requests_log()) == []
    for tenant in tenants:
        app = web_app(emulator, tenant)
        [secret] = valid_secrets(app)
        key_id, value = stored_value(emulator, openbao, store, tenant)
        assert key_id == secret["keyId"] and signs_in(emulator, tenant, app["appId"], value)
        everything = "".join(p.read_text(encoding="utf-8", errors="replace") for p in private.rglob("*") if p.is_file())
        assert value not in everything  # not in the job's artifacts


def test_with_the_file_store_the_second_job_fails_clearly_and_removes_nothing(installed, emulator, tmp_path):
    collections, env = installed
    emulator.reset()
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    tenants = [emulator.tenant(cloud) for cloud in CLOUDS]

    def in_job(ident: str) -> dict[str, Any]:  # the file lives in the job's own, disposable folder
        return {"web_app_secret_dest": f"{tmp_path / ident}/secrets/{{{{ inventory_hostname }}}}-web-app.json"}

    first, stats, dummy = job(collections, env, tmp_path, emulator, tenants, "first", lambda t: {}, in_job("first"))
    assert first.returncode == 0, output_of(first)[-4000:]
    held = {t["tenant_id"]: [c["keyId"] for c in valid_secrets(web_app(emulator, t))] for t in tenants}
    second, stats, dummy = job(collections, env, tmp_path, emulator, tenants, "second", lambda t: {}, in_job("second"))
    assert second.returncode != 0
    assert set(stats["failures"]) == {host_name(t) for t in tenants}
    assert "holds no value for the valid secret" in output_of(second)
    assert [w for w in writes(emulator.requests_log()) if w["path"].endswith(("/removePassword", "/addPassword"))] == []
    assert {t["tenant_id"]: [c["keyId"] for c in valid_secrets(web_app(emulator, t))] for t in tenants} == held
