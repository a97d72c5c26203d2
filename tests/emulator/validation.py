"""Request-body validation as Microsoft Graph performs it for the resources emulated here.

Graph is strict: an unknown property, a read-only property, a value of the wrong type, a
malformed GUID or an invalid redirect URI is a 400 in its error shape. Sources:
https://learn.microsoft.com/graph/api/resources/application (properties, types, read-only),
https://learn.microsoft.com/entra/identity-platform/reply-url (redirect URI rules),
https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation (front-channel logout URL),
https://learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions (identifier URIs).
Messages are the ones Graph returns for directory objects (see the emulator's tests for the
captures they were taken from). These rules sit on top of the check against the cloud's published
v1.0 schema (tests/emulator/schema), which runs first for every Graph request and refuses any name,
nested ones included, that the cloud's schema lacks.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .app import EmulatedError

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount")
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")

# Type grammar: "string", "bool", "int", "guid", "datetime", "duration", "any", "list:<t>", "object:<schema>",
# "enum:<a>|<b>"; a trailing "?" allows null.
SCHEMAS: dict[str, dict[str, str]] = {
    "application": {
        "displayName": "string", "description": "string?", "signInAudience": "enum:" + "|".join(SIGN_IN_AUDIENCES),
        "identifierUris": "list:string", "isFallbackPublicClient": "bool?", "notes": "string?", "tags": "list:string",
        "web": "object:web", "publicClient": "object:publicClient", "spa": "object:spa",
        "requiredResourceAccess": "list:object:requiredResourceAccess", "api": "object:api",
        "appRoles": "list:object:appRole", "info": "object:info", "keyCredentials": "list:object:keyCredential",
        "passwordCredentials": "list:object:passwordCredential", "optionalClaims": "any",
        "parentalControlSettings": "object:parentalControlSettings", "groupMembershipClaims": "string?",
        "tokenEncryptionKeyId": "guid?", "serviceManagementReference": "string?", "uniqueName": "string?",
        "isDeviceOnlyAuthSupported": "bool?", "defaultRedirectUri": "string?", "samlMetadataUrl": "string?",
        "servicePrincipalLockConfiguration": "any", "requestSignatureVerification": "any",
        "nativeAuthenticationApisEnabled": "string?",
    },
    "web": {"homePageUrl": "string?", "logoutUrl": "string?", "redirectUris": "list:string",
            "implicitGrantSettings": "object:implicitGrantSettings", "redirectUriSettings": "list:any"},
    "implicitGrantSettings": {"enableAccessTokenIssuance": "bool", "enableIdTokenIssuance": "bool"},
    "publicClient": {"redirectUris": "list:string"},
    "spa": {"redirectUris": "list:string"},
    "requiredResourceAccess": {"resourceAppId": "guid", "resourceAccess": "list:object:resourceAccess"},
    "resourceAccess": {"id": "guid", "type": "enum:Scope|Role"},
    "api": {"acceptMappedClaims": "bool?", "knownClientApplications": "list:guid", "requestedAccessTokenVersion": "int?",
            "oauth2PermissionScopes": "list:any", "preAuthorizedApplications": "list:any"},
    "appRole": {"allowedMemberTypes": "list:string", "description": "string?", "displayName": "string?", "id": "guid",
                "isEnabled": "bool", "origin": "string?", "value": "string?"},
    "info": {"logoUrl": "string?", "marketingUrl": "string?", "privacyStatementUrl": "string?", "supportUrl": "string?",
             "termsOfServiceUrl": "string?"},
    "keyCredential": {"customKeyIdentifier": "string?", "displayName": "string?", "endDateTime": "datetime?",
                      "key": "string?", "keyId": "guid?", "startDateTime": "datetime?", "type": "enum:AsymmetricX509Cert|X509CertAndPassword|Symmetric",
                      "usage": "enum:Verify|Sign"},
    "passwordCredential": {"customKeyIdentifier": "string?", "displayName": "string?", "endDateTime": "datetime?",
                           "hint": "string?", "keyId": "guid?", "secretText": "string?", "startDateTime": "datetime?"},
    "parentalControlSettings": {"countriesBlockedForMinors": "list:string", "legalAgeGroupRule": "string"},
    "servicePrincipal": {
        "appId": "guid", "accountEnabled": "bool", "alternativeNames": "list:string", "appRoleAssignmentRequired": "bool",
        "description": "string?", "displayName": "string?", "homepage": "string?", "loginUrl": "string?",
        "logoutUrl": "string?", "notes": "string?", "notificationEmailAddresses": "list:string",
        "preferredSingleSignOnMode": "string?", "replyUrls": "list:string", "servicePrincipalNames": "list:string",
        "servicePrincipalType": "string?", "tags": "list:string",
    },
    "appRoleAssignment": {"principalId": "guid", "resourceId": "guid", "appRoleId": "guid"},
    "oauth2PermissionGrant": {"clientId": "guid", "consentType": "enum:AllPrincipals|Principal", "principalId": "guid?",
                              "resourceId": "guid", "scope": "string?"},
    "addPassword": {"passwordCredential": "object:passwordCredential"},
    "removePassword": {"keyId": "guid"},
    "tenantAppManagementPolicy": {"displayName": "string?", "description": "string?", "isEnabled": "bool",
                                  "applicationRestrictions": "object:appManagementConfiguration",
                                  "servicePrincipalRestrictions": "object:appManagementConfiguration"},
    "appManagementConfiguration": {"passwordCredentials": "list:object:passwordCredentialConfiguration",
                                   "keyCredentials": "list:object:keyCredentialConfiguration",
                                   "identifierUris": "any"},
    "passwordCredentialConfiguration": {
        "restrictionType": "enum:passwordAddition|passwordLifetime|symmetricKeyAddition|symmetricKeyLifetime|"
                           "customPasswordAddition|unknownFutureValue",
        "maxLifetime": "duration?", "restrictForAppsCreatedAfterDateTime": "datetime?", "state": "enum:enabled|disabled?"},
    "keyCredentialConfiguration": {
        "restrictionType": "enum:asymmetricKeyLifetime|trustedCertificateAuthority|unknownFutureValue",
        "maxLifetime": "duration?", "restrictForAppsCreatedAfterDateTime": "datetime?", "state": "enum:enabled|disabled?",
        "certificateBasedApplicationConfigurationIds": "list:guid"},
}

RESOURCE_NAMES = {"application": "Application", "servicePrincipal": "ServicePrincipal", "appRoleAssignment": "AppRoleAssignment",
                  "oauth2PermissionGrant": "OAuth2PermissionGrant", "tenantAppManagementPolicy": "TenantAppManagementPolicy"}
READ_ONLY = {
    "application": {"id", "appId", "createdDateTime", "deletedDateTime", "publisherDomain", "applicationTemplateId",
                    "disabledByMicrosoftStatus", "certification", "verifiedPublisher", "addIns"},
    "servicePrincipal": {"id", "createdDateTime", "deletedDateTime", "appDisplayName", "appDescription",
                         "appOwnerOrganizationId", "applicationTemplateId", "disabledByMicrosoftStatus", "signInAudience",
                         "verifiedPublisher", "info", "appRoles", "oauth2PermissionScopes", "keyCredentials",
                         "passwordCredentials", "resourceSpecificApplicationPermissions"},
    "appRoleAssignment": {"id", "createdDateTime", "deletedDateTime", "principalDisplayName", "principalType",
                          "resourceDisplayName"},
    "oauth2PermissionGrant": {"id"},
    "tenantAppManagementPolicy": {"id"},
}


def bad_request(message: str, code: str = "Request_BadRequest") -> EmulatedError:
    """A Graph 400."""
    return EmulatedError(400, code, message)


def invalid_value(prop: str, schema: str) -> EmulatedError:
    """Graph's message for a value of the wrong type or shape."""
    return bad_request(f"Invalid value specified for property '{prop}' of resource '{RESOURCE_NAMES.get(schema, schema)}'.")


