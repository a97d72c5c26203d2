# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The doc fragment target_application, the spec _specs.TARGET_APPLICATION_SPEC and the modules that take
them agree; pc_app_secret, whose display_name is the secret's, takes the fragment too, overrides its
display_name and documents the application's display name as app_display_name in the fragment's words."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._specs import (
    TARGET_APPLICATION_MUTUALLY_EXCLUSIVE,
    TARGET_APPLICATION_REQUIRED_ONE_OF,
    TARGET_APPLICATION_SPEC,
)
from tests.unit.plugins.doc_fragments.fragments import captured, documentation, fragment

FRAGMENT = "partnercenter.national_cloud.target_application"
# The modules whose options include TARGET_APPLICATION_SPEC (pc_aad_app has options of the same names that
# also create an application, documented by itself).
TAKERS = ("pc_aad_permissions", "pc_register_webapp", "pc_aad_app_info")
EXACTLY_ONE = "Exactly one of O(object_id), O(app_id), O(unique_name) and O(display_name) designates the application."


def options():
    return fragment(FRAGMENT)["options"]


def test_fragment_documents_the_spec():
    assert list(options()) == list(TARGET_APPLICATION_SPEC)
    for name, spec in TARGET_APPLICATION_SPEC.items():
        assert options()[name] == {"description": options()[name]["description"], "type": spec["type"]}
    assert TARGET_APPLICATION_MUTUALLY_EXCLUSIVE == TARGET_APPLICATION_REQUIRED_ONE_OF == [tuple(TARGET_APPLICATION_SPEC)]
    assert EXACTLY_ONE in options()["display_name"]["description"]


@pytest.mark.parametrize("name", TAKERS)
def test_modules_take_spec_and_fragment_together(monkeypatch, name):
    seen = captured(monkeypatch, name)
    doc = documentation(name)
    assert FRAGMENT in doc["extends_documentation_fragment"]
    assert not set(TARGET_APPLICATION_SPEC) & set(doc["options"]), "documented by the fragment only"
    assert {k: seen["spec"][k] for k in TARGET_APPLICATION_SPEC} == TARGET_APPLICATION_SPEC
    assert set(TARGET_APPLICATION_MUTUALLY_EXCLUSIVE) <= set(seen["kwargs"]["mutually_exclusive"])


def test_pc_app_secret_takes_the_fragment_with_its_display_name_as_app_display_name(monkeypatch):
    doc = documentation("pc_app_secret")
    assert FRAGMENT in doc["extends_documentation_fragment"]
    assert not {"object_id", "app_id", "unique_name"} & set(doc["options"]), "documented by the fragment only"
    assert "secret" in " ".join(doc["options"]["display_name"]["description"]), "its own display_name overrides the fragment's"
    own = doc["options"]["app_display_name"]
    shared = [line.replace("O(display_name)", "O(app_display_name)") for line in options()["display_name"]["description"]]
    assert own["description"][:len(shared)] == shared
    assert own["type"] == options()["display_name"]["type"]

    seen = captured(monkeypatch, "pc_app_secret")
    renamed = tuple("app_display_name" if k == "display_name" else k for k in TARGET_APPLICATION_SPEC)
    assert [seen["spec"][k] for k in renamed] == list(TARGET_APPLICATION_SPEC.values())
    assert renamed in seen["kwargs"]["mutually_exclusive"] and renamed in seen["kwargs"]["required_one_of"]
