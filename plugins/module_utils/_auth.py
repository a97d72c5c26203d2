# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Credentials -> access tokens, through msal, with a persistent cross-process cache.

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
A cached access token is used only when its claims name the tenant, resource and client asked for
(``tid``, ``aud``, ``appid``/``azp``); any other is discarded and a fresh one requested.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import hmac
import json
import os
import re
import time
import traceback
import typing as t
from dataclasses import dataclass, field

from ._clouds import CLOUDS, Cloud, host_of
from ._errors import AuthenticationError, ConfigurationError, PartnerCenterCollectionError, first_line
from ._http import HttpClient, MsalHttpClient
from ._ids import AAD_GRAPH_APP_ID, GRAPH_APP_ID, PARTNER_CENTER_APP_ID, is_guid
from ._private_files import ensure_private_folder, file_lock, read_private_file, temporary_name, write_private_file
from ._version import COLLECTION_NAME, COLLECTION_VERSION

try:
    import msal
except ImportError:
    HAS_MSAL = False
    MSAL_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None

AUTH_METHODS = ("auto", "access_token", "client_certificate", "client_secret", "workload_identity", "managed_identity")

# auth_method: auto picks the first one that is set, in this order.
_AUTO_ORDER = (
    ("access_token", "access_token"),
    ("client_certificate", "client_certificate_path"),
    ("client_secret", "client_secret"),
    ("workload_identity", "federated_token_file"),
    ("managed_identity", "managed_identity"),
)
_OPTION_FOR = dict(_AUTO_ORDER)
ENV_VARS = {
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "client_secret": "AZURE_CLIENT_SECRET",
    "client_certificate_path": "AZURE_CLIENT_CERTIFICATE_PATH",
    "client_certificate_password": "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "federated_token_file": "AZURE_FEDERATED_TOKEN_FILE",
}
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}")  # used with fullmatch: "$" would let a newline through
TOKEN_REFRESH_MARGIN = 300  # seconds; msal itself refreshes tokens expiring within 5 minutes


@dataclass(frozen=True)
class Credentials:
    """The credential options of a task, as given (after environment fallbacks)."""

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    client_certificate_path: str | None = None
    client_certificate_password: str | None = field(default=None, repr=False)
    federated_token_file: str | None = None
    managed_identity: str | None = None
    access_token: str | None = field(default=None, repr=False)
    auth_method: str = "auto"


def _option_name(option: str) -> str:
    env = ENV_VARS.get(option)
    return "%s (or %s)" % (option, env) if env else option


def select_auth_method(creds: Credentials) -> tuple[str, list[str]]:
    """Pick the authentication method and return it with any warnings; raise on bad input.

    ``auto``: access_token > client_certificate_path > client_secret > federated_token_file >
    managed_identity. An explicit method must have its credential.
    """
    warnings: list[str] = []
    present = [method for method, option in _AUTO_ORDER if getattr(creds, option)]
    requested = (creds.auth_method or "auto").lower()
    if requested not in AUTH_METHODS:
        raise ConfigurationError(
            "auth_method must be one of %s, got %r." % (", ".join(AUTH_METHODS), creds.auth_method),
            option="auth_method",
        )
    if requested == "auto":
        if not present:
            raise ConfigurationError(
                "No credentials were given. Set one of: %s."
                % "; ".join(_option_name(option) for _method, option in _AUTO_ORDER),
                option="auth_method",
                hint="With a client secret, certificate or federated token, tenant_id and client_id are needed too.",
            )
        method = present[0]
        if len(present) > 1:
            warnings.append(
                "Several credentials are set (%s); auth_method=auto uses %s. Set auth_method to choose explicitly."
                % (", ".join(_OPTION_FOR[m] for m in present), _OPTION_FOR[method])
            )
    else:
        method = requested
        if not getattr(creds, _OPTION_FOR[method]):
            raise ConfigurationError(
                "auth_method=%s needs %s." % (method, _option_name(_OPTION_FOR[method])), option=_OPTION_FOR[method]
            )
    if creds.client_certificate_password and method != "client_certificate":
        warnings.append("client_certificate_password is ignored: the %s credential is used." % method)
    if method in ("client_secret", "client_certificate", "workload_identity"):
        for option in ("tenant_id", "client_id"):
            if not getattr(creds, option):
                raise ConfigurationError("auth_method=%s needs %s." % (method, _option_name(option)), option=option)
        validate_tenant_id(creds.tenant_id or "")
        if not is_guid(creds.client_id):
            raise ConfigurationError(
                "client_id must be the application (client) ID, a GUID; got %r." % creds.client_id, option="client_id"
            )
    if method == "managed_identity":
        ident = creds.managed_identity or ""
        if ident.lower() != "system" and not is_guid(ident) and not (ident.startswith("/subscriptions/") and ident.isprintable()):
            raise ConfigurationError(
                "managed_identity must be 'system', the client ID (GUID) of a user-assigned identity, or its "
                "Azure resource ID; got %r." % ident,
                option="managed_identity",
            )
    return method, warnings


