# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_private_files: private folders, bounded reads of regular files only, atomic 0600 writes through
the creating descriptor, and bounded locks that name who holds them (held by a second user, nobody)."""

from __future__ import annotations

import os
import pwd
import stat
import threading
import time

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _private_files as pf
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError
from tests.second_user import NOBODY, needs_root, shared_folder, start_as_nobody

MIB = 1 << 20


def nobody():
    return pwd.getpwnam(NOBODY)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def within(seconds, func, *args, **kwargs):
    """``func(*args, **kwargs)`` run in a thread that must end within ``seconds``: its result or its exception."""
    outcome = {}

    def target():
        try:
            outcome["value"] = func(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "%s did not return within %s seconds" % (getattr(func, "__name__", func), seconds)
    return outcome


def read(path, **kwargs):
    kwargs.setdefault("option", "dest")
    kwargs.setdefault("what", "the test file")
    return pf.read_private_file(str(path), **kwargs)


# -------------------------------------------------------------------------------------------------
# folder_problem, ensure_private_folder, require_private_folder
# -------------------------------------------------------------------------------------------------


def test_a_private_folder_has_no_problem(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir(mode=0o700)
    assert pf.folder_problem(str(folder)) is None
    os.chmod(folder, 0o755)  # others may read and enter, but not write
    assert pf.folder_problem(str(folder)) is None


@pytest.mark.parametrize(
    ("folder_mode", "who"),
    [(0o770, "its group"), (0o730, "its group"), (0o707, "other users"), (0o703, "other users"), (0o777, "group and others"),
     (0o1777, "group and others")],
)
def test_a_folder_others_can_write_is_a_problem(tmp_path, folder_mode, who):
    folder = tmp_path / "f"
    folder.mkdir()
    os.chmod(folder, folder_mode)
    problem = pf.folder_problem(str(folder))
    assert problem == "folder %s can be written by %s (mode %04o)" % (folder, who, folder_mode)


@needs_root
def test_a_folder_of_another_user_is_a_problem(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, nobody().pw_uid, nobody().pw_gid)
    problem = pf.folder_problem(str(folder))
    assert problem is not None and str(folder) in problem
    assert "belongs to %s (uid %d)" % (NOBODY, nobody().pw_uid) in problem and "root (uid 0)" in problem


def test_a_missing_folder_or_a_file_is_a_problem(tmp_path):
    assert "cannot be read" in pf.folder_problem(str(tmp_path / "missing"))
    (tmp_path / "file").write_text("x")
    assert pf.folder_problem(str(tmp_path / "file")) == "%s is not a folder" % (tmp_path / "file")


def test_ensure_private_folder_creates_0700_folders_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        target = tmp_path / "a" / "b" / "c"
        created = pf.ensure_private_folder(str(target), option="dest", what="the test value")
    finally:
        os.umask(old)
    assert created == [str(tmp_path / "a"), str(tmp_path / "a" / "b"), str(target)]
    assert [mode(p) for p in created] == [0o700, 0o700, 0o700]
    assert pf.ensure_private_folder(str(target), option="dest", what="the test value") == []


def test_ensure_private_folder_refuses_an_existing_folder_others_can_write(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(ConfigurationError) as err:
        pf.ensure_private_folder(str(shared), option="dest", what="the test value")
    text = err.value.to_message()
    assert "Refusing to keep the test value in %s" % shared in text and "group and others" in text and "0700" in text
    assert err.value.option == "dest"


def test_ensure_private_folder_under_a_file_says_so(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="Cannot create the folder .*file/sub for the test value"):
        pf.ensure_private_folder(str(tmp_path / "file" / "sub"), option="dest", what="the test value")


# -------------------------------------------------------------------------------------------------
# read_private_file: regular files of at most 1 MiB only
# -------------------------------------------------------------------------------------------------


def test_read_a_private_file(tmp_path):
    path = tmp_path / "s"
    path.write_bytes(b"value")
    os.chmod(path, 0o600)
    assert read(path) == (b"value", [])
    assert read(tmp_path / "missing") == (None, [])


def test_read_up_to_the_limit_and_not_a_byte_more(tmp_path):
    path = tmp_path / "s"
    path.write_bytes(b"x" * MIB)
    os.chmod(path, 0o600)
    content, warnings = read(path)
    assert len(content) == MIB == pf.MAX_SECRET_FILE_BYTES and warnings == []
    path.write_bytes(b"x" * (MIB + 1))
    with pytest.raises(ConfigurationError) as err:
        read(path)
    assert "is %d bytes, more than the %d bytes" % (MIB + 1, MIB) in err.value.to_message() and err.value.option == "dest"


def test_read_refuses_dev_zero_within_seconds():
    outcome = within(5, read, "/dev/zero")
    assert isinstance(outcome.get("error"), ConfigurationError), outcome
    assert "/dev/zero is not a regular file; nothing was read" in outcome["error"].to_message()


def test_read_refuses_a_fifo_without_a_writer_within_seconds(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    outcome = within(5, read, fifo)
    assert isinstance(outcome.get("error"), ConfigurationError), outcome
    assert "is not a regular file" in outcome["error"].to_message()


def test_read_refuses_a_symbolic_link_even_to_a_private_file(tmp_path):
    target = tmp_path / "real"
    target.write_bytes(b"value")
    os.chmod(target, 0o600)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError) as err:
        read(link)
    assert "Cannot read the test file %s: it is a symbolic link." % link in err.value.to_message()


def test_read_refuses_a_folder(tmp_path):
    with pytest.raises(ConfigurationError, match="is not a regular file"):
        read(tmp_path)


def test_read_warns_about_a_mode_others_may_read(tmp_path):
    path = tmp_path / "s"
    path.write_bytes(b"value")
    os.chmod(path, 0o640)
    content, warnings = read(path)
    assert content == b"value" and warnings == ["The test file %s has mode 0640: other users may read it" % path]


@needs_root
def test_read_with_require_private_refuses_a_file_of_another_user(tmp_path):
    path = tmp_path / "s"
    path.write_bytes(b"value")
    os.chmod(path, 0o600)
    os.chown(path, nobody().pw_uid, nobody().pw_gid)
    assert read(path)[0] == b"value"  # root can read it; only require_private asks whose it is
    with pytest.raises(ConfigurationError) as err:
        read(path, require_private=True)
    assert "belongs to %s (uid %d)" % (NOBODY, nobody().pw_uid) in err.value.to_message()


# -------------------------------------------------------------------------------------------------
# tighten_mode and write_private_file
# -------------------------------------------------------------------------------------------------


def test_tighten_mode(tmp_path):
    path = tmp_path / "s"
    path.write_text("x")
    os.chmod(path, 0o644)
    assert pf.tighten_mode(str(path)) is True and mode(path) == 0o600
    assert pf.tighten_mode(str(path)) is False and mode(path) == 0o600


@needs_root
def test_tighten_mode_leaves_a_file_of_another_user_alone(tmp_path):
    path = tmp_path / "s"
    path.write_text("x")
    os.chmod(path, 0o644)
    os.chown(path, nobody().pw_uid, nobody().pw_gid)
    assert pf.tighten_mode(str(path)) is False and mode(path) == 0o644


def test_write_private_file_is_0600_even_with_umask_0(tmp_path):
    path = tmp_path / "s"
    old = os.umask(0)
    try:
        pf.write_private_file(str(path), b"secret")
    finally:
        os.umask(old)
    assert mode(path) == 0o600 and path.read_bytes() == b"secret" and os.listdir(tmp_path) == ["s"]


def test_write_private_file_replaces_a_looser_file_and_syncs_before_the_rename(tmp_path, monkeypatch):
    path = tmp_path / "s"
    path.write_text("old")
    os.chmod(path, 0o644)
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def spy_fsync(fd):
        events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
        real_fsync(fd)

    def spy_replace(src, dst):
        # What is renamed is complete, private and next to the target.
        assert os.path.dirname(src) == os.path.dirname(dst) == str(tmp_path)
        assert os.path.basename(src).startswith(".s.") and src.endswith(".tmp")
        with open(src, "rb") as handle:
            assert mode(src) == 0o600 and handle.read() == b"new"
        events.append(("replace", dst))
        real_replace(src, dst)

    monkeypatch.setattr(pf.os, "fsync", spy_fsync)
    monkeypatch.setattr(pf.os, "replace", spy_replace)
    pf.write_private_file(str(path), b"new")
    assert events == [("fsync", False), ("replace", str(path)), ("fsync", True)]
    assert mode(path) == 0o600 and path.read_bytes() == b"new"


def test_write_private_file_replaces_a_symbolic_link_without_following_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("untouched")
    path = tmp_path / "s"
    path.symlink_to(elsewhere)
    pf.write_private_file(str(path), b"new")
    assert not path.is_symlink() and path.read_bytes() == b"new" and elsewhere.read_text() == "untouched"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "s"
    path.write_text("old")

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pf.os, "replace", broken)
    with pytest.raises(OSError, match="No space left"):
        pf.write_private_file(str(path), b"new")
    assert os.listdir(tmp_path) == ["s"] and path.read_text() == "old"


# -------------------------------------------------------------------------------------------------
# file_lock
# -------------------------------------------------------------------------------------------------


def test_file_lock_is_created_0600_and_taken_in_turns(tmp_path):
    lock = tmp_path / ".s.lock"
    with pf.file_lock(str(lock), timeout=0, what="the test store"):
        assert mode(lock) == 0o600
        with pytest.raises(pf.LockTimeout) as err:
            with pf.file_lock(str(lock), timeout=0, what="the test store"):
                pytest.fail("a second holder got the lock")
        assert "The test store is locked by" in err.value.to_message() and "nothing was changed" in err.value.to_message()
    with pf.file_lock(str(lock), timeout=0, what="the test store"):  # released
        pass


def test_file_lock_waits_up_to_the_bound_in_polls(tmp_path):
    lock = tmp_path / ".s.lock"
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    with pf.file_lock(str(lock), timeout=0, what="the test store"):
        with pytest.raises(pf.LockTimeout) as err:
            with pf.file_lock(str(lock), timeout=3, what="the test store", clock=lambda: now[0], sleep=sleep):
                pass
    assert 3 <= now[0] <= 3 + pf.LOCK_POLL_SECONDS + 1e-9 and set(sleeps) == {pf.LOCK_POLL_SECONDS}
    assert "waited 3 seconds for %s (lock_timeout)" % lock in err.value.to_message()
    assert "lock_timeout sets how long to wait" in err.value.to_message()


def test_file_lock_on_a_folder_says_it_cannot_be_opened(tmp_path):
    with pytest.raises(ConfigurationError) as err:
        with pf.file_lock(str(tmp_path), timeout=0, what="the test store"):
            pass
    assert "Cannot open the lock file %s of the test store" % tmp_path in err.value.to_message()
    assert err.value.option == "lock_timeout"


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(%r, os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("ready", flush=True)
time.sleep(120)
"""


