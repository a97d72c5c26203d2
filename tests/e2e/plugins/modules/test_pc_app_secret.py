"""pc_app_secret end to end: ansible-playbook against the emulator, asserting on the emulator's
state, its request log and every byte Ansible printed (no secret value may leak)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import COLLECTIONS_PATH, PlaybookRun, Runner
from tests.second_user import as_nobody, needs_root, shared_folder, start_as_nobody

MODULE = "partnercenter.national_cloud.pc_app_secret"
APP = "partnercenter.national_cloud.pc_aad_app"
NAME = "Partner Center"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"


# Helpers --------------------------------------------------------------------------------------------


def secret_task(**params: Any) -> dict[str, Any]:
    return {"name": "Client secret", MODULE: {"unique_name": "pc-web", "display_name": NAME, **params}}


def make_app(runner: Runner, tenant: dict[str, Any]) -> dict[str, Any]:
    """The web app (with its service principal, so that it can sign in), made through the collection."""
    run = runner.run(runner.play([{APP: {"unique_name": "pc-web", "display_name": "Partner Center web app"}}],
                                 runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    return app_state(runner, tenant)


def app_state(runner: Runner, tenant: dict[str, Any]) -> dict[str, Any]:
    [app] = runner.emulator.graph(tenant).get("/applications", params={"$filter": "uniqueName eq 'pc-web'"}).json()["value"]
    return app


def secrets(runner: Runner, tenant: dict[str, Any], name: str | None = NAME) -> list[dict[str, Any]]:
    creds = app_state(runner, tenant)["passwordCredentials"]
    return [c for c in creds if name is None or c["displayName"] == name]


def add_secret_directly(runner: Runner, tenant: dict[str, Any], name: str = NAME, **dates: str) -> dict[str, Any]:
    """A secret created through Graph, behind the module's back (its value is thrown away)."""
    app = app_state(runner, tenant)
    body = {"passwordCredential": {"displayName": name, **dates}}
    response = runner.emulator.graph(tenant).post(f"/applications/{app['id']}/addPassword", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def move_dates(runner: Runner, tenant: dict[str, Any], key_id: str, *, end_in_days: float, start_days_ago: float = 300) -> None:
    now = datetime.now(timezone.utc)
    runner.emulator.control("PATCH", f"/tenants/{tenant['tenant_id']}/password-credentials/{key_id}", json={
        "startDateTime": (now - timedelta(days=start_days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "endDateTime": (now + timedelta(days=end_in_days)).strftime("%Y-%m-%dT%H:%M:%SZ")})


def set_policy(runner: Runner, tenant: dict[str, Any], *restrictions: dict[str, Any]) -> None:
    runner.emulator.control("PUT", f"/tenants/{tenant['tenant_id']}/app-management-policy", json={
        "isEnabled": True, "applicationRestrictions": {"passwordCredentials": list(restrictions)}})


def grant_policy_read(runner: Runner, tenant: dict[str, Any]) -> None:
    """Give the seeded admin client Policy.Read.All (an app role assignment on Microsoft Graph)."""
    graph = runner.emulator.graph(tenant)
    admin_sp = graph.get(f"/servicePrincipals(appId='{tenant['admin']['client_id']}')").json()
    graph_sp = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
    role = next(r for r in graph_sp["appRoles"] if r["value"] == "Policy.Read.All")
    response = graph.post(f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo",
                          json={"principalId": admin_sp["id"], "resourceId": graph_sp["id"], "appRoleId": role["id"]})
    assert response.status_code == 201, response.text


def writes(run: PlaybookRun, action: str | None = None) -> list[dict[str, Any]]:
    found = run.graph_writes()
    return [w for w in found if action is None or w["path"].endswith("/" + action)]


def successful(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["status"] < 300]


def output(run: PlaybookRun) -> str:
    return run.stdout + run.stderr


def assert_clean(run: PlaybookRun, *values: str) -> None:
    """No traceback, and none of the secret values, anywhere in what Ansible printed."""
    text = output(run)
    assert "Traceback" not in text, text
    for value in values:
        assert value not in text


def read_dest(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def sign_in(runner: Runner, tenant: dict[str, Any], app_id: str, secret: str) -> dict[str, Any]:
    client = runner.emulator.confidential_client(tenant, client_id=app_id, secret=secret)
    return client.acquire_token_for_client([f"{graph_resource(tenant)}/.default"])


def graph_resource(tenant: dict[str, Any]) -> str:
    from tests.emulator.client import GRAPH_RESOURCES

    return GRAPH_RESOURCES[tenant["cloud"]]


# Create, rerun, sign in -------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["public", "usgov", "usgov_dod", "china"])
def test_create_with_dest_then_rerun_changes_nothing(runner, cloud, tmp_path):
    tenant = runner.emulator.tenant(cloud)
    app = make_app(runner, tenant)
    dest = tmp_path / "private" / "nested" / "secret.json"
    first = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)), "-vvv", "--diff")
    assert first.rc == 0, first.stdout
    result = first.last.result
    assert first.last.changed and result["action"] == "created"
    assert "secret_text" not in result
    [created] = secrets(runner, tenant)
    assert result["key_id"] == created["keyId"] and result["hint"] == created["hint"]
    assert [w["path"].rsplit("/", 1)[-1] for w in first.graph_writes()] == ["addPassword"]
    # The file: 0600, parents 0700, JSON with the documented keys, and a value that signs in.
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700 and stat.S_IMODE(dest.parent.parent.stat().st_mode) == 0o700
    data = read_dest(dest)
    assert set(data) == {"tenant_id", "cloud", "app_id", "key_id", "display_name", "secret", "start_date_time", "end_date_time",
                         "previous_key_ids", "pending"}
    assert data["previous_key_ids"] == [] and data["pending"] == []
    expected = (tenant["tenant_id"], cloud, app["appId"], created["keyId"])
    assert (data["tenant_id"], data["cloud"], data["app_id"], data["key_id"]) == expected
    assert data["secret"].startswith(created["hint"]) and data["end_date_time"] == created["endDateTime"]
    token = sign_in(runner, tenant, app["appId"], data["secret"])
    assert "access_token" in token, token
    # Default lifetime 1y = 365 days.
    days = (datetime.fromisoformat(created["endDateTime"].replace("Z", "+00:00"))
            - datetime.fromisoformat(created["startDateTime"].replace("Z", "+00:00"))).days
    assert days == 365 and result["days_to_expiry"] in (364, 365)
    assert_clean(first, data["secret"])
    assert "diff" in result and data["secret"] not in json.dumps(result["diff"])

    second = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)), "-vvv")
    assert second.rc == 0 and not second.last.changed and second.last.result["action"] == "none"
    assert second.graph_writes() == []
    assert read_dest(dest) == data
    assert_clean(second, data["secret"])


