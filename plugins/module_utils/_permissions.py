# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Required API permissions and admin consent as desired state (the logic of pc_aad_permissions).

- APIs are named by alias, display name or appId; permissions by value, portal display name or id.
  Both resolve LIVE from the resource's service principal in the target tenant (IDs are not assumed
  equal across clouds). Only when a catalogued first-party API has no service principal in the tenant
  (Microsoft Partner Center usually) do its well-known definitions stand in.
- requiredResourceAccess compares as a set of (resourceAppId, id, type): order and duplicates never
  cause a change; only ``requiredResourceAccess`` is PATCHed.
- Admin consent follows https://learn.microsoft.com/graph/permissions-grant-via-msgraph : delegated
  permissions are ONE AllPrincipals oauth2PermissionGrant per resource (its scope PATCHed, never
  deleted and recreated), application permissions are app role assignments (only the missing ones
  created). Consent is reported from the grants and assignments read, adjusted by our own writes.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing as t

from ._applications import create_service_principal, find_target_application
from ._errors import ConfigurationError, ForbiddenError, NotFoundError, ServiceError
from ._graph import BatchItem, GraphClient, body_or_none, key_segment, odata_string
from ._ids import AAD_GRAPH_APP_ID, GRAPH_APP_ID, PARTNER_CENTER_APP_ID, is_guid

if t.TYPE_CHECKING:  # pragma: no cover
    from ._module import PartnerCenterModule

DELEGATED = "delegated"
APPLICATION = "application"
SCOPE = "Scope"
ROLE = "Role"
KIND_OF = {SCOPE: DELEGATED, ROLE: APPLICATION}
MODES = ("exact", "merge")
# The argument spec of one entry of pc_aad_permissions' permissions and pc_aad_app_info's
# expected_permissions (ansible-core then refuses unknown keys such as a misspelt "delegate").
PERMISSION_ENTRY_OPTIONS: dict[str, dict[str, t.Any]] = {
    "api": {"type": "str", "required": True},
    "delegated": {"type": "list", "elements": "str"},
    "application": {"type": "list", "elements": "str"},
}

# Graph's limits on requiredResourceAccess for work and school audiences:
# https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation
MAX_RESOURCES = 50
MAX_PERMISSIONS = 400

# How long a target application that is not (yet) visible is waited for: it may have been created
# moments ago by a previous task (directory replication). Capped by consistency_timeout.
APP_VISIBILITY_GRACE = 10.0

APP_SELECT = ("id", "appId", "displayName", "uniqueName", "signInAudience", "requiredResourceAccess")
SP_SELECT = ("id", "appId", "displayName", "appRoles", "oauth2PermissionScopes")
GRANT_SELECT = ("id", "clientId", "consentType", "principalId", "resourceId", "scope")
ASSIGNMENT_SELECT = ("id", "appRoleId", "principalId", "resourceId")

Key = t.Tuple[str, str, str]  # (resourceAppId, permission id, "Scope" | "Role"), lower-case GUIDs


def _scope(pid: str, value: str, name: str) -> dict[str, t.Any]:
    return {"id": pid, "value": value, "adminConsentDisplayName": name, "isEnabled": True}


def _role(pid: str, value: str, name: str) -> dict[str, t.Any]:
    return {"id": pid, "value": value, "displayName": name, "isEnabled": True, "allowedMemberTypes": ["Application"]}


# Definitions used ONLY when the API has no service principal in the tenant. Sources:
# https://learn.microsoft.com/graph/migrate-azure-ad-graph-permissions-differences (Graph and Azure AD
# Graph ids), https://github.com/maciejporebski/azure-ad-first-party-apps-permissions (apps/Microsoft
# Partner Center.md, apps/Windows Azure Active Directory.md) and CIPP's SAMManifest.json.
WELL_KNOWN: dict[str, dict[str, t.Any]] = {
    GRAPH_APP_ID: {
        "displayName": "Microsoft Graph",
        "oauth2PermissionScopes": [
            _scope("e1fe6dd8-ba31-4d61-89e7-88639da4683d", "User.Read", "Sign in and read user profile"),
            _scope("06da0dbc-49e2-44d2-8312-53f166ab848a", "Directory.Read.All", "Read directory data"),
            _scope(
                "0e263e50-5827-48a4-b97c-d940288653c7",
                "Directory.AccessAsUser.All",
                "Access directory as the signed in user",
            ),
            _scope("5f8c59db-677d-491f-a6b8-5f174b11ec1d", "Group.Read.All", "Read all groups"),
        ],
        "appRoles": [
            _role("7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All", "Read directory data"),
            _role("5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All", "Read all groups"),
        ],
    },
    AAD_GRAPH_APP_ID: {
        "displayName": "Windows Azure Active Directory",
        "oauth2PermissionScopes": [
            _scope("311a71cc-e848-46a1-bdf8-97ff7156d8e6", "User.Read", "Sign in and read user profile"),
            _scope("5778995a-e1bf-45b8-affa-663a9f3f4d04", "Directory.Read.All", "Read directory data"),
            _scope(
                "a42657d6-7f20-40e3-b6f0-cee03008a62a",
                "Directory.AccessAsUser.All",
                "Access the directory as the signed-in user",
            ),
            _scope("6234d376-f627-4f0f-90e0-dff25c5211a3", "Group.Read.All", "Read all groups"),
        ],
        "appRoles": [_role("5778995a-e1bf-45b8-affa-663a9f3f4d04", "Directory.Read.All", "Read directory data")],
    },
    PARTNER_CENTER_APP_ID: {
        "displayName": "Microsoft Partner Center",
        "oauth2PermissionScopes": [
            _scope("1cebfa2a-fb4d-419e-b5f9-839b4383e05a", "user_impersonation", "Access Partner Center")
        ],
        "appRoles": [],
    },
}

# Names accepted for the APIs of the procedure (compared by _alias_key: no case, spaces or punctuation).
API_ALIASES: dict[str, str] = {
    "graph": GRAPH_APP_ID,
    "msgraph": GRAPH_APP_ID,
    "microsoftgraph": GRAPH_APP_ID,
    "aadgraph": AAD_GRAPH_APP_ID,
    "azureadgraph": AAD_GRAPH_APP_ID,
    "azureactivedirectorygraph": AAD_GRAPH_APP_ID,
    "windowsazureactivedirectory": AAD_GRAPH_APP_ID,
    "partnercenter": PARTNER_CENTER_APP_ID,
    "microsoftpartnercenter": PARTNER_CENTER_APP_ID,
}
ALIAS_NAMES = (
    "Microsoft Graph",
    "graph",
    "Windows Azure Active Directory",
    "aad_graph",
    "Microsoft Partner Center",
    "partner_center",
)

