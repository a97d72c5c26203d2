# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_aad_permissions logic: name resolution, set comparison, exact vs merge, consent planning, and
the whole flow against an in-memory Graph double (real Microsoft Graph definitions, no network)."""

from __future__ import annotations

import copy
import json
import re
import types
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _api_catalogue as catalogue
from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _graph, _http
from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _permissions as perms
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    ConfigurationError,
    ServiceError,
)
from tests.unit.conftest import FakeClock, FakeResponse, ScriptedSession
from tests.unit.plugins.module_utils.test__api_catalogue import (
    AAD,
    AAD_GRAPH_SP,
    DIR_READ_ROLE,
    GRAPH,
    MS_GRAPH_SP,
    PC,
    PC_SCOPE,
    PC_SP,
    USER_READ,
)


# -------------------------------------------------------------------------------------------------
# Input validation
# -------------------------------------------------------------------------------------------------


def test_validate_params_strips_and_accepts_missing_lists():
    requests = perms.validate_params(
        {"permissions": [{"api": " graph ", "delegated": [" User.Read "], "application": None}], "mode": "exact"}
    )
    assert requests == [catalogue.Request(0, "graph", ["User.Read"], [])]


def test_validate_params_reports_every_problem_at_once():
    with pytest.raises(ConfigurationError) as err:
        perms.validate_params(
            {
                "permissions": [
                    {"api": "", "delegated": ["", "User.Read"]},
                    {"api": "00000003-0000-0000-c000-00000000000", "application": ["7ab1d382-f21e-4acd-a863"]},
                    {"api": "graph", "delegated": ["['User.Read']", None], "application": "Directory.Read.All"},
                    "graph",
                ],
                "mode": "replace",
            }
        )
    message = err.value.to_message()
    for fragment in (
        "permissions[0].api",
        "permissions[0].delegated[0]",
        "not a valid appId",
        "permissions[1].application[0] '7ab1d382-f21e-4acd-a863' is not a valid permission id",
        "permissions[2].delegated[0]",
        "permissions[2].delegated[1]",
        "permissions[2].application must be a list",
        "permissions[3] must be a dictionary",
        "mode must be one of exact, merge",
    ):
        assert fragment in message, fragment
    assert err.value.option == "permissions"


# -------------------------------------------------------------------------------------------------
# requiredResourceAccess as a set; exact and merge
# -------------------------------------------------------------------------------------------------


def rra(*entries):
    out = []
    for resource, accesses in entries:
        out.append({"resourceAppId": resource, "resourceAccess": [{"id": i, "type": ty} for i, ty in accesses]})
    return out


def test_rra_keys_ignore_order_duplicates_and_case():
    messy = rra(
        (GRAPH.upper(), [(DIR_READ_ROLE.upper(), "role"), (USER_READ, "Scope")]),
        (GRAPH, [(USER_READ, "Scope"), (DIR_READ_ROLE, "Role")]),
    )
    assert perms.rra_keys(messy) == [(GRAPH, DIR_READ_ROLE, "Role"), (GRAPH, USER_READ, "Scope")]
    assert set(perms.rra_keys(messy)) == set(perms.rra_keys(rra((GRAPH, [(USER_READ, "Scope"), (DIR_READ_ROLE, "Role")]))))
    assert perms.rra_keys(None) == [] and perms.rra_keys([{"resourceAppId": GRAPH, "resourceAccess": None}]) == []


def test_target_keys_exact_and_merge():
    current = [(GRAPH, USER_READ, "Scope"), (PC, PC_SCOPE, "Scope")]
    desired = [(GRAPH, DIR_READ_ROLE, "Role"), (GRAPH, USER_READ, "Scope")]
    assert perms.target_keys(current, desired, "exact") == desired
    assert perms.target_keys(current, desired, "merge") == current + [(GRAPH, DIR_READ_ROLE, "Role")]
    assert perms.target_keys(current, [], "merge") == current
    assert perms.target_keys(current, [], "exact") == []


def test_build_rra_keeps_current_order_then_appends():
    current = rra((PC, [(PC_SCOPE, "Scope")]), (GRAPH, [(USER_READ, "Scope"), (USER_READ, "Scope")]))
    keys = [(GRAPH, DIR_READ_ROLE, "Role"), (GRAPH, USER_READ, "Scope"), (AAD, "5778995a-e1bf-45b8-affa-663a9f3f4d04", "Role")]
    assert perms.build_rra(current, keys) == rra(
        (GRAPH, [(USER_READ, "Scope"), (DIR_READ_ROLE, "Role")]), (AAD, [("5778995a-e1bf-45b8-affa-663a9f3f4d04", "Role")])
    )
    assert perms.build_rra(current, []) == []


def test_check_limits():
    perms.check_limits([(GRAPH, str(uuid.uuid4()), "Scope") for dummy in range(400)])
    with pytest.raises(ConfigurationError, match="at most 50 APIs and 400 permissions"):
        perms.check_limits([(GRAPH, str(uuid.uuid4()), "Scope") for dummy in range(401)])
    with pytest.raises(ConfigurationError, match="51 APIs"):
        perms.check_limits([(str(uuid.uuid4()), USER_READ, "Scope") for dummy in range(51)])


def test_aad_graph_warning_names_the_equivalents():
    wanted = catalogue.Wanted(catalogue.Resource.from_service_principal(AAD_GRAPH_SP))
    wanted.permissions = catalogue.resolve_names(wanted.resource, ["User.Read", "Read all groups"], ["Read directory data"])
    text = perms.aad_graph_warning(wanted, check_mode=False)
    assert "retired" in text and "delegated User.Read, Group.Read.All" in text and "application Directory.Read.All" in text
    assert catalogue.AAD_GRAPH_MIGRATION_URL in text
    assert "its permissions are set as asked" in text
    checked = perms.aad_graph_warning(wanted, check_mode=True)
    assert "its permissions would be set as asked" in checked and " are set" not in checked
    assert checked.replace("would be set", "are set") == text


# -------------------------------------------------------------------------------------------------
# The whole flow, against an in-memory Graph
# -------------------------------------------------------------------------------------------------

BASE = "https://graph.test"


def graph_error(status, code, message):
    return FakeResponse(status, {"error": {"code": code, "message": message, "innerError": {"request-id": "r"}}})


def not_found():
    return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")


class FakeGraph:
    """Applications, service principals, grants and app role assignments; lag and denial knobs."""

    def __init__(self, *, partner_center_sp: bool = False):
        self.apps: dict[str, dict] = {}
        self.sps: dict[str, dict] = {}
        self.grants: dict[str, dict] = {}
        self.assignments: dict[str, dict] = {}
        self.log: list[tuple[str, str, object]] = []
        self.hidden: set[str] = set()  # ids that reads do not see yet (replication)
        self.denied: set[str] = set()  # "METHOD path-prefix" answered with 403
        self.first_party = {GRAPH: MS_GRAPH_SP, AAD: AAD_GRAPH_SP, PC: PC_SP}
        for sp in (MS_GRAPH_SP, AAD_GRAPH_SP) + ((PC_SP,) if partner_center_sp else ()):
            self.sps[sp["id"]] = copy.deepcopy(sp)

    def add_app(self, name="app", rra_value=None, with_sp=False):
        app = {"id": str(uuid.uuid4()), "appId": str(uuid.uuid4()), "displayName": name, "uniqueName": None,
               "signInAudience": "AzureADMyOrg", "requiredResourceAccess": rra_value or []}
        self.apps[app["id"]] = app
        if with_sp:
            self.add_sp(app["appId"], name)
        return app

    def add_sp(self, app_id, name="sp", **extra):
        sp = {"id": str(uuid.uuid4()), "appId": app_id, "displayName": name, "appRoles": [], "oauth2PermissionScopes": []}
        sp.update(extra)
        self.sps[sp["id"]] = sp
        return sp

    def sp_by_app_id(self, app_id):
        return next((s for s in self.sps.values() if s["appId"] == app_id.lower()), None)

    @property
    def writes(self):
        return [(m, p) for m, p, dummy in self.log if m != "GET" and p != "$batch"]

    def visible(self, obj):
        return obj is not None and obj["id"] not in self.hidden

    def __call__(self, sent):
        parts = urlsplit(sent.url)
        path = unquote(parts.path)[len("/v1.0/"):]
        if sent.method == "POST" and path == "$batch":
            return self._batch(sent)
        self.log.append((sent.method, path, sent.json))
        for rule in self.denied:
            method, prefix = rule.split(" ", 1)
            if sent.method == method and (path.startswith(prefix) or "/" + prefix in path):
                return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        handler = getattr(self, "_" + sent.method.lower())
        return handler(path, query, sent.json)

    def _batch(self, sent):
        """JSON batching: each request answered by this fake on its own."""
        self.log.append(("POST", "$batch", None))
        answers = []
        for item in sent.json["requests"]:
            inner = types.SimpleNamespace(method=item["method"], url="https://graph.example/v1.0" + item["url"],
                                          json=item.get("body"))
            response = self(inner)
            body = json.loads(response.content) if response.content else None
            answers.append({"id": item["id"], "status": response.status_code, "headers": dict(response.headers), "body": body})
        return FakeResponse(200, {"responses": answers})

    # GET
    def _get(self, path, query, body):
        match = re.fullmatch(r"servicePrincipals\(appId='(.*)'\)/(appRoleAssignments|oauth2PermissionGrants)", path)
        if match:
            sp = self.sp_by_app_id(match.group(1))
            if not self.visible(sp):
                return not_found()
            if match.group(2) == "appRoleAssignments":
                found = [a for a in self.assignments.values() if a["principalId"] == sp["id"] and self.visible(a)]
            else:
                found = [g for g in self.grants.values() if g["clientId"] == sp["id"] and self.visible(g)]
            return FakeResponse(200, {"value": found})
        match = re.fullmatch(r"applications\(appId='(.*)'\)", path)
        if match:
            app = next((a for a in self.apps.values() if a["appId"] == match.group(1)), None)
            return FakeResponse(200, app) if self.visible(app) else not_found()
        if path.startswith("applications/"):
            app = self.apps.get(path.split("/")[1])
            return FakeResponse(200, app) if self.visible(app) else not_found()
        match = re.fullmatch(r"servicePrincipals\(appId='(.*)'\)", path)
        if match:
            sp = self.sp_by_app_id(match.group(1))
            return FakeResponse(200, sp) if self.visible(sp) else not_found()
        if path == "servicePrincipals":
            name = re.fullmatch(r"displayName eq '(.*)'", query["$filter"]).group(1).replace("''", "'")
            found = [s for s in self.sps.values() if s["displayName"].lower() == name.lower() and self.visible(s)]
            return FakeResponse(200, {"value": found})
        match = re.fullmatch(r"servicePrincipals/([^/]+)/appRoleAssignments", path)
        if match:
            found = [a for a in self.assignments.values() if a["principalId"] == match.group(1) and self.visible(a)]
            return FakeResponse(200, {"value": found})
        if path == "oauth2PermissionGrants":
            pairs = dict(re.findall(r"(\w+) eq '([^']*)'", query["$filter"]))
            found = [g for g in self.grants.values() if all(g.get(k) == v for k, v in pairs.items()) and self.visible(g)]
            return FakeResponse(200, {"value": found})
        raise AssertionError("unexpected GET %s" % path)

    # Writes
    def _patch(self, path, query, body):
        if path.startswith("applications/"):
            app = self.apps[path.split("/")[1]]
            assert set(body) == {"requiredResourceAccess"}
            app.update(copy.deepcopy(body))
            return FakeResponse(204)
        grant = self.grants.get(path.split("/")[1])
        if not self.visible(grant):
            return not_found()
        assert set(body) == {"scope"}
        grant["scope"] = body["scope"]
        return FakeResponse(204)

    def _post(self, path, query, body):
        if path == "servicePrincipals":
            if self.sp_by_app_id(body["appId"]) is not None:
                return graph_error(409, "Request_MultipleObjectsWithSameKeyValue", "already in use")
            if body["appId"] in self.first_party:
                sp = copy.deepcopy(self.first_party[body["appId"]])
                sp["id"] = str(uuid.uuid4())
                self.sps[sp["id"]] = sp
            else:
                sp = self.add_sp(body["appId"])
            return FakeResponse(201, sp)
        if path == "oauth2PermissionGrants":
            if not self.visible(self.sps.get(body["clientId"])) or not self.visible(self.sps.get(body["resourceId"])):
                return not_found()
            if any(g["clientId"] == body["clientId"] and g["resourceId"] == body["resourceId"] for g in self.grants.values()):
                return graph_error(400, "Request_BadRequest", "Permission entry already exists.")
            grant = dict(body, id=str(uuid.uuid4()), principalId=None)
            self.grants[grant["id"]] = grant
            return FakeResponse(201, grant)
        match = re.fullmatch(r"servicePrincipals/([^/]+)/appRoleAssignedTo", path)
        if match:
            if not self.visible(self.sps.get(body["principalId"])):
                return not_found()
            if any(a["principalId"] == body["principalId"] and a["appRoleId"] == body["appRoleId"]
                   and a["resourceId"] == body["resourceId"] for a in self.assignments.values()):
                return graph_error(400, "Request_BadRequest", "Permission being assigned already exists on the object")
            assignment = dict(body, id=str(uuid.uuid4()))
            self.assignments[assignment["id"]] = assignment
            return FakeResponse(201, assignment)
        raise AssertionError("unexpected POST %s" % path)

    def _delete(self, path, query, body):
        match = re.fullmatch(r"servicePrincipals/([^/]+)/appRoleAssignedTo/([^/]+)", path)
        if match:
            assignment = self.assignments.pop(match.group(2), None)
            return FakeResponse(204) if assignment else not_found()
        if path.startswith("oauth2PermissionGrants/"):
            return FakeResponse(204) if self.grants.pop(path.split("/")[1], None) else not_found()
        raise AssertionError("unexpected DELETE %s" % path)

    # Observations
    def scopes(self, app, resource_app_id):
        client = self.sp_by_app_id(app["appId"])
        resource = self.sp_by_app_id(resource_app_id)
        grant = next((g for g in self.grants.values() if client and resource and g["clientId"] == client["id"]
                      and g["resourceId"] == resource["id"]), None)
        return sorted((grant or {}).get("scope", "").split())

    def roles(self, app):
        client = self.sp_by_app_id(app["appId"])
        return sorted(a["appRoleId"] for a in self.assignments.values() if client and a["principalId"] == client["id"])


class Warner:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


class FakeModule:
    """What run_pc_aad_permissions needs from PartnerCenterModule."""

    def __init__(self, service, params, check_mode=False, consistency_timeout=30):
        self.clock = FakeClock()
        http = _http.HttpClient(
            session=ScriptedSession(handler=service), sleep=self.clock.sleep, clock=self.clock.clock, rand=lambda: 0.5
        )
        self.graph = _graph.GraphClient(
            http, lambda resource: "token", base_url=BASE, resource="https://graph.microsoft.com",
            consistency_timeout=consistency_timeout,
        )
        self.params = {"object_id": None, "app_id": None, "unique_name": None, "display_name": None,
                       "mode": "exact", "admin_consent": False, "permissions": []}
        self.params.update(params)
        self.check_mode = check_mode
        self.module = Warner()
        self.diff = None

    def validate(self):
        pass

    def set_diff(self, before, after):
        self.diff = (before, after)


def run(service, check_mode=False, **params):
    module = FakeModule(service, params, check_mode=check_mode)
    return perms.run_pc_aad_permissions(module), module


WEB = [{"api": "Microsoft Graph", "application": ["Read directory data"]}]
NATIVE = [
    {"api": "Microsoft Graph", "delegated": ["Sign in and read user profile", "Read directory data",
                                             "Access the directory as the signed-in user", "Read all groups"]},
    {"api": "Microsoft Partner Center", "delegated": ["Access Partner Center PPE"]},
]
NATIVE_SCOPES = ["Directory.AccessAsUser.All", "Directory.Read.All", "Group.Read.All", "User.Read"]


def test_web_set_with_consent_then_nothing_to_do():
    service = FakeGraph()
    app = service.add_app()
    result, module = run(service, app_id=app["appId"], permissions=WEB, admin_consent=True)
    assert result["changed"] is True
    assert [m for m, dummy in service.writes] == ["PATCH", "POST", "POST"]  # app, client SP, assignment
    assert perms.rra_keys(app["requiredResourceAccess"]) == [(GRAPH, DIR_READ_ROLE, "Role")]
    assert service.roles(app) == [DIR_READ_ROLE]
    assert result["permissions"] == [{"api": "Microsoft Graph", "api_app_id": GRAPH, "value": "Directory.Read.All",
                                      "id": DIR_READ_ROLE, "type": "application", "display_name": "Read directory data",
                                      "consented": True}]
    assert module.diff == ({"required": [], "consented": []},
                           {"required": ["Microsoft Graph: Directory.Read.All (application)"],
                            "consented": ["Microsoft Graph: Directory.Read.All (application)"]})
    service.log.clear()
    again, dummy = run(service, app_id=app["appId"], permissions=WEB, admin_consent=True)
    assert again["changed"] is False and service.writes == []
    assert again["permissions"] == result["permissions"]
    # The app, Microsoft Graph's SP, the client SP, grants, assignments: each read once.
    # Two round trips: the application, then one $batch for everything else.
    client = "servicePrincipals(appId='%s')" % app["appId"]
    assert [p.split("?")[0] for m, p, dummy in service.log] == [
        "applications(appId='%s')" % app["appId"], "$batch", client, client + "/oauth2PermissionGrants",
        client + "/appRoleAssignments", "servicePrincipals(appId='%s')" % GRAPH]


def test_native_set_creates_partner_center_sp_and_one_grant_per_api():
    service = FakeGraph()
    app = service.add_app(with_sp=True)
    result, dummy = run(service, object_id=app["id"], permissions=NATIVE, admin_consent=True)
    assert result["changed"] is True
    assert result["changes"]["service_principals_created"] == ["Microsoft Partner Center"]
    assert service.scopes(app, GRAPH) == NATIVE_SCOPES
    assert service.scopes(app, PC) == ["user_impersonation"]
    assert len(service.grants) == 2 and all(g["consentType"] == "AllPrincipals" for g in service.grants.values())
    assert all(p["consented"] is True for p in result["permissions"])
    service.log.clear()
    again, dummy = run(service, object_id=app["id"], permissions=NATIVE, admin_consent=True)
    assert again["changed"] is False and service.writes == []


def test_partner_center_ids_come_from_the_created_service_principal():
    """In a cloud whose Partner Center publishes another scope id, the tenant's id is written."""
    service = FakeGraph()
    national = copy.deepcopy(PC_SP)
    national["oauth2PermissionScopes"][0]["id"] = "0f0f0f0f-0000-4000-8000-000000000001"
    service.first_party[PC] = national
    app = service.add_app(with_sp=True)
    result, dummy = run(service, app_id=app["appId"], permissions=[NATIVE[1]], admin_consent=True)
    assert perms.rra_keys(app["requiredResourceAccess"]) == [(PC, "0f0f0f0f-0000-4000-8000-000000000001", "Scope")]
    assert result["permissions"][0]["id"] == "0f0f0f0f-0000-4000-8000-000000000001"


