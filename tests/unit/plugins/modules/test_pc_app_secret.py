# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_app_secret wiring: docs match the argument spec, and main() runs over a Graph double (session
patched; an access_token is used, so no identity platform is involved)."""

from __future__ import annotations

import base64
import json
import time

import pytest
import yaml

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _http, _secret_plan
from ansible_collections.partnercenter.national_cloud.plugins.modules import pc_app_secret
from tests.unit.conftest import ScriptedSession
from tests.unit.plugins.module_utils.test__secrets import FakeGraph
from tests.unit.plugins.modules.test_pc_aad_app import _compare

pytestmark = pytest.mark.usefixtures("clean_env")


def token(aud="https://graph.microsoft.com"):
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return "%s.%s.sig" % (part({"alg": "none"}), part({"aud": aud, "exp": int(time.time()) + 3600}))


@pytest.fixture
def graph_double(monkeypatch):
    service = FakeGraph(created="2024-05-01T00:00:00Z")
    session = ScriptedSession(handler=service)
    monkeypatch.setattr(_http, "get_session", lambda ca_bundle=None, timeout=None: session)
    return service, session


def captured_spec(monkeypatch):
    seen = {}

    class Capture(pc_app_secret.PartnerCenterModule):
        def __init__(self, argument_spec, **kwargs):  # pylint: disable=super-init-not-called
            seen["spec"] = argument_spec
            seen["kwargs"] = kwargs
            raise SystemExit(0)

    monkeypatch.setattr(pc_app_secret, "PartnerCenterModule", Capture)
    with pytest.raises(SystemExit):
        pc_app_secret.main()
    return seen


def test_documentation_matches_argument_spec(monkeypatch):
    seen = captured_spec(monkeypatch)
    from ansible_collections.partnercenter.national_cloud.plugins.doc_fragments import secret_store, target_application

    doc = yaml.safe_load(pc_app_secret.DOCUMENTATION)
    application = yaml.safe_load(target_application.ModuleDocFragment.DOCUMENTATION)["options"]
    _compare({**application, **doc["options"], **yaml.safe_load(secret_store.ModuleDocFragment.STORE)["options"]}, seen["spec"])
    assert seen["spec"]["key_id"]["no_log"] is False
    assert seen["kwargs"]["supports_check_mode"] is True
    assert doc["extends_documentation_fragment"] == [
        "partnercenter.national_cloud.auth",
        "partnercenter.national_cloud.attributes",
        "partnercenter.national_cloud.attributes.actiongroup_all",
        "partnercenter.national_cloud.target_application",
        "partnercenter.national_cloud.secret_store.store",
    ]
    examples = yaml.safe_load(pc_app_secret.EXAMPLES)
    assert all("partnercenter.national_cloud.pc_app_secret" in task or "ansible.builtin.set_fact" in task for task in examples)
    ret = yaml.safe_load(pc_app_secret.RETURN)
    assert {"key_id", "display_name", "hint", "start_date_time", "end_date_time", "days_to_expiry", "dest", "action",
            "retired_key_ids", "secrets", "secret_text"} <= set(ret)
    assert set(ret["action"]["sample"].split()) <= set(_secret_plan.ACTIONS)


def args(**extra):
    base = {
        "access_token": token(),
        "graph_endpoint": "https://graph.test",
        "unique_name": "pc-web",
        "display_name": "Partner Center",
        "_ansible_diff": True,
    }
    base.update(extra)
    return base


def test_main_returns_the_value_once_unredacted_and_nothing_else_secret(run_module, graph_double):
    service, session = graph_double
    first = run_module(args(), pc_app_secret.main)
    assert first["changed"] is True and first["action"] == "created", first
    [created] = service.app["passwordCredentials"]
    value = service.values[created["keyId"]]
    assert first["secret_text"] == value
    rest = json.dumps({k: v for k, v in first.items() if k != "secret_text"})
    assert value not in rest and args()["access_token"] not in rest
    assert first["diff"]["after"]["secrets"][0]["key_id"] == created["keyId"]
    service.log.clear()
    second = run_module(args(), pc_app_secret.main)
    assert second["changed"] is False and "secret_text" not in second and service.writes == []


def test_main_check_mode(run_module, graph_double):
    service, dummy = graph_double
    result = run_module(args(_ansible_check_mode=True), pc_app_secret.main)
    assert result["changed"] is True and result["key_id"] is None and "secret_text" not in result
    assert service.writes == []


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"expires_in": "1y", "end_date_time": "2099-01-01"}, "mutually exclusive"),
        ({"app_id": "00000000-0000-0000-0000-000000000000"}, "mutually exclusive"),
        ({"unique_name": None}, "one of the following is required"),
        ({"display_name": None}, "display_name"),
        ({"state": "absent", "display_name": None}, "display_name, key_id"),
        ({"expires_in": "forever"}, "expires_in must be"),
        ({"expires_in": [1]}, "expires_in must be"),
        ({"renew_before_days": "x"}, "renew_before_days"),
        ({"dest": "/"}, "is a directory"),
    ],
)
def test_main_bad_input_fails_clearly_with_no_request(run_module, graph_double, extra, fragment):
    dummy, session = graph_double
    result = run_module({k: v for k, v in args(**extra).items() if v is not None}, pc_app_secret.main)
    assert result["failed"] is True and fragment in result["msg"], result
    assert "exception" not in result
    assert session.sent == []
