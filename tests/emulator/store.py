"""The emulator's state: tenants and their directory objects, with persistence.

Every directory object is stored as the JSON Graph returns for it; keys starting with
"_" are the emulator's private bookkeeping (replication time, secret digests, owners) and
are never sent to clients. One re-entrant lock guards all state: request handlers take it
for the whole read-check-write of a request, so concurrent requests (for instance an upsert
racing itself) are serialised exactly as a single directory primary would serialise them.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from . import firstparty
from .clouds import CLOUDS
from .tokens import SigningKey

STATE_FORMAT = 1

# Application permissions (Microsoft Graph app roles) held by the seeded clients: issue 2.
ADMIN_ROLES = ("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
               "DelegatedPermissionGrant.ReadWrite.All", "Directory.Read.All")
LIMITED_ROLES = ("Application.Read.All",)

# Azure Key Vault's first-party application: its appId is the audience Key Vault accepts besides its
# resource URI ("AKV10022: Invalid audience. Expected https://vault.azure.net or cfa8b339-...",
# argoproj-labs/argocd-vault-plugin#621); its service principal is in every tenant with Azure, so that
# client credentials for `{key_vault_resource}/.default` work (AADSTS500011 otherwise).
KEY_VAULT_APP_ID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
KEY_VAULT_APP = firstparty.FirstPartyApp(
    app_id=KEY_VAULT_APP_ID, display_name="Azure Key Vault",
    service_principal_names={name: (KEY_VAULT_APP_ID, cloud.key_vault_resource) for name, cloud in CLOUDS.items()},
    app_roles=(),
    # The delegated scope Key Vault publishes (user_impersonation), as requiredResourceAccess samples show it.
    oauth2_permission_scopes=({
        "adminConsentDescription": "Allow the application full access to the Azure Key Vault service on behalf of the signed-in user",
        "adminConsentDisplayName": "Have full access to the Azure Key Vault service", "id": "f53da476-18e3-4152-8e01-aec403e6edc0",
        "isEnabled": True, "type": "User",
        "userConsentDescription": "Allow the application full access to the Azure Key Vault service on your behalf",
        "userConsentDisplayName": "Have full access to the Azure Key Vault service", "value": "user_impersonation"},),
    seeded=True,
)
# Secret permissions of the seeded admin client in its tenant's vault (an access policy); the limited
# client has none. https://learn.microsoft.com/azure/key-vault/secrets/about-secrets#secret-access-control
ADMIN_SECRET_PERMISSIONS = ("get", "list", "set", "delete", "recover", "backup", "restore", "purge")

# https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy
DEFAULT_POLICY_ID = "00000000-0000-0000-0000-000000000000"


def iso(timestamp: float) -> str:
    """Graph's date-time format (UTC, with Z)."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 date-time; raises ValueError."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def secret_digest(secret: str) -> str:
    """How a client secret is kept: only its digest, never its value."""
    return hashlib.sha256(secret.encode()).hexdigest()


def public_view(obj: Any) -> Any:
    """A stored object (or list of them) without the emulator's private keys.

    Private keys live at the top level only, so a shallow filter is enough. The view shares
    nested values with the store: it is for serialising right away, under the store's lock
    or on the event loop that owns the state, never for keeping.
    """
    if isinstance(obj, list):
        return [public_view(item) for item in obj]
    return {key: value for key, value in obj.items() if not key.startswith("_")}