def test_without_consent_the_well_known_definitions_stand_in():
    service = FakeGraph()
    app = service.add_app()
    result, dummy = run(service, app_id=app["appId"], permissions=[NATIVE[1]])
    assert perms.rra_keys(app["requiredResourceAccess"]) == [(PC, PC_SCOPE, "Scope")]
    assert service.sp_by_app_id(PC) is None and [m for m, dummy in service.writes] == ["PATCH"]
    assert result["permissions"][0]["consented"] is False


def test_check_mode_writes_nothing_and_reports_the_same_changes():
    service = FakeGraph()
    app = service.add_app()
    checked, module = run(service, check_mode=True, app_id=app["appId"], permissions=NATIVE + WEB, admin_consent=True)
    assert checked["changed"] is True and service.writes == []
    assert all(p["consented"] is False for p in checked["permissions"])
    assert checked["service_principal_id"] is None
    real, real_module = run(service, app_id=app["appId"], permissions=NATIVE + WEB, admin_consent=True)
    assert real["changes"] == checked["changes"]
    assert real_module.diff == module.diff
    assert all(p["consented"] is True for p in real["permissions"])


def test_exact_revokes_and_merge_keeps():
    service = FakeGraph(partner_center_sp=True)
    app = service.add_app(with_sp=True)
    everything = NATIVE + [{"api": "graph", "application": ["Directory.Read.All", "Group.Read.All"]}]
    run(service, app_id=app["appId"], permissions=everything, admin_consent=True)
    grant_ids = set(service.grants)

    service.log.clear()
    merged, dummy = run(service, app_id=app["appId"], mode="merge", admin_consent=True,
                        permissions=[{"api": "graph", "delegated": ["User.Read"]}])
    assert merged["changed"] is False and service.writes == []
    assert len(merged["permissions"]) == 7  # merge reports everything the app requires

    service.log.clear()
    fewer = [{"api": "graph", "delegated": ["User.Read"], "application": ["Directory.Read.All"]}]
    result, module = run(service, app_id=app["appId"], permissions=fewer, admin_consent=True)
    methods = [(m, p.split("/")[0]) for m, p in service.writes]
    assert methods == [("PATCH", "applications"), ("PATCH", "oauth2PermissionGrants"),
                       ("DELETE", "servicePrincipals"), ("DELETE", "oauth2PermissionGrants")]
    assert set(service.grants) < grant_ids  # the Graph grant was patched in place, Partner Center's deleted
    assert service.scopes(app, GRAPH) == ["User.Read"] and service.scopes(app, PC) == []
    assert service.roles(app) == [DIR_READ_ROLE]
    revoked = sorted((c["api"], c["value"], c["type"]) for c in result["changes"]["revoked"])
    assert revoked == [
        ("Microsoft Graph", "Directory.AccessAsUser.All", "delegated"), ("Microsoft Graph", "Directory.Read.All", "delegated"),
        ("Microsoft Graph", "Group.Read.All", "application"), ("Microsoft Graph", "Group.Read.All", "delegated"),
        ("Microsoft Partner Center", "user_impersonation", "delegated")]
    before, after = module.diff
    assert [label for label in before["consented"] if label.startswith("Microsoft Partner Center:")] == [
        "Microsoft Partner Center: user_impersonation (delegated)"]
    assert after == {"required": ["Microsoft Graph: Directory.Read.All (application)", "Microsoft Graph: User.Read (delegated)"],
                     "consented": ["Microsoft Graph: Directory.Read.All (application)", "Microsoft Graph: User.Read (delegated)"]}