def test_without_dest_the_value_is_returned_once_and_only_there(runner):
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant)
    first = runner.run(runner.play([secret_task(expires_in="2y")], runner.auth(tenant)), "-vvv", "--diff")
    assert first.rc == 0, first.stdout
    value = first.last.result["secret_text"]
    assert len(value) == 40 and value.startswith(first.last.result["hint"])
    # Exactly once in the output: the secret_text return itself (not in diff, msg, warnings, invocation).
    assert output(first).count(value) == 1
    assert value not in json.dumps({k: v for k, v in first.last.result.items() if k != "secret_text"})
    assert "Traceback" not in output(first)
    assert "access_token" in sign_in(runner, tenant, app["appId"], value)
    [created] = secrets(runner, tenant)
    days = (datetime.fromisoformat(created["endDateTime"].replace("Z", "+00:00"))
            - datetime.fromisoformat(created["startDateTime"].replace("Z", "+00:00"))).days
    assert days == 730

    second = runner.run(runner.play([secret_task(expires_in="2y")], runner.auth(tenant)), "-vvv")
    assert second.rc == 0 and not second.last.changed and second.graph_writes() == []
    assert "secret_text" not in second.last.result
    assert_clean(second, value)


def test_no_log_hides_even_the_one_return(runner):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    task = {**secret_task(), "no_log": True, "register": "created"}
    copy = {"content": "{{ created.secret_text }}", "dest": str(runner.workdir / "kept.txt"), "mode": "0600"}
    dump = {"name": "Where the value went", "ansible.builtin.copy": copy, "no_log": True}
    run = runner.run(runner.play([task, dump], runner.auth(tenant)), "-vvv")
    assert run.rc == 0, run.stdout
    value = (runner.workdir / "kept.txt").read_text(encoding="utf-8")
    [created] = secrets(runner, tenant)
    assert len(value) == 40 and value.startswith(created["hint"])
    assert_clean(run, value)