# Labels of Microsoft's documents that may differ from the service principal's display name, all of
# Partner Center's user_impersonation: "Access Partner Center PPE" (the national-cloud procedure,
# https://learn.microsoft.com/partner-center/developer/create-apps-for-partner-center-for-microsoft-national-clouds),
# "Access Partner Center" (the service principal's adminConsentDisplayName) and "Access Partner
# Center API" (https://learn.microsoft.com/partner-center/developer/partner-center-authentication, 2017-2019).
# Keys are normalised (see normalise).
LABEL_ALIASES: dict[tuple[str, str, str], str] = {
    (PARTNER_CENTER_APP_ID, SCOPE, label): "user_impersonation"
    for label in ("access partner center ppe", "access partner center", "access partner center api")
}

# Microsoft Graph equivalents of Azure AD Graph permissions (same values), from
# https://learn.microsoft.com/graph/migrate-azure-ad-graph-permissions-differences
AAD_GRAPH_EQUIVALENTS = frozenset(
    (
        "User.Read",
        "User.Read.All",
        "User.ReadBasic.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Application.ReadWrite.All",
        "Application.ReadWrite.OwnedBy",
        "Policy.Read.All",
        "Member.Read.Hidden",
        "Device.ReadWrite.All",
        "Domain.ReadWrite.All",
    )
)
AAD_GRAPH_MIGRATION_URL = "https://learn.microsoft.com/graph/migrate-azure-ad-graph-permissions-differences"

_ARTICLES = frozenset(("a", "an", "the"))
_LOOKS_LIKE_GUID = re.compile(r"[{(]?[0-9A-Fa-f]{4,}(?:-[0-9A-Fa-f]*){2,}[})]?")  # fullmatch, as _ids.is_guid


