# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The emulator's facts and the collection's agree (issue 13).

They are kept apart on purpose, so that the emulator stays an independent check of the collection:
tests/emulator/clouds.py and data/*.json on one side, _clouds.py, _ids.py, WELL_KNOWN and the roles'
permission sets on the other. Any disagreement is a bug on one side, to be settled from Microsoft's
documentation, not by copying one side into the other.
"""

from __future__ import annotations

import typing as t
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _api_catalogue, _clouds, _ids
from tests.emulator import clouds as emulated_clouds
from tests.emulator import firstparty
from tests.emulator.schema import DEPLOYMENT_OF_CLOUD

ROOT = Path(__file__).resolve().parents[2]
ACTIVE = [c for c in _clouds.CLOUDS.values() if not c.retired]
TENANT, OBJECT = str(uuid.uuid4()), str(uuid.uuid4())


def host(url: str) -> str:
    return urlsplit(url).hostname or ""


# Clouds: names, hosts, resources, aliases ---------------------------------------------------------
def test_the_same_active_clouds_everywhere():
    names = {c.name for c in ACTIVE}
    assert set(emulated_clouds.CLOUDS) == names == set(emulated_clouds.DEFAULT_CLOUDS)
    assert set(firstparty.CLOUD_NAMES) == set(firstparty.APP_OWNER_ORGANIZATION_IDS) == set(DEPLOYMENT_OF_CLOUD) == names


@pytest.mark.parametrize("cloud", ACTIVE, ids=lambda c: c.name)
def test_hosts_and_resources_of_each_cloud(cloud):
    emulated = emulated_clouds.CLOUDS[cloud.name]
    assert host(cloud.authority_host) == emulated.login_host
    assert host(cloud.graph_endpoint) == emulated.graph_host
    assert cloud.graph_resource == emulated.graph_resource
    assert cloud.aad_graph_endpoint == emulated.aad_graph_resource
    assert cloud.partner_center_resource == emulated.partner_center_resource
    assert host(cloud.partner_center_endpoint) == host(emulated.partner_center_resource)


@pytest.mark.parametrize("cloud", ACTIVE, ids=lambda c: c.name)
def test_names_and_aliases_resolve_to_the_emulated_cloud(cloud):
    assert _clouds.resolve_cloud(cloud.name).name == cloud.name
    for alias in cloud.aliases:
        resolved = _clouds.resolve_cloud(alias).name
        assert resolved == cloud.name and (alias not in emulated_clouds.CLOUDS or alias == cloud.name), alias


@pytest.mark.parametrize("cloud", ACTIVE, ids=lambda c: c.name)
def test_token_resources_are_service_principal_names_of_the_emulated_first_party_apps(cloud):
    """A token for a resource URI is issued for the service principal that has it among its names."""
    names = {app_id: set(app.service_principal_names[cloud.name]) for app_id, app in firstparty.FIRST_PARTY_APPS.items()}
    assert cloud.graph_resource in names[_ids.GRAPH_APP_ID]
    assert cloud.aad_graph_endpoint in names[_ids.AAD_GRAPH_APP_ID]
    assert cloud.partner_center_resource in names[_ids.PARTNER_CENTER_APP_ID]


# First-party apps and permissions -------------------------------------------------------------------
def test_first_party_app_ids():
    assert (_ids.GRAPH_APP_ID, _ids.AAD_GRAPH_APP_ID, _ids.PARTNER_CENTER_APP_ID) == (
        firstparty.MICROSOFT_GRAPH_APP_ID, firstparty.AZURE_AD_GRAPH_APP_ID, firstparty.PARTNER_CENTER_APP_ID)
    assert set(_api_catalogue.WELL_KNOWN) <= set(firstparty.FIRST_PARTY_APPS)


def emulated_service_principal(cloud: str, app_id: str) -> dict[str, t.Any]:
    return firstparty.FIRST_PARTY_APPS[app_id].service_principal(cloud, TENANT, OBJECT)


@pytest.mark.parametrize("cloud", [c.name for c in ACTIVE])
@pytest.mark.parametrize("app_id", sorted(_api_catalogue.WELL_KNOWN))
def test_well_known_permissions_exist_with_the_same_ids_in_each_cloud(cloud, app_id):
    known = _api_catalogue.WELL_KNOWN[app_id]
    sp = emulated_service_principal(cloud, app_id)
    assert sp["appId"] == app_id and sp["displayName"] == known["displayName"]
    scopes = {s["id"]: s for s in sp["oauth2PermissionScopes"]}
    for scope in known["oauth2PermissionScopes"]:
        emulated = scopes.get(scope["id"])
        assert emulated is not None, f"{cloud}: scope {scope['value']} {scope['id']} of {known['displayName']}"
        assert (emulated["value"], emulated["adminConsentDisplayName"]) == (scope["value"], scope["adminConsentDisplayName"])
    roles = {r["id"]: r for r in sp["appRoles"]}
    for role in known["appRoles"]:
        emulated = roles.get(role["id"])
        assert emulated is not None, f"{cloud}: app role {role['value']} {role['id']} of {known['displayName']}"
        assert (emulated["value"], emulated["displayName"]) == (role["value"], role["displayName"])
        assert "Application" in emulated["allowedMemberTypes"]


def role_permission_sets() -> list[tuple[str, str, str, str, str]]:
    """(role, set, api, Scope|Role, name) of every permission in the roles' vars."""
    found = []
    for role in ("web_app", "native_app"):
        data = yaml.safe_load((ROOT / "roles" / role / "vars" / "main.yml").read_text(encoding="utf-8"))
        for set_name, entries in data[f"{role}_permission_sets"].items():
            for entry in entries:
                found += [(role, set_name, entry["api"], _api_catalogue.SCOPE, n) for n in entry.get("delegated", [])]
                found += [(role, set_name, entry["api"], _api_catalogue.ROLE, n) for n in entry.get("application", [])]
    return found


def api_app_id(name: str) -> str:
    """The appId an API name of the roles designates, as the collection reads it (alias or display name)."""
    by_alias = _api_catalogue.API_ALIASES.get(_api_catalogue._alias_key(name))  # pylint: disable=protected-access
    by_name = [app_id for app_id, app in firstparty.FIRST_PARTY_APPS.items() if app.display_name.casefold() == name.casefold()]
    assert by_alias is None or by_name in ([], [by_alias]), name
    assert by_alias or len(by_name) == 1, name
    return by_alias or by_name[0]


@pytest.mark.parametrize("cloud", [c.name for c in ACTIVE])
def test_the_roles_permissions_resolve_to_the_same_ids_against_the_emulator_and_well_known(cloud):
    """Resolved by the collection's own rules against each side: the emulator's service principal of the
    cloud (what the modules meet in a tenant) and WELL_KNOWN (used when the tenant has none)."""
    checked = 0
    for role, set_name, api, ptype, name in role_permission_sets():
        app_id = api_app_id(api)
        emulated = _api_catalogue.Resource.from_service_principal(emulated_service_principal(cloud, app_id)).resolve(name, ptype)
        known = _api_catalogue.Resource.from_catalogue(app_id).resolve(name, ptype)
        assert (emulated.id, emulated.value) == (known.id, known.value), (role, set_name, api, name)
        checked += 1
    assert checked >= 10


def test_register_webapp_default_permission_exists_in_each_cloud():
    for cloud in (c.name for c in ACTIVE):
        roles = emulated_service_principal(cloud, _ids.GRAPH_APP_ID)["appRoles"]
        assert any(r["value"] == "Directory.Read.All" and "Application" in r["allowedMemberTypes"] for r in roles), cloud