# Renewal, rotation, retirement -----------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["public", "china"])
def test_renewal_inside_the_window_keeps_the_old_secret(runner, cloud, tmp_path):
    tenant = runner.emulator.tenant(cloud)
    app = make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    old = read_dest(dest)
    move_dates(runner, tenant, old["key_id"], end_in_days=31)  # just outside the 30-day window
    outside = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)))
    assert outside.rc == 0 and not outside.last.changed and outside.graph_writes() == []
    move_dates(runner, tenant, old["key_id"], end_in_days=29)  # inside
    run = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)), "--diff")
    assert run.rc == 0, run.stdout
    result = run.last.result
    assert run.last.changed and result["action"] == "renewed" and result["retired_key_ids"] == []
    assert [w["path"].rsplit("/", 1)[-1] for w in run.graph_writes()] == ["addPassword"]
    new = read_dest(dest)
    assert new["key_id"] != old["key_id"]
    assert {c["keyId"] for c in secrets(runner, tenant)} == {old["key_id"], new["key_id"]}  # overlap
    # Both values sign in during the overlap.
    for value in (old["secret"], new["secret"]):
        assert "access_token" in sign_in(runner, tenant, app["appId"], value)
    assert {s["key_id"] for s in result["secrets"]} == {old["key_id"], new["key_id"]}
    assert [s["key_id"] for s in result["diff"]["before"]["secrets"]] == [old["key_id"]]
    assert_clean(run, old["secret"], new["secret"])
    again = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []


