"""pc_app_secret with ``store: {type: hashi_vault}`` end to end: ansible-playbook against the emulator and a
REAL OpenBao server (tests/openbao.py), asserting on the KV v2 secret (data, version, custom metadata), the
server's audit log, the emulator's request log and application state, and every byte Ansible printed.

Each test uses its own KV path and tokens (or AppRole) limited to that path; the root token stays in the fixture.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PlaybookRun, Runner
from tests.e2e.plugins.modules.test_pc_app_secret import (
    NAME,
    assert_clean,
    make_app,
    output,
    secret_task,
    secrets,
    sign_in,
    successful,
    writes,
)
from tests.openbao import READ_WRITE, OpenBao, kv_policy

ADD_PASSWORD = r"^POST /v1\.0/applications/[^/]+/addPassword$"
POLICY_READ = r"^GET /v1\.0/policies/defaultAppManagementPolicy"
METADATA_KEYS = {"app_id", "key_id", "tenant_id", "cloud", "end_date_time", "managed_by"}


# Helpers --------------------------------------------------------------------------------------------


def vault_store(openbao: OpenBao, path: str, **auth: Any) -> dict[str, Any]:
    """The store option for ``path`` on the fixture's server (auth: token=..., or auth_method/role_id/secret_id)."""
    return {"type": "hashi_vault", "url": openbao.url, "path": path, **auth}


def path_token(openbao: OpenBao, path: str, capabilities: list[str] | None = None, num_uses: int = 0) -> str:
    """A token limited to one KV path."""
    return openbao.token(kv_policy(path, capabilities or READ_WRITE), num_uses=num_uses)


def vault_writes(openbao: OpenBao, mark: int, path: str) -> list[dict[str, str]]:
    """The KV requests after ``mark`` on ``path`` that were writes (create/update), refused ones included."""
    return [r for r in openbao.requests(mark) if r["path"].endswith(path) and r["operation"] in ("create", "update")]


def added(run: PlaybookRun) -> list[dict[str, Any]]:
    """The addPassword requests the emulator answered with success during the run."""
    return successful(writes(run, "addPassword"))


def assert_record(openbao: OpenBao, runner: Runner, tenant: dict[str, Any], app: dict[str, Any], path: str) -> dict[str, Any]:
    """The KV secret holds the record of the app's only secret named NAME, with a value that signs in; its data."""
    stored = openbao.read_secret(path)
    assert stored is not None, f"no KV secret at {path}"
    [created] = secrets(runner, tenant)
    data = stored.data
    assert (data["tenant_id"], data["cloud"], data["app_id"], data["key_id"], data["display_name"]) == \
        (tenant["tenant_id"], tenant["cloud"], app["appId"], created["keyId"], NAME)
    assert data["secret"].startswith(created["hint"]) and data["end_date_time"] == created["endDateTime"]
    assert set(stored.custom_metadata) == METADATA_KEYS
    assert (stored.custom_metadata["app_id"], stored.custom_metadata["key_id"], stored.custom_metadata["tenant_id"],
            stored.custom_metadata["cloud"]) == (app["appId"], created["keyId"], tenant["tenant_id"], tenant["cloud"])
    assert data["secret"] not in json.dumps(stored.custom_metadata)
    assert "access_token" in sign_in(runner, tenant, app["appId"], data["secret"])
    return data


# Create, rerun, rotate ------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["public", "usgov"])
def test_create_then_rerun_changes_nothing_then_rotate_and_retire(runner, openbao, cloud):
    tenant = runner.emulator.tenant(cloud)
    app = make_app(runner, tenant)
    path = openbao.new_path()
    token = path_token(openbao, path)
    task = secret_task(store=vault_store(openbao, path, token=token))

    first = runner.run(runner.play([task], runner.auth(tenant)), "-vvv", "--diff")
    assert first.rc == 0, output(first)
    result = first.last.result
    assert first.last.changed and result["action"] == "created" and "secret_text" not in result
    assert result["store"] == f"Vault secret secret/{path} at {openbao.url}" and result["dest"] is None
    data = assert_record(openbao, runner, tenant, app, path)
    assert result["key_id"] == data["key_id"] and data["previous_key_ids"] == [] and data["pending"] == []
    assert [w["path"].rsplit("/", 1)[-1] for w in first.graph_writes()] == ["addPassword"]
    version = openbao.read_secret(path).version
    assert version == 2  # the claim (cas 0), then the record with the value (cas 1)
    assert_clean(first, data["secret"], token)

    mark = openbao.audit_mark()
    second = runner.run(runner.play([task], runner.auth(tenant)), "-vvv")
    assert second.rc == 0, output(second)
    assert not second.last.changed and second.last.result["action"] == "none"
    assert [r["operation"] for r in openbao.requests(mark) if r["path"].endswith(path)] == ["read"]  # the module's only
    assert second.graph_writes() == []
    assert openbao.read_secret(path).version == version and openbao.read_secret(path).data == data
    assert_clean(second, data["secret"], token)

    rotate = secret_task(store=vault_store(openbao, path, token=token), rotate=True, retire_previous=True)
    third = runner.run(runner.play([rotate], runner.auth(tenant)), "-vvv", "--diff")
    assert third.rc == 0, output(third)
    assert third.last.result["action"] == "rotated" and third.last.result["retired_key_ids"] == [data["key_id"]]
    rotated = assert_record(openbao, runner, tenant, app, path)  # exactly one secret named NAME: the new one
    assert rotated["key_id"] != data["key_id"] and rotated["previous_key_ids"] == [data["key_id"].lower()]
    assert [w["path"].rsplit("/", 1)[-1] for w in successful(third.graph_writes())] == ["addPassword", "removePassword"]
    assert openbao.read_secret(path).version == version + 2
    assert_clean(third, data["secret"], rotated["secret"], token)


