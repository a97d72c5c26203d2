"""The Microsoft identity platform: per-tenant OIDC discovery, signing keys and the token
endpoints (v2.0 `scope=` and v1 `resource=`).

Grants: client credentials (client secret or certificate assertion), resource owner
password (for the seeded user of each tenant) and refresh token (app + user).
Error bodies and AADSTS codes as documented in
https://learn.microsoft.com/entra/identity-platform/reference-error-codes and
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
"""
from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime, timezone
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from . import tokens
from .app import Answer, Call, EmulatedError, Service
from .clouds import CLOUDS, EmulatedCloud
from .faults import Fault
from .store import Store, Tenant, parse_iso, secret_digest, visible

OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


def _error(aadsts: int, error: str, message: str, status: int = 400) -> EmulatedError:
    return EmulatedError(status, error, message, aadsts=aadsts)


class IdentityService(Service):
    """Routes of `https://login.microsoftonline.com` and its national-cloud twins."""

    name = "identity"

    def handle(self, call: Call) -> Answer:
        parts = call.path.strip("/").split("/")
        tenant_ref = parts[0] if parts else ""
        rest = "/".join(parts[1:])
        if call.method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            return self._discovery(call, tenant_ref)
        if call.method == "GET" and rest == "discovery/v2.0/keys":
            return Answer(200, call.emulator.store.signing_key.jwks())
        if call.method == "POST" and rest in ("oauth2/v2.0/token", "oauth2/token"):
            form = call.form()
            call.identify(None, form.get("client_id"))
            tenant = call.emulator.store.tenant(tenant_ref)
            return self.guarded(call, tenant.id if tenant else tenant_ref, form.get("client_id", ""),
                                lambda: self._token(call, tenant_ref, form, v1=rest == "oauth2/token"))
        if call.method == "GET" and call.path == "/common/discovery/instance":
            # Instance discovery: clients of catalogued hosts never need it (msal's
            # instance_discovery=False); answered so that a stray call shows in the log.
            authority = f"{call.base_url}/common"
            return Answer(200, {"tenant_discovery_endpoint": f"{authority}/v2.0/.well-known/openid-configuration",
                                "api-version": "1.1", "metadata": []})
        if rest.startswith("oauth2/"):
            raise _error(900561, "invalid_request", "The endpoint only accepts POST, OPTIONS requests. Received a "
                         f"{call.method} request.")
        raise EmulatedError(404, "not_found", f"The identity platform has no endpoint {call.path}.", aadsts=90002)

    # Errors -------------------------------------------------------------------------
    def render_error(self, call: Call, error: EmulatedError) -> Answer:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        trace_id = str(uuid.uuid4())
        correlation_id = call.headers.get("client-request-id") or str(uuid.uuid4())
        code = error.aadsts or 90033
        body = {
            "error": error.code,
            "error_description": f"AADSTS{code}: {error.message}\r\nTrace ID: {trace_id}\r\n"
                                 f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}",
            "error_codes": [code], "timestamp": stamp, "trace_id": trace_id, "correlation_id": correlation_id,
            "error_uri": f"https://{call.cloud.login_host}/error?code={code}",
        }
        return Answer(error.status, body, {"Cache-Control": "no-store, no-cache", **error.headers})

    def fault_answer(self, call: Call, fault: Fault) -> Answer:
        if fault.kind in ("throttle", "rate_limit"):
            error = _error(90055, "temporarily_unavailable", "TenantThrottlingError - There are too many incoming requests. "
                           "This request was throttled. Please try again later.", 429)
            error.headers = {"Retry-After": str(fault.retry_after)}
        else:
            error = _error(90033, "server_error", "A transient error has occurred. Please try again.", fault.status)
        return self.render_error(call, error)

    # Discovery ----------------------------------------------------------------------
    def _discovery(self, call: Call, tenant_ref: str) -> Answer:
        tenant, home = self._tenant(call, tenant_ref)
        call.identify(tenant.id, None)
        base = f"{call.base_url}/{tenant.id}"
        document = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": home.v2_issuer(tenant.id),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"https://{home.graph_host}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                                 "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                                 "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": home.tenant_region_scope,
            "cloud_instance_name": home.cloud_instance_name,
            "cloud_graph_host_name": home.aad_graph_resource.removeprefix("https://"),
            "msgraph_host": home.graph_host,
            "rbac_url": "https://pas.windows.net",
        }
        if home.tenant_region_sub_scope:
            document["tenant_region_sub_scope"] = home.tenant_region_sub_scope
        return Answer(200, document, {"Cache-Control": "max-age=86400, private"})

    def _tenant(self, call: Call, tenant_ref: str) -> tuple[Tenant, EmulatedCloud]:
        """The tenant addressed at this authority, and its home cloud.

        US Government tenants (L4 and L5) share one authority host; a US Government tenant is
        known to the global authority but cannot get app tokens there (AADSTS900382, checked
        by the token endpoint); other clouds do not federate (AADSTS90038).
        https://learn.microsoft.com/entra/identity-platform/reference-error-codes
        """
        if not GUID.match(tenant_ref) and not DNS_NAME.match(tenant_ref):
            raise _error(900023, "invalid_request",
                         f"Specified tenant identifier '{tenant_ref}' is neither a valid DNS name, nor a valid external domain.")
        tenant = call.emulator.store.tenant(tenant_ref)
        if tenant is None:
            raise _error(90002, "invalid_request", f"Tenant '{tenant_ref}' not found. Check to make sure you have the "
                         "correct tenant ID and are signing into the correct cloud.")
        home = CLOUDS[tenant.cloud]
        here = call.cloud
        if home.login_host != here.login_host and not (here.name == "public" and home.tenant_region_scope == "USGov"):
            raise _error(90038, "invalid_request", f"The specified tenant '{tenant_ref}' belongs to the National Cloud "
                         f"'{home.cloud_instance_name}'. Current cloud instance '{here.cloud_instance_name}' does not "
                         f"federate with '{home.cloud_instance_name}'. A cloud redirect error is returned.")
        return tenant, home

    # Tokens -------------------------------------------------------------------------
    def _token(self, call: Call, tenant_ref: str, form: dict[str, str], v1: bool) -> Answer:
        store = call.emulator.store
        with store.lock:
            tenant, home = self._tenant(call, tenant_ref)
            call.identify(tenant.id, None)
            grant_type = form.get("grant_type", "")
            if grant_type not in ("client_credentials", "password", "refresh_token"):
                if not grant_type:
                    raise _error(900144, "invalid_request", "The request body must contain the following parameter: 'grant_type'.")
                raise _error(70003, "unsupported_grant_type", f"The app requested an unsupported grant type '{grant_type}'.")
            client_id = form.get("client_id", "")
            if not client_id:
                raise _error(900144, "invalid_request", "The request body must contain the following parameter: 'client_id'.")
            now = store.now()
            app = tenant.application_by_app_id(client_id)
            if app is None or not visible(app, now):
                raise _error(700016, "unauthorized_client", f"Application with identifier '{client_id}' was not found in the "
                             f"directory '{tenant.display_name}'. This can happen if the application has not been installed "
                             "by the administrator of the tenant or consented to by any user in the tenant. You may have "
                             "sent your authentication request to the wrong tenant.")
            confidential = "client_secret" in form or "client_assertion" in form
            if home.name != call.cloud.name and home.login_host != call.cloud.login_host and confidential:
                raise _error(900382, "invalid_request", "Confidential Client is not supported in Cross Cloud request.")
            appidacr = self._authenticate_client(call, tenant, app, form, grant_type, now)
            client_sp = tenant.service_principal_by_app_id(client_id)
            if client_sp is None or not visible(client_sp, now):
                raise _error(7000229, "invalid_client", f"The client application {client_id} is missing service principal "
                             f"in the tenant {tenant.id}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
                             401)
            if grant_type == "client_credentials":
                resource_name, resource_sp = self._app_resource(tenant, form, v1, now)
                claims = self._app_claims(tenant, home, app, client_sp, resource_name, resource_sp, appidacr, now)
                claims["exp"] = claims["iat"] + call.emulator.access_token_lifetime
                return self._token_answer(store, claims, v1, resource_name, None)
            user = self._user(store, tenant, app, form, grant_type, now)
            resource_name, resource_sp, requested = self._user_resource(tenant, form, v1, now)
            scopes = self._consented_scopes(tenant, app, client_sp, resource_sp, user, requested, now)
            claims = self._app_claims(tenant, home, app, client_sp, resource_name, resource_sp, appidacr, now)
            claims["exp"] = claims["iat"] + call.emulator.access_token_lifetime
            claims.pop("roles", None)
            claims.update({"idtyp": "user", "oid": user["id"], "sub": user["id"], "scp": " ".join(sorted(scopes)),
                           "upn": user["userPrincipalName"], "unique_name": user["userPrincipalName"],
                           "name": user["displayName"], "amr": ["pwd"]})
            refresh = store.signing_key.sign({"typ": "refresh", "tid": tenant.id, "appid": app["appId"], "oid": user["id"],
                                              "iat": int(now), "exp": int(now) + tokens.REFRESH_TOKEN_LIFETIME,
                                              "jti": tokens.new_uti()})
            id_token = store.signing_key.sign({"aud": app["appId"], "iss": home.v2_issuer(tenant.id), "iat": int(now),
                                               "nbf": int(now), "exp": int(now) + tokens.ACCESS_TOKEN_LIFETIME,
                                               "name": user["displayName"], "oid": user["id"],
                                               "preferred_username": user["userPrincipalName"], "sub": user["id"],
                                               "tid": tenant.id, "ver": "2.0"})
            extra = {"refresh_token": refresh, "id_token": id_token, "scope": " ".join(sorted(scopes))}
            if form.get("client_info") == "1":
                extra["client_info"] = tokens.client_info(user["id"], tenant.id)
            return self._token_answer(store, claims, v1, resource_name, extra)

    def _authenticate_client(self, call: Call, tenant: Tenant, app: dict[str, Any], form: dict[str, str],
                             grant_type: str, now: float) -> str:
        """Check the client's credential; returns `appidacr` ("1" secret, "2" certificate, "0" public)."""
        if "client_secret" in form:
            self._check_secret(app, form["client_secret"], now)
            return "1"
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise _error(700025, "invalid_client", "Client is public so neither 'client_assertion' nor 'client_secret' "
                             "should be presented.", 401)
            self._check_assertion(call, tenant, app, form["client_assertion"], now)
            return "2"
        if grant_type != "client_credentials" and app.get("isFallbackPublicClient") is True:
            return "0"
        raise _error(7000218, "invalid_client",
                     "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", 401)

    @staticmethod
    def _check_secret(app: dict[str, Any], secret: str, now: float) -> None:
        digest = secret_digest(secret)
        for credential in app["passwordCredentials"]:
            if app["_secret_sha256"].get(credential["keyId"]) != digest:
                continue
            # A new secret replicates like any directory write: until then it is unknown.
            if app["_secret_visible_at"].get(credential["keyId"], 0.0) > now or parse_iso(credential["startDateTime"]) > now + 300:
                break
            if parse_iso(credential["endDateTime"]) <= now:
                raise _error(7000222, "invalid_client", f"The provided client secret keys for app '{app['appId']}' are "
                             "expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, "
                             "or consider using certificate credentials for added security: https://aka.ms/certCreds.", 401)
            return
        raise _error(7000215, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request "
                     f"is the client secret value, not the client secret ID, for a secret added to app '{app['appId']}'.", 401)

    def _check_assertion(self, call: Call, tenant: Tenant, app: dict[str, Any], assertion: str, now: float) -> None:
        """Validate a certificate-signed client assertion against the app's keyCredentials.

        https://learn.microsoft.com/entra/identity-platform/certificate-credentials
        """
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError as exc:
            raise _error(50027, "invalid_request", f"JWT token is invalid or malformed. [{exc}]") from exc
        sent_x5c = header.get("x5c") or []
        for credential in app["keyCredentials"]:
            der = base64.b64decode(app["_certificates"].get(credential["keyId"], ""))
            if not der:
                continue
            certificate = x509.load_der_x509_certificate(der)
            sha1 = _b64url(certificate.fingerprint(hashes.SHA1()))  # nosec - x5t is defined as a SHA-1 thumbprint
            sha256 = _b64url(certificate.fingerprint(hashes.SHA256()))
            # Thumbprints compare without base64 padding (msal pads them; RFC 7515 does not).
            matches = str(header.get("x5t", "")).rstrip("=") == sha1 or str(header.get("x5t#S256", "")).rstrip("=") == sha256 \
                or (sent_x5c and base64.b64decode(sent_x5c[0]) == der)
            if not matches:
                continue
            if not parse_iso(credential["startDateTime"]) <= now <= parse_iso(credential["endDateTime"]):
                raise _error(700027, "invalid_client", "Client assertion contains an invalid signature. [Reason - The key "
                             "used is expired.]", 401)
            audiences = [f"{call.base_url}/{tenant.id}/oauth2/v2.0/token", f"{call.base_url}/{tenant.id}/oauth2/token",
                         f"https://{call.cloud.login_host}/{tenant.id}/oauth2/v2.0/token"]
            try:
                claims = jwt.decode(assertion, certificate.public_key(), algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                                    audience=audiences, options={"require": ["exp", "aud", "iss", "sub"]})
            except jwt.ExpiredSignatureError as exc:
                raise _error(700024, "invalid_client", "Client assertion is not within its valid time range.", 401) from exc
            except jwt.InvalidAudienceError as exc:
                raise _error(700027, "invalid_client", "Client assertion contains an invalid signature. [Reason - The "
                             "audience claim is not the token endpoint of this tenant.]", 401) from exc
            except jwt.InvalidTokenError as exc:
                raise _error(700027, "invalid_client", "Client assertion contains an invalid signature. [Reason - The "
                             "provided signature value did not match the expected signature value.]", 401) from exc
            if claims.get("iss") != app["appId"] or claims.get("sub") != app["appId"]:
                raise _error(700021, "invalid_client", "Client assertion application identifier doesn't match "
                             "'client_id' parameter.", 401)
            return
        raise _error(700027, "invalid_client", "Client assertion contains an invalid signature. [Reason - The key was not "
                     f"found., Thumbprint of key used by client: '{header.get('x5t') or header.get('x5t#S256')}']", 401)

    # Scopes and resources ------------------------------------------------------------
    def _app_resource(self, tenant: Tenant, form: dict[str, str], v1: bool, now: float) -> tuple[str, dict[str, Any]]:
        """The resource of a client-credentials request: exactly one `{resource}/.default` scope (v2)."""
        if v1:
            resource = form.get("resource", "")
            if not resource:
                raise _error(900144, "invalid_request", "The request body must contain the following parameter: 'resource'.")
            return resource, self._resource_sp(tenant, resource, now)
        scope = form.get("scope", "")
        scopes = scope.split()
        if not scopes:
            raise _error(900144, "invalid_request", "The request body must contain the following parameter: 'scope'.")
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise _error(1002012, "invalid_scope", f"The provided value for scope {scope} is not valid. Client credential "
                         "flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
        resource = scopes[0][: -len("/.default")]
        return resource, self._resource_sp(tenant, resource, now)

    def _user_resource(self, tenant: Tenant, form: dict[str, str], v1: bool,
                       now: float) -> tuple[str, dict[str, Any], set[str] | None]:
        """The resource and scopes of a user request (None = everything consented, `.default`)."""
        if v1:
            resource = form.get("resource", "")
            return resource, self._resource_sp(tenant, resource, now), None
        scopes = [s for s in form.get("scope", "").split() if s not in OIDC_SCOPES]
        by_resource: dict[str, set[str]] = {}
        for scope in scopes:
            # A short scope ("User.Read") means Microsoft Graph of the tenant's cloud.
            resource, dummy, value = scope.rpartition("/")
            by_resource.setdefault(resource or CLOUDS[tenant.cloud].graph_resource, set()).add(value)
        if len(by_resource) != 1:
            raise _error(70011, "invalid_scope", "The provided request must include a 'scope' input parameter. The provided "
                         f"value for the input parameter 'scope' is not valid. The scope {form.get('scope', '')} is not valid.")
        resource, values = next(iter(by_resource.items()))
        return resource, self._resource_sp(tenant, resource, now), None if ".default" in values else values

    @staticmethod
    def _resource_sp(tenant: Tenant, resource: str, now: float) -> dict[str, Any]:
        wanted = resource.rstrip("/").lower()
        for sp in tenant.service_principals.values():
            if visible(sp, now) and any(name.rstrip("/").lower() == wanted for name in sp["servicePrincipalNames"]):
                return sp
        raise _error(500011, "invalid_resource", f"The resource principal named {resource} was not found in the tenant named "
                     f"{tenant.display_name}. This can happen if the application has not been installed by the administrator "
                     "of the tenant or consented to by any user in the tenant. You might have sent your authentication "
                     "request to the wrong tenant.")

    @staticmethod
    def _user(store: Store, tenant: Tenant, app: dict[str, Any], form: dict[str, str], grant_type: str,
              now: float) -> dict[str, Any]:
        """The signed-in user of a password or refresh-token request."""
        if grant_type == "password":
            username = form.get("username", "").lower()
            user = next((u for u in tenant.users.values() if u["userPrincipalName"].lower() == username), None)
            if user is None:
                raise _error(50034, "invalid_grant", f"The user account {{EUII Hidden}} does not exist in the {tenant.id} "
                             "directory. To sign into this application, the account must be added to the directory.")
            if secret_digest(form.get("password", "")) != user["_password_sha256"]:
                raise _error(50126, "invalid_grant", "Error validating credentials due to invalid username or password.")
            return user
        try:
            claims = store.signing_key.verify(form.get("refresh_token", ""))
        except jwt.ExpiredSignatureError as exc:
            raise _error(700082, "invalid_grant", "The refresh token has expired due to inactivity. The token was issued "
                         "on an earlier date and was inactive for 90.00:00:00.") from exc
        except jwt.InvalidTokenError as exc:
            raise _error(9002313, "invalid_grant", "Invalid request. Request is malformed or invalid.") from exc
        if claims.get("typ") != "refresh" or claims.get("tid") != tenant.id or claims.get("appid") != app["appId"] \
                or claims.get("oid") not in tenant.users:
            raise _error(70000, "invalid_grant",
                         "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid.")
        return tenant.users[claims["oid"]]

    @staticmethod
    def _consented_scopes(tenant: Tenant, app: dict[str, Any], client_sp: dict[str, Any], resource_sp: dict[str, Any],
                          user: dict[str, Any], requested: set[str] | None, now: float) -> set[str]:
        """Delegated permissions granted to this client on this resource for this user.

        https://learn.microsoft.com/graph/api/resources/oauth2permissiongrant
        """
        granted: set[str] = set()
        for grant in tenant.grants.values():
            if grant["clientId"] == client_sp["id"] and grant["resourceId"] == resource_sp["id"] and visible(grant, now) \
                    and (grant["consentType"] == "AllPrincipals" or grant.get("principalId") == user["id"]):
                granted.update((grant.get("scope") or "").split())
        if not granted or (requested is not None and not requested <= granted):
            raise _error(65001, "invalid_grant", f"The user or administrator has not consented to use the application with "
                         f"ID '{app['appId']}' named '{app['displayName']}'. Send an interactive authorization request for "
                         "this user and resource.")
        return granted

    @staticmethod
    def _app_claims(tenant: Tenant, home: EmulatedCloud, app: dict[str, Any], client_sp: dict[str, Any], resource: str,
                    resource_sp: dict[str, Any], appidacr: str, now: float) -> dict[str, Any]:
        """v1 access-token claims of an app-only token, roles from the client's actual app role assignments."""
        role_values = {role["id"]: role["value"] for role in resource_sp.get("appRoles", [])}
        roles = sorted({role_values[a["appRoleId"]] for a in tenant.app_role_assignments.values()
                        if a["principalId"] == client_sp["id"] and a["resourceId"] == resource_sp["id"]
                        and visible(a, now) and a["appRoleId"] in role_values})
        issuer = home.access_token_issuer(tenant.id)
        claims: dict[str, Any] = {
            "aud": resource, "iss": issuer, "iat": int(now), "nbf": int(now), "exp": int(now) + tokens.ACCESS_TOKEN_LIFETIME,
            "app_displayname": app["displayName"], "appid": app["appId"], "appidacr": appidacr, "idp": issuer,
            "idtyp": "app", "oid": client_sp["id"], "sub": client_sp["id"], "tid": tenant.id,
            "tenant_region_scope": home.tenant_region_scope, "uti": tokens.new_uti(), "ver": "1.0",
        }
        if roles:
            claims["roles"] = roles
        return claims

    @staticmethod
    def _token_answer(store: Store, claims: dict[str, Any], v1: bool, resource: str,
                      extra: dict[str, Any] | None) -> Answer:
        access_token = store.signing_key.sign(claims)
        lifetime = claims["exp"] - claims["iat"]
        if v1:
            # v1 answers carry numbers as strings (reference §3.8).
            body: dict[str, Any] = {"token_type": "Bearer", "expires_in": str(lifetime), "ext_expires_in": str(lifetime),
                                    "expires_on": str(claims["exp"]), "not_before": str(claims["nbf"]),
                                    "resource": resource, "access_token": access_token}
        else:
            body = {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access_token}
        body.update(extra or {})
        return Answer(200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
