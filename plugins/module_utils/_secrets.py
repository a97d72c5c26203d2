# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The run of pc_app_secret: checks the options, takes the store's turn, plans, writes in custody order, reports.

The planning is in _secret_plan (pure), the app management policy in _secret_policy, the Graph calls
(addPassword and its retries) in _passwords, the stores in _secret_stores and _remote_stores. The
rules they follow together:

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
import time
import typing as t

from ._auth import token_tenant
from ._errors import ConfigurationError, PartnerCenterCollectionError, ServiceError
from ._expiry import DAY, whole_days
from ._ids import require_guid
from ._passwords import (
    add_password_retrying,
    read_policy,
    read_secrets,
    remove_password,
    target_application,
    wait_for_secret,
)
from ._remote_stores import check_store_option, new_addition, open_store, with_vault_environment
from ._secret_plan import (
    Lifetime,
    Plan,
    check_record_owner,
    describe_secrets,
    lifetime_warning,
    lost_secrets,
    managed_secrets,
    next_record,
    parse_lifetime,
    plan_absent,
    plan_present,
    secret_view,
    stored_but_not_visible,
)
from ._secret_policy import POLICY_HINT, AppManagementPolicyError, policy_violations
from ._secret_stores import DEFAULT_LOCK_TIMEOUT, FileStore, PendingAddition, SecretRecord, SecretStore, Snapshot, StoreConflict
from ._timestamps import format_datetime

MISSING_VALUE_CHOICES = ("fail", "add")
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


def _describe_target(p: t.Mapping[str, t.Any]) -> str:
    for option in ("object_id", "app_id", "unique_name", "app_display_name"):
        if p.get(option):
            return "%s %r" % (option, p[option])
    return "the application"


def _tenant_id(module: t.Any) -> str | None:
    """The tenant's GUID from the Graph token (``tid``), else the tenant_id option."""
    graph = module.graph
    return token_tenant(graph.token_provider, graph.resource) or module.params.get("tenant_id")


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

    app = target_application(module, wait=state == "present" and not check_mode)
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
            app = target_application(module, wait=True) or app
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
    """One plan-and-act pass of ``state=present``: read the application and the store, plan, check the
    policy, then write (in check mode: report what a real run would do)."""
    p = module.params
    display_name = p["display_name"]
    lifetime = t.cast(Lifetime, options.lifetime)
    renew_before_days = 30 if p.get("renew_before_days") is None else p["renew_before_days"]
    app, managed, snapshot, tenant_id = _read_present(module, app, store, display_name, now)
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
    if module.check_mode:
        return _report_check_mode(module, plan, store, managed, display_name, start, end, now, violations, result)
    return _apply_present(module, app, plan, store, snapshot, tenant_id, managed, (start, end), now, result)


def _read_present(module: t.Any, app: dict[str, t.Any], store: SecretStore | None, display_name: str,
                  now: float) -> tuple[dict[str, t.Any], list[dict[str, t.Any]], Snapshot, str | None]:
    """The application (read again after waiting for another runner), its secrets with this display
    name, the store's record once no other claim is in flight, and the tenant's GUID (with a store).

    A record of another tenant, application or name is refused here, before any write; a secret the
    store holds that reads do not show yet is waited for."""
    snapshot = Snapshot(None, "", None)
    tenant_id = None
    if store is not None:
        tenant_id = _tenant_id(module)
        snapshot, waited = _settled(module, store)
        if waited:
            app = target_application(module, wait=True) or app
    managed = managed_secrets(app, display_name)
    if store is not None:
        check_record_owner(snapshot.record, store, app, display_name, tenant_id)
        if snapshot.record is not None and stored_but_not_visible(snapshot.record, managed, now):
            app = wait_for_secret(module, app, snapshot.record.held_key_id)
            managed = managed_secrets(app, display_name)
    return app, managed, snapshot, tenant_id


def _apply_present(module: t.Any, app: dict[str, t.Any], plan: Plan, store: SecretStore | None, snapshot: Snapshot,
                   tenant_id: str | None, managed: t.Sequence[dict[str, t.Any]], dates: tuple[float, float], now: float,
                   result: dict[str, t.Any]) -> dict[str, t.Any]:
    """Carry out a ``state=present`` plan: create and store the new secret, then remove the planned ones."""
    display_name = module.params["display_name"]
    before = [secret_view(c, now) for c in managed]
    created, secret_text, lost_now = (None, None, [])
    if plan.create:
        created, secret_text, lost_now = _create_and_store(module, app, plan, store, snapshot, tenant_id, display_name, *dates, now)
    retired = list(lost_now) + _remove_planned(module, app, plan, created)
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


