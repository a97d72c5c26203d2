# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Secret stores: where the value of a client secret is kept, with the record that proves custody.

A store holds one :class:`SecretRecord` per secret: the value, and beside it what any runner needs
to know which secret is in use (app id, key id, tenant, cloud, dates), the secrets it held before
(``previous_key_ids``: what ``retire_previous`` may remove) and the additions in flight
(``pending``: written *before* addPassword, so that a secret whose value was lost by a crash or a
lost response can be proven to be this store's own, and removed, by the next run).

Every store offers the same operations: ``check`` (before any request), ``lock`` (runs on one
store take turns), ``read`` (a snapshot with a version), ``write`` (check-and-set against that
version) and ``delete``. The local file is the first backend; remote, versioned stores shared by
many runners (Azure Key Vault, OpenBao/HashiCorp Vault) fit the same interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import typing as t

from ._errors import ConfigurationError, PartnerCenterCollectionError
from ._private_files import (
    MAX_SECRET_FILE_BYTES,
    ensure_private_folder,
    file_lock,
    fsync_folder,
    read_private_file,
    remove_temporaries,
    require_private_folder,
    tighten_mode,
    write_private_file,
)
from ._timestamps import parse_datetime

DEFAULT_LOCK_TIMEOUT = 120
RECORD_FIELDS = ("tenant_id", "cloud", "app_id", "key_id", "display_name", "secret", "start_date_time", "end_date_time")


class StoreConflict(PartnerCenterCollectionError):
    """The store changed between this run's read and its write (check-and-set failed)."""

    kind = "store_conflict"


class PendingAddition(t.NamedTuple):
    """A secret this store's run was about to create: its name and dates identify it afterwards.

    ``claim_id`` names the run's claim: stores shared by runners that do not take turns through a
    lock let the first claim go ahead and make the others wait for it.
    """

    display_name: str
    start_date_time: str
    end_date_time: str
    claim_id: str = ""

    def to_dict(self) -> dict[str, str]:
        return dict(self._asdict())


class SecretRecord(t.NamedTuple):
    """What a store holds for one secret. ``secret`` is the value: never returned or shown."""

    tenant_id: str | None = None
    cloud: str | None = None
    app_id: str | None = None
    key_id: str | None = None
    display_name: str | None = None
    secret: str | None = None
    start_date_time: str | None = None
    end_date_time: str | None = None
    previous_key_ids: tuple[str, ...] = ()
    pending: tuple[PendingAddition, ...] = ()

    @property
    def held_key_id(self) -> str:
        """The key id whose value the record holds (lower case), or ``""``."""
        return str(self.key_id or "").lower() if self.secret else ""

    def to_json(self) -> bytes:
        data: dict[str, t.Any] = {name: getattr(self, name) for name in RECORD_FIELDS}
        data["previous_key_ids"] = list(self.previous_key_ids)
        data["pending"] = [p.to_dict() for p in self.pending]
        return (json.dumps(data, indent=2) + "\n").encode("utf-8")

    @classmethod
    def from_mapping(cls, data: t.Mapping[str, t.Any]) -> SecretRecord:
        """A record from its JSON form; raises ValueError when it is not one."""
        if not isinstance(data, dict) or not data.get("app_id"):
            raise ValueError("not a secret record")
        fields = {name: data.get(name) if isinstance(data.get(name), str) else None for name in RECORD_FIELDS}
        listed = data.get("previous_key_ids")
        previous = tuple(k.lower() for k in listed if isinstance(k, str)) if isinstance(listed, list) else ()
        pending = []
        for entry in data.get("pending") if isinstance(data.get("pending"), list) else ():
            if isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in PendingAddition._fields[:3]):
                pending.append(PendingAddition(*(str(entry.get(k) or "") for k in PendingAddition._fields)))
        return cls(previous_key_ids=previous, pending=tuple(pending), **fields)


class Snapshot(t.NamedTuple):
    """A store's content as read: the record (or None and why there is none), its version, and
    another runner's addition in flight (a claim younger than the wait bound), if any."""

    record: SecretRecord | None
    reason: str
    version: t.Any
    open_claim: PendingAddition | None = None


def in_flight(record: SecretRecord | None, now: float, window: float) -> PendingAddition | None:
    """The oldest pending addition of ``record`` made after its value and less than ``window`` ago.

    A pending addition older than the value was resolved (or lost, and is only a proof now); one
    older than ``window`` was abandoned by a run that died.
    """
    if record is None:
        return None
    stored = parse_datetime(record.start_date_time) if record.secret else None
    for addition in record.pending:
        started = parse_datetime(addition.start_date_time)
        if started is None or (stored is not None and started <= stored):
            continue
        if now - started < window:
            return addition
    return None