# -------------------------------------------------------------------------------------------------
# Names
# -------------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """A name compared without case, punctuation, hyphens or articles.

    "Access the directory as the signed-in user" and "Access directory as the signed in user" are
    the same name ("access directory as signed in user").
    """
    folded = text.casefold().replace("'", "").replace("\u2019", "")
    return " ".join(word for word in re.findall(r"[^\W_]+", folded) if word not in _ARTICLES)


def _alias_key(text: str) -> str:
    return "".join(re.findall(r"[^\W_]+", text.casefold()))


def looks_like_guid(text: str) -> bool:
    """Whether ``text`` is meant as a GUID (possibly malformed), rather than a name."""
    return is_guid(text) or _LOOKS_LIKE_GUID.fullmatch(text) is not None


def canonical_type(value: t.Any) -> str:
    """``Scope`` or ``Role`` whatever the case; anything else unchanged."""
    text = str(value or "")
    return {"scope": SCOPE, "role": ROLE}.get(text.casefold(), text)


# -------------------------------------------------------------------------------------------------
# Resources and permissions
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Permission:
    """One permission of one API: a delegated scope or an application role."""

    api_app_id: str
    id: str
    type: str  # Scope | Role
    value: str | None
    display_name: str | None

    @property
    def key(self) -> Key:
        return (self.api_app_id, self.id, self.type)

    @property
    def kind(self) -> str:
        return KIND_OF.get(self.type, self.type)

    @property
    def label(self) -> str:
        """The value (or the id when the API does not publish this permission)."""
        return self.value or self.id


@dataclasses.dataclass
class Resource:
    """An API: its service principal in the tenant, or well-known definitions when it has none."""

    app_id: str
    display_name: str
    sp_id: str | None
    scopes: list[dict[str, t.Any]]
    roles: list[dict[str, t.Any]]
    well_known: bool = False

    @classmethod
    def from_service_principal(cls, sp: t.Mapping[str, t.Any]) -> Resource:
        return cls(
            app_id=str(sp.get("appId") or "").lower(),
            display_name=sp.get("displayName") or str(sp.get("appId")),
            sp_id=sp.get("id"),
            scopes=list(sp.get("oauth2PermissionScopes") or []),
            roles=[r for r in sp.get("appRoles") or [] if "Application" in (r.get("allowedMemberTypes") or [])],
        )

    @classmethod
    def from_catalogue(cls, app_id: str) -> Resource:
        data = WELL_KNOWN[app_id]
        return cls(app_id, data["displayName"], None, data["oauth2PermissionScopes"], data["appRoles"], True)

    def describe(self) -> str:
        return "%s (%s)" % (self.display_name, self.app_id)

    def definitions(self, ptype: str) -> list[dict[str, t.Any]]:
        return self.scopes if ptype == SCOPE else self.roles if ptype == ROLE else []

    def permission(self, pid: str, ptype: str) -> Permission:
        """The permission with this id and type (value None when the API does not publish it)."""
        pid = pid.lower()
        for entry in self.definitions(ptype):
            if str(entry.get("id", "")).lower() == pid:
                return self._make(entry, ptype)
        return Permission(self.app_id, pid, ptype, None, None)

    def by_value(self, ptype: str) -> dict[str, dict[str, t.Any]]:
        return {str(e.get("value")).casefold(): e for e in self.definitions(ptype) if e.get("value")}

    def _make(self, entry: t.Mapping[str, t.Any], ptype: str) -> Permission:
        name = entry.get("adminConsentDisplayName") if ptype == SCOPE else entry.get("displayName")
        return Permission(self.app_id, str(entry["id"]).lower(), ptype, entry.get("value"), name)

    def resolve(self, name: str, ptype: str) -> Permission:
        """The permission ``name`` designates (id, value, display name or portal label), or an error."""
        found = self._match(name, ptype)
        if isinstance(found, Permission):
            return found
        other = ROLE if ptype == SCOPE else SCOPE
        try:
            elsewhere = self._match(name, other) if not found else None
        except ConfigurationError:  # disabled there: not a better answer
            elsewhere = None
        if isinstance(elsewhere, Permission):
            raise ConfigurationError(
                "%r is %s permission of %s, not %s one: list it under %s."
                % (name, _a(KIND_OF[other]), self.describe(), _a(KIND_OF[ptype]), KIND_OF[other])
            )
        if found:
            raise ConfigurationError(
                "%r matches %d %s permissions of %s: %s. Use the value or the id instead."
                % (name, len(found), KIND_OF[ptype], self.describe(), ", ".join(found))
            )
        hint = self.suggestions(name, ptype)
        where = " (its service principal is absent from the tenant, so only well-known names are known)"
        raise ConfigurationError(
            "Unknown %s permission %r of %s%s.%s Give the permission's value, its display name or its id."
            % (
                KIND_OF[ptype],
                name,
                self.describe(),
                where if self.well_known else "",
                " Closest matches: %s." % ", ".join(hint) if hint else "",
            )
        )

    def _match(self, name: str, ptype: str) -> Permission | list[str]:
        """A Permission, or the values of several matches (ambiguous), or [] (no match)."""
        entries = self.definitions(ptype)
        if is_guid(name):
            for entry in entries:
                if str(entry.get("id", "")).lower() == name.lower():
                    return self._usable(entry, ptype)
            return []
        exact = [e for e in entries if e.get("value") == name]
        if not exact:
            exact = [e for e in entries if str(e.get("value") or "").casefold() == name.casefold()]
        if len(exact) == 1:
            return self._usable(exact[0], ptype)
        wanted = normalise(name)
        label = LABEL_ALIASES.get((self.app_id, ptype, wanted))
        if label:
            entry = self.by_value(ptype).get(label.casefold())
            if entry is not None:
                return self._usable(entry, ptype)
        key = "adminConsentDisplayName" if ptype == SCOPE else "displayName"
        named = exact or [e for e in entries if normalise(str(e.get(key) or "")) == wanted and wanted]
        if len(named) == 1:
            return self._usable(named[0], ptype)
        return sorted(str(e.get("value") or e.get("id")) for e in named)

    def _usable(self, entry: t.Mapping[str, t.Any], ptype: str) -> Permission:
        permission = self._make(entry, ptype)
        if entry.get("isEnabled") is False:
            raise ConfigurationError(
                "The %s permission %s of %s is disabled." % (permission.kind, permission.label, self.describe())
            )
        return permission

    def suggestions(self, name: str, ptype: str, limit: int = 5) -> list[str]:
        """The closest permissions by value or display name: ``Value (Display name)``."""
        key = "adminConsentDisplayName" if ptype == SCOPE else "displayName"
        candidates: dict[str, str] = {}
        for entry in self.definitions(ptype):
            shown = "%s (%s)" % (entry.get("value"), entry.get(key)) if entry.get(key) else str(entry.get("value"))
            for text in (entry.get("value"), entry.get(key)):
                if text:
                    candidates.setdefault(normalise(str(text)), shown)
        close = difflib.get_close_matches(normalise(name), list(candidates), n=limit * 2, cutoff=0.6)
        result: list[str] = []
        for match in close:
            if candidates[match] not in result:
                result.append(candidates[match])
        return result[:limit]


def _a(kind: str) -> str:
    return "an %s" % kind if kind[:1] in "aeiou" else "a %s" % kind


# -------------------------------------------------------------------------------------------------
# Input (checked before any request)
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Request:
    """One entry of the ``permissions`` option."""

    index: int
    api: str
    delegated: list[str]
    application: list[str]


def _is_container_text(text: str) -> bool:
    """A list or dictionary that Ansible turned into text (``['x']``, ``{'a': 1}``): not a name."""
    text = text.strip()
    return (text[:1], text[-1:]) in (("[", "]"), ("{", "}"))


def validate_params(params: t.Mapping[str, t.Any]) -> list[Request]:
    """The entries of ``permissions``, stripped and checked; every problem in one error."""
    problems: list[str] = []
    requests: list[Request] = []
    entries = params.get("permissions")
    if not isinstance(entries, list):
        raise ConfigurationError("permissions must be a list of {api, delegated, application}.", option="permissions")
    for index, entry in enumerate(entries):
        where = "permissions[%d]" % index
        if not isinstance(entry, dict):
            problems.append("%s must be a dictionary with api, delegated and application." % where)
            continue
        api = entry.get("api")
        if not isinstance(api, str) or not api.strip() or _is_container_text(api):
            problems.append("%s.api must be the name, alias or appId of an API, got %r." % (where, api))
            api = ""
        elif looks_like_guid(api.strip()) and not is_guid(api.strip()):
            problems.append(
                "%s.api %r is not a valid appId: a GUID looks like 00000003-0000-0000-c000-000000000000." % (where, api)
            )
        lists: dict[str, list[str]] = {}
        for kind in (DELEGATED, APPLICATION):
            names = entry.get(kind)
            if names is None:
                names = []
            if not isinstance(names, list):
                problems.append("%s.%s must be a list of permission names, got %r." % (where, kind, names))
                names = []
            cleaned = []
            for position, name in enumerate(names):
                label = "%s.%s[%d]" % (where, kind, position)
                if not isinstance(name, str) or not name.strip() or _is_container_text(name):
                    problems.append("%s must be a permission value, display name or id, got %r." % (label, name))
                elif looks_like_guid(name.strip()) and not is_guid(name.strip()):
                    problems.append(
                        "%s %r is not a valid permission id: a GUID looks like 00000000-0000-0000-0000-000000000000."
                        % (label, name)
                    )
                else:
                    cleaned.append(name.strip())
            lists[kind] = cleaned
        requests.append(Request(index, api.strip() if isinstance(api, str) else "", lists[DELEGATED], lists[APPLICATION]))
    if params.get("mode", "exact") not in MODES:
        problems.append("mode must be one of %s, got %r." % (", ".join(MODES), params.get("mode")))
    if problems:
        raise ConfigurationError(" ".join(problems), option="permissions")
    return requests


# -------------------------------------------------------------------------------------------------
# Resolution (reads only)
# -------------------------------------------------------------------------------------------------


class Resolver:
    """Finds the service principals of APIs, each read at most once per run."""

    def __init__(self, graph: GraphClient) -> None:
        self.graph = graph
        self._by_app_id: dict[str, Resource | None] = {}
        self._names: dict[str, str] = {}

    def service_principal(self, app_id: str) -> Resource | None:
        """The API's service principal in the tenant, or None."""
        app_id = app_id.lower()
        if app_id not in self._by_app_id:
            try:
                sp = self.graph.get(
                    key_segment("servicePrincipals", "appId", app_id), select=SP_SELECT, operation="read_service_principal"
                )
            except NotFoundError:
                sp = None
            self._by_app_id[app_id] = Resource.from_service_principal(sp) if sp else None
        return self._by_app_id[app_id]

    def known(self) -> set[str]:
        """appIds whose service principal was looked up (found or not)."""
        return set(self._by_app_id)

    def record(self, app_id: str, sp: t.Mapping[str, t.Any] | None) -> None:
        """Remember a service principal read elsewhere (e.g. in a batch); None: it does not exist."""
        self._by_app_id[app_id.lower()] = Resource.from_service_principal(sp) if sp else None

    def resource(self, app_id: str) -> Resource | None:
        """The service principal, else the well-known definitions of a catalogued API, else None."""
        found = self.service_principal(app_id)
        if found is None and app_id.lower() in WELL_KNOWN:
            return Resource.from_catalogue(app_id.lower())
        return found

    def api(self, name: str) -> Resource:
        """The API ``name`` designates: an alias, an appId or a service principal's display name."""
        app_id = API_ALIASES.get(_alias_key(name))
        if app_id is None and is_guid(name):
            app_id = name.lower()
        if app_id is not None:
            found = self.resource(app_id)
            if found is None:
                raise ConfigurationError(
                    "The API with appId %s has no service principal in this tenant, so its permissions cannot be "
                    "resolved. Add the API to the tenant first (an administrator consents to it, or creates its service "
                    "principal), or check the appId and the cloud." % app_id
                )
            return found
        key = name.casefold()
        if key not in self._names:
            matches = self.graph.list(
                "servicePrincipals",
                filter="displayName eq %s" % odata_string(name),
                select=SP_SELECT,
                operation="read_service_principal",
            )
            matches = [m for m in matches if str(m.get("displayName") or "").casefold() == key]
            if len(matches) > 1:
                raise ConfigurationError(
                    "%d APIs have the display name %r: %s. Name the API by its appId."
                    % (len(matches), name, "; ".join("appId %s" % m.get("appId") for m in matches))
                )
            if not matches:
                close = difflib.get_close_matches(name.casefold(), [a.casefold() for a in ALIAS_NAMES], n=3, cutoff=0.5)
                shown = [a for a in ALIAS_NAMES if a.casefold() in close]
                raise ConfigurationError(
                    "No API named %r has a service principal in this tenant.%s Name an API by an alias (%s), by its "
                    "exact display name or by its appId."
                    % (name, " Closest matches: %s." % ", ".join(shown) if shown else "", ", ".join(ALIAS_NAMES))
                )
            resource = Resource.from_service_principal(matches[0])
            self._by_app_id[resource.app_id] = resource
            self._names[key] = resource.app_id
        return t.cast(Resource, self._by_app_id[self._names[key]])

    def created(self, sp: t.Mapping[str, t.Any]) -> Resource:
        """Record a service principal we created (the write response is trusted)."""
        resource = Resource.from_service_principal(sp)
        self._by_app_id[resource.app_id] = resource
        return resource


