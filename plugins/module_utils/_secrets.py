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
  (https://learn.microsoft.com/graph/api/application-addpassword). With ``dest`` it goes to a store
  (_secret_stores) with a record of which secret it is; the store, not the application, says which
  secret is this runner's. Custody rule: a run with ``state=present`` never removes a secret it
  cannot prove it created and lost. The proof is a pending addition written to the store *before*
  addPassword: a secret that matches it and whose key id the store never learnt was created by this
  store's run and its value lost (a crash, a lost answer, a failed write), so it is removed once a
  new value is stored. Valid secrets that the store does not hold (another store, host, checkout,
  a person) are never removed; when the store holds no value at all while such secrets exist, the
  run fails and lists them, unless ``missing_value=add`` adds a new one beside them.
- ``retire_previous`` removes only the secrets the store held before the current one.
- Runs that manage the same store take turns (the store's lock): two concurrent runs would
  otherwise both see no valid secret and both create one.
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
import math
import re
import time
import typing as t

from ._applications import find_target_application
from ._auth import decode_jwt_claims
from ._errors import (
    ConfigurationError,
    ConsistencyTimeout,
    PartnerCenterCollectionError,
    ServiceError,
    TransportError,
)
from ._expiry import DAY, credential_end, credential_start, days_to_expiry, is_expired, whole_days
from ._ids import is_guid, require_guid
from ._remote_stores import check_store_option, new_addition, open_store, with_vault_environment
from ._secret_stores import DEFAULT_LOCK_TIMEOUT, FileStore, PendingAddition, SecretRecord, SecretStore, Snapshot, StoreConflict
from ._timestamps import format_datetime, parse_datetime

DEFAULT_EXPIRES_IN = "1y"
# The portal's choices: 365 days ("12 months") and 730 days ("24 months").
DAYS_PER_YEAR = 365
MAX_LIFETIME_DAYS = 100 * DAYS_PER_YEAR
APPLICATION_SELECT = ("id", "appId", "displayName", "uniqueName", "createdDateTime", "passwordCredentials")
ACTIONS = ("created", "renewed", "rotated", "added", "repaired", "removed", "none")
MISSING_VALUE_CHOICES = ("fail", "add")
# addPassword's answers when an app management policy refuses the credential.
POLICY_ERROR_CODES = ("CredentialTypeNotAllowedAsPerAppPolicy", "CredentialInvalidLifetimeAsPerAppPolicy")
# A store record written this recently whose key id the application does not show (yet) is waited
# for: new credentials can take a while to appear in reads (directory replication).
RECENT_STORE_SECONDS = 600.0

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


# The portal offers client secrets of at most 24 months, and Microsoft recommends less than 12
# (https://learn.microsoft.com/entra/identity-platform/how-to-add-credentials).
PORTAL_MAX_DAYS = 2 * DAYS_PER_YEAR


def lifetime_warning(lifetime: Lifetime | None, now: float) -> str | None:
    """A warning when the asked lifetime goes beyond the portal's 2 years, else None."""
    if lifetime is None:
        return None
    start, end = lifetime.dates(now)
    if end - start <= PORTAL_MAX_DAYS * DAY + 1:
        return None
    return ("%s gives a secret of %s, beyond the 2 years (730 days) that the portal offers; Microsoft recommends lifetimes "
            "shorter than a year. A tenant policy may refuse it." % (lifetime.text, describe_days(end - start)))


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
    """What a run does: create a secret or not, which secrets it removes afterwards, and why.

    ``lost`` are secrets that this store's own runs created and whose value never reached it (the
    proof: a pending addition in the store's record); they are the only ones removed without being
    asked for by key id, ``retire_previous`` or ``state=absent``. ``unheld`` are valid secrets with
    this display name that the store does not hold (another store, host, checkout or a person made
    them): never removed. ``value_missing`` means the store holds no value while such secrets exist,
    and ``missing_value=fail``: the run stops and lists them.
    """

    action: str
    create: bool
    remove: list[dict[str, t.Any]]
    lost: list[dict[str, t.Any]]
    current: dict[str, t.Any] | None
    reason: str
    unheld: list[dict[str, t.Any]] = []
    value_missing: bool = False
    store_reason: str = ""


def _names(secrets: t.Iterable[t.Mapping[str, t.Any]]) -> str:
    return ", ".join(str(c.get("keyId")) for c in secrets)


def describe_secrets(secrets: t.Iterable[t.Mapping[str, t.Any]], now: float) -> str:
    """``key id (name 'x', expires 2027-01-01T00:00:00Z, in 300 days)`` for each secret, for messages."""
    return "; ".join(
        "%s (%r, expires %s, in %d days)" % (c.get("keyId"), c.get("displayName"), c.get("endDateTime"), days_to_expiry(c, now))
        for c in secrets
    )


def credential_with_key(credentials: t.Iterable[t.Mapping[str, t.Any]], key_id: str) -> dict[str, t.Any] | None:
    """The credential whose key id is ``key_id`` (any case), or None."""
    key_id = key_id.lower()
    return next((dict(c) for c in credentials if str(c.get("keyId", "")).lower() == key_id), None) if key_id else None


def held_secret(record: SecretRecord | None, managed: t.Sequence[t.Mapping[str, t.Any]]) -> tuple[dict[str, t.Any] | None, str]:
    """The managed secret whose value the record holds (its key id, and a value matching the hint), or why none."""
    if record is None or not record.held_key_id:
        return None, ""
    credential = credential_with_key(managed, record.held_key_id)
    if credential is None:
        return None, "it holds key id %s, which is not a secret of the application with this display name" % record.held_key_id
    hint = credential.get("hint")
    if hint and not str(record.secret).startswith(hint):
        return None, "the value it holds for key id %s does not match the secret's hint" % record.held_key_id
    return credential, ""


def matches_addition(credential: t.Mapping[str, t.Any], addition: PendingAddition) -> bool:
    """Whether ``credential`` is what ``addition`` asked addPassword for: same name, start and end (to the second)."""
    return (
        credential.get("displayName") == addition.display_name
        and parse_datetime(credential.get("startDateTime")) == parse_datetime(addition.start_date_time)
        and parse_datetime(credential.get("endDateTime")) == parse_datetime(addition.end_date_time)
    )


def lost_secrets(
    credentials: t.Iterable[t.Mapping[str, t.Any]], additions: t.Iterable[PendingAddition], known: t.Iterable[str]
) -> list[dict[str, t.Any]]:
    """The credentials that pending ``additions`` created but whose key id the store never learnt.

    Another run's secret has another start (the second it was asked for) or another store; a key id
    the record knows (``known``: the held one, the previous ones) is never lost.
    """
    additions = list(additions)
    known_ids = {k.lower() for k in known if k}
    return [
        dict(c)
        for c in credentials
        if str(c.get("keyId", "")).lower() not in known_ids and any(matches_addition(c, a) for a in additions)
    ]


def plan_present(
    managed: t.Sequence[dict[str, t.Any]],
    *,
    now: float,
    renew_before_days: int,
    rotate: bool = False,
    retire_previous: bool = False,
    use_store: bool = False,
    record: SecretRecord | None = None,
    store_reason: str = "",
    missing_value: str = "fail",
    requested_end: float | None = None,
) -> Plan:
    """Plan for ``state=present``.

    Without a store the current secret is the newest one, and nothing is ever removed. With one, the
    current secret is the one whose value the store holds; ``retire_previous`` removes only the
    secrets the store held before it (its record's ``previous_key_ids``), and the secrets its own
    pending additions created with their value lost are removed once a value is safe.
    """
    lost: list[dict[str, t.Any]] = []
    unheld: list[dict[str, t.Any]] = []
    if use_store:
        current, why = held_secret(record, managed)
        if record is not None and record.held_key_id and current is None:
            store_reason = why
        known = [record.held_key_id, *record.previous_key_ids] if record else []
        lost = lost_secrets(managed, record.pending if record else (), known)
        # The store's own (held now or before) and its lost ones are not "held elsewhere"; a key id
        # whose value the store has wrong (hint mismatch) is not held by it.
        own = {str(c.get("keyId", "")).lower() for c in lost} | set(record.previous_key_ids if record else ())
        if current is not None:
            own.add(str(current.get("keyId", "")).lower())
        unheld = [c for c in managed if str(c.get("keyId", "")).lower() not in own and not is_expired(c, now)]
    else:
        current = newest(managed)
    window = "renew_before_days=%d" % renew_before_days
    value_missing = False
    if use_store and current is None and unheld:
        if missing_value == "add":
            action = "added"
            reason = "the store holds no value for the valid secret(s) %s (%s); missing_value=add adds one beside them" % (
                _names(unheld), store_reason)
        else:
            action, value_missing = "none", True
            reason = "the store holds no value for the valid secret(s) %s (%s)" % (_names(unheld), store_reason)
    elif rotate and current is not None:
        action, reason = "rotated", "rotate=true forces a new secret"
    elif current is None:
        previous = [c for c in managed if c.get("keyId") not in {x.get("keyId") for x in lost}]
        action = "created" if not previous else "renewed"
        reason = "the application has no secret with this display name" if not previous else "no secret with this display name is valid"
        if use_store and store_reason:
            reason += " (%s)" % store_reason
    elif needs_renewal(current, now, renew_before_days, requested_end):
        action = "renewed"
        if is_expired(current, now):
            reason = "secret %s expired on %s" % (current.get("keyId"), current.get("endDateTime"))
        else:
            reason = "secret %s expires in %d days (%s), within the renewal window (%s)" % (
                current.get("keyId"), days_to_expiry(current, now), current.get("endDateTime"), window)
    else:
        action = "none"
        reason = "secret %s is valid until %s (%d days), beyond the renewal window (%s)" % (
            current.get("keyId"), current.get("endDateTime"), days_to_expiry(current, now), window)
    create = action not in ("none",)
    retire: list[dict[str, t.Any]] = []
    if retire_previous and use_store and not value_missing:
        previous_ids = set(record.previous_key_ids) if record else set()
        retire = [c for c in managed if str(c.get("keyId", "")).lower() in previous_ids and c is not current]
        if create and current is not None:
            retire.append(current)
    if lost and not create and action == "none" and not value_missing:
        action = "repaired"
        reason += "; secret(s) %s that this store's earlier run created were never stored (value lost)" % _names(lost)
    return Plan(action, create, lost + retire, lost, current, reason, unheld, value_missing, store_reason)


def plan_absent(
    credentials: t.Sequence[t.Mapping[str, t.Any]], *, display_name: str | None, key_id: str | None
) -> Plan:
    """Plan for ``state=absent``: the secrets named ``display_name``, or the one ``key_id``; never all."""
    if key_id:
        target = credential_with_key(credentials, key_id)
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
# The module
# -------------------------------------------------------------------------------------------------

# A pending addition that matches no secret is kept this long (a just-created secret may not show in
# reads yet), then forgotten at the store's next write.
PENDING_GRACE_SECONDS = 3600.0
# How often a run waiting for another runner's claim on a shared store reads it again.
CLAIM_POLL_SECONDS = 1.0


class Options(t.NamedTuple):
    """The checked options: what the run needs besides the raw parameters."""

    lifetime: Lifetime | None
    key_id: str | None
    # The store's settings (``dest`` is a file store) and its option name; the store itself needs
    # the module's clients, so it is opened once the module is validated.
    store: dict[str, t.Any] | None
    store_option: str
    lock_timeout: int


class SecretValueMissing(PartnerCenterCollectionError):
    """The store holds no value while the application has valid secrets with this display name."""

    kind = "secret_value_missing"


def validate_params(p: t.Mapping[str, t.Any], now: float) -> Options:
    """Check the options before any request: the lifetime (present), key_id and the store."""
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
    lock_timeout = p.get("lock_timeout")
    lock_timeout = DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, int) or lock_timeout < 0:
        raise ConfigurationError("lock_timeout must be 0 or more seconds; got %r." % (lock_timeout,), option="lock_timeout")
    missing_value = p.get("missing_value") or "fail"
    if missing_value not in MISSING_VALUE_CHOICES:
        raise ConfigurationError("missing_value must be one of %s; got %r." % (", ".join(MISSING_VALUE_CHOICES), missing_value),
                                 option="missing_value")
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
        if p.get("retire_previous") and p.get("dest") is None and p.get("store") is None:
            raise ConfigurationError(
                "retire_previous needs dest or store: it removes only the secrets that the store held before the current one, and "
                "without a store the module cannot tell which secrets are its own. To remove one secret, use state=absent "
                "with its key_id.",
                option="retire_previous",
            )
    else:
        if display_name is None and key_id is None:
            raise ConfigurationError("state=absent needs display_name or key_id.", option="display_name")
        if p.get("rotate"):
            raise ConfigurationError("rotate applies to state=present only.", option="rotate")
    store, option = None, "store"
    if p.get("dest") is not None:
        store, option = {"type": "file", "path": p["dest"]}, "dest"
    elif p.get("store") is not None:
        store = check_store_option(with_vault_environment(p["store"]))
    if store is not None and store["type"] == "file":
        FileStore.from_option(store["path"], lock_timeout=lock_timeout)  # refuses a path that cannot be a file
    return Options(lifetime, key_id, store, option, lock_timeout)


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


def stored_but_not_visible(record: SecretRecord | None, managed: t.Sequence[t.Mapping[str, t.Any]], now: float) -> bool:
    """Whether the store holds a secret created moments ago that the application does not show (yet)."""
    if record is None or not record.held_key_id or credential_with_key(managed, record.held_key_id) is not None:
        return False
    started = parse_datetime(record.start_date_time)
    return started is not None and now - RECENT_STORE_SECONDS <= started <= now + 60


def _wait_for_secret(module: t.Any, app: dict[str, t.Any], key_id: str) -> dict[str, t.Any]:
    """The application once it shows the secret ``key_id``, within consistency_timeout; else as it was.

    A run that stored a new secret a moment ago (another run on this store, or this play's previous
    task) may be followed by reads that do not show it yet (directory replication,
    https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
    """

    def shows(found: dict[str, t.Any] | None) -> bool:
        return found is not None and credential_with_key(found.get("passwordCredentials") or [], key_id) is not None

    try:
        return t.cast("dict[str, t.Any]", module.graph.wait_for(lambda: _read_application(module), shows,
                                                                what="secret %s of the application" % key_id))
    except ConsistencyTimeout:
        return app


def check_record_owner(record: SecretRecord | None, store: SecretStore, app: t.Mapping[str, t.Any], display_name: str,
                       tenant_id: str | None) -> None:
    """Refuse to use a store record that belongs to another tenant, application or secret name."""
    if record is None:
        return
    where = store.description
    theirs, ours = str(record.tenant_id or "").lower(), str(tenant_id or "").lower()
    if is_guid(theirs) and is_guid(ours) and theirs != ours:
        raise ConfigurationError(
            "%s holds the secret of another tenant (%s), not of %s; it was left alone and nothing was changed. Keep one "
            "store per tenant and application (the roles name the file after the inventory host and the app)." % (where, theirs, ours),
            option=store.option,
        )
    if record.app_id and str(record.app_id).lower() != str(app.get("appId") or "").lower():
        raise ConfigurationError(
            "%s holds the secret of another application (app_id %s), not of %s; it was left alone and nothing was changed. "
            "Use one store per application." % (where, record.app_id, app.get("appId")),
            option=store.option,
        )
    if record.display_name is not None and record.display_name != display_name:
        raise ConfigurationError(
            "%s holds the secret named %r of this application, not %r; it was left alone and nothing was changed. Use one "
            "store per secret." % (where, record.display_name, display_name),
            option=store.option,
        )


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
        "The secret may have been created anyway, with its value lost; retries within retry_timeout did not get an answer. "
        "Rerun the task: with dest, the store recorded the attempt before it was made, so the rerun removes such a secret "
        "once a new value is stored; without dest, look for a secret named %r that you do not hold and remove it "
        "(state=absent with its key_id)." % display_name
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
    options = validate_params(p, time.time() if now is None else now)
    module.validate()
    long_lifetime = lifetime_warning(options.lifetime, time.time() if now is None else now)
    if long_lifetime:
        module.module.warn(long_lifetime)
    writing = (p.get("state") or "present") == "present" and not module.check_mode
    store = None
    if options.store is not None:
        store = open_store(module, options.store, lock_timeout=options.lock_timeout, option=options.store_option)
        # A folder another user can write is refused here, before any request to Microsoft Graph.
        for warning in store.check(create=writing):
            module.module.warn(warning)
    locking = store is not None and writing
    with store.lock() if locking and store else contextlib.nullcontext():
        if locking and store:
            store.remove_stale_temporaries()
        # The clock is read once the lock is held: the wait for it may have been long.
        return _run(module, options, store, time.time() if now is None else now)


def _run(module: t.Any, options: Options, store: SecretStore | None, now: float) -> dict[str, t.Any]:
    """pc_app_secret once its options are checked (and, for a write with a store, its lock is held)."""
    p = module.params
    state = p.get("state") or "present"
    display_name = p.get("display_name")
    check_mode = module.check_mode
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
        "dest": store.path if store else None,
        "store": store.description if store else None,
        "retired_key_ids": [],
        "orphan_key_ids": [],
        "unheld_key_ids": [],
        "secrets": [],
        "policy_violations": [],
    }

    app = _find_application(module, wait=state == "present" and not check_mode)
    if app is None:
        module.set_diff({"secrets": []}, {"secrets": []})
        if state == "absent":
            return dict(result, msg="No application matches %s: no secret to remove." % _describe_target(p))
        if check_mode:
            module.module.warn("No application matches %s (yet); a real run would create the secret once it exists." % _describe_target(p))
            return dict(result, changed=True, action="created", msg="Would create secret %r once the application exists." % display_name)
        raise ConfigurationError(
            "No application matches %s in this tenant (waited up to consistency_timeout=%ss in case it was just created)."
            % (_describe_target(p), p.get("consistency_timeout")),
            option="app_display_name" if p.get("app_display_name") else None,
        )
    result.update(app_id=app.get("appId"), object_id=app.get("id"))
    if state == "absent":
        credentials = [dict(c) for c in app.get("passwordCredentials") or []]
        return _run_absent(module, app, credentials, display_name, options.key_id, store, now, result)
    return _run_present(module, app, options, store, now, result)


