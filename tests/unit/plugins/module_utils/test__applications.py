# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_aad_app logic: redirect URI validation, desired state and comparison, lookup, and the
create/update/delete flows against a small in-memory Graph double (no network)."""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _applications as apps
from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _graph, _http
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    ConfigurationError,
    ServiceError,
)
from tests.unit.conftest import FakeResponse, ScriptedSession

# -------------------------------------------------------------------------------------------------
# Redirect URI validation (https://learn.microsoft.com/entra/identity-platform/reply-url)
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://contoso.com",
        "https://contoso.com/abc/response-oidc",
        "https://localhost",
        "http://localhost",
        "http://localhost/abc",
        "http://localhost:5000/MyApp",
        "http://127.0.0.1:8400/",
        "https://127.0.0.1",
        "https://app.contoso.com/cb?x=1",
        "https://*.contoso.com/cb",
    ],
)
def test_valid_web_redirect_uris(uri):
    apps.validate_web_redirect_uri(uri)


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("http://contoso.com/abc/response-oidc", "must use https"),
        ("http://[::1]:8080/", "IPv6 loopback"),
        ("msal00000000-0000-0000-0000-000000000000://auth", "must use https"),
        ("https://contoso.com/a(b)", "( )"),
        ("https://contoso.com/a;b", ";"),
        ("https://contoso.com/a,b", ","),
        ("https://contoso.com/$x", "$"),
        ("https://contoso.com/it's", "'"),
        ("https://contoso.com/!", "!"),
        ("https://contoso.com/#frag", "fragment"),
        ("https://contoso.com/" + "a" * 240, "longer than 256"),
        ("", "not a valid redirect URI"),
        (" https://contoso.com", "not a valid redirect URI"),
        ("https://contoso.com:99999/", "not a valid URI"),
        ("urn:ietf:wg:oauth:2.0:oob", "must use https"),
        ("https://exa mple.com/cb", "contains a space"),
        ("https://example.com/a\tb", "contains a space"),
    ],
)
def test_invalid_web_redirect_uris(uri, fragment):
    with pytest.raises(ConfigurationError) as err:
        apps.validate_web_redirect_uri(uri)
    assert fragment in err.value.to_message()
    assert err.value.option == "web.redirect_uris"


@pytest.mark.parametrize(
    "uri",
    [
        "https://login.microsoftonline.com/common/oauth2/nativeclient",
        "http://localhost",
        "http://127.0.0.1:1234/cb",
        "msal0f7c3a55-8d2b-4b6e-a1c9-3e4d5f6a7b8c://auth",
        "ms-appx-web://microsoft.aad.brokerplugin/0f7c3a55-8d2b-4b6e-a1c9-3e4d5f6a7b8c",
        "myapp://callback",
        "urn:ietf:wg:oauth:2.0:oob",
    ],
)
def test_valid_public_client_redirect_uris(uri):
    apps.validate_public_client_redirect_uri(uri)


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("http://contoso.com/cb", "must use https, http://localhost"),
        ("javascript://alert", "javascript: scheme"),
        ("file:///etc/passwd", "file: scheme"),
        ("callback", "needs a scheme"),
        ("myapp://cb;x", ";"),
    ],
)
def test_invalid_public_client_redirect_uris(uri, fragment):
    with pytest.raises(ConfigurationError) as err:
        apps.validate_public_client_redirect_uri(uri)
    assert fragment in err.value.to_message()


def test_audience_rules_limit_count():
    uris = ["https://contoso.com/%d" % i for i in range(101)]
    apps.validate_audience_rules(uris, [], "AzureADMyOrg")
    with pytest.raises(ConfigurationError, match="at most 100"):
        apps.validate_audience_rules(uris, [], "AzureADandPersonalMicrosoftAccount")
    with pytest.raises(ConfigurationError, match="at most 256"):
        apps.validate_audience_rules(["https://c.com/%d" % i for i in range(257)], [], "AzureADMultipleOrgs")


@pytest.mark.parametrize(
    ("uri", "fragment"), [("https://*.contoso.com/cb", "Wildcard"), ("https://contoso.com/cb?x=1", "Query parameters")]
)
def test_personal_account_audiences_forbid_wildcards_and_queries(uri, fragment):
    apps.validate_audience_rules([uri], [], "AzureADMyOrg")
    with pytest.raises(ConfigurationError, match=fragment):
        apps.validate_audience_rules([uri], [], "PersonalMicrosoftAccount")


def test_validate_params_checks_everything_before_requests():
    base = {"state": "present", "display_name": "x"}
    apps.validate_params(
        dict(
            base,
            web={
                "redirect_uris": ["https://a.com"],
                "home_page_url": "http://a.com",
                "logout_url": "https://a.com/out",
            },
        )
    )
    with pytest.raises(ConfigurationError, match="logout_url must use https"):
        apps.validate_params(dict(base, web={"logout_url": "http://a.com/out"}))
    apps.validate_params(dict(base, web={"logout_url": "https://localhost:5001/signout-oidc"}))
    with pytest.raises(ConfigurationError, match="home_page_url must be an http"):
        apps.validate_params(dict(base, web={"home_page_url": "ftp://a.com"}))
    with pytest.raises(ConfigurationError, match="absolute URI"):
        apps.validate_params(dict(base, identifier_uris=["my-api"]))
    with pytest.raises(ConfigurationError, match="public_client_redirect_uris"):
        apps.validate_params(dict(base, public_client_redirect_uris=["http://contoso.com"]))
    with pytest.raises(ConfigurationError, match="Wildcard"):
        apps.validate_params(
            dict(base, sign_in_audience="PersonalMicrosoftAccount", web={"redirect_uris": ["https://*.a.com"]})
        )
    with pytest.raises(ConfigurationError, match="unique_name must not be empty"):
        apps.validate_params(dict(base, unique_name=" "))


@pytest.mark.parametrize("url", ["http://localhost/logout", "http://127.0.0.1:8400/logout", "HTTP://contoso.example/out"])
def test_logout_url_must_be_https_even_on_localhost(url):
    """Front-channel logout URLs: unlike redirect URIs, http://localhost is refused too (issue 15)."""
    with pytest.raises(ConfigurationError) as err:
        apps.validate_params({"state": "present", "display_name": "x", "web": {"logout_url": url}})
    https = "https" + url[4:]
    assert err.value.to_message() == (
        "web.logout_url must use https, got %r: Entra ID accepts only https front-channel logout URLs, even for localhost. "
        "Serve the logout page over https and set %s (https://localhost is allowed)." % (url, https))
    assert err.value.option == "web"
    apps.validate_logout_url(None)
    apps.validate_logout_url("")