def test_consent_outside_the_managed_apis_is_left_alone():
    service = FakeGraph(partner_center_sp=True)
    app = service.add_app(with_sp=True)
    client = service.sp_by_app_id(app["appId"])
    other = service.add_sp(str(uuid.uuid4()), "Other API")
    service.grants["g"] = {"id": "g", "clientId": client["id"], "resourceId": other["id"], "consentType": "AllPrincipals",
                           "principalId": None, "scope": "Other.Read"}
    run(service, app_id=app["appId"], permissions=WEB, admin_consent=True)
    assert service.grants["g"]["scope"] == "Other.Read"


def test_grant_hidden_by_replication_is_found_and_patched():
    service = FakeGraph()
    app = service.add_app(with_sp=True)
    client = service.sp_by_app_id(app["appId"])
    graph_sp = service.sp_by_app_id(GRAPH)
    service.grants["g"] = {"id": "g", "clientId": client["id"], "resourceId": graph_sp["id"], "consentType": "AllPrincipals",
                           "principalId": None, "scope": "User.Read"}
    service.hidden.add("g")
    original = service._get

    def reveal_later(path, query, body):
        if path == "oauth2PermissionGrants" and any(m == "POST" for m, dummy in service.writes):
            service.hidden.discard("g")
        return original(path, query, body)

    service._get = reveal_later
    result, dummy = run(service, app_id=app["appId"], admin_consent=True,
                        permissions=[{"api": "graph", "delegated": ["User.Read", "Group.Read.All"]}])
    assert result["changed"] is True
    assert [m for m, p in service.writes if p.startswith("oauth2")] == ["POST", "PATCH"]
    assert service.scopes(app, GRAPH) == ["Group.Read.All", "User.Read"] and len(service.grants) == 1


