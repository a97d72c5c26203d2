# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_secret_stores: the custody record (JSON round trip, refusal of what is not a record) and the file
store (path checks, private folder, check/read/check-and-set write, mode, lock, stale temporaries)."""

from __future__ import annotations

import json
import os
import pwd
import stat
import uuid

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _private_files
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._private_files import LockTimeout
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secret_stores import (
    FileStore,
    PendingAddition,
    SecretRecord,
    StoreConflict,
)
from tests.second_user import NOBODY, needs_root
from tests.unit.conftest import write_private

TENANT = "11111111-2222-3333-4444-555555555555"
ADDITION = PendingAddition("Partner Center", "2027-01-15T08:00:00Z", "2028-01-15T08:00:00Z")
RECORD = SecretRecord(
    tenant_id=TENANT,
    cloud="usgov",
    app_id="0a0a0a0a-0000-0000-0000-000000000001",
    key_id="0b0b0b0b-0000-0000-0000-000000000002",
    display_name="Partner Center",
    secret="abc8Q~value",
    start_date_time="2027-01-15T08:00:00Z",
    end_date_time="2028-01-15T08:00:00Z",
    previous_key_ids=("0c0c0c0c-0000-0000-0000-000000000003",),
    pending=(ADDITION,),
)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def nobody():
    return pwd.getpwnam(NOBODY)


def private_folder(tmp_path, name="store"):
    folder = tmp_path / name
    folder.mkdir(mode=0o700)
    return folder


# -------------------------------------------------------------------------------------------------
# SecretRecord
# -------------------------------------------------------------------------------------------------


def test_a_record_survives_its_json_form():
    data = json.loads(RECORD.to_json())
    assert data == {
        "tenant_id": TENANT,
        "cloud": "usgov",
        "app_id": RECORD.app_id,
        "key_id": RECORD.key_id,
        "display_name": "Partner Center",
        "secret": "abc8Q~value",
        "start_date_time": "2027-01-15T08:00:00Z",
        "end_date_time": "2028-01-15T08:00:00Z",
        "previous_key_ids": ["0c0c0c0c-0000-0000-0000-000000000003"],
        "pending": [{"display_name": "Partner Center", "start_date_time": "2027-01-15T08:00:00Z",
                     "end_date_time": "2028-01-15T08:00:00Z", "claim_id": ""}],
    }
    assert SecretRecord.from_mapping(data) == RECORD
    assert RECORD.to_json().endswith(b"\n")


def test_a_minimal_record_and_held_key_id():
    record = SecretRecord.from_mapping({"app_id": "app", "key_id": "K1", "secret": "v"})
    assert (record.app_id, record.key_id, record.held_key_id, record.previous_key_ids, record.pending) == ("app", "K1", "k1", (), ())
    assert SecretRecord.from_mapping({"app_id": "app", "key_id": "K1"}).held_key_id == ""  # no value: holds nothing
    assert SecretRecord.from_mapping({"app_id": "app", "key_id": "K1", "secret": ""}).held_key_id == ""
    assert SecretRecord(app_id="app", secret="v").held_key_id == ""


def test_a_record_keeps_only_well_formed_fields():
    record = SecretRecord.from_mapping({
        "app_id": "app",
        "key_id": 5,
        "secret": ["v"],
        "tenant_id": None,
        "previous_key_ids": ["AB", 3, None, "cd"],
        "pending": [ADDITION.to_dict(), {"display_name": "x"}, "junk", dict(ADDITION.to_dict(), end_date_time=7)],
    })
    assert (record.key_id, record.secret, record.tenant_id) == (None, None, None)
    assert record.previous_key_ids == ("ab", "cd") and record.pending == (ADDITION,)


@pytest.mark.parametrize("data", [[1], "text", 5, None, {}, {"secret": "v", "key_id": "k"}, {"app_id": ""}, {"app_id": None}])
def test_what_is_not_a_record_is_refused(data):
    with pytest.raises(ValueError, match="not a secret record"):
        SecretRecord.from_mapping(data)


# -------------------------------------------------------------------------------------------------
# FileStore.from_option
# -------------------------------------------------------------------------------------------------


def test_from_option_checks_the_path(tmp_path):
    store = FileStore.from_option(str(tmp_path / "a" / "b" / "s.json"), lock_timeout=7)
    assert (store.path, store.folder, store.lock_timeout, store.option) == (
        str(tmp_path / "a" / "b" / "s.json"), str(tmp_path / "a" / "b"), 7, "dest")
    assert store.lock_path == str(tmp_path / "a" / "b" / ".s.json.lock")
    assert store.description == "dest %s" % store.path
    with pytest.raises(ConfigurationError, match="is a directory"):
        FileStore.from_option(str(tmp_path))
    with pytest.raises(ConfigurationError, match="must not be empty"):
        FileStore.from_option(" ")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigurationError, match="not a regular file"):
        FileStore.from_option(str(fifo))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigurationError, match="is not a folder"):
        FileStore.from_option(str(blocker / "sub" / "s.json"))


def test_from_option_refuses_a_symbolic_link_even_to_a_regular_file(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("{}")
    (tmp_path / "link.json").symlink_to(real)
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere")
    for name in ("link.json", "dangling.json"):
        with pytest.raises(ConfigurationError, match="symbolic link") as err:
            FileStore.from_option(str(tmp_path / name))
        assert err.value.option == "dest"


def test_from_option_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert FileStore.from_option("s.json").path == str(tmp_path / "s.json")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert FileStore.from_option("~/x/s.json").path == str(tmp_path / "x" / "s.json")


# -------------------------------------------------------------------------------------------------
# FileStore.check: a private folder, a private file
# -------------------------------------------------------------------------------------------------


def test_check_without_create_changes_nothing_and_with_create_makes_private_folders(tmp_path):
    store = FileStore(str(tmp_path / "a" / "b" / "s.json"))
    assert store.check(create=False) == [] and not (tmp_path / "a").exists()
    old = os.umask(0)
    try:
        assert store.check(create=True) == []
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700
    assert os.listdir(tmp_path / "a" / "b") == []  # neither the file nor the lock yet


@pytest.mark.parametrize("create", [False, True])
@pytest.mark.parametrize("folder_mode", [0o777, 0o770, 0o707, 0o1777])
def test_check_refuses_a_folder_others_can_write(tmp_path, create, folder_mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, folder_mode)
    store = FileStore(str(folder / "s.json"))
    with pytest.raises(ConfigurationError) as err:
        store.check(create=create)
    text = err.value.to_message()
    assert "Refusing to keep the secret's value (dest) in %s" % folder in text and "can be written by" in text
    assert err.value.option == "dest" and os.listdir(folder) == []


@needs_root
@pytest.mark.parametrize("create", [False, True])
def test_check_refuses_a_folder_of_another_user(tmp_path, create):
    folder = private_folder(tmp_path)
    os.chown(folder, nobody().pw_uid, nobody().pw_gid)
    with pytest.raises(ConfigurationError) as err:
        FileStore(str(folder / "s.json")).check(create=create)
    assert "belongs to %s (uid %d)" % (NOBODY, nobody().pw_uid) in err.value.to_message()
    assert os.listdir(folder) == []


@needs_root
def test_check_refuses_a_file_of_another_user(tmp_path):
    folder = private_folder(tmp_path)
    path = folder / "s.json"
    write_private(str(path), RECORD.to_json().decode())
    os.chown(path, nobody().pw_uid, nobody().pw_gid)
    with pytest.raises(ConfigurationError, match="belongs to %s" % NOBODY):
        FileStore(str(path)).check(create=True)


def test_a_looser_file_mode_is_tightened_with_a_warning_only_when_create(tmp_path):
    folder = private_folder(tmp_path)
    path = folder / "s.json"
    write_private(str(path), RECORD.to_json().decode())
    os.chmod(path, 0o644)
    store = FileStore(str(path))
    [warning] = store.check(create=False)
    assert warning.startswith("Dest %s has mode 0644" % path) and "a real run sets it to 0600" in warning
    assert mode(path) == 0o644
    [warning] = store.check(create=True)
    assert "has mode 0644" in warning and "its mode was set to 0600" in warning
    assert mode(path) == 0o600
    assert store.check(create=True) == [] and store.check(create=False) == []


# -------------------------------------------------------------------------------------------------
# FileStore.read
# -------------------------------------------------------------------------------------------------


def test_read_a_missing_file(tmp_path):
    snapshot = FileStore(str(tmp_path / "s.json")).read()
    assert snapshot.record is None and snapshot.version is None and "%s does not exist" % (tmp_path / "s.json") in snapshot.reason


def test_read_a_record(tmp_path):
    path = tmp_path / "s.json"
    write_private(str(path), RECORD.to_json().decode())
    snapshot = FileStore(str(path)).read()
    assert snapshot.record == RECORD and snapshot.reason == "" and snapshot.version is not None
    write_private(str(path), RECORD._replace(secret=None).to_json().decode())
    snapshot = FileStore(str(path)).read()
    assert snapshot.record.held_key_id == "" and snapshot.reason == "%s holds no value" % path


@pytest.mark.parametrize(
    "content",
    [b"not json", b"\xff\xfe", b"[1]", b'{"key_id": "k"}', b'{"secret": "v"}', b'{"key_id": "k", "secret": "v", "app_id": ""}', b""],
)
def test_read_refuses_a_file_that_is_not_a_record_and_leaves_it(tmp_path, content):
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError) as err:
        FileStore(str(path)).read()
    assert "dest %s exists but is not a secret record" % path in err.value.to_message()
    assert "nothing was changed" in err.value.to_message() and err.value.option == "dest"
    assert path.read_bytes() == content


def test_read_refuses_a_file_larger_than_1_mib(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b" " * (_private_files.MAX_SECRET_FILE_BYTES + 1))
    with pytest.raises(ConfigurationError, match="more than the 1048576 bytes"):
        FileStore(str(path)).read()


def test_read_refuses_a_symbolic_link(tmp_path):
    real = tmp_path / "real.json"
    write_private(str(real), RECORD.to_json().decode())
    (tmp_path / "s.json").symlink_to(real)
    with pytest.raises(ConfigurationError, match="symbolic link"):
        FileStore(str(tmp_path / "s.json")).read()


def test_the_option_names_the_file_in_messages(tmp_path):
    path = tmp_path / "web.json"
    path.write_text("junk")
    store = FileStore(str(path), option="webapp_secret_file")
    with pytest.raises(ConfigurationError) as err:
        store.read()
    assert err.value.option == "webapp_secret_file" and "webapp_secret_file %s" % path in err.value.to_message()


# -------------------------------------------------------------------------------------------------
# FileStore.write: atomic, private, check-and-set
# -------------------------------------------------------------------------------------------------


def test_write_is_private_atomic_and_makes_private_parents(tmp_path, monkeypatch):
    path = tmp_path / "a" / "b" / "secret.json"
    replaced, synced = [], []
    real_replace, real_fsync = os.replace, os.fsync

    def spy_replace(src, dst):
        # At the moment of the rename the temporary file is complete, private and next to dest.
        assert os.path.dirname(src) == os.path.dirname(dst)
        assert stat.S_IMODE(os.stat(src).st_mode) == 0o600
        with open(src, encoding="utf-8") as handle:
            assert json.load(handle)["secret"] == RECORD.secret
        replaced.append((src, dst))
        real_replace(src, dst)

    def spy_fsync(fd):
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(_private_files.os, "replace", spy_replace)
    monkeypatch.setattr(_private_files.os, "fsync", spy_fsync)
    store = FileStore(str(path))
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        version = store.write(RECORD, None)
    finally:
        os.umask(old_umask)
    assert replaced == [(replaced[0][0], str(path))] and len(synced) >= 1
    assert mode(tmp_path / "a") == 0o700 and mode(tmp_path / "a" / "b") == 0o700 and mode(path) == 0o600
    assert json.loads(path.read_text()) == json.loads(RECORD.to_json())
    assert os.listdir(path.parent) == ["secret.json"]  # no temporary file left
    assert store.read() == (RECORD, "", version, None)


def test_write_replaces_an_existing_readable_file_with_a_private_one(tmp_path):
    path = tmp_path / "secret.json"
    path.write_bytes(RECORD._replace(secret="old").to_json())
    os.chmod(path, 0o644)
    store = FileStore(str(path))
    store.write(RECORD, store.read().version)
    assert mode(path) == 0o600 and store.read().record == RECORD


def test_write_is_check_and_set(tmp_path):
    path = tmp_path / "s.json"
    store = FileStore(str(path))
    first = store.write(RECORD, None)
    with pytest.raises(StoreConflict) as err:
        store.write(RECORD._replace(secret="mine"), None)  # the file appeared since this run read it
    assert "changed while this run was using it; nothing was overwritten" in err.value.to_message()
    assert store.read().record == RECORD
    # Another runner writes in between: the version this run read is stale.
    other = FileStore(str(path)).write(RECORD._replace(secret="theirs"), first)
    assert other != first
    with pytest.raises(StoreConflict):
        store.write(RECORD._replace(secret="mine"), first)
    assert store.read().record.secret == "theirs"
    # Deleted meanwhile: the version is no longer the one read either.
    store.delete()
    with pytest.raises(StoreConflict):
        store.write(RECORD, other)
    assert not path.exists()
    assert store.write(RECORD, None) == store.read().version


def test_write_refuses_a_folder_that_became_writable_by_others(tmp_path):
    folder = private_folder(tmp_path)
    store = FileStore(str(folder / "s.json"))
    version = store.write(RECORD, None)
    os.chmod(folder, 0o777)
    with pytest.raises(ConfigurationError, match="can be written by group and others"):
        store.write(RECORD._replace(secret="new"), version)
    assert store.read().record == RECORD


def test_delete(tmp_path):
    path = tmp_path / "s.json"
    store = FileStore(str(path))
    store.write(RECORD, None)
    store.delete()
    assert not path.exists()
    store.delete()  # already gone: fine


# -------------------------------------------------------------------------------------------------
# Lock and stale temporaries
# -------------------------------------------------------------------------------------------------


def test_runs_on_one_file_take_turns(tmp_path):
    path = tmp_path / "s.json"
    with FileStore(str(path)).lock():
        assert mode(tmp_path / ".s.json.lock") == 0o600
        with pytest.raises(LockTimeout) as err:
            with FileStore(str(path), lock_timeout=0).lock():
                pytest.fail("two runs held the lock of one store")
        assert "Dest %s is locked by" % path in err.value.to_message() and "lock_timeout" in err.value.to_message()
    with FileStore(str(path), lock_timeout=0).lock():  # released
        pass


def test_stale_temporaries_of_this_file_are_removed_and_nothing_else(tmp_path):
    store = FileStore(str(tmp_path / "s.json"))
    stale = [tmp_path / (".s.json.%s.tmp" % uuid.uuid4().hex) for dummy in range(2)]
    others = [
        tmp_path / (".other.json.%s.tmp" % uuid.uuid4().hex),
        tmp_path / ".s.json.notes.tmp",
        tmp_path / (".s.json.%s.tmp" % uuid.uuid4().hex.upper()),
        tmp_path / ("s.json.%s.tmp" % uuid.uuid4().hex),
        tmp_path / ".s.json.lock",
    ]
    for path in stale + others:
        path.write_text("x")
    store.remove_stale_temporaries()
    assert not any(path.exists() for path in stale) and all(path.exists() for path in others)
    FileStore(str(tmp_path / "missing" / "s.json")).remove_stale_temporaries()  # no folder: nothing to do
