# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Client secret lifecycle (the logic of the pc_app_secret module).

- A secret is identified by its display name (the portal's "key description"); every password
  credential of the application with exactly that name is "this" secret.
- ``state=present`` creates one only when none is valid beyond the renewal window, or when asked to
  rotate; older ones stay (overlap) unless ``retire_previous``. ``state=absent`` removes only the
  secrets with that name (or one key id), never all secrets of the application.
- The value exists once, in the addPassword response
  (https://learn.microsoft.com/graph/api/application-addpassword). With ``dest`` it is written
  atomically to a 0600 file before anything else can fail; a run whose file does not hold the value
  of the newest valid secret creates a replacement, stores it, then removes the secrets whose value
  was lost (orphans).
- Runs that manage the same ``dest`` are serialised by a lock file next to it (``.<name>.lock``,
  ``flock``): two concurrent runs would otherwise both see no valid secret and both create one.
- addPassword is not idempotent: a 5xx answer or a lost connection leaves it unknown whether a
  secret was created. It is retried within ``retry_timeout``; once a value is in hand (and stored),
  the secrets the failed attempts may have created (same name, same start and end date) are removed.
- Before writing, the tenant's default app management policy is read
  (https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy): a restriction that
  blocks password credentials or caps their lifetime below the request fails the task (check mode:
  reports it).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import math
import os
import re
import time
import typing as t
import uuid

from ._applications import find_target_application
from ._auth import decode_jwt_claims
from ._errors import (
    ConfigurationError,
    ConsistencyTimeout,
    PartnerCenterCollectionError,
    ServiceError,
    TransportError,
)
from ._graph import parse_datetime
from ._ids import require_guid

DAY = 86400.0
DEFAULT_EXPIRES_IN = "1y"
# The portal's choices: 365 days ("12 months") and 730 days ("24 months").
DAYS_PER_YEAR = 365
MAX_LIFETIME_DAYS = 100 * DAYS_PER_YEAR
APPLICATION_SELECT = ("id", "appId", "displayName", "uniqueName", "createdDateTime", "passwordCredentials")
ACTIONS = ("created", "renewed", "rotated", "repaired", "removed", "none")
# addPassword's answers when an app management policy refuses the credential.
POLICY_ERROR_CODES = ("CredentialTypeNotAllowedAsPerAppPolicy", "CredentialInvalidLifetimeAsPerAppPolicy")
DEST_KEYS = ("tenant_id", "cloud", "app_id", "key_id", "display_name", "secret", "start_date_time", "end_date_time")
MAX_DEST_BYTES = 1 << 20
# How long a run waits for another run that manages the same dest (holding its lock file).
LOCK_TIMEOUT = 600.0
# A dest file written this recently whose key id the application does not show (yet) is waited for:
# new credentials can take a while to appear in reads (directory replication).
RECENT_DEST_SECONDS = 600.0

_EXPIRES_IN = re.compile(r"^\s*(\d+)\s*([yd]?)\s*$", re.IGNORECASE)
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE
)


class AppManagementPolicyError(PartnerCenterCollectionError):
    """An app management policy blocks the secret, or caps its lifetime below the request."""

    kind = "app_management_policy"

    def __init__(self, message: str, *, hint: str | None = None, cause: ServiceError | None = None) -> None:
        super().__init__(message, hint=hint)
        self.cause = cause

    def to_dict(self) -> dict[str, t.Any]:
        result = super().to_dict()
        if self.cause is not None:
            details = self.cause.to_dict()
            for key in ("status", "code", "detail_code", "service_message", "request_id", "client_request_id", "date"):
                result[key] = details.get(key)
        return result


# -------------------------------------------------------------------------------------------------
# Dates, durations and lifetimes
# -------------------------------------------------------------------------------------------------


def format_datetime(seconds: float) -> str:
    """Graph's date-time format, to the second: ``2026-01-01T00:00:00Z``."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(value: t.Any) -> float | None:
    """Seconds of an ISO 8601 duration such as ``P90D`` or ``P1Y`` (a year is 365 days, a month 30), or None."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip())
    if not match or value.strip().upper() in ("P", "PT"):
        return None
    years, months, weeks, days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
    return ((years * DAYS_PER_YEAR + months * 30 + weeks * 7 + days) * 24 + hours) * 3600 + minutes * 60 + secs


def describe_days(seconds: float) -> str:
    """``90 days`` (or hours for less than a day)."""
    days = seconds / DAY
    if days >= 1:
        return "%g days" % round(days, 2)
    return "%g hours" % round(seconds / 3600, 2)


def parse_expires_in(value: t.Any) -> int:
    """Days of ``expires_in``: ``1y`` / ``2y`` (365 / 730 days, as the portal), ``90d`` or ``90``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigurationError(
            "expires_in must be 1y, 2y, a number of days such as 90d or 90; got %r (%s)." % (value, type(value).__name__),
            option="expires_in",
        )
    match = _EXPIRES_IN.match(str(value))
    if not match:
        raise ConfigurationError(
            "expires_in must be 1y, 2y, a number of days such as 90d or 90; got %r." % (value,), option="expires_in"
        )
    number, unit = int(match.group(1)), match.group(2).lower()
    days = number * DAYS_PER_YEAR if unit == "y" else number
    if days < 1 or days > MAX_LIFETIME_DAYS:
        raise ConfigurationError(
            "expires_in must be between 1 day and %d years; got %r." % (MAX_LIFETIME_DAYS // DAYS_PER_YEAR, value),
            option="expires_in",
        )
    return days


class Lifetime(t.NamedTuple):
    """How long a new secret lives: ``days`` from its start, or until ``end`` (epoch seconds)."""

    days: int | None
    end: float | None
    text: str

    def dates(self, now: float) -> tuple[float, float]:
        """Start (now, to the second) and end of a secret created at ``now``."""
        start = float(math.floor(now))
        if self.end is not None:
            return start, self.end
        return start, start + (self.days or 0) * DAY


def parse_lifetime(expires_in: t.Any, end_date_time: t.Any, now: float) -> Lifetime:
    """The lifetime asked for; ``expires_in`` defaults to 1y. Both given, or a past end date, is an error."""
    if expires_in is not None and end_date_time is not None:
        raise ConfigurationError("expires_in and end_date_time are mutually exclusive.", option="expires_in")
    if end_date_time is not None:
        end = parse_datetime(end_date_time)
        if end is None:
            raise ConfigurationError(
                "end_date_time must be an ISO 8601 date or date-time such as 2027-06-30 or 2027-06-30T12:00:00Z; got %r."
                % (end_date_time,),
                option="end_date_time",
            )
        if end <= now:
            raise ConfigurationError(
                "end_date_time %s is in the past (now is %s)." % (format_datetime(end), format_datetime(now)),
                option="end_date_time",
            )
        end = float(math.floor(end))
        return Lifetime(None, end, "end_date_time %s" % format_datetime(end))
    text = DEFAULT_EXPIRES_IN if expires_in is None else expires_in
    days = parse_expires_in(text)
    return Lifetime(days, None, "expires_in %s" % str(text).strip())


# -------------------------------------------------------------------------------------------------
# Secret selection and renewal window
# -------------------------------------------------------------------------------------------------


def credential_start(credential: t.Mapping[str, t.Any]) -> float:
    value = parse_datetime(credential.get("startDateTime"))
    return value if value is not None else 0.0


def credential_end(credential: t.Mapping[str, t.Any]) -> float:
    value = parse_datetime(credential.get("endDateTime"))
    return value if value is not None else 0.0


def is_expired(credential: t.Mapping[str, t.Any], now: float) -> bool:
    """A secret is expired from its end date on (sign-in fails with AADSTS7000222)."""
    return credential_end(credential) <= now


def managed_secrets(app: t.Mapping[str, t.Any], display_name: str | None) -> list[dict[str, t.Any]]:
    """The app's password credentials named exactly ``display_name``, oldest first."""
    found = [dict(c) for c in app.get("passwordCredentials") or [] if display_name is not None and c.get("displayName") == display_name]
    return sorted(found, key=lambda c: (credential_start(c), credential_end(c), str(c.get("keyId"))))


def newest(secrets: t.Sequence[t.Mapping[str, t.Any]]) -> dict[str, t.Any] | None:
    """The secret that lasts longest (latest end date; then latest start)."""
    if not secrets:
        return None
    return dict(max(secrets, key=lambda c: (credential_end(c), credential_start(c))))


def needs_renewal(credential: t.Mapping[str, t.Any], now: float, renew_before_days: int, requested_end: float | None = None) -> bool:
    """Whether ``credential`` is not valid beyond the renewal window (``end <= now + window``).

    With an explicit end date, a secret that already ends on or after it is kept: a new one would not
    last longer, and replacing it would repeat on every run.
    """
    end = credential_end(credential)
    if end > now + renew_before_days * DAY:
        return False
    return not (requested_end is not None and end >= requested_end)


def days_to_expiry(credential: t.Mapping[str, t.Any], now: float) -> int:
    """Whole days until the end date (negative once expired)."""
    return int(math.floor((credential_end(credential) - now) / DAY))


def secret_view(credential: t.Mapping[str, t.Any] | None, now: float) -> dict[str, t.Any]:
    """A secret as returned and shown in diffs: ids, name, hint and dates, never the value."""
    if not credential:
        return {}
    return {
        "key_id": credential.get("keyId"),
        "display_name": credential.get("displayName"),
        "hint": credential.get("hint"),
        "start_date_time": credential.get("startDateTime"),
        "end_date_time": credential.get("endDateTime"),
        "days_to_expiry": days_to_expiry(credential, now),
    }


# -------------------------------------------------------------------------------------------------
# Plans
# -------------------------------------------------------------------------------------------------


class Plan(t.NamedTuple):
    """What a run does: create a secret or not, which secrets it removes afterwards, and why."""

    action: str
    create: bool
    remove: list[dict[str, t.Any]]
    orphans: list[dict[str, t.Any]]
    keep: dict[str, t.Any] | None
    reason: str


def _names(secrets: t.Iterable[t.Mapping[str, t.Any]]) -> str:
    return ", ".join(str(c.get("keyId")) for c in secrets)


def plan_present(
    managed: t.Sequence[dict[str, t.Any]],
    *,
    now: float,
    renew_before_days: int,
    rotate: bool = False,
    retire_previous: bool = False,
    use_dest: bool = False,
    held: t.Mapping[str, t.Any] | None = None,
    dest_reason: str = "",
    requested_end: float | None = None,
) -> Plan:
    """Plan for ``state=present``.

    Without ``dest`` the current secret is the newest one. With it, the current secret is the one
    whose value the file holds (``held``); valid secrets newer than it (or all valid ones when it
    holds none) are orphans: their value is lost, so a replacement is created and stored, then they
    are removed.
    """
    held_id = held.get("keyId") if held else None
    if use_dest:
        current = next((c for c in managed if c.get("keyId") == held_id), None)
        orphans = [
            c
            for c in managed
            if c.get("keyId") != held_id
            and not is_expired(c, now)
            and (current is None or credential_start(c) >= credential_start(current))
        ]
    else:
        current = newest(managed)
        orphans = []
    window = "renew_before_days=%d" % renew_before_days
    if rotate and managed:
        action, reason = "rotated", "rotate=true forces a new secret"
        if orphans:
            reason += "; the value of %s was not in dest (%s)" % (_names(orphans), dest_reason)
    elif orphans:
        action = "repaired"
        reason = "dest does not hold the value of the valid secret(s) %s (%s)" % (_names(orphans), dest_reason)
    elif current is None and not managed:
        action, reason = "created", "the application has no secret with this display name"
    elif current is None:
        action, reason = "renewed", "no secret with this display name is valid"
        if use_dest:
            reason += " and dest holds none (%s)" % dest_reason
    elif needs_renewal(current, now, renew_before_days, requested_end):
        action = "renewed"
        if is_expired(current, now):
            reason = "secret %s expired on %s" % (current.get("keyId"), current.get("endDateTime"))
        else:
            reason = "secret %s expires in %d days (%s), within the renewal window (%s)" % (
                current.get("keyId"),
                days_to_expiry(current, now),
                current.get("endDateTime"),
                window,
            )
    else:
        action = "none"
        reason = "secret %s is valid until %s (%d days), beyond the renewal window (%s)" % (
            current.get("keyId"),
            current.get("endDateTime"),
            days_to_expiry(current, now),
            window,
        )
    create = action != "none"
    if create:
        remove = list(orphans)
        if retire_previous:
            remove += [c for c in managed if c not in orphans]
        keep = None
    else:
        remove = [c for c in managed if c.get("keyId") != (current or {}).get("keyId")] if retire_previous else []
        keep = current
    return Plan(action, create, remove, list(orphans), keep, reason)


def plan_absent(
    credentials: t.Sequence[t.Mapping[str, t.Any]], *, display_name: str | None, key_id: str | None
) -> Plan:
    """Plan for ``state=absent``: the secrets named ``display_name``, or the one ``key_id``; never all."""
    if key_id:
        target = next((dict(c) for c in credentials if str(c.get("keyId", "")).lower() == key_id.lower()), None)
        if target is None:
            return Plan("none", False, [], [], None, "the application has no secret with key id %s" % key_id)
        if display_name is not None and target.get("displayName") != display_name:
            raise ConfigurationError(
                "The secret with key id %s is named %r, not %r: nothing was removed." % (key_id, target.get("displayName"), display_name),
                option="key_id",
            )
        return Plan("removed", False, [target], [], None, "key id %s was asked to be removed" % key_id)
    managed = managed_secrets({"passwordCredentials": list(credentials)}, display_name)
    if not managed:
        return Plan("none", False, [], [], None, "the application has no secret named %r" % display_name)
    return Plan("removed", False, managed, [], None, "%d secret(s) named %r" % (len(managed), display_name))


# -------------------------------------------------------------------------------------------------
# App management policy
# -------------------------------------------------------------------------------------------------


def applicable_restrictions(policy: t.Mapping[str, t.Any] | None, app: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """The password-credential restrictions of an enabled policy that apply to this application.

    A restriction applies unless its ``state`` is ``disabled`` or the application was created before
    its ``restrictForAppsCreatedAfterDateTime``.
    """
    if not policy or not policy.get("isEnabled"):
        return []
    restrictions = ((policy.get("applicationRestrictions") or {}).get("passwordCredentials")) or []
    created = parse_datetime(app.get("createdDateTime"))
    applicable = []
    for restriction in restrictions:
        if not isinstance(restriction, dict) or str(restriction.get("state") or "").lower() == "disabled":
            continue
        since = parse_datetime(restriction.get("restrictForAppsCreatedAfterDateTime"))
        if since is not None and created is not None and created < since:
            continue
        applicable.append(restriction)
    return applicable


def policy_violations(
    policy: t.Mapping[str, t.Any] | None, app: t.Mapping[str, t.Any], lifetime_seconds: float, lifetime_text: str
) -> list[str]:
    """What in the policy would refuse a secret of this lifetime, in the policy's words."""
    found = []
    name = "%r (id %s)" % ((policy or {}).get("displayName") or "tenant default policy", (policy or {}).get("id"))
    for restriction in applicable_restrictions(policy, app):
        kind = restriction.get("restrictionType")
        since = restriction.get("restrictForAppsCreatedAfterDateTime")
        scope = " for applications created after %s; this one was created %s" % (since, app.get("createdDateTime")) if since else ""
        if kind == "passwordAddition":
            found.append(
                "The tenant's app management policy %s blocks new client secrets: restriction passwordAddition%s." % (name, scope)
            )
        elif kind == "passwordLifetime":
            max_lifetime = restriction.get("maxLifetime")
            limit = parse_duration(max_lifetime)
            if limit is not None and lifetime_seconds > limit:
                found.append(
                    "The tenant's app management policy %s limits client secrets to maxLifetime %s (%s): restriction "
                    "passwordLifetime%s; %s (%s) was asked." % (name, max_lifetime, describe_days(limit), scope, lifetime_text, describe_days(lifetime_seconds))
                )
    return found


POLICY_HINT = (
    "Ask for a shorter lifetime (expires_in, end_date_time) if the policy caps it, or ask a policy administrator to exempt "
    "the application (an appManagementPolicy assigned to it), or use a certificate credential."
)


# -------------------------------------------------------------------------------------------------
# The dest file
# -------------------------------------------------------------------------------------------------


class Stored(t.NamedTuple):
    """What a dest file holds (``secret`` is the value; never returned)."""

    data: dict[str, t.Any]

    @property
    def key_id(self) -> str:
        return str(self.data.get("key_id") or "").lower()

    @property
    def secret(self) -> str:
        value = self.data.get("secret")
        return value if isinstance(value, str) else ""


def check_dest_path(dest: str | None) -> str | None:
    """``dest`` as an absolute path, refused when it is a directory or not a regular file."""
    if dest is None:
        return None
    if not str(dest).strip():
        raise ConfigurationError("dest must not be empty.", option="dest")
    path = os.path.abspath(os.path.expanduser(str(dest)))
    if os.path.isdir(path):
        raise ConfigurationError("dest %s is a directory; give the path of a file." % path, option="dest")
    if os.path.lexists(path) and not os.path.isfile(path):
        raise ConfigurationError("dest %s exists and is not a regular file." % path, option="dest")
    parent = os.path.dirname(path)
    ancestor = parent
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ConfigurationError("dest %s cannot be created: %s is not a directory." % (path, ancestor), option="dest")
    return path


def read_dest(path: str) -> tuple[Stored | None, str]:
    """The stored secret of a dest file, or None and why it holds none (missing, unreadable, ...)."""
    try:
        with open(path, "rb") as handle:
            content = handle.read(MAX_DEST_BYTES + 1)
    except FileNotFoundError:
        return None, "%s does not exist" % path
    except OSError as exc:
        return None, "%s is unreadable: %s" % (path, exc.strerror or exc)
    if len(content) > MAX_DEST_BYTES:
        return None, "%s is too large to be a secret file" % path
    try:
        data = json.loads(content.decode("utf-8"))
    except (ValueError, UnicodeError):
        return None, "%s is not JSON" % path
    if not isinstance(data, dict) or not data.get("key_id") or not isinstance(data.get("secret"), str) or not data["secret"]:
        return None, "%s holds no secret" % path
    return Stored(data), ""


def check_dest_owner(stored: Stored | None, path: str, app: t.Mapping[str, t.Any], display_name: str) -> None:
    """Refuse to overwrite a dest file that holds another application's or another secret's value."""
    if stored is None:
        return
    app_id = str(stored.data.get("app_id") or "").lower()
    name = stored.data.get("display_name")
    if app_id and app_id != str(app.get("appId") or "").lower():
        raise ConfigurationError(
            "dest %s holds the secret of another application (app_id %s), not of %s; it was left alone. Use another dest per "
            "application, or remove the file." % (path, app_id, app.get("appId")),
            option="dest",
        )
    if name is not None and name != display_name:
        raise ConfigurationError(
            "dest %s holds the secret named %r of this application, not %r; it was left alone. Use another dest per secret, or "
            "remove the file." % (path, name, display_name),
            option="dest",
        )


def credential_with_key(credentials: t.Iterable[t.Mapping[str, t.Any]], key_id: str) -> dict[str, t.Any] | None:
    """The credential whose key id is ``key_id`` (lower case), or None."""
    return next((dict(c) for c in credentials if str(c.get("keyId", "")).lower() == key_id), None)


def held_secret(stored: Stored | None, managed: t.Sequence[t.Mapping[str, t.Any]]) -> tuple[dict[str, t.Any] | None, str]:
    """The managed secret whose value the file holds (its key id, and a value matching the hint), or why none."""
    if stored is None:
        return None, ""
    credential = credential_with_key(managed, stored.key_id)
    if credential is None:
        return None, "it holds key id %s, which is not a secret with this display name" % stored.key_id
    hint = credential.get("hint")
    if hint and not stored.secret.startswith(hint):
        return None, "the value it holds for key id %s does not match the secret's hint" % stored.key_id
    return credential, ""


def make_private_parents(path: str, created: list[str] | None = None) -> None:
    """Create the missing parent directories of ``path`` (mode 0700), appending each to ``created``."""
    parent = os.path.dirname(path)
    missing = []
    while not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(missing):
        os.mkdir(directory, 0o700)
        if created is not None:
            created.append(directory)
        os.chmod(directory, 0o700)


class DestLock:
    """An exclusive ``flock`` on ``.<dest name>.lock`` next to dest, held from the first read of the
    application until the new value is stored, so that concurrent runs on one dest create one secret.

    The kernel releases it when the process ends, however it ends: a killed run leaves no stale lock.
    Holding it, a run removes the temporary files (SecretFile) that killed runs left next to dest.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.join(os.path.dirname(path), ".%s.lock" % os.path.basename(path))
        self.dest = path
        self.fd: int | None = None

    def __enter__(self) -> DestLock:
        try:
            make_private_parents(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            raise ConfigurationError(
                "Cannot write dest %s: cannot create its lock file %s: %s. Nothing was created."
                % (self.dest, self.path, exc.strerror or exc),
                option="dest",
            ) from None
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise PartnerCenterCollectionError(
                        "Another run has been managing dest %s for more than %d seconds (it holds %s); nothing was changed."
                        % (self.dest, LOCK_TIMEOUT, self.path),
                        hint="Let the other run finish, then rerun.",
                    ) from None
                time.sleep(0.2)
        self.fd = fd
        self._remove_stale_temporaries()
        return self

    def _remove_stale_temporaries(self) -> None:
        """Remove ``.<dest name>.<hex>.tmp`` files: with the lock held, no other run is writing one."""
        directory, name = os.path.split(self.dest)
        pattern = re.compile(r"^\.%s\.[0-9a-f]{32}\.tmp$" % re.escape(name))
        with contextlib.suppress(OSError):
            for entry in os.listdir(directory):
                if pattern.match(entry):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(directory, entry))

    def __exit__(self, *args: t.Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock
            self.fd = None


class SecretFile:
    """Atomic, private writing of the dest file.

    ``prepare`` runs before the secret is created: it creates missing parent directories (0700) and
    a 0600 temporary file next to ``path``, so a dest that cannot be written fails before anything
    exists. ``commit`` writes, fsyncs and renames it over ``path``; ``discard`` undoes ``prepare``.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp: str | None = None
        self.created_dirs: list[str] = []

    def prepare(self) -> None:
        try:
            make_private_parents(self.path, self.created_dirs)
            tmp = os.path.join(os.path.dirname(self.path), ".%s.%s.tmp" % (os.path.basename(self.path), uuid.uuid4().hex))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            os.close(fd)
            self.tmp = tmp
        except OSError as exc:
            self.discard()
            raise ConfigurationError(
                "Cannot write dest %s: %s. Nothing was created." % (self.path, exc.strerror or exc), option="dest"
            ) from None

    def commit(self, data: t.Mapping[str, t.Any]) -> None:
        if self.tmp is None:
            self.prepare()
        tmp = t.cast(str, self.tmp)
        content = (json.dumps(dict(data), indent=2, sort_keys=False) + "\n").encode("utf-8")
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self.tmp = None
        self.created_dirs = []
        with contextlib.suppress(OSError):
            dir_fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def discard(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.tmp = None
        for directory in reversed(self.created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        self.created_dirs = []


# -------------------------------------------------------------------------------------------------
# The module
# -------------------------------------------------------------------------------------------------


def validate_params(p: t.Mapping[str, t.Any], now: float) -> tuple[Lifetime | None, str | None, str | None]:
    """Check the options before any request: the lifetime (present), key_id and dest."""
    state = p.get("state") or "present"
    display_name = p.get("display_name")
    if display_name is not None and not str(display_name).strip():
        raise ConfigurationError("display_name must not be empty.", option="display_name")
    key_id = p.get("key_id")
    if key_id is not None:
        if state != "absent":
            raise ConfigurationError("key_id is only used with state=absent.", option="key_id")
        key_id = require_guid(key_id, "key_id")
    renew = p.get("renew_before_days")
    renew = 30 if renew is None else renew
    if isinstance(renew, bool) or not isinstance(renew, int) or renew < 0:
        raise ConfigurationError("renew_before_days must be 0 or more; got %r." % (renew,), option="renew_before_days")
    lifetime = None
    if state == "present":
        if display_name is None:
            raise ConfigurationError("display_name is required with state=present.", option="display_name")
        lifetime = parse_lifetime(p.get("expires_in"), p.get("end_date_time"), now)
        if lifetime.days is not None and lifetime.days <= renew:
            raise ConfigurationError(
                "renew_before_days (%d) must be shorter than the lifetime (%d days), or every run would create a new secret."
                % (renew, lifetime.days),
                option="renew_before_days",
            )
    else:
        if display_name is None and key_id is None:
            raise ConfigurationError("state=absent needs display_name or key_id.", option="display_name")
        if p.get("rotate"):
            raise ConfigurationError("rotate applies to state=present only.", option="rotate")
    dest = check_dest_path(p.get("dest"))
    return lifetime, key_id, dest


def _read_application(module: t.Any) -> dict[str, t.Any] | None:
    """The target application with its secrets, or None."""
    return find_target_application(module, select=APPLICATION_SELECT, display_name_option="app_display_name")


def _find_application(module: t.Any, wait: bool) -> dict[str, t.Any] | None:
    """The target application; waits for it (it may have just been created) when ``wait``."""
    app = _read_application(module)
    if app is not None or not wait:
        return app
    try:
        return module.graph.wait_for(lambda: _read_application(module), lambda found: found is not None, what="the application")
    except ConsistencyTimeout:
        return None


def stored_but_not_visible(stored: Stored | None, managed: t.Sequence[t.Mapping[str, t.Any]], now: float) -> bool:
    """Whether dest holds a secret created moments ago that the application does not show (yet)."""
    if stored is None or credential_with_key(managed, stored.key_id) is not None:
        return False
    started = parse_datetime(stored.data.get("start_date_time"))
    return started is not None and now - RECENT_DEST_SECONDS <= started <= now + 60


def _wait_for_secret(module: t.Any, app: dict[str, t.Any], key_id: str) -> dict[str, t.Any]:
    """The application once it shows the secret ``key_id``, within consistency_timeout; else as it was.

    A run that stored a new secret a moment ago (another run on this dest, or this play's previous
    task) may be followed by reads that do not show it yet (directory replication,
    https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/): replacing it
    then would leave its value's owner with a secret that is about to be removed.
    """

    def shows(found: dict[str, t.Any] | None) -> bool:
        return found is not None and credential_with_key(found.get("passwordCredentials") or [], key_id) is not None

    try:
        return t.cast("dict[str, t.Any]", module.graph.wait_for(lambda: _read_application(module), shows,
                                                                what="secret %s of the application" % key_id))
    except ConsistencyTimeout:
        return app


def _describe_target(p: t.Mapping[str, t.Any]) -> str:
    for option in ("object_id", "app_id", "unique_name", "app_display_name"):
        if p.get(option):
            return "%s %r" % (option, p[option])
    return "the application"


def _tenant_id(module: t.Any) -> str | None:
    """The tenant's GUID from the Graph token (``tid``), else the tenant_id option."""
    graph = module.graph
    with contextlib.suppress(Exception):
        claims = decode_jwt_claims(graph.token_provider(graph.resource)) or {}
        if claims.get("tid"):
            return str(claims["tid"])
    return module.params.get("tenant_id")


def _read_policy(module: t.Any) -> dict[str, t.Any] | None:
    """The tenant's default app management policy, or None (and one warning) when it cannot be read."""
    try:
        return module.graph.get("policies/defaultAppManagementPolicy", operation="read_app_management_policy")
    except ServiceError as exc:
        need = " (the client needs the Microsoft Graph application permission Policy.Read.All)" if exc.is_forbidden else ""
        module.module.warn(
            "Could not read the tenant's app management policy%s: HTTP %s %s. Continuing without checking it first; if a "
            "policy blocks the secret, Microsoft Graph will refuse it." % (need, exc.status, exc.code or "")
        )
        return None


def _add_password(module: t.Any, app: t.Mapping[str, t.Any], display_name: str, start: float, end: float) -> dict[str, t.Any]:
    graph = module.graph
    path = "applications/%s/addPassword" % app["id"]
    body = {"passwordCredential": {"displayName": display_name, "startDateTime": format_datetime(start), "endDateTime": format_datetime(end)}}
    try:
        response = graph.retry_dependent_write(
            lambda: graph.post(path, body, operation="add_password"), what="the application %s" % app.get("appId")
        )
    except ServiceError as exc:
        if exc.has_code(*POLICY_ERROR_CODES):
            lifetime = exc.has_code("CredentialInvalidLifetimeAsPerAppPolicy")
            raise AppManagementPolicyError(
                "Microsoft Graph refused the new client secret with %s: %s An app management policy (the tenant's default policy, "
                "or one assigned to the application) %s. %s"
                % (
                    "CredentialInvalidLifetimeAsPerAppPolicy" if lifetime else "CredentialTypeNotAllowedAsPerAppPolicy",
                    exc.service_message or "",
                    "limits the lifetime of client secrets below the %s asked" % describe_days(end - start) if lifetime
                    else "does not allow client secrets for this application",
                    "(request-id: %s)" % exc.request_id if exc.request_id else "",
                ),
                hint=POLICY_HINT,
                cause=exc,
            ) from None
        if exc.status >= 500:
            exc.hint = _ambiguous_hint(display_name)
        raise
    except TransportError as exc:
        exc.hint = _ambiguous_hint(display_name)
        raise
    credential = dict(response.body or {})
    credential.pop("@odata.context", None)
    return credential


def _ambiguous_hint(display_name: str) -> str:
    return (
        "The secret may have been created anyway, with its value lost: addPassword is not retried, to avoid a second "
        "secret. Rerun the task: with dest, the rerun replaces such a secret and then removes it; without dest, look "
        "for a secret named %r that you do not hold and remove it (state=absent with its key_id)." % display_name
    )


def _remove_password(module: t.Any, app: t.Mapping[str, t.Any], key_id: str) -> bool:
    """Remove one secret; False when it was already gone."""
    try:
        module.graph.post(
            "applications/%s/removePassword" % app["id"], {"keyId": key_id}, operation="remove_password", idempotent=True
        )
    except ServiceError as exc:
        text = (exc.service_message or "").lower()
        if exc.is_not_found or (exc.status == 400 and (key_id.lower() in text or "credential" in text)):
            return False
        raise
    return True


def run_pc_app_secret(module: t.Any, now: float | None = None) -> dict[str, t.Any]:
    """The pc_app_secret module: returns the result mapping (changed, action, key_id, ...)."""
    p = module.params
    lifetime, key_id, dest = validate_params(p, time.time() if now is None else now)
    module.validate()
    locking = dest is not None and (p.get("state") or "present") == "present" and not module.check_mode
    with DestLock(t.cast(str, dest)) if locking else contextlib.nullcontext():
        # The clock is read once the lock is held: the wait for it may have been long.
        return _run(module, lifetime, key_id, dest, time.time() if now is None else now)


def _run(module: t.Any, lifetime: Lifetime | None, key_id: str | None, dest: str | None, now: float) -> dict[str, t.Any]:
    """pc_app_secret once its options are checked (and, for a write with dest, its lock is held)."""
    p = module.params
    state = p.get("state") or "present"
    display_name = p.get("display_name")
    check_mode = module.check_mode
    warn = module.module.warn
    result: dict[str, t.Any] = {
        "changed": False,
        "action": "none",
        "app_id": None,
        "object_id": None,
        "key_id": None,
        "display_name": display_name,
        "hint": None,
        "start_date_time": None,
        "end_date_time": None,
        "days_to_expiry": None,
        "dest": dest,
        "retired_key_ids": [],
        "orphan_key_ids": [],
        "secrets": [],
        "policy_violations": [],
    }

    app = _find_application(module, wait=state == "present" and not check_mode)
    if app is None:
        module.set_diff({"secrets": []}, {"secrets": []})
        if state == "absent":
            return dict(result, msg="No application matches %s: no secret to remove." % _describe_target(p))
        if check_mode:
            warn("No application matches %s (yet); a real run would create the secret once it exists." % _describe_target(p))
            return dict(result, changed=True, action="created", msg="Would create secret %r once the application exists." % display_name)
        raise ConfigurationError(
            "No application matches %s in this tenant (waited up to consistency_timeout=%ss in case it was just created)."
            % (_describe_target(p), p.get("consistency_timeout")),
            option="app_display_name" if p.get("app_display_name") else None,
        )
    result.update(app_id=app.get("appId"), object_id=app.get("id"))
    credentials = [dict(c) for c in app.get("passwordCredentials") or []]
    if state == "absent":
        return _run_absent(module, app, credentials, display_name, key_id, dest, now, result)

    lifetime = t.cast(Lifetime, lifetime)
    renew_before_days = p.get("renew_before_days")
    renew_before_days = 30 if renew_before_days is None else renew_before_days
    managed = managed_secrets(app, display_name)
    held = None
    dest_reason = ""
    if dest:
        stored, dest_reason = read_dest(dest)
        check_dest_owner(stored, dest, app, display_name)
        if stored_but_not_visible(stored, managed, now):
            app = _wait_for_secret(module, app, stored.key_id)
            managed = managed_secrets(app, display_name)
        held, why = held_secret(stored, managed)
        if stored is not None and held is None:
            dest_reason = "%s: %s" % (dest, why)
    plan = plan_present(
        managed,
        now=now,
        renew_before_days=renew_before_days,
        rotate=bool(p.get("rotate")),
        retire_previous=bool(p.get("retire_previous")),
        use_dest=bool(dest),
        held=held,
        dest_reason=dest_reason,
        requested_end=lifetime.end,
    )
    start, end = lifetime.dates(now)
    violations: list[str] = []
    if plan.create:
        if lifetime.end is not None and lifetime.end <= now + renew_before_days * DAY:
            warn("end_date_time %s is within renew_before_days (%d): the new secret starts inside its renewal window."
                 % (format_datetime(end), renew_before_days))
        violations = policy_violations(_read_policy(module), app, end - start, lifetime.text)
        result["policy_violations"] = violations
        if violations and not check_mode:
            error = AppManagementPolicyError(" ".join(violations) + " Nothing was changed.", hint=POLICY_HINT)
            error.result = {"policy_violations": violations, "action": plan.action, "app_id": app.get("appId")}
            raise error

    before = [secret_view(c, now) for c in managed]
    removing = {c.get("keyId") for c in plan.remove}
    kept = [secret_view(c, now) for c in managed if c.get("keyId") not in removing]
    if check_mode:
        planned = None
        if plan.create:
            planned = {
                "key_id": None,
                "display_name": display_name,
                "hint": None,
                "start_date_time": format_datetime(start),
                "end_date_time": format_datetime(end),
                "days_to_expiry": int(math.floor((end - now) / DAY)),
            }
        after = kept + ([planned] if planned else [])
        module.set_diff({"secrets": before}, {"secrets": after})
        for violation in violations:
            warn(violation)
        shown = planned or secret_view(plan.keep, now)
        removed = [str(c.get("keyId")) for c in plan.remove]
        result.update(
            changed=plan.create or bool(removed),
            action=plan.action if plan.create else ("removed" if removed else "none"),
            secrets=after,
            retired_key_ids=removed,
            orphan_key_ids=[str(c.get("keyId")) for c in plan.orphans],
            **_current_fields(shown),
        )
        result["msg"] = _message(plan, shown, dest, check_mode=True, violations=violations, retired=removed)
        return result

    created, secret_text, lost = (None, None, [])
    if plan.create:
        created, secret_text, lost = _create_and_store(module, app, display_name, start, end, dest)

    retired = list(lost)
    for credential in plan.remove:
        key = str(credential.get("keyId"))
        try:
            if _remove_password(module, app, key):
                retired.append(key)
        except Exception as exc:  # noqa: BLE001 - after a creation, the new value must still be returned
            if created is None:
                raise
            text = exc.to_message() if isinstance(exc, PartnerCenterCollectionError) else "%s: %s" % (type(exc).__name__, exc)
            warn("Could not remove secret %s after creating %s: %s" % (key, created.get("keyId"), text))

    after = [secret_view(c, now) for c in managed if c.get("keyId") not in retired] + ([secret_view(created, now)] if created else [])
    module.set_diff({"secrets": before}, {"secrets": after})
    shown = secret_view(created, now) if created else secret_view(plan.keep, now)
    orphan_ids = {str(c.get("keyId")) for c in plan.orphans} | set(lost)
    result.update(
        changed=bool(created) or bool(retired),
        action=plan.action if created else ("removed" if retired else "none"),
        secrets=after,
        retired_key_ids=retired,
        orphan_key_ids=[k for k in retired if k in orphan_ids],
        **_current_fields(shown),
    )
    result["msg"] = _message(plan, shown, dest, check_mode=False, violations=[], retired=retired)
    if lost:
        result["msg"] += " Removed the secret(s) that failed addPassword attempts created, with their value lost: %s." % ", ".join(lost)
    if secret_text is not None:
        result["secret_text"] = secret_text
    return result


def _create_and_store(
    module: t.Any, app: t.Mapping[str, t.Any], display_name: str, start: float, end: float, dest: str | None
) -> tuple[dict[str, t.Any], str | None, list[str]]:
    """addPassword, then (with dest) the value goes to the file at once. Returns the secret, its value
    (without dest) and the key ids of the secrets that failed attempts created and that were removed."""
    target = SecretFile(dest) if dest else None
    if target:
        target.prepare()  # a dest that cannot be written fails here, before the secret exists
    try:
        created, failed_attempts = _add_password_retrying(module, app, display_name, start, end)
    except BaseException:
        if target:
            target.discard()
        raise
    secret_text = created.pop("secretText", None)
    if not secret_text:
        if target:
            target.discard()
        raise PartnerCenterCollectionError(
            "Microsoft Graph created secret %s but returned no value (secretText); it cannot be used." % created.get("keyId"),
            hint="Remove it with state=absent and its key_id, then rerun.",
        )
    if target is not None:
        _store(module, target, app, created, display_name, secret_text)
        secret_text = None
    lost = _remove_lost_attempts(module, app, created, start, end) if failed_attempts else []
    return created, secret_text, lost


def _store(module: t.Any, target: SecretFile, app: t.Mapping[str, t.Any], created: t.Mapping[str, t.Any], display_name: str,
           secret_text: str) -> None:
    """Write the new secret to dest; when that fails, remove the secret again (its value would be lost)."""
    dest = target.path
    data = {
        "tenant_id": _tenant_id(module),
        "cloud": module.cloud.name,
        "app_id": app.get("appId"),
        "key_id": created.get("keyId"),
        "display_name": created.get("displayName") or display_name,
        "secret": secret_text,
        "start_date_time": created.get("startDateTime"),
        "end_date_time": created.get("endDateTime"),
    }
    try:
        target.commit(data)
    except OSError as exc:
        target.discard()
        undone = ""
        with contextlib.suppress(PartnerCenterCollectionError):
            if _remove_password(module, app, str(created.get("keyId"))):
                undone = " The new secret %s was removed again, as its value could not be kept." % created.get("keyId")
        raise PartnerCenterCollectionError(
            "Could not write dest %s: %s.%s" % (dest, exc.strerror or exc, undone), hint="Check the path and rerun."
        ) from None


def _add_password_retrying(
    module: t.Any, app: t.Mapping[str, t.Any], display_name: str, start: float, end: float
) -> tuple[dict[str, t.Any], int]:
    """addPassword, repeated within retry_timeout after an answer that leaves its outcome unknown
    (HTTP 5xx, a connection lost); returns the secret and the number of such failed attempts.

    Each failed attempt may have created a secret whose value is lost; the caller removes those once
    the new value is safe (_remove_lost_attempts). A refusal (4xx) or a TLS failure is not repeated.
    """
    http = module.graph.http
    deadline = http.clock() + http.retry_timeout
    failed = 0
    while True:
        try:
            return _add_password(module, app, display_name, start, end), failed
        except ServiceError as exc:
            if exc.status < 500:
                raise
            error: PartnerCenterCollectionError = exc
            why = "HTTP %s %s, request-id %s" % (exc.status, exc.code or "", exc.request_id)
            wait = exc.retry_after if exc.retry_after is not None else http.backoff(failed + 1)
        except TransportError as exc:
            if exc.tls:
                raise
            error, why, wait = exc, exc.reason, http.backoff(failed + 1)
        failed += 1
        if http.clock() + wait > deadline:
            raise error
        module.module.warn(
            "addPassword failed (%s); retrying in %.1fs. A secret it may have created, with its value lost, is removed once a new "
            "value is stored." % (why, wait)
        )
        http.sleep(wait)


def _remove_lost_attempts(
    module: t.Any, app: t.Mapping[str, t.Any], created: t.Mapping[str, t.Any], start: float, end: float
) -> list[str]:
    """Remove the secrets that failed addPassword attempts of this run created: same display name,
    start and end date as the one created, another key id. Returns their key ids.

    Secrets of other runs never match: their start date is the second they were asked for.
    """
    try:
        current = module.graph.get("applications/%s" % app["id"], select=("id", "passwordCredentials"), operation="read_application")
    except PartnerCenterCollectionError as exc:
        module.module.warn("Could not look for secrets lost by the failed addPassword attempts: %s" % exc.to_message())
        return []
    lost = [
        str(c.get("keyId"))
        for c in (current or {}).get("passwordCredentials") or []
        if c.get("displayName") == created.get("displayName")
        and str(c.get("keyId", "")).lower() != str(created.get("keyId", "")).lower()
        and parse_datetime(c.get("startDateTime")) == start
        and parse_datetime(c.get("endDateTime")) == end
    ]
    removed = []
    for key in lost:
        try:
            if _remove_password(module, app, key):
                removed.append(key)
        except PartnerCenterCollectionError as exc:
            module.module.warn("Could not remove secret %s, created by a failed addPassword attempt with its value lost: %s"
                               % (key, exc.to_message()))
    return removed


def _current_fields(view: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    return {
        key: view.get(key)
        for key in ("key_id", "hint", "start_date_time", "end_date_time", "days_to_expiry")
    }


def _message(
    plan: Plan,
    shown: t.Mapping[str, t.Any],
    dest: str | None,
    *,
    check_mode: bool,
    violations: t.Sequence[str],
    retired: t.Sequence[str] = (),
) -> str:
    """One human sentence or two about what happened (never the value)."""
    if not plan.create:
        text = "Nothing to create: %s." % plan.reason
        if plan.remove:
            ids = [c.get("keyId") for c in plan.remove]
            text += " %s the previous secret(s) %s (retire_previous=true)." % ("Would retire" if check_mode else "Retired", ", ".join(map(str, retired or ids)))
        return text
    verb = {"created": "create", "renewed": "renew", "rotated": "rotate", "repaired": "repair"}[plan.action]
    if check_mode:
        text = "Would %s secret %r (%s): a new secret valid until %s." % (verb, shown.get("display_name"), plan.reason, shown.get("end_date_time"))
        where = " It would be stored in %s." % dest if dest else " Its value would be returned once as secret_text."
    else:
        text = "%s secret %r (%s): new key id %s (hint %s) valid until %s." % (
            plan.action.capitalize(),
            shown.get("display_name"),
            plan.reason,
            shown.get("key_id"),
            shown.get("hint"),
            shown.get("end_date_time"),
        )
        where = " Its value is stored in %s." % dest if dest else " Its value is returned once as secret_text."
    text += where
    orphans = [c.get("keyId") for c in plan.orphans]
    others = [c.get("keyId") for c in plan.remove if c.get("keyId") not in orphans]
    if orphans:
        text += " %s the secret(s) whose value was lost, after storing the new one: %s." % (
            "Would remove" if check_mode else "Removed",
            ", ".join(map(str, orphans)),
        )
    if others:
        text += " %s the previous secret(s) %s (retire_previous=true)." % ("Would retire" if check_mode else "Retired", ", ".join(map(str, others)))
    elif plan.action in ("renewed", "rotated"):
        text += " The previous secret(s) stay valid until they expire (retire_previous=false)."
    if violations:
        text += " But: " + " ".join(violations)
    return text


def _run_absent(
    module: t.Any,
    app: t.Mapping[str, t.Any],
    credentials: list[dict[str, t.Any]],
    display_name: str | None,
    key_id: str | None,
    dest: str | None,
    now: float,
    result: dict[str, t.Any],
) -> dict[str, t.Any]:
    """``state=absent``: remove this secret (all secrets with the name, or one key id)."""
    plan = plan_absent(credentials, display_name=display_name, key_id=key_id)
    scope = managed_secrets(app, display_name) if display_name is not None else list(plan.remove)
    before = [secret_view(c, now) for c in scope]
    removed_ids = [str(c.get("keyId")) for c in plan.remove]
    retired = []
    if not module.check_mode:
        for key in removed_ids:
            if _remove_password(module, app, key):
                retired.append(key)
    else:
        retired = removed_ids
    after = [v for v in before if v["key_id"] not in removed_ids]
    module.set_diff({"secrets": before}, {"secrets": after})
    msg = "Nothing to remove: %s." % plan.reason
    dest_removed = False
    if retired:
        msg = "%s %d secret(s) (%s): %s." % ("Would remove" if module.check_mode else "Removed", len(retired), plan.reason, ", ".join(retired))
        if dest:
            stored, dummy = read_dest(dest)
            if stored is not None and stored.key_id in {k.lower() for k in retired}:
                dest_removed = True
                if not module.check_mode:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(dest)
                msg += " %s %s, which held the value of a removed secret." % ("Would delete" if module.check_mode else "Deleted", dest)
    result.update(
        changed=bool(retired),
        action="removed" if retired else "none",
        display_name=display_name if display_name is not None else (plan.remove[0].get("displayName") if plan.remove else None),
        secrets=after,
        retired_key_ids=retired,
        dest_removed=dest_removed,
        msg=msg,
    )
    return result
