# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GUIDs are checked by full match, in one place, by every caller."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _api_catalogue, _credentials, _ids, _permissions
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError

GUID = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"
# "$" also matches before a trailing newline: each of these passed a ^...$ pattern with .match.
NOT_GUIDS = [GUID + "\n", "\n" + GUID, GUID + " ", " " + GUID, GUID + "\r\n", GUID + "0", "{%s}" % GUID, GUID.replace("-", ""),
             GUID[:-1] + "g", "", None, 7, GUID.encode("ascii")]


@pytest.mark.parametrize("value", [GUID, GUID.upper(), "00000003-0000-0000-c000-000000000000"])
def test_guids(value):
    assert _ids.is_guid(value)
    assert _ids.require_guid(value, "app_id") == value.lower()


@pytest.mark.parametrize("value", NOT_GUIDS)
def test_not_guids(value):
    assert not _ids.is_guid(value)
    with pytest.raises(ConfigurationError) as caught:
        _ids.require_guid(value, "app_id")
    assert caught.value.option == "app_id" and "app_id must be a GUID" in str(caught.value)


def test_guid_pattern_is_not_anchored_so_only_fullmatch_works():
    """A caller of GUID_PATTERN.match() with a '$' pattern is what let "GUID\\n" through."""
    assert not _ids.GUID_PATTERN.pattern.endswith("$")
    assert _ids.GUID_PATTERN.fullmatch(GUID) and not _ids.GUID_PATTERN.fullmatch(GUID + "\n")


SECRET = "not-a-real-secret"


@pytest.mark.parametrize("option", ["client_id", "tenant_id"])
def test_auth_refuses_a_guid_with_a_newline(option):
    params = {"tenant_id": GUID, "client_id": GUID, "client_secret": SECRET, option: GUID + "\n"}
    with pytest.raises(ConfigurationError) as caught:
        _credentials.select_auth_method(_credentials.Credentials(**params))
    assert caught.value.option == option


@pytest.mark.parametrize("tenant", ["contoso.onmicrosoft.com\n", "contoso.onmicrosoft.com "])
def test_auth_refuses_a_tenant_domain_with_trailing_whitespace(tenant):
    with pytest.raises(ConfigurationError):
        _credentials.validate_tenant_id(tenant)


def test_managed_identity_client_id_with_a_newline_is_refused():
    with pytest.raises(ConfigurationError) as caught:
        _credentials.select_auth_method(_credentials.Credentials(managed_identity=GUID + "\n"))
    assert caught.value.option == "managed_identity"


def test_permissions_strip_names_so_no_newline_reaches_graph():
    """pc_aad_permissions strips each name (YAML block scalars end in a newline); the stripped GUID is what is used."""
    [request] = _permissions.validate_params({"permissions": [{"api": GUID + "\n", "application": [GUID.upper() + "\n"]}]})
    assert request.api == GUID and request.application == [GUID.upper()]
    assert _api_catalogue.looks_like_guid("7ab1d382-f21e-4acd") and not _api_catalogue.looks_like_guid("7ab1d382-f21e-4acd\nx")