# -------------------------------------------------------------------------------------------------
# Desired state and comparison
# -------------------------------------------------------------------------------------------------

PARAMS = {
    "display_name": "PC web",
    "sign_in_audience": "AzureADMyOrg",
    "web": {
        "redirect_uris": ["https://b", "https://a"],
        "home_page_url": "https://h",
        "logout_url": None,
        "implicit_grant": {"id_token": True, "access_token": None},
    },
    "public_client_redirect_uris": None,
    "is_fallback_public_client": False,
    "identifier_uris": ["api://x"],
    "notes": "",
    "tags": ["t2", "t1"],
}

CURRENT = {
    "id": "obj",
    "appId": "app",
    "displayName": "PC web",
    "signInAudience": "AzureADMyOrg",
    "web": {
        "redirectUris": ["https://a", "https://b"],
        "homePageUrl": "https://h",
        "logoutUrl": None,
        "redirectUriSettings": [{"uri": "https://a", "index": None}],
        "implicitGrantSettings": {"enableIdTokenIssuance": True, "enableAccessTokenIssuance": False},
    },
    "publicClient": {"redirectUris": ["http://localhost"]},
    "isFallbackPublicClient": None,
    "identifierUris": ["api://x"],
    "notes": None,
    "tags": ["t1", "t2"],
}