def _run_present(module: t.Any, app: dict[str, t.Any], options: Options, store: SecretStore | None, now: float,
                 result: dict[str, t.Any]) -> dict[str, t.Any]:
    """``state=present``; a claim that another runner made first (a shared store) is waited for, then
    the run plans again from what that runner stored."""
    attempts = 3
    for attempt in range(1, attempts + 1):
        try:
            return _present_once(module, app, options, store, now, result)
        except StoreConflict as exc:
            if attempt == attempts:
                raise
            module.module.warn("%s Reading the application and the store again." % exc.message)
            app = _find_application(module, wait=True) or app
            now = time.time()
    raise AssertionError("unreachable")  # pragma: no cover


def _settled(module: t.Any, store: SecretStore) -> tuple[Snapshot, bool]:
    """The store once no other runner's claim is in flight (a shared store), and whether it waited.

    A claim still open after the store's lock_timeout was abandoned by a run that died; its secret,
    if any, is then one this store proves lost.
    """
    snapshot = store.read()
    if store.serialised or snapshot.open_claim is None:
        return snapshot, False
    claim = snapshot.open_claim
    module.module.warn("Another runner is adding secret %r through %s (claim %s, since %s); waiting up to lock_timeout=%ss "
                       "for it." % (claim.display_name, store.description, claim.claim_id or "-", claim.start_date_time,
                                    store.lock_timeout))
    deadline = time.monotonic() + store.lock_timeout
    while snapshot.open_claim is not None and time.monotonic() < deadline:
        time.sleep(CLAIM_POLL_SECONDS)
        snapshot = store.read()
    return snapshot, True


