# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_app_secret's run: option checks, and the flows against an in-memory Graph double."""

from __future__ import annotations

import json
import os
import stat
import uuid
from urllib.parse import unquote, urlsplit

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _graph, _http
from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _secrets as sec
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    ConfigurationError,
    PartnerCenterCollectionError,
    ServiceError,
    TransportError,
)
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._private_files import LockTimeout
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secret_stores import (
    FileStore,
    PendingAddition,
    SecretRecord,
)
from tests.unit.conftest import FakeClock, FakeResponse, ScriptedSession, write_private
from tests.unit.plugins.module_utils.secret_helpers import DAY, NAME, NOW, TENANT, addition_of, cred, iso, policy


# -------------------------------------------------------------------------------------------------
# validate_params
# -------------------------------------------------------------------------------------------------


def params(**overrides):
    base = {
        "state": "present",
        "object_id": None,
        "app_id": None,
        "unique_name": "pc-web",
        "app_display_name": None,
        "display_name": NAME,
        "key_id": None,
        "expires_in": None,
        "end_date_time": None,
        "renew_before_days": 30,
        "rotate": False,
        "retire_previous": False,
        "missing_value": "fail",
        "lock_timeout": 120,
        "dest": None,
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "consistency_timeout": 0,
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"display_name": None}, "display_name is required with state=present"),
        ({"display_name": "  "}, "must not be empty"),
        ({"key_id": "00000000-0000-0000-0000-000000000000"}, "only used with state=absent"),
        ({"state": "absent", "key_id": "nope"}, "key_id must be a GUID"),
        ({"state": "absent", "display_name": None}, "needs display_name or key_id"),
        ({"state": "absent", "rotate": True}, "rotate applies to state=present only"),
        ({"renew_before_days": -1}, "renew_before_days must be 0 or more"),
        ({"renew_before_days": True}, "renew_before_days must be 0 or more"),
        ({"expires_in": "30d"}, "renew_before_days (30) must be shorter than the lifetime (30 days)"),
        ({"expires_in": "1y", "end_date_time": "2030-01-01"}, "mutually exclusive"),
        ({"retire_previous": True}, "retire_previous needs dest"),
        ({"retire_previous": True, "rotate": True}, "retire_previous needs dest"),
        ({"missing_value": "repair"}, "missing_value must be one of fail, add; got 'repair'"),
        ({"lock_timeout": -1}, "lock_timeout must be 0 or more seconds"),
        ({"lock_timeout": True}, "lock_timeout must be 0 or more seconds"),
        ({"lock_timeout": 1.5}, "lock_timeout must be 0 or more seconds"),
        ({"dest": " "}, "dest must not be empty"),
        ({"dest": "/"}, "is a directory"),
    ],
)
def test_validate_params_rejects(overrides, fragment):
    with pytest.raises(ConfigurationError) as err:
        sec.validate_params(params(**overrides), NOW)
    assert fragment in err.value.to_message()


def test_validate_params_accepts(tmp_path):
    options = sec.validate_params(params(expires_in="31d"), NOW)
    assert options.lifetime.days == 31 and options.key_id is None and options.store is None
    options = sec.validate_params(
        params(state="absent", display_name=None, key_id="0A0A0A0A-0000-0000-0000-000000000001", expires_in="junk"), NOW
    )
    assert options.lifetime is None and options.key_id == "0a0a0a0a-0000-0000-0000-000000000001"  # lifetime ignored when absent
    assert sec.validate_params(params(renew_before_days=0, expires_in="1"), NOW).lifetime.days == 1
    options = sec.validate_params(params(dest=str(tmp_path / "d" / "s.json"), retire_previous=True, lock_timeout=0), NOW)
    assert options.store == {"type": "file", "path": str(tmp_path / "d" / "s.json")} and options.store_option == "dest"
    assert options.lock_timeout == 0 and not (tmp_path / "d").exists()  # nothing is created by checking
    assert sec.validate_params(params(dest=str(tmp_path / "s.json"), lock_timeout=None), NOW).lock_timeout == 120
    assert sec.validate_params(params(missing_value=None), NOW).store is None


# -------------------------------------------------------------------------------------------------
# Flows against an in-memory Graph double
# -------------------------------------------------------------------------------------------------

BASE = "https://graph.test"