def check_body(body: Any, schema: str, *, allow_read_only: bool = False) -> dict[str, Any]:
    """Validate a request body against a schema; returns it (a dict) or raises a Graph 400."""
    if not isinstance(body, dict):
        raise bad_request("Invalid request body: a JSON object is required.", "BadRequest")
    _check_object(body, schema, schema, "", allow_read_only)
    return body


def _check_object(value: dict[str, Any], schema: str, resource: str, prefix: str, allow_read_only: bool) -> None:
    properties = SCHEMAS[schema]
    for key, item in value.items():
        if key.startswith("@odata."):
            continue
        if not prefix and key in READ_ONLY.get(schema, set()) and not allow_read_only:
            raise bad_request(f"Property '{key}' is read-only and cannot be set.")
        if key not in properties:
            if not prefix and key in READ_ONLY.get(schema, set()):
                continue
            raise bad_request(f"Property '{prefix}{key}' does not exist as a declared property or extension property.")
        _check_value(item, properties[key], resource, f"{prefix}{key}", allow_read_only)


def _check_value(value: Any, kind: str, resource: str, prop: str, allow_read_only: bool) -> None:
    if kind.endswith("?"):
        if value is None:
            return
        kind = kind[:-1]
    if kind == "any":
        return
    top = prop.split(".")[0]
    if kind.startswith("list:"):
        if not isinstance(value, list):
            raise invalid_value(top, resource)
        for item in value:
            _check_value(item, kind[5:], resource, prop, allow_read_only)
        return
    if kind.startswith("object:"):
        if not isinstance(value, dict):
            raise invalid_value(top, resource)
        _check_object(value, kind[7:], resource, f"{prop}.", allow_read_only)
        return
    if kind.startswith("enum:"):
        if value not in kind[5:].split("|"):
            raise invalid_value(top, resource)
        return
    valid = {
        "string": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "guid": lambda v: isinstance(v, str) and bool(GUID.match(v)),
        "datetime": lambda v: isinstance(v, str) and _is_datetime(v),
        "duration": lambda v: isinstance(v, str) and bool(ISO_DURATION.match(v)),
    }[kind](value)
    if not valid:
        raise invalid_value(top, resource)


