# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HttpClient: headers, retries and backoff (sleep/clock/random patched), error parsing, TLS trust."""

from __future__ import annotations

import json
import platform
import re
import time
import uuid

import pytest
import requests
import urllib3.exceptions
from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _http
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    ConfigurationError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
    ThrottledError,
    TransportError,
    redact_url,
)
from tests.unit.conftest import FakeResponse, ScriptedSession, json_reply

URL = "https://graph.example.test/v1.0/applications"
GRAPH_403 = {
    "error": {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": {"date": "2026-10-01T10:00:00", "request-id": "rid-1", "client-request-id": "crid-1"},
    }
}


def client(session, clock, **kwargs):
    kwargs.setdefault("retry_timeout", 120)
    return _http.HttpClient(
        session=session, sleep=clock.sleep, clock=clock.clock, wall_clock=clock.wall, rand=lambda: 0.5, **kwargs
    )


# Headers -----------------------------------------------------------------------------------------


def test_user_agent_names_collection_ansible_and_python():
    assert _http.user_agent() == "partnercenter.national_cloud/0.1.0 (ansible-core/%s; python/%s)" % (
        ANSIBLE_VERSION,
        platform.python_version(),
    )


def test_every_request_sends_tracing_headers(fake_clock):
    session = ScriptedSession(FakeResponse(200, {"ok": True}))
    client(session, fake_clock).request("GET", URL, service="graph", headers={"Authorization": "Bearer x"})
    headers = session.sent[0].headers
    assert uuid.UUID(headers["client-request-id"]).version == 4
    assert headers["return-client-request-id"] == "true"
    assert headers["User-Agent"] == _http.user_agent()
    assert headers["Authorization"] == "Bearer x"


def test_client_request_id_is_stable_across_retries_and_new_per_request(fake_clock):
    session = ScriptedSession(
        FakeResponse(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "1"}),
        FakeResponse(503, None, {"Retry-After": "1"}),
        FakeResponse(200, {}),
        FakeResponse(200, {}),
    )
    http = client(session, fake_clock)
    http.request("GET", URL, service="graph")
    http.request("GET", URL, service="graph")
    ids = [s.headers["client-request-id"] for s in session.sent]
    assert ids[0] == ids[1] == ids[2]
    assert ids[3] != ids[0]


def test_caller_client_request_id_is_kept(fake_clock):
    session = ScriptedSession(FakeResponse(200, {}))
    client(session, fake_clock).request("GET", URL, service="graph", headers={"Client-Request-Id": "mine"})
    assert session.sent[0].headers["client-request-id"] == "mine"
    assert "Client-Request-Id" not in session.sent[0].headers


# Retry-After and backoff -------------------------------------------------------------------------


def test_429_honours_retry_after_seconds(fake_clock):
    session = ScriptedSession(
        FakeResponse(429, {"error": {"code": "TooManyRequests"}}, {"Retry-After": "7"}), FakeResponse(200, {"v": 1})
    )
    response = client(session, fake_clock).request("GET", URL, service="graph")
    assert response.status_code == 200
    assert fake_clock.sleeps == [7.0]


def test_retry_after_fractional_seconds(fake_clock):
    session = ScriptedSession(FakeResponse(429, None, {"Retry-After": "0.25"}), FakeResponse(200, {}))
    client(session, fake_clock).request("GET", URL, service="graph")
    assert fake_clock.sleeps == [0.25]


def test_retry_after_http_date_is_measured_against_the_date_header(fake_clock):
    headers = {"Date": "Wed, 21 Oct 2026 07:28:00 GMT", "Retry-After": "Wed, 21 Oct 2026 07:28:12 GMT"}
    session = ScriptedSession(FakeResponse(503, None, headers), FakeResponse(200, {}))
    client(session, fake_clock).request("GET", URL, service="graph")
    assert fake_clock.sleeps == [12.0]


def test_retry_after_http_date_without_date_header_uses_wall_clock():
    assert _http.parse_retry_after("Wed, 21 Oct 2026 07:28:12 GMT", now=1792567680.0) == 12.0
    assert _http.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1792567680.0) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf"])
def test_unusable_retry_after_is_ignored(value):
    assert _http.parse_retry_after(value, now=0.0) is None


def test_negative_retry_after_is_zero():
    assert _http.parse_retry_after("-5", now=0.0) == 0.0


def test_retry_after_is_clamped_to_max_single_wait(fake_clock):
    session = ScriptedSession(FakeResponse(429, None, {"Retry-After": "3600"}), FakeResponse(200, {}))
    client(session, fake_clock, max_retry_wait=30, retry_timeout=300).request("GET", URL, service="graph")
    assert fake_clock.sleeps == [30]