def test_renewal_with_retire_previous_removes_the_old_one_after_storing(runner, tmp_path):
    tenant = runner.emulator.tenant("usgov_dod")
    make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    old = read_dest(dest)
    move_dates(runner, tenant, old["key_id"], end_in_days=-1)  # expired
    run = runner.run(runner.play([secret_task(dest=str(dest), retire_previous=True)], runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    assert run.last.result["action"] == "renewed" and run.last.result["retired_key_ids"] == [old["key_id"]]
    assert [w["path"].rsplit("/", 1)[-1] for w in run.graph_writes()] == ["addPassword", "removePassword"]
    new = read_dest(dest)
    assert [c["keyId"] for c in secrets(runner, tenant)] == [new["key_id"]]


def test_rotation_with_overlap_then_retirement(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    first = runner.run(runner.play([secret_task(expires_in="90d", dest=str(dest))], runner.auth(tenant)))
    old_value = read_dest(dest)["secret"]
    rotated = runner.run(runner.play([secret_task(expires_in="90d", rotate=True, dest=str(dest))], runner.auth(tenant)))
    assert rotated.rc == 0 and rotated.last.result["action"] == "rotated"
    new_value = read_dest(dest)["secret"]
    assert new_value != old_value and read_dest(dest)["previous_key_ids"] == [first.last.result["key_id"]]
    assert len(secrets(runner, tenant)) == 2
    for value in (old_value, new_value):
        assert "access_token" in sign_in(runner, tenant, app["appId"], value)
    retire = runner.run(runner.play([secret_task(expires_in="90d", retire_previous=True, dest=str(dest))], runner.auth(tenant)),
                        "--diff")
    assert retire.rc == 0 and retire.last.changed and retire.last.result["action"] == "removed"
    assert retire.last.result["retired_key_ids"] == [first.last.result["key_id"]]
    assert [c["keyId"] for c in secrets(runner, tenant)] == [rotated.last.result["key_id"]]
    assert "access_token" in sign_in(runner, tenant, app["appId"], new_value)
    again = runner.run(runner.play([secret_task(expires_in="90d", retire_previous=True, dest=str(dest))], runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []
    assert_clean(retire, old_value, new_value)
    # Without a store, retire_previous cannot tell its own secrets from others': refused before any request.
    refused = runner.run(runner.play([secret_task(retire_previous=True)], runner.auth(tenant)))
    assert refused.rc != 0 and "retire_previous needs dest" in refused.last.msg and refused.requests == []


# Absent ---------------------------------------------------------------------------------------------


def test_absent_removes_only_its_own(runner, tmp_path):
    tenant = runner.emulator.tenant("china")
    make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    twin = add_secret_directly(runner, tenant)  # a second secret with the same name: also "this" secret
    other = add_secret_directly(runner, tenant, name="Something else")
    run = runner.run(runner.play([secret_task(state="absent", dest=str(dest))], runner.auth(tenant)), "--diff")
    assert run.rc == 0, run.stdout
    result = run.last.result
    assert result["action"] == "removed" and len(result["retired_key_ids"]) == 2 and twin["keyId"] in result["retired_key_ids"]
    assert [w["path"].rsplit("/", 1)[-1] for w in run.graph_writes()] == ["removePassword", "removePassword"]
    assert [c["keyId"] for c in secrets(runner, tenant, name=None)] == [other["keyId"]]
    assert not dest.exists() and result["dest_removed"] is True
    again = runner.run(runner.play([secret_task(state="absent", dest=str(dest))], runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []


def test_absent_by_key_id(runner):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    first = add_secret_directly(runner, tenant)
    second = add_secret_directly(runner, tenant)
    run = runner.run(runner.play([secret_task(state="absent", key_id=first["keyId"])], runner.auth(tenant)))
    assert run.rc == 0 and run.last.result["retired_key_ids"] == [first["keyId"]]
    assert [c["keyId"] for c in secrets(runner, tenant)] == [second["keyId"]]
    wrong = runner.run(runner.play([secret_task(state="absent", key_id=second["keyId"], display_name="Other")],
                                   runner.auth(tenant)))
    assert wrong.rc != 0 and "not 'Other'" in wrong.last.msg and wrong.graph_writes() == []


# Custody: a missing value is a decision, never a repair that removes a live secret ---------------------


def valid_key_ids(runner: Runner, tenant: dict[str, Any]) -> set[str]:
    now = datetime.now(timezone.utc)
    return {c["keyId"] for c in secrets(runner, tenant)
            if datetime.fromisoformat(c["endDateTime"].replace("Z", "+00:00")) > now}


def test_dest_moved_away_fails_listing_the_secrets_and_removes_nothing(runner, tmp_path):
    tenant = runner.emulator.tenant("usgov")
    app = make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    held = read_dest(dest)
    dest.rename(tmp_path / "moved.json")
    check = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)), "--check", "--diff")
    assert check.rc == 0 and not check.last.changed and check.graph_writes() == []
    assert "A real run would fail" in check.last.msg and held["key_id"] in check.last.msg
    assert check.last.result["unheld_key_ids"] == [held["key_id"]] and check.last.result["retired_key_ids"] == []
    run = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)))
    assert run.rc != 0 and run.last.failed
    assert run.graph_writes() == [] and not dest.exists()
    assert held["key_id"] in run.last.msg and "expires" in run.last.msg and "missing_value=add" in run.last.msg
    assert run.last.result["unheld_key_ids"] == [held["key_id"]]
    assert [c["keyId"] for c in secrets(runner, tenant)] == [held["key_id"]]
    # The add option adds a secret beside it, and removes nothing.
    added = runner.run(runner.play([secret_task(dest=str(dest), missing_value="add")], runner.auth(tenant)))
    assert added.rc == 0 and added.last.result["action"] == "added", added.stdout
    assert [w["path"].rsplit("/", 1)[-1] for w in added.graph_writes()] == ["addPassword"]
    new = read_dest(dest)
    assert valid_key_ids(runner, tenant) == {held["key_id"], new["key_id"]}
    for value in (held["secret"], new["secret"]):
        assert "access_token" in sign_in(runner, tenant, app["appId"], value)
    assert_clean(run, held["secret"])
    assert_clean(added, held["secret"], new["secret"])


def test_two_checkouts_alternating_never_remove_a_secret(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    checkouts = [tmp_path / "checkout-a" / "secret.json", tmp_path / "checkout-b" / "secret.json"]
    for turn in range(4):
        dest = checkouts[turn % 2]
        run = runner.run(runner.play([secret_task(dest=str(dest), missing_value="add")], runner.auth(tenant)))
        assert run.rc == 0, run.stdout
        assert writes(run, "removePassword") == []
        assert run.last.changed == (turn < 2)
        if turn >= 2:
            assert run.graph_writes() == [] and run.last.result["unheld_key_ids"] == [read_dest(checkouts[(turn + 1) % 2])["key_id"]]
    held = {read_dest(d)["key_id"] for d in checkouts}
    assert len(held) == 2 and valid_key_ids(runner, tenant) == held


def test_three_hosts_sharing_one_app_settle_and_keep_every_held_secret(runner, tmp_path):
    tenant = runner.emulator.tenant("china")
    make_app(runner, tenant)
    auth = runner.auth(tenant)
    dest = str(tmp_path / "secrets" / "{{ inventory_hostname }}-web.json")
    play = [{"name": "Three hosts, one app", "hosts": "all", "connection": "local", "gather_facts": False,
             "module_defaults": {"group/partnercenter.national_cloud.all": auth},
             "tasks": [secret_task(dest=dest, missing_value="add")]}]
    inventory = tmp_path / "hosts.yml"
    hosts = {name: {"ansible_python_interpreter": sys.executable} for name in ("one", "two", "three")}
    inventory.write_text(json.dumps({"all": {"hosts": hosts}}), encoding="utf-8")
    for attempt in range(3):
        run = runner.run(play, "--forks", "3", inventory=inventory)
        assert run.rc == 0, run.stdout
        assert writes(run, "removePassword") == []
        if attempt:
            assert run.graph_writes() == [] and all(c["changed"] == 0 for c in run.recap().values())
    held = {read_dest(tmp_path / "secrets" / f"{name}-web.json")["key_id"] for name in ("one", "two", "three")}
    assert len(held) == 3 and valid_key_ids(runner, tenant) == held
    # Without the add option the second host to arrive fails clearly instead; nothing is removed.
    (tmp_path / "secrets" / "three-web.json").unlink()
    strict = [{**play[0], "tasks": [secret_task(dest=dest)]}]
    run = runner.run(strict, inventory=inventory)
    assert run.rc != 0 and run.graph_writes() == []
    assert [t.host for t in run.module_results() if t.failed] == ["three"]
    assert valid_key_ids(runner, tenant) == held


def test_a_persons_secret_with_the_same_name_survives(runner, tmp_path):
    tenant = runner.emulator.tenant("usgov_dod")
    make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    persons = add_secret_directly(runner, tenant)  # same display name, made in the portal by a person
    for flags in ((), ("--check",), ()):
        run = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)), *flags)
        assert run.rc == 0 and not run.last.changed and run.graph_writes() == []
        assert run.last.result["unheld_key_ids"] == [persons["keyId"]]
        assert persons["keyId"] in output(run) and "left alone" in output(run)
    # A rotation with retire_previous removes what this store held before, never the person's secret.
    old = read_dest(dest)
    rotated = runner.run(runner.play([secret_task(dest=str(dest), rotate=True, retire_previous=True)], runner.auth(tenant)))
    assert rotated.rc == 0 and rotated.last.result["retired_key_ids"] == [old["key_id"]]
    assert valid_key_ids(runner, tenant) == {persons["keyId"], read_dest(dest)["key_id"]}
    assert_clean(rotated, persons["secretText"], old["secret"])