def test_approle_sign_in_limited_to_the_path(runner, openbao):
    tenant = runner.emulator.tenant("china")
    app = make_app(runner, tenant)
    path = openbao.new_path()
    role_id, secret_id = openbao.approle(kv_policy(path, READ_WRITE))
    store = vault_store(openbao, path, auth_method="approle", role_id=role_id, secret_id=secret_id)
    mark = openbao.audit_mark()
    run = runner.run(runner.play([secret_task(store=store)], runner.auth(tenant)), "-vvv")
    assert run.rc == 0, output(run)
    assert run.last.result["action"] == "created"
    data = assert_record(openbao, runner, tenant, app, path)
    assert [r["path"] for r in openbao.requests(mark)][0] == "auth/approle/login"
    assert all(r["error"] == "" for r in openbao.requests(mark))
    assert_clean(run, data["secret"], secret_id)

    # The same role cannot reach another path: its policy is limited to this one.
    other = openbao.new_path()
    store = vault_store(openbao, other, auth_method="approle", role_id=role_id, secret_id=secret_id)
    refused = runner.run(runner.play([secret_task(store=store, rotate=True)], runner.auth(tenant)), "-vvv")
    assert refused.rc != 0 and "permission denied" in refused.last.msg, refused.last.msg
    assert refused.graph_writes() == [] and openbao.read_secret(other) is None
    assert_clean(refused, data["secret"], secret_id)


def test_a_wrong_approle_secret_id_fails_clearly_before_any_graph_write(runner, openbao):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    path = openbao.new_path()
    role_id, secret_id = openbao.approle(kv_policy(path, READ_WRITE))
    wrong = secret_id[:-4] + ("0000" if not secret_id.endswith("0000") else "1111")
    store = vault_store(openbao, path, auth_method="approle", role_id=role_id, secret_id=wrong)
    run = runner.run(runner.play([secret_task(store=store)], runner.auth(tenant)), "-vvv")
    assert run.rc != 0
    assert "Could not sign in to the Vault server with the AppRole" in run.last.msg, run.last.msg
    assert run.graph_writes() == [] and secrets(runner, tenant) == [] and openbao.read_secret(path) is None
    assert_clean(run, wrong, secret_id)


def test_vault_addr_and_vault_token_from_the_environment(runner, openbao):
    tenant = runner.emulator.tenant("usgov_dod")
    app = make_app(runner, tenant)
    path = openbao.new_path()
    token = path_token(openbao, path)
    run = runner.run(runner.play([secret_task(store={"type": "hashi_vault", "path": path})], runner.auth(tenant)), "-vvv",
                     env={"VAULT_ADDR": openbao.url, "VAULT_TOKEN": token})
    assert run.rc == 0, output(run)
    assert run.last.result["store"] == f"Vault secret secret/{path} at {openbao.url}"
    data = assert_record(openbao, runner, tenant, app, path)
    assert_clean(run, data["secret"], token)