def test_fresh_client_sp_and_existing_assignment_converge():
    service = FakeGraph()
    app = service.add_app()
    original = service._post
    lagging = {"n": 2}

    def post(path, query, body):
        answer = original(path, query, body)
        if path == "servicePrincipals" and answer.status_code == 201 and body["appId"] == app["appId"]:
            service.hidden.add(answer_id := json.loads(answer.content)["id"])
            lagging["id"] = answer_id
        if path.endswith("appRoleAssignedTo") and lagging["n"]:
            lagging["n"] -= 1
            if lagging["n"] == 0:
                service.hidden.discard(lagging["id"])
        return answer

    service._post = post
    result, module = run(service, app_id=app["appId"], permissions=WEB, admin_consent=True)
    assert service.roles(app) == [DIR_READ_ROLE] and result["permissions"][0]["consented"] is True
    assert module.clock.sleeps  # waited for replication, within the budget

    # An assignment that exists but was not seen: Graph's duplicate answer counts as consent.
    service.hidden.update(service.assignments)
    service.log.clear()
    again, dummy = run(service, app_id=app["appId"], permissions=WEB, admin_consent=True)
    assert again["permissions"][0]["consented"] is True and len(service.assignments) == 1


def test_lost_responses_of_creates_are_retried_and_recognised():
    import requests

    service = FakeGraph()
    app = service.add_app()
    original = service._post
    lost = {"servicePrincipals", "oauth2PermissionGrants", "appRoleAssignedTo"}

    def post(path, query, body):
        answer = original(path, query, body)
        kind = path.rsplit("/", 1)[-1]
        if kind in lost:  # the create took effect, its response is lost
            lost.discard(kind)
            return requests.ConnectionError("Remote end closed connection without response")
        return answer

    service._post = post
    result, dummy = run(service, app_id=app["appId"], admin_consent=True,
                        permissions=[{"api": "graph", "delegated": ["User.Read"], "application": ["Directory.Read.All"]}])
    assert not lost
    assert result["changed"] is True and all(p["consented"] for p in result["permissions"])
    assert len(service.grants) == 1 and len(service.assignments) == 1
    assert len([s for s in service.sps.values() if s["appId"] == app["appId"]]) == 1
    assert service.scopes(app, GRAPH) == ["User.Read"] and service.roles(app) == [DIR_READ_ROLE]


