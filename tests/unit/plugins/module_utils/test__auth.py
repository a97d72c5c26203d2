# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Access tokens: caller-supplied tokens, and msal end to end against a tiny local HTTPS stand-in of
OIDC discovery + the v2 token endpoint (127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _auth, _credentials, _http, _ids
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    AuthenticationError,
    ConfigurationError,
)
from tests.unit.conftest import json_reply, write_private
from tests.unit.plugins.module_utils.auth_helpers import (
    CLIENT,
    OTHER_CLIENT,
    PUBLIC,
    SECRET,
    TENANT,
    USGOV,
    b64url,
    jwt_part,
    make_jwt,
    mode,
    pem_file,
    pfx_file,
)


# -------------------------------------------------------------------------------------------------
# Caller-supplied access tokens
# -------------------------------------------------------------------------------------------------

NOW = 1_800_000_000


@pytest.mark.parametrize(
    "aud",
    [
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
        _ids.GRAPH_APP_ID,
        ["x", "https://graph.microsoft.com"],
    ],
)
def test_access_token_for_the_right_audience(aud):
    token = make_jwt({"aud": aud, "exp": NOW + 3600})
    assert _auth.check_access_token(token, cloud=PUBLIC, resource=PUBLIC.graph_resource, now=NOW) == []


def test_access_token_of_another_cloud_is_refused():
    token = make_jwt({"aud": "https://graph.microsoft.us", "exp": NOW + 3600})
    with pytest.raises(AuthenticationError) as err:
        _auth.check_access_token(token, cloud=PUBLIC, resource=PUBLIC.graph_resource, now=NOW)
    text = err.value.to_message()
    assert "https://graph.microsoft.us" in text and "https://graph.microsoft.com" in text and "check cloud" in text
    assert token not in text


def test_access_token_for_another_resource_is_refused():
    token = make_jwt({"aud": "https://graph.microsoft.com", "exp": NOW + 3600})
    with pytest.raises(AuthenticationError):
        _auth.check_access_token(token, cloud=PUBLIC, resource=PUBLIC.partner_center_resource, now=NOW)
    pc = make_jwt({"aud": _ids.PARTNER_CENTER_APP_ID, "exp": NOW + 3600})
    assert _auth.check_access_token(pc, cloud=PUBLIC, resource=PUBLIC.partner_center_resource, now=NOW) == []


def test_expired_access_token_is_refused():
    token = make_jwt({"aud": "https://graph.microsoft.com", "exp": NOW - 1})
    with pytest.raises(AuthenticationError) as err:
        _auth.check_access_token(token, cloud=PUBLIC, resource=PUBLIC.graph_resource, now=NOW)
    assert "expired at 2027-01-15T07:59:59+00:00" in err.value.to_message()


def test_access_token_near_expiry_warns():
    token = make_jwt({"aud": "https://graph.microsoft.com", "exp": NOW + 60})
    assert (
        "expires in 60 seconds"
        in _auth.check_access_token(token, cloud=PUBLIC, resource=PUBLIC.graph_resource, now=NOW)[0]
    )


@pytest.mark.parametrize("token", ["opaque-token", "a.b", "a.!!!.c", "a.%s.c" % b64url(b"[1]")])
def test_non_jwt_access_token_only_warns(token):
    assert "not a JWT" in _auth.check_access_token(token, cloud=PUBLIC, resource=PUBLIC.graph_resource, now=NOW)[0]


def test_token_provider_with_access_token_makes_no_request(tmp_path):
    token = make_jwt({"aud": "https://graph.microsoft.us", "exp": time.time() + 3600})
    provider = _auth.TokenProvider(
        cloud=USGOV, credentials=_credentials.Credentials(access_token=token), http=None, cache_dir=str(tmp_path / "c")  # type: ignore[arg-type]
    )
    assert provider.get_token("https://graph.microsoft.us") == token
    with pytest.raises(AuthenticationError):
        provider.get_token(USGOV.partner_center_resource)
    assert not (tmp_path / "c").exists()


# -------------------------------------------------------------------------------------------------
# msal end to end against a local identity-platform stand-in
# -------------------------------------------------------------------------------------------------


