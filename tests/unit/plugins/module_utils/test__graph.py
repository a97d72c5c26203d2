# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""GraphClient: OData escaping, URLs, paging, permission hints, consistency waits."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _graph, _http
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    ConfigurationError,
    ConsistencyTimeout,
    ForbiddenError,
    ServiceError,
)
from tests.unit.conftest import FakeResponse, ScriptedSession

BASE = "https://graph.microsoft.us"


def graph(session, clock, **kwargs):
    http = _http.HttpClient(
        session=session, sleep=clock.sleep, clock=clock.clock, wall_clock=clock.wall, rand=lambda: 0.5
    )
    tokens = []

    def provider(resource):
        tokens.append(resource)
        return "tok-for-" + resource

    client = _graph.GraphClient(http, provider, base_url=BASE + "/", resource="https://graph.microsoft.us", **kwargs)
    client.tokens_requested = tokens  # type: ignore[attr-defined]
    return client


def not_found(object_id="x"):
    return FakeResponse(
        404,
        {
            "error": {
                "code": "Request_ResourceNotFound",
                "message": "Resource '%s' does not exist or one of its queried reference-property objects are not present."
                % object_id,
            }
        },
    )


NO_BACKING = {
    "error": {
        "code": "Request_BadRequest",
        "message": "The appId 'a1' of the service principal does not reference a valid application object.",
        "details": [{"code": "NoBackingApplicationObject", "message": "The appId 'a1' ...", "target": "appId"}],
    }
}

# Escaping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "literal"),
    [("plain", "'plain'"), ("O'Brien", "'O''Brien'"), ("''", "''''''"), ("", "''"), ("ü & #+", "'ü & #+'")],
)
def test_odata_string(value, literal):
    assert _graph.odata_string(value) == literal


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("my-app", "applications(uniqueName='my-app')"),
        ("O'Brien", "applications(uniqueName='O''Brien')"),
        ("a b", "applications(uniqueName='a%20b')"),
        ("a#b", "applications(uniqueName='a%23b')"),
        ("a&b", "applications(uniqueName='a%26b')"),
        ("a+b", "applications(uniqueName='a%2Bb')"),
        ("a/b?c", "applications(uniqueName='a%2Fb%3Fc')"),
        ("100%", "applications(uniqueName='100%25')"),
        ("café", "applications(uniqueName='caf%C3%A9')"),
        ("应用", "applications(uniqueName='%E5%BA%94%E7%94%A8')"),
    ],
)
def test_key_segment_escapes_and_encodes(value, segment):
    assert _graph.key_segment("applications", "uniqueName", value) == segment


@given(st.text(min_size=0, max_size=40))
def test_key_segment_round_trips(value):
    segment = _graph.key_segment("applications", "uniqueName", value)
    literal = unquote(segment[len("applications(uniqueName=") : -1])
    assert literal[0] == literal[-1] == "'"
    assert literal[1:-1].replace("''", "'") == value
    assert not set(segment) & set(" #&+?/\\")


@given(st.text(min_size=0, max_size=40))
def test_filter_query_round_trips(value):
    query = _graph.encode_query({"$filter": "displayName eq " + _graph.odata_string(value)})
    name, _sep, encoded = query.partition("=")
    assert name == "$filter"
    assert not set(encoded) & set(" #&+")
    assert unquote(encoded) == "displayName eq '%s'" % value.replace("'", "''")


def test_encode_query_shapes():
    assert (
        _graph.encode_query({"$select": ["id", "appId"], "$top": 5, "$count": True, "x": None})
        == "$select=id,appId&$top=5&$count=true"
    )


# Requests ----------------------------------------------------------------------------------------


def test_get_with_select_and_token(fake_clock):
    session = ScriptedSession(FakeResponse(200, {"id": "1", "appId": "a"}))
    client = graph(session, fake_clock)
    assert client.get("applications/1", select=["id", "appId"]) == {"id": "1", "appId": "a"}
    sent = session.sent[0]
    assert sent.url == BASE + "/v1.0/applications/1?$select=id,appId"
    assert sent.headers["Authorization"] == "Bearer tok-for-https://graph.microsoft.us"
    assert sent.headers["Accept"] == "application/json"
    assert client.tokens_requested == ["https://graph.microsoft.us"]


def test_filter_with_hard_characters_reaches_the_wire_escaped(fake_clock):
    session = ScriptedSession(FakeResponse(200, {"value": []}))
    graph(session, fake_clock).list(
        "applications", filter="displayName eq %s" % _graph.odata_string("O'Neil & Sons #1+ü")
    )
    query = urlsplit(session.sent[0].url).query
    assert query == "$filter=displayName%20eq%20'O''Neil%20%26%20Sons%20%231%2B%C3%BC'"


