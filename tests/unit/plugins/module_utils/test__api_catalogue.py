# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The API catalogue and name resolution: names of APIs and permissions, the well-known definitions
(real Microsoft Graph definitions, no network)."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _api_catalogue as catalogue
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError

DATA = Path(__file__).resolve().parents[3] / "emulator" / "data"
GRAPH = catalogue.GRAPH_APP_ID
AAD = catalogue.AAD_GRAPH_APP_ID
PC = catalogue.PARTNER_CENTER_APP_ID
USER_READ = "e1fe6dd8-ba31-4d61-89e7-88639da4683d"
DIR_READ_SCOPE = "06da0dbc-49e2-44d2-8312-53f166ab848a"
DIR_READ_ROLE = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"
GROUP_READ_ROLE = "5b567255-7703-4780-807c-7be8301ae99b"
PC_SCOPE = "1cebfa2a-fb4d-419e-b5f9-839b4383e05a"


def first_party(name: str) -> dict:
    with (DATA / name).open(encoding="utf-8") as handle:
        data = json.load(handle)
    return {
        "id": str(uuid.uuid4()),
        "appId": data["appId"],
        "displayName": data["displayName"],
        "appRoles": data["appRoles"],
        "oauth2PermissionScopes": data["oauth2PermissionScopes"],
    }


MS_GRAPH_SP = first_party("microsoft_graph.json")
AAD_GRAPH_SP = first_party("azure_ad_graph.json")
PC_SP = first_party("partner_center.json")


@pytest.fixture
def graph_resource():
    return catalogue.Resource.from_service_principal(MS_GRAPH_SP)


# -------------------------------------------------------------------------------------------------
# Names
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Access the directory as the signed-in user", "Access directory as the signed in user"),
        ("Sign in and read user profile", "sign-in and read user profile"),
        ("Read your organization's policies", "Read your organizations policies"),
        ("Read all groups", "  READ  ALL   GROUPS "),
        ("Access Partner Center", "access partner-center"),
    ],
)
def test_normalise_makes_the_procedure_labels_match(left, right):
    assert catalogue.normalise(left) == catalogue.normalise(right)


def test_normalise_keeps_words_apart():
    assert catalogue.normalise("Read all groups") != catalogue.normalise("Read and write all groups")
    assert catalogue.normalise("Directory.Read.All") == "directory read all"


@pytest.mark.parametrize(
    ("name", "ptype", "value"),
    [
        ("Directory.Read.All", catalogue.SCOPE, "Directory.Read.All"),
        ("directory.read.all", catalogue.ROLE, "Directory.Read.All"),
        ("Read directory data", catalogue.SCOPE, "Directory.Read.All"),  # a scope and a role share the name
        ("Read directory data", catalogue.ROLE, "Directory.Read.All"),
        ("Access the directory as the signed-in user", catalogue.SCOPE, "Directory.AccessAsUser.All"),
        ("Sign in and read user profile", catalogue.SCOPE, "User.Read"),
        ("Read all groups", catalogue.SCOPE, "Group.Read.All"),
        (USER_READ, catalogue.SCOPE, "User.Read"),
        (USER_READ.upper(), catalogue.SCOPE, "User.Read"),
        (DIR_READ_ROLE, catalogue.ROLE, "Directory.Read.All"),
    ],
)
def test_resolve_by_value_display_name_or_id(graph_resource, name, ptype, value):
    permission = graph_resource.resolve(name, ptype)
    assert permission.value == value and permission.type == ptype and permission.api_app_id == GRAPH
    assert permission.id == permission.id.lower()


def test_read_directory_data_resolves_to_different_ids_per_type(graph_resource):
    assert graph_resource.resolve("Read directory data", catalogue.SCOPE).id == DIR_READ_SCOPE
    assert graph_resource.resolve("Read directory data", catalogue.ROLE).id == DIR_READ_ROLE


PC_LABELS = ("Access Partner Center PPE", "Access Partner Center", "Access Partner Center API")


def test_partner_center_labels():
    resource = catalogue.Resource.from_service_principal(PC_SP)
    for name in PC_LABELS + ("user_impersonation", PC_SCOPE, "access partner-center api"):
        assert resource.resolve(name, catalogue.SCOPE).id == PC_SCOPE
    # The label belongs to Partner Center only.
    with pytest.raises(ConfigurationError):
        catalogue.Resource.from_service_principal(MS_GRAPH_SP).resolve("Access Partner Center PPE", catalogue.SCOPE)