def test_names_are_resolved_before_any_write_and_all_problems_reported():
    service = FakeGraph()
    app = service.add_app()
    with pytest.raises(ConfigurationError) as err:
        run(service, app_id=app["appId"], admin_consent=True, permissions=[
            {"api": "graph", "application": ["Read directry data"], "delegated": ["User.Read"]},
            {"api": "Contoso API", "delegated": ["x"]},
            {"api": "Microsft Graph", "delegated": ["x"]},
        ])
    message = err.value.to_message()
    assert "Read directry data" in message and "No API named 'Contoso API'" in message
    assert "Closest matches: Microsoft Graph" in message
    assert service.writes == []


def test_api_by_display_name_and_ambiguity():
    service = FakeGraph()
    custom = service.add_sp(str(uuid.uuid4()), "Contoso API", oauth2PermissionScopes=[
        {"id": str(uuid.uuid4()), "value": "access_as_user", "adminConsentDisplayName": "Access Contoso", "isEnabled": True}])
    app = service.add_app()
    result, dummy = run(service, app_id=app["appId"], permissions=[{"api": "contoso api", "delegated": ["Access Contoso"]}])
    assert result["permissions"][0]["api_app_id"] == custom["appId"]
    service.add_sp(str(uuid.uuid4()), "Contoso API")
    with pytest.raises(ConfigurationError, match="2 APIs have the display name"):
        run(service, app_id=app["appId"], permissions=[{"api": "Contoso API", "delegated": ["x"]}])


