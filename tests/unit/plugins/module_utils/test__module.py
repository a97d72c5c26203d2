# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The base module: shared options and env fallbacks, client construction, diff, redaction, errors."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from ansible_collections.partnercenter.national_cloud.plugins.doc_fragments import attributes as attributes_fragment
from ansible_collections.partnercenter.national_cloud.plugins.doc_fragments import auth as auth_fragment
from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _module
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import service_error

pytestmark = pytest.mark.usefixtures("clean_env")

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
SECRET = "module-secret-value-1234567890"
CREDS = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET}


def build(**spec):
    return _module.PartnerCenterModule(spec or None)


def params_of(run_module, args, **spec):
    def go():
        module = build(**spec)
        module.module.exit_json(params={k: v for k, v in module.params.items() if k not in ("client_secret",)})

    return run_module(args, go)["params"]


# Options and environment fallbacks ---------------------------------------------------------------


def test_defaults(run_module):
    params = params_of(run_module, {})
    assert params["cloud"] == "public"
    assert params["auth_method"] == "auto"
    assert params["token_cache"] is True
    assert (params["request_timeout"], params["retry_timeout"], params["consistency_timeout"]) == (30, 120, 120)
    for name in (
        "tenant_id",
        "client_id",
        "access_token",
        "managed_identity",
        "authority_host",
        "graph_endpoint",
        "ca_bundle",
    ):
        assert params[name] is None


@pytest.mark.parametrize(
    ("env", "option", "value"),
    [
        ("AZURE_CLOUD_ENVIRONMENT", "cloud", "AzureUSGovernment"),
        ("AZURE_TENANT_ID", "tenant_id", TENANT),
        ("AZURE_CLIENT_ID", "client_id", CLIENT),
        ("AZURE_CLIENT_CERTIFICATE_PATH", "client_certificate_path", "/certs/app.pem"),
        ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "client_certificate_password", "pw"),
        ("AZURE_FEDERATED_TOKEN_FILE", "federated_token_file", "/var/run/token"),
        ("AZURE_AUTHORITY_HOST", "authority_host", "login.microsoftonline.us"),
    ],
)
def test_environment_fallbacks(run_module, monkeypatch, env, option, value):
    monkeypatch.setenv(env, value)

    def go():
        module = build()
        module.module.exit_json(same=module.params[option] == value)

    assert run_module({}, go)["same"] is True


def test_client_secret_env_fallback_and_no_log(run_module, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)

    def go():
        module = build()
        module.module.exit_json(has_secret=module.params["client_secret"] == SECRET)

    result = run_module({}, go)
    assert result["has_secret"] is True


def test_explicit_option_wins_over_environment(run_module, monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", "env-tenant")
    assert params_of(run_module, {"tenant_id": TENANT})["tenant_id"] == TENANT


def test_module_options_are_merged(run_module):
    params = params_of(run_module, {"display_name": "x"}, display_name={"type": "str", "required": True})
    assert params["display_name"] == "x" and params["cloud"] == "public"


def test_explicit_auth_method_requires_its_credential(run_module):
    result = run_module({"auth_method": "client_secret", "tenant_id": TENANT}, build)
    assert result["failed"] and "client_secret" in result["msg"]


# Client construction and validation --------------------------------------------------------------


def run_validate(run_module, args):
    return run_module(args, lambda: build().run(lambda m: (m.validate(), {"changed": False})[1]))


def test_clients_use_overrides_but_keep_the_cloud_resource(run_module, tmp_path):
    def go():
        module = build()
        graph = module.graph
        module.exit_json(
            base_url=graph.base_url,
            resource=graph.resource,
            authority=module.token_provider.authority,
            method=module.token_provider.method,
            pc=module.endpoints["partner_center_endpoint"],
        )

    result = run_module(
        dict(
            CREDS,
            cloud="usgov",
            graph_endpoint="https://127.0.0.1:8443/graph/usgov/",
            authority_host="https://127.0.0.1:8443",
            token_cache=str(tmp_path / "tc"),
        ),
        go,
    )
    assert result["base_url"] == "https://127.0.0.1:8443/graph/usgov"
    assert result["resource"] == "https://graph.microsoft.us"
    assert result["authority"] == "https://127.0.0.1:8443/" + TENANT
    assert result["pc"] == "https://api.partnercenter.microsoft.com"
    assert result["method"] == "client_secret"


def test_no_override_uses_the_catalog(run_module):
    def go():
        module = build()
        module.exit_json(graph=module.graph.base_url, authority=module.token_provider.authority)

    result = run_module(dict(CREDS, cloud="china"), go)
    assert result["graph"] == "https://microsoftgraph.chinacloudapi.cn"
    assert result["authority"] == "https://login.partner.microsoftonline.cn/" + TENANT


def test_env_authority_host_without_scheme(run_module, monkeypatch):
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "login.microsoftonline.us")

    def go():
        module = build()
        module.exit_json(authority=module.token_provider.authority)

    assert run_module(dict(CREDS, cloud="usgov_dod"), go)["authority"] == "https://login.microsoftonline.us/" + TENANT