@dataclass
class Tenant:
    """One directory (an Entra ID tenant) in one cloud."""

    id: str
    cloud: str
    domain: str
    display_name: str
    organization: dict[str, Any]
    policy: dict[str, Any]
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)
    service_principals: dict[str, dict[str, Any]] = field(default_factory=dict)
    app_role_assignments: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Partner Center's registry of web apps registered in this partner tenant, by appId.
    pc_registrations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # appId -> time at which the emulated operator registers the app (auto-registration).
    pc_pending: dict[str, float] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)
    # The tenant's Azure Key Vault (key_vault.py): name, access policies, secrets, deleted secrets.
    key_vault: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The tenant as stored in the state file."""
        return copy.deepcopy(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Tenant":
        """Inverse of `to_json`."""
        return cls(**copy.deepcopy(data))

    # Lookups used across services -------------------------------------------------
    def application_by_app_id(self, app_id: str) -> dict[str, Any] | None:
        """The application object with this appId, visible or not."""
        return next((app for app in self.applications.values() if app["appId"] == app_id), None)

    def service_principal_by_app_id(self, app_id: str) -> dict[str, Any] | None:
        """The service principal of this appId in the tenant, visible or not."""
        return next((sp for sp in self.service_principals.values() if sp["appId"] == app_id), None)

    def directory_objects(self) -> Iterator[dict[str, Any]]:
        """Every object that has an id in the directory."""
        yield from self.applications.values()
        yield from self.service_principals.values()
        yield from self.users.values()


class Store:
    """All tenants of all emulated clouds, plus what is needed to rebuild them."""

    def __init__(self, clouds: list[str], tenants_per_cloud: int, seed: int, state_file: str | None = None) -> None:
        self.lock = threading.RLock()
        self.clouds = list(clouds)
        self.tenants_per_cloud = tenants_per_cloud
        self.seed = seed
        self.state_file = state_file
        self.tenants: dict[str, Tenant] = {}
        self.signing_key = SigningKey()
        self._rng = random.Random(seed)
        self._tenant_counter = 0
        self.dirty = False
        if state_file and os.path.exists(state_file):
            self._load(state_file)
        else:
            self.seed_initial()

    # Randomness ---------------------------------------------------------------------
    def new_id(self) -> str:
        """A new object id. Seeded, so that a run with the same seed has the same ids."""
        with self.lock:
            return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def new_secret(self, length: int = 40) -> str:
        """A client secret shaped like Entra ID's (letters, digits and `~._-`)."""
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"
        # Values handed out after start come from the OS, not the seeded generator: a
        # secret must not be guessable from the seed.
        sysrand = random.SystemRandom()
        return "".join(sysrand.choice(alphabet) for dummy in range(length))

    @staticmethod
    def now() -> float:
        """The emulator's clock."""
        return time.time()

    # Seeding -----------------------------------------------------------------------
    def seed_initial(self) -> None:
        """Forget everything and create the initial tenants (same seed, same tenants)."""
        with self.lock:
            self.tenants.clear()
            self._rng = random.Random(self.seed)
            self._tenant_counter = 0
            for cloud in self.clouds:
                for dummy in range(self.tenants_per_cloud):
                    self.add_tenant(cloud)
            self.dirty = True

    def add_tenant(self, cloud: str, domain_prefix: str | None = None) -> Tenant:
        """Create a tenant with the first-party service principals and the seeded clients."""
        if cloud not in CLOUDS:
            raise ValueError(f"unknown cloud {cloud!r}; known: {', '.join(CLOUDS)}")
        with self.lock:
            self._tenant_counter += 1
            number = self._tenant_counter
            tenant_id = self.new_id()
            prefix = domain_prefix or f"pcpartner{number}"
            domain = f"{prefix}.{CLOUDS[cloud].tenant_domain_suffix}"
            if any(t.domain == domain for t in self.tenants.values()):
                raise ValueError(f"a tenant with domain {domain} exists already")
            now = self.now()
            tenant = Tenant(
                id=tenant_id, cloud=cloud, domain=domain,
                display_name=f"PC Partner {number} ({cloud})",
                organization=_organization(tenant_id, f"PC Partner {number} ({cloud})", domain, now),
                policy=_default_policy(),
            )
            self.tenants[tenant_id] = tenant
            for app in firstparty.FIRST_PARTY_APPS.values():
                if app.seeded:
                    sp = app.service_principal(cloud, tenant_id, self.new_id())
                    tenant.service_principals[sp["id"]] = sp
            admin = self._seed_client(tenant, "Partner Center automation (emulator admin)", ADMIN_ROLES, now)
            limited = self._seed_client(tenant, "Partner Center automation (emulator limited)", LIMITED_ROLES, now)
            user_password = self._seeded_secret()
            user_id = self.new_id()
            tenant.users[user_id] = {
                "id": user_id, "displayName": "Partner admin", "userPrincipalName": f"admin@{domain}",
                "accountEnabled": True, "_password_sha256": secret_digest(user_password),
            }
            tenant.credentials = {
                "admin": admin, "limited": limited,
                "user": {"username": f"admin@{domain}", "password": user_password, "id": user_id},
            }
            self.ensure_key_vault(tenant)
            self.dirty = True
            return tenant

    def ensure_key_vault(self, tenant: Tenant) -> None:
        """Give the tenant Key Vault's service principal and one vault, unless it has them (older state files)."""
        with self.lock:
            if tenant.service_principal_by_app_id(KEY_VAULT_APP_ID) is None:
                # Not from the seeded generator: adding it keeps every other seeded id as it was.
                sp_id = str(uuid.uuid5(uuid.UUID(tenant.id), KEY_VAULT_APP_ID))
                tenant.service_principals[sp_id] = KEY_VAULT_APP.service_principal(tenant.cloud, tenant.id, sp_id)
            if not tenant.key_vault:
                taken = {t.key_vault.get("name") for t in self.tenants.values()
                         if t.key_vault and CLOUDS[t.cloud].key_vault_dns_suffix == CLOUDS[tenant.cloud].key_vault_dns_suffix}
                admin = tenant.credentials["admin"]
                tenant.key_vault = {
                    "name": vault_name(tenant.domain, taken),
                    "access_policies": [{"tenantId": tenant.id, "objectId": admin["service_principal_id"],
                                         "permissions": {"secrets": list(ADMIN_SECRET_PERMISSIONS)}}],
                    "secrets": {}, "deleted": {},
                }

    def _seeded_secret(self) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"
        return "".join(self._rng.choice(alphabet) for dummy in range(40))

    def _seed_client(self, tenant: Tenant, name: str, roles: tuple[str, ...], now: float) -> dict[str, str]:
        """An app registration + service principal holding Graph application permissions."""
        secret = self._seeded_secret()
        app = new_application(self, tenant, {"displayName": name}, now)
        key_id = self.new_id()
        app["passwordCredentials"].append(password_credential(
            key_id, "emulator seed", secret, now, now + 2 * 365 * 86400))
        app["_secret_sha256"] = {key_id: secret_digest(secret)}
        tenant.applications[app["id"]] = app
        sp = new_service_principal(self, tenant, app, now)
        tenant.service_principals[sp["id"]] = sp
        graph = tenant.service_principal_by_app_id(firstparty.MICROSOFT_GRAPH_APP_ID)
        assert graph is not None
        by_value = {role["value"]: role for role in graph["appRoles"]}
        for value in roles:
            assignment = new_app_role_assignment(self, sp, graph, by_value[value]["id"], now)
            tenant.app_role_assignments[assignment["id"]] = assignment
        return {"client_id": app["appId"], "client_secret": secret, "object_id": app["id"], "service_principal_id": sp["id"]}

    # Persistence -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Everything needed to restart with the same state."""
        with self.lock:
            return {
                "format": STATE_FORMAT, "seed": self.seed, "clouds": self.clouds,
                "tenants_per_cloud": self.tenants_per_cloud, "tenant_counter": self._tenant_counter,
                "signing_key": self.signing_key.private_pem().decode(),
                "rng_state": _rng_state_to_json(self._rng.getstate()),
                "tenants": [tenant.to_json() for tenant in self.tenants.values()],
            }

    def save(self) -> None:
        """Write the state file atomically (mode 0600: it holds seeded credentials)."""
        if not self.state_file:
            return
        with self.lock:
            data = json.dumps(self.to_json())
            self.dirty = False
        tmp = f"{self.state_file}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp, self.state_file)

    def _load(self, path: str) -> None:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"{path}: unsupported state file format {data.get('format')!r}")
        self.seed = data["seed"]
        self.clouds = data["clouds"]
        self.tenants_per_cloud = data["tenants_per_cloud"]
        self._tenant_counter = data["tenant_counter"]
        self.signing_key = SigningKey(data["signing_key"].encode())
        self._rng.setstate(_rng_state_from_json(data["rng_state"]))
        self.tenants = {t["id"]: Tenant.from_json(t) for t in data["tenants"]}
        for tenant in self.tenants.values():
            self.ensure_key_vault(tenant)

    # Lookups -----------------------------------------------------------------------
    def tenant(self, tenant_ref: str) -> Tenant | None:
        """A tenant by id or by its domain name (case-insensitive), in any cloud."""
        ref = tenant_ref.lower()
        if ref in self.tenants:
            return self.tenants[ref]
        return next((t for t in self.tenants.values() if t.domain.lower() == ref), None)

    def tenant_summary(self, tenant: Tenant) -> dict[str, Any]:
        """The tenant as printed at start and returned by the control API."""
        creds = tenant.credentials
        return {
            "cloud": tenant.cloud, "tenant_id": tenant.id, "domain": tenant.domain,
            "display_name": tenant.display_name,
            "admin": {"client_id": creds["admin"]["client_id"], "client_secret": creds["admin"]["client_secret"]},
            "limited": {"client_id": creds["limited"]["client_id"], "client_secret": creds["limited"]["client_secret"]},
            "user": {"username": creds["user"]["username"], "password": creds["user"]["password"]},
        }