def test_without_retry_after_backoff_is_exponential_with_full_jitter(fake_clock):
    session = ScriptedSession(*[FakeResponse(503) for _attempt in range(7)], FakeResponse(200, {}))
    http = client(session, fake_clock, retry_timeout=1000, backoff_base=1.0, backoff_cap=30.0)
    http.request("GET", URL, service="graph")
    # rand() == 0.5: half of min(cap, base * 2**(n-1))
    assert fake_clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_full_jitter_uses_the_random_source(fake_clock):
    values = iter([0.0, 1.0])
    http = _http.HttpClient(
        session=ScriptedSession(), sleep=fake_clock.sleep, clock=fake_clock.clock, rand=lambda: next(values)
    )
    assert http.backoff(3) == 0.0
    assert http.backoff(3) == 4.0


def test_budget_exhaustion_raises_throttled_error(fake_clock):
    throttled = {
        "error": {"code": "TooManyRequests", "message": "Too many requests.", "innerError": {"request-id": "r-9"}}
    }
    session = ScriptedSession(handler=lambda sent: FakeResponse(429, throttled, {"Retry-After": "10"}))
    with pytest.raises(ThrottledError) as err:
        client(session, fake_clock, retry_timeout=35).request("GET", URL, service="graph")
    assert fake_clock.sleeps == [10, 10, 10]
    assert len(session.sent) == 4
    exc = err.value
    assert exc.status == 429 and exc.attempts == 4 and exc.code == "TooManyRequests"
    assert exc.request_id == "r-9"
    assert "retry_timeout" in exc.to_message() and "4 attempts" in exc.to_message()


def test_retry_after_beyond_budget_gives_up_at_once(fake_clock):
    session = ScriptedSession(FakeResponse(429, None, {"Retry-After": "50"}))
    with pytest.raises(ThrottledError):
        client(session, fake_clock, retry_timeout=20).request("GET", URL, service="graph")
    assert fake_clock.sleeps == []


def test_zero_retry_timeout_means_no_retry(fake_clock):
    session = ScriptedSession(FakeResponse(429, None, {"Retry-After": "1"}))
    with pytest.raises(ThrottledError):
        client(session, fake_clock, retry_timeout=0).request("GET", URL, service="graph")


@pytest.mark.parametrize("status", [429, 503])
def test_post_is_retried_on_throttling(fake_clock, status):
    session = ScriptedSession(FakeResponse(status, None, {"Retry-After": "2"}), FakeResponse(201, {"id": "1"}))
    response = client(session, fake_clock).request("POST", URL, service="graph", json_body={"displayName": "x"})
    assert response.status_code == 201
    assert len(session.sent) == 2


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_is_not_retried_on_server_error(fake_clock, status):
    session = ScriptedSession(FakeResponse(status, {"error": {"code": "InternalServerError", "message": "boom"}}))
    with pytest.raises(ServiceError) as err:
        client(session, fake_clock).request("POST", URL, service="graph", json_body={})
    assert len(session.sent) == 1
    assert err.value.status == status


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE", "HEAD"])
def test_idempotent_methods_are_retried_on_server_error(fake_clock, method):
    session = ScriptedSession(FakeResponse(500), FakeResponse(502), FakeResponse(504), FakeResponse(204))
    assert client(session, fake_clock).request(method, URL, service="graph").status_code == 204
    assert len(session.sent) == 4


def test_post_declared_idempotent_is_retried_on_server_error(fake_clock):
    session = ScriptedSession(FakeResponse(500), FakeResponse(200, {}))
    client(session, fake_clock).request("POST", URL, service="graph", idempotent=True)
    assert len(session.sent) == 2


def test_other_errors_are_not_retried(fake_clock):
    session = ScriptedSession(FakeResponse(403, GRAPH_403))
    with pytest.raises(ForbiddenError):
        client(session, fake_clock).request("GET", URL, service="graph")
    assert len(session.sent) == 1 and fake_clock.sleeps == []


def test_raise_for_status_false_returns_the_error_response(fake_clock):
    session = ScriptedSession(FakeResponse(400, {"error": "invalid_client"}))
    assert (
        client(session, fake_clock).request("POST", URL, service="identity", raise_for_status=False).status_code == 400
    )


# Connection errors -------------------------------------------------------------------------------