def graph_error(status, code, message):
    return FakeResponse(status, {"error": {"code": code, "message": message, "innerError": {"request-id": "req-1"}}})


class FakeGraph:
    """One application with password credentials, addPassword/removePassword and the tenant policy."""

    def __init__(self, created="2024-05-01T00:00:00Z"):
        self.app = {
            "id": str(uuid.uuid4()),
            "appId": str(uuid.uuid4()),
            "displayName": "PC web",
            "uniqueName": "pc-web",
            "createdDateTime": created,
            "passwordCredentials": [],
        }
        self.values: dict[str, str] = {}
        self.policy = policy()
        self.policy_status = 200
        self.add_failure = None  # a FakeResponse or exception for the next addPassword
        self.add_failure_sticky = False  # ... and for every one after it
        self.add_failures_after_processing = 0  # addPasswords that create the secret, then lose the connection
        self.hidden_keys: set[str] = set()  # credentials reads do not show yet (replication)
        self.remove_failure = None
        self.on_add = None  # called when an addPassword arrives, before it is answered
        self.app_visible = True
        self.log: list[tuple[str, str]] = []

    @property
    def writes(self):
        return [entry for entry in self.log if entry[0] != "GET"]

    def plant(self, key=None, name=NAME, start=-300, end=100):
        credential = cred(key or str(uuid.uuid4()), name=name, start=start, end=end, hint=None)
        value = "%s8Q~%s" % (uuid.uuid4().hex[:3], uuid.uuid4().hex)
        credential["hint"] = value[:3]
        self.app["passwordCredentials"].append(credential)
        self.values[credential["keyId"]] = value
        return credential, value

    def __call__(self, sent):
        parts = urlsplit(sent.url)
        path = unquote(parts.path)[len("/v1.0/") :]
        self.log.append((sent.method, path))
        if path == "policies/defaultAppManagementPolicy":
            if self.policy_status != 200:
                return graph_error(self.policy_status, "Authorization_RequestDenied", "Insufficient privileges.")
            return FakeResponse(200, self.policy)
        if path == "applications(uniqueName='pc-web')" or path == "applications/%s" % self.app["id"]:
            if not self.app_visible:
                return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
            shown = [c for c in self.app["passwordCredentials"] if c["keyId"] not in self.hidden_keys]
            self.hidden_keys.clear()  # replicated by the next read
            return FakeResponse(200, dict(self.app, passwordCredentials=shown))
        if path.startswith("applications(uniqueName="):
            return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
        if path == "applications/%s/addPassword" % self.app["id"]:
            if self.on_add is not None:
                self.on_add()
            if self.add_failure is not None:
                failure = self.add_failure
                if not self.add_failure_sticky:
                    self.add_failure = None
                if isinstance(failure, BaseException):
                    raise failure
                return failure
            spec = sent.json["passwordCredential"]
            value = "%s8Q~%s" % (uuid.uuid4().hex[:3], uuid.uuid4().hex)
            credential = {
                "keyId": str(uuid.uuid4()),
                "displayName": spec.get("displayName"),
                "hint": value[:3],
                "startDateTime": spec["startDateTime"],
                "endDateTime": spec["endDateTime"],
                "customKeyIdentifier": None,
                "secretText": None,
            }
            self.app["passwordCredentials"].append(credential)
            self.values[credential["keyId"]] = value
            if self.add_failures_after_processing:
                self.add_failures_after_processing -= 1
                raise TransportError(service="graph", method="POST", url=BASE, reason="connection reset")
            return FakeResponse(200, dict(credential, secretText=value))
        if path == "applications/%s/removePassword" % self.app["id"]:
            if self.remove_failure is not None:
                failure, self.remove_failure = self.remove_failure, None
                return failure
            key = sent.json["keyId"]
            before = len(self.app["passwordCredentials"])
            self.app["passwordCredentials"] = [c for c in self.app["passwordCredentials"] if c["keyId"] != key]
            if len(self.app["passwordCredentials"]) == before:
                return graph_error(400, "Request_BadRequest", "No password credential with keyId '%s' exists." % key)
            return FakeResponse(204)
        raise AssertionError("unexpected %s %s" % (sent.method, path))

    def names(self):
        return [c["displayName"] for c in self.app["passwordCredentials"]]


class Warnings:
    def __init__(self):
        self.items: list[str] = []

    def warn(self, text):
        self.items.append(text)