@dataclasses.dataclass
class Wanted:
    """The permissions asked for one API (duplicate entries merged)."""

    resource: Resource
    delegated: list[str] = dataclasses.field(default_factory=list)
    application: list[str] = dataclasses.field(default_factory=list)
    permissions: list[Permission] = dataclasses.field(default_factory=list)


def known_api_ids(requests: t.Sequence[Request]) -> list[str]:
    """The appIds that requests name by alias or appId (APIs named by display name need a lookup)."""
    return [API_ALIASES.get(_alias_key(r.api), r.api) for r in requests]


def resolve_requests(resolver: Resolver, requests: t.Sequence[Request]) -> dict[str, Wanted]:
    """APIs by appId with their resolved permissions; every name problem in one error."""
    wanted: dict[str, Wanted] = {}
    problems: list[str] = []
    for request in requests:
        try:
            resource = resolver.api(request.api)
        except ConfigurationError as exc:
            problems.append("permissions[%d].api: %s" % (request.index, exc.to_message()))
            continue
        entry = wanted.setdefault(resource.app_id, Wanted(resource))
        entry.delegated.extend(n for n in request.delegated if n not in entry.delegated)
        entry.application.extend(n for n in request.application if n not in entry.application)
    for entry in wanted.values():
        try:
            entry.permissions = resolve_names(entry.resource, entry.delegated, entry.application)
        except ConfigurationError as exc:
            problems.append(exc.to_message())
    if problems:
        raise ConfigurationError(" ".join(problems), option="permissions")
    return wanted


def resolve_names(resource: Resource, delegated: t.Sequence[str], application: t.Sequence[str]) -> list[Permission]:
    """The permissions the names designate, without duplicates; all errors in one."""
    found: list[Permission] = []
    problems: list[str] = []
    for ptype, names in ((SCOPE, delegated), (ROLE, application)):
        for name in names:
            try:
                permission = resource.resolve(name, ptype)
            except ConfigurationError as exc:
                problems.append(exc.to_message())
                continue
            if permission not in found:
                found.append(permission)
    if problems:
        raise ConfigurationError(" ".join(problems), option="permissions")
    return found


# -------------------------------------------------------------------------------------------------
# requiredResourceAccess as a set
# -------------------------------------------------------------------------------------------------


def rra_keys(rra: t.Any) -> list[Key]:
    """The (resourceAppId, id, type) of a requiredResourceAccess, in order, without duplicates."""
    keys: list[Key] = []
    for entry in rra or []:
        resource = str((entry or {}).get("resourceAppId") or "").lower()
        for access in (entry or {}).get("resourceAccess") or []:
            key = (resource, str(access.get("id") or "").lower(), canonical_type(access.get("type")))
            if key not in keys:
                keys.append(key)
    return keys


def target_keys(current: t.Sequence[Key], desired: t.Sequence[Key], mode: str) -> list[Key]:
    """What requiredResourceAccess becomes: ``desired`` (exact) or current plus desired (merge)."""
    base = [] if mode == "exact" else list(current)
    return base + [k for k in desired if k not in base]


def build_rra(current_rra: t.Any, keys: t.Sequence[Key]) -> list[dict[str, t.Any]]:
    """A requiredResourceAccess holding exactly ``keys``: current entries keep their order, new ones follow."""
    wanted = set(keys)
    order: list[str] = []
    grouped: dict[str, list[dict[str, str]]] = {}
    kept: set[Key] = set()
    for key in rra_keys(current_rra) + list(keys):
        if key not in wanted or key in kept:
            continue
        kept.add(key)
        resource, pid, ptype = key
        if resource not in grouped:
            order.append(resource)
            grouped[resource] = []
        grouped[resource].append({"id": pid, "type": ptype})
    return [{"resourceAppId": r, "resourceAccess": grouped[r]} for r in order]


