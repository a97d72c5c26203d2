# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The tenant's app management policy: which of its restrictions refuse a new client secret.

Before writing, pc_app_secret reads the tenant's default app management policy
(https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy): a restriction that
blocks password credentials or caps their lifetime below the request fails the task (check mode:
reports it). When Graph itself refuses addPassword because of a policy (the tenant's, or one
assigned to the application), the refusal is explained in the same words.
"""

from __future__ import annotations

import re
import typing as t

from ._errors import PartnerCenterCollectionError, ServiceError
from ._secret_plan import DAYS_PER_YEAR, describe_days
from ._timestamps import parse_datetime

# addPassword's answers when an app management policy refuses the credential.
POLICY_ERROR_CODES = ("CredentialTypeNotAllowedAsPerAppPolicy", "CredentialInvalidLifetimeAsPerAppPolicy")
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.IGNORECASE
)
POLICY_HINT = (
    "Ask for a shorter lifetime (expires_in, end_date_time) if the policy caps it, or ask a policy administrator to exempt "
    "the application (an appManagementPolicy assigned to it), or use a certificate credential."
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


def parse_duration(value: t.Any) -> float | None:
    """Seconds of an ISO 8601 duration such as ``P90D`` or ``P1Y`` (a year is 365 days, a month 30), or None."""
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip())
    if not match or value.strip().upper() in ("P", "PT"):
        return None
    years, months, weeks, days, hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
    return ((years * DAYS_PER_YEAR + months * 30 + weeks * 7 + days) * 24 + hours) * 3600 + minutes * 60 + secs


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
