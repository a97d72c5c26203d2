# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures of the unit tests: a local HTTPS server (127.0.0.1 only), a fake clock, a
scripted requests session, a client certificate, and helpers to run AnsibleModule code with patched
arguments.

No test reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import json
import os
import ssl
import threading
import typing as t
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# -------------------------------------------------------------------------------------------------
# Local HTTPS server
# -------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Seen:
    """One request the local server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}


Reply = tuple[int, dict[str, str], bytes]
Handler = t.Callable[[Seen], Reply]


def json_reply(status: int, body: t.Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON response for a local-server handler."""
    send = {"Content-Type": "application/json"}
    send.update(headers or {})
    return status, send, json.dumps(body).encode("utf-8")


class LocalHTTPSServer:
    """A threaded HTTPS server on 127.0.0.1 with a trustme CA; ``handler`` answers every request."""

    def __init__(self, ca: trustme.CA, ca_path: str) -> None:
        self.ca = ca
        self.ca_path = ca_path
        self.requests: list[Seen] = []
        self.handler: Handler = lambda seen: json_reply(404, {"error": "no handler"})
        server = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                server.requests.append(seen)
                status, headers, payload = server.handler(seen)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, *args: t.Any) -> None:  # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.base_url = "https://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def tls_ca(tmp_path) -> tuple[trustme.CA, str]:
    """A fresh CA and the path of its PEM bundle."""
    ca = trustme.CA()
    path = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(path)
    return ca, path


@pytest.fixture
def other_ca_bundle(tmp_path) -> str:
    """A PEM bundle of an unrelated CA (a 'wrong' bundle)."""
    path = str(tmp_path / "other-ca.pem")
    trustme.CA().cert_pem.write_to_path(path)
    return path


@pytest.fixture
def https_server(tls_ca) -> t.Iterator[LocalHTTPSServer]:
    """A running local HTTPS server trusted by ``https_server.ca_path``."""
    ca, path = tls_ca
    server = LocalHTTPSServer(ca, path)
    try:
        yield server
    finally:
        server.close()


# -------------------------------------------------------------------------------------------------
# Fake time and a scripted session
# -------------------------------------------------------------------------------------------------


class FakeClock:
    """Monotonic and wall clocks that only move when ``sleep`` is called."""

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self.now = 0.0
        self.wall_start = wall
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.wall_start + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


class FakeResponse:
    """Just enough of requests.Response for HttpClient and the parsers."""

    def __init__(
        self, status: int, body: t.Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> None:
        import requests.structures

        self.status_code = status
        if raw is not None:
            self.content = raw
        elif body is None:
            self.content = b""
        else:
            self.content = json.dumps(body).encode("utf-8")
        base = {"Content-Type": "application/json"} if body is not None else {}
        base.update(headers or {})
        self.headers = requests.structures.CaseInsensitiveDict(base)
        self.reason = {200: "OK", 201: "Created", 204: "No Content"}.get(status, "Error")
        self.url = ""
        self.request = None
        self.closed = False

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def close(self) -> None:
        self.closed = True


@dataclasses.dataclass
class SentRequest:
    method: str
    url: str
    headers: dict[str, str]
    json: t.Any
    data: t.Any
    params: t.Any


class ScriptedSession:
    """A session double: answers with queued responses/exceptions (or a handler), records requests."""

    def __init__(self, *script: t.Any, handler: t.Callable[[SentRequest], t.Any] | None = None) -> None:
        self.script = list(script)
        self.handler = handler
        self.sent: list[SentRequest] = []

    def request(self, method: str, url: str, **kwargs: t.Any) -> t.Any:
        sent = SentRequest(
            method, url, dict(kwargs.get("headers") or {}), kwargs.get("json"), kwargs.get("data"), kwargs.get("params")
        )
        self.sent.append(sent)
        item = self.handler(sent) if self.handler else self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        if item.url == "":
            item.url = url
        return item


# -------------------------------------------------------------------------------------------------
# Ansible module helpers
# -------------------------------------------------------------------------------------------------

AZURE_ENV = (
    "AZURE_CLOUD_ENVIRONMENT",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path) -> None:
    """No ambient Azure settings, and a private XDG cache home."""
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def module_result(capsys, func: t.Callable[[], t.Any]) -> dict[str, t.Any]:
    """Run code that ends in exit_json/fail_json and return the JSON it printed."""
    with pytest.raises(SystemExit):
        func()
    out = capsys.readouterr().out
    return json.loads(out)


@pytest.fixture
def run_module(capsys):
    """``run_module(args, func)``: call ``func`` under patched module args; return its JSON result."""
    from ansible.module_utils.testing import patch_module_args

    def _run(args: dict[str, t.Any], func: t.Callable[[], t.Any]) -> dict[str, t.Any]:
        with patch_module_args(args):
            return module_result(capsys, func)

    return _run


def write_private(path: str, content: str) -> str:
    """Write a test file readable only by us."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    return path


# -------------------------------------------------------------------------------------------------
# A client certificate
# -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cert_material():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pc-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, cert