def check_limits(keys: t.Sequence[Key]) -> None:
    """Graph's limits on requiredResourceAccess, checked before the PATCH."""
    resources = {k[0] for k in keys}
    if len(resources) > MAX_RESOURCES or len(keys) > MAX_PERMISSIONS:
        raise ConfigurationError(
            "The application would require %d permissions of %d APIs; Entra ID allows at most %d APIs and %d permissions "
            "(https://learn.microsoft.com/entra/identity-platform/troubleshoot-required-resource-access-limits)."
            % (len(keys), len(resources), MAX_RESOURCES, MAX_PERMISSIONS),
            option="permissions",
        )


# -------------------------------------------------------------------------------------------------
# Consent planning (pure)
# -------------------------------------------------------------------------------------------------


def scope_tokens(scope: t.Any) -> list[str]:
    """The values of a grant's space-separated scope, in order, without duplicates (ignoring case)."""
    seen: set[str] = set()
    tokens = []
    for token in str(scope or "").split():
        if token.casefold() not in seen:
            seen.add(token.casefold())
            tokens.append(token)
    return tokens


@dataclasses.dataclass
class GrantPlan:
    """What happens to the AllPrincipals grant of one resource."""

    action: str  # none | create | update | delete
    before: list[str]
    after: list[str]
    added: list[str]
    removed: list[str]

    @property
    def scope(self) -> str:
        return " ".join(self.after)


def plan_grant(current: str | None, desired: t.Sequence[str], mode: str) -> GrantPlan:
    """The grant's scope after this task: the desired values (exact), or current plus desired (merge).

    ``current`` is None when there is no grant. A grant is created when needed, its scope PATCHed
    when it changes, and deleted only when nothing is left in exact mode.
    """
    before = scope_tokens(current)
    want = scope_tokens(" ".join(desired))
    wanted = {v.casefold() for v in want}
    if mode == "exact":
        after = [v for v in before if v.casefold() in wanted]
    else:
        after = list(before)
    present = {v.casefold() for v in after}
    after += [v for v in want if v.casefold() not in present]
    after_folded = {v.casefold() for v in after}
    before_folded = {v.casefold() for v in before}
    added = [v for v in after if v.casefold() not in before_folded]
    removed = [v for v in before if v.casefold() not in after_folded]
    if current is None:
        action = "create" if after else "none"
    elif not added and not removed:
        action = "none"
    elif not after:
        action = "delete"
    else:
        action = "update"
    return GrantPlan(action, before, after, added, removed)


def plan_assignments(
    current: t.Mapping[str, t.Sequence[str]], desired: t.Sequence[str], mode: str
) -> tuple[list[str], list[tuple[str, str]]]:
    """Role ids to assign, and (role id, assignment id) pairs to delete (exact mode only)."""
    create = [r for r in dict.fromkeys(d.lower() for d in desired) if r not in current]
    delete: list[tuple[str, str]] = []
    if mode == "exact":
        wanted = {d.lower() for d in desired}
        for role_id, assignment_ids in current.items():
            if role_id not in wanted:
                delete.extend((role_id, a) for a in assignment_ids)
    return create, delete


# -------------------------------------------------------------------------------------------------
# Graph operations
# -------------------------------------------------------------------------------------------------


def find_app(module: PartnerCenterModule) -> dict[str, t.Any]:
    """The target application, waiting briefly for one created moments ago to replicate."""
    graph = module.graph
    http = graph.http
    budget = min(APP_VISIBILITY_GRACE, float(graph.consistency_timeout))
    start = http.clock()
    delay = 0.5
    while True:
        app = find_target_application(module, select=APP_SELECT)
        if app is not None:
            return app
        waited = http.clock() - start
        if waited >= budget:
            break
        http.sleep(min(delay, budget - waited))
        delay = min(delay * 2, 4.0)
    p = module.params
    option = next(o for o in ("object_id", "app_id", "unique_name", "display_name") if p.get(o))
    raise ConfigurationError(
        "No application with %s %r exists in the tenant (waited %.0f seconds for directory replication). Create it "
        "first, for example with partnercenter.national_cloud.pc_aad_app, and check tenant_id and cloud."
        % (option, p[option], http.clock() - start),
        option=option,
    )


def _is_already_exists(exc: ServiceError) -> bool:
    """Graph's answer to a duplicate grant or assignment: 400 "... already exists ..." (or a 409)."""
    if exc.has_code("Request_MultipleObjectsWithSameKeyValue"):
        return True
    return exc.status in (400, 409) and "already exists" in (exc.service_message or "").lower()


@dataclasses.dataclass
class Consent:
    """The client's AllPrincipals grants and app role assignments, by resource service principal id."""

    grants_known: bool = True
    assignments_known: bool = True
    grants: dict[str, dict[str, t.Any]] = dataclasses.field(default_factory=dict)
    assignments: dict[str, dict[str, list[str]]] = dataclasses.field(default_factory=dict)

    def grant_of(self, sp_id: str | None) -> dict[str, t.Any] | None:
        return self.grants.get((sp_id or "").lower())

    def scope_of(self, sp_id: str | None) -> str | None:
        grant = self.grant_of(sp_id)
        return None if grant is None else str(grant.get("scope") or "")

    def roles_of(self, sp_id: str | None) -> dict[str, list[str]]:
        return self.assignments.get((sp_id or "").lower(), {})


# The Graph operation that reads each kind of consent (named in a 403 met while paging).
CONSENT_READS = {"grants": "read_oauth2_permission_grants", "assignments": "read_app_role_assignments"}
CONSENT_HINT = ("admin_consent needs DelegatedPermissionGrant.ReadWrite.All and AppRoleAssignment.ReadWrite.All "
                "(and Application.Read.All) for the client.")