def test_desired_state_maps_only_set_options():
    assert apps.desired_state(PARAMS) == {
        "displayName": "PC web",
        "signInAudience": "AzureADMyOrg",
        "web": {
            "redirectUris": ["https://b", "https://a"],
            "homePageUrl": "https://h",
            "implicitGrantSettings": {"enableIdTokenIssuance": True},
        },
        "isFallbackPublicClient": False,
        "identifierUris": ["api://x"],
        "notes": None,
        "tags": ["t2", "t1"],
    }
    assert apps.desired_state({"display_name": None, "web": {"redirect_uris": None, "implicit_grant": None}}) == {}


def test_no_patch_when_only_order_or_blankness_differs():
    assert apps.compute_patch(CURRENT, apps.desired_state(PARAMS)) == {}


def test_unset_options_are_not_touched():
    assert apps.compute_patch(CURRENT, {"notes": "hello"}) == {"notes": "hello"}


@pytest.mark.parametrize(
    ("desired", "patch"),
    [
        ({"tags": ["t1"]}, {"tags": ["t1"]}),
        ({"tags": []}, {"tags": []}),
        ({"identifierUris": ["api://x", "api://y"]}, {"identifierUris": ["api://x", "api://y"]}),
        ({"isFallbackPublicClient": True}, {"isFallbackPublicClient": True}),
        ({"displayName": "PC Web"}, {"displayName": "PC Web"}),
        ({"publicClient": {"redirectUris": []}}, {"publicClient": {"redirectUris": []}}),
    ],
)
def test_simple_changes(desired, patch):
    assert apps.compute_patch(CURRENT, desired) == patch


def test_web_change_sends_whole_writable_web():
    patch = apps.compute_patch(CURRENT, {"web": {"implicitGrantSettings": {"enableAccessTokenIssuance": True}}})
    assert patch == {
        "web": {
            "redirectUris": ["https://a", "https://b"],
            "homePageUrl": "https://h",
            "logoutUrl": None,
            "implicitGrantSettings": {"enableIdTokenIssuance": True, "enableAccessTokenIssuance": True},
        }
    }
    assert "redirectUriSettings" not in patch["web"]


def test_clearing_a_url_with_an_empty_string():
    desired = apps.desired_state({"web": {"home_page_url": ""}})
    assert desired == {"web": {"homePageUrl": None}}
    assert apps.compute_patch(CURRENT, desired)["web"]["homePageUrl"] is None


def test_patch_against_missing_properties():
    assert apps.compute_patch({}, {"web": {"redirectUris": ["https://a"]}}) == {"web": {"redirectUris": ["https://a"]}}
    assert apps.compute_patch(None, {"isFallbackPublicClient": False}) == {}


def test_managed_view_is_snake_case_sorted_and_limited():
    view = apps.managed_view(CURRENT)
    assert set(view) == {
        "display_name",
        "sign_in_audience",
        "web",
        "public_client",
        "is_fallback_public_client",
        "identifier_uris",
        "notes",
        "tags",
    }
    assert view["web"]["redirect_uris"] == ["https://a", "https://b"]
    assert "redirect_uri_settings" not in view["web"]
    assert view["tags"] == ["t1", "t2"]
    assert apps.managed_view(None) == {}


def test_to_snake_drops_odata_annotations():
    assert apps.to_snake({"@odata.context": "x", "appId": "a", "web": {"homePageUrl": "h"}}) == {
        "app_id": "a",
        "web": {"home_page_url": "h"},
    }


# -------------------------------------------------------------------------------------------------
# Flows against an in-memory Graph double
# -------------------------------------------------------------------------------------------------

BASE = "https://graph.test"


def graph_error(status, code, message, detail=None):
    body = {"error": {"code": code, "message": message, "innerError": {"request-id": str(uuid.uuid4())}}}
    if detail:
        body["error"]["details"] = [{"code": detail, "message": message, "target": "appId"}]
    return FakeResponse(status, body)


