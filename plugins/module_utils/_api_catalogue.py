# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The API catalogue: well-known APIs and their permissions, and what the names in pc_aad_permissions designate.

- APIs are named by alias, display name or appId; permissions by value, portal display name or id.
  Both resolve LIVE from the resource's service principal in the target tenant (IDs are not assumed
  equal across clouds). Only when a catalogued first-party API has no service principal in the tenant
  (Microsoft Partner Center usually) do its well-known definitions stand in.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing as t

from ._directory import SP_SELECT, read_service_principal, service_principals_named
from ._errors import ConfigurationError
from ._graph import GraphClient
from ._ids import AAD_GRAPH_APP_ID, GRAPH_APP_ID, PARTNER_CENTER_APP_ID, is_guid

DELEGATED = "delegated"
APPLICATION = "application"
SCOPE = "Scope"
ROLE = "Role"
KIND_OF = {SCOPE: DELEGATED, ROLE: APPLICATION}


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


@dataclasses.dataclass
class Request:
    """One entry of the ``permissions`` option."""

    index: int
    api: str
    delegated: list[str]
    application: list[str]


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
            sp = read_service_principal(self.graph, app_id, SP_SELECT)
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
            matches = service_principals_named(self.graph, name, SP_SELECT)
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