def read_client(
    graph: GraphClient, resolver: Resolver, client_app_id: str, api_app_ids: t.Iterable[str], *, tolerate_forbidden: bool
) -> tuple[str | None, Consent]:
    """The client's service principal id and the consent it holds, and the APIs' service principals
    (into ``resolver``), in one JSON batching round trip (more only to page through long lists).

    A client without a service principal holds no consent. Without permission to read grants or
    assignments, consent is unknown (``tolerate_forbidden``) or the error says what is needed.
    """
    client = key_segment("servicePrincipals", "appId", client_app_id)
    apis = sorted({a.lower() for a in api_app_ids if is_guid(a)} - resolver.known())
    items = [
        BatchItem("GET", client, {"$select": "id,appId"}, operation="read_service_principal"),
        BatchItem("GET", client + "/oauth2PermissionGrants", {"$select": ",".join(GRANT_SELECT)},
                  operation=CONSENT_READS["grants"]),
        BatchItem("GET", client + "/appRoleAssignments", {"$select": ",".join(ASSIGNMENT_SELECT)},
                  operation=CONSENT_READS["assignments"]),
    ] + [BatchItem("GET", key_segment("servicePrincipals", "appId", a), {"$select": ",".join(SP_SELECT)},
                   operation="read_service_principal") for a in apis]
    sp, grants, assignments, *found = graph.batch(items)
    for app_id, result in zip(apis, found):
        resolver.record(app_id, body_or_none(result))
    client_sp = body_or_none(sp)
    consent = Consent()
    if client_sp is None:
        return None, consent
    client_sp_id = str(client_sp["id"])
    for result, kind in ((grants, "grants"), (assignments, "assignments")):
        if isinstance(result, ForbiddenError):
            if not tolerate_forbidden:
                result.hint = CONSENT_HINT
                raise result
            setattr(consent, kind + "_known", False)
            continue
        items_found = graph.all_pages(body_or_none(result) or {}, operation=CONSENT_READS[kind])
        if kind == "grants":
            _add_grants(consent, client_sp_id, items_found)
        else:
            _add_assignments(consent, items_found)
    return client_sp_id, consent


def _add_grants(consent: Consent, client_sp_id: str, grants: t.Iterable[t.Mapping[str, t.Any]]) -> None:
    for grant in grants:
        if grant.get("consentType") == "AllPrincipals" and str(grant.get("clientId", "")).lower() == client_sp_id.lower():
            resource = str(grant.get("resourceId") or "").lower()
            if resource in consent.grants:  # Graph keeps one; merge defensively
                kept = consent.grants[resource]
                kept["scope"] = " ".join(scope_tokens("%s %s" % (kept.get("scope"), grant.get("scope"))))
            else:
                consent.grants[resource] = dict(grant)


def _add_assignments(consent: Consent, assignments: t.Iterable[t.Mapping[str, t.Any]]) -> None:
    for assignment in assignments:
        resource = str(assignment.get("resourceId") or "").lower()
        role = str(assignment.get("appRoleId") or "").lower()
        consent.assignments.setdefault(resource, {}).setdefault(role, []).append(str(assignment.get("id")))


def _find_grant(graph: GraphClient, client_sp_id: str, resource_sp_id: str) -> dict[str, t.Any]:
    """The AllPrincipals grant that a create said exists (waiting until a read sees it)."""

    def read() -> list[t.Any]:
        return graph.list(
            "oauth2PermissionGrants",
            filter="clientId eq %s and consentType eq 'AllPrincipals' and resourceId eq %s"
            % (odata_string(client_sp_id), odata_string(resource_sp_id)),
            select=GRANT_SELECT,
            operation="read_oauth2_permission_grants",
        )

    found = graph.wait_for(read, bool, what="the existing delegated permission grant on %s" % resource_sp_id)
    return dict(found[0])


def write_grant(
    graph: GraphClient, client_sp_id: str, resource_sp_id: str, grant: dict[str, t.Any] | None, plan: GrantPlan
) -> None:
    """Apply a grant plan: POST (create), PATCH scope (update) or DELETE (nothing left)."""
    if plan.action == "none":
        return
    if plan.action == "create":
        body = {
            "clientId": client_sp_id,
            "consentType": "AllPrincipals",
            "resourceId": resource_sp_id,
            "scope": plan.scope,
        }
        try:
            graph.retry_dependent_write(
                # Safe to retry: Graph keeps one grant per client, resource and consent type.
                lambda: graph.post(
                    "oauth2PermissionGrants", body, operation="create_oauth2_permission_grant", idempotent=True
                ),
                what="the delegated permission grant on %s" % resource_sp_id,
            )
            return
        except ServiceError as exc:
            if not _is_already_exists(exc):
                raise
        # A grant exists that our read did not see yet (replication): bring its scope to the plan.
        grant = _find_grant(graph, client_sp_id, resource_sp_id)
        if {v.casefold() for v in scope_tokens(grant.get("scope"))} == {v.casefold() for v in plan.after}:
            return
        plan = dataclasses.replace(plan, action="update")
    if grant is None:  # an update or delete is planned only for a grant that was read
        raise ConfigurationError("No delegated permission grant to change on %s." % resource_sp_id)
    path = "oauth2PermissionGrants/%s" % grant["id"]
    if plan.action == "update":
        graph.patch(path, {"scope": plan.scope}, operation="update_oauth2_permission_grant")
    else:
        try:
            graph.delete(path, operation="delete_oauth2_permission_grant")
        except NotFoundError:  # already gone
            pass


def assign_role(graph: GraphClient, client_sp_id: str, resource_sp_id: str, role_id: str) -> bool:
    """Assign an application permission; False when Graph says it is assigned already."""
    body = {"principalId": client_sp_id, "resourceId": resource_sp_id, "appRoleId": role_id}
    try:
        graph.retry_dependent_write(
            # Safe to retry: a duplicate assignment is refused ("already exists").
            lambda: graph.post(
                "servicePrincipals/%s/appRoleAssignedTo" % resource_sp_id,
                body,
                operation="create_app_role_assignment",
                idempotent=True,
            ),
            what="the app role assignment of %s on %s" % (role_id, resource_sp_id),
        )
    except ServiceError as exc:
        if _is_already_exists(exc):
            return False
        raise
    return True


def unassign_role(graph: GraphClient, resource_sp_id: str, assignment_id: str) -> None:
    """Revoke an application permission (an assignment already gone is fine)."""
    try:
        graph.delete(
            "servicePrincipals/%s/appRoleAssignedTo/%s" % (resource_sp_id, assignment_id),
            operation="delete_app_role_assignment",
        )
    except NotFoundError:
        pass


# -------------------------------------------------------------------------------------------------
# Reporting
# -------------------------------------------------------------------------------------------------