def test_each_service_principal_is_read_once():
    service = FakeGraph()
    app = service.add_app(rra_value=rra((GRAPH, [(USER_READ, "Scope")])))
    asked = [
        {"api": "graph", "delegated": ["User.Read"]},
        {"api": GRAPH, "application": ["Directory.Read.All"]},
        {"api": "Microsoft Graph", "delegated": ["User.Read"]},
    ]
    run(service, app_id=app["appId"], permissions=asked)
    reads = [p for m, p, dummy in service.log if m == "GET" and p.startswith("servicePrincipals(appId='%s')" % GRAPH)]
    assert len(reads) == 1


def test_unknown_resources_in_the_app_are_reported_by_id_and_removed_in_exact_mode():
    service = FakeGraph()
    stranger = str(uuid.uuid4())
    app = service.add_app(rra_value=rra((stranger, [(USER_READ, "Scope")]), (GRAPH, [(str(uuid.uuid4()), "Role")])))
    result, module = run(service, app_id=app["appId"], permissions=WEB)
    assert {c["api"] for c in result["changes"]["removed"]} == {"Microsoft Graph", stranger}
    assert [label for label in module.diff[0]["required"] if label.startswith(stranger)] == [
        "%s: %s (delegated)" % (stranger, USER_READ)]
    assert perms.rra_keys(app["requiredResourceAccess"]) == [(GRAPH, DIR_READ_ROLE, "Role")]