class SecretStore:
    """What the secret lifecycle needs from a store; each backend implements it.

    ``serialised`` stores make concurrent runs take turns through ``lock()`` (a local file); the
    others are shared by runners on many machines: a run that finds another runner's claim in
    flight waits for it, and ``claim`` raises StoreConflict when another runner claimed first.
    """

    kind = ""
    option = "store"
    path: str | None = None
    serialised = False
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT

    @property
    def description(self) -> str:
        raise NotImplementedError

    def check(self, *, create: bool) -> list[str]:
        """Refuse what is wrong before any request; returns warnings."""
        return []

    def lock(self) -> t.ContextManager[None]:
        return contextlib.nullcontext()

    def remove_stale_temporaries(self) -> None:
        """Remove what killed runs left behind (called with the lock held)."""

    def read(self) -> Snapshot:
        raise NotImplementedError

    def claim(self, record: SecretRecord, expected_version: t.Any) -> t.Any:
        """Record the addition ``record.pending[-1]`` before it is made; returns the new version.

        Raises StoreConflict when the store changed since ``expected_version`` or another runner
        claimed first: nothing has been created then, and the run may plan again.
        """
        return self.write(record, expected_version)

    def write(self, record: SecretRecord, expected_version: t.Any, resolves: str = "") -> t.Any:
        """Store ``record`` if the store is still at ``expected_version`` (check-and-set).

        ``resolves`` names the claim whose addition this record stores."""
        raise NotImplementedError

    def delete(self) -> bool:
        """Forget the value of a removed secret; False when the store keeps it (remote stores)."""
        return False

    def abandon(self, claimed: SecretRecord, version: t.Any) -> None:
        """Release the claim ``claimed.pending[-1]`` when it is known that nothing was created (best
        effort), so that runners sharing the store need not wait for it. A lock-serialised store has
        no waiters: nothing to do."""


class FileStore(SecretStore):
    """A JSON file on the host that runs the module, in a folder only the running user can write.

    The folder is created (0700) when missing; a folder another user owns or can write is refused
    before any request. The file is written atomically with mode 0600 (see _private_files); a
    looser mode on an existing file is brought back to 0600 with a warning. Runs on one file take
    turns through an ``flock`` on ``.<name>.lock`` beside it, waited for up to ``lock_timeout``.
    """

    kind = "file"
    serialised = True

    def __init__(self, path: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, option: str = "dest") -> None:
        self.path = path
        self.folder = os.path.dirname(path)
        self.lock_timeout = lock_timeout
        self.option = option
        self.lock_path = os.path.join(self.folder, ".%s.lock" % os.path.basename(path))

    @property
    def description(self) -> str:
        return "%s %s" % (self.option, self.path)

    @classmethod
    def from_option(cls, dest: t.Any, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> FileStore:
        """The store of the ``dest`` option, refused when the path cannot be a file."""
        if not str(dest).strip():
            raise ConfigurationError("dest must not be empty.", option="dest")
        path = os.path.abspath(os.path.expanduser(str(dest)))
        if os.path.isdir(path):
            raise ConfigurationError("dest %s is a directory; give the path of a file." % path, option="dest")
        if os.path.lexists(path) and not os.path.isfile(path) or os.path.islink(path):
            raise ConfigurationError("dest %s exists and is not a regular file (nor may it be a symbolic link)." % path,
                                     option="dest")
        ancestor = os.path.dirname(path)
        while not os.path.lexists(ancestor):
            ancestor = os.path.dirname(ancestor)
        if not os.path.isdir(ancestor):
            raise ConfigurationError("dest %s cannot be created: %s is not a folder." % (path, ancestor), option="dest")
        return cls(path, lock_timeout=lock_timeout)

    def check(self, *, create: bool) -> list[str]:
        """Refuse a folder others can write (before any request); returns warnings to show.

        With ``create`` (a real run that may write) the missing folders are created (0700) and a
        looser mode of an existing file is brought back to 0600; otherwise nothing is changed.
        """
        warnings: list[str] = []
        if create:
            ensure_private_folder(self.folder, option=self.option, what="the secret's value (dest)")
        elif not os.path.isdir(self.folder):
            return warnings  # nothing there yet; a real run creates it private
        else:
            require_private_folder(self.folder, option=self.option, what="the secret's value (dest)")
        if os.path.isfile(self.path) and not os.path.islink(self.path):
            dummy, notes = read_private_file(self.path, option=self.option, what="dest", require_private=True)
            if notes and not create:
                warnings.append("%s; a real run sets it to 0600." % notes[0])
            elif notes and tighten_mode(self.path):
                warnings.append("%s; its mode was set to 0600." % notes[0])
        return warnings

    def lock(self) -> t.ContextManager[None]:
        return file_lock(self.lock_path, timeout=self.lock_timeout, what="dest %s" % self.path)

    def _version(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_mtime_ns, info.st_size)

    def read(self) -> Snapshot:
        """The record of the file; a file that is not a record written by this module is refused."""
        version = self._version()
        content, dummy = read_private_file(self.path, option=self.option, what=self.option, max_bytes=MAX_SECRET_FILE_BYTES)
        if content is None:
            return Snapshot(None, "%s does not exist" % self.path, None)
        try:
            record = SecretRecord.from_mapping(json.loads(content.decode("utf-8")))
        except (ValueError, UnicodeError):
            raise ConfigurationError(
                "%s exists but is not a secret record written by pc_app_secret (JSON with app_id, key_id and secret); "
                "it was left alone and nothing was changed. Move it away, or choose another file." % self.description,
                option=self.option,
            ) from None
        return Snapshot(record, "" if record.secret else "%s holds no value" % self.path, version)

    def write(self, record: SecretRecord, expected_version: t.Any, resolves: str = "") -> t.Any:
        """Replace the record if the file is still at ``expected_version``; returns the new version."""
        if self._version() != expected_version:
            raise StoreConflict("dest %s changed while this run was using it; nothing was overwritten." % self.path,
                                hint="Rerun the task.")
        ensure_private_folder(self.folder, option=self.option, what="the secret's value (dest)")
        write_private_file(self.path, record.to_json())
        return self._version()

    def delete(self) -> bool:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        fsync_folder(self.folder)
        return True

    def remove_stale_temporaries(self) -> None:
        """Remove the temporary files that killed runs left beside the file (call with the lock held)."""
        remove_temporaries(self.path)
