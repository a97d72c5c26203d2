# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The Graph work of pc_app_secret: its application, addPassword (retried), removePassword, the policy.

Reads the application with its secrets (waiting for a new one to become visible), adds and
removes password credentials (through _directory, which knows the paths), and reads the tenant's
default app management policy.

addPassword is not idempotent: a 5xx answer or a lost connection leaves it unknown whether a secret
was created (https://learn.microsoft.com/graph/api/application-addpassword). _http does not repeat
such a POST; :func:`add_password_retrying` does, within ``retry_timeout``, and counts the attempts
whose outcome is unknown so that the run (_secrets) can remove the secrets they created once a new
value is stored.
"""

from __future__ import annotations

import typing as t

from ._directory import APPLICATION_KEYS, find_target_application, read_password_credentials, wait_until_visible
from ._directory import add_password as graph_add_password
from ._directory import remove_password as graph_remove_password
from ._errors import ConsistencyTimeout, PartnerCenterCollectionError, ServiceError, TransportError
from ._secret_plan import credential_with_key, describe_days
from ._secret_policy import POLICY_ERROR_CODES, POLICY_HINT, AppManagementPolicyError
from ._timestamps import format_datetime

# The application as pc_app_secret reads it: its secrets, and its creation date (a policy restriction
# may apply only to applications created after a date); not the properties pc_aad_app manages.
SECRETS_SELECT = APPLICATION_KEYS + ("createdDateTime", "passwordCredentials")


def read_application(module: t.Any) -> dict[str, t.Any] | None:
    """The target application with its secrets, or None."""
    return find_target_application(module, select=SECRETS_SELECT, display_name_option="app_display_name")


def target_application(module: t.Any, wait: bool) -> dict[str, t.Any] | None:
    """The target application; waits for it (it may have just been created) when ``wait``."""
    return find_target_application(module, select=SECRETS_SELECT, display_name_option="app_display_name", wait=wait)


def wait_for_secret(module: t.Any, app: dict[str, t.Any], key_id: str) -> dict[str, t.Any]:
    """The application once it shows the secret ``key_id``, within consistency_timeout; else as it was.

    A run that stored a new secret a moment ago (another run on this store, or this play's previous
    task) may be followed by reads that do not show it yet (directory replication,
    https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
    """

    def shows(found: dict[str, t.Any]) -> bool:
        return credential_with_key(found.get("passwordCredentials") or [], key_id) is not None

    try:
        return wait_until_visible(module.graph, lambda: read_application(module), shows=shows,
                                  what="secret %s of the application" % key_id)
    except ConsistencyTimeout:
        return app


def read_policy(module: t.Any) -> dict[str, t.Any] | None:
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


def read_secrets(module: t.Any, app: t.Mapping[str, t.Any]) -> list[dict[str, t.Any]]:
    """The application's password credentials as Graph shows them now."""
    return read_password_credentials(module.graph, app["id"])


def add_password(module: t.Any, app: t.Mapping[str, t.Any], display_name: str, start: float, end: float) -> dict[str, t.Any]:
    """One addPassword (repeated only while the application has not replicated); the new secret with its
    value (``secretText``). A refusal by an app management policy is explained; an answer that leaves it
    unknown whether a secret was created says so in its hint."""
    requested = {"displayName": display_name, "startDateTime": format_datetime(start), "endDateTime": format_datetime(end)}
    try:
        response = graph_add_password(module.graph, app, requested)
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
        if not exc.tls:  # a failed TLS verification sent nothing: its own hint (ca_bundle) stays
            exc.hint = _ambiguous_hint(display_name)
        raise
    credential = dict(response.body or {})
    credential.pop("@odata.context", None)
    return credential


def _ambiguous_hint(display_name: str) -> str:
    """What to do after addPassword failed in a way that leaves it unknown whether it created a secret.

    add_password_retrying repeats addPassword until retry_timeout runs out (_http itself repeats a
    throttled POST, 429 or 503, but not one answered with another 5xx or whose connection was lost
    after it was sent): the hint reaches the user only when no attempt said whether it created a secret.
    """
    return (
        "The secret may have been created anyway, with its value lost: addPassword is repeated until retry_timeout runs "
        "out, and no attempt got an answer that says whether it created one. Rerun the task: with dest or store, the store "
        "recorded the addition before it was asked for, so the rerun removes such a secret once a new value is stored; "
        "without one, look for a secret named %r that you do not hold and remove it (state=absent with its key_id)."
        % display_name
    )


def add_password_retrying(
    module: t.Any, app: t.Mapping[str, t.Any], display_name: str, start: float, end: float
) -> tuple[dict[str, t.Any], int]:
    """addPassword, repeated within retry_timeout after an answer that leaves its outcome unknown
    (HTTP 5xx, a connection lost); returns the secret and the number of such failed attempts.

    Each failed attempt may have created a secret whose value is lost; the caller removes those once
    the new value is safe (_secrets._remove_lost_attempts). A refusal (4xx) or a TLS failure is not repeated.
    """
    http = module.graph.http
    deadline = http.clock() + http.retry_timeout
    failed = 0
    while True:
        try:
            return add_password(module, app, display_name, start, end), failed
        except ServiceError as exc:
            if exc.status < 500:
                # A refusal after attempts whose outcome is unknown: those may have created secrets.
                exc.unknown_attempts = failed
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


def remove_password(module: t.Any, app: t.Mapping[str, t.Any], key_id: str) -> bool:
    """Remove one secret; False when it was already gone."""
    try:
        graph_remove_password(module.graph, app["id"], key_id)
    except ServiceError as exc:
        text = (exc.service_message or "").lower()
        if exc.is_not_found or (exc.status == 400 and (key_id.lower() in text or "credential" in text)):
            return False
        raise
    return True