class IdentityStandIn:
    """OIDC discovery + v2 token endpoint for one tenant and client, on the local HTTPS server."""

    def __init__(self, server):
        self.server = server
        self.base = server.base_url
        self.assertions: list[str] = []
        self.msi_calls: list[dict] = []
        server.handler = self.handle

    def handle(self, seen):
        parts = seen.path.strip("/").split("/")
        if seen.method == "GET" and seen.path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = parts[0]
            if tenant != TENANT:
                return json_reply(
                    400,
                    {
                        "error": "invalid_tenant",
                        "error_description": "AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID.\r\nTrace ID: tr-1"
                        % tenant,
                        "error_codes": [90002],
                        "trace_id": "tr-1",
                        "correlation_id": "co-1",
                    },
                )
            return json_reply(
                200,
                {
                    "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (self.base, TENANT),
                    "token_endpoint": "%s/%s/oauth2/v2.0/token" % (self.base, TENANT),
                    "issuer": "%s/%s/v2.0" % (self.base, TENANT),
                },
            )
        if seen.method == "POST" and seen.path == "/%s/oauth2/v2.0/token" % TENANT:
            form = seen.form
            if form.get("client_id") not in (CLIENT, OTHER_CLIENT):
                return json_reply(
                    400,
                    {
                        "error": "unauthorized_client",
                        "error_description": "AADSTS700016: Application not found.",
                        "error_codes": [700016],
                    },
                )
            if "client_assertion" in form:
                self.assertions.append(form["client_assertion"])
            elif form.get("client_secret") != SECRET:
                return json_reply(
                    401,
                    {
                        "error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the "
                        "request is the client secret value, not the client secret ID.\r\nTrace ID: tr-2\r\nCorrelation ID: co-2",
                        "error_codes": [7000215],
                        "trace_id": "tr-2",
                        "correlation_id": "co-2",
                    },
                )
            resource = form["scope"][: -len("/.default")]
            return json_reply(
                200,
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": make_jwt({"aud": resource, "tid": TENANT, "appid": form["client_id"],
                                              "exp": int(time.time()) + 3599}),
                },
            )
        if seen.method == "GET" and seen.path == "/msi/token":
            self.msi_calls.append(
                {k: v[0] for k, v in seen.query.items()} | {"header": seen.headers.get("X-IDENTITY-HEADER")}
            )
            return json_reply(
                200,
                {
                    "access_token": make_jwt({"aud": seen.query["resource"][0]}),
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": seen.query["resource"][0],
                    "token_type": "Bearer",
                },
            )
        return json_reply(404, {"error": "not_found"})

    def counts(self):
        return [(r.method, r.path) for r in self.server.requests]


@pytest.fixture
def idp(https_server):
    return IdentityStandIn(https_server)


def new_process_provider(idp, cache_dir, *, cloud=PUBLIC, **creds):
    """Fresh objects all the way down (session, HttpClient, msal app): what a new Ansible task gets."""
    session = _http.VerifyingSession(idp.server.ca_path)
    http = _http.HttpClient(ca_bundle=idp.server.ca_path, session=session, retry_timeout=0)
    values = dict(tenant_id=TENANT, client_id=CLIENT)
    values.update(creds)
    provider = _auth.TokenProvider(
        cloud=cloud, credentials=_credentials.Credentials(**values), http=http, authority_host=idp.base, cache_dir=cache_dir
    )
    return provider, session


def test_warm_second_process_makes_zero_identity_requests(idp, tmp_path, other_ca_bundle, monkeypatch):
    # A wrong REQUESTS_CA_BUNDLE must not defeat ca_bundle inside msal either.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", other_ca_bundle)
    cache_dir = str(tmp_path / "cache")
    first, s1 = new_process_provider(idp, cache_dir, client_secret=SECRET)
    with s1:
        token = first.get_token(PUBLIC.graph_resource)
    assert jwt_part(token, 1)["aud"] == "https://graph.microsoft.com"
    assert idp.counts() == [
        ("GET", "/%s/v2.0/.well-known/openid-configuration" % TENANT),
        ("POST", "/%s/oauth2/v2.0/token" % TENANT),
    ]
    token_form = idp.server.requests[1].form
    assert token_form["scope"] == "https://graph.microsoft.com/.default"
    assert token_form["grant_type"] == "client_credentials"

    for _process in range(2):  # second and third "process"
        again, session = new_process_provider(idp, cache_dir, client_secret=SECRET)
        with session:
            assert again.get_token(PUBLIC.graph_resource) == token
    assert len(idp.server.requests) == 2

    # Another resource in a warm process: one token POST, no discovery.
    pc, session = new_process_provider(idp, cache_dir, client_secret=SECRET)
    with session:
        pc_token = pc.get_token(PUBLIC.partner_center_resource)
    assert jwt_part(pc_token, 1)["aud"] == "https://api.partnercenter.microsoft.com"
    assert idp.counts()[2:] == [("POST", "/%s/oauth2/v2.0/token" % TENANT)]


def test_clients_of_one_tenant_share_its_discovery(idp, tmp_path):
    cache_dir = str(tmp_path / "cache")
    first, session = new_process_provider(idp, cache_dir, client_secret=SECRET)
    with session:
        first.get_token(PUBLIC.graph_resource)
    other, session = new_process_provider(idp, cache_dir, client_id=OTHER_CLIENT, client_secret=SECRET)
    with session:
        other.get_token(PUBLIC.partner_center_resource)
    assert idp.counts() == [
        ("GET", "/%s/v2.0/.well-known/openid-configuration" % TENANT),
        ("POST", "/%s/oauth2/v2.0/token" % TENANT),
        ("POST", "/%s/oauth2/v2.0/token" % TENANT),  # the second client: no discovery of its own
    ]
    assert idp.server.requests[2].form["client_id"] == OTHER_CLIENT