# Object constructors shared by seeding and the Graph service ---------------------------

def visible(obj: dict[str, Any], now: float) -> bool:
    """Whether a (possibly freshly created) object has replicated to the read replicas."""
    return obj.get("_visible_at", 0.0) <= now


def new_application(store: Store, tenant: Tenant, body: dict[str, Any], now: float) -> dict[str, Any]:
    """An application with Graph's defaults for every property, then `body` applied.

    Defaults as returned by `POST /applications`:
    https://learn.microsoft.com/graph/api/application-post-applications
    """
    app: dict[str, Any] = {
        "id": store.new_id(), "deletedDateTime": None, "appId": store.new_id(),
        "applicationTemplateId": None, "disabledByMicrosoftStatus": None,
        "createdDateTime": iso(now), "displayName": None, "description": None,
        "groupMembershipClaims": None, "identifierUris": [], "isDeviceOnlyAuthSupported": None,
        "isFallbackPublicClient": None, "nativeAuthenticationApisEnabled": None, "notes": None,
        "publisherDomain": tenant.domain, "serviceManagementReference": None,
        # April 2024: new apps default to AzureADMyOrg (reference §3.1).
        "signInAudience": "AzureADMyOrg", "tags": [], "tokenEncryptionKeyId": None,
        "uniqueName": None, "samlMetadataUrl": None, "defaultRedirectUri": None,
        "certification": None, "optionalClaims": None, "requestSignatureVerification": None,
        "addIns": [],
        "api": {"acceptMappedClaims": None, "knownClientApplications": [], "requestedAccessTokenVersion": None,
                "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": [],
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None,
                 "supportUrl": None, "termsOfServiceUrl": None},
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [],
        "publicClient": {"redirectUris": []},
        "requiredResourceAccess": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "web": {"homePageUrl": None, "logoutUrl": None, "redirectUris": [],
                "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False},
                "redirectUriSettings": []},
        "servicePrincipalLockConfiguration": None,
        "spa": {"redirectUris": []},
        "_visible_at": 0.0, "_owners": [], "_secret_sha256": {}, "_secret_visible_at": {}, "_certificates": {},
    }
    for key, value in body.items():
        if isinstance(app.get(key), dict) and isinstance(value, dict):
            app[key] = {**app[key], **copy.deepcopy(value)}
        else:
            app[key] = copy.deepcopy(value)
    return app


