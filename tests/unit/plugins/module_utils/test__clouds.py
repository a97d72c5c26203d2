# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The cloud catalog against the reference table (reference/microsoft-clouds.md §1.1)."""

from __future__ import annotations

import datetime
import os
import re

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _clouds, _version
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError

# Expected values, copied from the reference table, one row per cloud.
EXPECTED = {
    "public": {
        "authority_host": "https://login.microsoftonline.com",
        "graph_endpoint": "https://graph.microsoft.com",
        "graph_resource": "https://graph.microsoft.com",
        "aad_graph_endpoint": "https://graph.windows.net",
        "partner_center_endpoint": "https://api.partnercenter.microsoft.com",
        "partner_center_resource": "https://api.partnercenter.microsoft.com",
        "azure_portal_url": "https://portal.azure.com",
        "partner_center_portal_url": "https://partner.microsoft.com",
        "retired_on": None,
    },
    "usgov": {
        "authority_host": "https://login.microsoftonline.us",
        "graph_endpoint": "https://graph.microsoft.us",
        "graph_resource": "https://graph.microsoft.us",
        "aad_graph_endpoint": "https://graph.windows.net",
        "partner_center_endpoint": "https://api.partnercenter.microsoft.com",
        "partner_center_resource": "https://api.partnercenter.microsoft.com",
        "azure_portal_url": "https://portal.azure.us",
        "partner_center_portal_url": "https://partnercenter.microsoft.com",
        "retired_on": None,
    },
    "usgov_dod": {
        "authority_host": "https://login.microsoftonline.us",
        "graph_endpoint": "https://dod-graph.microsoft.us",
        "graph_resource": "https://dod-graph.microsoft.us",
        "aad_graph_endpoint": "https://graph.windows.net",
        "partner_center_endpoint": "https://api.partnercenter.microsoft.com",
        "partner_center_resource": "https://api.partnercenter.microsoft.com",
        "azure_portal_url": "https://portal.azure.us",
        "partner_center_portal_url": "https://partnercenter.microsoft.com",
        "retired_on": None,
    },
    "china": {
        "authority_host": "https://login.partner.microsoftonline.cn",
        "graph_endpoint": "https://microsoftgraph.chinacloudapi.cn",
        "graph_resource": "https://microsoftgraph.chinacloudapi.cn",
        "aad_graph_endpoint": "https://graph.chinacloudapi.cn",
        "partner_center_endpoint": "https://partner.partnercenterapi.microsoftonline.cn",
        "partner_center_resource": "https://partner.partnercenterapi.microsoftonline.cn",
        "azure_portal_url": "https://portal.azure.cn",
        "partner_center_portal_url": "https://partner.partnercenter.microsoftonline.cn",
        "retired_on": None,
    },
    "germany": {
        "authority_host": "https://login.microsoftonline.de",
        "graph_endpoint": "https://graph.microsoft.de",
        "graph_resource": "https://graph.microsoft.de",
        "aad_graph_endpoint": "https://graph.cloudapi.de",
        "partner_center_endpoint": "https://api.partnercenter.microsoft.com",
        "partner_center_resource": "https://api.partnercenter.microsoft.com",
        "azure_portal_url": "https://portal.microsoftazure.de",
        "partner_center_portal_url": "https://partnercenter.microsoft.com",
        "retired_on": datetime.date(2021, 10, 29),
    },
}


def test_catalog_has_exactly_the_five_clouds_in_order():
    assert list(_clouds.CLOUDS) == ["public", "usgov", "usgov_dod", "china", "germany"]


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [(name, field, value) for name, row in EXPECTED.items() for field, value in row.items()],
)
def test_catalog_values_match_reference(name, field, value):
    assert getattr(_clouds.CLOUDS[name], field) == value


def test_china_keeps_legacy_authority_alias():
    assert "https://login.chinacloudapi.cn" in _clouds.CLOUDS["china"].legacy_authority_hosts


def test_clouds_are_frozen():
    with pytest.raises(Exception):
        _clouds.CLOUDS["public"].graph_endpoint = "https://example.com"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("public", "public"),
        ("AzureCloud", "public"),
        ("azurecloud", "public"),
        ("AZUREPUBLICCLOUD", "public"),
        ("global", "public"),
        ("Global", "public"),
        ("usgov", "usgov"),
        ("AzureUSGovernment", "usgov"),
        ("usgovernment", "usgov"),
        ("usgovernmentl4", "usgov"),
        ("gcchigh", "usgov"),
        ("GCC-High", "usgov"),
        ("USGov", "usgov"),
        ("usgov_dod", "usgov_dod"),
        ("USGovDoD", "usgov_dod"),
        ("usgov-dod", "usgov_dod"),
        ("dod", "usgov_dod"),
        ("usgovernmentl5", "usgov_dod"),
        ("USGovernmentDoD", "usgov_dod"),
        ("china", "china"),
        ("AzureChinaCloud", "china"),
        ("china21vianet", "china"),
        (" China ", "china"),
    ],
)
def test_aliases_resolve_case_insensitively(alias, name):
    assert _clouds.resolve_cloud(alias).name == name


