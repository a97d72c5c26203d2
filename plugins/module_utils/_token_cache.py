# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The persistent token cache: msal's token and discovery caches kept in private files between tasks.

Every Ansible task is a new process. To make a warm task send no request at all to the identity
platform, both msal caches are persisted under a private directory, one set of files per (cloud,
authority host, tenant, client, credential fingerprint):

- the token cache (msal ``SerializableTokenCache``; written only when ``has_state_changed``);
- msal's ``http_cache`` (OIDC discovery responses). msal accepts any dict-like object and says the
  persisted format is the caller's business
  (https://learn.microsoft.com/python/api/msal/msal.application.confidentialclientapplication,
  parameter ``http_cache``). Only successful discovery GETs are persisted, as JSON (never pickle),
  because msal also caches failed token POSTs keyed by a hash of the request body, which contains
  the secret.

The fingerprint is an HMAC-SHA256 of the secret / certificate thumbprint / token-file path with a
random per-directory salt, so a different (or wrong) secret never reuses a token obtained with
another one, and no secret appears in file names or contents (except msal's own token entries).
An ``flock`` around load -> acquire -> save keeps parallel Ansible forks safe. Folders, reads, writes
and locks go through ``_private_files`` (the rules every file holding a secret or token follows).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import typing as t

from ._errors import ConfigurationError, PartnerCenterCollectionError
from ._private_files import create_private_file, ensure_private_folder, file_lock, read_private_file, write_private_file
from ._version import COLLECTION_NAME


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/partnercenter.national_cloud`` or ``~/.cache/partnercenter.national_cloud``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, COLLECTION_NAME)