def test_lost_answer_then_the_advised_rerun_removes_only_the_lost_secret(runner, tmp_path):
    """addPassword took effect but its answer was lost (no retry budget): the store had recorded the
    addition first, so the rerun knows that secret is its own, stores a new one and removes only it."""
    tenant = runner.emulator.tenant("public")
    app = make_app(runner, tenant)
    persons = add_secret_directly(runner, tenant)  # a person's, same name: must survive
    dest = tmp_path / "secret.json"
    runner.emulator.set_faults(seed=3, services=["graph"], match="addPassword$", drop_probability=1, drop_after_processing=1)
    lost_run = runner.run(runner.play([secret_task(dest=str(dest), missing_value="add")], runner.auth(tenant, retry_timeout=0)))
    runner.emulator.set_faults()
    assert lost_run.rc != 0 and "may have been created anyway" in lost_run.last.msg and "Rerun" in lost_run.last.msg
    [lost] = [c for c in secrets(runner, tenant) if c["keyId"] != persons["keyId"]]
    record = read_dest(dest)
    assert record["secret"] is None and len(record["pending"]) == 1
    rerun = runner.run(runner.play([secret_task(dest=str(dest), missing_value="add")], runner.auth(tenant)))
    assert rerun.rc == 0, rerun.stdout
    assert rerun.last.result["orphan_key_ids"] == [lost["keyId"]] == rerun.last.result["retired_key_ids"]
    assert [w["path"].rsplit("/", 1)[-1] for w in rerun.graph_writes()] == ["addPassword", "removePassword"]
    stored = read_dest(dest)
    assert valid_key_ids(runner, tenant) == {persons["keyId"], stored["key_id"]}
    assert stored["pending"] == record["pending"]  # kept a while (a lost secret may show late), then forgotten
    assert "access_token" in sign_in(runner, tenant, app["appId"], stored["secret"])
    again = runner.run(runner.play([secret_task(dest=str(dest), missing_value="add")], runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []


@pytest.mark.parametrize("damage", ["garbage", "other_key"])
def test_dest_that_is_not_a_usable_record_is_never_a_reason_to_remove(runner, tmp_path, damage):
    tenant = runner.emulator.tenant("china")
    make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    old = read_dest(dest)
    if damage == "garbage":
        dest.write_text("not json", encoding="utf-8")
    else:
        dest.write_text(json.dumps({**old, "key_id": "00000000-0000-0000-0000-000000000001"}), encoding="utf-8")
    run = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)))
    assert run.rc != 0 and run.graph_writes() == []
    assert ("not a secret record" if damage == "garbage" else "00000000-0000-0000-0000-000000000001") in run.last.msg
    assert valid_key_ids(runner, tenant) == {old["key_id"]}


def test_dest_of_another_application_is_left_alone(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    dest.write_text(json.dumps({"app_id": "11111111-1111-1111-1111-111111111111", "key_id": "x", "secret": "abc",
                                "display_name": NAME}), encoding="utf-8")
    run = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)))
    assert run.rc != 0 and "another application" in run.last.msg
    assert run.graph_writes() == [] and "abc" in dest.read_text(encoding="utf-8")


