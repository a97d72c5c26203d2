"""Azure Key Vault, secrets only: one vault per seeded tenant, in every emulated cloud.

Each cloud's Key Vault has one port; a vault is the first path segment, so a vault's base URL is
`https://127.0.0.1:{port}/{vault name}` (clients treat it as the opaque `vaultBaseUrl`). Behaviour
follows Microsoft's documents, cited next to each rule:
- data-plane contract (routes, bodies, maxresults <= 25): Azure/azure-rest-api-specs
  specification/keyvault/data-plane/Security.KeyVault.Secrets (routes.tsp, models.tsp), and
  https://learn.microsoft.com/rest/api/keyvault/secrets
- secrets, their attributes and permissions: https://learn.microsoft.com/azure/key-vault/secrets/about-secrets
- 401/403/429: https://learn.microsoft.com/azure/key-vault/general/rest-error-codes ; the challenge and
  the AKV1xxxx messages as real vaults answer them (microsoft-clouds.md "Additions", issues cited below)
- soft delete: https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview
Rules marked UNCONFIRMED have no Microsoft source for their exact wording.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Any

import jwt

from .app import Answer, Call, EmulatedError, Service
from .clouds import EmulatedCloud
from .faults import Fault
from .store import KEY_VAULT_APP_ID, Store, Tenant

# The api-version the collection sends (current stable) and the earlier stable ones still served.
API_VERSIONS = ("7.4", "7.5", "7.6", "2025-07-01")
LATEST_API_VERSION = "2025-07-01"
# Object names: 1-127 characters, 0-9 a-z A-Z and "-" (routes.tsp @pattern("^[0-9a-zA-Z-]+$");
# https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#object-identifiers).
NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_RESULTS = 25  # routes.tsp: maxresults 1..25, 25 when not given
MAX_TAGS, MAX_TAG_LENGTH, MAX_CONTENT_TYPE, MAX_VALUE_BYTES = 15, 512, 255, 25 * 1024  # about-secrets
# Soft delete is on for every vault, purge protection off: deleted secrets are kept 90 days and may be
# purged (DeletionRecoveryLevel "Recoverable+Purgeable", models.tsp; soft-delete-overview).
RECOVERY_LEVEL, RECOVERABLE_DAYS = "Recoverable+Purgeable", 90
# Where the emulated vaults "live" (the location in 403 messages and x-ms-keyvault-region).
REGIONS = {"public": "eastus", "usgov": "usgovvirginia", "usgov_dod": "usdodeast", "china": "chinanorth3"}
SERVICE_VERSION = "1.9.2600.1"


def _error(status: int, code: str, message: str, inner: str | None = None,
           headers: dict[str, str] | None = None) -> EmulatedError:
    """A Key Vault error; `inner` becomes `innererror.code` (models.tsp KeyVaultError)."""
    error = EmulatedError(status, code, message, headers=headers)
    if inner:
        error.details = [{"code": inner}]
    return error


def _not_found(name: str) -> EmulatedError:
    # Wording as real vaults answer (Azure/azure-sdk-for-js#25489, ForgeRock/secret-agent#263).
    return _error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault. If you recently "
                  "deleted this secret you may be able to recover it using the correct recovery command. For help "
                  "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")


def _bad(message: str) -> EmulatedError:
    return _error(400, "BadParameter", message)


class KeyVaultService(Service):
    """`https://{vault}.vault.azure.net` and its national-cloud twins (secrets API)."""

    name = "key_vault"

    # Plumbing -----------------------------------------------------------------------
    def handle(self, call: Call) -> Answer:
        vault_name, dummy, rest = call.path.lstrip("/").partition("/")
        tenant = self._vault(call, vault_name)
        call.identify(tenant.id, None)
        caller = self._authenticate(call, tenant)
        call.identify(tenant.id, caller["appid"])
        return self.guarded(call, tenant.id, caller["appid"], lambda: self._dispatch(call, tenant, caller, "/" + rest))

    def render_error(self, call: Call, error: EmulatedError) -> Answer:
        body: dict[str, Any] = {"error": {"code": error.code, "message": error.message}}
        if error.details:
            body["error"]["innererror"] = error.details[0]
        return Answer(error.status, body, {**self._headers(call), **error.headers})

    def fault_answer(self, call: Call, fault: Fault) -> Answer:
        if fault.kind in ("throttle", "rate_limit"):
            # 429 + Retry-After: https://learn.microsoft.com/azure/key-vault/general/overview-throttling
            # (body wording UNCONFIRMED).
            return self.render_error(call, _error(429, "Throttled", "Request was not processed because too many requests "
                                                  "were received. Reason: VaultRequestTypeLimitReached",
                                                  headers={"Retry-After": str(fault.retry_after)}))
        return super().fault_answer(call, fault)

    @staticmethod
    def _headers(call: Call) -> dict[str, str]:
        headers = {"x-ms-request-id": call.request_id, "x-ms-keyvault-region": REGIONS.get(call.cloud.name, "eastus"),
                   "x-ms-keyvault-service-version": SERVICE_VERSION, "Cache-Control": "no-cache", "Pragma": "no-cache",
                   "Expires": "-1", "X-Content-Type-Options": "nosniff",
                   "Strict-Transport-Security": "max-age=31536000;includeSubDomains"}
        if call.headers.get("x-ms-client-request-id"):
            headers["x-ms-client-request-id"] = call.headers["x-ms-client-request-id"]
        return headers

    def _ok(self, call: Call, status: int, body: Any = None) -> Answer:
        headers = self._headers(call)
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return Answer(status, body, headers)

    @staticmethod
    def _vault(call: Call, vault_name: str) -> Tenant:
        """The tenant whose vault this is, among the tenants of the port's cloud."""
        store = call.emulator.store
        with store.lock:
            for tenant in store.tenants.values():
                if tenant.cloud == call.cloud.name and tenant.key_vault.get("name", "").lower() == vault_name.lower():
                    return tenant
        # A real client would fail to resolve https://{name}.{suffix}; here an explicit 404 (UNCONFIRMED shape).
        raise _error(404, "VaultNotFound", f"No vault named '{vault_name}' in the emulated {call.cloud.name} cloud "
                     f"(a real client would fail to resolve {vault_name}.{call.cloud.key_vault_dns_suffix}).")

    # Authentication -----------------------------------------------------------------
    @staticmethod
    def _unauthorized(cloud: EmulatedCloud, tenant: Tenant, message: str) -> EmulatedError:
        """401 with the challenge every Key Vault 401 carries: the vault's tenant authority and resource
        (microsoft-clouds.md "Additions": hashicorp/terraform-provider-azurerm#19749, external-secrets#3519;
        https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses)."""
        challenge = f'Bearer authorization="https://{cloud.login_host}/{tenant.id}", resource="{cloud.key_vault_resource}"'
        return _error(401, "Unauthorized", message, headers={"WWW-Authenticate": challenge})

    def _authenticate(self, call: Call, tenant: Tenant) -> dict[str, Any]:
        """Validate the bearer token: signature, lifetime, audience (this cloud's Key Vault), issuer (the vault's tenant)."""
        cloud = call.cloud
        scheme, dummy, token = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "pop") or not token.strip():
            raise self._unauthorized(cloud, tenant, "AKV10000: Request is missing a Bearer or PoP token.")
        try:
            claims = call.emulator.store.signing_key.verify(token.strip())
        except jwt.ExpiredSignatureError as exc:
            raise self._unauthorized(cloud, tenant, "The access token is expired.") from exc  # UNCONFIRMED wording
        except jwt.InvalidSignatureError as exc:
            # AKV10046 as real vaults answer a token they cannot verify (hashicorp/terraform-provider-azurerm#30912).
            raise self._unauthorized(cloud, tenant, "AKV10046: Unable to resolve the key used for signature validation.") from exc
        except jwt.InvalidTokenError as exc:
            raise self._unauthorized(cloud, tenant, "The access token is not a valid JWT.") from exc  # UNCONFIRMED wording
        audience = claims.get("aud")
        # Exactly the resource URI or Key Vault's appId: "https://vault.azure.net/" (trailing slash) is refused
        # (Azure/go-autorest#525; argoproj-labs/argocd-vault-plugin#621 lists the two accepted forms).
        if audience not in (cloud.key_vault_resource, KEY_VAULT_APP_ID):
            raise self._unauthorized(cloud, tenant, f"AKV10022: Invalid audience. Expected {cloud.key_vault_resource} or "
                                     f"{KEY_VAULT_APP_ID}, found: {audience}.")
        expected = cloud.access_token_issuer(tenant.id)
        if claims.get("iss") != expected or claims.get("tid") != tenant.id:
            # A token of another tenant (MicrosoftDocs/azure-docs#75410, Azure/azure-sdk-for-js#13036).
            raise self._unauthorized(cloud, tenant, f"AKV10032: Invalid issuer. Expected one of {expected}, found {claims.get('iss')}.")
        return claims

    @staticmethod
    def _require(call: Call, tenant: Tenant, caller: dict[str, Any], permission: str) -> None:
        """403 AccessDenied unless an access policy grants the caller this secret permission.

        Message as real vaults word it (turbot/steampipe-plugin-azure#127, MicrosoftDocs/azure-docs#57072);
        https://learn.microsoft.com/azure/key-vault/general/rest-error-codes#http-403-insufficient-permissions
        """
        vault = tenant.key_vault
        for policy in vault.get("access_policies", []):
            if policy.get("objectId") == caller.get("oid") and permission in policy.get("permissions", {}).get("secrets", []):
                return
        raise _error(403, "Forbidden", f"The user, group or application 'appid={caller.get('appid')};oid={caller.get('oid')};"
                     f"iss={caller.get('iss')}' does not have secrets {permission} permission on key vault "
                     f"'{vault['name']};location={REGIONS.get(call.cloud.name, 'eastus')}'. For help resolving this issue, "
                     "please see https://go.microsoft.com/fwlink/?linkid=2125287", "AccessDenied")

    # Routing ------------------------------------------------------------------------
    def _dispatch(self, call: Call, tenant: Tenant, caller: dict[str, Any], path: str) -> Answer:
        self._check_api_version(call)
        parts = path.split("/")[1:]
        method = call.method
        store = call.emulator.store
        with store.lock:
            vault = tenant.key_vault

            def require(permission: str) -> None:
                self._require(call, tenant, caller, permission)

            if parts and parts[0] == "secrets":
                if len(parts) == 1 or parts[1:] == [""]:
                    if method == "GET":
                        require("list")
                        return self._ok(call, 200, self._list_secrets(call, vault))
                    raise self._method_not_allowed(method)
                name = self._name(parts[1])
                if len(parts) == 2 or (len(parts) == 3 and parts[2] == ""):
                    if method == "PUT" and len(parts) == 2:
                        require("set")
                        return self._ok(call, 200, self._set(call, store, vault, name))
                    if method == "GET":
                        require("get")
                        return self._ok(call, 200, self._get(call, vault, name, ""))
                    if method == "PATCH":
                        require("set")
                        return self._ok(call, 200, self._update(call, store, vault, name, ""))
                    if method == "DELETE" and len(parts) == 2:
                        require("delete")
                        return self._ok(call, 200, self._delete(call, store, vault, name))
                    raise self._method_not_allowed(method)
                if len(parts) == 3 and parts[2] == "versions":
                    if method == "GET":
                        require("list")
                        return self._ok(call, 200, self._versions(call, vault, name))
                    raise self._method_not_allowed(method)
                if len(parts) == 3:
                    if method == "GET":
                        require("get")
                        return self._ok(call, 200, self._get(call, vault, name, parts[2]))
                    if method == "PATCH":
                        require("set")
                        return self._ok(call, 200, self._update(call, store, vault, name, parts[2]))
                    raise self._method_not_allowed(method)
            if parts and parts[0] == "deletedsecrets":
                if len(parts) == 1 or parts[1:] == [""]:
                    if method == "GET":
                        require("list")
                        return self._ok(call, 200, self._list_deleted(call, vault))
                    raise self._method_not_allowed(method)
                name = self._name(parts[1])
                if len(parts) == 2:
                    if method == "GET":
                        require("get")
                        return self._ok(call, 200, self._deleted_bundle(call, vault, self._deleted(vault, name)))
                    if method == "DELETE":
                        require("purge")
                        self._deleted(vault, name)
                        del vault["deleted"][name.lower()]
                        store.dirty = True
                        return self._ok(call, 204)
                    raise self._method_not_allowed(method)
                if len(parts) == 3 and parts[2] == "recover" and method == "POST":
                    require("recover")
                    return self._ok(call, 200, self._recover(call, store, vault, name))
        raise _error(404, "NotFound", f"The requested path {path} is not part of the Key Vault secrets API.")  # UNCONFIRMED

    @staticmethod
    def _method_not_allowed(method: str) -> EmulatedError:
        return _error(405, "MethodNotAllowed", f"The requested resource does not support http method '{method}'.")  # UNCONFIRMED

    @staticmethod
    def _check_api_version(call: Call) -> None:
        """Every request names a known api-version (https://learn.microsoft.com/azure/key-vault/general/common-parameters-and-headers).

        Unknown: "The specified version (...) is not recognized ..." (Azure/azure-sdk-for-python#28595);
        missing: same code, wording UNCONFIRMED.
        """
        version = call.query.get("api-version")
        if not version:
            raise _bad("The 'api-version' query parameter is missing. Consider using the latest supported version "
                       f"({LATEST_API_VERSION}).")
        if version not in API_VERSIONS:
            raise _bad(f"The specified version ({version}) is not recognized. Consider using the latest supported version "
                       f"({LATEST_API_VERSION}).")

    @staticmethod
    def _name(name: str) -> str:
        """A valid object name, else 400 BadParameter as real vaults word it (az-acme/az-acme-cli#14)."""
        if not NAME.match(name):
            raise _bad(f"The request URI contains an invalid name: {name}")
        return name

    # Representations ----------------------------------------------------------------
    @staticmethod
    def _base(call: Call, vault: dict[str, Any]) -> str:
        return f"{call.base_url}/{vault['name']}"

    def _attributes(self, version: dict[str, Any]) -> dict[str, Any]:
        attributes = {"enabled": version["enabled"]}
        for key in ("nbf", "exp"):
            if version.get(key) is not None:
                attributes[key] = version[key]
        attributes.update({"created": version["created"], "updated": version["updated"],
                           "recoveryLevel": RECOVERY_LEVEL, "recoverableDays": RECOVERABLE_DAYS})
        return attributes

    def _item(self, call: Call, vault: dict[str, Any], secret: dict[str, Any], version: dict[str, Any],
              with_version: bool = True, with_value: bool = False) -> dict[str, Any]:
        """A SecretBundle (with value) or a SecretItem (models.tsp); absent optional fields are left out."""
        ident = f"{self._base(call, vault)}/secrets/{secret['name']}"
        body: dict[str, Any] = {}
        if with_value:
            body["value"] = version["value"]
        body["id"] = f"{ident}/{version['version']}" if with_version else ident
        if version.get("contentType") is not None:
            body["contentType"] = version["contentType"]
        body["attributes"] = self._attributes(version)
        if version.get("tags"):
            body["tags"] = dict(version["tags"])
        return body

    def _deleted_bundle(self, call: Call, vault: dict[str, Any], deleted: dict[str, Any]) -> dict[str, Any]:
        """A DeletedSecretBundle of the latest version, without its value."""
        body = self._item(call, vault, deleted, deleted["versions"][-1])
        body.update({"recoveryId": f"{self._base(call, vault)}/deletedsecrets/{deleted['name']}",
                     "deletedDate": deleted["deletedDate"], "scheduledPurgeDate": deleted["scheduledPurgeDate"]})
        return body

    # Operations ---------------------------------------------------------------------
    def _set(self, call: Call, store: Store, vault: dict[str, Any], name: str) -> dict[str, Any]:
        """Set Secret: a new version (the first one creates the secret); 409 while the name is soft-deleted."""
        body = self._body(call)
        value = body.get("value")
        if not isinstance(value, str):
            raise _bad("The parameter 'value' is required and must be a string.")  # UNCONFIRMED wording
        if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
            raise _bad(f"The secret value exceeds the maximum size of {MAX_VALUE_BYTES} bytes.")  # UNCONFIRMED wording
        key = name.lower()
        if key in vault["deleted"]:
            # microsoft-clouds.md "Additions" (external-secrets#3519, microsoft/AzureKeyVaultExplorer#42).
            raise _error(409, "Conflict", f"Secret {vault['deleted'][key]['name']} is currently in a deleted but recoverable "
                         "state, and its name cannot be reused; in this state, the secret can only be recovered or purged.",
                         "ObjectIsDeletedButRecoverable")
        now = int(store.now())
        version = {"version": uuid.uuid4().hex, "value": value, "created": now, "updated": now, "enabled": True,
                   "nbf": None, "exp": None, "contentType": None, "tags": None}
        self._apply(version, body)
        secret = vault["secrets"].setdefault(key, {"name": name, "versions": []})
        secret["versions"].append(version)
        store.dirty = True
        return self._item(call, vault, secret, version, with_value=True)

    def _update(self, call: Call, store: Store, vault: dict[str, Any], name: str, version_id: str) -> dict[str, Any]:
        """Update Secret: contentType, attributes and tags of one version; the value never changes (no value answered)."""
        body = self._body(call)
        secret, version = self._find(vault, name, version_id)
        self._apply(version, body)
        version["updated"] = int(store.now())
        store.dirty = True
        return self._item(call, vault, secret, version)

    def _get(self, call: Call, vault: dict[str, Any], name: str, version_id: str) -> dict[str, Any]:
        """Get Secret (latest version when none is given).

        `enabled: false` is refused (403 SecretDisabled, Azure/azure-sdk-for-js#24756); `nbf`/`exp` are
        informational for secrets: get works outside the window
        (https://learn.microsoft.com/azure/key-vault/secrets/about-secrets#date-time-controlled-operations,
        confirmed by Azure/AzureKeyVault#19).
        """
        secret, version = self._find(vault, name, version_id)
        if not version["enabled"]:
            raise _error(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
        return self._item(call, vault, secret, version, with_value=True)

    def _versions(self, call: Call, vault: dict[str, Any], name: str) -> dict[str, Any]:
        """Get Secret Versions: ids and attributes, never values; paged (maxresults 1..25, nextLink).

        A name without versions answers an empty page (UNCONFIRMED).
        """
        secret = vault["secrets"].get(name.lower())
        items = [self._item(call, vault, secret, v) for v in secret["versions"]] if secret else []
        return self._page(call, items, f"{self._base(call, vault)}/secrets/{name}/versions")

    def _list_secrets(self, call: Call, vault: dict[str, Any]) -> dict[str, Any]:
        """Get Secrets: each secret's base id and its latest version's attributes (routes.tsp getSecrets)."""
        items = [self._item(call, vault, s, s["versions"][-1], with_version=False) for s in vault["secrets"].values()]
        return self._page(call, items, f"{self._base(call, vault)}/secrets")

    def _list_deleted(self, call: Call, vault: dict[str, Any]) -> dict[str, Any]:
        items = []
        for deleted in vault["deleted"].values():
            item = self._item(call, vault, deleted, deleted["versions"][-1], with_version=False)
            item.update({"recoveryId": f"{self._base(call, vault)}/deletedsecrets/{deleted['name']}",
                         "deletedDate": deleted["deletedDate"], "scheduledPurgeDate": deleted["scheduledPurgeDate"]})
            items.append(item)
        return self._page(call, items, f"{self._base(call, vault)}/deletedsecrets")

    def _delete(self, call: Call, store: Store, vault: dict[str, Any], name: str) -> dict[str, Any]:
        """Delete Secret: every version moves to the soft-deleted secrets for 90 days (soft-delete-overview)."""
        secret = vault["secrets"].pop(name.lower(), None)
        if secret is None:
            raise _not_found(name)
        now = int(store.now())
        deleted = {**secret, "deletedDate": now, "scheduledPurgeDate": now + RECOVERABLE_DAYS * 86400}
        vault["deleted"][name.lower()] = deleted
        store.dirty = True
        return self._deleted_bundle(call, vault, deleted)

    def _recover(self, call: Call, store: Store, vault: dict[str, Any], name: str) -> dict[str, Any]:
        """Recover Deleted Secret: back with all its versions (done at once here)."""
        deleted = self._deleted(vault, name)
        secret = {"name": deleted["name"], "versions": deleted["versions"]}
        del vault["deleted"][name.lower()]
        vault["secrets"][name.lower()] = secret
        store.dirty = True
        return self._item(call, vault, secret, secret["versions"][-1])

    # Helpers ------------------------------------------------------------------------
    @staticmethod
    def _find(vault: dict[str, Any], name: str, version_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        secret = vault["secrets"].get(name.lower())
        if secret is None:
            raise _not_found(name)
        if not version_id:
            return secret, secret["versions"][-1]
        for version in secret["versions"]:
            if version["version"] == version_id.lower():
                return secret, version
        raise _not_found(f"{name}/{version_id}")

    @staticmethod
    def _deleted(vault: dict[str, Any], name: str) -> dict[str, Any]:
        deleted = vault["deleted"].get(name.lower())
        if deleted is None:
            raise _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")  # UNCONFIRMED wording
        return deleted

    @staticmethod
    def _body(call: Call) -> dict[str, Any]:
        try:
            body = call.json()
        except EmulatedError as exc:
            raise _bad("The request body is not valid JSON.") from exc  # UNCONFIRMED wording
        if not isinstance(body, dict):
            raise _bad("The request body must be a JSON object.")  # UNCONFIRMED wording
        return body

    @staticmethod
    def _apply(version: dict[str, Any], body: dict[str, Any]) -> None:
        """contentType, tags and the writable attributes (enabled, nbf, exp) of a set or update body (models.tsp).

        Limits from about-secrets: contentType <= 255 characters; at most 15 tags of <= 512 characters each.
        Read-only attributes (created, updated, recoveryLevel) are ignored.
        """
        if "contentType" in body:
            content_type = body["contentType"]
            if content_type is not None and (not isinstance(content_type, str) or len(content_type) > MAX_CONTENT_TYPE):
                raise _bad(f"contentType must be a string of at most {MAX_CONTENT_TYPE} characters.")
            version["contentType"] = content_type
        if "tags" in body:
            tags = body["tags"]
            if tags is not None:
                if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
                    raise _bad("tags must be an object whose values are strings.")
                if len(tags) > MAX_TAGS or any(len(k) > MAX_TAG_LENGTH or len(v) > MAX_TAG_LENGTH for k, v in tags.items()):
                    raise _bad(f"At most {MAX_TAGS} tags are allowed, each name and value of at most {MAX_TAG_LENGTH} characters.")
            version["tags"] = dict(tags) if tags else None
        attributes = body.get("attributes")
        if attributes is None:
            return
        if not isinstance(attributes, dict):
            raise _bad("attributes must be an object.")
        if "enabled" in attributes and attributes["enabled"] is not None:
            if not isinstance(attributes["enabled"], bool):
                raise _bad("attributes.enabled must be a boolean.")
            version["enabled"] = attributes["enabled"]
        for key in ("nbf", "exp"):
            if key in attributes:
                value = attributes[key]
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise _bad(f"attributes.{key} must be an IntDate (seconds since 1970-01-01T00:00:00Z).")
                version[key] = value

    @staticmethod
    def _page(call: Call, items: list[dict[str, Any]], base: str) -> dict[str, Any]:
        """One page of a list: `value` and `nextLink` (null on the last page), `maxresults` 1..25."""
        query = call.query
        raw = query.get("maxresults")
        try:
            size = MAX_RESULTS if raw in (None, "") else int(str(raw))
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_RESULTS:
            raise _bad(f"Invalid maxresults value {raw}: it must be between 1 and {MAX_RESULTS}.")  # UNCONFIRMED wording
        start = 0
        token = query.get("$skiptoken")
        if token:
            try:
                start = int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["NextMarker"])
            except (ValueError, KeyError, TypeError, binascii.Error) as exc:
                raise _bad("The $skiptoken is not valid.") from exc  # UNCONFIRMED wording
        page = items[start:start + size]
        next_link = None
        if start + size < len(items):
            marker = base64.urlsafe_b64encode(json.dumps({"NextMarker": start + size}).encode()).decode().rstrip("=")
            next_link = f"{base}?api-version={query['api-version']}&$skiptoken={marker}&maxresults={size}"
        return {"value": page, "nextLink": next_link}