def refused() -> requests.ConnectionError:
    """What requests raises when the TCP connection is refused: the request never left."""
    pool = urllib3.HTTPSConnectionPool("graph.example.test", 443)
    reason = urllib3.exceptions.NewConnectionError(
        pool, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/v1.0", reason))


def dns_failure() -> requests.ConnectionError:
    pool = urllib3.HTTPSConnectionPool("graph.example.test", 443)
    reason = urllib3.exceptions.NameResolutionError("graph.example.test", pool, OSError("Name or service not known"))
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(pool, "/v1.0", reason))


def dropped() -> requests.ConnectionError:
    """The connection broke after the request was sent: it may have been processed."""
    return requests.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))
    )


@pytest.mark.parametrize("make", [refused, dns_failure, lambda: requests.ConnectTimeout("connect timed out")])
def test_never_sent_errors_are_retried_even_for_post(fake_clock, make):
    session = ScriptedSession(make(), FakeResponse(201, {"id": "x"}))
    response = client(session, fake_clock).request("POST", URL, service="graph", json_body={})
    assert response.status_code == 201
    assert len(session.sent) == 2
    assert fake_clock.sleeps == [0.5]


@pytest.mark.parametrize(
    "make",
    [
        dropped,
        lambda: requests.ReadTimeout("read timed out"),
        lambda: requests.exceptions.ChunkedEncodingError("broken"),
    ],
)
def test_errors_after_send_are_not_retried_for_post(fake_clock, make):
    session = ScriptedSession(make())
    with pytest.raises(TransportError) as err:
        client(session, fake_clock).request("POST", URL, service="graph", json_body={})
    assert len(session.sent) == 1
    assert not err.value.tls
    assert err.value.host == "graph.example.test"


@pytest.mark.parametrize(
    "make",
    [
        dropped,
        lambda: requests.ReadTimeout("read timed out"),
        lambda: requests.exceptions.ChunkedEncodingError("broken"),
    ],
)
def test_errors_after_send_are_retried_for_get(fake_clock, make):
    session = ScriptedSession(make(), FakeResponse(200, {}))
    assert client(session, fake_clock).request("GET", URL, service="graph").status_code == 200


def test_connection_retries_stop_at_the_budget(fake_clock):
    session = ScriptedSession(handler=lambda sent: refused())
    with pytest.raises(TransportError) as err:
        client(session, fake_clock, retry_timeout=5).request("GET", URL, service="graph")
    assert err.value.attempts == len(session.sent) > 1
    assert "Connection refused" in err.value.to_message()
    assert sum(fake_clock.sleeps) <= 5


def test_tls_error_is_not_retried_and_hints_ca_bundle(fake_clock):
    session = ScriptedSession(
        requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    )
    with pytest.raises(TransportError) as err:
        client(session, fake_clock).request("GET", URL, service="graph")
    assert err.value.tls and len(session.sent) == 1
    assert "ca_bundle" in err.value.to_message()
    assert "graph.example.test" in err.value.to_message()


def test_missing_ca_bundle_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError) as err:
        _http.HttpClient(ca_bundle=str(tmp_path / "nope.pem"), session=ScriptedSession())
    assert err.value.option == "ca_bundle"


# Error parsing -----------------------------------------------------------------------------------


def parse(response, method="GET", url=URL, service="graph"):
    return _http.parse_error(response, service=service, method=method, url=url, client_request_id="sent-crid")


def test_parse_graph_odata_error_with_details():
    body = {
        "error": {
            "code": "Request_BadRequest",
            "message": "The appId 'a1' of the service principal does not reference a valid application object.",
            "details": [{"code": "NoBackingApplicationObject", "message": "...", "target": "appId"}],
            "innerError": {"date": "2026-01-01T00:00:00", "request-id": "req-1", "client-request-id": "crid-1"},
        }
    }
    exc = parse(FakeResponse(400, body), method="POST")
    assert (exc.status, exc.code, exc.detail_code) == (400, "Request_BadRequest", "NoBackingApplicationObject")
    assert (exc.request_id, exc.client_request_id, exc.date) == ("req-1", "crid-1", "2026-01-01T00:00:00")
    assert exc.has_code("noBackingApplicationObject")
    message = exc.to_message()
    assert "POST %s" % URL in message and "NoBackingApplicationObject" in message and "req-1" in message


def test_parse_graph_error_takes_request_id_from_header_when_missing_in_body():
    exc = parse(
        FakeResponse(
            404,
            {"error": {"code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist."}},
            {"request-id": "hdr-rid", "client-request-id": "hdr-crid"},
        )
    )
    assert isinstance(exc, NotFoundError)
    assert (exc.request_id, exc.client_request_id) == ("hdr-rid", "hdr-crid")