@pytest.mark.parametrize(
    ("args", "fragment", "option"),
    [
        (
            {"cloud": "public", "graph_endpoint": "https://graph.microsoft.us"},
            "another cloud (usgov)",
            "graph_endpoint",
        ),
        (
            {"cloud": "usgov", "authority_host": "https://login.microsoftonline.com"},
            "another cloud (public)",
            "authority_host",
        ),
        ({"graph_endpoint": "http://127.0.0.1:8080"}, "must be an https:// URL", "graph_endpoint"),
        ({"cloud": "germany"}, "2021-10-29", "cloud"),
        ({"cloud": "AzureGermanCloud"}, "use cloud: public", "cloud"),
        ({"cloud": "narnia"}, "Valid values: public, usgov, usgov_dod, china", "cloud"),
        ({"request_timeout": 0}, "request_timeout must be at least 1", "request_timeout"),
        ({"token_cache": 42}, "token_cache must be true, false or a directory path", "token_cache"),
    ],
)
def test_bad_input_fails_clearly_without_traceback(run_module, args, fragment, option):
    result = run_validate(run_module, dict(CREDS, **args))
    assert result["failed"] is True
    assert fragment in result["msg"]
    assert "exception" not in result
    assert result["error"]["type"] == "configuration" and result["error"]["option"] == option


def test_missing_credentials_message_names_env_vars(run_module):
    result = run_validate(run_module, {"tenant_id": TENANT})
    assert "AZURE_CLIENT_SECRET" in result["msg"] and "exception" not in result


def test_warnings_for_several_credentials(run_module, monkeypatch):
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")
    result = run_validate(run_module, dict(CREDS))
    assert result["changed"] is False
    assert "auth_method=auto uses client_secret" in str(result["warnings"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "default"),
        ("yes", "default"),
        ("True", "default"),
        (False, None),
        ("false", None),
        ("no", None),
        ("/srv/cache", "/srv/cache"),
    ],
)
def test_token_cache_values(monkeypatch, tmp_path, value, expected):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    result = _module.parse_token_cache(value)
    assert result == (str(tmp_path / "partnercenter.national_cloud") if expected == "default" else expected)


# Results: diff, redaction, errors ----------------------------------------------------------------


def finish(changed=True, **result):
    def go():
        module = build()
        module.set_diff({"displayName": "a", "secretText": "s1"}, {"displayName": "b", "secretText": "s2"})
        module.run(lambda m: dict(changed=changed, **result))

    return go


def test_diff_only_with_diff_mode(run_module):
    without = run_module(dict(CREDS), finish())
    assert "diff" not in without
    with_diff = run_module(dict(CREDS, _ansible_diff=True), finish())
    assert with_diff["diff"] == {
        "before": {"displayName": "a", "secretText": "VALUE_REDACTED"},
        "after": {"displayName": "b", "secretText": "VALUE_REDACTED"},
    }


def test_results_are_redacted_recursively(run_module):
    result = run_module(
        dict(CREDS),
        finish(
            application={
                "display_name": "x",
                "password_credentials": [{"key_id": "k", "secret_text": "TOPSECRET", "hint": "TOP"}],
            },
            access_token="eyJ.TOKEN",
            nested=[{"Client-Secret": "z", "key": "k2"}],
        ),
    )
    assert result["application"]["password_credentials"][0] == {
        "key_id": "k",
        "secret_text": "VALUE_REDACTED",
        "hint": "TOP",
    }
    assert result["access_token"] == "VALUE_REDACTED"
    assert result["nested"] == [{"Client-Secret": "VALUE_REDACTED", "key": "VALUE_REDACTED"}]
    assert "TOPSECRET" not in str(result)


def test_redact_keeps_none_and_other_keys():
    assert _module.redact({"password": None, "keyId": "1", "passwordCredentials": []}) == {
        "password": None,
        "keyId": "1",
        "passwordCredentials": [],
    }


def test_service_error_becomes_structured_failure(run_module):
    error = service_error(
        service="graph",
        method="POST",
        url="https://graph.microsoft.com/v1.0/applications",
        status=403,
        code="Authorization_RequestDenied",
        message="Insufficient privileges to complete the operation.",
        request_id="rid-1",
        client_request_id="crid-1",
        date="2026-10-01T00:00:00",
        operation="create_application",
        required_permissions=("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
    )

    def go():
        def boom(module):
            raise error

        build().run(boom)

    result = run_module(dict(CREDS), go)
    assert result["failed"] is True and "exception" not in result
    assert "Application.ReadWrite.OwnedBy or Application.ReadWrite.All" in result["msg"]
    assert "request-id: rid-1" in result["msg"]
    assert result["error"]["code"] == "Authorization_RequestDenied"
    assert (result["error"]["request_id"], result["error"]["client_request_id"], result["error"]["status"]) == (
        "rid-1",
        "crid-1",
        403,
    )


@pytest.fixture
def tracebacks_enabled(monkeypatch):
    """Turn on ansible-core 2.19's error traceback capture (ANSIBLE_DISPLAY_TRACEBACK=error)."""
    from ansible.module_utils._internal import _traceback

    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: True)