def test_dest_with_a_loose_mode_is_set_back_to_0600_with_a_warning(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    dest = tmp_path / "secret.json"
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    dest.chmod(0o644)
    run = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)))
    assert run.rc == 0 and run.graph_writes() == []
    assert "mode 0644" in output(run) and "set to 0600" in output(run)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600


# App management policy --------------------------------------------------------------------------------


@pytest.mark.parametrize("can_read_policy", [True, False])
def test_policy_blocking_secrets(runner, can_read_policy):
    tenant = runner.emulator.tenant("usgov")
    if can_read_policy:  # before the first run, whose token is cached
        grant_policy_read(runner, tenant)
    make_app(runner, tenant)
    set_policy(runner, tenant, {"restrictionType": "passwordAddition", "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"})
    checked = runner.run(runner.play([secret_task()], runner.auth(tenant)), "--check")
    assert checked.rc == 0 and checked.last.changed and checked.graph_writes() == []
    run = runner.run(runner.play([secret_task()], runner.auth(tenant)))
    assert run.rc != 0 and run.last.failed
    assert secrets(runner, tenant) == []
    warnings = " ".join(run.last.result.get("warnings", []))
    if can_read_policy:
        assert "passwordAddition" in run.last.msg and "2019-01-01T00:00:00Z" in run.last.msg
        assert run.graph_writes() == []
        assert any("passwordAddition" in v for v in checked.last.result["policy_violations"])
        assert "passwordAddition" in " ".join(checked.last.result.get("warnings", []))
        assert "Policy.Read.All" not in warnings
    else:
        assert "CredentialTypeNotAllowedAsPerAppPolicy" in run.last.msg and "policy" in run.last.msg
        assert successful(run.graph_writes()) == []
        assert warnings.count("Policy.Read.All") == 1
        assert "Policy.Read.All" in " ".join(checked.last.result.get("warnings", []))
    assert_clean(run)


@pytest.mark.parametrize("can_read_policy", [True, False])
def test_policy_capping_the_lifetime(runner, can_read_policy):
    tenant = runner.emulator.tenant("public")
    if can_read_policy:  # before the first run, whose token is cached
        grant_policy_read(runner, tenant)
    make_app(runner, tenant)
    set_policy(runner, tenant, {"restrictionType": "passwordLifetime", "maxLifetime": "P90D",
                                "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"})
    run = runner.run(runner.play([secret_task(expires_in="1y")], runner.auth(tenant)))
    assert run.rc != 0 and secrets(runner, tenant) == []
    if can_read_policy:
        assert "P90D" in run.last.msg and "passwordLifetime" in run.last.msg and "365 days" in run.last.msg
        assert run.graph_writes() == []
    else:
        assert "CredentialInvalidLifetimeAsPerAppPolicy" in run.last.msg
    fits = runner.run(runner.play([secret_task(expires_in="90d")], runner.auth(tenant)))
    assert fits.rc == 0 and fits.last.result["action"] == "created"


def test_policy_for_newer_apps_only_does_not_apply(runner):
    tenant = runner.emulator.tenant("public")
    grant_policy_read(runner, tenant)
    make_app(runner, tenant)
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    set_policy(runner, tenant, {"restrictionType": "passwordAddition", "restrictForAppsCreatedAfterDateTime": future})
    run = runner.run(runner.play([secret_task()], runner.auth(tenant)))
    assert run.rc == 0 and run.last.result["action"] == "created" and run.last.result["policy_violations"] == []


# Faults and check mode --------------------------------------------------------------------------------


