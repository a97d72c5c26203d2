# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_register_webapp's prerequisites read only v1.0 names of every cloud, and tell a recent setup (still
replicating) from an old one without servicePrincipal.createdDateTime, which v1.0 does not have (issue 13)."""

from __future__ import annotations

import time
import typing as t
from types import SimpleNamespace

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _registration
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._graph import GraphResponse
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._ids import GRAPH_APP_ID
from tests.emulator.schema import for_cloud

APP_ID = "5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11"
READ_DIRECTORY = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"
NOW = time.time()


def stamp(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - seconds_ago))


class StubGraph:
    """Answers the prerequisites' batch: the app's service principal, its consents and the APIs' service principals."""

    def __init__(self, consented_ago: float) -> None:
        self.items: list[t.Any] = []
        self.consented_ago = consented_ago

    def batch(self, items):
        self.items = list(items)
        graph_sp = {"id": "g", "displayName": "Microsoft Graph", "appRoles": [{"id": READ_DIRECTORY, "value": "Directory.Read.All"}]}
        assignments = {"value": [{"appRoleId": READ_DIRECTORY, "resourceId": "g", "createdDateTime": stamp(self.consented_ago)}]}
        bodies = [{"id": "sp"}, assignments, graph_sp, {"id": "aad", "displayName": "Windows Azure Active Directory", "appRoles": []},
                  {"id": "pc"}]
        return [GraphResponse(200, body, {}) for body in bodies]

    @staticmethod
    def all_pages(page, **kwargs):
        return list(page.get("value") or [])


def check(created_ago: float, consented_ago: float, secret_started_ago: float = 10 * 86400):
    graph = StubGraph(consented_ago)
    module = SimpleNamespace(params={"application_permission": "Directory.Read.All", "webapp_certificate_path": None,
                                     "create_partner_center_service_principal": False}, graph=graph, check_mode=False)
    registration = _registration.RegistrationCheck(module)
    registration.now = lambda: NOW
    app = {"id": "o", "appId": APP_ID, "displayName": "web", "createdDateTime": stamp(created_ago),
           "passwordCredentials": [{"keyId": "k", "hint": "abc", "startDateTime": stamp(secret_started_ago),
                                    "endDateTime": stamp(-86400 * 300)}]}
    credentials = SimpleNamespace(client_secret="abc~secret")
    found = registration.prerequisites(app, credentials, None)
    assert all(p.ok for p in found), found
    return registration, graph


@pytest.mark.parametrize("created_ago, consented_ago, secret_ago, fresh", [
    (30 * 86400, 30 * 86400, 30 * 86400, False),  # everything old: no waiting for replication
    (60, 60, 60, True),  # a new application
    (30 * 86400, 120, 30 * 86400, True),  # an old application whose service principal was just created and consented
    (30 * 86400, 30 * 86400, 60, True),  # a new secret
])
def test_freshness_without_service_principal_created_date_time(created_ago, consented_ago, secret_ago, fresh):
    registration, dummy = check(created_ago, consented_ago, secret_ago)
    assert registration.fresh is fresh


@pytest.mark.parametrize("cloud", ["public", "usgov", "usgov_dod", "china"])
def test_the_batch_asks_only_for_names_of_the_clouds_v1_schema(cloud):
    dummy, graph = check(30 * 86400, 30 * 86400)
    schema = for_cloud(cloud)
    assert graph.items and all(item.method == "GET" for item in graph.items)
    for item in graph.items:
        schema.check_request("GET", "/v1.0/" + item.path, dict(item.params or {}), None)
    assert GRAPH_APP_ID in graph.items[2].path
