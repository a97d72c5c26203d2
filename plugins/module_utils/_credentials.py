# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Credentials: the sign-in options of a task, the method they select, checked before any request.

- ``auth_method=auto`` picks the first credential that is set: access_token, client certificate,
  client secret, federated token file (workload identity), managed identity; several set is a
  warning, an explicit method without its credential an error.
- Environment fallbacks use the names the Azure ecosystem already uses (:data:`ENV_VARS`; the
  module's argument spec takes its fallbacks from there).
- tenant_id must name one tenant; client_id is a GUID; managed_identity is ``system``, a client ID
  or a resource ID.
- A client certificate (PEM with its key, or PFX) is loaded and checked before msal sees it.
"""

from __future__ import annotations

import datetime
import re
import typing as t
from dataclasses import dataclass, field

from ._errors import ConfigurationError, first_line
from ._ids import is_guid

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
# The environment variables of the auth options: the names the Azure ecosystem already uses
# (azure-identity, azure.azcollection, the Workload Identity webhook). The module's argument spec
# takes its fallbacks from here, and messages name them beside their option.
ENV_VARS = {
    "cloud": "AZURE_CLOUD_ENVIRONMENT",
    "tenant_id": "AZURE_TENANT_ID",
    "client_id": "AZURE_CLIENT_ID",
    "client_secret": "AZURE_CLIENT_SECRET",
    "client_certificate_path": "AZURE_CLIENT_CERTIFICATE_PATH",
    "client_certificate_password": "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "federated_token_file": "AZURE_FEDERATED_TOKEN_FILE",
    "authority_host": "AZURE_AUTHORITY_HOST",
}
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,252}")  # used with fullmatch: "$" would let a newline through


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
    if b"-----BEGIN" in data:
        key, cert, credential = _load_pem(path, data, password, x509, serialization)
    else:
        key, cert, credential = _load_pfx(path, data, password, pkcs12)
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


def _load_pem(path: str, data: bytes, password: str | None, x509: t.Any, serialization: t.Any) -> tuple[t.Any, t.Any, dict[str, t.Any]]:
    """The private key, the certificate and msal's credential of a PEM file holding both."""
    secret = password.encode("utf-8") if password else None
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
    return key, cert, credential


def _load_pfx(path: str, data: bytes, password: str | None, pkcs12: t.Any) -> tuple[t.Any, t.Any, dict[str, t.Any]]:
    """The private key, the certificate and msal's credential of a PFX/PKCS#12 file holding both."""
    secret = password.encode("utf-8") if password else None
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
    credential: dict[str, t.Any] = {"private_key_pfx_path": path, "public_certificate": True}
    if password:
        credential["passphrase"] = password
    return key, cert, credential