class FakeGraph:
    """Applications and service principals, with alternate keys, upsert and replication lag."""

    def __init__(self):
        self.apps: dict[str, dict] = {}
        self.sps: dict[str, dict] = {}
        self.sp_lag = 0  # POST /servicePrincipals answers NoBackingApplicationObject this many times
        self.log: list[tuple[str, str]] = []

    def add_app(self, **props):
        app = {
            "id": str(uuid.uuid4()),
            "appId": str(uuid.uuid4()),
            "uniqueName": None,
            "signInAudience": "AzureADMyOrg",
            "web": {
                "redirectUris": [],
                "homePageUrl": None,
                "logoutUrl": None,
                "implicitGrantSettings": {"enableIdTokenIssuance": False, "enableAccessTokenIssuance": False},
            },
            "publicClient": {"redirectUris": []},
            "isFallbackPublicClient": None,
            "identifierUris": [],
            "notes": None,
            "tags": [],
        }
        for key, value in props.items():
            app[key] = apps._merge(app.get(key), value) if isinstance(value, dict) else value
        self.apps[app["id"]] = app
        return app

    @property
    def writes(self):
        return [entry for entry in self.log if entry[0] != "GET"]

    def _find(self, segment):
        match = re.fullmatch(r"applications\((appId|uniqueName)='(.*)'\)", segment)
        if match:
            key, value = match.group(1), match.group(2).replace("''", "'")
            return next((a for a in self.apps.values() if a.get(key) == value), None), key, value
        if segment.startswith("applications/"):
            return self.apps.get(segment.split("/", 1)[1]), "id", None
        return None, None, None

    def __call__(self, sent):
        parts = urlsplit(sent.url)
        path = unquote(parts.path)[len("/v1.0/") :]
        self.log.append((sent.method, path))
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if path == "applications" and sent.method == "GET":
            match = re.fullmatch(r"displayName eq '(.*)'", query["$filter"])
            name = match.group(1).replace("''", "'")
            return FakeResponse(
                200, {"value": [a for a in self.apps.values() if a["displayName"].lower() == name.lower()]}
            )
        if path == "applications" and sent.method == "POST":
            app = self.add_app(**sent.json)
            return FakeResponse(201, app)
        if path.startswith("servicePrincipals"):
            return self._service_principals(sent, path)
        app, key, value = self._find(path)
        if sent.method == "GET":
            return (
                FakeResponse(200, app)
                if app
                else graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
            )
        if sent.method == "PATCH":
            if app is None:
                if key == "uniqueName" and sent.headers.get("Prefer") == "create-if-missing":
                    return FakeResponse(201, self.add_app(uniqueName=value, **sent.json))
                return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
            for prop, val in sent.json.items():
                app[prop] = val
            return FakeResponse(204)
        if sent.method == "DELETE":
            if app is None:
                return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
            del self.apps[app["id"]]
            self.sps.pop(app["appId"], None)
            return FakeResponse(204)
        raise AssertionError("unexpected %s %s" % (sent.method, path))

    def _service_principals(self, sent, path):
        if sent.method == "GET":
            app_id = re.fullmatch(r"servicePrincipals\(appId='(.*)'\)", path).group(1)
            sp = self.sps.get(app_id)
            return (
                FakeResponse(200, sp)
                if sp
                else graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
            )
        app_id = sent.json["appId"]
        if self.sp_lag:
            self.sp_lag -= 1
            return graph_error(
                400,
                "Request_BadRequest",
                "The appId '%s' of the service principal does not reference a valid application object." % app_id,
                "NoBackingApplicationObject",
            )
        if app_id in self.sps:
            return graph_error(409, "Request_MultipleObjectsWithSameKeyValue", "The service principal already exists.")
        self.sps[app_id] = {"id": str(uuid.uuid4()), "appId": app_id}
        return FakeResponse(201, self.sps[app_id])


