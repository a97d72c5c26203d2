# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Private files: folders no one else can write, bounded reads, atomic 0600 writes, bounded locks.

One set of rules for every file that holds a secret or a token (the file secret store, the token
cache, ``webapp_secret_file``):
- a folder is private when the running user owns it and neither group nor others can write it;
  another user who can write the folder could swap files in it (read a new secret, plant a token);
- a file is read only when it is a regular file of at most ``MAX_SECRET_FILE_BYTES``: opened without
  following a symbolic link and without blocking (a FIFO would hang the read), checked with ``fstat``
  on the descriptor that is then read, so what is checked is what is read;
- a file is written through the descriptor that created it (``O_CREAT|O_EXCL|O_NOFOLLOW``), made 0600
  with ``fchmod``, ``fsync``-ed, renamed over the target, and the folder is ``fsync``-ed;
- a file that is created once and never replaced (the token cache's salt) is linked into place, so
  that of concurrent creators the first one's file stays;
- a lock is an ``flock`` on a lock file, waited for up to a bound; the timeout names who holds it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import stat
import time
import typing as t
import uuid

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no locking (documented)
    fcntl = None  # type: ignore[assignment]

from ._errors import ConfigurationError, PartnerCenterCollectionError

MAX_SECRET_FILE_BYTES = 1 << 20
LOCK_POLL_SECONDS = 0.1
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class LockTimeout(PartnerCenterCollectionError):
    """Another process held the lock for longer than the bound."""

    kind = "lock_timeout"


def user_name(uid: int) -> str:
    """``name (uid N)`` of a user id, or ``uid N`` when it has no name."""
    try:
        return "%s (uid %d)" % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return "uid %d" % uid


def folder_problem(path: str) -> str | None:
    """Why ``path`` is not a private folder of the running user, or None when it is."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return "%s cannot be read: %s" % (path, exc.strerror or exc)
    if not stat.S_ISDIR(info.st_mode):
        return "%s is not a folder" % path
    if info.st_uid != os.geteuid():
        return "folder %s belongs to %s, not to the user running the module, %s" % (
            path, user_name(info.st_uid), user_name(os.geteuid()))
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "folder %s can be written by %s (mode %04o)" % (
            path, "group and others" if info.st_mode & stat.S_IWGRP and info.st_mode & stat.S_IWOTH
            else "its group" if info.st_mode & stat.S_IWGRP else "other users", stat.S_IMODE(info.st_mode))
    return None


def ensure_private_folder(path: str, *, option: str | None, what: str) -> list[str]:
    """Create the missing folders of ``path`` (0700) and check that ``path`` is private.

    Returns the folders it created (so a caller can undo them). Raises ConfigurationError naming
    ``what`` and ``option`` when a folder cannot be created or is not private.
    """
    missing = []
    folder = path
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    created = []
    try:
        for directory in reversed(missing):
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                # Another run (an Ansible fork) made it first: fine if it is private, which the check
                # below requires of the folder itself (a folder another user made is refused there).
                continue
            created.append(directory)
    except OSError as exc:
        raise ConfigurationError(
            "Cannot create the folder %s for %s: %s." % (missing[0], what, exc.strerror or exc), option=option
        ) from None
    require_private_folder(path, option=option, what=what)
    return created


def require_private_folder(path: str, *, option: str | None, what: str) -> None:
    """Raise ConfigurationError naming ``what`` and ``option`` when ``path`` is not a private folder."""
    problem = folder_problem(path)
    if problem:
        raise ConfigurationError(
            "Refusing to keep %s in %s: %s. Another user who can write there could read or replace it. Use a folder "
            "that you own with mode 0700 (chmod 700 it, or choose another)." % (what, path, problem),
            option=option,
        )


def read_private_file(path: str, *, option: str | None, what: str, max_bytes: int = MAX_SECRET_FILE_BYTES,
                      require_private: bool = False) -> tuple[bytes | None, list[str]]:
    """The content of ``path`` (None when it does not exist) and warnings about it.

    Refuses (ConfigurationError) anything that is not a regular file of at most ``max_bytes``; with
    ``require_private`` also a file that the running user does not own. A file that group or others
    can read is reported in the warnings (the caller decides whether to tighten it).
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        raise ConfigurationError(
            "Cannot read %s %s: %s." % (what, path, "it is a symbolic link" if os.path.islink(path) else exc.strerror or exc),
            option=option,
        ) from None
    try:
        info = os.fstat(fd)  # of the descriptor that is read: what is checked is what is read
        if not stat.S_ISREG(info.st_mode):
            raise ConfigurationError("%s %s is not a regular file; nothing was read." % (what.capitalize(), path), option=option)
        if info.st_size > max_bytes:
            raise ConfigurationError(
                "%s %s is %d bytes, more than the %d bytes such a file can hold; nothing was read."
                % (what.capitalize(), path, info.st_size, max_bytes), option=option)
        if require_private and info.st_uid != os.geteuid():
            raise ConfigurationError(
                "%s %s belongs to %s, not to the user running the module; it was not used." % (
                    what.capitalize(), path, user_name(info.st_uid)), option=option)
        content = _read_at_most(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(content) > max_bytes:
        raise ConfigurationError("%s %s grew beyond %d bytes while being read." % (what.capitalize(), path, max_bytes),
                                 option=option)
    warnings = []
    if stat.S_IMODE(info.st_mode) & 0o077:
        warnings.append("%s %s has mode %04o: other users may read it" % (what.capitalize(), path, stat.S_IMODE(info.st_mode)))
    return content, warnings


def _read_at_most(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``fd``, to its end."""
    chunks = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def tighten_mode(path: str) -> bool:
    """Bring an existing file of the running user back to 0600; True when its mode was looser."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or not stat.S_IMODE(info.st_mode) & 0o077:
            return False
        os.fchmod(fd, 0o600)
        return True
    finally:
        os.close(fd)


def temporary_name(path: str) -> str:
    """A fresh name next to ``path`` for a file that is renamed over it (``.<name>.<hex>.tmp``)."""
    return os.path.join(os.path.dirname(path), ".%s.%s.tmp" % (os.path.basename(path), uuid.uuid4().hex))


def remove_temporaries(path: str) -> None:
    """Remove the files :func:`temporary_name` made for ``path`` that killed writers left (best effort;
    call with the lock of ``path`` held, so that no live writer's file is removed)."""
    pattern = re.compile(r"^\.%s\.[0-9a-f]{32}\.tmp$" % re.escape(os.path.basename(path)))
    folder = os.path.dirname(path)
    with contextlib.suppress(OSError):
        for entry in os.listdir(folder):
            if pattern.match(entry):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, entry))


def fsync_folder(path: str) -> None:
    """Make a rename in ``path`` durable (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_private_file(path: str, content: bytes) -> None:
    """Atomically replace ``path`` with ``content``, mode 0600, through the descriptor that created it."""
    tmp = temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask made of the mode
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(os.path.dirname(path))


def create_private_file(path: str, content: bytes) -> None:
    """Create ``path`` with ``content`` (0600) unless it exists, atomically: of concurrent creators, the
    first one's file stays (written to a fresh name, then hard-linked into place). Raises OSError."""
    tmp = temporary_name(path)
    write_private_file(tmp, content)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def lock_holder(fd: int) -> str:
    """Who holds the flock on the open file ``fd``: ``process 123 (python3) of user root (uid 0)``.

    Linux lists every lock in /proc/locks by device and inode; elsewhere, or when it cannot be told,
    the lock file's owner is named.
    """
    info = os.fstat(fd)
    wanted = "%02x:%02x:%d" % (os.major(info.st_dev), os.minor(info.st_dev), info.st_ino)
    with contextlib.suppress(OSError):
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a waiter's line has "->" after the number)
                if "FLOCK" not in fields or "->" in fields:
                    continue
                try:
                    pid = int(fields[4])
                except (IndexError, ValueError):
                    continue
                if fields[5] != wanted:
                    continue
                if pid == os.getpid():
                    continue
                return _describe_process(pid)
    return "a process (the lock file belongs to %s)" % user_name(info.st_uid)


def _describe_process(pid: int) -> str:
    try:
        with open("/proc/%d/comm" % pid, encoding="utf-8", errors="replace") as handle:
            command = handle.read().strip()
        uid = os.stat("/proc/%d" % pid).st_uid
    except OSError:
        return "process %d" % pid
    return "process %d (%s) of user %s" % (pid, command, user_name(uid))


@contextlib.contextmanager
def file_lock(path: str, *, timeout: float, what: str, option: str | None = "lock_timeout",
              clock: t.Callable[[], float] = time.monotonic,
              sleep: t.Callable[[float], None] = time.sleep) -> t.Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created 0600), waited for up to ``timeout`` seconds.

    The kernel releases it when the process ends, however it ends: a killed run leaves no stale
    lock. On timeout raises LockTimeout naming the holder; nothing has been changed by then.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _NONBLOCK, 0o600)
    except OSError as exc:
        raise ConfigurationError(
            "Cannot open the lock file %s of %s: %s. Nothing was changed." % (path, what, exc.strerror or exc), option=option
        ) from None
    try:
        deadline = clock() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if clock() >= deadline:
                    raise LockTimeout(
                        "%s is locked by %s: waited %g seconds for %s (%s); nothing was changed." % (
                            what.capitalize(), lock_holder(fd), timeout, path, option or "timeout"),
                        hint="Let the other run finish and rerun, or stop the process that holds the lock. "
                             "%s sets how long to wait." % (option or "The timeout"),
                    ) from None
                sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing releases the lock