@pytest.mark.parametrize("alias", ["germany", "AzureGermanCloud", "azuregermancloud"])
def test_germany_is_recognised_and_refused(alias):
    assert _clouds.get_cloud(alias).name == "germany"
    with pytest.raises(ConfigurationError) as err:
        _clouds.resolve_cloud(alias)
    text = err.value.to_message()
    assert "2021-10-29" in text
    assert "cloud: public" in text
    assert "migrated" in text
    assert err.value.option == "cloud"


@pytest.mark.parametrize("name", ["mars", "", "azure", "AzureUSGovernmentDoD2"])
def test_unknown_cloud_lists_valid_names(name):
    with pytest.raises(ConfigurationError) as err:
        _clouds.resolve_cloud(name)
    text = err.value.to_message()
    for valid in ("public", "usgov", "usgov_dod", "china", "AzureCloud", "AzureUSGovernment"):
        assert valid in text
    assert "Valid values: public, usgov, usgov_dod, china " in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://graph.microsoft.us", {"usgov"}),
        ("https://graph.microsoft.us/v1.0/applications", {"usgov"}),
        ("graph.microsoft.us", {"usgov"}),
        ("https://dod-graph.microsoft.us", {"usgov_dod"}),
        ("https://login.microsoftonline.us", {"usgov", "usgov_dod"}),
        ("https://login-us.microsoftonline.com", {"usgov"}),
        ("https://LOGIN.chinacloudapi.cn/", {"china"}),
        ("https://login.partner.microsoftonline.cn", {"china"}),
        ("https://api.partnercenter.microsoft.com", {"public", "usgov", "usgov_dod", "germany"}),
        ("https://graph.microsoft.com", {"public"}),
        ("https://login.microsoftonline.de", {"germany"}),
        ("https://127.0.0.1:8443", set()),
        ("https://example.com", set()),
    ],
)
def test_clouds_for_host(url, expected):
    assert {c.name for c in _clouds.clouds_for_host(url)} == expected


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ("https://graph.microsoft.us", ["usgov"]),
        ("https://dod-graph.microsoft.us/", ["usgov_dod"]),
        ("https://api.partnercenter.microsoft.com", ["public", "usgov", "usgov_dod", "germany"]),
        ("https://partner.partnercenterapi.microsoftonline.cn", ["china"]),
        ("https://vault.usgovcloudapi.net", ["usgov", "usgov_dod"]),
        ("https://graph.windows.net", ["public", "usgov", "usgov_dod"]),
        ("https://127.0.0.1:8443", []),
        ("api://contoso", []),
    ],
)
def test_clouds_for_resource(resource, expected):
    assert [c.name for c in _clouds.clouds_for_resource(resource)] == expected


def test_partner_center_resources():
    assert all(_clouds.is_partner_center_resource(c.partner_center_resource + "/") for c in _clouds.CLOUDS.values())
    assert not _clouds.is_partner_center_resource("https://graph.microsoft.com")
    assert not _clouds.is_partner_center_resource("https://partner.microsoft.com")  # the portal, not the API


PUBLIC = _clouds.CLOUDS["public"]
USGOV = _clouds.CLOUDS["usgov"]


@pytest.mark.parametrize(
    ("cloud", "option", "url", "normalised"),
    [
        (PUBLIC, "graph_endpoint", "https://127.0.0.1:8443/graph/public/", "https://127.0.0.1:8443/graph/public"),
        (USGOV, "graph_endpoint", "https://graph.microsoft.us/", "https://graph.microsoft.us"),
        (USGOV, "authority_host", "login.microsoftonline.us", "https://login.microsoftonline.us"),
        (
            _clouds.CLOUDS["usgov_dod"],
            "authority_host",
            "https://login.microsoftonline.us",
            "https://login.microsoftonline.us",
        ),
        (PUBLIC, "partner_center_endpoint", "https://LOCALHOST:9000", "https://localhost:9000"),
        (
            USGOV,
            "partner_center_endpoint",
            "https://api.partnercenter.microsoft.com",
            "https://api.partnercenter.microsoft.com",
        ),
    ],
)
def test_override_accepted(cloud, option, url, normalised):
    assert _clouds.check_endpoint_override(cloud, option, url) == normalised


