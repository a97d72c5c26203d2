"""A second, unprivileged local user for attack tests: the suites run as root, which can drop to
`nobody` in a subprocess. Shared by the end-to-end and reliability suites."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NOBODY = "nobody"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user (nobody)")


def _drop_to_nobody() -> None:
    nobody = pwd.getpwnam(NOBODY)
    os.setgroups([])
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)


def _python() -> str:
    # The venv may sit in a folder only root can read.
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def as_nobody(script: str, stdin: str = "") -> None:
    """Run a Python snippet as nobody, to its end (it must succeed)."""
    subprocess.run([_python(), "-c", script], input=stdin, text=True, check=True, preexec_fn=_drop_to_nobody,  # noqa: PLW1509
                   cwd="/", env={"PATH": os.environ.get("PATH", "")})


def start_as_nobody(script: str) -> subprocess.Popen[str]:
    """Start a Python snippet as nobody and return once it printed its first line (e.g. "ready")."""
    process = subprocess.Popen([_python(), "-c", script], stdout=subprocess.PIPE, text=True,  # noqa: PLW1509
                               preexec_fn=_drop_to_nobody, cwd="/", env={"PATH": os.environ.get("PATH", "")})
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


@contextmanager
def shared_folder(mode: int = 0o1777) -> Iterator[Path]:
    """A folder under /tmp that other users can reach (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="pc-shared-", dir="/tmp"))
    os.chmod(folder, mode)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