def new_service_principal(store: Store, tenant: Tenant, app: dict[str, Any], now: float) -> dict[str, Any]:
    """The service principal of a tenant's own application.

    https://learn.microsoft.com/graph/api/resources/serviceprincipal
    """
    return {
        "id": store.new_id(), "deletedDateTime": None, "accountEnabled": True, "alternativeNames": [],
        "appDisplayName": app["displayName"], "appDescription": None, "appId": app["appId"],
        "applicationTemplateId": None, "appOwnerOrganizationId": tenant.id, "appRoleAssignmentRequired": False,
        "createdDateTime": iso(now), "description": None, "disabledByMicrosoftStatus": None,
        "displayName": app["displayName"], "homepage": (app.get("web") or {}).get("homePageUrl"),
        "loginUrl": None, "logoutUrl": (app.get("web") or {}).get("logoutUrl"), "notes": None,
        "notificationEmailAddresses": [], "preferredSingleSignOnMode": None,
        "preferredTokenSigningKeyThumbprint": None,
        "replyUrls": list((app.get("web") or {}).get("redirectUris") or []),
        "servicePrincipalNames": [app["appId"], *app.get("identifierUris", [])],
        "servicePrincipalType": "Application", "signInAudience": app["signInAudience"], "tags": [],
        "tokenEncryptionKeyId": None,
        "info": copy.deepcopy(app["info"]), "samlSingleSignOnSettings": None,
        "addIns": [], "appRoles": copy.deepcopy(app["appRoles"]),
        "keyCredentials": [], "oauth2PermissionScopes": copy.deepcopy(app["api"]["oauth2PermissionScopes"]),
        "passwordCredentials": [], "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "_visible_at": 0.0,
    }