def validate_tenant_id(tenant_id: str) -> str:
    """A tenant GUID or verified domain; anything that could change the authority URL is refused."""
    if tenant_id.lower() in ("common", "organizations", "consumers"):
        raise ConfigurationError(
            "tenant_id must name one tenant (GUID or domain); %r is not allowed for app-only tokens." % tenant_id,
            option="tenant_id",
        )
    if not (is_guid(tenant_id) or _TENANT.fullmatch(tenant_id)) or ".." in tenant_id:
        raise ConfigurationError(
            "tenant_id must be a tenant GUID or domain (e.g. contoso.onmicrosoft.com); got %r." % tenant_id,
            option="tenant_id",
        )
    return tenant_id


# --------------------------------------------------------------------------------------------------
# Access tokens supplied by the caller
# --------------------------------------------------------------------------------------------------


def decode_jwt_claims(token: str) -> dict[str, t.Any] | None:
    """The payload of a JWT, NOT verified (only to catch wrong-audience or expired tokens early)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None
    return claims if isinstance(claims, dict) else None


def accepted_audiences(cloud: Cloud, resource: str) -> set[str]:
    """``aud`` values that a token for ``resource`` may carry."""
    accepted = {resource, resource + "/"}
    if resource == cloud.graph_resource:
        accepted.add(GRAPH_APP_ID)
    if resource == cloud.partner_center_resource:
        accepted.add(PARTNER_CENTER_APP_ID)
    if resource == cloud.aad_graph_endpoint:
        accepted.add(AAD_GRAPH_APP_ID)
    return accepted


def check_access_token(token: str, *, cloud: Cloud, resource: str, now: float) -> list[str]:
    """Refuse a caller-supplied token whose ``aud`` is another resource or whose ``exp`` passed."""
    claims = decode_jwt_claims(token)
    if claims is None:
        return ["access_token is not a JWT: its audience and expiry cannot be checked before use."]
    warnings: list[str] = []
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud] if aud else []
    if auds and not set(auds) & accepted_audiences(cloud, resource):
        others = [
            c.name for c in CLOUDS.values() if str(auds[0]).rstrip("/") in (c.graph_resource, c.partner_center_resource)
        ]
        hint = "Tokens of one cloud are never valid in another: check cloud." if others else None
        raise AuthenticationError(
            "The access_token was issued for %s, but this task calls %s (cloud %s)."
            % (", ".join(map(str, auds)), resource, cloud.name),
            resource=resource,
            hint=hint or "Get a token whose audience is %s (scope %s/.default)." % (resource, resource),
        )
    exp = claims.get("exp")
    if isinstance(exp, (int, float)):
        if exp <= now:
            when = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).isoformat()
            raise AuthenticationError(
                "The access_token expired at %s." % when, resource=resource, hint="Get a new token."
            )
        if exp - now < TOKEN_REFRESH_MARGIN:
            warnings.append("access_token expires in %d seconds." % int(exp - now))
    return warnings


# --------------------------------------------------------------------------------------------------
# Client certificates
# --------------------------------------------------------------------------------------------------

_PEM_KEY = re.compile(rb"-----BEGIN (?P<kind>(?:ENCRYPTED |RSA |EC )?PRIVATE KEY)-----.+?-----END (?P=kind)-----", re.S)
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True)
class CertificateCredential:
    """What msal needs for a certificate credential, and the certificate's thumbprints."""

    client_credential: dict[str, t.Any] = field(repr=False)
    sha256_thumbprint: str
    sha1_thumbprint: str
    not_valid_after: datetime.datetime | None


