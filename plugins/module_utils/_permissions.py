# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The run of pc_aad_permissions: required API permissions and admin consent as desired state, and its report.

- Names resolve through _api_catalogue; consent is read and written by _consent.
- requiredResourceAccess compares as a set of (resourceAppId, id, type): order and duplicates never
  cause a change; only ``requiredResourceAccess`` is PATCHed.
- Consent is reported from the grants and assignments read, adjusted by our own writes.
"""

from __future__ import annotations

import dataclasses
import typing as t

from ._api_catalogue import (
    AAD_GRAPH_EQUIVALENTS,
    AAD_GRAPH_MIGRATION_URL,
    APPLICATION,
    DELEGATED,
    ROLE,
    SCOPE,
    Key,
    Permission,
    Request,
    Resolver,
    Resource,
    Wanted,
    canonical_type,
    known_api_ids,
    looks_like_guid,
    resolve_names,
    resolve_requests,
)
from ._consent import (
    Consent,
    GrantPlan,
    assign_role,
    is_consented,
    plan_assignments,
    plan_grant,
    read_client,
    scope_tokens,
    unassign_role,
    write_grant,
)
from ._directory import APPLICATION_KEYS, SP_SELECT, create_service_principal, find_target_application, update_application
from ._errors import ConfigurationError
from ._graph import GraphClient
from ._ids import AAD_GRAPH_APP_ID, is_guid

if t.TYPE_CHECKING:  # pragma: no cover
    from ._module import PartnerCenterModule

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
# moments ago by a previous task (directory replication). Capped by consistency_timeout; the wait is
# _directory's (wait_until_visible) with this shorter budget.
APP_VISIBILITY_GRACE = 10.0

# The application as pc_aad_permissions reads it: what designates it, its audience and its permissions.
APP_SELECT = APPLICATION_KEYS + ("signInAudience", "requiredResourceAccess")


# -------------------------------------------------------------------------------------------------
# Input (checked before any request)
# -------------------------------------------------------------------------------------------------


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
# The target application
# -------------------------------------------------------------------------------------------------


def find_app(module: PartnerCenterModule) -> dict[str, t.Any]:
    """The target application, waiting briefly (APP_VISIBILITY_GRACE) for one created moments ago to replicate."""
    http = module.graph.http
    start = http.clock()
    app = find_target_application(module, select=APP_SELECT, wait=True, timeout=APP_VISIBILITY_GRACE)
    if app is not None:
        return app
    p = module.params
    option = next(o for o in ("object_id", "app_id", "unique_name", "display_name") if p.get(o))
    raise ConfigurationError(
        "No application with %s %r exists in the tenant (waited %.0f seconds for directory replication). Create it "
        "first, for example with partnercenter.national_cloud.pc_aad_app, and check tenant_id and cloud."
        % (option, p[option], http.clock() - start),
        option=option,
    )


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
    target = target_keys(current, _desired_keys(wanted), mode)
    if set(target) != set(current):
        check_limits(target)
    resources = _managed_resources(resolver, wanted, current)
    created_sps: list[str] = []
    if admin_consent:
        created_sps = _create_missing_service_principals(module, resolver, wanted, resources)
        if created_sps and not module.check_mode:
            target = target_keys(current, _desired_keys(wanted), mode)
    rra_changed = set(target) != set(current)
    states = {
        app_id: _api_state(app_id, resource, current, target, consent, wanted.get(app_id), mode, admin_consent)
        for app_id, resource in resources.items()
    }
    consent_changes = any(state.consent_changes for state in states.values())
    changed = bool(rra_changed or consent_changes or created_sps)

    if not module.check_mode:
        if rra_changed:
            update_application(graph, app["id"], {"requiredResourceAccess": build_rra(app.get("requiredResourceAccess"), target)})
        if consent_changes:
            if client_sp_id is None:
                client_sp_id = create_service_principal(graph, app["appId"])[0].get("id")
            for state in states.values():
                _write_consent(graph, t.cast(str, client_sp_id), state, consent)

    # Said once the writes are done (or, in check mode, planned), so that it never claims more than happened.
    if AAD_GRAPH_APP_ID in wanted and wanted[AAD_GRAPH_APP_ID].permissions:
        module.module.warn(aad_graph_warning(wanted[AAD_GRAPH_APP_ID], check_mode=module.check_mode))
    return _report(module, app, states, created_sps, changed, client_sp_id)


def _desired_keys(wanted: t.Mapping[str, Wanted]) -> list[Key]:
    return [perm.key for w in wanted.values() for perm in w.permissions]


def _managed_resources(resolver: Resolver, wanted: t.Mapping[str, Wanted], current: t.Sequence[Key]) -> dict[str, Resource | None]:
    """The APIs this task manages: those asked for, and those the application requires now (read once
    each, for names in the report and, in exact mode, to revoke consent no longer asked for)."""
    resources: dict[str, Resource | None] = {app_id: w.resource for app_id, w in wanted.items()}
    for key in current:
        if key[0] not in resources:
            resources[key[0]] = resolver.resource(key[0]) if is_guid(key[0]) else None
    return resources


def _create_missing_service_principals(
    module: PartnerCenterModule, resolver: Resolver, wanted: t.Mapping[str, Wanted], resources: dict[str, Resource | None]
) -> list[str]:
    """Missing first-party service principals (Partner Center's) are created for consent; the names are
    then resolved again from the created object, so the ids written are the tenant's own. Returns the
    names of the APIs whose service principal is (in check mode: would be) created."""
    created_sps: list[str] = []
    for app_id, entry in wanted.items():
        if entry.resource.sp_id is not None or not entry.permissions:
            continue
        created_sps.append(entry.resource.display_name)
        if not module.check_mode:
            sp = create_service_principal(module.graph, app_id, first_party=True, select=SP_SELECT)[0]
            created = resolver.created(sp)
            entry.resource = resources[app_id] = created
            entry.permissions = resolve_names(created, entry.delegated, entry.application)
    return created_sps


def _api_state(
    app_id: str,
    resource: Resource | None,
    current: t.Sequence[Key],
    target: t.Sequence[Key],
    consent: Consent,
    entry: Wanted | None,
    mode: str,
    admin_consent: bool,
) -> ApiState:
    """One API's requirements before and after, its consent as read and, with admin_consent, the consent planned."""
    state = ApiState(app_id, resource, [k for k in current if k[0] == app_id], [k for k in target if k[0] == app_id])
    if resource is None:
        return state
    if consent.grants_known:
        state.scopes = scope_tokens(consent.scope_of(resource.sp_id))
    if consent.assignments_known:
        state.roles = set(consent.roles_of(resource.sp_id))
    if not admin_consent or (mode == "merge" and entry is None):
        return state
    desired = entry.permissions if entry else []
    scopes = [perm.value for perm in desired if perm.type == SCOPE and perm.value]
    state.grant = plan_grant(consent.scope_of(resource.sp_id), scopes, mode)
    state.create_roles, state.delete_roles = plan_assignments(
        consent.roles_of(resource.sp_id), [perm.id for perm in desired if perm.type == ROLE], mode
    )
    return state


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
            permissions.append(permission_dict(perm, resource, is_consented(perm, scopes_now, roles_now)))
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
