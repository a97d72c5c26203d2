"""pc_app_secret with ``store: {type: azure_key_vault}`` end to end, in every cloud: ansible-playbook
against the emulator's Graph and Key Vault, asserting on the vault's secrets (latest value, tags,
``exp``, versions), the emulator's request log and the application's secrets, and on every byte
Ansible printed."""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.conftest import PlaybookRun, Runner
from tests.e2e.plugins.modules.test_pc_app_secret import (
    NAME,
    assert_clean,
    make_app,
    output,
    secret_task,
    set_policy,
    secrets,
    sign_in,
    successful,
    writes,
)

SECRET = "pc-web"
APP_READ = r"^GET /v1\.0/applications\(uniqueName='pc-web'\)"


def kv_store(tenant: dict[str, Any], name: str = SECRET) -> dict[str, Any]:
    return {"type": "azure_key_vault", "vault_url": tenant["key_vault_url"], "secret_name": name}


def vault_secret(runner: Runner, tenant: dict[str, Any], name: str = SECRET) -> dict[str, Any] | None:
    """The latest version of a vault secret (with its value), or None."""
    response = runner.emulator.key_vault(tenant).get(f"/secrets/{name}")
    return None if response.status_code == 404 else response.json()


def versions(runner: Runner, tenant: dict[str, Any], name: str = SECRET) -> list[dict[str, Any]]:
    return runner.emulator.key_vault(tenant).get(f"/secrets/{name}/versions").json()["value"]


def vault_writes(run: PlaybookRun) -> list[dict[str, Any]]:
    return [r for r in run.requests if r["service"] == "key_vault" and r["method"] in ("PUT", "PATCH", "DELETE", "POST")]


def assert_stored(runner: Runner, tenant: dict[str, Any], app: dict[str, Any]) -> dict[str, Any]:
    """The vault's latest version holds the value of the app's only valid secret NAME, with the record in tags."""
    bundle = vault_secret(runner, tenant)
    assert bundle is not None
    [credential] = secrets(runner, tenant)
    tags = bundle["tags"]
    assert tags["key-id"] == credential["keyId"] and tags["app-id"] == app["appId"] and tags["cloud"] == tenant["cloud"]
    assert tags["tenant-id"] == tenant["tenant_id"] and tags["display-name"] == NAME
    assert bundle["value"].startswith(credential["hint"]) and "client secret" in bundle["contentType"]
    end = datetime.fromisoformat(credential["endDateTime"].replace("Z", "+00:00"))
    assert bundle["attributes"]["exp"] == int(end.timestamp())
    assert "access_token" in sign_in(runner, tenant, app["appId"], bundle["value"])
    return bundle


@pytest.mark.parametrize("cloud", ["public", "usgov", "usgov_dod", "china"])
def test_create_then_rerun_changes_nothing(runner, cloud):
    tenant = runner.emulator.tenant(cloud)
    app = make_app(runner, tenant)
    first = runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant)), "-vvv", "--diff")
    assert first.rc == 0, first.stdout[-3000:]
    result = first.last.result
    assert result["action"] == "created" and "secret_text" not in result and result["dest"] is None
    assert result["store"] == f"Key Vault secret {SECRET} in {tenant['key_vault_url']}"
    bundle = assert_stored(runner, tenant, app)
    assert [w["path"].rsplit("/", 1)[-1] for w in first.graph_writes()] == ["addPassword"]
    # One claim in the claims log, one value version; readers of the secret only ever see values.
    assert len(versions(runner, tenant)) == 1 and len(versions(runner, tenant, SECRET + "-claims")) == 1
    assert_clean(first, bundle["value"])
    assert all(bundle["value"] not in str(r) for r in first.requests)  # not in the emulator's request log either

    second = runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant)), "-vvv")
    assert second.rc == 0 and not second.last.changed and second.last.result["action"] == "none"
    assert second.graph_writes() == [] and vault_writes(second) == []
    assert_clean(second, bundle["value"])


def test_rotate_with_retire_previous(runner):
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant)
    assert runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant))).rc == 0
    old = vault_secret(runner, tenant)
    rotated = runner.run(runner.play([secret_task(store=kv_store(tenant), rotate=True)], runner.auth(tenant)))
    assert rotated.rc == 0 and rotated.last.result["action"] == "rotated"
    new = vault_secret(runner, tenant)
    assert new["tags"]["previous-key-ids"] == old["tags"]["key-id"] and len(secrets(runner, tenant)) == 2
    retire = runner.run(runner.play([secret_task(store=kv_store(tenant), retire_previous=True)], runner.auth(tenant)))
    assert retire.rc == 0 and retire.last.result["retired_key_ids"] == [old["tags"]["key-id"]]
    assert [c["keyId"] for c in secrets(runner, tenant)] == [new["tags"]["key-id"]]
    assert "access_token" in sign_in(runner, tenant, app["appId"], new["value"])
    assert_clean(retire, old["value"], new["value"])