class Cloud:
    name = "usgov"


class FakeModule:
    """What run_pc_app_secret needs from AppSecretModule."""

    def __init__(self, service, check_mode=False, **overrides):
        clock = FakeClock()
        http = _http.HttpClient(
            session=ScriptedSession(handler=service), sleep=clock.sleep, clock=clock.clock, rand=lambda: 0.5
        )
        self.graph = _graph.GraphClient(
            http, lambda resource: "token", base_url=BASE, resource="https://graph.microsoft.us", consistency_timeout=5
        )
        self.params = params(**overrides)
        self.check_mode = check_mode
        self.module = Warnings()
        self.cloud = Cloud()
        self.diff = None

    def validate(self):
        pass

    def set_diff(self, before, after):
        self.diff = (before, after)


def run(service, check_mode=False, now=NOW, **overrides):
    module = FakeModule(service, check_mode=check_mode, **overrides)
    return sec.run_pc_app_secret(module, now=now), module


def store_record(dest, service, credential=None, value=None, **fields):
    """Write the record a store holds for ``credential`` (planted in ``service``), or one without a value."""
    data = {"tenant_id": TENANT, "cloud": "usgov", "app_id": service.app["appId"], "display_name": NAME}
    if credential is not None:
        data.update(key_id=credential["keyId"], secret=value, start_date_time=credential["startDateTime"],
                    end_date_time=credential["endDateTime"])
    data.update(fields)
    rec = SecretRecord(**data)
    write_private(str(dest), rec.to_json().decode())
    return rec


def stored(dest):
    """The record in the file ``dest``."""
    return SecretRecord.from_mapping(json.loads(dest.read_text()))


def key_ids(service):
    return sorted(c["keyId"] for c in service.app["passwordCredentials"])


def removed(service):
    return [w for w in service.writes if w[1].endswith("/removePassword")]


def test_create_without_dest_returns_the_value_once():
    service = FakeGraph()
    result, module = run(service)
    assert result["changed"] and result["action"] == "created"
    [created] = service.app["passwordCredentials"]
    assert result["secret_text"] == service.values[created["keyId"]]
    assert (result["key_id"], result["hint"], result["days_to_expiry"]) == (created["keyId"], created["hint"], 365)
    assert (created["startDateTime"], created["endDateTime"]) == (iso(NOW), iso(NOW + 365 * DAY))
    assert service.writes == [("POST", "applications/%s/addPassword" % service.app["id"])]
    assert ("GET", "policies/defaultAppManagementPolicy") in service.log
    text = json.dumps({k: v for k, v in result.items() if k != "secret_text"}) + json.dumps(module.diff)
    assert result["secret_text"] not in text and "secret_text" in result["msg"]
    assert module.diff[0] == {"secrets": []} and module.diff[1]["secrets"][0]["key_id"] == created["keyId"]
    service.log.clear()
    again, dummy = run(service)
    assert again["changed"] is False and again["action"] == "none" and "secret_text" not in again
    assert service.writes == [] and ("GET", "policies/defaultAppManagementPolicy") not in service.log


