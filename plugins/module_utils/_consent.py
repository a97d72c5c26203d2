# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Admin consent: the client's grants and app role assignments, read, planned and written.

Admin consent follows https://learn.microsoft.com/graph/permissions-grant-via-msgraph : delegated
permissions are ONE AllPrincipals oauth2PermissionGrant per resource (its scope PATCHed, never
deleted and recreated), application permissions are app role assignments (only the missing ones
created).
"""

from __future__ import annotations

import dataclasses
import typing as t

from ._api_catalogue import SCOPE, Permission, Resolver
from ._directory import (
    CLIENT_SP_SELECT,
    READ_ASSIGNMENTS,
    READ_GRANTS,
    SP_SELECT,
    all_principals_grants,
    assignments_item,
    create_assignment,
    create_grant,
    delete_assignment,
    delete_grant,
    grants_item,
    service_principal_item,
    update_grant,
    wait_until_visible,
)
from ._errors import ConfigurationError, ForbiddenError, NotFoundError, ServiceError
from ._graph import GraphClient, body_or_none
from ._ids import is_guid


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
CONSENT_READS = {"grants": READ_GRANTS, "assignments": READ_ASSIGNMENTS}
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
    apis = sorted({a.lower() for a in api_app_ids if is_guid(a)} - resolver.known())
    items = [
        service_principal_item(client_app_id, CLIENT_SP_SELECT),
        grants_item(client_app_id),
        assignments_item(client_app_id),
    ] + [service_principal_item(a, SP_SELECT) for a in apis]
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

    found = wait_until_visible(
        graph,
        lambda: all_principals_grants(graph, client_sp_id, resource_sp_id),
        shows=bool,
        what="the existing delegated permission grant on %s" % resource_sp_id,
    )
    return dict(found[0])


def write_grant(
    graph: GraphClient, client_sp_id: str, resource_sp_id: str, grant: dict[str, t.Any] | None, plan: GrantPlan
) -> None:
    """Apply a grant plan: POST (create), PATCH scope (update) or DELETE (nothing left)."""
    if plan.action == "none":
        return
    if plan.action == "create":
        try:
            create_grant(graph, client_sp_id, resource_sp_id, plan.scope)
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
    if plan.action == "update":
        update_grant(graph, grant["id"], plan.scope)
    else:
        try:
            delete_grant(graph, grant["id"])
        except NotFoundError:  # already gone
            pass


def assign_role(graph: GraphClient, client_sp_id: str, resource_sp_id: str, role_id: str) -> bool:
    """Assign an application permission; False when Graph says it is assigned already."""
    try:
        create_assignment(graph, client_sp_id, resource_sp_id, role_id)
    except ServiceError as exc:
        if _is_already_exists(exc):
            return False
        raise
    return True


def unassign_role(graph: GraphClient, resource_sp_id: str, assignment_id: str) -> None:
    """Revoke an application permission (an assignment already gone is fine)."""
    try:
        delete_assignment(graph, resource_sp_id, assignment_id)
    except NotFoundError:
        pass


def is_consented(perm: Permission, scopes: list[str] | None, roles: set[str] | None) -> bool | None:
    """Whether a permission is consented, given the grant's scopes and the assigned role ids as read (None: unknown)."""
    if perm.type == SCOPE:
        if scopes is None:
            return None
        return bool(perm.value) and t.cast(str, perm.value).casefold() in {s.casefold() for s in scopes}
    return None if roles is None else perm.id in roles
