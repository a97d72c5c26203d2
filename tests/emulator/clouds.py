"""The clouds the emulator plays, with the real identifiers their services use.

The emulator listens on 127.0.0.1 only; these are the *real* names that appear inside
tokens and discovery documents (issuers, audiences, domains), so that clients see what
they would see in each cloud. Endpoints per cloud:
https://learn.microsoft.com/graph/deployments and
https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud
Key Vault per cloud (DNS suffix of vaults = token resource): the table "DNS suffixes for object
identifiers" of https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates ,
and the same values in Azure PowerShell's environments (AzureKeyVaultDnsSuffix,
AzureKeyVaultServiceEndpointResourceId) and azure-identity's cloud constants.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmulatedCloud:
    """Identifiers of one cloud as its real services publish them."""

    name: str
    login_host: str
    # Issuer of v1 access tokens (Graph and Partner Center accept v1 tokens): sts.windows.net
    # for the global and US Government clouds, sts.chinacloudapi.cn for 21Vianet (the issuer
    # prefixes Azure/Azurite accepts per cloud), https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
    sts_issuer: str
    graph_resource: str
    aad_graph_resource: str
    partner_center_resource: str
    tenant_domain_suffix: str
    cloud_instance_name: str
    tenant_region_scope: str
    graph_host: str
    tenant_region_sub_scope: str | None = None
    # Azure Key Vault: the token resource (audience) and the DNS suffix of the cloud's vaults.
    key_vault_resource: str = ""
    key_vault_dns_suffix: str = ""

    def v2_issuer(self, tenant_id: str) -> str:
        """Issuer of the tenant's v2.0 OIDC discovery document and id tokens."""
        return f"https://{self.login_host}/{tenant_id}/v2.0"

    def access_token_issuer(self, tenant_id: str) -> str:
        """Issuer (`iss`) of v1 access tokens for this tenant."""
        return self.sts_issuer.format(tenant_id=tenant_id)


CLOUDS: dict[str, EmulatedCloud] = {
    "public": EmulatedCloud(
        name="public",
        login_host="login.microsoftonline.com",
        sts_issuer="https://sts.windows.net/{tenant_id}/",
        graph_resource="https://graph.microsoft.com",
        aad_graph_resource="https://graph.windows.net",
        partner_center_resource="https://api.partnercenter.microsoft.com",
        tenant_domain_suffix="onmicrosoft.com",
        cloud_instance_name="microsoftonline.com",
        tenant_region_scope="NA",
        graph_host="graph.microsoft.com",
        key_vault_resource="https://vault.azure.net",
        key_vault_dns_suffix="vault.azure.net",
    ),
    "usgov": EmulatedCloud(
        name="usgov",
        login_host="login.microsoftonline.us",
        sts_issuer="https://sts.windows.net/{tenant_id}/",
        graph_resource="https://graph.microsoft.us",
        aad_graph_resource="https://graph.windows.net",
        partner_center_resource="https://api.partnercenter.microsoft.com",
        tenant_domain_suffix="onmicrosoft.us",
        cloud_instance_name="microsoftonline.us",
        tenant_region_scope="USGov",
        tenant_region_sub_scope="DODCON",
        graph_host="graph.microsoft.us",
        key_vault_resource="https://vault.usgovcloudapi.net",
        key_vault_dns_suffix="vault.usgovcloudapi.net",
    ),
    "usgov_dod": EmulatedCloud(
        name="usgov_dod",
        login_host="login.microsoftonline.us",
        sts_issuer="https://sts.windows.net/{tenant_id}/",
        graph_resource="https://dod-graph.microsoft.us",
        aad_graph_resource="https://graph.windows.net",
        partner_center_resource="https://api.partnercenter.microsoft.com",
        tenant_domain_suffix="onmicrosoft.us",
        cloud_instance_name="microsoftonline.us",
        tenant_region_scope="USGov",
        tenant_region_sub_scope="DOD",
        graph_host="dod-graph.microsoft.us",
        key_vault_resource="https://vault.usgovcloudapi.net",
        key_vault_dns_suffix="vault.usgovcloudapi.net",
    ),
    "china": EmulatedCloud(
        name="china",
        login_host="login.partner.microsoftonline.cn",
        sts_issuer="https://sts.chinacloudapi.cn/{tenant_id}/",
        graph_resource="https://microsoftgraph.chinacloudapi.cn",
        aad_graph_resource="https://graph.chinacloudapi.cn",
        partner_center_resource="https://partner.partnercenterapi.microsoftonline.cn",
        tenant_domain_suffix="partner.onmschina.cn",
        cloud_instance_name="partner.microsoftonline.cn",
        tenant_region_scope="AS",
        graph_host="microsoftgraph.chinacloudapi.cn",
        key_vault_resource="https://vault.azure.cn",
        key_vault_dns_suffix="vault.azure.cn",
    ),
}

DEFAULT_CLOUDS = ("public", "usgov", "usgov_dod", "china")
SERVICES = ("identity", "graph", "partner_center", "key_vault")
