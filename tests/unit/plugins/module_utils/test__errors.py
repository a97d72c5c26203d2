# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Typed errors: the AADSTS500011 hint names the resource and the case that applies (issue 15)."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    AuthenticationError,
    resource_not_found_hint,
)

TENANT = "11111111-2222-3333-4444-555555555555"
PC_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
EMULATOR = "https://127.0.0.1:8443/" + TENANT


def not_found(resource: str, authority: str, *, given: str | None = None) -> AuthenticationError:
    """What msal returns for AADSTS500011, as the token provider turns it into an error."""
    description = (
        "AADSTS500011: The resource principal named %s was not found in the tenant named Contoso. This can happen if the "
        "application has not been installed by the administrator of the tenant or consented to by any user in the tenant. "
        "You might have sent your authentication request to the wrong tenant.\r\nTrace ID: t\r\nCorrelation ID: c" % resource
    )
    return AuthenticationError.from_msal_result(
        {"error": "invalid_resource", "error_description": description, "error_codes": [500011], "trace_id": "t",
         "correlation_id": "c"},
        authority=authority,
        resource=given if given is not None else resource,
    )


PARTNER_CENTER_MISSING = (
    "Microsoft Partner Center's service principal (appId %s) is missing in this tenant, so no token for %s can be issued. "
    "To create it, run partnercenter.national_cloud.pc_register_webapp (create_partner_center_service_principal=true) or "
    "partnercenter.national_cloud.pc_aad_permissions with a Partner Center permission and admin_consent=true; an admin's "
    "first sign-in to Partner Center creates it too."
)


@pytest.mark.parametrize(
    ("resource", "authority"),
    [
        ("https://api.partnercenter.microsoft.com", "https://login.microsoftonline.com/" + TENANT),
        ("https://api.partnercenter.microsoft.com", "https://login.microsoftonline.us/" + TENANT),
        ("https://partner.partnercenterapi.microsoftonline.cn", "https://login.partner.microsoftonline.cn/" + TENANT),
        ("https://api.partnercenter.microsoft.com", EMULATOR),  # an overridden authority: its cloud is unknown
        (PC_APP_ID, "https://login.microsoftonline.com/" + TENANT),
    ],
)
def test_partner_centers_service_principal_is_missing(resource, authority):
    error = not_found(resource, authority)
    assert error.hint == PARTNER_CENTER_MISSING % (PC_APP_ID, resource)
    text = error.to_message()
    assert text.startswith("Could not get an access token for %s at %s." % (resource, authority))
    assert PARTNER_CENTER_MISSING % (PC_APP_ID, resource) in text and "another cloud" not in text
    assert text.count("AADSTS500011") == 1 and "(trace ID: t, correlation ID: c)" in text


@pytest.mark.parametrize(
    ("resource", "authority", "owner", "asked"),
    [
        ("https://graph.microsoft.us", "https://login.microsoftonline.com/" + TENANT,
         "Azure Government (GCC High / L4) (cloud usgov)", "Azure public cloud (global) (cloud public)"),
        ("https://microsoftgraph.chinacloudapi.cn", "https://login.microsoftonline.us/" + TENANT,
         "Azure operated by 21Vianet (China) (cloud china)",
         "Azure Government (GCC High / L4) (cloud usgov) or Azure Government DoD (L5) (cloud usgov_dod)"),
        # Partner Center's resource of the global cloud (shared with US Government; Germany is closed), asked in China.
        ("https://api.partnercenter.microsoft.com", "https://login.partner.microsoftonline.cn/" + TENANT,
         "Azure public cloud (global) (cloud public) or Azure Government (GCC High / L4) (cloud usgov) or "
         "Azure Government DoD (L5) (cloud usgov_dod)", "Azure operated by 21Vianet (China) (cloud china)"),
        ("https://partner.partnercenterapi.microsoftonline.cn", "https://login.microsoftonline.com/" + TENANT,
         "Azure operated by 21Vianet (China) (cloud china)", "Azure public cloud (global) (cloud public)"),
    ],
)
def test_a_resource_of_another_cloud_names_both_clouds(resource, authority, owner, asked):
    error = not_found(resource, authority)
    assert error.hint == (
        "The resource %s belongs to %s, but the token was asked at the authority of %s, which issues tokens only for its "
        "own cloud: set the option cloud to the tenant's cloud." % (resource, owner, asked)
    )
    assert "Partner Center's service principal" not in error.to_message()


def test_dod_and_gcc_high_share_an_authority_so_their_resources_are_no_other_cloud():
    hint = not_found("https://dod-graph.microsoft.us", "https://login.microsoftonline.us/" + TENANT).hint
    assert hint == (
        "The resource https://dod-graph.microsoft.us has no service principal in this tenant: the API was never added to "
        "the tenant (an administrator adds it by consenting to it), or it belongs to another cloud: check the option cloud."
    )


def test_another_api_or_an_unknown_authority_names_the_resource():
    for resource, authority in (("https://vault.azure.net", EMULATOR), ("api://contoso-payroll", "managed identity endpoint")):
        assert not_found(resource, authority).hint == (
            "The resource %s has no service principal in this tenant: the API was never added to the tenant (an "
            "administrator adds it by consenting to it), or it belongs to another cloud: check the option cloud." % resource
        )


def test_the_resource_is_taken_from_the_description_when_not_given():
    error = not_found("https://api.partnercenter.microsoft.com", EMULATOR, given="")
    assert error.resource == ""
    assert error.hint == PARTNER_CENTER_MISSING % (PC_APP_ID, "https://api.partnercenter.microsoft.com")
    assert resource_not_found_hint(None, None) == (
        "The resource has no service principal in this tenant: it was never added to the tenant, or it belongs to another "
        "cloud: check the option cloud."
    )


def test_a_hint_given_by_the_caller_is_kept():
    error = AuthenticationError("x", error_codes=["AADSTS500011"], resource="https://graph.microsoft.com", hint="Mine.")
    assert error.hint == "Mine."