def _present_once(module: t.Any, app: dict[str, t.Any], options: Options, store: SecretStore | None, now: float,
                  result: dict[str, t.Any]) -> dict[str, t.Any]:
    """One plan-and-act pass of ``state=present``."""
    p = module.params
    display_name = p["display_name"]
    lifetime = t.cast(Lifetime, options.lifetime)
    renew_before_days = 30 if p.get("renew_before_days") is None else p["renew_before_days"]
    snapshot = Snapshot(None, "", None)
    tenant_id = None
    if store is not None:
        tenant_id = _tenant_id(module)
        snapshot, waited = _settled(module, store)
        if waited:
            app = _find_application(module, wait=True) or app
    managed = managed_secrets(app, display_name)
    if store is not None:
        check_record_owner(snapshot.record, store, app, display_name, tenant_id)
        if snapshot.record is not None and stored_but_not_visible(snapshot.record, managed, now):
            app = _wait_for_secret(module, app, snapshot.record.held_key_id)
            managed = managed_secrets(app, display_name)
    plan = plan_present(
        managed,
        now=now,
        renew_before_days=renew_before_days,
        rotate=bool(p.get("rotate")),
        retire_previous=bool(p.get("retire_previous")),
        use_store=store is not None,
        record=snapshot.record,
        store_reason=snapshot.reason,
        missing_value=p.get("missing_value") or "fail",
        requested_end=lifetime.end,
    )
    result["unheld_key_ids"] = [str(c.get("keyId")) for c in plan.unheld]
    if plan.value_missing:
        return _value_missing(module, plan, t.cast(SecretStore, store), managed, now, result)
    if plan.unheld:
        module.module.warn(
            "The application has valid secret(s) named %r whose value %s does not hold: %s. They were left alone: another "
            "store, host, checkout or a person holds their value."
            % (display_name, t.cast(SecretStore, store).description, describe_secrets(plan.unheld, now)))
    start, end = lifetime.dates(now)
    violations = _check_policy(module, plan, app, lifetime, start, end, now, renew_before_days, result)

    before = [secret_view(c, now) for c in managed]
    if module.check_mode:
        return _report_check_mode(module, plan, store, managed, display_name, start, end, now, violations, result)

    created, secret_text, lost_now = (None, None, [])
    if plan.create:
        created, secret_text, lost_now = _create_and_store(module, app, plan, store, snapshot, tenant_id, display_name, start, end, now)

    retired = list(lost_now)
    for credential in plan.remove:
        key = str(credential.get("keyId"))
        try:
            if _remove_password(module, app, key):
                retired.append(key)
        except Exception as exc:  # noqa: BLE001 - after a creation, the new value must still be returned
            if created is None:
                raise
            text = exc.to_message() if isinstance(exc, PartnerCenterCollectionError) else "%s: %s" % (type(exc).__name__, exc)
            module.module.warn("Could not remove secret %s after creating %s: %s" % (key, created.get("keyId"), text))

    after = [secret_view(c, now) for c in managed if c.get("keyId") not in retired] + ([secret_view(created, now)] if created else [])
    module.set_diff({"secrets": before}, {"secrets": after})
    shown = secret_view(created, now) if created else secret_view(plan.current, now)
    lost_ids = {str(c.get("keyId")) for c in plan.lost} | set(lost_now)
    result.update(
        changed=bool(created) or bool(retired),
        action=plan.action if created or plan.action == "repaired" and retired else ("removed" if retired else "none"),
        secrets=after,
        retired_key_ids=retired,
        orphan_key_ids=[k for k in retired if k in lost_ids],
        **_current_fields(shown),
    )
    result["msg"] = _message(plan, shown, store, check_mode=False, violations=[], retired=retired)
    if lost_now:
        result["msg"] += " Removed the secret(s) that failed addPassword attempts created, with their value lost: %s." % ", ".join(lost_now)
    if secret_text is not None:
        result["secret_text"] = secret_text
    return result