def test_converges_under_replication_lag_and_throttling(runner, tmp_path):
    tenant = runner.emulator.tenant("usgov")
    dest = tmp_path / "secret.json"
    runner.emulator.set_faults(seed=11, replication_lag_min_seconds=1, replication_lag_max_seconds=2,
                               throttle_probability=0.4, retry_after=1, services=["graph"])
    tasks = [{APP: {"unique_name": "pc-web", "display_name": "Partner Center web app"}}, secret_task(dest=str(dest))]
    run = runner.run(runner.play(tasks, runner.auth(tenant)), "-vvv")
    assert run.rc == 0, run.stdout
    assert any(r.get("fault") == "throttle" for r in run.requests)
    added = successful(writes(run, "addPassword"))
    assert len(added) == 1
    runner.emulator.set_faults()
    time.sleep(2.5)
    stored = read_dest(dest)
    assert [c["keyId"] for c in secrets(runner, tenant)] == [stored["key_id"]]
    app = app_state(runner, tenant)
    assert "access_token" in sign_in(runner, tenant, app["appId"], stored["secret"])
    again = runner.run(runner.play(tasks, runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []
    assert_clean(run, stored["secret"])
    # A rate limit that throttles addPassword itself: it is retried (429 means not processed), once.
    runner.emulator.set_faults(seed=11, rate_limit_capacity=2, rate_limit_refill_per_second=0.5, services=["graph"])
    rotated = runner.run(runner.play([secret_task(dest=str(dest), rotate=True)], runner.auth(tenant)))
    assert rotated.rc == 0, rotated.stdout
    attempts = writes(rotated, "addPassword")
    assert [a["status"] for a in attempts if a["status"] == 429] and len(successful(attempts)) == 1
    runner.emulator.set_faults()
    assert len(secrets(runner, tenant)) == 2 and read_dest(dest)["key_id"] == rotated.last.result["key_id"]


def test_check_mode_makes_no_write_and_reports(runner, tmp_path):
    tenant = runner.emulator.tenant("usgov_dod")
    make_app(runner, tenant)
    dest = tmp_path / "new" / "secret.json"
    created = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)), "--check", "--diff")
    assert created.rc == 0 and created.last.changed and created.last.result["action"] == "created"
    assert created.graph_writes() == [] and not dest.parent.exists()
    after = created.last.result["diff"]["after"]["secrets"]
    assert len(after) == 1 and after[0]["key_id"] is None and after[0]["end_date_time"]
    assert "Would create" in created.last.msg
    assert runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant))).rc == 0
    old = read_dest(dest)
    move_dates(runner, tenant, old["key_id"], end_in_days=3)
    renew = runner.run(runner.play([secret_task(dest=str(dest), retire_previous=True)], runner.auth(tenant)), "--check", "--diff")
    assert renew.rc == 0 and renew.last.result["action"] == "renewed" and renew.graph_writes() == []
    assert renew.last.result["retired_key_ids"] == [old["key_id"]]
    assert read_dest(dest) == old and [c["keyId"] for c in secrets(runner, tenant)] == [old["key_id"]]
    removal = runner.run(runner.play([secret_task(state="absent", dest=str(dest))], runner.auth(tenant)), "--check")
    assert removal.rc == 0 and removal.last.changed and removal.graph_writes() == [] and dest.exists()
    assert_clean(renew, old["secret"])


def test_check_mode_when_the_app_does_not_exist_yet(runner):
    tenant = runner.emulator.tenant("public")
    tasks = [{APP: {"unique_name": "pc-web", "display_name": "Partner Center web app"}}, secret_task()]
    run = runner.run(runner.play(tasks, runner.auth(tenant)), "--check")
    assert run.rc == 0 and run.last.changed and run.last.result["action"] == "created"
    assert run.graph_writes() == []


# Bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "fragment"), [
    ({"expires_in": "3 weeks"}, "expires_in must be 1y, 2y"),
    ({"expires_in": "0d"}, "between 1 day"),
    ({"expires_in": True}, "expires_in must be"),
    ({"expires_in": "1y", "end_date_time": "2099-01-01"}, "mutually exclusive"),
    ({"end_date_time": "2001-01-01T00:00:00Z"}, "in the past"),
    ({"end_date_time": "next tuesday"}, "ISO 8601"),
    ({"expires_in": "20d"}, "renew_before_days (30) must be shorter"),
    ({"renew_before_days": "soon"}, "renew_before_days"),
    ({"dest": "/"}, "is a directory"),
    ({"key_id": "00000000-0000-0000-0000-000000000000"}, "only used with state=absent"),
    ({"state": "absent", "key_id": "not-a-guid"}, "key_id must be a GUID"),
    ({"display_name": ""}, "display_name must not be empty"),
    ({"unique_name": None, "app_id": "nope"}, "app_id must be a GUID"),
])
def test_bad_input_fails_clearly_before_any_request(runner, params, fragment):
    tenant = runner.emulator.tenant("public")
    task = secret_task(**params)
    task[MODULE] = {k: v for k, v in task[MODULE].items() if v is not None}
    run = runner.run(runner.play([task], runner.auth(tenant)))
    assert run.rc != 0 and run.last.failed
    assert fragment in run.last.msg, run.last.msg
    assert run.requests == []
    assert "Traceback" not in output(run) + str(run.last.result.get("exception", ""))


def test_unknown_application_fails_clearly(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([secret_task(consistency_timeout=0)], runner.auth(tenant)))
    assert run.rc != 0 and "No application matches unique_name 'pc-web'" in run.last.msg
    assert run.graph_writes() == [] and "Traceback" not in output(run)