@pytest.mark.parametrize(
    ("cloud", "option", "url", "fragment"),
    [
        (PUBLIC, "graph_endpoint", "https://graph.microsoft.us", "another cloud (usgov)"),
        (PUBLIC, "graph_endpoint", "https://dod-graph.microsoft.us/", "another cloud (usgov_dod)"),
        (USGOV, "authority_host", "https://login.microsoftonline.com", "another cloud (public)"),
        (USGOV, "graph_endpoint", "https://dod-graph.microsoft.us", "another cloud (usgov_dod)"),
        (PUBLIC, "authority_host", "https://login.chinacloudapi.cn", "another cloud (china)"),
        (PUBLIC, "partner_center_endpoint", "https://partner.partnercenterapi.microsoftonline.cn", "(china)"),
        (PUBLIC, "graph_endpoint", "http://127.0.0.1:8080", "must be an https:// URL"),
        (PUBLIC, "graph_endpoint", "127.0.0.1:8080", "must be an https:// URL"),
        (PUBLIC, "graph_endpoint", "https://127.0.0.1:8080/?x=1", "query"),
        (PUBLIC, "graph_endpoint", "https://user:pw@127.0.0.1:8080", "credentials"),
        (PUBLIC, "authority_host", "https://127.0.0.1:8080/tenant", "without a path"),
        (PUBLIC, "graph_endpoint", "https://127.0.0.1:99999", "not a valid URL"),
    ],
)
def test_override_refused(cloud, option, url, fragment):
    with pytest.raises(ConfigurationError) as err:
        _clouds.check_endpoint_override(cloud, option, url)
    assert fragment in err.value.to_message()
    assert err.value.option == option


def test_aliases_are_unambiguous():
    seen: dict[str, str] = {}
    for cloud in _clouds.CLOUDS.values():
        for alias in (cloud.name,) + cloud.aliases:
            key = re.sub(r"[\s_\-]", "", alias).lower()
            assert seen.setdefault(key, cloud.name) == cloud.name


def test_version_constant_matches_galaxy_yml():
    galaxy = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "galaxy.yml")
    with open(galaxy, encoding="utf-8") as handle:
        match = re.search(r"^version:\s*(\S+)", handle.read(), re.M)
    assert match and match.group(1) == _version.COLLECTION_VERSION


@pytest.mark.parametrize(("cloud", "url", "expected"), [
    ("public", "https://contoso-pc.vault.azure.net/", "https://contoso-pc.vault.azure.net"),
    ("usgov", "https://contoso-pc.vault.usgovcloudapi.net", "https://contoso-pc.vault.usgovcloudapi.net"),
    ("usgov_dod", "https://contoso-pc.vault.usgovcloudapi.net", "https://contoso-pc.vault.usgovcloudapi.net"),
    ("china", "https://contoso-pc.vault.azure.cn", "https://contoso-pc.vault.azure.cn"),
    ("usgov", "https://127.0.0.1:8443/contoso-kv", "https://127.0.0.1:8443/contoso-kv"),  # a private endpoint or stand-in
])
def test_key_vault_urls_of_the_tenants_cloud_are_accepted(cloud, url, expected):
    assert _clouds.check_key_vault_url(_clouds.CLOUDS[cloud], "store.vault_url", url) == expected


@pytest.mark.parametrize(("cloud", "url", "fragment"), [
    ("usgov", "https://contoso-pc.vault.azure.net", "is a vault of Azure public cloud"),
    ("public", "https://contoso-pc.vault.usgovcloudapi.net", "is a vault of Azure Government"),
    ("china", "https://contoso.VAULT.AZURE.NET", "is a vault of Azure public cloud"),
    ("public", "http://contoso-pc.vault.azure.net", "must be an https:// URL"),
    ("public", "https://user:pw@contoso-pc.vault.azure.net", "must not contain credentials"),
    ("public", "https://contoso-pc.vault.azure.net:99999", "is not a valid URL"),
])
def test_key_vault_urls_of_another_cloud_or_malformed_are_refused(cloud, url, fragment):
    with pytest.raises(ConfigurationError, match=fragment) as caught:
        _clouds.check_key_vault_url(_clouds.CLOUDS[cloud], "store.vault_url", url)
    assert caught.value.option == "store.vault_url"
