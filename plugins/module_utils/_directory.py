# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Microsoft Graph's directory resources: applications, service principals, grants, assignments, passwords.

The one place that knows their paths, the ``$select`` lists the modules share and the operation
names (which request logs and error messages show); the domain files (_applications,
_permissions, _consent, _api_catalogue, _passwords, _registration, _app_info) decide what to read
and write, and call this file to do it.

One visibility policy: an object created moments ago (by this run or by a previous task) may not
be visible to reads yet (directory replication,
https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
:func:`wait_until_visible` reads again until it is, within ``consistency_timeout``; a write that
depends on such an object is repeated by ``GraphClient.retry_dependent_write`` within the same budget.
"""

from __future__ import annotations

import typing as t

from ._errors import ConfigurationError, ConflictError, ConsistencyTimeout, ForbiddenError, NotFoundError
from ._graph import BatchItem, GraphClient, GraphResponse, key_segment, odata_string
from ._ids import require_guid

T = t.TypeVar("T")

# What designates an application: every $select of one starts with these (lookups compare displayName
# and uniqueName, messages name appId and id). Each module adds what it reads: pc_aad_app the
# properties it manages (APPLICATION_SELECT), pc_app_secret its secrets, pc_aad_permissions its
# required permissions, pc_aad_app_info and pc_register_webapp what they report.
APPLICATION_KEYS = ("id", "appId", "displayName", "uniqueName")
APPLICATION_SELECT = APPLICATION_KEYS + (
    "signInAudience",
    "web",
    "publicClient",
    "isFallbackPublicClient",
    "identifierUris",
    "notes",
    "tags",
)
# A service principal as an application that holds consent is read: its id (and appId).
CLIENT_SP_SELECT = ("id", "appId")
# An API's service principal as its permissions are resolved.
SP_SELECT = ("id", "appId", "displayName", "appRoles", "oauth2PermissionScopes")
GRANT_SELECT = ("id", "clientId", "consentType", "principalId", "resourceId", "scope")
ASSIGNMENT_SELECT = ("id", "appRoleId", "principalId", "resourceId")

# The operations that read consent (also named when a 403 is met while paging).
READ_GRANTS = "read_oauth2_permission_grants"
READ_ASSIGNMENTS = "read_app_role_assignments"


# -------------------------------------------------------------------------------------------------
# Visibility
# -------------------------------------------------------------------------------------------------


def wait_until_visible(
    graph: GraphClient,
    read: t.Callable[[], T | None],
    *,
    what: str,
    shows: t.Callable[[T], bool] | None = None,
    timeout: float | None = None,
) -> T:
    """``read()`` repeated until it finds the object (not None, no 404) and ``shows`` holds of it, within
    ``consistency_timeout`` (or ``timeout`` when shorter); ConsistencyTimeout when it never does."""

    def visible(found: T | None) -> bool:
        return found is not None and (shows is None or shows(found))

    return t.cast(T, graph.wait_for(read, visible, what=what, timeout=timeout))


# -------------------------------------------------------------------------------------------------
# Applications
# -------------------------------------------------------------------------------------------------


def describe(app: t.Mapping[str, t.Any]) -> str:
    """An application as messages name it: display name, appId and id."""
    return "%r (appId %s, id %s)" % (app.get("displayName"), app.get("appId"), app.get("id"))


def _get_application(graph: GraphClient, path: str, select: t.Sequence[str]) -> dict[str, t.Any] | None:
    try:
        return graph.get(path, select=select, operation="read_application")
    except NotFoundError:
        return None


def application_by_unique_name(graph: GraphClient, unique_name: str, select: t.Sequence[str]) -> dict[str, t.Any]:
    """The application with this unique name (NotFoundError when there is none, or none visible yet)."""
    return graph.get(key_segment("applications", "uniqueName", unique_name), select=select, operation="read_application")


def list_applications(graph: GraphClient, *, odata_filter: str | None, select: t.Sequence[str]) -> list[dict[str, t.Any]]:
    """The applications an OData ``$filter`` selects (all when None), every page."""
    return graph.list("applications", filter=odata_filter, select=select, operation="read_application")


def find_application(
    graph: GraphClient,
    *,
    object_id: str | None = None,
    app_id: str | None = None,
    unique_name: str | None = None,
    display_name: str | None = None,
    select: t.Sequence[str],
    display_name_option: str = "display_name",
) -> dict[str, t.Any] | None:
    """The one application the identifiers designate, or None; several matches are an error.

    ``display_name_option`` is the option named in messages about the display name.
    """
    if object_id:
        app = _get_application(graph, "applications/%s" % require_guid(object_id, "object_id"), select)
    elif app_id:
        app = _get_application(graph, key_segment("applications", "appId", require_guid(app_id, "app_id")), select)
    elif unique_name:
        app = _get_application(graph, key_segment("applications", "uniqueName", unique_name), select)
    elif display_name:
        matches = list_applications(graph, odata_filter="displayName eq %s" % odata_string(display_name), select=select)
        # Graph compares display names without case; the module's contract is the exact name.
        matches = [m for m in matches if m.get("displayName") == display_name]
        if len(matches) > 1:
            raise ConfigurationError(
                "%d applications have the display name %r: %s. Identify the application with app_id, object_id or "
                "unique_name." % (len(matches), display_name, "; ".join(describe(m) for m in matches)),
                option=display_name_option,
            )
        app = matches[0] if matches else None
    else:
        raise ConfigurationError("One of app_id, object_id, unique_name or %s is required." % display_name_option)
    if app and unique_name and app.get("uniqueName") and app["uniqueName"] != unique_name:
        raise ConfigurationError(
            "The application %s has unique name %r, not %r; a unique name cannot be changed once set."
            % (describe(app), app["uniqueName"], unique_name),
            option="unique_name",
        )
    return app


def find_target_application(
    module: t.Any,
    *,
    select: t.Sequence[str] = APPLICATION_SELECT,
    display_name_option: str = "display_name",
    wait: bool = False,
    timeout: float | None = None,
) -> dict[str, t.Any] | None:
    """The application the TARGET_APPLICATION_SPEC options (_specs) of a module designate, or None.

    ``select`` names the properties to read (keep ``uniqueName`` and ``displayName`` in it).
    ``display_name_option`` is the module's option for the application's display name, for a module
    whose own ``display_name`` means something else (pc_app_secret: ``app_display_name``).
    With ``wait``, an application not found is waited for (:func:`wait_until_visible`: it may have been
    created moments ago), up to ``consistency_timeout`` or the shorter ``timeout``.
    """
    p = module.params

    def read() -> dict[str, t.Any] | None:
        return find_application(
            module.graph,
            object_id=p.get("object_id"),
            app_id=p.get("app_id"),
            unique_name=p.get("unique_name"),
            display_name=p.get(display_name_option),
            select=select,
            display_name_option=display_name_option,
        )

    app = read()
    if app is not None or not wait:
        return app
    try:
        return wait_until_visible(module.graph, read, what="the application", timeout=timeout)
    except ConsistencyTimeout:
        return None


def upsert_application(graph: GraphClient, unique_name: str, body: t.Mapping[str, t.Any]) -> GraphResponse:
    """Graph's upsert by unique name (``Prefer: create-if-missing``): 201 created, 204 it existed (and was updated)."""
    return graph.patch(
        key_segment("applications", "uniqueName", unique_name),
        body,
        headers={"Prefer": "create-if-missing"},
        operation="create_application",
    )


def create_application(graph: GraphClient, body: t.Mapping[str, t.Any]) -> GraphResponse:
    """POST /applications (not idempotent: never repeated blindly, see _applications._recover_lost_create)."""
    return graph.post("applications", body, operation="create_application")


def update_application(graph: GraphClient, object_id: str, patch: t.Mapping[str, t.Any]) -> None:
    graph.patch("applications/%s" % object_id, patch, operation="update_application")


def delete_application(graph: GraphClient, object_id: str) -> None:
    """Delete an application (NotFoundError when it is gone already)."""
    graph.delete("applications/%s" % object_id, operation="delete_application")


# -------------------------------------------------------------------------------------------------
# Passwords (client secrets)
# -------------------------------------------------------------------------------------------------


def read_password_credentials(graph: GraphClient, object_id: str) -> list[dict[str, t.Any]]:
    """The application's password credentials as Graph shows them now."""
    current = graph.get("applications/%s" % object_id, select=("id", "passwordCredentials"), operation="read_application")
    return (current or {}).get("passwordCredentials") or []


def add_password(graph: GraphClient, app: t.Mapping[str, t.Any], credential: t.Mapping[str, t.Any]) -> GraphResponse:
    """One addPassword, repeated only while the application has not replicated (not idempotent otherwise)."""
    path = "applications/%s/addPassword" % app["id"]
    body = {"passwordCredential": dict(credential)}
    return graph.retry_dependent_write(
        lambda: graph.post(path, body, operation="add_password"), what="the application %s" % app.get("appId")
    )


def remove_password(graph: GraphClient, object_id: str, key_id: str) -> None:
    """removePassword (safe to repeat: a key already removed is refused, not removed twice)."""
    graph.post("applications/%s/removePassword" % object_id, {"keyId": key_id}, operation="remove_password", idempotent=True)


# -------------------------------------------------------------------------------------------------
# Service principals
# -------------------------------------------------------------------------------------------------


def service_principal_path(app_id: str) -> str:
    return key_segment("servicePrincipals", "appId", app_id)


def service_principal_item(app_id: str, select: t.Sequence[str]) -> BatchItem:
    """A JSON batching request for the service principal of ``app_id``."""
    return BatchItem("GET", service_principal_path(app_id), {"$select": ",".join(select)}, operation="read_service_principal")


def grants_item(client_app_id: str, select: t.Sequence[str] = GRANT_SELECT) -> BatchItem:
    """A JSON batching request for the oauth2PermissionGrants of the service principal of ``client_app_id``."""
    return BatchItem("GET", service_principal_path(client_app_id) + "/oauth2PermissionGrants",
                     {"$select": ",".join(select)}, operation=READ_GRANTS)


def assignments_item(client_app_id: str, select: t.Sequence[str] = ASSIGNMENT_SELECT) -> BatchItem:
    """A JSON batching request for the app role assignments the service principal of ``client_app_id`` holds."""
    return BatchItem("GET", service_principal_path(client_app_id) + "/appRoleAssignments",
                     {"$select": ",".join(select)}, operation=READ_ASSIGNMENTS)


def read_service_principal(graph: GraphClient, app_id: str, select: t.Sequence[str]) -> dict[str, t.Any] | None:
    """The service principal of ``app_id`` in the tenant, or None."""
    try:
        return graph.get(service_principal_path(app_id), select=select, operation="read_service_principal")
    except NotFoundError:
        return None


def service_principals_named(graph: GraphClient, display_name: str, select: t.Sequence[str]) -> list[dict[str, t.Any]]:
    """The service principals whose display name is ``display_name`` (Graph compares without case)."""
    return graph.list(
        "servicePrincipals",
        filter="displayName eq %s" % odata_string(display_name),
        select=select,
        operation="read_service_principal",
    )


def create_service_principal(
    graph: GraphClient, app_id: str, *, first_party: bool = False, select: t.Sequence[str] = CLIENT_SP_SELECT
) -> tuple[dict[str, t.Any], bool]:
    """Create the service principal of an application (ours, or a first-party API such as Partner
    Center); returns the created object and True, or, on 409, the existing one (``select``) and False.

    Safe to retry on a lost response: a second service principal for the same appId is refused with
    409. A new application that has not replicated yet (NoBackingApplicationObject) is waited for.
    """
    try:
        response = graph.retry_dependent_write(
            lambda: graph.post(
                "servicePrincipals", {"appId": app_id}, operation="create_service_principal", idempotent=True
            ),
            what="the service principal of application %s" % app_id,
        )
    except ConflictError:  # it exists: created concurrently, by a lost response, or a replica was behind
        existing = graph.wait_for(
            lambda: graph.get(service_principal_path(app_id), select=select, operation="read_service_principal"),
            what="the existing service principal of application %s" % app_id,
        )
        return dict(existing), False
    except ForbiddenError as exc:
        if first_party:  # not an application the caller owns: OwnedBy is not enough
            exc.required_permissions = ("Application.ReadWrite.All",)
        raise
    return dict(response.body or {}), True


def ensure_service_principal(
    graph: GraphClient, app_id: str, *, fresh: bool, check_mode: bool, first_party: bool = False
) -> tuple[str | None, bool]:
    """The id of the app's service principal, creating it if missing; and whether it was created.

    ``fresh``: the application was created by this run, so it has none yet (no read first).
    """
    if not fresh:
        found = read_service_principal(graph, app_id, CLIENT_SP_SELECT)
        if found is not None:
            return found["id"], False
    if check_mode:
        return None, True
    sp, created = create_service_principal(graph, app_id, first_party=first_party)
    return sp.get("id"), created


# -------------------------------------------------------------------------------------------------
# Delegated permission grants (oauth2PermissionGrants) and app role assignments
# -------------------------------------------------------------------------------------------------


def all_principals_grants(graph: GraphClient, client_sp_id: str, resource_sp_id: str) -> list[dict[str, t.Any]]:
    """The AllPrincipals grants of a client on a resource (Graph keeps at most one)."""
    return graph.list(
        "oauth2PermissionGrants",
        filter="clientId eq %s and consentType eq 'AllPrincipals' and resourceId eq %s"
        % (odata_string(client_sp_id), odata_string(resource_sp_id)),
        select=GRANT_SELECT,
        operation=READ_GRANTS,
    )


def create_grant(graph: GraphClient, client_sp_id: str, resource_sp_id: str, scope: str) -> None:
    """Create the AllPrincipals grant (repeated while a just-created service principal replicates)."""
    body = {"clientId": client_sp_id, "consentType": "AllPrincipals", "resourceId": resource_sp_id, "scope": scope}
    graph.retry_dependent_write(
        # Safe to retry: Graph keeps one grant per client, resource and consent type.
        lambda: graph.post("oauth2PermissionGrants", body, operation="create_oauth2_permission_grant", idempotent=True),
        what="the delegated permission grant on %s" % resource_sp_id,
    )


def update_grant(graph: GraphClient, grant_id: str, scope: str) -> None:
    graph.patch("oauth2PermissionGrants/%s" % grant_id, {"scope": scope}, operation="update_oauth2_permission_grant")


def delete_grant(graph: GraphClient, grant_id: str) -> None:
    """Delete a grant (NotFoundError when it is gone already)."""
    graph.delete("oauth2PermissionGrants/%s" % grant_id, operation="delete_oauth2_permission_grant")


def create_assignment(graph: GraphClient, client_sp_id: str, resource_sp_id: str, role_id: str) -> None:
    """Assign an app role of a resource to a client (repeated while a just-created service principal replicates)."""
    body = {"principalId": client_sp_id, "resourceId": resource_sp_id, "appRoleId": role_id}
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


def delete_assignment(graph: GraphClient, resource_sp_id: str, assignment_id: str) -> None:
    """Delete an app role assignment (NotFoundError when it is gone already)."""
    graph.delete(
        "servicePrincipals/%s/appRoleAssignedTo/%s" % (resource_sp_id, assignment_id),
        operation="delete_app_role_assignment",
    )
