# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_register_webapp helpers: instructions per cloud, the web app's credential, validity windows."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _registration
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._clouds import CLOUDS
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._remote_stores import open_webapp_store

APP = {"displayName": "Partner web", "appId": "5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11"}
TENANT = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize("cloud, portal", [("public", "https://partner.microsoft.com"),
                                           ("usgov", "https://partnercenter.microsoft.com"),
                                           ("china", "https://partner.partnercenter.microsoftonline.cn")])
def test_instructions_name_the_clouds_portal_the_path_and_the_app(cloud, portal):
    text = _registration.instructions(CLOUDS[cloud], APP)
    assert portal in text and _registration.PORTAL_PATH in text and APP["appId"] in text and "'Partner web'" in text


def webapp_credentials(params, *args, **kwargs):
    """_registration.webapp_credentials as the modules call it: with the store that the options name."""
    return _registration.webapp_credentials(params, *args, store=open_webapp_store(SimpleNamespace(params=params)), **kwargs)


def secret_params(**params):
    base = {"webapp_client_secret": None, "webapp_secret_file": None, "webapp_certificate_path": None,
            "webapp_certificate_password": None}
    base.update(params)
    return base


def test_credentials_from_the_secret_option():
    credentials, key_id, missing = webapp_credentials(secret_params(webapp_client_secret="abc~s3cret"), TENANT, APP["appId"])
    assert credentials.client_id == APP["appId"] and credentials.client_secret == "abc~s3cret" and key_id is None
    assert credentials.auth_method == "client_secret" and "abc~s3cret" not in repr(credentials) and missing == ""


def test_credentials_from_the_secret_file(tmp_path):
    path = tmp_path / "web.json"
    path.write_text(json.dumps({"app_id": APP["appId"].upper(), "key_id": "k1", "secret": "s3cret"}), encoding="utf-8")
    credentials, key_id, missing = webapp_credentials(secret_params(webapp_secret_file=str(path)), TENANT, APP["appId"])
    assert credentials.client_secret == "s3cret" and key_id == "k1" and missing == ""


@pytest.mark.parametrize("content, message", [
    (None, "holds no secret value .*does not exist"),
    ("not json", "not a secret record"),
    (json.dumps({"app_id": APP["appId"]}), "holds no secret value"),
    (json.dumps(["Zq9-value"]), "not a secret record"),
    (json.dumps({"app_id": "00000000-0000-0000-0000-000000000000", "secret": "s"}), "holds a secret of application"),
])
def test_bad_secret_files(tmp_path, content, message):
    path = tmp_path / "web.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message) as caught:
        webapp_credentials(secret_params(webapp_secret_file=str(path)), TENANT, APP["appId"])
    assert "Zq9-value" not in str(caught.value)


def test_a_missing_secret_file_in_check_mode_is_said_not_raised(tmp_path):
    path = tmp_path / "web.json"
    credentials, key_id, missing = webapp_credentials(secret_params(webapp_secret_file=str(path)), TENANT,
                                                      APP["appId"], check_mode=True)
    assert credentials.client_secret is None and key_id is None and "does not exist" in missing


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_secret_files_that_are_not_regular_files_are_refused_at_once(tmp_path, special):
    path = "/dev/zero" if special == "/dev/zero" else str(tmp_path / "fifo")
    if special == "fifo":
        os.mkfifo(path)
    with pytest.raises(ConfigurationError, match="not a regular file"):
        webapp_credentials(secret_params(webapp_secret_file=path), TENANT, APP["appId"])


def test_certificate_credentials():
    credentials, dummy, dummy2 = webapp_credentials(secret_params(webapp_certificate_path="/x.pem"), TENANT, APP["appId"])
    assert credentials.auth_method == "client_certificate" and credentials.client_certificate_path == "/x.pem"


class Unreachable:
    """A module whose first request (validate: auth options, then clients) must not happen."""

    check_mode = False

    def __init__(self, **params):
        self.params = dict({"wait_timeout": 0, "application_permission": "Directory.Read.All"}, **params)

    def validate(self):
        raise AssertionError("the options were not checked before the first request")


@pytest.mark.parametrize(("params", "option"), [
    ({"application_permission": ""}, "application_permission"),
    ({"application_permission": "  "}, "application_permission"),
    ({"webapp_certificate_path": "/nonexistent/cert.pem"}, "webapp_certificate_path"),
    ({"wait_timeout": -1}, "wait_timeout"),
])
def test_bad_options_fail_before_any_request(params, option):
    with pytest.raises(ConfigurationError) as err:
        _registration.run_pc_register_webapp(Unreachable(**params))
    assert err.value.option == option
