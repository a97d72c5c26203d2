# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Access tokens: the token provider (msal, the persistent cache) and the checks of a token's claims.

Credentials (_credentials) become access tokens for a cloud's resources through msal, with msal's
caches kept between tasks (_token_cache). A cached access token is used only when its claims name
the tenant, resource and client asked for (``tid``, ``aud``, ``appid``/``azp``); any other is
discarded and a fresh one requested. A caller-supplied access token is checked for its audience and
expiry before use.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import time
import traceback
import typing as t

from ._clouds import CLOUDS, Cloud, host_of
from ._credentials import CertificateCredential, Credentials, load_certificate, select_auth_method
from ._errors import AuthenticationError, ConfigurationError, PartnerCenterCollectionError, first_line
from ._http import HttpClient, MsalHttpClient
from ._ids import AAD_GRAPH_APP_ID, GRAPH_APP_ID, PARTNER_CENTER_APP_ID, is_guid
from ._token_cache import TokenCacheStore, open_slot
from ._version import COLLECTION_NAME, COLLECTION_VERSION

try:
    import msal
except ImportError:
    HAS_MSAL = False
    MSAL_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None


TOKEN_REFRESH_MARGIN = 300  # seconds; msal itself refreshes tokens expiring within 5 minutes


# --------------------------------------------------------------------------------------------------
# Tokens and their claims
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


def token_tenant(tokens: t.Callable[[str], str], resource: str) -> str | None:
    """The GUID of the tenant that the token of ``tokens`` for ``resource`` was issued in (its ``tid``), or None.

    The provider holds the token once read (no request then); a tenant_id given as a domain becomes
    its GUID this way. The claim is not verified (the resource does that). Never raises: it only
    names the tenant in store records and messages.
    """
    try:
        tid = (decode_jwt_claims(tokens(resource)) or {}).get("tid")
    except Exception:  # noqa: BLE001 - only for a record or a message; never fail because of it
        return None
    return str(tid) if tid else None


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
        if self.method == "managed_identity":
            prefix = [self.cloud.name, "managed_identity"]
            authority: list[str] | None = None
        else:
            authority = [self.cloud.name, host_of(self.authority_host), (self.credentials.tenant_id or "").lower()]
            prefix = authority + [(self.credentials.client_id or "").lower(), kind]
        self._store = open_slot(self.cache_dir, prefix=prefix, http_key=authority, kind=kind, material=material,
                                strict=self.cache_explicit, warnings=self.warnings,
                                token_cache=msal.SerializableTokenCache() if HAS_MSAL else None)
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