def test_create_with_dest_stores_the_value_and_returns_none(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "d" / "s.json"
    result, dummy = run(service, dest=str(dest))
    assert "secret_text" not in result and result["dest"] == str(dest)
    [created] = service.app["passwordCredentials"]
    data = json.loads(dest.read_text())
    assert data == {
        "tenant_id": TENANT,
        "cloud": "usgov",
        "app_id": service.app["appId"],
        "key_id": created["keyId"],
        "display_name": NAME,
        "secret": service.values[created["keyId"]],
        "start_date_time": created["startDateTime"],
        "end_date_time": created["endDateTime"],
        "previous_key_ids": [],
        "pending": [],
    }
    assert data["secret"] not in json.dumps(result)
    service.log.clear()
    again, dummy = run(service, dest=str(dest))
    assert again["action"] == "none" and service.writes == []


def test_the_value_is_stored_before_old_secrets_are_removed(tmp_path):
    service = FakeGraph()
    old, dummy = service.plant(end=10)
    dest = tmp_path / "s.json"
    dest.write_text(json.dumps({"key_id": old["keyId"], "secret": service.values[old["keyId"]], "app_id": service.app["appId"]}))
    order = []
    real = service.__call__

    def watching(sent):
        if sent.url.endswith("/removePassword"):
            order.append(("remove", json.loads(dest.read_text())["key_id"]))
        return real(sent)

    module = FakeModule(watching, dest=str(dest), retire_previous=True)
    result = sec.run_pc_app_secret(module, now=NOW)
    assert result["action"] == "renewed" and result["retired_key_ids"] == [old["keyId"]]
    assert order == [("remove", result["key_id"])]  # the file already held the new value


def test_check_mode_plans_without_writing(tmp_path):
    service = FakeGraph()
    old, dummy = service.plant(end=-1)  # expired: nothing valid, a real run renews
    dest = tmp_path / "new" / "s.json"
    result, module = run(service, check_mode=True, retire_previous=True, dest=str(dest))
    assert result["changed"] and result["action"] == "renewed"
    assert result["key_id"] is None and result["end_date_time"] == iso(NOW + 365 * DAY)
    assert result["retired_key_ids"] == [] and result["orphan_key_ids"] == []  # the store never held it: not its to retire
    assert service.writes == [] and not dest.parent.exists()
    before, after = module.diff
    assert [s["key_id"] for s in before["secrets"]] == [old["keyId"]]
    assert after["secrets"] == [
        sec.secret_view(old, NOW),
        {
            "key_id": None,
            "display_name": NAME,
            "hint": None,
            "start_date_time": iso(NOW),
            "end_date_time": iso(NOW + 365 * DAY),
            "days_to_expiry": 365,
        },
    ]
    assert result["msg"].startswith("Would renew") and "It would be stored in dest %s" % dest in result["msg"]
    assert "secret_text" not in result


def test_check_mode_of_a_store_without_a_value_says_a_real_run_would_fail(tmp_path):
    service = FakeGraph()
    theirs, dummy = service.plant(end=200)
    dest = tmp_path / "new" / "s.json"
    result, module = run(service, check_mode=True, retire_previous=True, rotate=True, dest=str(dest))
    assert result["changed"] is False and result["action"] == "none" and result["unheld_key_ids"] == [theirs["keyId"]]
    assert result["msg"].startswith("A real run would fail: dest %s holds no value" % dest) and theirs["keyId"] in result["msg"]
    assert [w for w in module.module.items if w.startswith("A real run would fail")] == [result["msg"]]
    assert result["retired_key_ids"] == [] and service.writes == [] and not dest.parent.exists()
    assert module.diff[0] == module.diff[1] == {"secrets": [sec.secret_view(theirs, NOW)]}
    result, module = run(service, check_mode=True, dest=str(dest), missing_value="add")
    assert result["changed"] and result["action"] == "added" and result["msg"].startswith("Would add secret")
    assert result["retired_key_ids"] == [] and service.writes == [] and not dest.parent.exists()


def test_check_mode_reports_policy_violations_and_a_real_run_fails_without_writing():
    service = FakeGraph()
    service.policy = policy({"restrictionType": "passwordLifetime", "maxLifetime": "P90D"})
    result, module = run(service, check_mode=True)
    assert result["changed"] and result["policy_violations"] and "P90D" in module.module.items[0]
    assert "But: " in result["msg"]
    with pytest.raises(sec.AppManagementPolicyError) as err:
        run(service)
    assert "maxLifetime P90D" in err.value.to_message() and "Nothing was changed" in err.value.to_message()
    assert err.value.result["policy_violations"] == result["policy_violations"]
    assert service.writes == []
    result, dummy = run(service, expires_in="90d")
    assert result["action"] == "created"


def test_a_secret_created_by_an_attempt_whose_answer_was_lost_is_removed_after_the_new_one_is_stored(tmp_path):
    service = FakeGraph()
    other, dummy = service.plant(name="someone else's")
    service.add_failures_after_processing = 2
    dest = tmp_path / "s.json"
    order = []
    real_remove = sec.remove_password

    def remove(module, app, key):
        order.append(("remove", key, json.loads(dest.read_text())["key_id"]))
        return real_remove(module, app, key)

    sec.remove_password, saved = remove, sec.remove_password
    try:
        result, dummy = run(service, dest=str(dest))
    finally:
        sec.remove_password = saved
    kept = [c for c in service.app["passwordCredentials"] if c["displayName"] == NAME]
    assert [c["keyId"] for c in kept] == [result["key_id"]] and other in service.app["passwordCredentials"]
    assert len(result["orphan_key_ids"]) == 2 and sorted(result["retired_key_ids"]) == sorted(result["orphan_key_ids"])
    assert all(stored == result["key_id"] for dummy, dummy2, stored in order)  # removed only once the new value was stored
    assert "failed addPassword attempts" in result["msg"]


def test_runs_on_one_dest_are_serialised_by_its_lock_file(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    with FileStore(str(dest)).lock():
        with pytest.raises(LockTimeout) as err:
            run(service, dest=str(dest), lock_timeout=0)
    text = err.value.to_message()
    assert "Dest %s is locked by" % dest in text and "nothing was changed" in text and "lock_timeout" in text
    assert service.log == [] and not dest.exists()
    assert stat.S_IMODE(os.stat(tmp_path / ".s.json.lock").st_mode) == 0o600
    result, dummy = run(service, dest=str(dest), lock_timeout=0)  # released
    assert result["action"] == "created"


def test_check_mode_does_not_wait_for_the_lock(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    with FileStore(str(dest)).lock():
        result, dummy = run(service, check_mode=True, dest=str(dest), lock_timeout=0)
        assert result["action"] == "created" and service.writes == []


def test_a_run_removes_the_temporary_files_killed_runs_left(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    stale = tmp_path / (".s.json.%s.tmp" % uuid.uuid4().hex)
    stale.write_text("half a secret")
    others = [tmp_path / (".other.json.%s.tmp" % uuid.uuid4().hex), tmp_path / ".s.json.notes.tmp"]
    for path in others:
        path.write_text("not ours")
    result, dummy = run(service, dest=str(dest))
    assert result["action"] == "created" and not stale.exists() and all(path.exists() for path in others)


def test_dest_write_failure_removes_the_new_secret_again(tmp_path, monkeypatch):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    real_replace, renames = os.replace, []

    def broken_after_the_first(src, dst):
        renames.append(dst)
        if len(renames) > 1:  # the record with the pending addition is written; the one with the value is not
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", broken_after_the_first)
    with pytest.raises(PartnerCenterCollectionError) as err:
        run(service, dest=str(dest))
    assert "No space left on device" in err.value.to_message() and "was removed again" in err.value.to_message()
    assert service.app["passwordCredentials"] == [] and sorted(os.listdir(tmp_path)) == [".s.json.lock", "s.json"]
    assert [w[1].rsplit("/", 1)[-1] for w in service.writes] == ["addPassword", "removePassword"]
    assert stored(dest).secret is None and len(stored(dest).pending) == 1


def test_a_store_that_cannot_be_written_fails_before_add_password(tmp_path, monkeypatch):
    service = FakeGraph()
    dest = tmp_path / "s.json"

    def broken(src, dst):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(ConfigurationError) as err:
        run(service, dest=str(dest))
    assert "Cannot write dest %s: Read-only file system. Nothing was created." % dest in err.value.to_message()
    assert service.writes == [] and os.listdir(tmp_path) == [".s.json.lock"]


def test_a_store_changed_by_another_writer_during_add_password_removes_the_new_secret_again(tmp_path):
    service = FakeGraph()
    old, value = service.plant(end=10)
    dest = tmp_path / "s.json"
    store_record(dest, service, old, value)
    theirs = SecretRecord(app_id=service.app["appId"], display_name=NAME, key_id="written-by-another-runner", secret="theirs")
    service.on_add = lambda: write_private(str(dest), theirs.to_json().decode())
    with pytest.raises(PartnerCenterCollectionError) as err:
        run(service, dest=str(dest))
    text = err.value.to_message()
    assert "changed while this run was using it" in text and "was removed again" in text
    assert key_ids(service) == [old["keyId"]] and stored(dest) == theirs  # nothing overwritten, the new secret gone


def test_a_failed_removal_after_creation_keeps_the_value(tmp_path):
    service = FakeGraph()
    old, value = service.plant(end=3)
    dest = tmp_path / "s.json"
    store_record(dest, service, old, value)
    service.remove_failure = graph_error(403, "Authorization_RequestDenied", "Insufficient privileges.")
    result, module = run(service, retire_previous=True, dest=str(dest))
    assert result["action"] == "renewed" and result["retired_key_ids"] == []
    assert stored(dest).key_id == result["key_id"] != old["keyId"]
    assert stored(dest).secret == service.values[result["key_id"]]
    assert "Could not remove secret %s" % old["keyId"] in module.module.items[0]
    assert len(result["secrets"]) == 2  # the one that could not be removed is still there


def test_a_lost_secret_is_removed_only_after_the_new_value_is_stored(tmp_path):
    service = FakeGraph()
    lost, value = service.plant(start=-1, end=364)  # created by an earlier run whose answer never arrived
    dest = tmp_path / "s.json"
    store_record(dest, service, pending=(addition_of(lost),))
    order = []
    real = service.__call__

    def watching(sent):
        if sent.url.endswith("/removePassword"):
            order.append((sent.json["keyId"], stored(dest).key_id))
        return real(sent)

    result = sec.run_pc_app_secret(FakeModule(watching, dest=str(dest)), now=NOW)
    assert result["action"] == "created" and result["orphan_key_ids"] == [lost["keyId"]] == result["retired_key_ids"]
    assert [w[1].rsplit("/", 1)[-1] for w in service.writes] == ["addPassword", "removePassword"]
    assert order == [(lost["keyId"], result["key_id"])]  # the store held the new value when the lost one was removed
    assert key_ids(service) == [result["key_id"]] and stored(dest).secret == service.values[result["key_id"]]
    assert "created by an earlier run on this store whose value never reached it" in result["msg"]
    assert value not in json.dumps(result)


def test_a_lost_secret_beside_the_held_one_is_removed_without_creating(tmp_path):
    service = FakeGraph()
    held, value = service.plant(start=-10, end=300)
    lost, dummy = service.plant(start=-1, end=364)
    dest = tmp_path / "s.json"
    store_record(dest, service, held, value, pending=(addition_of(lost),))
    result, module = run(service, check_mode=True, dest=str(dest))
    assert result["action"] == "repaired" and result["retired_key_ids"] == [lost["keyId"]] and service.writes == []
    assert "Would remove the secret(s) %s" % lost["keyId"] in result["msg"]
    result, dummy = run(service, dest=str(dest))
    assert result["action"] == "repaired" and result["orphan_key_ids"] == [lost["keyId"]] == result["retired_key_ids"]
    assert result["key_id"] == held["keyId"] and key_ids(service) == [held["keyId"]]
    assert stored(dest).secret == value


def test_a_crash_after_add_password_is_repaired_by_the_rerun_and_nothing_else_is_removed(tmp_path):
    service = FakeGraph()
    person, dummy = service.plant(start=-20, end=300)  # same name, added by a person: never removed
    service.add_failures_after_processing = 100
    dest = tmp_path / "s.json"
    with pytest.raises(TransportError):
        run(service, dest=str(dest), missing_value="add")
    lost = [k for k in key_ids(service) if k != person["keyId"]]
    assert len(lost) > 1 and stored(dest).secret is None and len(stored(dest).pending) == 1
    service.add_failures_after_processing = 0
    # The store holds no value and the person's secret is valid: the default fails, removing nothing.
    with pytest.raises(sec.SecretValueMissing) as err:
        run(service, dest=str(dest), now=NOW + 600)
    assert err.value.result["unheld_key_ids"] == [person["keyId"]] and removed(service) == []
    assert all(k not in err.value.to_message() for k in lost)
    result, dummy = run(service, dest=str(dest), now=NOW + 600, missing_value="add", retire_previous=True)
    assert result["action"] == "added" and sorted(result["retired_key_ids"]) == sorted(result["orphan_key_ids"]) == sorted(lost)
    assert key_ids(service) == sorted([person["keyId"], result["key_id"]])
    assert stored(dest).key_id == result["key_id"] and stored(dest).previous_key_ids == ()


def test_the_record_is_written_before_add_password_and_a_refusal_leaves_it_with_the_old_value(tmp_path):
    service = FakeGraph()
    old, value = service.plant(end=10)
    dest = tmp_path / "s.json"
    before = store_record(dest, service, old, value)
    seen = []
    service.on_add = lambda: seen.append(stored(dest))
    service.add_failure = graph_error(400, "Request_BadRequest", "Invalid value specified for property 'displayName'.")
    with pytest.raises(ServiceError):
        run(service, dest=str(dest))
    [addition] = stored(dest).pending
    assert addition._replace(claim_id="") == PendingAddition(NAME, iso(NOW), iso(NOW + 365 * DAY)) and addition.claim_id
    assert seen == [before._replace(pending=(addition,))]  # on disk when addPassword was sent
    assert stored(dest) == before._replace(pending=(addition,))  # the old value is intact, the addition recorded
    assert key_ids(service) == [old["keyId"]]
    # The rerun renews; the addition that created nothing is not mistaken for a loss.
    result, dummy = run(service, dest=str(dest), now=NOW + 60)
    assert result["action"] == "renewed" and result["retired_key_ids"] == [] and len(service.app["passwordCredentials"]) == 2
    assert stored(dest).key_id == result["key_id"] and stored(dest).previous_key_ids == (old["keyId"],)


def test_a_store_without_a_value_fails_listing_the_valid_secrets_and_removes_nothing(tmp_path):
    service = FakeGraph()
    theirs, dummy = service.plant(end=200)
    expired, dummy = service.plant(end=-1)
    dest = tmp_path / "s.json"
    with pytest.raises(sec.SecretValueMissing) as err:
        run(service, dest=str(dest), rotate=True, retire_previous=True)
    text = err.value.to_message()
    assert "dest %s holds no value for the valid secret(s) named %r" % (dest, NAME) in text and "does not exist" in text
    assert "%s (%r, expires %s, in 200 days)" % (theirs["keyId"], NAME, theirs["endDateTime"]) in text
    assert expired["keyId"] not in text and "missing_value=add" in text and "point dest at the store" in text
    assert err.value.result["unheld_key_ids"] == [theirs["keyId"]] and err.value.result["dest"] == str(dest)
    assert service.writes == [] and not dest.exists()


def test_missing_value_add_adds_a_secret_beside_the_unheld_ones(tmp_path):
    service = FakeGraph()
    theirs, dummy = service.plant(end=200)
    dest = tmp_path / "s.json"
    result, module = run(service, dest=str(dest), missing_value="add", retire_previous=True)
    assert result["action"] == "added" and result["retired_key_ids"] == [] and result["unheld_key_ids"] == [theirs["keyId"]]
    assert key_ids(service) == sorted([theirs["keyId"], result["key_id"]]) and stored(dest).key_id == result["key_id"]
    assert any("whose value dest %s does not hold: %s" % (dest, theirs["keyId"]) in w for w in module.module.items)
    assert "The other secret(s) stay valid until they expire" in result["msg"]
    again, module = run(service, dest=str(dest), retire_previous=True)  # the default again: the store holds a value now
    assert again["action"] == "none" and again["retired_key_ids"] == [] and theirs["keyId"] in key_ids(service)
    assert again["unheld_key_ids"] == [theirs["keyId"]] and removed(service) == []


def test_two_checkouts_with_their_own_store_never_remove_each_others_secret(tmp_path):
    service = FakeGraph()
    person, dummy = service.plant(start=-20, end=300)
    stores = [tmp_path / "a" / "s.json", tmp_path / "b" / "s.json"]
    for run_number, dest in enumerate(stores * 2):
        result, dummy = run(service, dest=str(dest), missing_value="add", rotate=True, retire_previous=True, now=NOW + 60 * run_number)
        held = {stored(path).key_id for path in stores if path.exists()}
        assert held | {person["keyId"]} <= set(key_ids(service)), run_number
        assert person["keyId"] not in result["retired_key_ids"] and not held & set(result["retired_key_ids"])
    assert key_ids(service) == sorted([person["keyId"], stored(stores[0]).key_id, stored(stores[1]).key_id])
    # Each store retired only its own earlier secret when it rotated.
    assert len(removed(service)) == 2


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"tenant_id": "99999999-8888-7777-6666-555555555555"}, "holds the secret of another tenant"),
        ({"app_id": "0a0a0a0a-0000-0000-0000-00000000000a"}, "holds the secret of another application"),
        ({"display_name": "Other"}, "holds the secret named 'Other' of this application"),
    ],
)
def test_a_record_of_another_tenant_app_or_name_is_left_alone_before_any_write(tmp_path, fields, fragment):
    service = FakeGraph()
    old, value = service.plant(end=10)
    dest = tmp_path / "s.json"
    store_record(dest, service, old, value, **fields)
    content = dest.read_bytes()
    for kwargs in ({}, {"rotate": True, "retire_previous": True}, {"check_mode": True}):
        with pytest.raises(ConfigurationError, match=fragment) as err:
            run(service, dest=str(dest), **kwargs)
        assert err.value.option == "dest" and "nothing was changed" in err.value.to_message()
    assert service.writes == [] and dest.read_bytes() == content


