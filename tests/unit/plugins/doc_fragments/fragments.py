# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the tests that keep doc fragments, modules' docs and shared argument specs in agreement."""

from __future__ import annotations

import importlib
import typing as t

import pytest
import yaml

COLLECTION = "partnercenter.national_cloud"


def module(name: str) -> t.Any:
    return importlib.import_module("ansible_collections.partnercenter.national_cloud.plugins.modules." + name)


def fragment(reference: str) -> dict[str, t.Any]:
    """The YAML of a fragment named as in extends_documentation_fragment (``<collection>.<file>[.<variable>]``)."""
    assert reference.startswith(COLLECTION + "."), reference
    parts = reference[len(COLLECTION) + 1:].split(".")
    fragment_module = importlib.import_module("ansible_collections.partnercenter.national_cloud.plugins.doc_fragments." + parts[0])
    variable = parts[1].upper() if len(parts) > 1 else "DOCUMENTATION"
    return yaml.safe_load(getattr(fragment_module.ModuleDocFragment, variable))


def documentation(name: str) -> dict[str, t.Any]:
    return yaml.safe_load(module(name).DOCUMENTATION)


def merged_options(name: str, *, skip: t.Collection[str] = (COLLECTION + ".auth",)) -> dict[str, t.Any]:
    """A module's options with those of its fragments, merged as Ansible does (the module's keys win).

    The auth fragment is skipped by default: PartnerCenterModule adds its options (test__module checks them).
    """
    doc = documentation(name)
    options = dict(doc.get("options") or {})
    for reference in doc.get("extends_documentation_fragment", []):
        if reference in skip:
            continue
        for option, entry in (fragment(reference).get("options") or {}).items():
            options[option] = {**entry, **options.get(option, {})}
    return options


def captured(monkeypatch: pytest.MonkeyPatch, name: str) -> dict[str, t.Any]:
    """The argument spec (``spec``) and the other arguments (``kwargs``) a module's main() gives PartnerCenterModule."""
    target = module(name)
    seen: dict[str, t.Any] = {}

    class Capture(target.PartnerCenterModule):
        def __init__(self, argument_spec, **kwargs):  # pylint: disable=super-init-not-called
            seen.update(spec=argument_spec, kwargs=kwargs)
            raise SystemExit(0)

    monkeypatch.setattr(target, "PartnerCenterModule", Capture)
    with pytest.raises(SystemExit):
        target.main()
    return seen


def compare(doc_options: t.Mapping[str, t.Any], spec: t.Mapping[str, t.Any], path: str = "") -> None:
    """Documented options and argument spec agree: names, types, defaults, choices, elements, aliases, suboptions."""
    assert set(doc_options) == set(spec), path
    for name, option in spec.items():
        doc = doc_options[name]
        where = path + name
        for key in ("default", "choices", "elements", "aliases"):
            assert doc.get(key) == option.get(key), (where, key)
        assert doc.get("type", "str") == option.get("type", "str"), where
        assert bool(doc.get("required")) == bool(option.get("required")), where
        if "options" in option:
            compare(doc["suboptions"], option["options"], where + ".")