# Concurrent runners ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["store-reads-overlap", "second-while-first-adds"])
def test_two_runners_at_once_create_one_secret(runner, openbao, variant):
    """store-reads-overlap: the policy read, between the store read and the claim, is held so that both runs have
    read the empty store before either claims: one claim wins check-and-set, the other run waits for it.
    second-while-first-adds: the first run's addPassword answer is held; the second starts then, finds the
    claim in flight and waits for the value."""
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant)
    path = openbao.new_path()
    token = path_token(openbao, path)
    play = runner.play([secret_task(store=vault_store(openbao, path, token=token))], runner.auth(tenant))
    hold = POLICY_READ if variant == "store-reads-overlap" else ADD_PASSWORD
    runner.emulator.set_faults(delay_seconds=10, delay_match=hold, services=["graph"])
    try:
        first = runner.start(play, "-vvv")
        if variant == "second-while-first-adds":
            deadline = time.monotonic() + 120
            while not [e for e in runner.emulator.requests_log(service="graph", method="POST") if e["path"].endswith("/addPassword")]:
                assert time.monotonic() < deadline and first.process.poll() is None, "the first run never sent addPassword"
                time.sleep(0.2)
        second = runner.start(play, "-vvv", clear_log=False)
        runs = [first.wait(), second.wait()]
        held = [e for e in runner.emulator.requests_log(service="graph") if e["fault"] == "delay"]
    finally:
        runner.emulator.set_faults()
    for run in runs:
        assert run.rc == 0, output(run)
    log = runs[1].requests  # the emulator's log by the end of both runs
    assert len(successful([e for e in log if e["method"] == "POST" and e["path"].endswith("/addPassword")])) == 1
    assert [e for e in log if e["path"].endswith("/removePassword")] == []
    data = assert_record(openbao, runner, tenant, app, path)  # one secret named NAME, its value in the store
    results = sorted((run.last.result for run in runs), key=lambda r: r["changed"])
    assert [r["action"] for r in results] == ["none", "created"]
    assert results[0]["key_id"] == results[1]["key_id"] == data["key_id"]
    loser = output(runs[0]) if not runs[0].last.changed else output(runs[1])
    if variant == "store-reads-overlap":
        assert len(held) == 2, held  # both runs read the store, then the policy, before either claimed
        assert "changed since this run read it (check-and-set)" in loser
    else:
        assert "Another runner is adding secret" in loser
    for run in runs:
        assert_clean(run, data["secret"], token)


# Store failures -------------------------------------------------------------------------------------


def test_store_outage_fails_naming_the_store_and_creates_nothing(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    with OpenBao(tmp_path / "stopped-openbao") as server:
        path = server.new_path()
        token = path_token(server, path)
        url = server.url
    assert not server.running
    task = secret_task(store={"type": "hashi_vault", "url": url, "path": path, "token": token}, connect_retry_timeout=1)
    run = runner.run(runner.play([task], runner.auth(tenant)), "-vvv")
    assert run.rc != 0
    msg = run.last.msg
    assert url in msg or f"127.0.0.1:{server.port}" in msg, msg
    assert "Vault" in msg, msg
    assert writes(run, "addPassword") == [] and run.graph_writes() == [] and secrets(runner, tenant) == []
    assert_clean(run, token)


def test_store_refusing_the_final_write_removes_the_new_secret_again(runner, openbao):
    tenant = runner.emulator.tenant("usgov")
    make_app(runner, tenant)
    path = openbao.new_path()
    # Two uses: the read and the claim; the write of the value is refused (the token is spent by then).
    token = path_token(openbao, path, num_uses=2)
    run = runner.run(runner.play([secret_task(store=vault_store(openbao, path, token=token))], runner.auth(tenant)), "-vvv")
    assert run.rc != 0
    msg = run.last.msg
    [add] = added(run)
    [remove] = successful(writes(run, "removePassword"))
    assert remove["body"]["keyId"] in msg and add["path"].rsplit("/", 2)[-2] == remove["path"].rsplit("/", 2)[-2], msg
    assert f"Could not write Vault secret secret/{path} at {openbao.url}" in msg, msg
    assert "permission denied" in msg and "was removed again" in msg, msg
    assert secrets(runner, tenant) == []  # nothing left from this run
    stored = openbao.read_secret(path)
    assert stored is not None and stored.version == 1 and stored.data["secret"] is None  # only the claim
    assert [p["display_name"] for p in stored.data["pending"]] == [NAME]
    assert_clean(run, token)


def test_a_read_only_identity_fails_before_addpassword(runner, openbao):
    tenant = runner.emulator.tenant("china")
    make_app(runner, tenant)
    path = openbao.new_path()
    token = path_token(openbao, path, ["read"])
    mark = openbao.audit_mark()
    run = runner.run(runner.play([secret_task(store=vault_store(openbao, path, token=token))], runner.auth(tenant)), "-vvv")
    assert run.rc != 0
    assert "permission denied" in run.last.msg, run.last.msg
    assert "Vault" in run.last.msg, run.last.msg
    assert run.graph_writes() == [] and secrets(runner, tenant) == [] and openbao.read_secret(path) is None
    refused = vault_writes(openbao, mark, path)
    assert len(refused) == 1 and "permission denied" in refused[0]["error"], refused  # the claim, and nothing after it
    assert_clean(run, token)


# Check mode and bad input ---------------------------------------------------------------------------


def test_check_mode_reads_the_store_and_writes_nothing(runner, openbao):
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant)
    path = openbao.new_path()
    token = path_token(openbao, path)
    store = vault_store(openbao, path, token=token)

    mark = openbao.audit_mark()
    fresh = runner.run(runner.play([secret_task(store=store)], runner.auth(tenant)), "--check", "-vvv")
    assert fresh.rc == 0, output(fresh)
    assert fresh.last.changed and fresh.last.result["action"] == "created" and "Would create" in fresh.last.msg
    assert [r["operation"] for r in openbao.requests(mark) if r["path"].endswith(path)] == ["read"]
    assert fresh.graph_writes() == [] and secrets(runner, tenant) == [] and openbao.read_secret(path) is None

    created = runner.run(runner.play([secret_task(store=store)], runner.auth(tenant)))
    assert created.rc == 0, output(created)
    data = assert_record(openbao, runner, tenant, app, path)
    version = openbao.read_secret(path).version

    mark = openbao.audit_mark()
    rotate = runner.run(runner.play([secret_task(store=store, rotate=True, retire_previous=True)], runner.auth(tenant)),
                        "--check", "--diff", "-vvv")
    assert rotate.rc == 0, output(rotate)
    assert rotate.last.result["action"] == "rotated" and rotate.last.result["retired_key_ids"] == [data["key_id"]]
    assert [r["operation"] for r in openbao.requests(mark) if r["path"].endswith(path)] == ["read"]
    assert rotate.graph_writes() == [] and [c["keyId"] for c in secrets(runner, tenant)] == [data["key_id"]]
    assert openbao.read_secret(path).version == version and openbao.read_secret(path).data == data
    assert_clean(rotate, data["secret"], token)


