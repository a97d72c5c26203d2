# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph resource layer: the visibility wait, the target application, the batched reads' requests."""

from __future__ import annotations

import types

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _directory
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConsistencyTimeout
from tests.unit.conftest import FakeResponse, ScriptedSession
from tests.unit.plugins.module_utils.test__graph import graph


class Reads:
    """A read that returns ``values`` one after the other (the last one from then on), counting its calls."""

    def __init__(self, *values):
        self.answers = list(values)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_wait_until_visible_reads_until_found(fake_clock):
    client = graph(ScriptedSession(), fake_clock)
    read = Reads(None, None, {"id": "1"})
    assert _directory.wait_until_visible(client, read, what="the application") == {"id": "1"}
    assert read.calls == 3 and fake_clock.sleeps == [0.375, 0.75]


def test_wait_until_visible_waits_for_what_it_shows(fake_clock):
    client = graph(ScriptedSession(), fake_clock)
    read = Reads({"tags": []}, {"tags": ["x"]})
    found = _directory.wait_until_visible(client, read, shows=lambda app: "x" in app["tags"], what="tags")
    assert found == {"tags": ["x"]} and read.calls == 2


def test_wait_until_visible_within_the_shorter_timeout(fake_clock):
    client = graph(ScriptedSession(), fake_clock, consistency_timeout=30)
    with pytest.raises(ConsistencyTimeout):
        _directory.wait_until_visible(client, Reads(None), what="the application", timeout=10)
    assert fake_clock.now == pytest.approx(10)


def test_wait_until_visible_never_beyond_consistency_timeout(fake_clock):
    client = graph(ScriptedSession(), fake_clock, consistency_timeout=2)
    with pytest.raises(ConsistencyTimeout):
        _directory.wait_until_visible(client, Reads(None), what="the application", timeout=10)
    assert fake_clock.now == pytest.approx(2)


def test_target_application_waited_for_only_when_asked(fake_clock):
    app = {"id": "1", "appId": "a", "displayName": "x", "uniqueName": None}
    answers = [FakeResponse(200, {"value": []}), FakeResponse(200, {"value": []}), FakeResponse(200, {"value": [app]})]
    client = graph(ScriptedSession(*answers), fake_clock)
    module = types.SimpleNamespace(graph=client, params={"display_name": "x"})
    assert _directory.find_target_application(module, select=_directory.APPLICATION_KEYS) is None
    assert _directory.find_target_application(module, select=_directory.APPLICATION_KEYS, wait=True) == app
    assert len(client.http.session.sent) == 3


def test_batched_reads_name_their_paths_selects_and_operations():
    item = _directory.service_principal_item("00000003-0000-0000-c000-000000000000", ("id", "appId"))
    assert item.path == "servicePrincipals(appId='00000003-0000-0000-c000-000000000000')"
    assert item.params == {"$select": "id,appId"} and item.operation == "read_service_principal"
    grants = _directory.grants_item("a")
    assert grants.path == "servicePrincipals(appId='a')/oauth2PermissionGrants"
    assert grants.params == {"$select": "id,clientId,consentType,principalId,resourceId,scope"}
    assignments = _directory.assignments_item("a", ("appRoleId", "resourceId", "createdDateTime"))
    assert assignments.path == "servicePrincipals(appId='a')/appRoleAssignments"
    assert assignments.params == {"$select": "appRoleId,resourceId,createdDateTime"}
    assert assignments.operation == _directory.READ_ASSIGNMENTS == "read_app_role_assignments"
