"""Microsoft Graph v1.0: applications, service principals, app role assignments,
delegated permission grants, the organization and the default app management policy.

Behaviour follows the v1.0 reference for each operation (URLs next to each handler);
bearer tokens are validated like Graph does (signature, lifetime, audience, tenant) and
each operation requires one of the application permissions or delegated scopes its
documentation lists. Reads honour replication lag: an object created a moment ago may
not be visible yet (404), exactly the eventual consistency clients must cope with:
https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/
"""
from __future__ import annotations

import copy
import json
import re
from urllib.parse import unquote
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import jwt

from . import firstparty
from . import schema as graph_schema
from .app import Answer, Call, EmulatedError, Service
from .faults import Fault
from .odata import QueryError, apply_select, decode_skiptoken, encode_skiptoken, parse_filter, parse_select, parse_top
from .schema import GraphSchema, SchemaError
from .store import (Store, Tenant, iso, new_app_role_assignment, new_application, new_service_principal, object_key,
                    parse_iso, password_credential, public_view, secret_digest, visible)
from .validation import (bad_request, check_body, check_guid, check_identifier_uris, check_logout_url, check_redirect_uris,
                         invalid_value)

# Permissions per operation: each entry lists alternatives; an alternative is a set of
# permissions that must all be held. From each operation's "Permissions" table on
# learn.microsoft.com/graph/api (application permissions; delegated ones mirror them).
_READ_APPS = ["Application.Read.All", "Application.ReadWrite.OwnedBy", "Application.ReadWrite.All", "Directory.Read.All",
              "Directory.ReadWrite.All"]
PERMISSIONS: dict[str, list[set[str]]] = {
    "application.read": [{p} for p in _READ_APPS],
    "application.create": [{"AppRegistration.Create"}, {"Application.ReadWrite.OwnedBy"}, {"Application.ReadWrite.All"}],
    "application.write": [{"Application.ReadWrite.OwnedBy"}, {"Application.ReadWrite.All"}],
    "application.password": [{"Application.ReadWrite.OwnedBy"}, {"Application.ReadWrite.All"}, {"Directory.ReadWrite.All"}],
    "servicePrincipal.read": [{p} for p in _READ_APPS],
    "servicePrincipal.write": [{"Application.ReadWrite.OwnedBy"}, {"Application.ReadWrite.All"}, {"Directory.ReadWrite.All"}],
    "appRoleAssignment.read": [{p} for p in _READ_APPS],
    "appRoleAssignment.create": [{"AppRoleAssignment.ReadWrite.All", p} for p in _READ_APPS if p != "Application.ReadWrite.OwnedBy"],
    "appRoleAssignment.delete": [{"AppRoleAssignment.ReadWrite.All"}],
    "oauth2PermissionGrant.read": [{"Directory.Read.All"}, {"DelegatedPermissionGrant.Read.All"},
                                   {"DelegatedPermissionGrant.ReadWrite.All"}, {"Directory.ReadWrite.All"}],
    "oauth2PermissionGrant.write": [{"DelegatedPermissionGrant.ReadWrite.All"}, {"Directory.ReadWrite.All"}],
    "organization.read": [{"Organization.Read.All"}, {"Directory.Read.All"}, {"Organization.ReadWrite.All"},
                          {"Directory.ReadWrite.All"}],
    "policy.read": [{"Policy.Read.All"}, {"Policy.Read.ApplicationConfiguration"}, {"Policy.ReadWrite.ApplicationConfiguration"}],
    "policy.write": [{"Policy.ReadWrite.ApplicationConfiguration"}],
}
# Delegated (user) tokens: the signed-in admin's scopes; Directory.AccessAsUser.All acts with the user's rights.
USER_EQUIVALENTS = {"Directory.AccessAsUser.All": {"Directory.ReadWrite.All", "Application.ReadWrite.All",
                                                   "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
                                                   "Policy.ReadWrite.ApplicationConfiguration", "Organization.Read.All"},
                    "User.Read": {"Organization.Read.All"}}

FILTERABLE = {
    "applications": {"displayName": "scalar", "appId": "scalar", "uniqueName": "scalar", "id": "scalar",
                     "publisherDomain": "scalar", "signInAudience": "scalar", "identifierUris": "collection",
                     "tags": "collection"},
    "servicePrincipals": {"displayName": "scalar", "appId": "scalar", "id": "scalar", "accountEnabled": "scalar",
                          "servicePrincipalType": "scalar", "servicePrincipalNames": "collection", "tags": "collection"},
    "oauth2PermissionGrants": {"clientId": "scalar", "consentType": "scalar", "principalId": "scalar", "resourceId": "scalar"},
    "appRoleAssignments": {"principalId": "scalar", "resourceId": "scalar", "appRoleId": "scalar"},
}
ENTITY = {"applications": ("Application", "microsoft.graph.application"),
          "servicePrincipals": ("ServicePrincipal", "microsoft.graph.servicePrincipal"),
          "oauth2PermissionGrants": ("OAuth2PermissionGrant", "microsoft.graph.oAuth2PermissionGrant"),
          "appRoleAssignments": ("AppRoleAssignment", "microsoft.graph.appRoleAssignment")}
ALTERNATE_KEYS = {"applications": ("appId", "uniqueName"), "servicePrincipals": ("appId",)}

MAX_BATCH = 20
_PATH = re.compile(
    r"^/v1\.0/(?P<set>applications|servicePrincipals|oauth2PermissionGrants|organization)"
    r"(?:/(?P<id>[^/()]+)|\((?P<alt>[A-Za-z]+)=(?P<altval>'(?:[^']|'')*'|[^)]*)\))?"
    r"(?:/(?P<nav>[A-Za-z0-9.]+)(?:/(?P<navid>[^/]+))?)?/?$")


@dataclass
class Caller:
    """The identity behind a bearer token."""

    tenant: Tenant
    app_id: str
    object_id: str
    permissions: set[str]
    is_app: bool