def test_parse_legacy_aad_graph_error():
    body = {
        "odata.error": {
            "code": "Request_BadRequest",
            "message": {"lang": "en", "value": "Invalid value."},
            "requestId": "aad-r",
            "date": "d",
        }
    }
    exc = parse(FakeResponse(400, body))
    assert (exc.code, exc.service_message, exc.request_id) == ("Request_BadRequest", "Invalid value.", "aad-r")


def test_parse_partner_center_error_with_bom():
    raw = "\ufeff" + json.dumps(
        {"code": 600008, "description": "The requested resource was not found.", "data": [], "source": "PartnerFD"}
    )
    exc = parse(
        FakeResponse(404, raw=raw.encode("utf-8"), headers={"Content-Type": "application/json; charset=utf-8"}),
        service="partner_center",
    )
    assert exc.code == "600008"
    assert exc.service_message == "The requested resource was not found."
    assert exc.service == "partner_center"
    assert exc.to_message().startswith("Partner Center request GET")
    assert exc.client_request_id == "sent-crid"


def test_parse_partner_center_error_name():
    exc = parse(
        FakeResponse(
            401, {"code": "900420", "description": "The audience is invalid.", "errorName": "InvalidAudience"}
        ),
        service="partner_center",
    )
    assert (exc.code, exc.detail_code) == ("900420", "InvalidAudience")


def test_parse_oauth_error():
    exc = parse(
        FakeResponse(
            400,
            {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: t",
            },
        ),
        service="identity",
    )
    assert exc.code == "invalid_client"
    assert exc.service_message == "AADSTS7000215: Invalid client secret provided."


def test_parse_non_json_html_body():
    exc = parse(FakeResponse(502, raw=b"<html><body>Bad gateway</body></html>", headers={"Content-Type": "text/html"}))
    assert exc.code is None and "text/html" in exc.service_message


def test_parse_plain_text_body_and_empty_body():
    assert parse(FakeResponse(500, raw=b"upstream timed out\nmore")).service_message == "upstream timed out"
    exc = parse(FakeResponse(500))
    assert exc.service_message == "Error"
    assert exc.client_request_id == "sent-crid"


