"""What `ansible-galaxy collection build` puts in the tarball (galaxy.yml build_ignore).

The tarball is for users: what Ansible loads, the docs and changelog, the runtime requirements that
meta/execution-environment.yml names, and what ansible-test sanity reads when a hub checks the tarball.
Developer tooling, test suites, local environments, caches and results stay out.
"""
from __future__ import annotations

import json
import os
import re

import yaml

from tests.emulator.client import REPO_ROOT
from tests.release.conftest import NAME, NAMESPACE, galaxy_metadata

# Everything the tarball may hold. A new top-level directory or file is a decision: add it here and/or to
# build_ignore in galaxy.yml.
ALLOWED = re.compile(r"""^(?:
    MANIFEST\.json | FILES\.json | README\.md | LICENSE | CHANGELOG\.md
  | requirements\.txt | bindep\.txt
  | changelogs/(?:changelog|config)\.yaml
  | meta/[^/]+\.(?:yml|yaml|txt)
  | plugins/.+ | roles/.+ | playbooks/.+
  | docs/docsite/.+
  | tests/config\.yml | tests/sanity/.+
)$""", re.VERBOSE)

REQUIRED = [
    "MANIFEST.json", "FILES.json", "README.md", "LICENSE", "CHANGELOG.md", "changelogs/changelog.yaml",
    "meta/runtime.yml", "meta/execution-environment.yml", "requirements.txt", "bindep.txt", "tests/config.yml",
    "plugins/modules/pc_aad_app.py",
]

# Directories whose every file (caches aside) must ship.
SHIPPED_DIRECTORIES = ["meta", "plugins", "roles", "playbooks", "docs/docsite"]


def test_only_user_facing_files(tarball):
    members = tarball.members()
    unexpected = [name for name in members if not ALLOWED.match(name)]
    assert not unexpected, f"files in the tarball that users do not need (galaxy.yml build_ignore): {unexpected}"
    junk = [name for name in members
            if any(part.startswith(".") or part in ("__pycache__", "build", "dist", "output") for part in name.split("/"))
            or name.endswith((".pyc", ".pyo", ".tar.gz", ".retry"))]
    assert not junk, f"caches, hidden files or build output in the tarball: {junk}"
    missing = [name for name in REQUIRED if name not in members]
    assert not missing, f"missing from the tarball: {missing}"


def test_ships_every_plugin_role_and_playbook(tarball):
    members = set(tarball.members())
    expected = []
    for directory in SHIPPED_DIRECTORIES:
        for root, dirs, files in os.walk(REPO_ROOT / directory):
            dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
            expected += [os.path.relpath(os.path.join(root, f), REPO_ROOT) for f in files
                         if not f.endswith((".pyc", ".pyo")) and not f.startswith(".")]
    left_out = sorted(set(expected) - members)
    assert not left_out, f"files that Ansible needs but build_ignore leaves out: {left_out}"


def test_execution_environment_files_ship(tarball):
    """ansible-builder can only install the requirements the tarball carries."""
    members = tarball.members()
    ee_meta = yaml.safe_load(tarball.read("meta/execution-environment.yml"))
    for kind in ("python", "system"):
        path = ee_meta["dependencies"][kind]
        assert path in members, f"meta/execution-environment.yml names {path} ({kind}), which is not in the tarball"


def test_manifest_matches_galaxy_yml(tarball):
    info = json.loads(tarball.read("MANIFEST.json"))["collection_info"]
    galaxy = galaxy_metadata()
    assert (info["namespace"], info["name"], info["version"]) == (NAMESPACE, NAME, tarball.version)
    assert info["license"] == galaxy["license"] and info["dependencies"] == {}
    assert "cloud" in info["tags"]  # one of Automation Hub's certification tags
    files = {entry["name"] for entry in json.loads(tarball.read("FILES.json"))["files"] if entry["ftype"] == "file"}
    assert files == set(tarball.members()) - {"MANIFEST.json", "FILES.json"}