class _CachedResponse:
    """A discovery response read back from the persisted http cache (what msal's cache returns)."""

    def __init__(self, status_code: int, text: str, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.text = text
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError("HTTP error %s" % self.status_code)


_MSAL_INDEX = "_index_"  # msal.individual_cache._ExpiringMapping keeps its expiry index under this key


def dump_http_cache(mapping: t.Mapping[str, t.Any]) -> bytes:
    """Serialise the successful GET entries of msal's http_cache (discovery) to JSON."""
    entries: dict[str, t.Any] = {}
    index = mapping.get(_MSAL_INDEX)
    sequence: list[t.Any] = []
    stamps: dict[str, t.Any] = {}
    if isinstance(index, (tuple, list)) and len(index) == 2:
        raw_sequence, raw_stamps = index
        for key, value in mapping.items():
            if key == _MSAL_INDEX or not isinstance(key, str) or not key.startswith("GET "):
                continue
            status = getattr(value, "status_code", None)
            if not isinstance(status, int) or not 200 <= status < 300 or key not in raw_stamps:
                continue
            entries[key] = {
                "status_code": status,
                "text": str(getattr(value, "text", "")),
                "headers": {str(k): str(v) for k, v in dict(getattr(value, "headers", {}) or {}).items()},
            }
        sequence = [list(e) for e in raw_sequence if len(e) == 3 and e[2] in entries]
        stamps = {k: list(v) for k, v in raw_stamps.items() if k in entries}
    return json.dumps({"format": 1, "index": [sequence, stamps], "entries": entries}, sort_keys=True).encode()


def load_http_cache(content: bytes | None) -> dict[str, t.Any]:
    """Inverse of :func:`dump_http_cache`; anything unexpected gives an empty cache."""
    if not content:
        return {}
    try:
        data = json.loads(content.decode("utf-8"))
        if data.get("format") != 1:
            return {}
        sequence, stamps = data["index"]
        result: dict[str, t.Any] = {
            k: _CachedResponse(int(v["status_code"]), str(v["text"]), dict(v["headers"]))
            for k, v in data["entries"].items()
        }
        result[_MSAL_INDEX] = ([list(e) for e in sequence], {k: list(v) for k, v in stamps.items()})
        return result
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


class TokenCacheStore:
    """One cache slot: msal token cache + http cache files, and their lock. In memory when no directory.

    ``http_key`` names the http cache (OIDC discovery) separately: discovery belongs to the authority
    (cloud, host, tenant), so every client of a tenant shares it and only the first one asks.

    The files are trusted only in a folder that the running user owns and that group and others cannot
    write, and only when each file belongs to the running user with mode 0600 (another local user who
    could plant a file could make a task send its writes into another tenant). Otherwise, and on any
    OSError, the cache is not used: with ``strict`` (a location the user chose) that is an error,
    otherwise a warning and the task continues with an in-memory cache.
    """

    WHAT = "the token cache"

    def __init__(self, directory: str | None, key: t.Sequence[str], lock_timeout: float = 300.0,
                 http_key: t.Sequence[str] | None = None, *, strict: bool = False,
                 warnings: list[str] | None = None, token_cache: t.Any = None) -> None:
        """``token_cache`` is msal's ``SerializableTokenCache`` that msal's application uses (None: only the
        lock and the http cache are kept, as when msal is missing)."""
        self.strict = strict
        self.warnings = warnings if warnings is not None else []
        self.lock_timeout = lock_timeout
        self.token_cache = token_cache
        self.http_cache: dict[str, t.Any] = {}
        self._http_snapshot = b""
        self.base = hashlib.sha256(json.dumps(list(key)).encode("utf-8")).hexdigest()[:40]
        self.directory = directory
        if self.directory:
            self.token_path = os.path.join(self.directory, self.base + ".tokens.json")
            http_base = hashlib.sha256(json.dumps(list(http_key)).encode("utf-8")).hexdigest()[:40] if http_key else self.base
            self.http_path = os.path.join(self.directory, http_base + ".http.json")
            self.lock_path = os.path.join(self.directory, self.base + ".lock")

    @classmethod
    def open_folder(cls, path: str, *, strict: bool, warnings: list[str]) -> str | None:
        """The private cache folder (created 0700 when missing), or None when it cannot be used (warned)."""
        path = os.path.abspath(os.path.expanduser(path))
        try:
            ensure_private_folder(path, option="token_cache", what=cls.WHAT)
        except ConfigurationError as exc:
            return cls._unusable(exc.message, strict=strict, warnings=warnings)
        except OSError as exc:
            return cls._unusable("Cannot use %s in %s: %s." % (cls.WHAT, path, exc.strerror or exc), strict=strict, warnings=warnings)
        return path

    @staticmethod
    def _unusable(reason: str, *, strict: bool, warnings: list[str]) -> None:
        if strict:
            raise ConfigurationError(
                reason, option="token_cache",
                hint="Fix the folder, choose another token_cache, or set token_cache: false (no cache between tasks).")
        warning = "%s The token cache is not used for this task (tokens are kept in memory only)." % reason.rstrip()
        if warning not in warnings:
            warnings.append(warning)
        return None

    def disable(self, reason: str) -> None:
        """Stop using the files: raise with ``strict``, else warn and keep the in-memory caches."""
        self._unusable(reason, strict=self.strict, warnings=self.warnings)
        self.directory = None

    def _read(self, path: str, what: str) -> bytes | None:
        """A cache file of the running user with mode 0600 (None when absent); anything else disables the cache."""
        try:
            content, loose = read_private_file(path, option="token_cache", what=what, require_private=True)
        except ConfigurationError as exc:
            self.disable(exc.message)
            return None
        except OSError as exc:
            self.disable("Cannot read %s %s: %s." % (what, path, exc.strerror or exc))
            return None
        if loose:
            self.disable("%s; it was not used." % loose[0])
            return None
        return content

    def _write(self, path: str, content: bytes) -> None:
        try:
            write_private_file(path, content)
        except OSError as exc:
            self.disable("Cannot write %s in %s: %s." % (self.WHAT, os.path.dirname(path), exc.strerror or exc))

    @classmethod
    def salt(cls, directory: str, *, strict: bool = False, warnings: list[str] | None = None) -> bytes | None:
        """The folder's random salt for credential fingerprints (created once, 0600), or None when unusable."""
        probe = cls(directory, ["salt"], strict=strict, warnings=warnings)
        path = os.path.join(directory, "salt")
        existing = probe._read(path, "token cache file")
        if probe.directory is None:
            return None
        if existing and len(existing) >= 32:
            return existing
        try:
            create_private_file(path, os.urandom(32))  # a concurrent creator keeps its salt
        except OSError as exc:
            probe.disable("Cannot write %s in %s: %s." % (cls.WHAT, directory, exc.strerror or exc))
            return None
        content = probe._read(path, "token cache file")
        return content if probe.directory and content and len(content) >= 32 else None

    @contextlib.contextmanager
    def locked(self) -> t.Iterator[None]:
        """Exclusive lock for load -> acquire -> save (a no-op without a directory)."""
        with contextlib.ExitStack() as stack:
            if self.directory:
                try:
                    stack.enter_context(file_lock(self.lock_path, timeout=self.lock_timeout, what=self.WHAT, option="token_cache"))
                except PartnerCenterCollectionError as exc:  # lock file unusable, or held for too long
                    self.disable(exc.to_message())
            yield

    def load(self) -> None:
        """Read both files into the (same) in-memory objects msal already holds."""
        if not self.directory or self.token_cache is None:
            return
        content = self._read(self.token_path, "token cache file")
        http = self._read(self.http_path, "token cache file") if self.directory else None
        if not self.directory:  # a file was refused: start empty, as without a cache
            content = http = None
        try:
            self.token_cache.deserialize(content.decode("utf-8") if content else None)
        except ValueError:
            self.token_cache.deserialize(None)
        self._http_snapshot = http or b""
        self.http_cache.clear()
        self.http_cache.update(load_http_cache(self._http_snapshot))

    def save(self) -> None:
        """Write what changed, atomically, with mode 0600."""
        if not self.directory or self.token_cache is None:
            return
        if self.token_cache.has_state_changed:
            self._write(self.token_path, self.token_cache.serialize().encode("utf-8"))
        http = dump_http_cache(self.http_cache)
        if self.directory and http != self._http_snapshot:
            self._write(self.http_path, http)
            self._http_snapshot = http


def open_slot(cache_dir: str | None, *, prefix: t.Sequence[str], http_key: t.Sequence[str] | None, kind: str, material: bytes,
              strict: bool, warnings: list[str], token_cache: t.Any) -> TokenCacheStore:
    """The cache slot of one credential: ``prefix`` (who signs in where) and the credential's fingerprint.

    The fingerprint is an HMAC-SHA256 of ``kind`` and ``material`` (the secret, a certificate's
    thumbprint, ...) with the folder's salt. Without a usable folder (none, or refused: warned, or
    raised with ``strict``) the slot lives in memory with a random salt.
    """
    directory = TokenCacheStore.open_folder(cache_dir, strict=strict, warnings=warnings) if cache_dir else None
    salt = TokenCacheStore.salt(directory, strict=strict, warnings=warnings) if directory else None
    if salt is None:
        directory, salt = None, os.urandom(32)
    fingerprint = hmac.new(salt, kind.encode("ascii") + b"\0" + material, hashlib.sha256).hexdigest()
    return TokenCacheStore(directory, [*prefix, fingerprint], http_key=http_key, strict=strict, warnings=warnings,
                           token_cache=token_cache)