def test_consent_unreadable_without_admin_consent_is_null():
    service = FakeGraph()
    app = service.add_app(with_sp=True)
    service.denied.add("GET oauth2PermissionGrants")
    result, module = run(service, app_id=app["appId"], permissions=[{"api": "graph", "delegated": ["User.Read"]}])
    assert result["permissions"][0]["consented"] is None
    assert module.diff == ({"required": [], "consented": [], "consent_unknown": ["delegated"]},
                           {"required": ["Microsoft Graph: User.Read (delegated)"], "consented": [],
                            "consent_unknown": ["delegated"]})
    with pytest.raises(ServiceError) as err:
        run(service, app_id=app["appId"], admin_consent=True, permissions=[{"api": "graph", "delegated": ["User.Read"]}])
    assert "DelegatedPermissionGrant.ReadWrite.All" in err.value.to_message()


def test_a_change_of_api_reads_as_a_removal_and_an_addition():
    """Microsoft Graph's Directory.Read.All (application) replaced by Azure AD Graph's "Read directory data",
    also Directory.Read.All by value: the diff names API and permission together (issue 15)."""
    service = FakeGraph()
    app = service.add_app()
    run(service, app_id=app["appId"], permissions=WEB, admin_consent=True)
    legacy = [{"api": "Windows Azure Active Directory", "application": ["Read directory data"]}]
    service.log.clear()
    checked, module = run(service, check_mode=True, app_id=app["appId"], permissions=legacy, admin_consent=True)
    assert checked["changed"] is True and service.writes == []
    assert module.diff == (
        {"required": ["Microsoft Graph: Directory.Read.All (application)"],
         "consented": ["Microsoft Graph: Directory.Read.All (application)"]},
        {"required": ["Windows Azure Active Directory: Directory.Read.All (application)"],
         "consented": ["Windows Azure Active Directory: Directory.Read.All (application)"]})
    [warning] = [w for w in module.module.warnings if "Azure AD Graph" in w]
    assert "its permissions would be set as asked" in warning and "were set" not in warning

    real, real_module = run(service, app_id=app["appId"], permissions=legacy, admin_consent=True)
    assert real["changed"] is True and real_module.diff == module.diff
    assert perms.rra_keys(app["requiredResourceAccess"]) == [(AAD, "5778995a-e1bf-45b8-affa-663a9f3f4d04", "Role")]
    [warning] = [w for w in real_module.module.warnings if "Azure AD Graph" in w]
    assert "its permissions are set as asked" in warning