@needs_root
def test_a_lock_held_by_another_user_times_out_within_the_bound_naming_the_holder():
    with shared_folder(0o755) as folder:
        lock = folder / ".s.json.lock"
        lock.write_text("")
        os.chmod(lock, 0o644)  # nobody can open it (read-only is enough for flock)
        holder = start_as_nobody(HOLD_LOCK % str(lock))
        try:
            started = time.monotonic()
            with pytest.raises(pf.LockTimeout) as err:
                with pf.file_lock(str(lock), timeout=1, what="dest %s" % folder, option="lock_timeout"):
                    pytest.fail("got a lock that another process holds")
            waited = time.monotonic() - started
            text = err.value.to_message()
            assert 1 <= waited < 4, waited
            assert "is locked by process %d (" % holder.pid in text
            assert "of user %s (uid %d)" % (NOBODY, nobody().pw_uid) in text
            assert "waited 1 seconds for %s (lock_timeout)" % lock in text
        finally:
            holder.kill()
            holder.wait(10)
        # The kernel released the lock with its holder.
        with pf.file_lock(str(lock), timeout=2, what="dest %s" % folder):
            pass


def test_a_folder_another_run_creates_at_the_same_moment_is_no_error(tmp_path, monkeypatch):
    """Ansible forks of one rollout share the secrets folder: the one that loses the mkdir race goes on."""
    target = tmp_path / "secrets"
    real_mkdir = os.mkdir

    def racing_mkdir(path, mode=0o777):
        real_mkdir(path, 0o700)  # the other fork, a moment earlier
        raise FileExistsError(17, "File exists", str(path))

    monkeypatch.setattr(pf.os, "mkdir", racing_mkdir)
    assert pf.ensure_private_folder(str(target), option="dest", what="the secret") == []
    assert target.is_dir()
