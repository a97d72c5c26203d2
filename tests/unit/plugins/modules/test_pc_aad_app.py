# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_aad_app wiring: docs match the argument spec, and main() runs end to end over a Graph double
(session patched; an access_token is used, so no identity platform is involved)."""

from __future__ import annotations

import base64
import json
import time

import pytest
import yaml

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _http, _module
from ansible_collections.partnercenter.national_cloud.plugins.modules import pc_aad_app
from tests.unit.conftest import ScriptedSession
from tests.unit.plugins.module_utils.test__applications import FakeGraph

pytestmark = pytest.mark.usefixtures("clean_env")


def token(aud="https://graph.microsoft.us"):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return "%s.%s.sig" % (part({"alg": "none"}), part({"aud": aud, "exp": int(time.time()) + 3600}))


@pytest.fixture
def graph_double(monkeypatch):
    service = FakeGraph()
    session = ScriptedSession(handler=service)
    monkeypatch.setattr(_http, "get_session", lambda ca_bundle=None, timeout=None: session)
    return service, session


def captured_spec(monkeypatch):
    seen = {}

    class Capture(_module.PartnerCenterModule):
        def __init__(self, argument_spec, **kwargs):
            seen["spec"] = argument_spec
            seen["kwargs"] = kwargs
            raise SystemExit(0)

    monkeypatch.setattr(pc_aad_app, "PartnerCenterModule", Capture)
    with pytest.raises(SystemExit):
        pc_aad_app.main()
    return seen


def _compare(doc_options, spec, path=""):
    assert set(doc_options) == set(spec), path
    for name, option in spec.items():
        doc = doc_options[name]
        where = path + name
        assert doc.get("type", "str") == option.get("type", "str"), where
        assert doc.get("default") == option.get("default"), where
        assert doc.get("choices") == option.get("choices"), where
        assert doc.get("elements") == option.get("elements"), where
        if "options" in option:
            _compare(doc["suboptions"], option["options"], where + ".")


def test_documentation_matches_argument_spec(monkeypatch):
    seen = captured_spec(monkeypatch)
    doc = yaml.safe_load(pc_aad_app.DOCUMENTATION)
    _compare(doc["options"], seen["spec"])
    assert doc["extends_documentation_fragment"] == [
        "partnercenter.national_cloud.auth",
        "partnercenter.national_cloud.attributes",
        "partnercenter.national_cloud.attributes.actiongroup_all",
    ]
    assert seen["kwargs"]["supports_check_mode"] is True
    yaml.safe_load(pc_aad_app.EXAMPLES)
    ret = yaml.safe_load(pc_aad_app.RETURN)
    assert set(ret) == {"app_id", "object_id", "service_principal_id", "application"}


def test_main_creates_then_is_idempotent(run_module, graph_double):
    service, session = graph_double
    args = {
        "cloud": "usgov",
        "access_token": token(),
        "graph_endpoint": "https://graph.test",
        "unique_name": "pc-web",
        "display_name": "PC web",
        "web": {"redirect_uris": ["https://app.contoso.com/cb"]},
        "_ansible_diff": True,
    }
    first = run_module(args, pc_aad_app.main)
    assert first["changed"] is True, first
    assert first["app_id"] and first["object_id"] and first["service_principal_id"]
    assert first["application"]["web"]["redirect_uris"] == ["https://app.contoso.com/cb"]
    assert first["diff"]["before"] == {} and first["diff"]["after"]["display_name"] == "PC web"
    assert all(s.url.startswith("https://graph.test/v1.0/") for s in session.sent)
    assert all(s.headers["Authorization"] == "Bearer " + args["access_token"] for s in session.sent)
    service.log.clear()
    second = run_module(args, pc_aad_app.main)
    assert second["changed"] is False and service.writes == []
    assert args["access_token"] not in json.dumps(second)


def test_main_rejects_wrong_cloud_token_before_any_request(run_module, graph_double):
    service, _unused = graph_double
    result = run_module(
        {
            "cloud": "usgov",
            "access_token": token("https://graph.microsoft.com"),
            "graph_endpoint": "https://graph.test",
            "display_name": "x",
        },
        pc_aad_app.main,
    )
    assert result["failed"] and "https://graph.microsoft.com" in result["msg"] and "check cloud" in result["msg"]
    assert service.log == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"cloud": "germany", "display_name": "x"}, "2021-10-29"),
        ({"graph_endpoint": "https://graph.microsoft.us", "display_name": "x"}, "another cloud (usgov)"),
        ({"display_name": "x", "web": {"redirect_uris": ["http://contoso.com/cb"]}}, "must use https"),
        ({"display_name": "x", "public_client_redirect_uris": ["http://contoso.com/cb"]}, "http://localhost"),
        ({"display_name": "x", "web": {"logout_url": "http://localhost/logout"}}, "web.logout_url must use https"),
        ({}, "one of the following is required"),
        ({"app_id": "a", "object_id": "b"}, "mutually exclusive"),
    ],
)
def test_main_bad_input_fails_clearly_with_no_request(run_module, graph_double, args, fragment):
    service, session = graph_double
    result = run_module(dict({"access_token": token("https://graph.microsoft.com")}, **args), pc_aad_app.main)
    assert result["failed"] is True
    assert fragment in result["msg"]
    assert "exception" not in result
    assert session.sent == []


def test_main_check_mode_makes_no_write(run_module, graph_double):
    service, _unused = graph_double
    result = run_module(
        {"access_token": token("https://graph.microsoft.com"), "display_name": "New", "_ansible_check_mode": True},
        pc_aad_app.main,
    )
    assert result["changed"] is True and result["app_id"] is None
    assert service.writes == []
