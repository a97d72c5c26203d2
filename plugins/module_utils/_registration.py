# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The run of pc_register_webapp: observes the web app's Partner Center registration and its prerequisites.

Checks (and where allowed fixes) the prerequisites, observes the registration as Partner Center sees
it, and waits while an operator does the portal step.

Partner Center has no API to register a web app: the portal's Account settings > App management >
Web app > Register existing app does it (feature request microsoft/Partner-Center-PowerShell#324,
open since 2020). Registration is therefore observed, not made: an app-only token for the cloud's
Partner Center resource, obtained with the web app's OWN credentials, and a light app-only call
(``GET /v1/customers?size=1``, which supports "standalone App" credentials:
https://learn.microsoft.com/partner-center/developer/get-a-list-of-customers) succeed only for a
registered app.
"""

from __future__ import annotations

import difflib
import os
import time
import typing as t
from dataclasses import asdict, dataclass

from ._clouds import Cloud
from ._credentials import Credentials
from ._directory import (
    APPLICATION_SELECT,
    READ_ASSIGNMENTS,
    assignments_item,
    ensure_service_principal,
    find_target_application,
    service_principal_item,
)
from ._errors import AuthenticationError, ConfigurationError, ServiceError
from ._expiry import valid_now
from ._graph import body_or_none
from ._ids import AAD_GRAPH_APP_ID, GRAPH_APP_ID, PARTNER_CENTER_APP_ID
from ._remote_stores import open_webapp_store
from ._secret_stores import SecretStore
from ._timestamps import parse_datetime

if t.TYPE_CHECKING:  # pragma: no cover - annotations only: domain files do not import the module layer
    from ._module import PartnerCenterModule

PORTAL_PATH = "Account settings > App management > Web app > Register existing app"
# Identity errors that only mean "not replicated yet" right after the app, its service principal,
# its secret or Partner Center's service principal were created.
REPLICATION_AADSTS = ("AADSTS7000215", "AADSTS7000229", "AADSTS700016", "AADSTS500011")
FRESH_SECONDS = 600  # a secret or object this young may still be replicating
FIRST_POLL, POLL_FACTOR, MAX_POLL = 2.0, 1.5, 30.0


@dataclass
class Prerequisite:
    """One prerequisite of the registration and whether it holds (None: could not be checked)."""

    name: str
    ok: bool | None
    detail: str


def instructions(cloud: Cloud, app: t.Mapping[str, t.Any]) -> str:
    """What the operator does in the Partner Center portal, for this cloud and app."""
    return (
        "Register the web app in Partner Center: sign in to %s as an admin of the partner tenant, open %s, select "
        "'%s' (app ID %s) and register it. Partner Center offers no API for this step."
        % (cloud.partner_center_portal_url, PORTAL_PATH, app.get("displayName"), app.get("appId"))
    )


def webapp_credentials(params: t.Mapping[str, t.Any], tenant_id: str, app_id: str, check_mode: bool = False, *,
                       store: SecretStore | None) -> tuple[Credentials, str | None, str]:
    """The web app's own credential from the options, the key id its store names, and why the store
    holds no value (check mode only: a real run fails on it).

    ``store`` is what _remote_stores.open_webapp_store opened for ``webapp_secret_store`` or
    ``webapp_secret_file`` (None without either: the secret is ``webapp_client_secret``); a secret
    file is read like every secret file: a regular file of at most 1 MiB (not /dev/zero, not a FIFO).
    """
    key_id = None
    missing = ""
    secret = params.get("webapp_client_secret")
    if store is not None:
        snapshot = store.read()
        record = snapshot.record
        if record is not None and record.app_id and str(record.app_id).lower() != app_id.lower():
            raise ConfigurationError("%s holds a secret of application %s, not of %s." % (store.description, record.app_id, app_id),
                                     option=store.option)
        if record is None or not record.secret:
            missing = "%s holds no secret value (%s)" % (store.description, snapshot.reason or "no record")
            if not check_mode:
                raise ConfigurationError(
                    missing + ". Run pc_app_secret with this store first (the web_app role does), or give "
                    "webapp_client_secret.", option=store.option)
        else:
            secret, key_id = record.secret, record.key_id
    credentials = Credentials(
        tenant_id=tenant_id,
        client_id=app_id,
        client_secret=secret,
        client_certificate_path=params.get("webapp_certificate_path"),
        client_certificate_password=params.get("webapp_certificate_password"),
        auth_method="client_certificate" if params.get("webapp_certificate_path") else "client_secret",
    )
    return credentials, key_id, missing


class RegistrationCheck:
    """One run of pc_register_webapp."""

    def __init__(self, module: PartnerCenterModule) -> None:
        self.module = module
        self.params = module.params
        self.graph = module.graph
        self.now = time.time
        self.created_partner_center_sp = False
        self.fresh = False

    # Prerequisites ------------------------------------------------------------------------------

    def prerequisites(self, app: t.Mapping[str, t.Any], credentials: Credentials, key_id: str | None,
                      missing_secret: str = "") -> list[Prerequisite]:
        """Check (and where allowed, fix) what the registration needs, in the portal's order.

        Everything is read in one JSON batching round trip: the app's service principal and its
        app role assignments, and the service principals of Microsoft Graph, Azure AD Graph and
        Partner Center.

        Only names of the v1.0 schema of every cloud are asked for: v1.0 ``servicePrincipal`` has no
        ``createdDateTime`` (in no deployment), so how recent the setup is comes from the
        application's ``createdDateTime`` and the consents' (``appRoleAssignment.createdDateTime``);
        see ``_note_fresh``.
        """
        app_id = app["appId"]
        sp, assignments, *apis, partner_center = self.graph.batch([
            service_principal_item(app_id, ("id",)),
            assignments_item(app_id, ("appRoleId", "resourceId", "createdDateTime")),
            *(service_principal_item(api, ("id", "displayName", "appRoles")) for api in (GRAPH_APP_ID, AAD_GRAPH_APP_ID)),
            service_principal_item(PARTNER_CENTER_APP_ID, ("id",)),
        ])
        found = [Prerequisite("application", True, "application %s (%s) exists" % (app.get("displayName"), app_id))]
        self._note_fresh(app.get("createdDateTime"))
        service_principal = body_or_none(sp)
        if service_principal is None:
            found.append(Prerequisite("service_principal", False, "the application has no service principal "
                                      "(enterprise application) in the tenant: create it with pc_aad_app"))
            found.append(Prerequisite("application_permission", False, "cannot be consented without a service principal"))
        else:
            found.append(Prerequisite("service_principal", True, "service principal %s exists" % service_principal["id"]))
            granted = self.graph.all_pages(body_or_none(assignments) or {}, operation=READ_ASSIGNMENTS)
            found.append(self._application_permission(granted, [body_or_none(api) for api in apis]))
            for assignment in granted:
                self._note_fresh(assignment.get("createdDateTime"))
        if missing_secret:  # check mode only: the run of pc_app_secret that would write it did not happen
            found.append(Prerequisite("credential", None, missing_secret + "; it is written by a real run of pc_app_secret"))
        else:
            found.append(self._credential(app, key_id, credentials.client_secret))
        found.append(self._partner_center_service_principal(body_or_none(partner_center) is not None))
        return found

    def _note_fresh(self, created: t.Any) -> None:
        """Note that part of the setup is recent enough to be still replicating (then ``probe`` waits
        up to consistency_timeout for the identity platform): the application, a consent of its
        service principal (given right after the service principal is created), or its secret."""
        stamp = parse_datetime(created)
        if stamp is not None and self.now() - stamp < FRESH_SECONDS:
            self.fresh = True

    def _application_permission(self, assignments: list[t.Mapping[str, t.Any]],
                                apis: list[t.Mapping[str, t.Any] | None]) -> Prerequisite:
        """The procedure's application permission ("Read directory data" by default), consented."""
        wanted = self.params["application_permission"]
        offered: set[str] = set()
        for api in apis:
            if api is None:
                continue
            granted = {a.get("appRoleId") for a in assignments if a.get("resourceId") == api["id"]}
            roles = api.get("appRoles") or []
            offered.update(str(role.get("value")) for role in roles if role.get("value"))
            if any(role.get("value") == wanted and role.get("id") in granted for role in roles):
                return Prerequisite("application_permission", True, "%s of %s is consented" % (wanted, api["displayName"]))
        if offered and wanted not in offered:
            close = difflib.get_close_matches(wanted, sorted(offered), n=3)
            raise ConfigurationError(
                "application_permission %r is not an application permission of Microsoft Graph or Windows Azure Active "
                "Directory%s." % (wanted, "; did you mean %s?" % " or ".join(close) if close else " (give its value, e.g. Directory.Read.All)"),
                option="application_permission",
            )
        return Prerequisite("application_permission", False, "the application permission %s (Microsoft Graph or Windows "
                            "Azure Active Directory) is not consented: apply it with pc_aad_permissions and "
                            "admin_consent: true" % wanted)

    def _credential(self, app: t.Mapping[str, t.Any], key_id: str | None, secret: str | None) -> Prerequisite:
        now = self.now()
        if self.params.get("webapp_certificate_path"):
            valid = [c for c in app.get("keyCredentials") or [] if valid_now(c, now)]
            if valid:
                return Prerequisite("credential", True, "%d valid certificate(s)" % len(valid))
            return Prerequisite("credential", False, "the application has no valid certificate")
        secrets = app.get("passwordCredentials") or []
        if key_id:
            secrets = [c for c in secrets if str(c.get("keyId", "")).lower() == str(key_id).lower()]
            if not secrets:
                return Prerequisite("credential", False, "the secret %s of webapp_secret_file no longer exists on the "
                                    "application: create a new one with pc_app_secret" % key_id)
        valid = [c for c in secrets if valid_now(c, now)]
        if not valid:
            return Prerequisite("credential", False, "the application has no valid client secret (expired or none): "
                                "create one with pc_app_secret")
        # Graph keeps the first three characters of every secret as its hint: a secret whose start
        # matches none of them is not one of the application's (no need to ask the identity platform).
        matching = [c for c in valid if not c.get("hint") or (secret or "").startswith(c["hint"])]
        if not matching:
            return Prerequisite("credential", False, "the given secret is none of the application's valid secrets "
                                "(their hints: %s)" % ", ".join(sorted(str(c.get("hint")) for c in valid)))
        for credential in matching:
            self._note_fresh(credential.get("startDateTime"))
        return Prerequisite("credential", True, "client secret valid until %s" % max(c["endDateTime"] for c in matching))

    def _partner_center_service_principal(self, exists: bool) -> Prerequisite:
        """Partner Center's service principal: app-only tokens for it need it in the tenant (AADSTS500011)."""
        if exists:
            return Prerequisite("partner_center_service_principal", True, "Microsoft Partner Center's service principal exists")
        if not self.params["create_partner_center_service_principal"]:
            return Prerequisite("partner_center_service_principal", False, "Microsoft Partner Center's service principal "
                                "is missing in the tenant (an admin's first sign-in to Partner Center creates it, or "
                                "set create_partner_center_service_principal)")
        ensure_service_principal(self.graph, PARTNER_CENTER_APP_ID, fresh=True, check_mode=self.module.check_mode,
                                 first_party=True)
        self.created_partner_center_sp = True
        self.fresh = True
        if self.module.check_mode:
            return Prerequisite("partner_center_service_principal", None, "Microsoft Partner Center's service principal "
                                "would be created")
        return Prerequisite("partner_center_service_principal", True, "Microsoft Partner Center's service principal was created")

    # Registration -------------------------------------------------------------------------------

    def probe(self, credentials: Credentials) -> tuple[bool, dict[str, t.Any] | None]:
        """Whether Partner Center accepts the web app's app-only call; and its refusal, if any."""
        module = self.module
        deadline = module.http.clock() + (self.params["consistency_timeout"] if self.fresh else 0)
        wait = 1.0
        while True:
            # A new client per attempt: msal replays an identical refused token request for 60 s.
            client = module.partner_center_client(credentials)
            try:
                client.get("v1/customers", params={"size": 1})
                return True, None
            except AuthenticationError as exc:
                replicating = any(code in REPLICATION_AADSTS for code in exc.error_codes)
                if not replicating or module.http.clock() + wait > deadline:
                    raise
            except ServiceError as exc:
                if exc.status in (401, 403):
                    return False, {"status": exc.status, "code": exc.code, "message": exc.service_message,
                                   "request_id": exc.request_id}
                raise
            module.http.sleep(wait)
            wait = min(wait * 2, 8.0)

    def wait_until_registered(self, credentials: Credentials) -> tuple[bool, dict[str, t.Any] | None, float, int]:
        """Poll (backing off) until registered or ``wait_timeout`` runs out; returns state, refusal, waited, polls."""
        module, clock = self.module, self.module.http.clock
        started = clock()
        registered, refusal = self.probe(credentials)
        polls, interval = 1, FIRST_POLL
        timeout = float(self.params["wait_timeout"])
        while not registered and clock() - started + interval <= timeout:
            module.http.sleep(interval)
            registered, refusal = self.probe(credentials)
            polls += 1
            interval = min(interval * POLL_FACTOR, MAX_POLL)
        return registered, refusal, clock() - started, polls


def run_pc_register_webapp(module: PartnerCenterModule) -> dict[str, t.Any]:
    """The module's logic: check prerequisites, observe registration, wait or explain."""
    params = module.params
    if params["wait_timeout"] < 0:
        raise ConfigurationError("wait_timeout must be 0 or more seconds.", option="wait_timeout")
    if not str(params["application_permission"] or "").strip():
        raise ConfigurationError("application_permission must not be empty (the procedure's is Directory.Read.All).",
                                 option="application_permission")
    certificate = params.get("webapp_certificate_path")
    if certificate and not os.path.isfile(certificate):
        raise ConfigurationError("webapp_certificate_path %s does not exist or is not a file." % certificate,
                                 option="webapp_certificate_path")
    module.validate()
    check = RegistrationCheck(module)
    # A real run waits for an application created moments ago (a previous task), as pc_app_secret and
    # pc_aad_permissions do; check mode does not (a check-mode pc_aad_app created nothing).
    app = find_target_application(module, select=APPLICATION_SELECT + ("createdDateTime", "passwordCredentials", "keyCredentials"),
                                  wait=not module.check_mode)
    if app is None:
        missing = [Prerequisite("application", False, "no application matches %s" % _selector(params))]
        return _outcome(module, None, missing, None, None, 0.0, 0, check)
    credentials, key_id, missing = webapp_credentials(params, params["tenant_id"] or "", app["appId"], module.check_mode,
                                                      store=open_webapp_store(module))
    prerequisites = check.prerequisites(app, credentials, key_id, missing)
    if any(p.ok is False for p in prerequisites):
        return _outcome(module, app, prerequisites, None, None, 0.0, 0, check)
    if any(p.ok is None for p in prerequisites):  # check mode: Partner Center's service principal would be created
        return _outcome(module, app, prerequisites, None, None, 0.0, 0, check)
    if module.check_mode or params["wait_timeout"] == 0:
        registered, refusal = check.probe(credentials)
        waited, polls = 0.0, 1
    else:
        registered, refusal, waited, polls = check.wait_until_registered(credentials)
    return _outcome(module, app, prerequisites, registered, refusal, waited, polls, check)


def _selector(params: t.Mapping[str, t.Any]) -> str:
    return ", ".join("%s=%r" % (k, params[k]) for k in ("object_id", "app_id", "unique_name", "display_name") if params.get(k))


def _outcome(module: PartnerCenterModule, app: t.Mapping[str, t.Any] | None, prerequisites: list[Prerequisite],
             registered: bool | None, refusal: dict[str, t.Any] | None, waited: float, polls: int,
             check: RegistrationCheck) -> dict[str, t.Any]:
    """The result; outside check mode, missing prerequisites and a missing registration fail."""
    cloud = module.cloud
    text = instructions(cloud, app or {"displayName": None, "appId": None}) if app else None
    result: dict[str, t.Any] = {
        "changed": check.created_partner_center_sp,
        "registered": registered,
        "app_id": app.get("appId") if app else None,
        "object_id": app.get("id") if app else None,
        "prerequisites": [asdict(p) for p in prerequisites],
        "missing": [p.name for p in prerequisites if p.ok is False],
        "cloud": cloud.name,
        "tenant_id": module.params["tenant_id"],
        "partner_center_portal_url": cloud.partner_center_portal_url,
        "portal_path": PORTAL_PATH,
        "instructions": text if registered is not True else None,
        "partner_center_response": refusal,
        "waited_seconds": round(waited, 1),
        "polls": polls,
    }
    module.set_diff({"registered": registered}, {"registered": registered})
    if module.check_mode:
        return result
    failure = None
    if result["missing"]:
        failure = "The web app cannot be registered in Partner Center yet; missing: %s." % "; ".join(
            "%s (%s)" % (p.name, p.detail) for p in prerequisites if p.ok is False)
    elif not registered:
        failure = "The web app %s is not registered in Partner Center%s. %s" % (
            result["app_id"], " after waiting %.0f s" % waited if waited else "", text)
    if failure:
        error = ConfigurationError(failure)
        error.result = result
        raise error
    return result