def test_two_runners_at_once_create_one_secret(runner):
    """Both read the application (held by the emulator until both have) before either claims: the first
    claim goes ahead, the other withdraws, waits for it and then uses the stored value."""
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    runner.emulator.set_faults(delay_seconds=4, delay_match=APP_READ, services=["graph"])
    play = runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant))
    runs: list[PlaybookRun] = []
    threads = [threading.Thread(target=lambda: runs.append(runner.run(play, clear_log=False))) for dummy in range(2)]
    runner.emulator.clear_log()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = runner.emulator.requests_log()
    runner.emulator.set_faults()
    assert [r.rc for r in runs] == [0, 0], [output(r)[-2000:] for r in runs]
    held = [e for e in log if e.get("fault") == "delay"]
    assert len(held) >= 2, "both runs read the application before either claimed"
    assert len(successful([e for e in log if e["service"] == "graph" and e["path"].endswith("/addPassword")])) == 1
    assert len(secrets(runner, tenant)) == 1 and len(versions(runner, tenant)) == 1
    assert sorted(r.last.result["action"] for r in runs) == ["created", "none"]
    # The second runner deferred to the first: it found the first one's claim in flight and waited, or its own
    # claim came second (withdrawn) and it planned again from the store.
    deferred = ("Another runner is adding", "Reading the application and the store again")
    assert sum(any(text in output(r) for text in deferred) for r in runs) == 1


def test_store_outage_fails_before_any_secret_is_created(runner):
    tenant = runner.emulator.tenant("china")
    make_app(runner, tenant)
    runner.emulator.set_faults(server_error_probability=1, services=["key_vault"])
    run = runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant, retry_timeout=2)))
    runner.emulator.set_faults()
    assert run.rc != 0 and "Azure Key Vault" in run.last.msg
    assert writes(run, "addPassword") == [] and secrets(runner, tenant) == []


def test_a_store_refusing_the_write_after_add_password_removes_the_new_secret_again(runner):
    tenant = runner.emulator.tenant("usgov_dod")
    make_app(runner, tenant)
    # The claim (pc-web-claims) goes through; the value's write (pc-web) is answered 503 until the budget ends.
    runner.emulator.set_faults(server_error_probability=1, server_error_statuses=[503], services=["key_vault"],
                               match=r"^PUT /[^/]+/secrets/pc-web\?")
    run = runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant, retry_timeout=2)))
    runner.emulator.set_faults()
    assert run.rc != 0 and "removed again" in run.last.msg, run.last.msg
    [added] = successful(writes(run, "addPassword"))
    assert [w["path"].rsplit("/", 1)[-1] for w in successful(run.graph_writes())] == ["addPassword", "removePassword"]
    assert secrets(runner, tenant) == [] and vault_secret(runner, tenant) is None
    assert "Traceback" not in output(run)


def test_limited_identity_is_refused_by_the_vault_with_its_words(runner):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    run = runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant, who="limited")), "--check")
    assert run.rc != 0 and "Azure Key Vault" in run.last.msg and "HTTP 403" in run.last.msg, run.last.msg
    assert "does not have secrets get permission" in run.last.msg and "request-id" in run.last.msg.lower()
    assert run.graph_writes() == [] and vault_writes(run) == []


def test_check_mode_reads_the_store_and_writes_nothing(runner):
    tenant = runner.emulator.tenant("usgov")
    make_app(runner, tenant)
    created = runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant)), "--check", "--diff")
    assert created.rc == 0 and created.last.changed and created.last.result["action"] == "created"
    assert created.graph_writes() == [] and vault_writes(created) == [] and vault_secret(runner, tenant) is None
    assert any(r["service"] == "key_vault" and r["method"] == "GET" for r in created.requests)


@pytest.mark.parametrize(("store", "fragment"), [
    ({"type": "azure_key_vault", "secret_name": SECRET}, "needs store.vault_url"),
    ({"type": "azure_key_vault", "vault_url": "https://contoso.vault.azure.cn", "secret_name": SECRET}, "is a vault of Azure operated"),
    ({"type": "azure_key_vault", "vault_url": "http://contoso.vault.azure.net", "secret_name": SECRET}, "must be an https:// URL"),
    ({"type": "azure_key_vault", "vault_url": "https://contoso.vault.azure.net", "secret_name": "no_underscores"}, "letters, digits"),
    ({"type": "azure_key_vault", "vault_url": "https://contoso.vault.azure.net", "secret_name": SECRET, "path": "x"}, "does not use"),
    ({"type": "s3"}, "value of type must be one of"),
])
def test_bad_store_input_fails_clearly_before_any_request(runner, store, fragment):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([secret_task(store=store)], runner.auth(tenant)))
    assert run.rc != 0 and fragment in run.last.msg, run.last.msg
    assert run.requests == [] and "Traceback" not in output(run)


def test_a_refused_add_password_releases_the_claim_so_the_next_run_does_not_wait(runner):
    """Microsoft Graph refuses the secret (an app management policy; the client cannot read policies, so
    the refusal comes from addPassword): nothing was created, so the claim is withdrawn at once."""
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    set_policy(runner, tenant, {"restrictionType": "passwordAddition", "state": "enabled"})
    refused = runner.run(runner.play([secret_task(store=kv_store(tenant))], runner.auth(tenant)))
    assert refused.rc != 0 and "CredentialTypeNotAllowedAsPerAppPolicy" in refused.last.msg
    kinds = [v["tags"]["kind"] for v in versions(runner, tenant, SECRET + "-claims")]
    assert sorted(kinds) == ["claim", "withdraw"] and vault_secret(runner, tenant) is None
    runner.emulator.control("PUT", f"/tenants/{tenant['tenant_id']}/app-management-policy", json={"isEnabled": False})
    again = runner.run(runner.play([secret_task(store=kv_store(tenant), lock_timeout=600)], runner.auth(tenant)))
    assert again.rc == 0 and again.last.result["action"] == "created", again.stdout[-2000:]
    assert "Another runner is adding" not in output(again)