def test_decode_json_strips_bom():
    response = FakeResponse(
        200, raw=b"\xef\xbb\xbf" + b'{"id": 1}', headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert _http.decode_json(response) == {"id": 1}
    assert _http.decode_json(FakeResponse(204)) is None


def test_decode_json_rejects_non_json_success():
    response = FakeResponse(200, raw=b"<html/>", headers={"Content-Type": "text/html"})
    response.request = requests.Request("GET", URL).prepare()
    with pytest.raises(ServiceError) as err:
        _http.decode_json(response)
    assert err.value.code == "InvalidResponse"


def test_url_secrets_are_redacted_in_errors():
    url = "https://login.example.test/t/oauth2/token?client_secret=S3CR3T&code=abc&x=1"
    assert "S3CR3T" not in redact_url(url) and "x=1" in redact_url(url)
    exc = parse(FakeResponse(400, {"error": "x"}), url=url)
    assert "S3CR3T" not in exc.to_message() and "abc" not in exc.url


def test_tokens_never_appear_in_messages(fake_clock):
    session = ScriptedSession(FakeResponse(403, GRAPH_403))
    with pytest.raises(ServiceError) as err:
        client(session, fake_clock).request(
            "GET", URL, service="graph", headers={"Authorization": "Bearer SECRET-TOKEN"}
        )
    assert "SECRET-TOKEN" not in err.value.to_message()
    assert "SECRET-TOKEN" not in json.dumps(err.value.to_dict())


# TLS trust with a real local HTTPS server (127.0.0.1) -------------------------------------------


@pytest.fixture
def hello(https_server):
    https_server.handler = lambda seen: json_reply(200, {"hello": "world"})
    return https_server


def fresh_client(ca_bundle=None):
    session = _http.VerifyingSession(ca_bundle)
    return _http.HttpClient(ca_bundle=ca_bundle, session=session, retry_timeout=0), session


def test_ca_bundle_wins_over_wrong_requests_ca_bundle(hello, other_ca_bundle, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", other_ca_bundle)
    monkeypatch.setenv("CURL_CA_BUNDLE", other_ca_bundle)
    http, session = fresh_client(hello.ca_path)
    with session:
        assert http.request("GET", hello.base_url + "/x", service="graph").json() == {"hello": "world"}


def test_plain_session_verify_is_overridden_by_environment(hello, other_ca_bundle, monkeypatch):
    """Documents the requests behaviour the VerifyingSession exists for (psf/requests#3829)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", other_ca_bundle)
    with requests.Session() as plain:
        plain.verify = hello.ca_path
        with pytest.raises(requests.exceptions.SSLError):
            plain.get(hello.base_url + "/x", timeout=10)


def test_without_ca_bundle_the_environment_bundle_is_used(hello, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", hello.ca_path)
    http, session = fresh_client(None)
    with session:
        assert http.request("GET", hello.base_url + "/x", service="graph").status_code == 200


def test_without_ca_bundle_a_wrong_environment_bundle_fails_typed(hello, other_ca_bundle, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", other_ca_bundle)
    http, session = fresh_client(None)
    with session, pytest.raises(TransportError) as err:
        http.request("GET", hello.base_url + "/x", service="graph")
    assert err.value.tls
    assert "127.0.0.1:%d" % hello.port in err.value.to_message()
    assert "ca_bundle" in err.value.to_message()


def test_verification_cannot_be_switched_off(hello, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with _http.VerifyingSession(None) as session:
        session.verify = False
        with pytest.raises(requests.exceptions.SSLError):
            session.get(hello.base_url + "/x", verify=False, timeout=10)


def test_real_server_sees_headers(hello):
    http, session = fresh_client(hello.ca_path)
    with session:
        http.request("GET", hello.base_url + "/x", service="graph")
    seen = hello.requests[0].headers
    assert seen["User-Agent"] == _http.user_agent()
    assert re.fullmatch(r"[0-9a-f-]{36}", seen["client-request-id"])
    assert seen["return-client-request-id"] == "true"


def test_one_session_per_process_per_ca_bundle(tmp_path):
    bundle = tmp_path / "b.pem"
    bundle.write_text("x")
    try:
        a = _http.get_session(str(bundle))
        assert _http.get_session(str(bundle)) is a
        assert _http.get_session(None) is not a
        assert a.verify == str(bundle.resolve())
    finally:
        for key in (str(bundle.resolve()), None):
            session = _http._SESSIONS.pop(key, None)
            if session is not None:
                session.close()


# Fast outages (issue 14): refused, DNS and connect timeouts get a short budget; throttling keeps the long one.


@pytest.mark.parametrize("make", [refused, dns_failure, lambda: requests.ConnectTimeout("connect timed out")])
def test_an_unreachable_endpoint_fails_within_the_connect_budget(fake_clock, make):
    session = ScriptedSession(handler=lambda sent: make())
    with pytest.raises(TransportError) as err:
        client(session, fake_clock, retry_timeout=120, connect_retry_timeout=5).request("GET", URL, service="graph")
    assert sum(fake_clock.sleeps) <= 5 and err.value.attempts == len(session.sent) > 1
    assert "graph.example.test" in err.value.to_message() and "connect_retry_timeout" in err.value.to_message()


def test_the_default_connect_budget_is_a_few_seconds(fake_clock):
    session = ScriptedSession(handler=lambda sent: refused())
    with pytest.raises(TransportError):
        client(session, fake_clock).request("GET", URL, service="graph")
    assert 0 < sum(fake_clock.sleeps) <= 10


def test_throttling_keeps_the_long_budget_after_a_refused_connection(fake_clock):
    throttled = [FakeResponse(429, {}, headers={"Retry-After": "10"}) for dummy in range(6)]
    session = ScriptedSession(refused(), *throttled, FakeResponse(200, {}))
    response = client(session, fake_clock, retry_timeout=120, connect_retry_timeout=5).request("GET", URL, service="graph")
    assert response.status_code == 200 and sum(fake_clock.sleeps) > 60


def test_zero_connect_retry_timeout_means_no_retry_of_a_refused_connection(fake_clock):
    session = ScriptedSession(handler=lambda sent: refused())
    with pytest.raises(TransportError):
        client(session, fake_clock, connect_retry_timeout=0).request("GET", URL, service="graph")
    assert len(session.sent) == 1


def test_a_real_closed_port_fails_fast():
    """Nothing listens on the port: the default budget ends the request in seconds, not minutes (generous bound)."""
    import socket  # pylint: disable=import-outside-toplevel

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: connections are refused
    http = _http.HttpClient(session=requests.Session())
    started = time.monotonic()
    with pytest.raises(TransportError) as err:
        http.request("GET", "https://127.0.0.1:%d/v1.0/me" % port, service="graph")
    assert time.monotonic() - started < 30
    assert "127.0.0.1" in err.value.to_message() and err.value.attempts > 1