def test_two_apis_with_one_display_name_are_told_apart_in_the_diff():
    service = FakeGraph()
    twin = service.add_sp(str(uuid.uuid4()), "Microsoft Graph", oauth2PermissionScopes=[
        {"id": str(uuid.uuid4()), "value": "Twin.Read", "adminConsentDisplayName": "Read twins", "isEnabled": True}])
    app = service.add_app()
    result, module = run(service, app_id=app["appId"], permissions=[
        {"api": "graph", "delegated": ["User.Read"]}, {"api": twin["appId"], "delegated": ["Twin.Read"]}])
    assert result["changed"] is True
    assert module.diff[1]["required"] == sorted([
        "Microsoft Graph (%s): User.Read (delegated)" % GRAPH, "Microsoft Graph (%s): Twin.Read (delegated)" % twin["appId"]],
        key=str.casefold)


def test_creating_a_resource_sp_needs_application_readwrite_all():
    service = FakeGraph()
    app = service.add_app(with_sp=True)
    service.denied.add("POST servicePrincipals")
    with pytest.raises(ServiceError) as err:
        run(service, app_id=app["appId"], permissions=[NATIVE[1]], admin_consent=True)
    assert "Application.ReadWrite.All" in err.value.to_message() and "OwnedBy" not in err.value.to_message()


def test_azure_ad_graph_warns():
    service = FakeGraph()
    app = service.add_app()
    dummy, module = run(service, app_id=app["appId"], permissions=[{"api": "aad_graph", "delegated": ["User.Read"]}])
    [warning] = module.module.warnings
    assert "Azure AD Graph" in warning and "delegated User.Read" in warning
    dummy, module = run(service, app_id=app["appId"], permissions=WEB)
    assert module.module.warnings == []


def test_missing_application_waits_briefly_then_fails():
    service = FakeGraph()
    module = FakeModule(service, {"app_id": str(uuid.uuid4()), "permissions": WEB})
    with pytest.raises(ConfigurationError, match="No application with app_id") as err:
        perms.run_pc_aad_permissions(module)
    assert "pc_aad_app" in err.value.to_message()
    assert 9 <= module.clock.now <= perms.APP_VISIBILITY_GRACE
    assert service.writes == []


def test_application_that_appears_during_the_grace_is_used():
    service = FakeGraph()
    app = service.add_app()
    service.hidden.add(app["id"])
    module = FakeModule(service, {"app_id": app["appId"], "permissions": WEB})
    module.graph.http.sleep = lambda seconds: (module.clock.sleep(seconds), service.hidden.discard(app["id"]))
    result = perms.run_pc_aad_permissions(module)
    assert result["changed"] is True


# -------------------------------------------------------------------------------------------------
# The module's documentation matches its argument spec
# -------------------------------------------------------------------------------------------------


def test_documentation_matches_argument_spec(monkeypatch):
    from ansible_collections.partnercenter.national_cloud.plugins.modules import pc_aad_permissions
    from tests.unit.plugins.doc_fragments.fragments import captured

    seen = captured(monkeypatch, "pc_aad_permissions")
    doc = yaml.safe_load(pc_aad_permissions.DOCUMENTATION)
    own = {k: v for k, v in seen["spec"].items() if k not in ("object_id", "app_id", "unique_name", "display_name")}
    assert set(doc["options"]) == set(own)
    for name, option in own.items():
        assert doc["options"][name]["type"] == option["type"]
        assert doc["options"][name].get("default") == option.get("default")
        assert doc["options"][name].get("choices") == option.get("choices")
    assert set(doc["options"]["permissions"]["suboptions"]) == set(own["permissions"]["options"])
    assert "partnercenter.national_cloud.target_application" in doc["extends_documentation_fragment"]
    assert seen["kwargs"]["supports_check_mode"] is True
    yaml.safe_load(pc_aad_permissions.EXAMPLES)
    assert set(yaml.safe_load(pc_aad_permissions.RETURN)) == {
        "app_id", "object_id", "service_principal_id", "permissions", "changes"}