def _value_missing(module: t.Any, plan: Plan, store: SecretStore, managed: t.Sequence[dict[str, t.Any]], now: float,
                   result: dict[str, t.Any]) -> dict[str, t.Any]:
    """The store holds no value while valid secrets exist: fail (check mode: say that a real run would), list them."""
    text = (
        "%s holds no value for the valid secret(s) named %r of application %s%s: %s. Nothing was changed: a secret whose value "
        "may be in use elsewhere is never replaced or removed. To proceed, point dest at the store that holds the value (for "
        "example the file written by the run that created the secret), or set missing_value=add to add a new secret beside "
        "them (they stay valid until they expire, or until you remove one with state=absent and its key_id)."
        % (store.description, module.params["display_name"], result["app_id"],
           " (%s)" % plan.store_reason if plan.store_reason else "", describe_secrets(plan.unheld, now))
    )
    views = [secret_view(c, now) for c in managed]
    module.set_diff({"secrets": views}, {"secrets": views})
    result.update(secrets=views)
    if module.check_mode:
        module.module.warn("A real run would fail: " + text)
        result["msg"] = "A real run would fail: " + text
        return result
    error = SecretValueMissing(text)
    error.result = {key: result[key] for key in ("app_id", "object_id", "dest", "unheld_key_ids", "secrets")}
    raise error


