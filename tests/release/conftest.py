"""Release checks: the collection as users get it (the tarball), and the tools that publish it.

Every tool comes from the virtual environment that runs pytest (`make venv` installs the pinned
versions from tests/requirements.txt). A missing tool fails its test: nothing here is skipped.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from tests.emulator.client import REPO_ROOT
# The OpenBao server fixture, which pytest finds here by name.
from tests.openbao import openbao  # noqa: F401  # pylint: disable=unused-import

VENV_BIN = Path(sys.executable).parent
NAMESPACE = "partnercenter"
NAME = "national_cloud"
FQCN = f"{NAMESPACE}.{NAME}"


def galaxy_metadata() -> dict:
    """galaxy.yml of the working tree."""
    return yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text(encoding="utf-8"))


def tool(name: str) -> str:
    """Path of a command-line tool of the test environment; fails the test when it is not installed."""
    path = VENV_BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {VENV_BIN}: run `make venv` (tests/requirements.txt pins it)")
    return str(path)


def tool_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for the tools: this venv first on PATH, Ansible's state under tmp_path, no colour."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "GALAXY_IMPORTER_")) and key != "PYTHONPATH"}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "NO_COLOR": "1",
    })
    env.update(extra)
    return env


def run(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a tool and capture its output (text)."""
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def output_of(completed: subprocess.CompletedProcess[str]) -> str:
    """A tool's exit code and output, for assertion messages."""
    return f"exit code {completed.returncode}\n--- stdout\n{completed.stdout}\n--- stderr\n{completed.stderr}"


@dataclass
class Tarball:
    """The collection tarball `ansible-galaxy collection build` made from the working tree."""

    path: Path
    version: str

    def members(self) -> list[str]:
        """Paths of the regular files in the tarball."""
        with tarfile.open(self.path) as archive:
            return sorted(member.name for member in archive.getmembers() if member.isfile())

    def read(self, name: str) -> str:
        """Text of one file of the tarball."""
        with tarfile.open(self.path) as archive:
            member = archive.extractfile(name)
            assert member is not None, name
            return member.read().decode("utf-8")


@pytest.fixture(scope="session")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tarball]:
    """Build the tarball as `make build` does, into a temporary directory (the tree's build/ is left alone)."""
    out = tmp_path_factory.mktemp("dist")
    completed = run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO_ROOT)],
                    cwd=REPO_ROOT, env=tool_env(out))
    assert completed.returncode == 0, output_of(completed)
    version = str(galaxy_metadata()["version"])
    path = out / f"{NAMESPACE}-{NAME}-{version}.tar.gz"
    assert path.is_file(), f"no {path.name} in {sorted(p.name for p in out.iterdir())}"
    yield Tarball(path, version)


@pytest.fixture
def installed(tarball, tmp_path) -> tuple[Path, dict[str, str]]:
    """(collections path, environment) after `ansible-galaxy collection install <tarball>` into an empty path."""
    collections = tmp_path / "collections"
    collections.mkdir()
    env = tool_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    completed = run([tool("ansible-galaxy"), "collection", "install", str(tarball.path), "-p", str(collections)],
                    cwd=tmp_path, env=env)
    assert completed.returncode == 0, output_of(completed)
    manifest = json.loads((collections / "ansible_collections" / NAMESPACE / NAME / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["collection_info"]["version"] == tarball.version
    return collections, env