class FakeModule:
    """What run_pc_aad_app needs from PartnerCenterModule."""

    def __init__(self, service, params, check_mode=False, clock=None):
        from tests.unit.conftest import FakeClock

        clock = clock or FakeClock()
        http = _http.HttpClient(
            session=ScriptedSession(handler=service), sleep=clock.sleep, clock=clock.clock, rand=lambda: 0.5
        )
        self.graph = _graph.GraphClient(
            http, lambda resource: "token", base_url=BASE, resource="https://graph.microsoft.com"
        )
        defaults = {
            "state": "present",
            "object_id": None,
            "app_id": None,
            "unique_name": None,
            "display_name": None,
            "sign_in_audience": None,
            "web": None,
            "public_client_redirect_uris": None,
            "is_fallback_public_client": None,
            "identifier_uris": None,
            "notes": None,
            "tags": None,
            "service_principal": True,
        }
        defaults.update(params)
        self.params = defaults
        self.check_mode = check_mode
        self.diff = None
        self.warnings: list[str] = []
        self.module = type("AnsibleModuleDouble", (), {"warn": staticmethod(self.warnings.append)})()

    def validate(self):
        pass

    def set_diff(self, before, after):
        self.diff = (before, after)


def run(service, check_mode=False, **params):
    module = FakeModule(service, params, check_mode=check_mode)
    return apps.run_pc_aad_app(module), module


def test_create_with_unique_name_uses_upsert_then_service_principal_with_lag():
    service = FakeGraph()
    service.sp_lag = 2
    result, module = run(
        service, unique_name="pc-web", display_name="PC web", web={"redirect_uris": ["https://a.com/cb"]}, tags=["x"]
    )
    assert result["changed"] is True
    app = next(iter(service.apps.values()))
    assert (result["app_id"], result["object_id"]) == (app["appId"], app["id"])
    assert result["service_principal_id"] == service.sps[app["appId"]]["id"]
    assert result["application"]["unique_name"] == "pc-web"
    assert service.writes == [
        ("PATCH", "applications(uniqueName='pc-web')"),
        ("POST", "servicePrincipals"),
        ("POST", "servicePrincipals"),
        ("POST", "servicePrincipals"),
    ]
    assert module.diff[0] == {} and module.diff[1]["tags"] == ["x"]


def test_second_run_is_unchanged_with_zero_writes():
    service = FakeGraph()
    args = dict(
        unique_name="pc-web",
        display_name="PC web",
        web={"redirect_uris": ["https://b.com", "https://a.com"]},
        tags=["y", "x"],
    )
    run(service, **args)
    service.log.clear()
    args["web"] = {"redirect_uris": ["https://a.com", "https://b.com"]}  # order differs: still no change
    args["tags"] = ["x", "y"]
    result, _unused = run(service, **args)
    assert result["changed"] is False
    assert service.writes == []


def test_update_one_property_patches_only_it():
    service = FakeGraph()
    app = service.add_app(displayName="PC web", notes="old", tags=["keep"])
    service.sps[app["appId"]] = {"id": "sp-1", "appId": app["appId"]}
    result, module = run(service, app_id=app["appId"], notes="new")
    assert result["changed"] is True
    assert service.writes == [("PATCH", "applications/%s" % app["id"])]
    assert service.apps[app["id"]]["notes"] == "new" and service.apps[app["id"]]["tags"] == ["keep"]
    assert module.diff == (apps.managed_view(dict(app, notes="old")), apps.managed_view(dict(app, notes="new")))
    assert result["service_principal_id"] == "sp-1"


def test_check_mode_makes_no_write():
    service = FakeGraph()
    result, module = run(service, check_mode=True, display_name="New app", tags=["a"])
    assert result["changed"] is True and result["app_id"] is None
    assert service.writes == []
    assert module.diff == ({}, {"display_name": "New app", "tags": ["a"]})
    app = service.add_app(displayName="Old", tags=["a"])
    result, _unused = run(service, check_mode=True, object_id=app["id"], tags=["b"])
    assert result["changed"] is True and service.writes == []
    assert service.apps[app["id"]]["tags"] == ["a"]