def _check_policy(module: t.Any, plan: Plan, app: t.Mapping[str, t.Any], lifetime: Lifetime, start: float, end: float,
                  now: float, renew_before_days: int, result: dict[str, t.Any]) -> list[str]:
    """The app management policy's objections to the new secret (a real run fails on them)."""
    if not plan.create:
        return []
    if lifetime.end is not None and lifetime.end <= now + renew_before_days * DAY:
        module.module.warn("end_date_time %s is within renew_before_days (%d): the new secret starts inside its renewal window."
                           % (format_datetime(end), renew_before_days))
    violations = policy_violations(_read_policy(module), app, end - start, lifetime.text)
    result["policy_violations"] = violations
    if violations and not module.check_mode:
        error = AppManagementPolicyError(" ".join(violations) + " Nothing was changed.", hint=POLICY_HINT)
        error.result = {"policy_violations": violations, "action": plan.action, "app_id": app.get("appId")}
        raise error
    return violations


def _report_check_mode(module: t.Any, plan: Plan, store: SecretStore | None, managed: t.Sequence[dict[str, t.Any]], display_name: str,
                       start: float, end: float, now: float, violations: list[str], result: dict[str, t.Any]) -> dict[str, t.Any]:
    """What a real run would do, with nothing written."""
    removing = {c.get("keyId") for c in plan.remove}
    planned = None
    if plan.create:
        planned = {
            "key_id": None,
            "display_name": display_name,
            "hint": None,
            "start_date_time": format_datetime(start),
            "end_date_time": format_datetime(end),
            "days_to_expiry": whole_days(end - now),
        }
    after = [secret_view(c, now) for c in managed if c.get("keyId") not in removing] + ([planned] if planned else [])
    module.set_diff({"secrets": [secret_view(c, now) for c in managed]}, {"secrets": after})
    for violation in violations:
        module.module.warn(violation)
    shown = planned or secret_view(plan.current, now)
    removed = [str(c.get("keyId")) for c in plan.remove]
    result.update(
        changed=plan.create or bool(removed),
        action=plan.action if plan.create or plan.action == "repaired" else ("removed" if removed else "none"),
        secrets=after,
        retired_key_ids=removed,
        orphan_key_ids=[str(c.get("keyId")) for c in plan.lost],
        **_current_fields(shown),
    )
    result["msg"] = _message(plan, shown, store, check_mode=True, violations=violations, retired=removed)
    return result