@pytest.mark.parametrize("label", PC_LABELS)
def test_every_label_of_microsofts_documents_names_user_impersonation(label):
    """Whatever the tenant's service principal calls the scope, and without one (well-known definitions)."""
    renamed = copy.deepcopy(PC_SP)
    renamed["oauth2PermissionScopes"][0]["adminConsentDisplayName"] = "Partner Center access"
    for resource in (catalogue.Resource.from_service_principal(renamed), catalogue.Resource.from_catalogue(PC)):
        permission = resource.resolve(label, catalogue.SCOPE)
        assert (permission.id, permission.value, permission.type) == (PC_SCOPE, "user_impersonation", catalogue.SCOPE)
    with pytest.raises(ConfigurationError, match="is a delegated permission of Microsoft Partner Center"):
        catalogue.Resource.from_service_principal(PC_SP).resolve(label, catalogue.ROLE)
    with pytest.raises(ConfigurationError, match="Unknown delegated permission"):
        catalogue.Resource.from_service_principal(AAD_GRAPH_SP).resolve(label, catalogue.SCOPE)


def test_procedure_labels_resolve_in_azure_ad_graph_too():
    resource = catalogue.Resource.from_service_principal(AAD_GRAPH_SP)
    assert resource.resolve("Access the directory as the signed-in user", catalogue.SCOPE).value == "Directory.AccessAsUser.All"
    assert resource.resolve("Read directory data", catalogue.ROLE).id == "5778995a-e1bf-45b8-affa-663a9f3f4d04"
    assert resource.resolve("Read directory data", catalogue.SCOPE).id == "5778995a-e1bf-45b8-affa-663a9f3f4d04"


def test_ambiguous_display_name_names_both_values(graph_resource):
    with pytest.raises(ConfigurationError) as err:
        graph_resource.resolve("Read all chat messages", catalogue.ROLE)
    message = err.value.to_message()
    assert "Chat.Read.All" in message and "ChatMessage.Read.All" in message and "matches 2" in message
    # The values themselves are unambiguous.
    assert graph_resource.resolve("ChatMessage.Read.All", catalogue.ROLE).value == "ChatMessage.Read.All"


def test_unknown_name_suggests_the_closest(graph_resource):
    with pytest.raises(ConfigurationError) as err:
        graph_resource.resolve("Read directry data", catalogue.ROLE)
    message = err.value.to_message()
    assert "Unknown application permission 'Read directry data'" in message
    assert "Directory.Read.All (Read directory data)" in message
    with pytest.raises(ConfigurationError, match=r"Directory\.Read\.All"):
        graph_resource.resolve("Directry.Read.All", catalogue.SCOPE)
    assert graph_resource.suggestions("zzzzzzzzzzzzzzzzzz", catalogue.SCOPE) == []


def test_wrong_type_gets_a_hint(graph_resource):
    with pytest.raises(ConfigurationError, match="is a delegated permission of Microsoft Graph.*list it under delegated"):
        graph_resource.resolve("User.Read", catalogue.ROLE)
    with pytest.raises(ConfigurationError, match="list it under application"):
        graph_resource.resolve(DIR_READ_ROLE, catalogue.SCOPE)


def test_unknown_id_and_disabled_permission():
    sp = copy.deepcopy(PC_SP)
    sp["oauth2PermissionScopes"][0]["isEnabled"] = False
    resource = catalogue.Resource.from_service_principal(sp)
    with pytest.raises(ConfigurationError, match="is disabled"):
        resource.resolve("user_impersonation", catalogue.SCOPE)
    with pytest.raises(ConfigurationError, match="Unknown delegated permission"):
        resource.resolve("00000000-0000-0000-0000-000000000001", catalogue.SCOPE)


def test_roles_only_for_users_are_not_application_permissions():
    sp = copy.deepcopy(PC_SP)
    sp["appRoles"] = [{"id": str(uuid.uuid4()), "value": "Admin", "displayName": "Admin", "isEnabled": True,
                       "allowedMemberTypes": ["User"]}]
    with pytest.raises(ConfigurationError, match="Unknown application permission"):
        catalogue.Resource.from_service_principal(sp).resolve("Admin", catalogue.ROLE)


def test_well_known_definitions_match_the_real_service_principals():
    for app_id, sp in ((GRAPH, MS_GRAPH_SP), (AAD, AAD_GRAPH_SP), (PC, PC_SP)):
        live = catalogue.Resource.from_service_principal(sp)
        known = catalogue.Resource.from_catalogue(app_id)
        assert known.well_known and known.sp_id is None and known.display_name == live.display_name
        for ptype in (catalogue.SCOPE, catalogue.ROLE):
            for entry in known.definitions(ptype):
                assert live.permission(entry["id"], ptype) == known.permission(entry["id"], ptype), entry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00000003-0000-0000-c000-000000000000", True),
        ("00000003-0000-0000-c000-00000000000", True),
        ("{00000003-0000-0000-c000-000000000000}", True),
        ("7ab1d382-f21e-4acd", True),
        ("Directory.Read.All", False),
        ("user_impersonation", False),
        ("Read directory data", False),
        ("Microsoft Graph", False),
    ],
)
def test_looks_like_guid(text, expected):
    assert catalogue.looks_like_guid(text) is expected