def test_secrets_with_other_names_are_never_touched(tmp_path):
    service = FakeGraph()
    other, dummy = service.plant(name="Other", start=-1, end=700)
    result, dummy = run(service, dest=str(tmp_path / "s.json"), retire_previous=True, rotate=True)
    assert other in service.app["passwordCredentials"] and result["retired_key_ids"] == []
    result, dummy = run(service, state="absent")
    assert service.names() == ["Other"]


def test_absent_removes_its_own_and_deletes_a_dest_holding_one(tmp_path):
    service = FakeGraph()
    first, value = service.plant()
    second, dummy = service.plant()
    dest = tmp_path / "s.json"
    store_record(dest, service, first, value)
    result, module = run(service, check_mode=True, state="absent", dest=str(dest))
    assert result["changed"] and result["dest_removed"] and dest.exists() and service.writes == []
    result, module = run(service, state="absent", dest=str(dest))
    assert result["action"] == "removed" and sorted(result["retired_key_ids"]) == sorted([first["keyId"], second["keyId"]])
    assert not dest.exists() and service.app["passwordCredentials"] == []
    assert module.diff[1] == {"secrets": []} and len(module.diff[0]["secrets"]) == 2
    result, dummy = run(service, state="absent", dest=str(dest))
    assert result["changed"] is False and result["action"] == "none"