def test_expected_error_carries_no_exception_traceback(run_module, tracebacks_enabled):
    # With tracebacks switched on, ansible-core 2.19 adds the call stack; never the raising frames.
    result = run_validate(run_module, dict(CREDS, cloud="germany"))
    assert "2021-10-29" in result["msg"]
    assert "_clouds.py" not in str(result.get("exception", ""))


def test_unexpected_error_keeps_a_traceback(run_module, tracebacks_enabled):
    def go():
        def boom(module):
            raise KeyError("surprise")

        build().run(boom)

    result = run_module(dict(CREDS), go)
    assert result["failed"] is True
    assert "Unexpected error (KeyError)" in result["msg"]
    assert "Traceback" in result["exception"]


def test_secret_never_in_output(run_module):
    result = run_module(dict(CREDS, _ansible_diff=True), finish(echo=SECRET))
    assert SECRET not in str(result)


# Documentation matches the argument spec ----------------------------------------------------------


def test_doc_fragment_matches_argument_spec():
    doc = yaml.safe_load(auth_fragment.ModuleDocFragment.DOCUMENTATION)["options"]
    spec = _module.AUTH_ARGUMENT_SPEC
    assert set(doc) == set(spec)
    for name, option in spec.items():
        documented = doc[name]
        assert documented["type"] == option["type"], name
        assert documented.get("default") == option.get("default"), name
        assert documented.get("choices") == option.get("choices"), name
        text = " ".join(documented["description"])
        for env in (option.get("fallback") or (None, []))[1]:
            assert "E(%s)" % env in text, (name, env)


def test_doc_fragment_mentions_every_alias():
    from ansible_collections.partnercenter.national_cloud.plugins.module_utils._clouds import CLOUDS

    text = " ".join(yaml.safe_load(auth_fragment.ModuleDocFragment.DOCUMENTATION)["options"]["cloud"]["description"])
    for cloud in CLOUDS.values():
        assert "V(%s)" % cloud.name in text
    for alias in (
        "AzureCloud",
        "AzureUSGovernment",
        "AzureChinaCloud",
        "AzureGermanCloud",
        "usgovernmentl4",
        "usgovernmentl5",
    ):
        assert "V(%s)" % alias in text


def test_attribute_fragments_parse():
    frag = attributes_fragment.ModuleDocFragment
    doc = yaml.safe_load(frag.DOCUMENTATION)["attributes"]
    assert doc["check_mode"]["support"] == "full" and doc["diff_mode"]["support"] == "full"
    assert doc["platform"]["platforms"] == "all" and doc["idempotent"]["support"] == "full"
    assert yaml.safe_load(frag.INFO_MODULE)["attributes"]["check_mode"]["support"] == "full"
    group = yaml.safe_load(frag.ACTIONGROUP_ALL)["attributes"]["action_group"]
    assert group["membership"] == ["partnercenter.national_cloud.all"]


def test_private_headers():
    import pathlib

    root = pathlib.Path(_module.__file__).parent
    for path in sorted(root.glob("_*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert (
            lines[0] == "# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)"
        ), path
        assert "PRIVATE" in lines[1], path
        assert "from __future__ import annotations" in lines, path


def test_module_utils_import_no_heavy_sdks():
    import pathlib

    root = pathlib.Path(_module.__file__).parent
    for path in root.glob("_*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(azure|msgraph|kiota)", text, re.M), path


@pytest.mark.parametrize(("flag", "library"), [("HAS_REQUESTS", "requests"), ("HAS_MSAL", "msal")])
def test_missing_library_uses_missing_required_lib(run_module, monkeypatch, flag, library):
    monkeypatch.setattr(_module, flag, False)
    result = run_validate(run_module, dict(CREDS))
    assert result["failed"] is True
    assert "Failed to import the required Python library (%s)" % library in result["msg"]


def test_access_token_needs_no_msal(run_module, monkeypatch):
    monkeypatch.setattr(_module, "HAS_MSAL", False)
    result = run_validate(run_module, {"access_token": "opaque"})
    assert result["changed"] is False


@pytest.mark.parametrize("web", ["not a dict", ["a", "list"], {"implicit_grant": "yes please"}])
def test_a_malformed_suboption_value_still_hides_every_no_log_value(run_module, web):
    """ansible-core stops collecting no_log values at a malformed suboption value (ansible/ansible#81672)."""
    spec = {"web": {"type": "dict", "options": {"implicit_grant": {"type": "dict", "options": {"token": {"type": "str", "no_log": True}}}}}}
    result = run_module(dict(CREDS, web=web), lambda: build(**spec))
    assert result["failed"] is True and "web" in result["msg"]
    assert SECRET not in json.dumps(result)


def test_no_log_values_include_suboptions_and_skip_malformed_entries():
    spec = {"client_secret": {"no_log": True}, "items": {"type": "list", "elements": "dict",
                                                         "options": {"password": {"no_log": True}, "name": {}}}}
    params = {"client_secret": "s1", "items": ["broken", {"password": "p1", "name": "visible"}, {"password": None}]}
    assert _module.no_log_values(spec, params) == {"s1", "p1"}