def permission_dict(permission: Permission, resource: Resource | None, consented: bool | None = None) -> dict[str, t.Any]:
    return {
        "api": resource.display_name if resource else permission.api_app_id,
        "api_app_id": permission.api_app_id,
        "value": permission.value,
        "id": permission.id or None,
        "type": permission.kind,
        "display_name": permission.display_name,
        "consented": consented,
    }


def permission_label(permission: t.Mapping[str, t.Any]) -> str:
    """One permission as people read it, API and permission together, as the audit and the diff show
    it: ``Microsoft Graph: Directory.Read.All (application)``. Takes a :func:`permission_dict`."""
    return "%s: %s (%s)" % (permission["api"], permission["value"] or permission["id"], permission["type"])


def aad_graph_warning(wanted: Wanted, *, check_mode: bool) -> str:
    """The warning for permissions asked on Azure AD Graph, naming their Microsoft Graph equivalents."""
    parts = []
    for kind in (DELEGATED, APPLICATION):
        values = [p.label for p in wanted.permissions if p.kind == kind]
        if values:
            mapped = [v for v in values if v in AAD_GRAPH_EQUIVALENTS]
            parts.append("%s %s" % (kind, ", ".join(mapped)) if mapped else "")
    equivalents = "; ".join(p for p in parts if p)
    text = (
        "Azure AD Graph (Windows Azure Active Directory, %s) is retired: its permissions %s as asked, but apps should "
        "use Microsoft Graph (api: Microsoft Graph) instead."
        % (AAD_GRAPH_APP_ID, "would be set" if check_mode else "are set")
    )
    if equivalents:
        text += " Microsoft Graph equivalents of the requested permissions: %s." % equivalents
    return text + " Mapping: %s" % AAD_GRAPH_MIGRATION_URL


# -------------------------------------------------------------------------------------------------
# The module
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ApiState:
    """One API this task manages: what it requires and what is consented, before and after."""

    app_id: str
    resource: Resource | None
    before: list[Key]
    after: list[Key]
    scopes: list[str] | None = None  # the grant's values as read (None: unknown)
    roles: set[str] | None = None  # the assigned role ids as read (None: unknown)
    grant: GrantPlan | None = None
    create_roles: list[str] = dataclasses.field(default_factory=list)
    delete_roles: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def consent_changes(self) -> bool:
        return bool((self.grant is not None and self.grant.action != "none") or self.create_roles or self.delete_roles)

    def scopes_after(self) -> list[str] | None:
        return list(self.grant.after) if self.grant is not None else self.scopes

    def roles_after(self) -> set[str] | None:
        if self.roles is None:
            return None
        return (self.roles | set(self.create_roles)) - {r for r, dummy in self.delete_roles}

    def info(self, key: Key) -> Permission:
        if self.resource is None:
            return Permission(key[0], key[1], key[2], None, None)
        return self.resource.permission(key[1], key[2])


def run_pc_aad_permissions(module: PartnerCenterModule) -> dict[str, t.Any]:
    """The pc_aad_permissions module: returns the result mapping."""
    p = module.params
    requests = validate_params(p)
    mode = p["mode"]
    admin_consent = bool(p["admin_consent"])
    module.validate()
    graph = module.graph
    app = find_app(module)
    resolver = Resolver(graph)
    # One round trip for the client's service principal, its consent and the APIs' service principals.
    api_ids = known_api_ids(requests) + [key[0] for key in rra_keys(app.get("requiredResourceAccess"))]
    client_sp_id, consent = read_client(graph, resolver, app["appId"], api_ids, tolerate_forbidden=not admin_consent)
    wanted = resolve_requests(resolver, requests)

    current = rra_keys(app.get("requiredResourceAccess"))
    target = target_keys(current, [perm.key for w in wanted.values() for perm in w.permissions], mode)
    if set(target) != set(current):
        check_limits(target)

    # The APIs this task manages: those asked for, and those the application requires now (read once
    # each, for names in the report and, in exact mode, to revoke consent no longer asked for).
    resources: dict[str, Resource | None] = {app_id: w.resource for app_id, w in wanted.items()}
    for key in current:
        if key[0] not in resources:
            resources[key[0]] = resolver.resource(key[0]) if is_guid(key[0]) else None

    # Missing first-party service principals (Partner Center's) are created for consent; the names are
    # then resolved again from the created object, so the ids written are the tenant's own.
    created_sps: list[str] = []
    if admin_consent:
        for app_id, entry in wanted.items():
            if entry.resource.sp_id is not None or not entry.permissions:
                continue
            created_sps.append(entry.resource.display_name)
            if not module.check_mode:
                created = resolver.created(create_service_principal(graph, app_id, first_party=True, select=SP_SELECT)[0])
                entry.resource = resources[app_id] = created
                entry.permissions = resolve_names(created, entry.delegated, entry.application)
        if created_sps and not module.check_mode:
            target = target_keys(current, [perm.key for w in wanted.values() for perm in w.permissions], mode)
    rra_changed = set(target) != set(current)

    states: dict[str, ApiState] = {}
    for app_id, resource in resources.items():
        state = ApiState(app_id, resource, [k for k in current if k[0] == app_id], [k for k in target if k[0] == app_id])
        states[app_id] = state
        if resource is None:
            continue
        if consent.grants_known:
            state.scopes = scope_tokens(consent.scope_of(resource.sp_id))
        if consent.assignments_known:
            state.roles = set(consent.roles_of(resource.sp_id))
        entry = wanted.get(app_id)
        if not admin_consent or (mode == "merge" and entry is None):
            continue
        desired = entry.permissions if entry else []
        scopes = [perm.value for perm in desired if perm.type == SCOPE and perm.value]
        state.grant = plan_grant(consent.scope_of(resource.sp_id), scopes, mode)
        state.create_roles, state.delete_roles = plan_assignments(
            consent.roles_of(resource.sp_id), [perm.id for perm in desired if perm.type == ROLE], mode
        )

    consent_changes = any(state.consent_changes for state in states.values())
    changed = bool(rra_changed or consent_changes or created_sps)

    if not module.check_mode:
        if rra_changed:
            graph.patch(
                "applications/%s" % app["id"],
                {"requiredResourceAccess": build_rra(app.get("requiredResourceAccess"), target)},
                operation="update_application",
            )
        if consent_changes:
            if client_sp_id is None:
                client_sp_id = create_service_principal(graph, app["appId"])[0].get("id")
            for state in states.values():
                _write_consent(graph, t.cast(str, client_sp_id), state, consent)

    # Said once the writes are done (or, in check mode, planned), so that it never claims more than happened.
    if AAD_GRAPH_APP_ID in wanted and wanted[AAD_GRAPH_APP_ID].permissions:
        module.module.warn(aad_graph_warning(wanted[AAD_GRAPH_APP_ID], check_mode=module.check_mode))
    return _report(module, app, states, created_sps, changed, client_sp_id)