def load_certificate(path: str, password: str | None) -> CertificateCredential:
    """Load a PEM (private key + certificate) or PFX/PKCS#12 file, checking it before msal sees it.

    msal sends the certificate in the assertion's ``x5c`` header when ``public_certificate`` is
    given (a PEM string, or True with a PFX path), which Subject Name/Issuer authentication needs.
    """
    # Imported here, not at the top: only certificate sign-in needs it, and every module run would
    # otherwise pay for importing it (benchmarks/: module start-up).
    try:
        from cryptography import x509  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives.serialization import pkcs12  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise ConfigurationError(
            "client_certificate_path needs the Python library cryptography: %s" % first_line(str(exc)),
            option="client_certificate_path",
        ) from None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ConfigurationError(
            "Cannot read client_certificate_path %s: %s." % (path, exc.strerror), option="client_certificate_path"
        ) from None
    secret = password.encode("utf-8") if password else None
    if b"-----BEGIN" in data:
        key_match, cert_match = _PEM_KEY.search(data), _PEM_CERT.search(data)
        if not key_match or not cert_match:
            raise ConfigurationError(
                "client_certificate_path %s must contain both the private key and the certificate (PEM), or be a "
                "PFX file." % path,
                option="client_certificate_path",
            )
        try:
            key = serialization.load_pem_private_key(key_match.group(0), secret)
        except TypeError:
            state = (
                "not encrypted: remove client_certificate_password"
                if secret
                else "encrypted: set client_certificate_password"
            )
            raise ConfigurationError(
                "The private key in %s is %s." % (path, state), option="client_certificate_password"
            ) from None
        except ValueError:
            raise ConfigurationError(
                "Cannot load the private key in %s: wrong client_certificate_password or unsupported key." % path,
                option="client_certificate_password",
            ) from None
        cert = x509.load_pem_x509_certificate(cert_match.group(0))
        credential: dict[str, t.Any] = {
            "private_key": key_match.group(0).decode("ascii"),
            "public_certificate": cert_match.group(0).decode("ascii"),
        }
        if password:
            credential["passphrase"] = password
    else:
        try:
            key, cert, _chain = pkcs12.load_key_and_certificates(data, secret)
        except (ValueError, TypeError):
            raise ConfigurationError(
                "Cannot open %s as PFX/PKCS#12: wrong client_certificate_password, or not a certificate file." % path,
                option="client_certificate_password",
            ) from None
        if key is None or cert is None:
            raise ConfigurationError(
                "The PFX file %s must contain both the private key and the certificate." % path,
                option="client_certificate_path",
            )
        credential = {"private_key_pfx_path": path, "public_certificate": True}
        if password:
            credential["passphrase"] = password
    pub = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*pub) != cert.public_key().public_bytes(*pub):
        raise ConfigurationError(
            "The private key in %s does not belong to its certificate." % path, option="client_certificate_path"
        )
    return CertificateCredential(
        client_credential=credential,
        sha256_thumbprint=cert.fingerprint(hashes.SHA256()).hex().upper(),
        sha1_thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - the portal shows SHA-1
        not_valid_after=getattr(cert, "not_valid_after_utc", None),
    )