def test_absent_with_a_dest_that_is_not_a_record_removes_nothing(tmp_path):
    service = FakeGraph()
    first, dummy = service.plant()
    dest = tmp_path / "s.json"
    dest.write_text("not a record")
    with pytest.raises(ConfigurationError, match="not a secret record"):
        run(service, state="absent", dest=str(dest))
    assert service.writes == [] and key_ids(service) == [first["keyId"]]


def test_absent_of_a_secret_already_gone_is_not_a_change():
    service = FakeGraph()
    first, dummy = service.plant()
    real = service.__call__

    def racing(sent):
        if sent.url.endswith("/removePassword"):
            service.app["passwordCredentials"] = []  # removed by someone else meanwhile
        return real(sent)

    module = FakeModule(racing, state="absent")
    result = sec.run_pc_app_secret(module, now=NOW)
    assert result["changed"] is False and result["retired_key_ids"] == []


def test_missing_application():
    service = FakeGraph()
    service.app_visible = False
    with pytest.raises(ConfigurationError, match="No application matches unique_name 'pc-web'"):
        run(service)
    result, module = run(service, check_mode=True)
    assert result["changed"] and result["action"] == "created" and "does not exist" not in result["msg"]
    assert "(yet)" in module.module.items[0]
    result, dummy = run(service, state="absent")
    assert result["changed"] is False and "no secret to remove" in result["msg"]


