"""Microsoft first-party applications the emulated tenants know, with their real permissions.

Every emulated tenant holds the service principals of Microsoft Graph and of Azure AD Graph
("Windows Azure Active Directory"), as real tenants do. Microsoft Partner Center is known to the
directory, but its service principal exists only once someone creates it
(`POST /servicePrincipals {"appId": "fa3d9a0c-..."}`), as in a real partner tenant.

The app roles and delegated permission scopes come from `data/*.json`; each file lists its sources
and the facts that remain unconfirmed under its "source" key.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
AZURE_AD_GRAPH_APP_ID = "00000002-0000-0000-c000-000000000000"
PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"

CLOUD_NAMES = ("public", "usgov", "usgov_dod", "china")

# Tenant that owns Microsoft's first-party applications (appOwnerOrganizationId), the
# "Microsoft Services" tenant: f8cdef31-... on the first-party service principals of the global
# cloud (Graph docs, migrate-azure-ad-graph-configure-permissions). For US Government,
# cab8a31a-... is the counterpart of f8cdef31-... in Bot Framework's US Government settings;
# its use as appOwnerOrganizationId there is UNCONFIRMED, as is the value for 21Vianet (the
# global value is used).
APP_OWNER_ORGANIZATION_IDS: dict[str, str] = {
    "public": "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
    "usgov": "cab8a31a-1906-4287-a0d8-4eef66b95f6e",
    "usgov_dod": "cab8a31a-1906-4287-a0d8-4eef66b95f6e",
    "china": "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
}

_DATA_DIR = Path(__file__).resolve().parent / "data"
_DATA_FILES = (
    ("microsoft_graph.json", True),
    ("azure_ad_graph.json", True),
    ("partner_center.json", False),
)
_ROLE_KEYS = ("allowedMemberTypes", "description", "displayName", "id", "isEnabled", "origin", "value")
_SCOPE_KEYS = ("adminConsentDescription", "adminConsentDisplayName", "id", "isEnabled", "type",
               "userConsentDescription", "userConsentDisplayName", "value")


@dataclass(frozen=True)
class FirstPartyApp:
    """A Microsoft first-party application and the permissions its service principal publishes."""

    app_id: str
    display_name: str
    service_principal_names: dict[str, tuple[str, ...]]
    app_roles: tuple[dict[str, Any], ...]
    oauth2_permission_scopes: tuple[dict[str, Any], ...]
    seeded: bool

    def service_principal(self, cloud: str, tenant_id: str, object_id: str, created_date_time: str | None = None) -> dict[str, Any]:
        """The servicePrincipal object as Graph v1.0 returns it for this app in a tenant of `cloud`.

        `tenant_id` is the directory that holds the object (it is not a property of the object);
        `object_id` becomes its `id`. The result is a fresh copy that callers may change.
        """
        if cloud not in self.service_principal_names:
            raise ValueError(f"unknown cloud {cloud!r}; expected one of {', '.join(CLOUD_NAMES)}")
        uuid.UUID(tenant_id)
        uuid.UUID(object_id)
        return {
            "id": object_id,
            "deletedDateTime": None,
            "accountEnabled": True,
            "alternativeNames": [],
            "appDisplayName": self.display_name,
            "appDescription": None,
            "appId": self.app_id,
            "applicationTemplateId": None,
            "appOwnerOrganizationId": APP_OWNER_ORGANIZATION_IDS[cloud],
            "appRoleAssignmentRequired": False,
            "createdDateTime": created_date_time,
            "description": None,
            "disabledByMicrosoftStatus": None,
            "displayName": self.display_name,
            "homepage": None,
            "loginUrl": None,
            "logoutUrl": None,
            "notes": None,
            "notificationEmailAddresses": [],
            "preferredSingleSignOnMode": None,
            "preferredTokenSigningKeyThumbprint": None,
            "replyUrls": [],
            "servicePrincipalNames": list(self.service_principal_names[cloud]),
            "servicePrincipalType": "Application",
            "signInAudience": "AzureADMultipleOrgs",
            "tags": [],
            "tokenEncryptionKeyId": None,
            "samlSingleSignOnSettings": None,
            "addIns": [],
            "appRoles": [{**role, "allowedMemberTypes": list(role["allowedMemberTypes"])} for role in self.app_roles],
            "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None, "termsOfServiceUrl": None},
            "keyCredentials": [],
            "oauth2PermissionScopes": [dict(scope) for scope in self.oauth2_permission_scopes],
            "passwordCredentials": [],
            "resourceSpecificApplicationPermissions": [],
            "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        }


def _checked(entries: list[dict[str, Any]], keys: tuple[str, ...], where: str) -> tuple[dict[str, Any], ...]:
    """Entries with exactly `keys`, GUID ids unique within the collection."""
    seen: set[str] = set()
    for entry in entries:
        if tuple(sorted(entry)) != tuple(sorted(keys)):
            raise ValueError(f"{where}: unexpected keys {sorted(entry)}")
        uuid.UUID(entry["id"])
        if entry["id"] in seen:
            raise ValueError(f"{where}: duplicate id {entry['id']}")
        seen.add(entry["id"])
    return tuple(entries)


def _load(name: str, seeded: bool) -> FirstPartyApp:
    """Read one data file."""
    with (_DATA_DIR / name).open(encoding="utf-8") as handle:
        data = json.load(handle)
    spns = data["servicePrincipalNames"]
    if set(spns) != set(CLOUD_NAMES):
        raise ValueError(f"{name}: servicePrincipalNames must cover {CLOUD_NAMES}")
    return FirstPartyApp(
        app_id=data["appId"],
        display_name=data["displayName"],
        service_principal_names={cloud: tuple(spns[cloud]) for cloud in CLOUD_NAMES},
        app_roles=_checked(data["appRoles"], _ROLE_KEYS, f"{name} appRoles"),
        oauth2_permission_scopes=_checked(data["oauth2PermissionScopes"], _SCOPE_KEYS, f"{name} oauth2PermissionScopes"),
        seeded=seeded,
    )


FIRST_PARTY_APPS: dict[str, FirstPartyApp] = {app.app_id: app for app in (_load(name, seeded) for name, seeded in _DATA_FILES)}