def test_requests_carry_our_user_agent_and_msal_headers(idp, tmp_path):
    provider, session = new_process_provider(idp, str(tmp_path / "c"), client_secret=SECRET)
    with session:
        provider.get_token(PUBLIC.graph_resource)
    post = idp.server.requests[1]
    assert post.headers["User-Agent"] == _http.user_agent()
    assert post.headers.get("x-client-sku")
    assert post.headers.get("client-request-id")


def test_cache_files_are_private_and_hold_no_secret(idp, tmp_path):
    cache_dir = str(tmp_path / "cache")
    provider, session = new_process_provider(idp, cache_dir, client_secret=SECRET)
    with session:
        token = provider.get_token(PUBLIC.graph_resource)
    assert mode(cache_dir) == 0o700
    names = sorted(os.listdir(cache_dir))
    assert len(names) == 4 and "salt" in names
    token_file = next(n for n in names if n.endswith(".tokens.json"))
    for name in names:
        path = os.path.join(cache_dir, name)
        assert mode(path) == 0o600, name
        with open(path, "rb") as handle:
            content = handle.read()
        for forbidden in (SECRET, TENANT, CLIENT, "secret"):
            assert forbidden not in name
        assert SECRET.encode() not in content
        assert hashlib.sha256(SECRET.encode()).hexdigest().encode() not in content
        if name != token_file:
            assert token.encode() not in content
    with open(os.path.join(cache_dir, next(n for n in names if n.endswith(".http.json")))) as handle:
        http_entries = json.load(handle)["entries"]
    assert http_entries and all(k.startswith("GET ") for k in http_entries)
    assert not [n for n in names if n.endswith(".tmp")]


def test_different_secret_never_reuses_a_cached_token(idp, tmp_path):
    cache_dir = str(tmp_path / "cache")
    good, s1 = new_process_provider(idp, cache_dir, client_secret=SECRET)
    with s1:
        good.get_token(PUBLIC.graph_resource)
    bad, s2 = new_process_provider(idp, cache_dir, client_secret="wrong-secret-value")
    with s2, pytest.raises(AuthenticationError) as err:
        bad.get_token(PUBLIC.graph_resource)
    assert idp.counts()[-1] == ("POST", "/%s/oauth2/v2.0/token" % TENANT)
    exc = err.value
    assert exc.error_codes == ("AADSTS7000215",)
    assert exc.description.startswith("AADSTS7000215: Invalid client secret provided.")
    assert "Trace ID" not in exc.description
    text = exc.to_message()
    assert "secret's Value" in text and "tr-2" in text and "co-2" in text
    assert "wrong-secret-value" not in text
    assert len([n for n in os.listdir(cache_dir) if n.endswith(".lock")]) == 2


def test_same_secret_different_cloud_or_tenant_uses_another_slot(idp, tmp_path):
    cache_dir = str(tmp_path / "cache")
    a, s1 = new_process_provider(idp, cache_dir, client_secret=SECRET)
    b, s2 = new_process_provider(idp, cache_dir, cloud=USGOV, client_secret=SECRET)
    with s1, s2:
        a.get_token(PUBLIC.graph_resource)
        b.get_token(USGOV.graph_resource)
    assert len([n for n in os.listdir(cache_dir) if n.endswith(".tokens.json")]) == 2
    assert idp.server.requests[-1].form["scope"] == "https://graph.microsoft.us/.default"