def new_app_role_assignment(store: Store, principal: dict[str, Any], resource: dict[str, Any],
                            app_role_id: str, now: float) -> dict[str, Any]:
    """An app role assignment (admin consent to an application permission).

    Its id is, as in Entra ID, 43 base64url characters that start with the principal's id.
    https://learn.microsoft.com/graph/api/resources/approleassignment
    """
    return {
        "id": object_key(principal["id"], store.new_id()), "deletedDateTime": None, "appRoleId": app_role_id,
        "createdDateTime": iso(now), "principalDisplayName": principal["displayName"],
        "principalId": principal["id"], "principalType": "ServicePrincipal",
        "resourceDisplayName": resource["displayName"], "resourceId": resource["id"],
        "_visible_at": 0.0,
    }


def password_credential(key_id: str, display_name: str | None, secret: str, start: float, end: float) -> dict[str, Any]:
    """A passwordCredential as the application keeps it (no secretText: it is shown once).

    https://learn.microsoft.com/graph/api/resources/passwordcredential
    """
    return {"customKeyIdentifier": None, "displayName": display_name, "endDateTime": iso(end),
            "hint": secret[:3], "keyId": key_id, "secretText": None, "startDateTime": iso(start)}


def object_key(*guids: str) -> str:
    """The base64url id Entra ID gives to grants and assignments: the GUIDs they link, concatenated."""
    raw = b"".join(uuid.UUID(guid).bytes_le for guid in guids)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def vault_name(domain: str, taken: set[Any]) -> str:
    """A vault name derived from the tenant's domain ("pcpartner1.onmicrosoft.com" -> "pcpartner1-kv").

    Vault names: 3-24 characters, letters, digits and hyphens, starting with a letter, ending with a
    letter or digit, no consecutive hyphens (VaultNameNotValid,
    https://learn.microsoft.com/azure/key-vault/general/common-error-codes). Unique per DNS suffix.
    """
    label = "".join(c for c in domain.split(".")[0].lower() if c.isascii() and (c.isalnum() or c == "-"))
    while "--" in label:
        label = label.replace("--", "-")
    label = label.strip("-")
    if not label or not label[0].isalpha():
        label = f"kv{label}"
    base = f"{label[:21].rstrip('-')}-kv"
    name, counter = base, 1
    while name in taken:
        counter += 1
        name = f"{base[:24 - len(str(counter))]}{counter}"
    return name


def _organization(tenant_id: str, name: str, domain: str, now: float) -> dict[str, Any]:
    """https://learn.microsoft.com/graph/api/resources/organization (responses keep only what the cloud's
    schema has: no defaultUsageLocation outside the global service)."""
    return {
        "id": tenant_id, "deletedDateTime": None, "businessPhones": [], "city": None, "country": None,
        "countryLetterCode": "US", "createdDateTime": iso(now - 400 * 86400), "defaultUsageLocation": None,
        "displayName": name, "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": None, "onPremisesSyncEnabled": None, "partnerTenantType": "resellerPartnerDelegatedAdmin",
        "postalCode": None, "preferredLanguage": "en", "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [], "state": None, "street": None, "technicalNotificationMails": [],
        "tenantType": "AAD", "assignedPlans": [],
        "privacyProfile": None, "provisionedPlans": [],
        "verifiedDomains": [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": True,
                             "isInitial": True, "name": domain, "type": "Managed"}],
    }


def _default_policy() -> dict[str, Any]:
    """The tenant-wide default app management policy, disabled until someone sets restrictions.

    https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy
    """
    return {
        "id": DEFAULT_POLICY_ID, "displayName": "Default app management tenant policy",
        "description": "Default tenant policy that enforces app management restrictions on applications and service principals. "
                       "To apply policy to targeted resources, create a new policy under appManagementPolicies collection.",
        "isEnabled": False,
        "applicationRestrictions": {"passwordCredentials": [], "keyCredentials": []},
        "servicePrincipalRestrictions": {"passwordCredentials": [], "keyCredentials": []},
    }


def _rng_state_to_json(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_state_from_json(data: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = data
    return (version, tuple(internal), gauss)