def _is_datetime(value: str) -> bool:
    from .store import parse_iso  # local: store imports firstparty, which must not import this module
    try:
        parse_iso(value)
    except ValueError:
        return False
    return True


# Redirect URIs: https://learn.microsoft.com/entra/identity-platform/reply-url ----------------
MAX_REDIRECT_URI_LENGTH = 256
UNSUPPORTED_URI_CHARACTERS = set("!$'(),;")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def check_redirect_uris(app: dict[str, Any]) -> None:
    """Validate every redirect URI of an application (after the update is applied)."""
    audience = app.get("signInAudience")
    limit = 100 if audience in ("AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount") else 256
    for platform in ("web", "spa", "publicClient"):
        uris = (app.get(platform) or {}).get("redirectUris") or []
        if len(uris) > limit:
            raise invalid_value(platform, "application")
        for uri in uris:
            if not _redirect_uri_ok(uri, public_client=platform == "publicClient", msa=limit == 100):
                raise invalid_value(platform, "application")


def _redirect_uri_ok(uri: str, *, public_client: bool, msa: bool) -> bool:
    if not uri or len(uri) > MAX_REDIRECT_URI_LENGTH or UNSUPPORTED_URI_CHARACTERS & set(uri) or uri != uri.strip():
        return False
    if public_client and (uri == "urn:ietf:wg:oauth:2.0:oob" or uri.startswith("ms-appx-web://")):
        return True
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.path):
        return False
    if "*" in uri and (msa or public_client):
        return False
    if parts.query and msa:
        return False
    if parts.fragment:
        return False
    if parts.scheme == "https":
        return bool(parts.hostname)
    if parts.scheme == "http":
        return parts.hostname in LOOPBACK_HOSTS
    # Custom schemes (msal{appId}://auth, myapp://callback) are for mobile and desktop clients only.
    return public_client and bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*$", parts.scheme))


def check_logout_url(app: dict[str, Any]) -> None:
    """The front-channel logout URL: http is refused, even for localhost (https://localhost is fine).

    https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation (row "Front-channel
    logout URL", every sign-in audience). The message is Graph's usual one for an invalid value.
    """
    url = (app.get("web") or {}).get("logoutUrl")
    if url and urlsplit(url).scheme.lower() == "http":
        raise invalid_value("web", "application")


def check_identifier_uris(uris: list[str], app_id: str, tenant_id: str, domains: list[str]) -> None:
    """Validate identifier URIs against the default tenant policy (verified domain, tenant or app id).

    https://learn.microsoft.com/entra/identity-platform/identifier-uri-restrictions
    """
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("https", "api", "http", "urn") or "*" in uri or len(uri) > 255:
            raise invalid_value("identifierUris", "application")
        if parts.scheme in ("https", "http"):
            host = (parts.hostname or "").lower()
            if not any(host == d or host.endswith("." + d) for d in domains):
                raise bad_request("Values of identifierUris property must use a verified domain of the organization or its "
                                  f"subdomain: '{uri}'", "HostNameNotOnVerifiedDomain")
        elif parts.scheme == "api":
            authority = (parts.netloc or "").lower()
            path = parts.path.strip("/").lower()
            if not (authority in (app_id.lower(), tenant_id.lower()) or path.endswith(app_id.lower())
                    or any(authority.endswith("." + d) or authority == d for d in domains)):
                raise bad_request(f"Failed to add identifier URI {uri}. All newly added URIs must contain a tenant verified "
                                  "domain, tenant ID, or app ID, as per the default tenant policy of your organization. See "
                                  "https://aka.ms/identifier-uri-addition-error for more information on this error.")


def check_guid(value: str, what: str = "object") -> str:
    """A GUID from a URL, or Graph's 400 for a malformed object identifier."""
    if not GUID.match(value):
        raise bad_request(f"Invalid object identifier '{value}'.")
    return value.lower()