BAD_STORES = [
    pytest.param({"type": "consul", "path": "pc/x"}, "type must be one of", id="unknown-type"),
    pytest.param({"type": "hashi_vault", "token": "t" * 20}, "needs store.path", id="missing-path"),
    pytest.param({"type": "hashi_vault", "path": "pc/x", "auth_method": "approle", "role_id": "r" * 20},
                 "auth_method=approle needs store.role_id and store.secret_id", id="approle-without-secret-id"),
    pytest.param({"type": "hashi_vault", "path": "pc/x", "token": "t" * 20, "vault_url": "https://x.vault.azure.net"},
                 "does not use store.vault_url", id="key-of-another-store-type"),
    pytest.param({"type": "hashi_vault", "path": "pc/x"}, "needs store.token", id="no-token-anywhere"),
]


@pytest.mark.parametrize(("store", "fragment"), BAD_STORES)
def test_bad_store_input_fails_clearly_before_any_request(runner, openbao, store, fragment):
    tenant = runner.emulator.tenant("public")
    store = {"url": openbao.url, **store}
    mark = openbao.audit_mark()
    run = runner.run(runner.play([secret_task(store=store)], runner.auth(tenant)), "-vvv",
                     env={"VAULT_TOKEN": "", "VAULT_ADDR": ""})
    assert run.rc != 0
    assert fragment in run.last.msg, run.last.msg
    assert run.requests == [], run.requests  # not even a token request
    assert openbao.requests(mark) == []
    assert "Traceback" not in output(run)


def test_a_path_holding_something_else_is_left_alone(runner, openbao):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    path = openbao.new_path()
    version = openbao.write_secret(path, {"password": "not-a-record"})
    run = runner.run(runner.play([secret_task(store=vault_store(openbao, path, token=path_token(openbao, path)))],
                                 runner.auth(tenant)), "-vvv")
    assert run.rc != 0 and "is not a secret record written by pc_app_secret" in run.last.msg, run.last.msg
    assert run.graph_writes() == [] and openbao.read_secret(path).version == version


def test_no_test_output_holds_the_root_token(openbao, tmp_path: Path):
    """The fixture's own errors redact the root token (it is a credential)."""
    with pytest.raises(Exception) as caught:
        openbao.request("GET", "sys/this-does-not-exist", expect=(299,))
    assert openbao.redact(str(caught.value)) == str(caught.value)
    assert repr(openbao).startswith("OpenBao(url=") and "root" not in repr(openbao)
