"""The output folder of the shipped playbooks and roles, and the refusal to write into an installed collection.

The lookup plugin that wraps these is run by the end-to-end and release tests (importing it here would load
ansible-core's controller into the process that also runs the modules' unit tests)."""
from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.plugin_utils._output_dir import (
    OutputPathError,
    installed_collection,
    resolve_output,
)


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """A current directory of the test's own."""
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def installed(root: Path, namespace: str = "partnercenter", name: str = "national_cloud") -> Path:
    """A collection as ansible-galaxy installs it (with MANIFEST.json)."""
    folder = root / "ansible_collections" / namespace / name
    (folder / "playbooks").mkdir(parents=True)
    (folder / "MANIFEST.json").write_text("{}", encoding="utf-8")
    return folder


def test_pc_output_dir_comes_first_and_a_relative_one_is_taken_from_the_current_directory(cwd, tmp_path):
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    variables = {"pc_output_dir": "out", "inventory_dir": str(inventory)}
    assert resolve_output("secrets/a.json", variables) == str(cwd / "out" / "secrets" / "a.json")
    assert resolve_output("x", {"pc_output_dir": str(tmp_path / "abs")}) == str(tmp_path / "abs" / "x")


def test_the_inventory_folder_is_next_then_the_current_directory(cwd, tmp_path):
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    assert resolve_output("report", {"inventory_dir": str(inventory)}) == str(inventory / "report")
    # An inline host list has inventory_dir None, which reaches lookups as "None"; the implicit localhost has none.
    for variables in ({"inventory_dir": None}, {"inventory_dir": "None"}, {}, {"inventory_dir": str(tmp_path / "gone")}):
        assert resolve_output("report", variables) == str(cwd / "report"), variables


def test_an_absolute_path_is_kept_and_paths_are_normalised(cwd, tmp_path):
    assert resolve_output(str(tmp_path / "a" / ".." / "b.json"), {}) == str(tmp_path / "b.json")


@pytest.mark.parametrize("term", ["", "   "])
def test_an_empty_path_is_an_error(cwd, term):
    with pytest.raises(OutputPathError, match="needs a path"):
        resolve_output(term, {})


def test_nothing_inside_an_installed_collection(cwd, tmp_path):
    collection = installed(tmp_path / "collections")
    for variables, term in (({"pc_output_dir": str(collection / "playbooks")}, "secrets/a.json"),
                            ({}, str(collection / "partner-center-audit")),
                            ({"inventory_dir": str(collection / "playbooks")}, "secrets/a.json")):
        with pytest.raises(OutputPathError) as raised:
            resolve_output(term, variables)
        message = str(raised.value)
        assert "inside the installed collection %s" % collection in message and "pc_output_dir" in message


def test_another_installed_collection_is_refused_too_and_a_symlink_does_not_hide_it(cwd, tmp_path):
    other = installed(tmp_path / "collections", "community", "general")
    link = tmp_path / "innocent"
    link.symlink_to(other / "playbooks")
    with pytest.raises(OutputPathError, match="community/general"):
        resolve_output("x.json", {"pc_output_dir": str(link)})


def test_a_source_checkout_is_not_an_installed_collection(tmp_path):
    checkout = tmp_path / "ansible_collections" / "partnercenter" / "national_cloud"
    checkout.mkdir(parents=True)
    (checkout / "galaxy.yml").write_text("namespace: partnercenter\n", encoding="utf-8")
    assert installed_collection(str(checkout / "playbooks" / "secrets")) is None
    assert installed_collection(str(tmp_path)) is None
