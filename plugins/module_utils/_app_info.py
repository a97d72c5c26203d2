# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The audit of pc_aad_app_info: read-only facts about app registrations, and the findings in them.

Per application: requested permissions by name against actual consent, drift from an expected set,
secrets and certificates with their expiry (and which store holds a secret's value), and the
Partner Center registration of a web app.
"""

from __future__ import annotations

import time
import typing as t

from ._api_catalogue import ROLE, Resolver, known_api_ids, resolve_requests
from ._consent import is_consented, read_client, scope_tokens
from ._directory import APPLICATION_KEYS, find_target_application, list_applications
from ._errors import AuthenticationError, ConfigurationError, ServiceError
from ._expiry import expiry_status
from ._permissions import permission_dict, permission_label, rra_keys, validate_params
from ._specs import TARGET_APPLICATION_SPEC

# _registration and _remote_stores are imported where the web app's Partner Center registration is
# checked (webapp_* given): other audits do not compile them from the AnsiballZ zip (issue 16, start-up cost).
if t.TYPE_CHECKING:  # pragma: no cover - annotations only: domain files do not import the module layer
    from ._module import PartnerCenterModule

# What the audit reports of an application: its audience, permissions and credentials.
APP_SELECT = APPLICATION_KEYS + ("signInAudience", "createdDateTime", "requiredResourceAccess", "passwordCredentials",
                                 "keyCredentials")


def credential_status(credential: t.Mapping[str, t.Any], now: float, expiry_days: int) -> dict[str, t.Any]:
    """A secret or certificate without its value: dates, whole days to expiry and a status."""
    days, status = expiry_status(credential, now, expiry_days)
    return {"key_id": credential.get("keyId"), "display_name": credential.get("displayName"),
            "hint": credential.get("hint"), "start_date_time": credential.get("startDateTime"),
            "end_date_time": credential.get("endDateTime"), "days_to_expiry": days, "status": status}


class AppAudit:
    """Reads what one module run needs, each API's service principal once."""

    def __init__(self, module: PartnerCenterModule) -> None:
        self.module = module
        self.graph = module.graph
        self.resolver = Resolver(self.graph)
        self.now = time.time()
        self.expiry_days = module.params["secret_expiry_days"]
        # Checked before any request; resolved once, after the first app's batch read its APIs.
        self.requests = None
        if module.params["expected_permissions"] is not None:
            self.requests = validate_params({"permissions": module.params["expected_permissions"], "mode": "exact"})
        self.expected: dict[str, t.Any] | None = None

    def resolve_expected(self) -> None:
        """Resolve expected_permissions (once): unknown names are an error even when no app matched."""
        if self.requests is not None and self.expected is None:
            self.expected = resolve_requests(self.resolver, self.requests)

    def describe(self, app: t.Mapping[str, t.Any], check_partner_center: bool) -> dict[str, t.Any]:
        """Everything the audit reports about one application."""
        requested = rra_keys(app.get("requiredResourceAccess"))
        api_ids = [key[0] for key in requested] + known_api_ids(self.requests or [])
        sp_id, consent = read_client(self.graph, self.resolver, app["appId"], api_ids, tolerate_forbidden=True)
        self.resolve_expected()
        permissions = []
        for api_app_id, permission_id, ptype in requested:
            resource = self.resolver.resource(api_app_id)
            if resource is None:
                permissions.append({"api": api_app_id, "api_app_id": api_app_id, "value": None, "id": permission_id,
                                    "type": "application" if ptype == ROLE else "delegated", "display_name": None,
                                    "consented": None})
                continue
            permission = resource.permission(permission_id, ptype)
            scopes = scope_tokens(consent.scope_of(resource.sp_id)) if consent.grants_known else None
            roles = set(consent.roles_of(resource.sp_id)) if consent.assignments_known else None
            permissions.append(permission_dict(permission, resource, is_consented(permission, scopes, roles)))
        store = None
        if check_partner_center:
            # Imported on use: see the imports at the top.
            from ._remote_stores import open_webapp_store  # pylint: disable=import-outside-toplevel

            store = open_webapp_store(self.module)
        record = store.read().record if store is not None else None
        held = {str(record.key_id).lower(): store.description} if record is not None and record.secret and store else {}
        secrets = [dict(credential_status(c, self.now, self.expiry_days), held_by=held.get(str(c.get("keyId", "")).lower()))
                   for c in app.get("passwordCredentials") or []]
        certificates = [credential_status(c, self.now, self.expiry_days) for c in app.get("keyCredentials") or []]
        result = {
            "app_id": app["appId"], "object_id": app["id"], "display_name": app.get("displayName"),
            "unique_name": app.get("uniqueName"), "sign_in_audience": app.get("signInAudience"),
            "created_date_time": app.get("createdDateTime"), "service_principal_id": sp_id,
            "permissions": permissions,
            "consent_missing": [permission_label(p) for p in permissions if p["consented"] is False],
            "drift": self._drift(requested, permissions),
            "secrets": secrets, "certificates": certificates,
            "secret_store": store.description if store is not None else None,
            "partner_center": self._partner_center(app, store) if check_partner_center else None,
        }
        result["problems"] = problems(result)
        return result

    def _drift(self, requested: list[tuple[str, str, str]], permissions: list[dict[str, t.Any]]) -> dict[str, t.Any] | None:
        """Permissions missing from, or beyond, the expected set (by name)."""
        if self.expected is None:
            return None
        expected = {p.key: permission_dict(p, w.resource) for w in self.expected.values() for p in w.permissions}
        have = dict(zip(requested, permissions))
        return {"missing": sorted(permission_label(p) for key, p in expected.items() if key not in have),
                "extra": sorted(permission_label(p) for key, p in have.items() if key not in expected)}

    def _partner_center(self, app: t.Mapping[str, t.Any], store: t.Any) -> dict[str, t.Any]:
        """Whether Partner Center accepts the web app's own app-only call; ``checked`` is false, with the
        reason in ``detail``, when the audit could not ask (no secret value to sign in with, or an error)."""
        # Imported on use: see the imports at the top.
        from ._registration import RegistrationCheck, webapp_credentials  # pylint: disable=import-outside-toplevel

        params = self.module.params
        # Read-only: a store without the value is a finding of the audit, not an error of the run.
        credentials, dummy, missing = webapp_credentials(params, params["tenant_id"] or "", app["appId"],
                                                         check_mode=True, store=store)
        if missing:
            return {"registered": None, "checked": False, "detail": missing}
        try:
            registered, refusal = RegistrationCheck(self.module).probe(credentials)
        except (AuthenticationError, ServiceError) as exc:
            return {"registered": None, "checked": False, "detail": exc.to_message()}
        return {"registered": registered, "checked": True, "detail": refusal}


def problems(app: t.Mapping[str, t.Any]) -> list[str]:
    """The findings a person acts on, one line each."""
    found = ["consent missing: %s" % label for label in app["consent_missing"]]
    if app["drift"]:
        found += ["permission missing: %s" % label for label in app["drift"]["missing"]]
        found += ["permission not expected: %s" % label for label in app["drift"]["extra"]]
    for kind, items in (("secret", app["secrets"]), ("certificate", app["certificates"])):
        for item in items:
            if item["status"] in ("expired", "expiring"):
                found.append("%s %r (%s) %s" % (kind, item["display_name"], item["key_id"],
                                                "expired" if item["status"] == "expired"
                                                else "expires in %d days" % item["days_to_expiry"]))
    if app.get("secret_store"):
        for item in app["secrets"]:
            if item["status"] != "expired" and not item.get("held_by"):
                found.append("secret %r (%s) is valid but %s does not hold its value"
                             % (item["display_name"], item["key_id"], app["secret_store"]))
    if app["service_principal_id"] is None:
        found.append("no service principal")
    # Graph answered 403 on the reads (tolerate_forbidden): least privileges of "List appRoleAssignments granted for a
    # service principal" and "List oauth2PermissionGrants", https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments
    # and https://learn.microsoft.com/graph/api/serviceprincipal-list-oauth2permissiongrants
    unknown = [p for p in app["permissions"] if p["consented"] is None and p["value"] is not None]
    if unknown and app["service_principal_id"] is not None:
        found.append("consent not checked: the signed-in identity may not read the app's grants and role assignments "
                     "(%s); give it Application.Read.All and DelegatedPermissionGrant.Read.All (or Directory.Read.All)"
                     % ", ".join(permission_label(p) for p in unknown))
    pc = app["partner_center"]
    if pc is not None and pc["registered"] is False:
        found.append("not registered in Partner Center")
    elif pc is not None and pc["registered"] is None:
        found.append("Partner Center registration not checked: %s" % pc["detail"])
    return found


def run_pc_aad_app_info(module: PartnerCenterModule) -> dict[str, t.Any]:
    """The module's logic (read-only)."""
    params = module.params
    if params["secret_expiry_days"] < 0:
        raise ConfigurationError("secret_expiry_days must be 0 or more.", option="secret_expiry_days")
    selected = any(params.get(option) for option in TARGET_APPLICATION_SPEC)
    if selected and params.get("filter"):
        raise ConfigurationError("filter cannot be combined with object_id, app_id, unique_name or display_name.",
                                 option="filter")
    credentials_given = any(params.get(o) for o in ("webapp_client_secret", "webapp_secret_file", "webapp_secret_store",
                                                    "webapp_certificate_path"))
    module.validate()
    audit = AppAudit(module)
    if selected:
        app = find_target_application(module, select=APP_SELECT)
        apps = [app] if app else []
    else:
        apps = list_applications(module.graph, odata_filter=params.get("filter"), select=APP_SELECT)
    if credentials_given and len(apps) > 1:
        raise ConfigurationError("The web app credentials (webapp_*) check one application: designate it with app_id, "
                                 "object_id, unique_name or display_name.", option="webapp_secret_file")
    described = [audit.describe(app, credentials_given) for app in apps]
    audit.resolve_expected()
    return {"changed": False, "exists": bool(apps) if selected else None, "applications": described}
