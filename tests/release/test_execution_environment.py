"""The sample execution-environment.yml gives a valid ansible-builder build context, without a container engine.

`ansible-builder create` writes the context; then the two steps of the image build that need no container
are replayed on this machine from that context: the galaxy stage (`ansible-galaxy collection install -r
requirements.yml`, run in _build like the Containerfile does) and the builder stage's introspection
(_build/scripts/introspect.py), which must find exactly the collection's runtime requirements.
"""
from __future__ import annotations

import shutil
import sys

import yaml
from packaging.requirements import Requirement

from tests.emulator.client import REPO_ROOT
from tests.release.conftest import NAME, NAMESPACE, output_of, run, tool, tool_env


def requirement_names(lines: list[str]) -> set[str]:
    """Normalised package names of pip requirement lines (comments and blanks skipped)."""
    names = set()
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(Requirement(requirement).name.lower().replace("_", "-"))
    return names


def bindep_entries(text: str) -> list[str]:
    """Non-comment lines of a bindep file."""
    return [line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()]


def test_sample_names_the_tarball_of_this_version(tarball):
    definition = yaml.safe_load((REPO_ROOT / "execution-environment.yml").read_text(encoding="utf-8"))
    assert definition["version"] == 3
    file_name = tarball.path.name
    assert [entry["src"] for entry in definition["additional_build_files"]] == [f"build/dist/{file_name}"]
    assert definition["dependencies"]["galaxy"]["collections"] == [{"name": f"collections/{file_name}", "type": "file"}]


def test_ansible_builder_create_gives_a_working_build_context(tarball, tmp_path):
    # The sample refers to build/dist/<tarball> next to it, as after `make build`.
    workspace = tmp_path / "workspace"
    (workspace / "build" / "dist").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "execution-environment.yml", workspace)
    shutil.copy(tarball.path, workspace / "build" / "dist")
    context = tmp_path / "context"
    env = tool_env(tmp_path)
    completed = run([tool("ansible-builder"), "create", "--file", "execution-environment.yml", "--context", str(context),
                     "--output-filename", "Containerfile"], cwd=workspace, env=env)
    assert completed.returncode == 0, output_of(completed)

    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    build = context / "_build"
    assert (build / "collections" / tarball.path.name).read_bytes() == tarball.path.read_bytes()

    # Galaxy stage: WORKDIR /build (the context's _build), collections into a fresh path.
    collections = tmp_path / "ee-collections"
    completed = run([tool("ansible-galaxy"), "collection", "install", "-r", "requirements.yml", "--collections-path",
                     str(collections)], cwd=build, env={**env, "ANSIBLE_GALAXY_DISABLE_GPG_VERIFY": "1",
                                                        "ANSIBLE_COLLECTIONS_PATH": str(collections)})
    assert completed.returncode == 0, output_of(completed)
    assert (collections / "ansible_collections" / NAMESPACE / NAME / "meta" / "execution-environment.yml").is_file()

    # Builder stage: the introspection that decides what gets pip- and dnf-installed into the image.
    pip_out, bindep_out = tmp_path / "ee-requirements.txt", tmp_path / "ee-bindep.txt"
    completed = run([sys.executable, str(build / "scripts" / "introspect.py"), "introspect", str(collections),
                     "--write-pip", str(pip_out), "--write-bindep", str(bindep_out)], cwd=build, env=env)
    assert completed.returncode == 0, output_of(completed)
    found = yaml.safe_load(completed.stdout)
    assert all(f"from collection {NAMESPACE}.{NAME}" in line for line in found["python"])
    wanted = requirement_names((REPO_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines())
    assert {"msal", "requests", "cryptography"} <= wanted
    assert requirement_names(found["python"]) == wanted
    assert requirement_names(pip_out.read_text(encoding="utf-8").splitlines()) == wanted
    assert len(found["system"]) == len(bindep_entries((REPO_ROOT / "bindep.txt").read_text(encoding="utf-8")))
