"""Starting and driving an emulator from tests, benchmarks and the demo.

`EmulatorProcess` runs `python -m tests.emulator` as a child process (exactly what users
run), waits for its ready line and stops it with SIGTERM. Its control helpers wrap the
`/_emulator` API with a requests session that trusts the emulator's CA explicitly.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msal
import requests

from .clouds import CLOUDS

GRAPH_RESOURCES = {name: cloud.graph_resource for name, cloud in CLOUDS.items()}
PARTNER_CENTER_RESOURCES = {name: cloud.partner_center_resource for name, cloud in CLOUDS.items()}
KEY_VAULT_RESOURCES = {name: cloud.key_vault_resource for name, cloud in CLOUDS.items()}
KEY_VAULT_API_VERSION = "2025-07-01"
REPO_ROOT = Path(__file__).resolve().parents[2]


class EmulatorError(RuntimeError):
    """The emulator did not start or a control call failed."""


class _VerifyingSession(requests.Session):
    """A session whose own `verify` wins over REQUESTS_CA_BUNDLE (which requests would
    otherwise apply to every request that passes no `verify`; psf/requests#3829)."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            settings["verify"] = self.verify
        return settings


def trusting_session(ca_bundle: str) -> requests.Session:
    """A requests session that trusts exactly the emulator's CA."""
    session = _VerifyingSession()
    session.verify = ca_bundle
    session.trust_env = False  # no proxies: the emulator is on loopback
    return session


class EmulatorProcess:
    """One emulator child process."""

    def __init__(self, *args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.timeout = timeout
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.stderr_lines: list[str] = []
        self.session: requests.Session | None = None

    def start(self) -> "EmulatorProcess":
        """Start and wait for the ready line."""
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "tests.emulator", *self.args], cwd=REPO_ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env or dict(os.environ))
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        line_holder: list[str] = []
        reader = threading.Thread(target=lambda: line_holder.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.timeout)
        if not line_holder or not line_holder[0].strip():
            self.stop()
            self._stderr_thread.join(5)
            raise EmulatorError(f"emulator did not become ready: {''.join(self.stderr_lines[-20:])}")
        self.info = json.loads(line_holder[0])
        self.session = trusting_session(self.info["ca_bundle"])
        return self

    def _drain_stderr(self) -> None:
        assert self.process and self.process.stderr
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait, and return the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.session:
            self.session.close()
        for stream in (self.process.stdout, self.process.stderr):
            if stream:
                stream.close()
        return self.process.returncode

    def __enter__(self) -> "EmulatorProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Control API -------------------------------------------------------------------
    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the control API; returns the JSON answer (None for 204)."""
        assert self.session is not None
        response = self.session.request(method, f"{self.info['control_url']}{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise EmulatorError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def requests_log(self, **filters: str) -> list[dict[str, Any]]:
        """The request log, optionally filtered by field (service=graph, method=POST, ...)."""
        return self.control("GET", "/requests", params=filters)

    def clear_log(self) -> None:
        """Forget the request log."""
        self.control("DELETE", "/requests")

    def reset(self) -> dict[str, Any]:
        """Back to the initial tenants; faults off; log cleared."""
        self.info = {**self.info, **self.control("POST", "/reset")}
        return self.info

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Replace the fault settings."""
        return self.control("PUT", "/faults", json=settings)

    def tenant(self, cloud: str, index: int = 0) -> dict[str, Any]:
        """The index-th seeded tenant of a cloud."""
        return [t for t in self.info["tenants"] if t["cloud"] == cloud][index]

    def endpoints(self, cloud: str) -> dict[str, str]:
        """authority_host, graph_endpoint and partner_center_endpoint of a cloud."""
        return self.info["clouds"][cloud]

    def confidential_client(self, tenant: dict[str, Any], client_id: str | None = None, secret: str | None = None,
                            who: str = "admin", **kwargs: Any) -> msal.ConfidentialClientApplication:
        """An unmodified msal confidential client for a tenant (the seeded `who` by default)."""
        authority = f"{self.endpoints(tenant['cloud'])['authority_host']}/{tenant['tenant_id']}"
        return msal.ConfidentialClientApplication(
            client_id or tenant[who]["client_id"], client_credential=secret or tenant[who]["client_secret"],
            authority=authority, instance_discovery=False, http_client=trusting_session(self.info["ca_bundle"]), **kwargs)

    def token(self, tenant: dict[str, Any], resource: str = "graph", who: str = "admin", **kwargs: Any) -> str:
        """An app-only access token for the tenant's `graph` / `partner_center` / `key_vault` resource (or a resource URI)."""
        resources = {"graph": GRAPH_RESOURCES[tenant["cloud"]], "partner_center": PARTNER_CENTER_RESOURCES[tenant["cloud"]],
                     "key_vault": KEY_VAULT_RESOURCES[tenant["cloud"]]}
        result = self.confidential_client(tenant, who=who, **kwargs).acquire_token_for_client(
            [f"{resources.get(resource, resource)}/.default"])
        if "access_token" not in result:
            raise EmulatorError(f"no token: {result.get('error_description')}")
        return str(result["access_token"])

    def user_token(self, tenant: dict[str, Any], client_id: str, scope: str, password: str | None = None) -> dict[str, Any]:
        """The token response of the resource owner password grant for the tenant's seeded user.

        A plain form POST: msal's own ROPC helper first asks `https://{host}/common/userrealm/...`
        without the port, which cannot reach a local emulator.
        """
        assert self.session is not None
        url = f"{self.endpoints(tenant['cloud'])['authority_host']}/{tenant['tenant_id']}/oauth2/v2.0/token"
        form = {"grant_type": "password", "client_id": client_id, "username": tenant["user"]["username"],
                "password": password or tenant["user"]["password"], "scope": f"{scope} openid profile offline_access",
                "client_info": "1"}
        return dict(self.session.post(url, data=form, timeout=30).json())

    def graph(self, tenant: dict[str, Any], who: str = "admin", token: str | None = None) -> "GraphSession":
        """A Graph v1.0 session for a tenant, authenticated as the seeded `who` client."""
        return GraphSession(self, tenant["cloud"], token or self.token(tenant, "graph", who))

    def key_vault(self, tenant: dict[str, Any], who: str = "admin", token: str | None = None) -> "KeyVaultSession":
        """The tenant's Key Vault, authenticated as the seeded `who` client (a Key Vault token of its cloud)."""
        return KeyVaultSession(self, tenant["key_vault_url"], token or self.token(tenant, "key_vault", who))