def _remove_planned(module: t.Any, app: t.Mapping[str, t.Any], plan: Plan, created: t.Mapping[str, t.Any] | None) -> list[str]:
    """Remove the secrets the plan retires or proves lost; their key ids. Once a secret was created, a
    failed removal is only a warning: the new value must still be returned."""
    retired = []
    for credential in plan.remove:
        key = str(credential.get("keyId"))
        try:
            if remove_password(module, app, key):
                retired.append(key)
        except Exception as exc:  # noqa: BLE001 - after a creation, the new value must still be returned
            if created is None:
                raise
            text = exc.to_message() if isinstance(exc, PartnerCenterCollectionError) else "%s: %s" % (type(exc).__name__, exc)
            module.module.warn("Could not remove secret %s after creating %s: %s" % (key, created.get("keyId"), text))
    return retired


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
    violations = policy_violations(read_policy(module), app, end - start, lifetime.text)
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
        created, failed_attempts = add_password_retrying(module, app, display_name, start, end)
    except (ServiceError, AppManagementPolicyError) as exc:
        # A refusal (4xx) created nothing: release the claim so that other runners need not wait for it.
        # An ambiguous failure (5xx), or a refusal after one, keeps it: it is the proof that removes a secret
        # an earlier attempt created anyway.
        refused = isinstance(exc, AppManagementPolicyError) or t.cast(ServiceError, exc).status < 500
        if store is not None and refused and not (isinstance(exc, ServiceError) and exc.unknown_attempts):
            store.abandon(claimed, version)
        raise
    secret_text = created.pop("secretText", None)
    if not secret_text:
        raise PartnerCenterCollectionError(
            "Microsoft Graph created secret %s but returned no value (secretText); it cannot be used." % created.get("keyId"),
            hint="Remove it with state=absent and its key_id, then rerun.",
        )
    if store is not None:
        record = next_record(app, plan, snapshot.record, created, secret_text, tenant_id=tenant_id, cloud=module.cloud.name,
                             display_name=display_name, unresolved=addition if failed_attempts else None, now=now)
        _store(module, store, version, app, created, record, resolves=addition.claim_id, claimed=claimed)
        secret_text = None
    lost = _remove_lost_attempts(module, app, created, addition) if failed_attempts else []
    return created, secret_text, lost


def _store(module: t.Any, store: SecretStore, version: t.Any, app: t.Mapping[str, t.Any], created: t.Mapping[str, t.Any],
           record: SecretRecord, *, resolves: str, claimed: SecretRecord) -> None:
    """Write the new secret's record; when that fails, remove the secret again (its value would be lost)."""
    try:
        store.write(record, version, resolves=resolves)
    except (OSError, PartnerCenterCollectionError) as exc:
        undone = ""
        with contextlib.suppress(PartnerCenterCollectionError):
            if remove_password(module, app, str(created.get("keyId"))):
                undone = " The new secret %s was removed again, as its value could not be kept." % created.get("keyId")
                store.abandon(claimed, version)
        reason = exc.strerror or str(exc) if isinstance(exc, OSError) else exc.to_message()
        raise PartnerCenterCollectionError(
            "Could not write %s: %s.%s" % (store.description, reason, undone), hint="Check the store and rerun."
        ) from None


def _remove_lost_attempts(module: t.Any, app: t.Mapping[str, t.Any], created: t.Mapping[str, t.Any],
                          addition: PendingAddition) -> list[str]:
    """Remove the secrets that failed addPassword attempts of this run created (the same addition,
    another key id). Returns their key ids."""
    try:
        credentials = read_secrets(module, app)
    except PartnerCenterCollectionError as exc:
        module.module.warn("Could not look for secrets lost by the failed addPassword attempts: %s" % exc.to_message())
        return []
    lost = lost_secrets(credentials, [addition], [str(created.get("keyId", ""))])
    removed = []
    for credential in lost:
        key = str(credential.get("keyId"))
        try:
            if remove_password(module, app, key):
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
            if remove_password(module, app, key):
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