def test_display_name_of_the_app_is_its_own_option(runner):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    task = {"name": "By the app's display name", MODULE: {"app_display_name": "Partner Center web app", "display_name": NAME}}
    run = runner.run(runner.play([task], runner.auth(tenant)))
    assert run.rc == 0 and run.last.result["action"] == "created"
    assert run.last.result["app_id"] == app_state(runner, tenant)["appId"]


def test_examples_run_against_the_emulator(runner, tmp_path):
    """The EXAMPLES, as written, with their placeholders pointed at the emulator."""
    import yaml

    from ansible_collections.partnercenter.national_cloud.plugins.modules import pc_app_secret

    tenant = runner.emulator.tenant("usgov")
    graph = runner.emulator.graph(tenant)
    web = graph.post("/applications", json={"displayName": "Partner Center web app", "uniqueName": "partner-center-web"}).json()
    other = graph.post("/applications", json={"displayName": "Another app"}).json()
    text = pc_app_secret.EXAMPLES.replace("00000000-0000-0000-0000-000000000000", other["appId"])
    text = text.replace("/etc/partner-center", str(tmp_path / "etc"))
    tasks = yaml.safe_load(text)
    variables = {"partner_tenant_id": tenant["tenant_id"], "automation_client_id": tenant["admin"]["client_id"],
                 "automation_client_secret": tenant["admin"]["client_secret"]}
    run = runner.run(runner.play(tasks, runner.auth(tenant), vars=variables))
    assert run.rc == 0, run.stdout
    actions = [t.result.get("action") for t in run.module_results()]
    # None: the no_log task's result is hidden; "added": a file of its own beside the secrets the others hold.
    assert actions == ["created", None, "added", "created", "none", "removed"]
    stored = read_dest(runner.workdir / "secrets" / "partner-center-web.json")
    assert stored["app_id"] == web["appId"]
    assert secrets_of(runner, tenant, other["id"]) == []
    assert_clean(run, stored["secret"])


def secrets_of(runner: Runner, tenant: dict[str, Any], object_id: str) -> list[dict[str, Any]]:
    return runner.emulator.graph(tenant).get(f"/applications/{object_id}").json()["passwordCredentials"]


def test_docs_render_with_ansible_doc():
    completed = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), MODULE], capture_output=True, text=True,
                               env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH)}, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "renew_before_days" in completed.stdout and "Policy.Read.All" in completed.stdout


# As an attacker: a second local user (nobody) -------------------------------------------------------------


@needs_root
@pytest.mark.parametrize("owner", ["nobody", "root-0777"])
def test_a_dest_folder_others_can_write_is_refused_before_any_request(runner, owner):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    with shared_folder() as shared:
        folder = shared / "secrets"
        if owner == "nobody":
            as_nobody("import os\nos.mkdir(%r, 0o755)\n" % str(folder))  # theirs: they could swap files in it
        else:
            folder.mkdir()
            folder.chmod(0o777)
        dest = folder / "secret.json"
        for flags in ((), ("--check",)):
            run = runner.run(runner.play([secret_task(dest=str(dest))], runner.auth(tenant)), *flags)
            assert run.rc != 0 and run.last.failed
            assert run.requests == [], "no request to Microsoft before the folder is refused"
            assert str(folder) in run.last.msg and ("nobody" in run.last.msg if owner == "nobody" else "written by group and others" in run.last.msg)
            assert "Traceback" not in output(run)
        assert not dest.exists() and secrets(runner, tenant) == []


@needs_root
def test_a_lock_held_by_another_user_times_out_within_the_bound_naming_the_holder(runner):
    tenant = runner.emulator.tenant("public")
    make_app(runner, tenant)
    with shared_folder(0o755) as folder:
        dest = folder / "secret.json"
        lock = folder / ".secret.json.lock"
        lock.touch(mode=0o644)  # e.g. left by an older tool: readable, so another user can flock it
        holder = start_as_nobody("import fcntl, os, sys, time\nfd = os.open(%r, os.O_RDONLY)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
                                 "print('ready', flush=True)\ntime.sleep(120)\n" % str(lock))
        try:
            started = time.monotonic()
            run = runner.run(runner.play([secret_task(dest=str(dest), lock_timeout=3)], runner.auth(tenant)))
            elapsed = time.monotonic() - started
        finally:
            holder.kill()
            holder.wait()
        assert run.rc != 0 and "is locked by process %d" % holder.pid in run.last.msg and "nobody" in run.last.msg
        assert "lock_timeout" in run.last.msg and "nothing was changed" in run.last.msg
        assert run.graph_writes() == [] and not dest.exists() and secrets(runner, tenant) == []
        assert elapsed < 60, elapsed  # the 3 s bound, not the old 10 minutes (generous: ansible-playbook start-up)