def test_create_without_unique_name_looks_up_by_display_name_then_posts():
    service = FakeGraph()
    result, _unused = run(service, display_name="O'Brien & Co #1", service_principal=False)
    assert result["changed"] is True
    assert service.log[0] == ("GET", "applications")
    assert service.writes == [("POST", "applications")]
    service.log.clear()
    result, _unused = run(service, display_name="O'Brien & Co #1", service_principal=False)
    assert result["changed"] is False and service.writes == []


def test_display_name_ambiguity_lists_the_matches():
    service = FakeGraph()
    first = service.add_app(displayName="Dup")
    second = service.add_app(displayName="Dup")
    with pytest.raises(ConfigurationError) as err:
        run(service, display_name="Dup")
    text = err.value.to_message()
    assert "2 applications have the display name 'Dup'" in text
    for app in (first, second):
        assert app["appId"] in text and app["id"] in text
    assert service.writes == []


def test_existing_service_principal_is_not_recreated_and_409_is_read():
    service = FakeGraph()
    app = service.add_app(displayName="A")
    service.sps[app["appId"]] = {"id": "sp-9", "appId": app["appId"]}
    result, _unused = run(service, object_id=app["id"])
    assert result == dict(result, changed=False, service_principal_id="sp-9")
    # A fresh upsert whose service principal already exists (created concurrently): 409 -> read it.
    service2 = FakeGraph()
    original = service2._service_principals

    def racing(sent, path):
        if sent.method == "POST":
            service2.sps[sent.json["appId"]] = {"id": "sp-race", "appId": sent.json["appId"]}
        return original(sent, path)

    service2._service_principals = racing
    result, _unused = run(service2, unique_name="u", display_name="U")
    assert result["service_principal_id"] == "sp-race"


def test_create_requires_display_name():
    with pytest.raises(ConfigurationError, match="display_name is required"):
        run(FakeGraph(), unique_name="only-unique")


def test_unique_name_cannot_change():
    service = FakeGraph()
    app = service.add_app(displayName="A", uniqueName="first")
    with pytest.raises(ConfigurationError, match="cannot be changed"):
        run(service, app_id=app["appId"], unique_name="second")


def test_absent_deletes_and_is_idempotent():
    service = FakeGraph()
    app = service.add_app(displayName="Gone soon")
    result, module = run(service, state="absent", object_id=app["id"])
    assert result["changed"] is True and service.writes == [("DELETE", "applications/%s" % app["id"])]
    assert module.diff[1] == {}
    service.log.clear()
    result, _unused = run(service, state="absent", object_id=app["id"])
    assert result["changed"] is False and service.writes == []


def test_absent_in_check_mode():
    service = FakeGraph()
    app = service.add_app(displayName="Stay")
    result, _unused = run(service, check_mode=True, state="absent", display_name="Stay")
    assert result["changed"] is True and app["id"] in service.apps and service.writes == []


def test_upsert_204_means_another_run_created_it():
    service = FakeGraph()
    original = service.__call__

    def racing(sent):
        # Between our lookup and our upsert another run creates the app.
        if sent.method == "PATCH" and "uniqueName" in unquote(sent.url) and not service.apps:
            service.add_app(displayName="Race", uniqueName="race")
        return original(sent)

    result, _unused = run(racing, unique_name="race", display_name="Race")
    assert len(service.apps) == 1
    app = next(iter(service.apps.values()))
    assert result["object_id"] == app["id"] and result["changed"] is True
    assert [w for w in service.writes if w[1].startswith("applications")] == [
        ("PATCH", "applications(uniqueName='race')")
    ]


def test_post_create_5xx_is_not_retried_and_explains():
    service = FakeGraph()

    def failing(sent):
        if sent.method == "POST" and sent.url.endswith("/applications"):
            service.log.append(("POST", "applications"))
            return FakeResponse(500, {"error": {"code": "InternalServerError", "message": "boom"}})
        return service(sent)

    with pytest.raises(ServiceError) as err:
        run(failing, display_name="X")
    assert service.writes == [("POST", "applications")]
    # It looked the application up for consistency_timeout before saying what is true.
    assert [entry for entry in service.log if entry == ("GET", "applications")][1:]
    assert "probably not created" in err.value.to_message() and "consistency_timeout" in err.value.to_message()