def _write_consent(graph: GraphClient, client_sp_id: str, state: ApiState, consent: Consent) -> None:
    resource = state.resource
    if resource is None or resource.sp_id is None or not state.consent_changes:
        return
    if state.grant is not None:
        write_grant(graph, client_sp_id, resource.sp_id, consent.grant_of(resource.sp_id), state.grant)
    for role_id in state.create_roles:
        assign_role(graph, client_sp_id, resource.sp_id, role_id)
    for dummy, assignment_id in state.delete_roles:
        unassign_role(graph, resource.sp_id, assignment_id)


def _report(
    module: PartnerCenterModule,
    app: t.Mapping[str, t.Any],
    states: t.Mapping[str, ApiState],
    created_sps: list[str],
    changed: bool,
    client_sp_id: str | None,
) -> dict[str, t.Any]:
    """The result: permissions (after, with actual consent), changes, and the diff by names.

    ``consented`` is what was read, adjusted by our own (trusted) writes: in check mode it is the
    current state, while ``changes`` and the diff show what a real run does.
    """
    names = _api_names(states)
    permissions: list[dict[str, t.Any]] = []
    changes: dict[str, list[t.Any]] = {
        "added": [],
        "removed": [],
        "consented": [],
        "revoked": [],
        "service_principals_created": list(created_sps),
    }
    for app_id, state in states.items():
        resource = state.resource
        scopes_now = state.scopes if module.check_mode else state.scopes_after()
        roles_now = state.roles if module.check_mode else state.roles_after()
        for key in state.after:
            perm = state.info(key)
            permissions.append(permission_dict(perm, resource, _consented(perm, scopes_now, roles_now)))
        changes["added"].extend(permission_dict(state.info(k), resource) for k in state.after if k not in state.before)
        changes["removed"].extend(permission_dict(state.info(k), resource) for k in state.before if k not in state.after)
        if state.grant is not None:
            changes["consented"].extend(_scope_dict(state, v) for v in state.grant.added)
            changes["revoked"].extend(_scope_dict(state, v) for v in state.grant.removed)
        changes["consented"].extend(permission_dict(state.info((app_id, r, ROLE)), resource) for r in state.create_roles)
        changes["revoked"].extend(permission_dict(state.info((app_id, r, ROLE)), resource) for r, dummy in state.delete_roles)
    permissions.sort(key=lambda d: (d["api"], d["type"], str(d["value"] or d["id"]).casefold()))
    before = _view(states, names, lambda s: (s.before, s.scopes, s.roles))
    after = _view(states, names, lambda s: (s.after, s.scopes_after(), s.roles_after()))
    module.set_diff(before, after)
    return {
        "changed": changed,
        "app_id": app.get("appId"),
        "object_id": app.get("id"),
        "service_principal_id": client_sp_id,
        "permissions": permissions,
        "changes": changes,
    }


def _consented(perm: Permission, scopes: list[str] | None, roles: set[str] | None) -> bool | None:
    if perm.type == SCOPE:
        if scopes is None:
            return None
        return bool(perm.value) and t.cast(str, perm.value).casefold() in {s.casefold() for s in scopes}
    return None if roles is None else perm.id in roles


def _scope_dict(state: ApiState, value: str) -> dict[str, t.Any]:
    entry = state.resource.by_value(SCOPE).get(value.casefold()) if state.resource else None
    if entry is not None:
        return permission_dict(state.info((state.app_id, str(entry["id"]).lower(), SCOPE)), state.resource)
    return permission_dict(Permission(state.app_id, "", SCOPE, value, None), state.resource)


def _api_names(states: t.Mapping[str, ApiState]) -> dict[str, str]:
    """The APIs' names in the diff: their display names (with the appId when two APIs share one)."""
    plain = {app_id: (s.resource.display_name if s.resource else app_id) for app_id, s in states.items()}
    counts: dict[str, int] = {}
    for name in plain.values():
        counts[name] = counts.get(name, 0) + 1
    return {app_id: name if counts[name] == 1 else "%s (%s)" % (name, app_id) for app_id, name in plain.items()}


Side = t.Tuple[t.Sequence[Key], t.Optional[t.List[str]], t.Optional[t.Set[str]]]  # required, scopes, role ids


def _view(states: t.Mapping[str, ApiState], names: t.Mapping[str, str], side: t.Callable[[ApiState], Side]) -> dict[str, t.Any]:
    """One side of the diff: the required permissions and the consent, each entry naming API and
    permission together (as the audit does), so that a change of API reads as a removal and an addition.

    ``consent_unknown`` lists the kinds whose consent could not be read (the client may not read it).
    """
    required: list[dict[str, t.Any]] = []
    consented: list[dict[str, t.Any]] = []
    unknown: set[str] = set()
    for app_id, state in states.items():
        keys, scopes, roles = side(state)
        required.extend(_named(state.info(k), names[app_id]) for k in keys)
        if state.resource is None:  # no service principal: nothing can be consented
            continue
        if scopes is None:
            unknown.add(DELEGATED)
        else:
            consented.extend({"api": names[app_id], "value": v, "id": None, "type": DELEGATED} for v in scopes)
        if roles is None:
            unknown.add(APPLICATION)
        else:
            consented.extend(_named(state.info((app_id, r, ROLE)), names[app_id]) for r in roles)
    view: dict[str, t.Any] = {"required": _labels(required), "consented": _labels(consented)}
    if unknown:
        view["consent_unknown"] = sorted(unknown)
    return view


def _named(permission: Permission, api: str) -> dict[str, t.Any]:
    return {"api": api, "value": permission.value, "id": permission.id, "type": permission.kind}


def _labels(entries: t.Iterable[t.Mapping[str, t.Any]]) -> list[str]:
    """Sorted by API, type and permission, as ``permissions`` is; duplicates once."""
    ordered = sorted(entries, key=lambda e: (e["api"].casefold(), e["type"], str(e["value"] or e["id"]).casefold()))
    return list(dict.fromkeys(permission_label(e) for e in ordered))