def _create_and_store(
    module: t.Any, app: t.Mapping[str, t.Any], plan: Plan, store: SecretStore | None, snapshot: Snapshot, tenant_id: str | None,
    display_name: str, start: float, end: float, now: float,
) -> tuple[dict[str, t.Any], str | None, list[str]]:
    """Record the addition in the store, addPassword, store the value. Returns the secret, its value
    (without a store) and the key ids of the secrets that failed attempts created and that were removed.

    The store's record names the addition (display name, start and end) before addPassword is sent,
    so that whatever happens next (a lost answer, a crash, a failed write) the secret it may create
    can be recognised as this store's own and removed by this run or the next one.
    """
    addition = new_addition(display_name, start, end)
    version = snapshot.version
    if store is not None:
        base = snapshot.record or SecretRecord(tenant_id=tenant_id, cloud=module.cloud.name, app_id=app.get("appId"),
                                               display_name=display_name)
        claimed = base._replace(pending=(*base.pending, addition))
        try:
            version = store.claim(claimed, version)
        except OSError as exc:
            raise ConfigurationError(
                "Cannot write %s: %s. Nothing was created." % (store.description, exc.strerror or exc), option=store.option
            ) from None
        except StoreConflict:
            raise
        except PartnerCenterCollectionError as exc:
            exc.hint = " ".join(filter(None, (
                "Nothing was created: a new secret is recorded in %s before it is requested, and that failed." % store.description,
                exc.hint)))
            raise
    try:
        created, failed_attempts = _add_password_retrying(module, app, display_name, start, end)
    except (ServiceError, AppManagementPolicyError) as exc:
        # A refusal (4xx) created nothing: release the claim so that other runners need not wait for it.
        # An ambiguous failure (5xx) keeps it: it is the proof that removes a secret created anyway.
        refused = isinstance(exc, AppManagementPolicyError) or t.cast(ServiceError, exc).status < 500
        if store is not None and refused:
            store.abandon(claimed, version)
        raise
    secret_text = created.pop("secretText", None)
    if not secret_text:
        raise PartnerCenterCollectionError(
            "Microsoft Graph created secret %s but returned no value (secretText); it cannot be used." % created.get("keyId"),
            hint="Remove it with state=absent and its key_id, then rerun.",
        )
    if store is not None:
        record = _next_record(module, app, plan, snapshot.record, created, secret_text, tenant_id, addition if failed_attempts else None, now)
        _store(module, store, version, app, created, record, resolves=addition.claim_id, claimed=claimed)
        secret_text = None
    lost = _remove_lost_attempts(module, app, created, addition) if failed_attempts else []
    return created, secret_text, lost


