# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Which client secrets a pc_app_secret run creates and removes, and why: pure planning, no requests.

- Lifetimes: ``expires_in`` (1y, 2y, days) or ``end_date_time``; start and end of a new secret.
- Selection: the secrets with the display name, the newest, the renewal window.
- Plans for ``state=present`` and ``state=absent``, from the application's secrets and the store's
  record: which secret is current (the one the store holds), which ones the store's own runs
  created and lost (a pending addition proves it), which valid ones it does not hold (never
  removed), and what is created or retired.
- The store's next record, and the checks that a record belongs to this tenant, app and secret.

The custody rules these plans follow are told in _secrets (the run).
"""

from __future__ import annotations

import math
import re
import typing as t

from ._errors import ConfigurationError
from ._expiry import DAY, credential_end, credential_start, days_to_expiry, is_expired
from ._ids import is_guid
from ._secret_stores import PendingAddition, SecretRecord, SecretStore
from ._timestamps import format_datetime, parse_datetime

DEFAULT_EXPIRES_IN = "1y"
# The portal's choices: 365 days ("12 months") and 730 days ("24 months").
DAYS_PER_YEAR = 365
MAX_LIFETIME_DAYS = 100 * DAYS_PER_YEAR
ACTIONS = ("created", "renewed", "rotated", "added", "repaired", "removed", "none")
# A store record written this recently whose key id the application does not show (yet) is waited
# for: new credentials can take a while to appear in reads (directory replication).
RECENT_STORE_SECONDS = 600.0
# A pending addition that matches no secret is kept this long (a just-created secret may not show in
# reads yet), then forgotten at the store's next write.
PENDING_GRACE_SECONDS = 3600.0
_EXPIRES_IN = re.compile(r"^\s*(\d+)\s*([yd]?)\s*$", re.IGNORECASE)


# -------------------------------------------------------------------------------------------------
# Lifetimes
# -------------------------------------------------------------------------------------------------


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
        current, lost, unheld, store_reason = _store_view(managed, record, store_reason, now)
    else:
        current = newest(managed)
    action, reason, value_missing = _action(
        managed, current, lost, unheld, now=now, renew_before_days=renew_before_days, rotate=rotate, use_store=use_store,
        store_reason=store_reason, missing_value=missing_value, requested_end=requested_end)
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


def _store_view(
    managed: t.Sequence[dict[str, t.Any]], record: SecretRecord | None, store_reason: str, now: float
) -> tuple[dict[str, t.Any] | None, list[dict[str, t.Any]], list[dict[str, t.Any]], str]:
    """With a store: the secret whose value it holds, the secrets its own pending additions created with
    their value lost, the valid secrets it does not hold, and why it holds none of them (if so)."""
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
    return current, lost, unheld, store_reason


def _action(
    managed: t.Sequence[dict[str, t.Any]],
    current: dict[str, t.Any] | None,
    lost: t.Sequence[dict[str, t.Any]],
    unheld: t.Sequence[dict[str, t.Any]],
    *,
    now: float,
    renew_before_days: int,
    rotate: bool,
    use_store: bool,
    store_reason: str,
    missing_value: str,
    requested_end: float | None,
) -> tuple[str, str, bool]:
    """What ``state=present`` does about the current secret (created, renewed, rotated, added or none),
    why, and whether the run must stop because the store holds no value (``missing_value=fail``)."""
    window = "renew_before_days=%d" % renew_before_days
    if use_store and current is None and unheld:
        if missing_value == "add":
            return "added", "the store holds no value for the valid secret(s) %s (%s); missing_value=add adds one beside them" % (
                _names(unheld), store_reason), False
        return "none", "the store holds no value for the valid secret(s) %s (%s)" % (_names(unheld), store_reason), True
    if rotate and current is not None:
        return "rotated", "rotate=true forces a new secret", False
    if current is None:
        previous = [c for c in managed if c.get("keyId") not in {x.get("keyId") for x in lost}]
        action = "created" if not previous else "renewed"
        reason = "the application has no secret with this display name" if not previous else "no secret with this display name is valid"
        if use_store and store_reason:
            reason += " (%s)" % store_reason
        return action, reason, False
    if needs_renewal(current, now, renew_before_days, requested_end):
        if is_expired(current, now):
            return "renewed", "secret %s expired on %s" % (current.get("keyId"), current.get("endDateTime")), False
        return "renewed", "secret %s expires in %d days (%s), within the renewal window (%s)" % (
            current.get("keyId"), days_to_expiry(current, now), current.get("endDateTime"), window), False
    return "none", "secret %s is valid until %s (%d days), beyond the renewal window (%s)" % (
        current.get("keyId"), current.get("endDateTime"), days_to_expiry(current, now), window), False


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
# The store's record
# -------------------------------------------------------------------------------------------------


def stored_but_not_visible(record: SecretRecord | None, managed: t.Sequence[t.Mapping[str, t.Any]], now: float) -> bool:
    """Whether the store holds a secret created moments ago that the application does not show (yet)."""
    if record is None or not record.held_key_id or credential_with_key(managed, record.held_key_id) is not None:
        return False
    started = parse_datetime(record.start_date_time)
    return started is not None and now - RECENT_STORE_SECONDS <= started <= now + 60


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


def next_record(app: t.Mapping[str, t.Any], plan: Plan, record: SecretRecord | None, created: t.Mapping[str, t.Any],
                secret_text: str, *, tenant_id: str | None, cloud: str, display_name: str, unresolved: PendingAddition | None,
                now: float) -> SecretRecord:
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
        cloud=cloud,
        app_id=app.get("appId"),
        key_id=created.get("keyId"),
        display_name=created.get("displayName") or display_name,
        secret=secret_text,
        start_date_time=created.get("startDateTime"),
        end_date_time=created.get("endDateTime"),
        previous_key_ids=tuple(previous),
        pending=tuple(pending),
    )