def test_post_create_5xx_after_the_create_took_effect_adopts_the_app_once_visible():
    """The create took effect, its answer was a 502, and the new app stays invisible to the first lookups (issue 14)."""
    service = FakeGraph()
    hidden: dict = {}

    def lagging(sent):
        if sent.method == "POST" and sent.url.endswith("/applications"):
            service(sent)
            hidden.update(service.apps)
            service.apps.clear()
            return FakeResponse(502, {"error": {"code": "BadGateway", "message": "lost"}})
        if sent.method == "GET" and "displayName" in sent.url and hidden:
            lookups.append(sent.url)
            if len(lookups) == 3:  # replicated
                service.apps.update(hidden)
        return service(sent)

    lookups: list = []
    result, module = run(lagging, display_name="X", notes="n")
    assert len(service.apps) == 1 and [w for w in service.writes if w == ("POST", "applications")] == [("POST", "applications")]
    [app] = list(service.apps.values())
    assert result["changed"] is True and result["app_id"] == app["appId"] and app["notes"] == "n"
    assert len(service.sps) == 1
    assert any("lost" in w and app["appId"] in w for w in module.warnings)


def test_invalid_redirect_uri_fails_before_any_request():
    service = FakeGraph()
    with pytest.raises(ConfigurationError):
        run(service, display_name="X", web={"redirect_uris": ["http://contoso.com"]})
    assert service.log == []


@pytest.mark.parametrize("overrides", [
    {"display_name": "", "unique_name": "pc"},
    {"display_name": "   ", "unique_name": "pc"},
    {"display_name": "X", "identifier_uris": ["api://has space"]},
])
def test_empty_names_and_uris_with_spaces_fail_before_any_request(overrides):
    service = FakeGraph()
    with pytest.raises(ConfigurationError, match="must not be empty|not an absolute URI"):
        run(service, **overrides)
    assert service.log == []


def test_audience_rules_use_the_current_audience_when_not_given():
    service = FakeGraph()
    app = service.add_app(displayName="Personal", signInAudience="AzureADandPersonalMicrosoftAccount")
    with pytest.raises(ConfigurationError, match="Wildcard"):
        run(service, object_id=app["id"], web={"redirect_uris": ["https://*.contoso.com/cb"]})
    assert service.writes == []


def test_filter_reaches_graph_escaped():
    seen = []
    service = FakeGraph()

    def spy(sent):
        seen.append(sent.url)
        return service(sent)

    run(spy, display_name="It's #1 & best+", service_principal=False)
    assert "$filter=displayName%20eq%20'It''s%20%231%20%26%20best%2B'" in seen[0]
    assert json.dumps(next(iter(service.apps.values()))["displayName"]) == json.dumps("It's #1 & best+")


# Property: applying the computed patch always converges (a second comparison finds nothing).

_uris = st.lists(st.sampled_from(["https://a.com", "https://b.com/cb", "http://localhost"]), max_size=3, unique=True)
_text = st.one_of(st.none(), st.just(""), st.sampled_from(["x", "y"]))
_desired = st.fixed_dictionaries(
    {},
    optional={
        "displayName": st.sampled_from(["A", "B"]),
        "notes": _text,
        "tags": _uris,
        "identifierUris": _uris,
        "isFallbackPublicClient": st.booleans(),
        "web": st.fixed_dictionaries(
            {},
            optional={
                "redirectUris": _uris,
                "homePageUrl": _text,
                "implicitGrantSettings": st.fixed_dictionaries({}, optional={"enableIdTokenIssuance": st.booleans()}),
            },
        ),
        "publicClient": st.fixed_dictionaries({"redirectUris": _uris}),
    },
)


@given(current=_desired, desired=_desired)
def test_patch_converges(current, desired):
    patch = apps.compute_patch(current, desired)
    after = apps._merge(current, patch)
    assert apps.compute_patch(after, desired) == {}
    # Nothing outside the desired properties is written.
    assert set(patch) <= set(desired)
