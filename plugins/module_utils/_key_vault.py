# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Azure Key Vault secrets REST API (data plane), without an Azure SDK: set, get, list versions.

https://learn.microsoft.com/rest/api/keyvault/secrets/ (api-version 2025-07-01, the current stable
one). Tokens are for the cloud's Key Vault resource (``https://vault.azure.net``,
``https://vault.usgovcloudapi.net``, ``https://vault.azure.cn``), from the same credentials as for
Microsoft Graph. Errors are ``{"error": {"code", "message", "innererror": {"code"}}}`` with the
``x-ms-request-id`` header (https://learn.microsoft.com/azure/key-vault/general/rest-error-codes).
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote, urlsplit

from ._errors import ConfigurationError, ServiceError
from ._http import HttpClient, decode_json

API_VERSION = "2025-07-01"


class KeyVaultClient:
    """Secrets of one vault."""

    def __init__(self, http: HttpClient, token_provider: t.Callable[[str], str], *, vault_url: str, resource: str) -> None:
        self.http = http
        self.token_provider = token_provider
        self.vault_url = vault_url.rstrip("/")
        self.resource = resource
        origin = urlsplit(self.vault_url)
        self._origin = (origin.scheme, origin.netloc.lower())

    def _request(self, method: str, path: str, body: t.Any = None, *, url: str | None = None) -> t.Any:
        """One request with a Key Vault token; a refused cached token is renewed once."""
        if url is not None:
            parts = urlsplit(url)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                raise ConfigurationError("Refusing to send a Key Vault token to %s://%s (expected %s://%s)."
                                         % (parts.scheme, parts.netloc, *self._origin))
            params = None
        else:
            url = self.vault_url + path
            params = {"api-version": API_VERSION}
        for attempt in (1, 2):
            headers = {"Accept": "application/json", "Authorization": "Bearer " + self.token_provider(self.resource)}
            try:
                # Setting a secret twice after a lost answer only adds an identical version: safe to retry.
                return self.http.request(method, url, service="key_vault", headers=headers, params=params, json_body=body,
                                         idempotent=True)
            except ServiceError as exc:
                invalidate = getattr(self.token_provider, "invalidate", None)
                if attempt == 1 and exc.status == 401 and invalidate:
                    invalidate(self.resource)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _path(name: str, *rest: str) -> str:
        return "/secrets/" + "/".join(quote(part, safe="") for part in (name, *rest))

    def get_secret(self, name: str) -> dict[str, t.Any] | None:
        """The latest version of secret ``name`` (with its value), or None when there is none."""
        try:
            response = self._request("GET", self._path(name))
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise
        return t.cast("dict[str, t.Any]", decode_json(response, service="key_vault"))

    def set_secret(self, name: str, value: str, *, content_type: str, tags: t.Mapping[str, str],
                   attributes: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """A new version of secret ``name``; returns the bundle (its ``id`` ends with the version)."""
        body = {"value": value, "contentType": content_type, "tags": dict(tags), "attributes": dict(attributes)}
        return t.cast("dict[str, t.Any]", decode_json(self._request("PUT", self._path(name), body), service="key_vault"))

    def list_versions(self, name: str) -> list[dict[str, t.Any]]:
        """Every version of secret ``name`` (id, attributes, tags; no values), following nextLink."""
        found: list[dict[str, t.Any]] = []
        url: str | None = None
        while True:
            try:
                response = self._request("GET", self._path(name, "versions"), url=url)
            except ServiceError as exc:
                if exc.status == 404:
                    return found
                raise
            page = decode_json(response, service="key_vault") or {}
            found += [v for v in page.get("value") or [] if isinstance(v, dict)]
            url = page.get("nextLink")
            if not url:
                return found


def version_of(bundle: t.Mapping[str, t.Any]) -> str:
    """The version of a secret bundle or version item: the last segment of its ``id``."""
    return str(bundle.get("id") or "").rstrip("/").rsplit("/", 1)[-1]
