# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The web app's credential options: the spec _specs.WEBAPP_CREDENTIAL_SPEC, the doc fragments
webapp_credentials and secret_store.webapp, and the two modules that take them agree."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._specs import (
    WEBAPP_CREDENTIAL_SPEC,
    WEBAPP_CREDENTIALS,
)
from tests.unit.plugins.doc_fragments.fragments import captured, compare, documentation, fragment, merged_options

FRAGMENTS = ("partnercenter.national_cloud.webapp_credentials", "partnercenter.national_cloud.secret_store.webapp")
TAKERS = ("pc_register_webapp", "pc_aad_app_info")


def test_fragments_document_the_spec():
    documented = {}
    for reference in FRAGMENTS:
        documented.update(fragment(reference)["options"])
    compare(documented, WEBAPP_CREDENTIAL_SPEC)
    assert set(WEBAPP_CREDENTIALS) == set(WEBAPP_CREDENTIAL_SPEC) - {"webapp_certificate_password"}
    assert {k for k, v in WEBAPP_CREDENTIAL_SPEC.items() if v.get("no_log")} == {"webapp_client_secret", "webapp_certificate_password"}


@pytest.mark.parametrize("name", TAKERS)
def test_modules_take_spec_and_fragments_together(monkeypatch, name):
    seen = captured(monkeypatch, name)
    doc = documentation(name)
    assert set(FRAGMENTS) <= set(doc["extends_documentation_fragment"])
    assert not set(WEBAPP_CREDENTIAL_SPEC) & set(doc["options"]), "documented by the fragments only"
    assert {k: seen["spec"][k] for k in WEBAPP_CREDENTIAL_SPEC} == WEBAPP_CREDENTIAL_SPEC
    assert WEBAPP_CREDENTIALS in seen["kwargs"]["mutually_exclusive"]
    if name == "pc_register_webapp":
        assert WEBAPP_CREDENTIALS in seen["kwargs"]["required_one_of"]


@pytest.mark.parametrize("name", TAKERS)
def test_documentation_with_fragments_matches_argument_spec(monkeypatch, name):
    compare(merged_options(name), captured(monkeypatch, name)["spec"])
