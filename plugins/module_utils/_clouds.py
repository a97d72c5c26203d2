# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The cloud catalog: data only, plus lookups by name and by host.

Sources (see also the collection's reference notes):
- authority hosts: https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud
- Microsoft Graph roots: https://learn.microsoft.com/graph/deployments
- Partner Center REST bases: https://learn.microsoft.com/partner-center/developer/partner-center-rest-urls
- Azure AD Graph and Partner Center constants: microsoft/Partner-Center-PowerShell
  src/PowerShell/Models/Authentication/EnvironmentConstants.cs
- China Partner Center portal: MicrosoftDocs/partner-center-pr.zh-cn
  Archive/China-enrolling-in-the-csp-program.md (2018; the newest public mention found)
"""

from __future__ import annotations

import datetime
import re
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._errors import ConfigurationError


@dataclass(frozen=True)
class Cloud:
    """One Microsoft cloud: where its services live and which token resources they accept."""

    name: str
    display_name: str
    authority_host: str
    graph_endpoint: str
    graph_resource: str
    aad_graph_endpoint: str
    partner_center_endpoint: str
    partner_center_resource: str
    azure_portal_url: str
    partner_center_portal_url: str
    retired_on: datetime.date | None = None
    aliases: tuple[str, ...] = ()
    # Older hosts of the same service that still resolve (recognised, never used by default).
    legacy_authority_hosts: tuple[str, ...] = field(default=())
    # Azure Key Vault: vaults are <name>.<dns suffix>; tokens are for the resource. Table "DNS
    # suffixes" of https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates
    # (Azure PowerShell's AzureKeyVaultDnsSuffix / AzureKeyVaultServiceEndpointResourceId agree).
    key_vault_dns_suffix: str = ""
    key_vault_resource: str = ""

    @property
    def retired(self) -> bool:
        return self.retired_on is not None

    def endpoints(self) -> dict[str, str]:
        """Every URL of the cloud, by field name (for error messages and host lookups)."""
        return {
            "authority_host": self.authority_host,
            "graph_endpoint": self.graph_endpoint,
            "aad_graph_endpoint": self.aad_graph_endpoint,
            "partner_center_endpoint": self.partner_center_endpoint,
            "azure_portal_url": self.azure_portal_url,
            "partner_center_portal_url": self.partner_center_portal_url,
        }


GERMANY_CLOSED_ON = datetime.date(2021, 10, 29)

# Please keep the order: it is the order of the documentation and of error messages.
CLOUDS: dict[str, Cloud] = {
    c.name: c
    for c in (
        Cloud(
            name="public",
            display_name="Azure public cloud (global)",
            authority_host="https://login.microsoftonline.com",
            graph_endpoint="https://graph.microsoft.com",
            graph_resource="https://graph.microsoft.com",
            aad_graph_endpoint="https://graph.windows.net",
            partner_center_endpoint="https://api.partnercenter.microsoft.com",
            partner_center_resource="https://api.partnercenter.microsoft.com",
            azure_portal_url="https://portal.azure.com",
            partner_center_portal_url="https://partner.microsoft.com",
            # AzureCloud (Azure CLI, Partner-Center-PowerShell), AzurePublicCloud (Azure SDKs),
            # Global (Microsoft Graph PowerShell Get-MgEnvironment), global (Terraform azuread).
            aliases=("AzureCloud", "AzurePublicCloud", "global"),
            key_vault_dns_suffix="vault.azure.net",
            key_vault_resource="https://vault.azure.net",
        ),
        Cloud(
            name="usgov",
            display_name="Azure Government (GCC High / L4)",
            authority_host="https://login.microsoftonline.us",
            graph_endpoint="https://graph.microsoft.us",
            graph_resource="https://graph.microsoft.us",
            aad_graph_endpoint="https://graph.windows.net",
            partner_center_endpoint="https://api.partnercenter.microsoft.com",
            # UNCONFIRMED by a Microsoft page for .us tokens; Partner-Center-PowerShell uses it.
            partner_center_resource="https://api.partnercenter.microsoft.com",
            azure_portal_url="https://portal.azure.us",
            # The portal named by the national-cloud procedure (2023 version).
            partner_center_portal_url="https://partnercenter.microsoft.com",
            # AzureUSGovernment (Azure CLI/PowerShell), usgovernmentl4 (Terraform azuread),
            # USGov (Graph PowerShell), USGovernmentHigh (PnP), plus the names users say.
            aliases=("AzureUSGovernment", "usgovernment", "usgovernmentl4", "gcchigh", "USGovernmentHigh"),
            legacy_authority_hosts=("https://login-us.microsoftonline.com",),
            key_vault_dns_suffix="vault.usgovcloudapi.net",
            key_vault_resource="https://vault.usgovcloudapi.net",
        ),
        Cloud(
            name="usgov_dod",
            display_name="Azure Government DoD (L5)",
            authority_host="https://login.microsoftonline.us",
            graph_endpoint="https://dod-graph.microsoft.us",
            graph_resource="https://dod-graph.microsoft.us",
            aad_graph_endpoint="https://graph.windows.net",
            partner_center_endpoint="https://api.partnercenter.microsoft.com",
            partner_center_resource="https://api.partnercenter.microsoft.com",
            azure_portal_url="https://portal.azure.us",
            partner_center_portal_url="https://partnercenter.microsoft.com",
            # USGovDoD (Graph PowerShell; matches usgov_dod once separators are ignored),
            # USGovernmentDoD (PnP), usgovernmentl5 (Terraform azuread), dod.
            aliases=("USGovernmentDoD", "usgovernmentl5", "dod"),
            # DoD vaults are Azure Government vaults: same DNS suffix and token resource.
            key_vault_dns_suffix="vault.usgovcloudapi.net",
            key_vault_resource="https://vault.usgovcloudapi.net",
        ),
        Cloud(
            name="china",
            display_name="Azure operated by 21Vianet (China)",
            authority_host="https://login.partner.microsoftonline.cn",
            graph_endpoint="https://microsoftgraph.chinacloudapi.cn",
            graph_resource="https://microsoftgraph.chinacloudapi.cn",
            aad_graph_endpoint="https://graph.chinacloudapi.cn",
            partner_center_endpoint="https://partner.partnercenterapi.microsoftonline.cn",
            partner_center_resource="https://partner.partnercenterapi.microsoftonline.cn",
            azure_portal_url="https://portal.azure.cn",
            partner_center_portal_url="https://partner.partnercenter.microsoftonline.cn",
            aliases=("AzureChinaCloud", "china21vianet"),
            # The older documented host; it redirects to login.partner.microsoftonline.cn.
            legacy_authority_hosts=("https://login.chinacloudapi.cn",),
            key_vault_dns_suffix="vault.azure.cn",
            key_vault_resource="https://vault.azure.cn",
        ),
        Cloud(
            name="germany",
            display_name="Microsoft Cloud Deutschland (closed)",
            authority_host="https://login.microsoftonline.de",
            graph_endpoint="https://graph.microsoft.de",
            graph_resource="https://graph.microsoft.de",
            aad_graph_endpoint="https://graph.cloudapi.de",
            partner_center_endpoint="https://api.partnercenter.microsoft.com",
            partner_center_resource="https://api.partnercenter.microsoft.com",
            azure_portal_url="https://portal.microsoftazure.de",
            partner_center_portal_url="https://partnercenter.microsoft.com",
            retired_on=GERMANY_CLOSED_ON,
            aliases=("AzureGermanCloud",),
            key_vault_dns_suffix="vault.microsoftazure.de",
            key_vault_resource="https://vault.microsoftazure.de",
        ),
    )
}


def _normalise(name: str) -> str:
    """Case-insensitive, separator-insensitive form of a cloud name (``USGovDoD`` == ``usgov_dod``)."""
    return re.sub(r"[\s_\-]", "", name).lower()


_BY_NAME: dict[str, str] = {}
for _cloud in CLOUDS.values():
    for _alias in (_cloud.name,) + _cloud.aliases:
        _BY_NAME[_normalise(_alias)] = _cloud.name
del _cloud, _alias


def get_cloud(name: str) -> Cloud:
    """Look up a cloud by name or alias, retired ones included; raise ConfigurationError if unknown."""
    key = _BY_NAME.get(_normalise(name or ""))
    if key is None:
        raise ConfigurationError(
            "Unknown cloud %r. Valid values: %s (aliases: %s)."
            % (
                name,
                ", ".join(c.name for c in CLOUDS.values() if not c.retired),
                ", ".join(a for c in CLOUDS.values() if not c.retired for a in c.aliases),
            ),
            option="cloud",
        )
    return CLOUDS[key]


def resolve_cloud(name: str) -> Cloud:
    """The active cloud for ``name``; retired clouds are refused with a message naming the closure."""
    cloud = get_cloud(name)
    if cloud.retired_on is not None:
        raise ConfigurationError(
            "The cloud %r (%s) closed on %s and can no longer be used. Tenants that were migrated from "
            "Microsoft Cloud Deutschland now live in the global Azure cloud: use cloud: public for them."
            % (name, cloud.display_name, cloud.retired_on.isoformat()),
            option="cloud",
        )
    return cloud


def host_of(url_or_host: str) -> str:
    """Lower-case host[:port] of a URL, or of a bare host name."""
    text = (url_or_host or "").strip()
    if "//" not in text:
        text = "https://" + text
    return urlsplit(text).netloc.lower()


def _all_hosts(cloud: Cloud) -> set[str]:
    urls = list(cloud.endpoints().values()) + list(cloud.legacy_authority_hosts)
    urls += [cloud.graph_resource, cloud.partner_center_resource]
    return {host_of(u) for u in urls}


def clouds_for_host(url_or_host: str) -> tuple[Cloud, ...]:
    """Catalogued clouds whose real endpoints use this host (several share some hosts)."""
    host = host_of(url_or_host)
    return tuple(c for c in CLOUDS.values() if host in _all_hosts(c))


def _resources(cloud: Cloud) -> dict[str, str]:
    """The token resources of the cloud's services, by service."""
    return {"graph": cloud.graph_resource, "aad_graph": cloud.aad_graph_endpoint,
            "partner_center": cloud.partner_center_resource, "key_vault": cloud.key_vault_resource}


def clouds_for_resource(resource: str) -> tuple[Cloud, ...]:
    """Catalogued clouds with a token resource (Graph, Azure AD Graph, Partner Center, Key Vault) on
    this host; several clouds share some (Partner Center's, Azure AD Graph's)."""
    host = host_of(resource)
    return tuple(c for c in CLOUDS.values() if host in {host_of(r) for r in _resources(c).values() if r})


def is_partner_center_resource(resource: str) -> bool:
    """Whether ``resource`` is Partner Center's token resource in some cloud."""
    return any(host_of(resource) == host_of(c.partner_center_resource) for c in CLOUDS.values())


def _https_url(option: str, text: str, given: t.Any, why: str) -> t.Any:
    """``text`` split as an https URL with a host and without credentials, query or fragment, or a
    ConfigurationError naming ``option`` (``why`` completes the https message)."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ConfigurationError("%s is not a valid URL: %r (%s)." % (option, given, exc), option=option) from None
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ConfigurationError("%s must be an https:// URL, got %r (%s)." % (option, given, why), option=option)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError("%s must not contain credentials, a query or a fragment: %r." % (option, given), option=option)
    return parts


def check_endpoint_override(cloud: Cloud, option: str, url: str) -> str:
    """Validate a transport override of ``cloud`` and return it normalised (no trailing slash).

    Overrides change where requests go, never the cloud's identity: an https URL is required
    (a bare host is accepted for ``authority_host``, as Azure SDKs' AZURE_AUTHORITY_HOST does), and
    a URL that is another catalogued cloud's real endpoint is refused, because the tokens of one
    cloud are never valid in another.
    """
    text = (url or "").strip()
    if option == "authority_host" and "//" not in text:
        text = "https://" + text
    parts = _https_url(option, text, url, "TLS is required; it cannot be turned off")
    if option == "authority_host" and parts.path.strip("/"):
        raise ConfigurationError(
            "authority_host must be scheme://host[:port] without a path (the tenant is appended): %r." % url,
            option=option,
        )
    owners = clouds_for_host(text)
    if owners and cloud not in owners:
        names = ", ".join(c.name for c in owners if not c.retired) or ", ".join(c.name for c in owners)
        raise ConfigurationError(
            "%s %s is a real endpoint of another cloud (%s), but cloud is %r. A token of one cloud is never "
            "valid in another: set cloud to match the tenant, or remove the override."
            % (option, url, names, cloud.name),
            option=option,
        )
    return "%s://%s%s" % (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"))


def check_key_vault_url(cloud: Cloud, option: str, url: t.Any) -> str:
    """Validate a vault URL for ``cloud`` and return it without a trailing slash.

    https only, no credentials, query or fragment. A host under another cloud's Key Vault DNS suffix
    is refused: the tenant's secrets belong in a vault of its own cloud, and this cloud's token
    would not be accepted there. Other hosts (a private endpoint, a local stand-in) are accepted.
    """
    text = str(url or "").strip().rstrip("/")
    parts = _https_url(option, text, url, "such as https://contoso-pc.%s" % (cloud.key_vault_dns_suffix or "vault.azure.net"))
    host = str(parts.hostname).lower()
    for other in CLOUDS.values():
        suffix = other.key_vault_dns_suffix
        if suffix and suffix != cloud.key_vault_dns_suffix and (host == suffix or host.endswith("." + suffix)):
            raise ConfigurationError(
                "%s %s is a vault of %s, but the tenant is in %s: keep the secret in a vault of the tenant's own cloud "
                "(*.%s)." % (option, text, other.display_name, cloud.display_name, cloud.key_vault_dns_suffix),
                option=option,
            )
    return text