def test_list_follows_next_links_across_three_pages(fake_clock):
    pages = [
        FakeResponse(
            200, {"value": [{"id": 1}, {"id": 2}], "@odata.nextLink": BASE + "/v1.0/applications?$skiptoken=AAA%3D"}
        ),
        FakeResponse(200, {"value": [{"id": 3}], "@odata.nextLink": BASE + "/v1.0/applications?$skiptoken=BBB"}),
        FakeResponse(200, {"value": [{"id": 4}]}),
    ]
    session = ScriptedSession(*pages)
    items = graph(session, fake_clock).list(
        "applications", filter="startswith(displayName,'pc')", top=2, headers={"ConsistencyLevel": "eventual"}
    )
    assert [i["id"] for i in items] == [1, 2, 3, 4]
    assert [s.url for s in session.sent] == [
        BASE + "/v1.0/applications?$filter=startswith(displayName,'pc')&$top=2",
        BASE + "/v1.0/applications?$skiptoken=AAA%3D",
        BASE + "/v1.0/applications?$skiptoken=BBB",
    ]
    assert all(s.headers["ConsistencyLevel"] == "eventual" for s in session.sent)
    assert all(s.headers["Authorization"].startswith("Bearer ") for s in session.sent)


def test_next_link_to_another_host_is_refused(fake_clock):
    session = ScriptedSession(FakeResponse(200, {"value": [], "@odata.nextLink": "https://evil.example/v1.0/x"}))
    with pytest.raises(ConfigurationError, match="Refusing to send a Graph token"):
        graph(session, fake_clock).list("applications")
    assert len(session.sent) == 1


def test_post_patch_delete_return_status_and_body(fake_clock):
    session = ScriptedSession(FakeResponse(201, {"id": "n"}), FakeResponse(204), FakeResponse(204))
    client = graph(session, fake_clock)
    created = client.post("applications", {"displayName": "x"}, operation="create_application")
    assert (created.status, created.body) == (201, {"id": "n"})
    updated = client.patch(
        _graph.key_segment("applications", "uniqueName", "u"),
        {"displayName": "x"},
        headers={"Prefer": "create-if-missing"},
    )
    assert (updated.status, updated.body) == (204, None)
    assert session.sent[1].url == BASE + "/v1.0/applications(uniqueName='u')"
    assert session.sent[1].headers["Prefer"] == "create-if-missing"
    assert session.sent[1].json == {"displayName": "x"}
    assert client.delete("applications/n").status == 204


def test_post_is_not_retried_on_500(fake_clock):
    session = ScriptedSession(FakeResponse(500))
    with pytest.raises(ServiceError):
        graph(session, fake_clock).post("applications", {"displayName": "x"})
    assert len(session.sent) == 1


def test_forbidden_names_the_least_privileged_permission(fake_clock):
    body = {
        "error": {
            "code": "Authorization_RequestDenied",
            "message": "Insufficient privileges to complete the operation.",
            "innerError": {"request-id": "rid-7", "client-request-id": "crid-7", "date": "2026-10-01T00:00:00"},
        }
    }
    session = ScriptedSession(FakeResponse(403, body))
    with pytest.raises(ForbiddenError) as err:
        graph(session, fake_clock).post("applications", {"displayName": "x"}, operation="create_application")
    exc = err.value
    assert exc.required_permissions == ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All")
    text = exc.to_message()
    assert "Authorization_RequestDenied" in text
    assert "Application.ReadWrite.OwnedBy or Application.ReadWrite.All" in text
    assert "to create application" in text
    assert "request-id: rid-7" in text and "client-request-id: crid-7" in text
    assert exc.to_dict()["required_permissions"] == ["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"]


@pytest.mark.parametrize(
    ("operation", "permission"),
    [
        ("read_application", "Application.Read.All"),
        ("create_app_role_assignment", "AppRoleAssignment.ReadWrite.All"),
        ("create_oauth2_permission_grant", "DelegatedPermissionGrant.ReadWrite.All"),
        ("read_app_management_policy", "Policy.Read.All"),
    ],
)
def test_permission_table(operation, permission):
    assert permission in _graph.GRAPH_PERMISSIONS[operation]


def test_permission_table_is_alphabetical():
    assert list(_graph.GRAPH_PERMISSIONS) == sorted(_graph.GRAPH_PERMISSIONS)


# Consistency -------------------------------------------------------------------------------------