def _next_record(module: t.Any, app: t.Mapping[str, t.Any], plan: Plan, record: SecretRecord | None, created: t.Mapping[str, t.Any],
                 secret_text: str, tenant_id: str | None, unresolved: PendingAddition | None, now: float) -> SecretRecord:
    """The record of the new secret: the secrets the store held before (for retire_previous), and the
    pending additions whose lost secret may still exist (removed by a later run)."""
    credentials = app.get("passwordCredentials") or []
    existing = {str(c.get("keyId", "")).lower() for c in credentials}
    previous = [str(plan.current["keyId"]).lower()] if plan.current else []
    previous += [k for k in (record.previous_key_ids if record else ()) if k in existing and k not in previous]
    known = [str(created.get("keyId", "")).lower(), *previous]
    pending = [
        a for a in (record.pending if record else ())
        if lost_secrets(credentials, [a], known) or (parse_datetime(a.start_date_time) or 0) > now - PENDING_GRACE_SECONDS
    ]
    if unresolved is not None:
        pending.append(unresolved)
    return SecretRecord(
        tenant_id=tenant_id,
        cloud=module.cloud.name,
        app_id=app.get("appId"),
        key_id=created.get("keyId"),
        display_name=created.get("displayName") or module.params["display_name"],
        secret=secret_text,
        start_date_time=created.get("startDateTime"),
        end_date_time=created.get("endDateTime"),
        previous_key_ids=tuple(previous),
        pending=tuple(pending),
    )