def test_token_cache_false_keeps_nothing_on_disk(idp, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    provider, session = new_process_provider(idp, None, client_secret=SECRET)
    with session:
        provider.get_token(PUBLIC.graph_resource)
        provider.get_token(PUBLIC.graph_resource)
    assert len(idp.server.requests) == 2
    assert not (tmp_path / "xdg").exists()


def test_unknown_tenant_gives_aadsts_details(idp, tmp_path):
    provider, session = new_process_provider(
        idp, str(tmp_path / "c"), client_secret=SECRET, tenant_id="contoso.onmicrosoft.com"
    )
    with session, pytest.raises(AuthenticationError) as err:
        provider.get_token(PUBLIC.graph_resource)
    assert err.value.error_codes == ("AADSTS90002",)
    assert "tenant was not found" in err.value.to_message()


def test_unknown_client(idp, tmp_path):
    provider, session = new_process_provider(
        idp, str(tmp_path / "c"), client_secret=SECRET, client_id="99999999-9999-9999-9999-999999999999"
    )
    with session, pytest.raises(AuthenticationError) as err:
        provider.get_token(PUBLIC.graph_resource)
    assert "AADSTS700016" in err.value.to_message() and "check client_id and tenant_id" in err.value.to_message()


def test_certificate_credential_sends_x5c(idp, tmp_path, cert_material):
    key, cert = cert_material
    provider, session = new_process_provider(
        idp, str(tmp_path / "c"), client_certificate_path=pem_file(tmp_path, key, cert)
    )
    with session:
        provider.get_token(PUBLIC.graph_resource)
    header = jwt_part(idp.assertions[0], 0)
    der = cert.public_bytes(serialization.Encoding.DER)
    # msal 1.39 keeps the PEM line breaks inside the x5c value; the DER is the same.
    assert ["".join(v.split()) for v in header["x5c"]] == [base64.b64encode(der).decode()]
    # ... and pads x5t#S256 with "=" (base64url of the SHA-256 of the DER).
    assert header["x5t#S256"].rstrip("=") == b64url(hashlib.sha256(der).digest())
    claims = jwt_part(idp.assertions[0], 1)
    assert claims["iss"] == claims["sub"] == CLIENT
    assert claims["aud"] == "%s/%s/oauth2/v2.0/token" % (idp.base, TENANT)
    assert (
        idp.server.requests[-1].form["client_assertion_type"]
        == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )


def test_pfx_credential_sends_x5c(idp, tmp_path, cert_material):
    key, cert = cert_material
    provider, session = new_process_provider(
        idp,
        str(tmp_path / "c"),
        client_certificate_path=pfx_file(tmp_path, key, cert, "pw"),
        client_certificate_password="pw",
    )
    with session:
        provider.get_token(PUBLIC.graph_resource)
    assert "x5c" in jwt_part(idp.assertions[0], 0)


def test_workload_identity_rereads_the_token_file(idp, tmp_path):
    token_file = write_private(str(tmp_path / "federated"), "assertion-one\n")
    provider, session = new_process_provider(idp, str(tmp_path / "c"), federated_token_file=token_file)
    with session:
        provider.get_token(PUBLIC.graph_resource)
        write_private(token_file, "assertion-two")
        provider.get_token(PUBLIC.partner_center_resource)
    assert idp.assertions == ["assertion-one", "assertion-two"]


def test_workload_identity_missing_file(idp, tmp_path):
    provider, session = new_process_provider(idp, str(tmp_path / "c"), federated_token_file=str(tmp_path / "gone"))
    with session, pytest.raises(ConfigurationError) as err:
        provider.get_token(PUBLIC.graph_resource)
    assert err.value.option == "federated_token_file"


@pytest.mark.parametrize(("identity", "param"), [("system", None), (CLIENT, ("client_id", CLIENT))])
def test_managed_identity_through_the_shared_session(idp, tmp_path, monkeypatch, identity, param):
    # App Service style managed identity endpoint (msal picks it from IDENTITY_ENDPOINT/IDENTITY_HEADER).
    monkeypatch.setenv("IDENTITY_ENDPOINT", idp.base + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "hdr")
    cache_dir = str(tmp_path / "c")
    for _process in range(2):
        provider, session = new_process_provider(
            idp, cache_dir, tenant_id=None, client_id=None, managed_identity=identity
        )
        with session:
            token = provider.get_token(USGOV.graph_resource)
    assert jwt_part(token, 1)["aud"] == "https://graph.microsoft.us"
    assert len(idp.msi_calls) == 1  # the second "process" used the persistent cache
    call = idp.msi_calls[0]
    assert call["resource"] == "https://graph.microsoft.us" and call["header"] == "hdr"
    if param:
        assert call[param[0]] == param[1]
    else:
        assert "client_id" not in call


def test_in_process_memo_avoids_cache_io(idp, tmp_path):
    provider, session = new_process_provider(idp, str(tmp_path / "c"), client_secret=SECRET)
    with session:
        first = provider.get_token(PUBLIC.graph_resource)
        os.remove(provider._get_store().token_path)
        assert provider(PUBLIC.graph_resource) == first
    assert len(idp.server.requests) == 2


def test_authentication_error_from_msal_result_shape():
    exc = AuthenticationError.from_msal_result(
        {
            "error": "invalid_scope",
            "error_description": "AADSTS1002012: The provided value for scope https://graph.microsoft.us/.default is not valid.\r\nTrace ID: t",
            "error_codes": [1002012],
            "correlation_id": "c",
            "trace_id": "t",
        },
        authority="https://login.microsoftonline.com/" + TENANT,
        resource="https://graph.microsoft.us",
    )
    text = exc.to_message()
    assert "check the option cloud" in text
    assert text.count("AADSTS1002012") == 1
    details = exc.to_dict()
    assert details["code"] == "AADSTS1002012" and details["trace_id"] == "t" and details["correlation_id"] == "c"