def test_wait_for_retries_404_until_visible(fake_clock):
    session = ScriptedSession(not_found(), not_found(), FakeResponse(200, {"id": "new"}))
    client = graph(session, fake_clock)
    assert client.wait_for(lambda: client.get("applications/new"), what="the new application") == {"id": "new"}
    assert len(session.sent) == 3
    assert fake_clock.sleeps == [0.375, 0.75]  # equal jitter with rand() == 0.5: 3/4 of 0.5, 1.0


def test_wait_for_predicate(fake_clock):
    session = ScriptedSession(FakeResponse(200, {"tags": []}), FakeResponse(200, {"tags": ["x"]}))
    client = graph(session, fake_clock)
    result = client.wait_for(lambda: client.get("applications/1"), lambda app: "x" in app["tags"], what="tags")
    assert result == {"tags": ["x"]}


def test_wait_for_budget_exhaustion(fake_clock):
    session = ScriptedSession(handler=lambda sent: not_found("gone"))
    client = graph(session, fake_clock, consistency_timeout=10)
    with pytest.raises(ConsistencyTimeout) as err:
        client.wait_for(lambda: client.get("applications/gone"), what="application gone")
    assert fake_clock.now == pytest.approx(10)
    exc = err.value
    assert exc.last_error is not None and exc.last_error.code == "Request_ResourceNotFound"
    text = exc.to_message()
    assert "10 seconds" in text and "application gone" in text and "consistency_timeout" in text
    assert exc.to_dict()["code"] == "Request_ResourceNotFound"


def test_wait_for_does_not_hide_other_errors(fake_clock):
    session = ScriptedSession(FakeResponse(403, {"error": {"code": "Authorization_RequestDenied", "message": "no"}}))
    client = graph(session, fake_clock)
    with pytest.raises(ForbiddenError):
        client.wait_for(lambda: client.get("applications/1"), what="x")
    assert fake_clock.sleeps == []


def test_dependent_write_retries_no_backing_application_object(fake_clock):
    session = ScriptedSession(
        FakeResponse(400, NO_BACKING), FakeResponse(400, NO_BACKING), FakeResponse(201, {"id": "sp"})
    )
    client = graph(session, fake_clock)
    created = client.retry_dependent_write(
        lambda: client.post("servicePrincipals", {"appId": "a1"}, operation="create_service_principal"),
        what="service principal",
    )
    assert (created.status, created.body) == (201, {"id": "sp"})
    assert len(session.sent) == 3
    # Each attempt is its own logical request: a new client-request-id.
    assert len({s.headers["client-request-id"] for s in session.sent}) == 3


@pytest.mark.parametrize(
    "failure",
    [
        lambda: not_found("fresh"),
        lambda: FakeResponse(
            400,
            {
                "error": {
                    "code": "Request_BadRequest",
                    "message": "When using this permission, the backing application of the service principal being created must in the local tenant",
                }
            },
        ),
        lambda: FakeResponse(
            400,
            {
                "error": {
                    "code": "Request_BadRequest",
                    "message": "The appId 'x' of the service principal does not reference a valid application object.",
                }
            },
        ),
    ],
)
def test_dependent_write_retries_other_lag_shapes(fake_clock, failure):
    session = ScriptedSession(failure(), FakeResponse(204))
    client = graph(session, fake_clock)
    assert (
        client.retry_dependent_write(lambda: client.patch("applications/fresh", {"notes": "n"}), what="x").status == 204
    )


def test_dependent_write_raises_real_errors_at_once(fake_clock):
    session = ScriptedSession(
        FakeResponse(400, {"error": {"code": "Request_BadRequest", "message": "Property 'x' is invalid."}})
    )
    client = graph(session, fake_clock)
    with pytest.raises(ServiceError) as err:
        client.retry_dependent_write(lambda: client.post("servicePrincipals", {"appId": "a"}), what="x")
    assert err.value.status == 400 and fake_clock.sleeps == []


def test_dependent_write_budget_exhaustion(fake_clock):
    session = ScriptedSession(handler=lambda sent: FakeResponse(400, NO_BACKING))
    client = graph(session, fake_clock, consistency_timeout=30)
    with pytest.raises(ConsistencyTimeout) as err:
        client.retry_dependent_write(
            lambda: client.post("servicePrincipals", {"appId": "a1"}), what="the service principal"
        )
    assert err.value.last_error.detail_code == "NoBackingApplicationObject"
    assert fake_clock.now == pytest.approx(30)
    assert max(fake_clock.sleeps) <= 8


# Refused tokens -------------------------------------------------------------------------------------

EXPIRED = {"error": {"code": "InvalidAuthenticationToken", "message": "Lifetime validation failed, the token is expired."}}


class InvalidatingProvider:
    """A token provider that hands out a new token after each invalidation."""

    def __init__(self):
        self.generation = 0
        self.invalidated = []

    def __call__(self, resource):
        return "tok-%d" % self.generation

    def invalidate(self, resource):
        self.invalidated.append(resource)
        self.generation += 1