class GraphSession:
    """requests against one cloud's Graph v1.0 with a bearer token; paths are relative to /v1.0."""

    def __init__(self, emulator: EmulatorProcess, cloud: str, token: str) -> None:
        self.base = f"{emulator.endpoints(cloud)['graph_endpoint']}/v1.0"
        self.session = trusting_session(emulator.info["ca_bundle"])
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; `path` may also be a full URL (nextLink)."""
        url = path if path.startswith("https://") else f"{self.base}{path}"
        return self.session.request(method, url, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST."""
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        """PATCH."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """DELETE."""
        return self.request("DELETE", path, **kwargs)


class KeyVaultSession:
    """requests against one vault (`tenant["key_vault_url"]`); paths are relative to it ("/secrets/name").

    `api-version` is added to every request unless the URL already has one (nextLink) or
    `api_version=None` is passed; `token=None` sends no Authorization header (the 401 challenge).
    """

    def __init__(self, emulator: EmulatorProcess, base: str, token: str | None) -> None:
        self.base = base
        self.session = trusting_session(emulator.info["ca_bundle"])
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, api_version: str | None = KEY_VAULT_API_VERSION,
                **kwargs: Any) -> requests.Response:
        """One request; `path` may also be a full URL (nextLink)."""
        url = path if path.startswith("https://") else f"{self.base}{path}"
        if api_version and "api-version=" not in url:
            kwargs["params"] = {"api-version": api_version, **(kwargs.get("params") or {})}
        return self.session.request(method, url, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET."""
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        """PUT."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        """PATCH."""
        return self.request("PATCH", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST."""
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """DELETE."""
        return self.request("DELETE", path, **kwargs)

    def set_secret(self, name: str, value: str, **body: Any) -> requests.Response:
        """Set Secret (`contentType`, `tags`, `attributes` as keyword arguments)."""
        return self.put(f"/secrets/{name}", json={"value": value, **body})


def writes(entries: list[dict[str, Any]], service: str = "graph") -> list[dict[str, Any]]:
    """The write requests (POST/PATCH/PUT/DELETE) of one service in a request log, counting the requests
    a $batch carried (each has its own entry) and not the $batch round trip itself."""
    return [e for e in entries if e["service"] == service and e["method"] in ("POST", "PATCH", "PUT", "DELETE")
            and not e["path"].endswith("/$batch")]