def test_dest_of_another_application_fails_before_any_write(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    dest.write_text(json.dumps({"key_id": "k", "secret": "v", "app_id": "someone-else"}))
    with pytest.raises(ConfigurationError, match="another application"):
        run(service, dest=str(dest))
    assert service.writes == [] and json.loads(dest.read_text())["secret"] == "v"


def test_end_date_time_inside_the_window_is_created_once_with_a_warning():
    service = FakeGraph()
    end = iso(NOW + 10 * DAY)
    result, module = run(service, end_date_time=end)
    assert result["action"] == "created" and result["end_date_time"] == end
    assert "within renew_before_days" in module.module.items[0]
    again, dummy = run(service, end_date_time=end)
    assert again["action"] == "none"


def test_the_tenant_id_comes_from_the_token_when_it_has_one(tmp_path):
    import base64

    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    service = FakeGraph()
    module = FakeModule(service, dest=str(tmp_path / "s.json"), tenant_id="contoso.onmicrosoft.com")
    guid = "99999999-8888-7777-6666-555555555555"
    module.graph.token_provider = lambda resource: "%s.%s.sig" % (part({"alg": "none"}), part({"tid": guid}))
    sec.run_pc_app_secret(module, now=NOW)
    assert json.loads((tmp_path / "s.json").read_text())["tenant_id"] == guid