def test_a_refused_token_is_replaced_once(fake_clock):
    session = ScriptedSession(FakeResponse(401, EXPIRED), FakeResponse(200, {"id": "1"}))
    provider = InvalidatingProvider()
    http = _http.HttpClient(session=session, sleep=fake_clock.sleep, clock=fake_clock.clock, wall_clock=fake_clock.wall)
    client = _graph.GraphClient(http, provider, base_url=BASE, resource="https://graph.microsoft.us")
    assert client.get("applications/1") == {"id": "1"}
    assert provider.invalidated == ["https://graph.microsoft.us"]
    assert [s.headers["Authorization"] for s in session.sent] == ["Bearer tok-0", "Bearer tok-1"]


def test_a_token_refused_twice_fails(fake_clock):
    session = ScriptedSession(FakeResponse(401, EXPIRED), FakeResponse(401, EXPIRED))
    provider = InvalidatingProvider()
    http = _http.HttpClient(session=session, sleep=fake_clock.sleep, clock=fake_clock.clock, wall_clock=fake_clock.wall)
    client = _graph.GraphClient(http, provider, base_url=BASE, resource="https://graph.microsoft.us")
    with pytest.raises(ServiceError) as caught:
        client.get("applications/1")
    assert caught.value.status == 401 and len(session.sent) == 2


# JSON batching ---------------------------------------------------------------------------------------


def batch_answer(*responses):
    return FakeResponse(200, {"responses": list(responses)})


def test_batch_returns_each_result_in_order(fake_clock):
    session = ScriptedSession(batch_answer(
        {"id": "1", "status": 404, "body": {"error": {"code": "Request_ResourceNotFound", "message": "gone"}}},
        {"id": "0", "status": 200, "body": {"id": "a"}, "headers": {"Content-Type": "application/json"}},
    ))
    client = graph(session, fake_clock)
    first, second = client.batch([_graph.BatchItem("GET", "applications(appId='a')", {"$select": "id"}),
                                  _graph.BatchItem("GET", "servicePrincipals/x", operation="read_service_principal")])
    assert first.body == {"id": "a"}
    assert isinstance(second, ServiceError) and second.is_not_found and second.code == "Request_ResourceNotFound"
    assert second.required_permissions == _graph.GRAPH_PERMISSIONS["read_service_principal"]
    [sent] = session.sent
    assert sent.method == "POST" and sent.url == BASE + "/v1.0/$batch"
    assert sent.json == {"requests": [{"id": "0", "method": "GET", "url": "/applications(appId='a')?$select=id"},
                                      {"id": "1", "method": "GET", "url": "/servicePrincipals/x"}]}


def test_batch_resends_only_the_throttled_requests_after_retry_after(fake_clock):
    session = ScriptedSession(
        batch_answer({"id": "0", "status": 200, "body": {"id": "a"}},
                     {"id": "1", "status": 429, "headers": {"Retry-After": "3"},
                      "body": {"error": {"code": "TooManyRequests", "message": "slow down"}}}),
        batch_answer({"id": "1", "status": 200, "body": {"id": "b"}}),
    )
    client = graph(session, fake_clock)
    first, second = client.batch([_graph.BatchItem("GET", "a"), _graph.BatchItem("GET", "b")])
    assert first.body == {"id": "a"} and second.body == {"id": "b"}
    assert fake_clock.sleeps == [3.0]
    assert [r["id"] for r in session.sent[1].json["requests"]] == ["1"]


def test_batch_of_more_than_twenty_takes_two_round_trips(fake_clock):
    def answer(sent):
        return batch_answer(*({"id": r["id"], "status": 200, "body": {"n": r["id"]}} for r in sent.json["requests"]))

    session = ScriptedSession(handler=answer)
    results = graph(session, fake_clock).batch([_graph.BatchItem("GET", "applications/%d" % n) for n in range(25)])
    assert [r.body["n"] for r in results] == [str(n) for n in range(25)]
    assert [len(s.json["requests"]) for s in session.sent] == [20, 5]


def test_batch_with_a_write_is_not_resent_on_a_transient_error(fake_clock):
    session = ScriptedSession(batch_answer({"id": "0", "status": 502, "body": {"error": {"code": "BadGateway", "message": "x"}}}))
    [result] = graph(session, fake_clock).batch([_graph.BatchItem("PATCH", "applications/1", body={"notes": "n"})])
    assert isinstance(result, ServiceError) and result.status == 502 and len(session.sent) == 1
    assert session.sent[0].json["requests"][0]["body"] == {"notes": "n"}