@dataclass
class Target:
    """What a Graph URL addresses."""

    entity_set: str
    key_name: str | None = None
    key: str | None = None
    nav: str | None = None
    nav_id: str | None = None


def _not_found(ref: str) -> EmulatedError:
    return EmulatedError(404, "Request_ResourceNotFound",
                         f"Resource '{ref}' does not exist or one of its queried reference-property objects are not present.")


def _denied() -> EmulatedError:
    return EmulatedError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")


def _unauthenticated(message: str) -> EmulatedError:
    return EmulatedError(401, "InvalidAuthenticationToken", message, headers={
        "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                            'client_id="00000003-0000-0000-c000-000000000000"'})


class GraphService(Service):
    """`https://graph.microsoft.com` and its national-cloud deployments."""

    name = "graph"

    # Plumbing -----------------------------------------------------------------------
    def handle(self, call: Call) -> Answer:
        caller = self._authenticate(call)
        call.identify(caller.tenant.id, caller.app_id)
        if call.method == "POST" and call.path.rstrip("/") == "/v1.0/$batch":
            return self.guarded(call, caller.tenant.id, caller.app_id, lambda: self._batch(call, caller))
        return self.guarded(call, caller.tenant.id, caller.app_id, lambda: self._dispatch(call, caller))

    def _batch(self, call: Call, caller: Caller) -> Answer:
        """JSON batching: up to 20 requests in one round trip, each answered (and throttled) on its own.

        https://learn.microsoft.com/graph/json-batching ; each request is logged with `batch` set to
        the request id of the $batch that carried it.
        """
        body = call.json()
        items = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise bad_request("Invalid batch payload format.", "BadRequest")
        if len(items) > MAX_BATCH:
            raise bad_request(f"Number of batch requests exceeds the limit of {MAX_BATCH}.", "BadRequest")
        ids = [str(item.get("id", "")) for item in items]
        if "" in ids or len(set(ids)) != len(ids):
            raise bad_request("Batch request ids must be present and unique.", "BadRequest")
        statuses: dict[str, int] = {}
        responses = []
        for item in items:
            answer = self._batch_item(call, caller, item, statuses)
            statuses[str(item["id"])] = answer.status
            entry: dict[str, Any] = {"id": str(item["id"]), "status": answer.status, "headers": {
                key: value for key, value in answer.headers.items() if key.lower() in ("retry-after", "content-type", "location")}}
            if answer.body is not None:
                entry["body"] = answer.body
            responses.append(entry)
        return Answer(200, {"responses": responses})

    def _batch_item(self, call: Call, caller: Caller, item: dict[str, Any], statuses: dict[str, int]) -> Answer:
        method = str(item.get("method", "")).upper()
        url = str(item.get("url", ""))
        if method not in ("GET", "POST", "PATCH", "PUT", "DELETE") or not url or "://" in url:
            return self.render_error(call, bad_request("A batch request needs a method and a URL relative to the version "
                                                       "(for example /applications).", "BadRequest"))
        depends = item.get("dependsOn") or []
        if any(statuses.get(str(dep), 0) >= 400 or str(dep) not in statuses for dep in depends):
            return self.render_error(call, EmulatedError(424, "FailedDependency", "A request it depends on failed."))
        path, dummy, query = url.partition("?")
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        headers["authorization"] = call.headers.get("authorization", "")
        headers.setdefault("client-request-id", call.headers.get("client-request-id", ""))
        payload = json.dumps(item["body"]).encode() if item.get("body") is not None else b""
        if payload:
            headers.setdefault("content-type", "application/json")
        sub = call.emulator.new_call(call.cloud.name, "graph", method, "/v1.0" + unquote("/" + path.lstrip("/")), query,
                                     headers, payload, call.base_url, batch=call.request_id)
        sub.identify(caller.tenant.id, caller.app_id)
        answer = call.emulator.run(sub, self)
        call.emulator.log.add(sub.log)
        return answer

    def render_error(self, call: Call, error: EmulatedError) -> Answer:
        inner = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": call.request_id,
                 "client-request-id": call.headers.get("client-request-id", call.request_id)}
        body: dict[str, Any] = {"error": {"code": error.code, "message": error.message, "innerError": inner}}
        if error.details:
            body["error"]["details"] = error.details
        return Answer(error.status, body, {**self._headers(call), **error.headers})

    def fault_answer(self, call: Call, fault: Fault) -> Answer:
        answer = super().fault_answer(call, fault)
        if fault.status == 429:
            # https://learn.microsoft.com/graph/throttling-limits (identity and access service limits)
            answer.headers.update({
                "x-ms-throttle-scope": f"Tenant_Application/ReadWrite/{call.log.get('client_id')}/{call.log.get('tenant_id')}",
                "x-ms-throttle-information": "ResourceUnitLimitExceeded", "x-ms-throttle-limit-percentage": "1.2"})
        return answer

    @staticmethod
    def _headers(call: Call) -> dict[str, str]:
        return {"request-id": call.request_id, "client-request-id": call.headers.get("client-request-id", call.request_id),
                "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Emulated","Slice":"E","Ring":"1"}}',
                "x-ms-resource-unit": "1", "Strict-Transport-Security": "max-age=31536000",
                "Cache-Control": "no-cache"}

    def _authenticate(self, call: Call) -> Caller:
        """Validate the bearer token like Graph: signature, lifetime, audience, issuer and tenant."""
        header = call.headers.get("authorization", "")
        scheme, dummy, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("Access token is empty.")
        store = call.emulator.store
        try:
            claims = store.signing_key.verify(token.strip())
        except jwt.ExpiredSignatureError as exc:
            raise _unauthenticated("Lifetime validation failed, the token is expired.") from exc
        except jwt.InvalidSignatureError as exc:
            raise _unauthenticated("Signature is invalid.") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthenticated("CompactToken parsing failed with error code: 80049217") from exc
        cloud = call.cloud
        if claims.get("aud") not in (cloud.graph_resource, cloud.graph_resource + "/", firstparty.MICROSOFT_GRAPH_APP_ID):
            raise _unauthenticated("Access token validation failure. Invalid audience.")
        tenant = store.tenants.get(str(claims.get("tid")))
        if tenant is None or tenant.cloud != cloud.name or claims.get("iss") != cloud.access_token_issuer(tenant.id):
            raise _unauthenticated("Access token validation failure. Invalid issuer.")
        is_app = claims.get("idtyp") == "app"
        permissions = set(claims.get("roles", [])) if is_app else set(str(claims.get("scp", "")).split())
        if not is_app:
            for scope in list(permissions):
                permissions |= USER_EQUIVALENTS.get(scope, set())
        return Caller(tenant, str(claims.get("appid")), str(claims.get("oid")), permissions, is_app)

    @staticmethod
    def _require(caller: Caller, operation: str) -> None:
        if not any(alternative <= caller.permissions for alternative in PERMISSIONS[operation]):
            raise _denied()

    def _require_owned(self, caller: Caller, operation: str, app: dict[str, Any]) -> None:
        """Writes with only Application.ReadWrite.OwnedBy are limited to apps the caller owns."""
        self._require(caller, operation)
        broad = {"Application.ReadWrite.All", "Directory.ReadWrite.All"} & caller.permissions
        if not broad and caller.object_id not in app.get("_owners", []):
            raise _denied()

    @staticmethod
    def _schema(call: Call) -> GraphSchema:
        """The v1.0 schema of the Graph deployment serving the call's cloud (tests/emulator/schema)."""
        return graph_schema.for_cloud(call.cloud.name)

    def _check_schema(self, call: Call) -> None:
        """Every name in the URL, the query options and the body exists in the cloud's published schema.

        Before the hand-written rules (validation.py), which stay on top of this one.
        """
        body = call.json() if call.method in ("POST", "PATCH", "PUT") else None
        try:
            self._schema(call).check_request(call.method, call.path, call.query, body)
        except SchemaError as exc:
            raise bad_request(exc.message, exc.code) from exc

    def _dispatch(self, call: Call, caller: Caller) -> Answer:
        store = call.emulator.store
        with store.lock:
            self._check_schema(call)
            if call.path.rstrip("/") == "/v1.0/policies/defaultAppManagementPolicy":
                return self._policy(call, caller)
            match = _PATH.match(call.path)
            if not match:
                raise bad_request(f"Resource not found for the segment '{call.path.rsplit('/', 1)[-1]}'.", "BadRequest")
            target = self._target(match)
            answer = self._route(call, caller, target)
            answer.headers = {**self._headers(call), **answer.headers}
            if call.method in ("POST", "PATCH", "PUT", "DELETE") and answer.status < 300:
                store.dirty = True
            return answer

    @staticmethod
    def _target(match: re.Match[str]) -> Target:
        entity_set = match.group("set")
        target = Target(entity_set, nav=match.group("nav"), nav_id=match.group("navid"))
        if match.group("id"):
            target.key_name, target.key = "id", match.group("id")
        elif match.group("alt"):
            name, raw = match.group("alt"), match.group("altval")
            if name not in ALTERNATE_KEYS.get(entity_set, ()):
                raise bad_request(f"The key property '{name}' is not an alternate key of '{ENTITY.get(entity_set, (entity_set,))[0]}'.",
                                  "BadRequest")
            if not (raw.startswith("'") and raw.endswith("'") and len(raw) >= 2):
                raise bad_request(f"Invalid value specified for object reference property '{name}'. Please ensure that this "
                                  "value has an appropriate syntax and length.")
            target.key_name, target.key = name, raw[1:-1].replace("''", "'")
        return target

    def _route(self, call: Call, caller: Caller, target: Target) -> Answer:
        routes: dict[tuple[str, str, bool, str | None], Callable[[Call, Caller, Target], Answer]] = {
            ("GET", "applications", False, None): self._list_applications,
            ("POST", "applications", False, None): self._create_application,
            ("GET", "applications", True, None): self._get_application,
            ("PATCH", "applications", True, None): self._update_application,
            ("DELETE", "applications", True, None): self._delete_application,
            ("POST", "applications", True, "addPassword"): self._add_password,
            ("POST", "applications", True, "removePassword"): self._remove_password,
            ("GET", "servicePrincipals", False, None): self._list_service_principals,
            ("POST", "servicePrincipals", False, None): self._create_service_principal,
            ("GET", "servicePrincipals", True, None): self._get_service_principal,
            ("PATCH", "servicePrincipals", True, None): self._update_service_principal,
            ("DELETE", "servicePrincipals", True, None): self._delete_service_principal,
            ("GET", "servicePrincipals", True, "appRoleAssignedTo"): self._list_assignments,
            ("POST", "servicePrincipals", True, "appRoleAssignedTo"): self._create_assignment,
            ("DELETE", "servicePrincipals", True, "appRoleAssignedTo"): self._delete_assignment,
            ("GET", "servicePrincipals", True, "appRoleAssignments"): self._list_assignments,
            ("POST", "servicePrincipals", True, "appRoleAssignments"): self._create_assignment,
            ("DELETE", "servicePrincipals", True, "appRoleAssignments"): self._delete_assignment,
            ("GET", "servicePrincipals", True, "oauth2PermissionGrants"): self._list_grants,
            ("GET", "oauth2PermissionGrants", False, None): self._list_grants,
            ("POST", "oauth2PermissionGrants", False, None): self._create_grant,
            ("GET", "oauth2PermissionGrants", True, None): self._get_grant,
            ("PATCH", "oauth2PermissionGrants", True, None): self._update_grant,
            ("DELETE", "oauth2PermissionGrants", True, None): self._delete_grant,
            ("GET", "organization", False, None): self._organization,
            ("GET", "organization", True, None): self._organization,
        }
        nav = target.nav
        if nav in ("appRoleAssignedTo", "appRoleAssignments") and target.nav_id and call.method == "DELETE":
            pass
        elif target.nav_id:
            raise bad_request(f"Resource not found for the segment '{target.nav_id}'.", "BadRequest")
        handler = routes.get((call.method, target.entity_set, target.key is not None, nav))
        if handler is None:
            if any(k[1:] == (target.entity_set, target.key is not None, nav) for k in routes):
                raise EmulatedError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
            raise bad_request(f"Resource not found for the segment '{nav or target.entity_set}'.", "BadRequest")
        return handler(call, caller, target)

    # Lookups --------------------------------------------------------------------------
    def _find(self, call: Call, caller: Caller, target: Target, *, for_write: bool = False) -> dict[str, Any]:
        """The object a keyed URL addresses, as the read replicas see it (or 404)."""
        tenant = caller.tenant
        collection = tenant.applications if target.entity_set == "applications" else tenant.service_principals
        key = target.key or ""
        if target.key_name == "id":
            key = check_guid(key)
            obj = collection.get(key)
        elif target.key_name == "appId":
            if not re.match(r"^[0-9a-fA-F-]{36}$", key):
                raise bad_request("Invalid value specified for object reference property 'appId'. Please ensure that this "
                                  "value has an appropriate syntax and length.")
            obj = next((o for o in collection.values() if o["appId"].lower() == key.lower()), None)
        else:
            obj = next((o for o in collection.values() if o.get("uniqueName") == key), None)
        now = call.emulator.store.now()
        if obj is None or (not visible(obj, now) and not (for_write and target.key_name == "uniqueName")):
            raise _not_found(key if target.key_name == "id" else f"{target.key_name}='{key}'")
        return obj

    def _selected(self, call: Call) -> tuple[str, list[str] | None]:
        """The addressed type and the structural properties `$select` names (checked against the schema)."""
        schema = self._schema(call)
        type_name = schema.resolve(call.path).type or ""
        properties = schema.properties(type_name)
        try:
            select = parse_select(call.query.get("$select"), graph_schema.qualified(type_name),
                                  set(properties) | set(schema.navigation(type_name)))
        except QueryError as exc:
            raise bad_request(exc.message, exc.code) from exc
        if select is not None and "*" not in select:
            select = [name for name in select if name in properties]
        return type_name, None if select is None or "*" in select else select

    def _list(self, call: Call, items: list[dict[str, Any]], entity_set: str, context: str) -> Answer:
        """A page of a collection with `$filter`, `$select`, `$top` and a nextLink; only the
        properties the cloud's schema has."""
        query = call.query
        name = ENTITY[entity_set][0]
        type_name, select = self._selected(call)
        schema = self._schema(call)
        try:
            if "$filter" in query:
                predicate = parse_filter(query["$filter"], name, FILTERABLE[entity_set])
                items = [item for item in items if predicate(item)]
            top = parse_top(query.get("$top"))
            offset = decode_skiptoken(query["$skiptoken"]) if "$skiptoken" in query else 0
        except QueryError as exc:
            raise bad_request(exc.message, exc.code) from exc
        page = items[offset: offset + top]
        suffix = f"({','.join(select)})" if select else ""
        body: dict[str, Any] = {"@odata.context": f"{call.base_url}/v1.0/$metadata#{context}{suffix}",
                                "value": [schema.shape(type_name, apply_select(public_view(item), select)) for item in page]}
        if offset + top < len(items):
            kept = "&".join(part for part in call.raw_query.split("&") if part and not part.startswith("%24skiptoken")
                            and not part.startswith("$skiptoken"))
            body["@odata.nextLink"] = f"{call.base_url}{call.path}?{kept + '&' if kept else ''}$skiptoken={encode_skiptoken(offset + top)}"
        return Answer(200, body)

    def _single(self, call: Call, obj: dict[str, Any], context: str, status: int = 200) -> Answer:
        """One object, `$select`ed, with only the properties the cloud's schema has."""
        type_name, select = self._selected(call)
        shaped = self._schema(call).shape(type_name, apply_select(public_view(obj), select))
        body = {"@odata.context": f"{call.base_url}/v1.0/$metadata#{context}/$entity", **shaped}
        return Answer(status, body)

    # Applications ----------------------------------------------------------------------
    def _list_applications(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/application-list"""
        self._require(caller, "application.read")
        now = call.emulator.store.now()
        items = [a for a in caller.tenant.applications.values() if visible(a, now)]
        return self._list(call, items, "applications", "applications")

    def _get_application(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/application-get"""
        self._require(caller, "application.read")
        return self._single(call, self._find(call, caller, target), "applications")

    def _create_application(self, call: Call, caller: Caller, target: Target, unique_name: str | None = None) -> Answer:
        """https://learn.microsoft.com/graph/api/application-post-applications"""
        self._require(caller, "application.create")
        body = check_body(call.json() or {}, "application")
        if unique_name is not None:
            if body.get("uniqueName", unique_name) != unique_name:
                raise bad_request("The uniqueName in the request body does not match the uniqueName in the URL.")
            body = {**body, "uniqueName": unique_name}
        if not isinstance(body.get("displayName"), str) or not body["displayName"].strip():
            raise invalid_value("displayName", "application")
        store = call.emulator.store
        tenant = caller.tenant
        now = store.now()
        self._check_unique_name(tenant, body.get("uniqueName"), None)
        passwords = body.pop("passwordCredentials", [])
        app = new_application(store, tenant, body, now)
        self._validate_application(tenant, app, None)
        if caller.is_app and "Application.ReadWrite.All" not in caller.permissions:
            app["_owners"].append(caller.object_id)
        lag = call.emulator.faults.replication_lag(tenant.id, "application")
        created_secrets = [self._new_password(store, tenant, app, spec, now, lag) for spec in passwords]
        app["_visible_at"] = now + lag
        tenant.applications[app["id"]] = app
        answer = self._single(call, app, "applications", 201)
        # The secret value appears once, in the response that created it (April 2024 change).
        answer.body["passwordCredentials"] = [{**public_view(c), "secretText": s} for c, s in created_secrets]
        answer.headers["Location"] = f"{call.base_url}/v2/{tenant.id}/directoryObjects/{app['id']}/Microsoft.DirectoryServices.Application"
        return answer

    def _update_application(self, call: Call, caller: Caller, target: Target) -> Answer:
        """PATCH: https://learn.microsoft.com/graph/api/application-update and, with
        `uniqueName` and `Prefer: create-if-missing`, https://learn.microsoft.com/graph/api/application-upsert
        """
        tenant = caller.tenant
        upsert = target.key_name == "uniqueName"
        existing = next((a for a in tenant.applications.values() if a.get("uniqueName") == target.key), None) if upsert else None
        if upsert and existing is None:
            if "create-if-missing" not in call.headers.get("prefer", "").lower():
                raise _not_found(f"uniqueName='{target.key}'")
            return self._create_application(call, caller, target, unique_name=target.key)
        app = existing or self._find(call, caller, target)
        self._require_owned(caller, "application.write", app)
        body = check_body(call.json() or {}, "application")
        if "passwordCredentials" in body:
            raise bad_request("New password credentials must be generated using service actions.")
        if "uniqueName" in body and body["uniqueName"] != app.get("uniqueName"):
            if app.get("uniqueName") is not None:
                raise bad_request("Property 'uniqueName' is read-only and cannot be set.")
            self._check_unique_name(tenant, body["uniqueName"], app["id"])
        updated = copy.deepcopy(app)
        for key, value in body.items():
            if key.startswith("@odata."):
                continue
            if isinstance(updated.get(key), dict) and isinstance(value, dict):
                updated[key] = {**updated[key], **copy.deepcopy(value)}
            elif key == "keyCredentials":
                updated[key], updated["_certificates"] = _key_credentials(call.emulator.store, value, app)
            else:
                updated[key] = copy.deepcopy(value)
        self._validate_application(tenant, updated, app)
        app.clear()
        app.update(updated)
        self._sync_service_principal(tenant, app)
        return Answer(204)

    def _delete_application(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/application-delete — the app's service principal in
        the home tenant goes with it (with its grants and assignments)."""
        app = self._find(call, caller, target)
        self._require_owned(caller, "application.write", app)
        tenant = caller.tenant
        del tenant.applications[app["id"]]
        sp = tenant.service_principal_by_app_id(app["appId"])
        if sp is not None:
            self._remove_service_principal(tenant, sp)
        return Answer(204)

    def _validate_application(self, tenant: Tenant, app: dict[str, Any], before: dict[str, Any] | None) -> None:
        if not isinstance(app.get("displayName"), str) or not app["displayName"].strip():
            raise invalid_value("displayName", "application")
        check_redirect_uris(app)
        check_logout_url(app)
        new_uris = [u for u in app["identifierUris"] if before is None or u not in before["identifierUris"]]
        domains = [d["name"].lower() for d in tenant.organization["verifiedDomains"]]
        check_identifier_uris(new_uris, app["appId"], tenant.id, domains)
        for other in tenant.applications.values():
            if other["id"] != app["id"] and set(other["identifierUris"]) & set(new_uris):
                raise bad_request("Another object with the same value for property identifierUris already exists.")
        if app["signInAudience"] in ("AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount") \
                and app["api"].get("requestedAccessTokenVersion") != 2:
            raise bad_request("Property api.requestedAccessTokenVersion is invalid.")

    @staticmethod
    def _check_unique_name(tenant: Tenant, unique_name: str | None, own_id: str | None) -> None:
        if unique_name is None:
            return
        if not isinstance(unique_name, str) or not unique_name:
            raise invalid_value("uniqueName", "application")
        if any(a.get("uniqueName") == unique_name and a["id"] != own_id for a in tenant.applications.values()):
            raise bad_request("Another object with the same value for property uniqueName already exists.")

    @staticmethod
    def _sync_service_principal(tenant: Tenant, app: dict[str, Any]) -> None:
        """Properties the home-tenant service principal mirrors from its application."""
        sp = tenant.service_principal_by_app_id(app["appId"])
        if sp is None:
            return
        sp["appDisplayName"] = app["displayName"]
        sp["servicePrincipalNames"] = [app["appId"], *app["identifierUris"]]
        sp["appRoles"] = copy.deepcopy(app["appRoles"])
        sp["oauth2PermissionScopes"] = copy.deepcopy(app["api"]["oauth2PermissionScopes"])
        sp["signInAudience"] = app["signInAudience"]

    # Passwords -------------------------------------------------------------------------
    def _add_password(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/application-addpassword"""
        app = self._find(call, caller, target)
        self._require(caller, "application.password")
        if not ({"Application.ReadWrite.All", "Directory.ReadWrite.All"} & caller.permissions) \
                and caller.object_id not in app["_owners"]:
            raise _denied()
        body = check_body(call.json() or {}, "addPassword")
        spec = body.get("passwordCredential") or {}
        store = call.emulator.store
        now = store.now()
        lag = call.emulator.faults.replication_lag(caller.tenant.id, "passwordCredential")
        credential, secret = self._new_password(store, caller.tenant, app, spec, now, lag)
        body_out = {"@odata.context": f"{call.base_url}/v1.0/$metadata#microsoft.graph.passwordCredential",
                    **self._schema(call).shape("passwordCredential", {**public_view(credential), "secretText": secret})}
        return Answer(200, body_out)

    def _new_password(self, store: Store, tenant: Tenant, app: dict[str, Any], spec: dict[str, Any],
                      now: float, lag: float) -> tuple[dict[str, Any], str]:
        """Add a password credential under the tenant's app management policy; returns it and its value."""
        for key in ("keyId", "secretText", "hint", "customKeyIdentifier"):
            if spec.get(key) is not None:
                raise bad_request(f"Property '{key}' is read-only and cannot be set.")
        start = parse_iso(spec["startDateTime"]) if spec.get("startDateTime") else now
        # endDateTime defaults to startDateTime + 2 years.
        end = parse_iso(spec["endDateTime"]) if spec.get("endDateTime") else start + 2 * 365.25 * 86400
        if end <= start:
            raise invalid_value("endDateTime", "passwordCredential")
        self._enforce_policy(tenant, app, start, end)
        key_id = store.new_id()
        secret = _secret_text(store)
        credential = password_credential(key_id, spec.get("displayName"), secret, start, end)
        app["passwordCredentials"].append(credential)
        app["_secret_sha256"][key_id] = secret_digest(secret)
        # Sign-in with the new secret works once the credential has replicated.
        app["_secret_visible_at"][key_id] = now + lag
        return credential, secret

    @staticmethod
    def _enforce_policy(tenant: Tenant, app: dict[str, Any], start: float, end: float) -> None:
        """Tenant default app management policy: block or cap password credentials.

        https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy; error codes
        CredentialTypeNotAllowedAsPerAppPolicy / CredentialInvalidLifetimeAsPerAppPolicy.
        """
        policy = tenant.policy
        if not policy.get("isEnabled"):
            return
        created = parse_iso(app["createdDateTime"])
        for restriction in policy["applicationRestrictions"].get("passwordCredentials", []):
            if restriction.get("state") == "disabled":
                continue
            since = restriction.get("restrictForAppsCreatedAfterDateTime")
            if since and created < parse_iso(since):
                continue
            kind = restriction["restrictionType"]
            if kind == "passwordAddition":
                raise bad_request("Credential type not allowed as per assigned policy", "CredentialTypeNotAllowedAsPerAppPolicy")
            if kind == "passwordLifetime" and restriction.get("maxLifetime") and \
                    end - start > _duration_seconds(restriction["maxLifetime"]):
                raise bad_request(f"Credential lifetime exceeds the max value allowed as per assigned policy {policy['id']}",
                                  "CredentialInvalidLifetimeAsPerAppPolicy")

    def _remove_password(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/application-removepassword"""
        app = self._find(call, caller, target)
        self._require_owned(caller, "application.password", app)
        body = check_body(call.json() or {}, "removePassword")
        if "keyId" not in body:
            raise invalid_value("keyId", "application")
        key_id = body["keyId"].lower()
        if not any(c["keyId"] == key_id for c in app["passwordCredentials"]):
            # Emulator wording (the real message is not documented).
            raise bad_request(f"No password credential with keyId '{key_id}' exists on the application.")
        app["passwordCredentials"] = [c for c in app["passwordCredentials"] if c["keyId"] != key_id]
        app["_secret_sha256"].pop(key_id, None)
        return Answer(204)

    # Service principals ----------------------------------------------------------------
    def _list_service_principals(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/serviceprincipal-list"""
        self._require(caller, "servicePrincipal.read")
        now = call.emulator.store.now()
        items = [s for s in caller.tenant.service_principals.values() if visible(s, now)]
        return self._list(call, items, "servicePrincipals", "servicePrincipals")

    def _get_service_principal(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/serviceprincipal-get"""
        self._require(caller, "servicePrincipal.read")
        return self._single(call, self._find(call, caller, target), "servicePrincipals")

    def _create_service_principal(self, call: Call, caller: Caller, target: Target, app_id: str | None = None) -> Answer:
        """https://learn.microsoft.com/graph/api/serviceprincipal-post-serviceprincipals"""
        self._require(caller, "servicePrincipal.write")
        body = check_body(call.json() or {}, "servicePrincipal")
        app_id = (app_id or body.get("appId") or "").lower()
        if not app_id:
            raise invalid_value("appId", "servicePrincipal")
        tenant = caller.tenant
        store = call.emulator.store
        now = store.now()
        if tenant.service_principal_by_app_id(app_id) is not None:
            message = (f"The service principal cannot be created, updated, or restored because the service principal name "
                       f"{app_id} is already in use.")
            raise EmulatedError(409, "Request_MultipleObjectsWithSameKeyValue", message,
                                details=[{"code": "ObjectConflict", "message": message, "target": "servicePrincipalNames"}])
        app = tenant.application_by_app_id(app_id)
        # With only Application.ReadWrite.OwnedBy, a caller creates service principals of the
        # applications it owns, not of other or first-party applications.
        if not ({"Application.ReadWrite.All", "Directory.ReadWrite.All"} & caller.permissions) \
                and (app is None or caller.object_id not in app.get("_owners", [])):
            raise _denied()
        if app is not None and visible(app, now):
            sp = new_service_principal(store, tenant, app, now)
        elif app is None and app_id in firstparty.FIRST_PARTY_APPS:
            sp = firstparty.FIRST_PARTY_APPS[app_id].service_principal(tenant.cloud, tenant.id, store.new_id())
        else:
            # Missing, or not yet replicated: https://learn.microsoft.com/answers/questions/5883620
            message = f"The appId '{app_id}' of the service principal does not reference a valid application object."
            raise EmulatedError(400, "Request_BadRequest", message, details=[
                {"code": "NoBackingApplicationObject", "message": message, "target": "appId"}])
        for key, value in body.items():
            if key not in ("appId",) and not key.startswith("@odata."):
                sp[key] = copy.deepcopy(value)
        sp["_visible_at"] = now + call.emulator.faults.replication_lag(tenant.id, "servicePrincipal")
        tenant.service_principals[sp["id"]] = sp
        return self._single(call, sp, "servicePrincipals", 201)

    def _update_service_principal(self, call: Call, caller: Caller, target: Target) -> Answer:
        """PATCH, and upsert by appId: https://learn.microsoft.com/graph/api/serviceprincipal-upsert"""
        tenant = caller.tenant
        if target.key_name == "appId" and tenant.service_principal_by_app_id((target.key or "").lower()) is None:
            if "create-if-missing" not in call.headers.get("prefer", "").lower():
                raise _not_found(f"appId='{target.key}'")
            return self._create_service_principal(call, caller, target, app_id=target.key)
        sp = self._find(call, caller, target)
        self._require(caller, "servicePrincipal.write")
        body = check_body(call.json() or {}, "servicePrincipal")
        if "appId" in body and body["appId"].lower() != sp["appId"]:
            raise bad_request("Property 'appId' is read-only and cannot be set.")
        for key, value in body.items():
            if not key.startswith("@odata.") and key != "appId":
                sp[key] = copy.deepcopy(value)
        return Answer(204)

    def _delete_service_principal(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/serviceprincipal-delete"""
        sp = self._find(call, caller, target)
        self._require(caller, "servicePrincipal.write")
        self._remove_service_principal(caller.tenant, sp)
        return Answer(204)

    @staticmethod
    def _remove_service_principal(tenant: Tenant, sp: dict[str, Any]) -> None:
        del tenant.service_principals[sp["id"]]
        for collection, keys in ((tenant.app_role_assignments, ("principalId", "resourceId")),
                                 (tenant.grants, ("clientId", "resourceId"))):
            for object_id in [k for k, v in collection.items() if any(v.get(key) == sp["id"] for key in keys)]:
                del collection[object_id]

    # App role assignments (application permissions consented) ------------------------
    def _list_assignments(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto and -list-approleassignments"""
        self._require(caller, "appRoleAssignment.read")
        sp = self._find(call, caller, target)
        side = "resourceId" if target.nav == "appRoleAssignedTo" else "principalId"
        now = call.emulator.store.now()
        items = [a for a in caller.tenant.app_role_assignments.values() if a[side] == sp["id"] and visible(a, now)]
        return self._list(call, items, "appRoleAssignments", f"servicePrincipals('{sp['id']}')/{target.nav}")

    def _create_assignment(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto"""
        self._require(caller, "appRoleAssignment.create")
        sp = self._find(call, caller, target)
        body = check_body(call.json() or {}, "appRoleAssignment")
        for required in ("principalId", "resourceId", "appRoleId"):
            if required not in body:
                raise invalid_value(required, "appRoleAssignment")
        side = "resourceId" if target.nav == "appRoleAssignedTo" else "principalId"
        if body[side].lower() != sp["id"]:
            raise bad_request(f"The {side} in the request body must be the service principal in the URL.")
        tenant = caller.tenant
        now = call.emulator.store.now()
        principal = self._referenced(tenant, body["principalId"].lower(), now)
        resource = tenant.service_principals.get(body["resourceId"].lower())
        if resource is None or not visible(resource, now):
            raise _not_found(body["resourceId"])
        role_id = body["appRoleId"].lower()
        if role_id != "00000000-0000-0000-0000-000000000000" and role_id not in {r["id"] for r in resource["appRoles"]}:
            raise bad_request("Permission being assigned was not found on application")
        if any(a["principalId"] == principal["id"] and a["resourceId"] == resource["id"] and a["appRoleId"] == role_id
               for a in tenant.app_role_assignments.values()):
            raise bad_request("Permission being assigned already exists on the object")
        assignment = new_app_role_assignment(call.emulator.store, principal, resource, role_id, now)
        if "userPrincipalName" in principal:
            assignment["principalType"] = "User"
        assignment["_visible_at"] = now + call.emulator.faults.replication_lag(tenant.id, "appRoleAssignment")
        tenant.app_role_assignments[assignment["id"]] = assignment
        return self._single(call, assignment, f"servicePrincipals('{sp['id']}')/{target.nav}", 201)

    def _delete_assignment(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignedto"""
        self._require(caller, "appRoleAssignment.delete")
        sp = self._find(call, caller, target)
        side = "resourceId" if target.nav == "appRoleAssignedTo" else "principalId"
        assignment = caller.tenant.app_role_assignments.get(target.nav_id or "")
        if assignment is None or assignment[side] != sp["id"]:
            raise _not_found(target.nav_id or "")
        del caller.tenant.app_role_assignments[assignment["id"]]
        return Answer(204)

    @staticmethod
    def _referenced(tenant: Tenant, object_id: str, now: float) -> dict[str, Any]:
        """A principal referenced by a write: a just-created one may not have replicated yet."""
        obj = tenant.service_principals.get(object_id) or tenant.users.get(object_id)
        if obj is None or not visible(obj, now):
            raise _not_found(object_id)
        return obj

    # Delegated permission grants ------------------------------------------------------------
    def _list_grants(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/oauth2permissiongrant-list"""
        self._require(caller, "oauth2PermissionGrant.read")
        now = call.emulator.store.now()
        items = [g for g in caller.tenant.grants.values() if visible(g, now)]
        context = "oauth2PermissionGrants"
        if target.entity_set == "servicePrincipals":
            sp = self._find(call, caller, target)
            items = [g for g in items if g["clientId"] == sp["id"]]
            context = f"servicePrincipals('{sp['id']}')/oauth2PermissionGrants"
        return self._list(call, items, "oauth2PermissionGrants", context)

    def _get_grant(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/oauth2permissiongrant-get"""
        self._require(caller, "oauth2PermissionGrant.read")
        return self._single(call, self._grant(call, caller, target), "oauth2PermissionGrants")

    def _grant(self, call: Call, caller: Caller, target: Target) -> dict[str, Any]:
        grant = caller.tenant.grants.get(target.key or "")
        if grant is None or not visible(grant, call.emulator.store.now()):
            raise _not_found(target.key or "")
        return grant

    def _create_grant(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/oauth2permissiongrant-post — one grant per
        (client, resource, consent type, principal)."""
        self._require(caller, "oauth2PermissionGrant.write")
        body = check_body(call.json() or {}, "oauth2PermissionGrant")
        for required in ("clientId", "consentType", "resourceId"):
            if required not in body:
                raise invalid_value(required, "oauth2PermissionGrant")
        principal_id = (body.get("principalId") or "").lower() or None
        if (body["consentType"] == "Principal") != (principal_id is not None):
            raise invalid_value("principalId", "oauth2PermissionGrant")
        tenant = caller.tenant
        store = call.emulator.store
        now = store.now()
        client = self._referenced(tenant, body["clientId"].lower(), now)
        resource = self._referenced(tenant, body["resourceId"].lower(), now)
        if principal_id is not None:
            self._referenced(tenant, principal_id, now)
        if any(g["clientId"] == client["id"] and g["resourceId"] == resource["id"] and g["consentType"] == body["consentType"]
               and g.get("principalId") == principal_id for g in tenant.grants.values()):
            raise bad_request("Permission entry already exists.")
        keys = [client["id"], resource["id"]] + ([principal_id] if principal_id else [])
        grant = {"id": object_key(*keys), "clientId": client["id"], "consentType": body["consentType"],
                 "principalId": principal_id, "resourceId": resource["id"], "scope": body.get("scope") or "",
                 "_visible_at": now + call.emulator.faults.replication_lag(tenant.id, "oauth2PermissionGrant")}
        tenant.grants[grant["id"]] = grant
        return self._single(call, grant, "oauth2PermissionGrants", 201)

    def _update_grant(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/oauth2permissiongrant-update (only `scope` changes)"""
        self._require(caller, "oauth2PermissionGrant.write")
        grant = self._grant(call, caller, target)
        body = check_body(call.json() or {}, "oauth2PermissionGrant")
        for key, value in body.items():
            if key.startswith("@odata."):
                continue
            if key != "scope" and value != grant.get(key):
                raise bad_request(f"Property '{key}' is read-only and cannot be set.")
        grant["scope"] = body.get("scope", grant["scope"]) or ""
        return Answer(204)

    def _delete_grant(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/oauth2permissiongrant-delete"""
        self._require(caller, "oauth2PermissionGrant.write")
        grant = self._grant(call, caller, target)
        del caller.tenant.grants[grant["id"]]
        return Answer(204)

    # Organization and policy -------------------------------------------------------------
    def _organization(self, call: Call, caller: Caller, target: Target) -> Answer:
        """https://learn.microsoft.com/graph/api/organization-get"""
        self._require(caller, "organization.read")
        type_name, select = self._selected(call)
        org = self._schema(call).shape(type_name, apply_select(copy.deepcopy(caller.tenant.organization), select))
        if target.key is not None:
            if check_guid(target.key) != caller.tenant.organization["id"]:
                raise _not_found(target.key)
            return Answer(200, {"@odata.context": f"{call.base_url}/v1.0/$metadata#organization/$entity", **org})
        return Answer(200, {"@odata.context": f"{call.base_url}/v1.0/$metadata#organization", "value": [org]})

    def _policy(self, call: Call, caller: Caller) -> Answer:
        """https://learn.microsoft.com/graph/api/tenantappmanagementpolicy-get and -update"""
        tenant = caller.tenant
        if call.method == "GET":
            self._require(caller, "policy.read")
            type_name, select = self._selected(call)
            body = {"@odata.context": f"{call.base_url}/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity",
                    **self._schema(call).shape(type_name, apply_select(copy.deepcopy(tenant.policy), select))}
            return Answer(200, body, self._headers(call))
        if call.method == "PATCH":
            self._require(caller, "policy.write")
            apply_policy(tenant, call.json() or {})
            call.emulator.store.dirty = True
            return Answer(204, None, self._headers(call))
        raise EmulatedError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")


def apply_policy(tenant: Tenant, body: Any) -> None:
    """Validate and merge a tenantAppManagementPolicy update (also used by the control API)."""
    body = check_body(body, "tenantAppManagementPolicy")
    for key, value in body.items():
        if not key.startswith("@odata."):
            tenant.policy[key] = copy.deepcopy(value)


def _secret_text(store: Store) -> str:
    """A new secret value in Entra ID's current format: 3 characters, "8Q~", 34 more (40 in all)."""
    return store.new_secret(3) + "8Q~" + store.new_secret(34)


def _duration_seconds(value: str) -> float:
    """Seconds of an ISO 8601 duration such as P90D or P1Y (years as 365 days, months as 30)."""
    match = re.match(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", value)
    if not match:
        raise ValueError(value)
    years, months, weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return ((years * 365 + months * 30 + weeks * 7 + days) * 24 + hours) * 3600 + minutes * 60 + seconds


def _key_credentials(store: Store, value: list[dict[str, Any]], app: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """keyCredentials set through PATCH: the whole collection is replaced; certificates kept privately.

    https://learn.microsoft.com/graph/api/resources/keycredential (`key` is returned as null)
    """
    import base64
    import hashlib

    from cryptography import x509

    credentials: list[dict[str, Any]] = []
    certificates: dict[str, str] = {}
    existing = {c["keyId"]: c for c in app["keyCredentials"]}
    for item in value:
        key_id = (item.get("keyId") or "").lower()
        if not item.get("key") and key_id in existing:
            credentials.append(copy.deepcopy(existing[key_id]))
            certificates[key_id] = app["_certificates"][key_id]
            continue
        try:
            der = base64.b64decode(item.get("key") or "", validate=True)
            certificate = x509.load_der_x509_certificate(der)
        except ValueError as exc:
            raise invalid_value("keyCredentials", "application") from exc
        key_id = key_id or store.new_id()
        start = item.get("startDateTime") or iso(certificate.not_valid_before_utc.timestamp())
        end = item.get("endDateTime") or iso(certificate.not_valid_after_utc.timestamp())
        credentials.append({
            "customKeyIdentifier": base64.b64encode(hashlib.sha1(der).digest()).decode(),  # nosec - thumbprint
            "displayName": item.get("displayName") or certificate.subject.rfc4514_string(),
            "endDateTime": end, "key": None, "keyId": key_id, "startDateTime": start,
            "type": item.get("type", "AsymmetricX509Cert"), "usage": item.get("usage", "Verify")})
        certificates[key_id] = base64.b64encode(der).decode()
    return credentials, certificates