def _store(module: t.Any, store: SecretStore, version: t.Any, app: t.Mapping[str, t.Any], created: t.Mapping[str, t.Any],
           record: SecretRecord, *, resolves: str, claimed: SecretRecord) -> None:
    """Write the new secret's record; when that fails, remove the secret again (its value would be lost)."""
    try:
        store.write(record, version, resolves=resolves)
    except (OSError, PartnerCenterCollectionError) as exc:
        undone = ""
        with contextlib.suppress(PartnerCenterCollectionError):
            if _remove_password(module, app, str(created.get("keyId"))):
                undone = " The new secret %s was removed again, as its value could not be kept." % created.get("keyId")
                store.abandon(claimed, version)
        reason = exc.strerror or str(exc) if isinstance(exc, OSError) else exc.to_message()
        raise PartnerCenterCollectionError(
            "Could not write %s: %s.%s" % (store.description, reason, undone), hint="Check the store and rerun."
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


def _remove_lost_attempts(module: t.Any, app: t.Mapping[str, t.Any], created: t.Mapping[str, t.Any],
                          addition: PendingAddition) -> list[str]:
    """Remove the secrets that failed addPassword attempts of this run created (the same addition,
    another key id). Returns their key ids."""
    try:
        current = module.graph.get("applications/%s" % app["id"], select=("id", "passwordCredentials"), operation="read_application")
    except PartnerCenterCollectionError as exc:
        module.module.warn("Could not look for secrets lost by the failed addPassword attempts: %s" % exc.to_message())
        return []
    lost = lost_secrets((current or {}).get("passwordCredentials") or [], [addition], [str(created.get("keyId", ""))])
    removed = []
    for credential in lost:
        key = str(credential.get("keyId"))
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


def _message(plan: Plan, shown: t.Mapping[str, t.Any], store: SecretStore | None, *, check_mode: bool, violations: t.Sequence[str],
             retired: t.Sequence[str] = ()) -> str:
    """One human sentence or two about what happened (never the value)."""
    would = "Would remove" if check_mode else "Removed"
    lost = [str(c.get("keyId")) for c in plan.lost]
    others = [str(c.get("keyId")) for c in plan.remove if str(c.get("keyId")) not in lost]
    if not plan.create:
        text = "Nothing to create: %s." % plan.reason
        if lost:
            text += " %s the secret(s) %s, created by an earlier run on this store whose value never reached it." % (would, ", ".join(lost))
        if others:
            text += " %s the previous secret(s) %s that %s held before (retire_previous=true)." % (
                "Would retire" if check_mode else "Retired", ", ".join(others), store.description if store else "the store")
        return text
    verb = {"created": "create", "renewed": "renew", "rotated": "rotate", "added": "add"}[plan.action]
    if check_mode:
        text = "Would %s secret %r (%s): a new secret valid until %s." % (verb, shown.get("display_name"), plan.reason, shown.get("end_date_time"))
        where = " It would be stored in %s." % store.description if store else " Its value would be returned once as secret_text."
    else:
        text = "%s secret %r (%s): new key id %s (hint %s) valid until %s." % (
            plan.action.capitalize(), shown.get("display_name"), plan.reason, shown.get("key_id"), shown.get("hint"),
            shown.get("end_date_time"))
        where = " Its value is stored in %s." % store.description if store else " Its value is returned once as secret_text."
    text += where
    if lost:
        text += " %s the secret(s) %s, created by an earlier run on this store whose value never reached it, after storing the " \
                "new one." % (would, ", ".join(lost))
    if others:
        text += " %s the previous secret(s) %s (retire_previous=true)." % ("Would retire" if check_mode else "Retired", ", ".join(others))
    elif plan.action in ("renewed", "rotated", "added"):
        text += " The other secret(s) stay valid until they expire (retire_previous=false)."
    if violations:
        text += " But: " + " ".join(violations)
    return text


def _run_absent(
    module: t.Any,
    app: t.Mapping[str, t.Any],
    credentials: list[dict[str, t.Any]],
    display_name: str | None,
    key_id: str | None,
    store: SecretStore | None,
    now: float,
    result: dict[str, t.Any],
) -> dict[str, t.Any]:
    """``state=absent``: remove this secret (all secrets with the name, or one key id)."""
    plan = plan_absent(credentials, display_name=display_name, key_id=key_id)
    # Read the store first: a dest that is not a record fails here, before anything is removed.
    stored = store.read().record if store is not None else None
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
        if store is not None:
            if stored is not None and stored.held_key_id in {k.lower() for k in retired}:
                dest_removed = True
                if store.path is None:
                    dest_removed = False
                    msg += " %s still holds the value of the removed secret (left alone: remote stores keep their versions)." % (
                        store.description)
                else:
                    if not module.check_mode:
                        store.delete()
                    msg += " %s %s, which held the value of a removed secret." % ("Would delete" if module.check_mode else "Deleted",
                                                                                  store.path)
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
