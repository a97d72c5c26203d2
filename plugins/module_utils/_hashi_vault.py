# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""OpenBao / HashiCorp Vault: token or AppRole sign-in, and the KV version 2 secrets engine.

https://openbao.org/api-docs/secret/kv/kv-v2/ and https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2:
``GET /v1/{mount}/data/{path}`` (404 when absent), ``POST /v1/{mount}/data/{path}`` with
``{"options": {"cas": N}, "data": {...}}`` (``cas: 0`` creates only; a mismatch is 400 "check-and-set
parameter did not match the current version"), ``POST /v1/{mount}/metadata/{path}`` with
``custom_metadata``. AppRole: ``POST /v1/auth/approle/login`` (https://openbao.org/api-docs/auth/approle/).
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from ._errors import ServiceError
from ._http import HttpClient, decode_json

CAS_MISMATCH = "check-and-set parameter did not match the current version"


class CasMismatch(Exception):
    """The secret's version is not the one the write was based on."""


class VaultClient:
    """One Vault server, signed in with a token or an AppRole."""

    def __init__(self, http: HttpClient, *, url: str, token: str | None = None, namespace: str | None = None) -> None:
        self.http = http
        self.url = url.rstrip("/")
        self.token = token
        self.namespace = namespace

    def _headers(self, authenticated: bool = True) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if authenticated and self.token:
            headers["X-Vault-Token"] = self.token
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace
        return headers

    def login_approle(self, role_id: str, secret_id: str, mount: str = "approle") -> None:
        """Exchange an AppRole's role_id and secret_id for a token (kept in memory only)."""
        response = self.http.request("POST", "%s/v1/auth/%s/login" % (self.url, quote(mount)), service="hashi_vault",
                                     headers=self._headers(authenticated=False), json_body={"role_id": role_id, "secret_id": secret_id},
                                     idempotent=True)
        self.token = str((decode_json(response, service="hashi_vault") or {}).get("auth", {}).get("client_token") or "")

    @staticmethod
    def _path(path: str) -> str:
        return "/".join(quote(part, safe="") for part in path.strip("/").split("/"))

    def read(self, mount: str, path: str) -> dict[str, t.Any] | None:
        """``data`` of the latest version (``data`` and ``metadata``), or None when there is none."""
        try:
            response = self.http.request("GET", "%s/v1/%s/data/%s" % (self.url, quote(mount), self._path(path)),
                                         service="hashi_vault", headers=self._headers())
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise
        body = decode_json(response, service="hashi_vault") or {}
        data = body.get("data")
        # A deleted or destroyed latest version answers 404 with its metadata; treated as absent.
        return data if isinstance(data, dict) and isinstance(data.get("data"), dict) else None

    def write(self, mount: str, path: str, data: t.Mapping[str, t.Any], *, cas: int) -> int:
        """Write a new version if the current one is ``cas`` (0: only if none exists); its number."""
        try:
            response = self.http.request("POST", "%s/v1/%s/data/%s" % (self.url, quote(mount), self._path(path)),
                                         service="hashi_vault", headers=self._headers(),
                                         json_body={"options": {"cas": cas}, "data": dict(data)}, idempotent=False)
        except ServiceError as exc:
            if exc.status == 400 and CAS_MISMATCH in (exc.service_message or ""):
                raise CasMismatch(exc.service_message) from None
            raise
        return int(((decode_json(response, service="hashi_vault") or {}).get("data") or {}).get("version") or 0)

    def write_metadata(self, mount: str, path: str, custom_metadata: t.Mapping[str, str]) -> None:
        """Replace the secret's custom metadata (string values)."""
        self.http.request("POST", "%s/v1/%s/metadata/%s" % (self.url, quote(mount), self._path(path)), service="hashi_vault",
                          headers=self._headers(), json_body={"custom_metadata": dict(custom_metadata)}, idempotent=True)