# --------------------------------------------------------------------------------------------------
# Persistent cache
# --------------------------------------------------------------------------------------------------


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
                 warnings: list[str] | None = None) -> None:
        self.strict = strict
        self.warnings = warnings if warnings is not None else []
        self.lock_timeout = lock_timeout
        self.token_cache = msal.SerializableTokenCache() if HAS_MSAL else None
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
        tmp = temporary_name(path)
        try:
            write_private_file(tmp, os.urandom(32))
            try:
                os.link(tmp, path)  # atomic create-if-absent: a concurrent creator keeps its salt
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
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


# --------------------------------------------------------------------------------------------------
# Token provider
# --------------------------------------------------------------------------------------------------


class TokenProvider:
    """Access tokens for a cloud's resources from one set of credentials.

    ``authority_host`` may be a transport override (e.g. an emulator); the token *scope* is always
    ``<resource>/.default`` of the cloud's real resource.
    """

    def __init__(
        self,
        *,
        cloud: Cloud,
        credentials: Credentials,
        http: HttpClient,
        authority_host: str | None = None,
        cache_dir: str | None = None,
        cache_explicit: bool = False,
        now: t.Callable[[], float] = time.time,
    ) -> None:
        self.cloud = cloud
        self.credentials = credentials
        self.http = http
        self.authority_host = (authority_host or cloud.authority_host).rstrip("/")
        self.cache_dir = cache_dir
        self.cache_explicit = cache_explicit
        self.now = now
        self.method, self.warnings = select_auth_method(credentials)
        self._app: t.Any = None
        self._store: TokenCacheStore | None = None
        self._memo: dict[str, tuple[str, float]] = {}
        self.certificate: CertificateCredential | None = None

    @property
    def authority(self) -> str:
        return "%s/%s" % (self.authority_host, self.credentials.tenant_id)

    def __call__(self, resource: str) -> str:
        return self.get_token(resource)

    def get_token(self, resource: str) -> str:
        """A valid access token for ``resource`` (e.g. ``https://graph.microsoft.us``)."""
        resource = resource.rstrip("/")
        cached = self._memo.get(resource)
        if cached and cached[1] - self.now() > TOKEN_REFRESH_MARGIN:
            return cached[0]
        if self.method == "access_token":
            token = self.credentials.access_token or ""
            for warning in check_access_token(token, cloud=self.cloud, resource=resource, now=self.now()):
                if warning not in self.warnings:
                    self.warnings.append(warning)
            return token
        if not HAS_MSAL:
            raise ConfigurationError("The Python library msal is required to get tokens: %s" % MSAL_IMPORT_ERROR)
        store = self._get_store()
        try:
            with store.locked():
                store.load()
                result = self._acquire(resource)
                if isinstance(result, dict) and result.get("access_token") and result.get("token_source") == "cache":
                    problem = self._claims_problem(result["access_token"], resource)
                    if problem:  # never used: ask the identity platform for a token of this tenant and client
                        self._warn("A cached access token was discarded: %s." % problem)
                        self._drop_cached(resource)
                        result = self._acquire(resource)
                if isinstance(result, dict) and result.get("access_token"):
                    problem = self._claims_problem(result["access_token"], resource)
                    if problem:
                        self._drop_cached(resource)
                        raise AuthenticationError(
                            "The identity platform at %s returned an access token that does not match the request: %s."
                            % (self._where(), problem), authority=self._where(), resource=resource,
                            hint="Check authority_host, tenant_id and cloud; nothing was sent with this token.")
                store.save()
        except PartnerCenterCollectionError:
            raise
        except (ValueError, RuntimeError, msal.exceptions.MsalError) as exc:
            raise self._wrap_msal_exception(exc, resource) from None
        if not isinstance(result, dict) or "access_token" not in result:
            raise AuthenticationError.from_msal_result(
                result if isinstance(result, dict) else {}, authority=self._where(), resource=resource
            )
        expires_in = result.get("expires_in")
        expires_at = self.now() + (float(expires_in) if expires_in else 0.0)
        self._memo[resource] = (result["access_token"], expires_at)
        return result["access_token"]

    def invalidate(self, resource: str) -> None:
        """Forget the cached access token for ``resource`` (the service refused it as invalid).

        A token can be refused before its expiry (revocation, rotated signing keys, clock skew);
        the next :meth:`get_token` then asks the identity platform for a new one.
        """
        resource = resource.rstrip("/")
        self._memo.pop(resource, None)
        if self.method == "access_token" or not HAS_MSAL:
            return
        store = self._get_store()
        with store.locked():
            store.load()
            self._drop_cached(resource)
            store.save()

    def _drop_cached(self, resource: str) -> None:
        cache = self._get_store().token_cache
        for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN, target=[resource + "/.default"])):
            cache.remove_at(entry)

    def _warn(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)

    def expected_tenant(self) -> str | None:
        """The tenant's GUID: tenant_id when it is one, else the GUID in the discovered token endpoint (a domain)."""
        tenant = (self.credentials.tenant_id or "").lower()
        if is_guid(tenant):
            return tenant
        discovered = str(getattr(getattr(self._app, "authority", None), "tenant", "") or "").lower()
        return discovered if is_guid(discovered) else None

    def _claims_problem(self, token: str, resource: str) -> str | None:
        """Why a token does not belong to this request (tid, aud, appid/azp), or None when it does.

        Claims per https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
        (v1 tokens carry ``appid``, v2 tokens ``azp``). Not a signature check: the resource does that;
        this only keeps a token of another tenant or client from being used for this task.
        """
        claims = decode_jwt_claims(token)
        if claims is None:
            return "it is not a JWT, so its tenant cannot be checked"
        tenant = self.expected_tenant()
        if tenant and str(claims.get("tid", "")).lower() != tenant:
            return "it was issued in tenant %s, not %s" % (claims.get("tid"), tenant)
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if not set(map(str, auds)) & accepted_audiences(self.cloud, resource):
            return "its audience is %s, not %s" % (", ".join(map(str, auds)), resource)
        client = (self.credentials.client_id or "").lower()
        if self.method != "managed_identity" and client:
            issued_to = str(claims.get("appid") or claims.get("azp") or "").lower()
            if issued_to != client:
                return "it was issued to client %s, not %s" % (issued_to or "(none)", client)
        return None

    # Internals --------------------------------------------------------------------------------

    def _where(self) -> str:
        return "managed identity endpoint" if self.method == "managed_identity" else self.authority

    def _fingerprint_material(self) -> tuple[str, bytes]:
        creds = self.credentials
        if self.method == "client_secret":
            return "secret", (creds.client_secret or "").encode("utf-8")
        if self.method == "client_certificate":
            self.certificate = self.certificate or load_certificate(
                creds.client_certificate_path or "", creds.client_certificate_password
            )
            return "certificate", self.certificate.sha256_thumbprint.encode("ascii")
        if self.method == "workload_identity":
            return "federated_token_file", os.path.abspath(creds.federated_token_file or "").encode("utf-8")
        return "managed_identity", (creds.managed_identity or "").lower().encode("utf-8")

    def _get_store(self) -> TokenCacheStore:
        if self._store is not None:
            return self._store
        kind, material = self._fingerprint_material()
        strict = self.cache_explicit
        directory = TokenCacheStore.open_folder(self.cache_dir, strict=strict, warnings=self.warnings) if self.cache_dir else None
        salt = TokenCacheStore.salt(directory, strict=strict, warnings=self.warnings) if directory else None
        if salt is None:
            directory, salt = None, os.urandom(32)
        fingerprint = hmac.new(salt, kind.encode("ascii") + b"\0" + material, hashlib.sha256).hexdigest()
        if self.method == "managed_identity":
            key = [self.cloud.name, "managed_identity", fingerprint]
            authority: list[str] | None = None
        else:
            authority = [self.cloud.name, host_of(self.authority_host), (self.credentials.tenant_id or "").lower()]
            key = authority + [(self.credentials.client_id or "").lower(), kind, fingerprint]
        self._store = TokenCacheStore(directory, key, http_key=authority, strict=strict, warnings=self.warnings)
        return self._store

    def _build_app(self) -> t.Any:
        store = self._get_store()
        creds = self.credentials
        if self.method == "managed_identity":
            ident = creds.managed_identity or ""
            if ident.lower() == "system":
                identity = msal.SystemAssignedManagedIdentity()
            elif ident.startswith("/"):
                identity = msal.UserAssignedManagedIdentity(resource_id=ident)
            else:
                identity = msal.UserAssignedManagedIdentity(client_id=ident)
            # Service Fabric needs a real requests.Session here, not a wrapper (msal 1.39).
            return msal.ManagedIdentityClient(
                identity, http_client=self.http.session, token_cache=store.token_cache, http_cache=store.http_cache
            )
        if self.method == "client_secret":
            credential: t.Any = creds.client_secret
        elif self.method == "client_certificate":
            self._fingerprint_material()
            credential = dict(self.certificate.client_credential) if self.certificate else {}
        else:  # workload_identity: msal calls this for every token request, so a rotated file is re-read.
            path = creds.federated_token_file or ""

            def read_assertion() -> str:
                try:
                    with open(path, encoding="utf-8") as handle:
                        return handle.read().strip()
                except OSError as exc:
                    raise ConfigurationError(
                        "Cannot read federated_token_file %s: %s." % (path, exc.strerror), option="federated_token_file"
                    ) from None

            credential = {"client_assertion": read_assertion}
        catalogued = host_of(self.authority_host) == host_of(self.cloud.authority_host)
        return msal.ConfidentialClientApplication(
            creds.client_id,
            client_credential=credential,
            authority=self.authority,
            # instance_discovery=False: catalogued hosts and overrides never need the
            # login.microsoftonline.com/common/discovery/instance call (it would leak the cloud).
            validate_authority=catalogued,
            instance_discovery=False,
            token_cache=store.token_cache,
            http_client=MsalHttpClient(self.http),
            http_cache=store.http_cache,
            app_name=COLLECTION_NAME,
            app_version=COLLECTION_VERSION,
        )

    def _acquire(self, resource: str) -> t.Any:
        if self._app is None:
            self._app = self._build_app()
        if self.method == "managed_identity":
            return self._app.acquire_token_for_client(resource=resource)
        return self._app.acquire_token_for_client(scopes=[resource + "/.default"])

    def _wrap_msal_exception(self, exc: BaseException, resource: str) -> AuthenticationError:
        """msal raises ValueError for discovery failures; recover the AADSTS details when present."""
        context = exc.__context__ or exc.__cause__
        for candidate in (str(context) if context else "", str(exc)):
            brace = candidate.find("{")
            if brace >= 0:
                try:
                    body = json.loads(candidate[brace:])
                except ValueError:
                    continue
                if isinstance(body, dict) and (body.get("error") or body.get("error_codes")):
                    return AuthenticationError.from_msal_result(body, authority=self._where(), resource=resource)
        text = first_line(str(exc))
        if "authority configuration" in text or "OIDC Discovery" in text:
            return AuthenticationError(
                "Could not read the OpenID configuration of tenant %s at %s."
                % (self.credentials.tenant_id, self.authority_host),
                authority=self._where(),
                resource=resource,
                description=text,
                hint="Check tenant_id, and that the tenant belongs to cloud %s (%s)."
                % (self.cloud.name, self.cloud.display_name),
            )
        return AuthenticationError(
            "Could not get an access token for %s from %s." % (resource, self._where()),
            authority=self._where(),
            resource=resource,
            description=text,
        )
