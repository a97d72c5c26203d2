# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Typed exceptions of the collection, each able to explain itself in one actionable paragraph.

Helpers raise these; only the base module (_module.py) turns them into ``fail_json``. No message
ever contains a token or a secret: URLs are passed through :func:`redact_url` and response bodies
are reduced to the service's error code and message.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SERVICE_NAMES = {
    "graph": "Microsoft Graph",
    "partner_center": "Partner Center",
    "identity": "the Microsoft identity platform",
    "key_vault": "Azure Key Vault",
    "hashi_vault": "the Vault (OpenBao / HashiCorp Vault) server",
}

# Query parameter names whose values must never be shown (lower case).
_SECRET_QUERY_KEYS = frozenset(
    ("access_token", "client_secret", "code", "password", "refresh_token", "secret", "sig", "signature", "token")
)
REDACTED = "REDACTED"


def redact_url(url: str) -> str:
    """Return ``url`` with the values of secret-looking query parameters replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    redacted = [(k, REDACTED if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs]
    if redacted == pairs:
        return url
    return urlunsplit(parts._replace(query=urlencode(redacted, safe="$',()")))


def first_line(text: str | None) -> str:
    """First non-empty line of ``text`` (identity-platform descriptions carry trace lines after it)."""
    for line in (text or "").replace("\r", "\n").split("\n"):
        if line.strip():
            return line.strip()
    return ""


class PartnerCenterCollectionError(Exception):
    """Base class of every expected error of the collection.

    ``result`` holds return values that a failed task still reports (e.g. what was checked).
    """

    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.result: dict[str, t.Any] = {}

    def to_message(self) -> str:
        """One paragraph for ``msg``: what failed, and what to do about it."""
        return _join(self.message, self.hint)

    def to_dict(self) -> dict[str, t.Any]:
        """Structured details for the ``error`` key of a failed task."""
        return {"type": self.kind, "message": self.message}

    def __str__(self) -> str:
        return self.to_message()


class ConfigurationError(PartnerCenterCollectionError):
    """Invalid or contradictory input: detected before any request is made."""

    kind = "configuration"

    def __init__(self, message: str, *, option: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.option = option

    def to_dict(self) -> dict[str, t.Any]:
        result = super().to_dict()
        if self.option:
            result["option"] = self.option
        return result


# Hints for well-known identity-platform error codes. Sources: the AADSTS reference,
# https://learn.microsoft.com/entra/identity-platform/reference-error-codes
AADSTS_HINTS: dict[str, str] = {
    "AADSTS7000215": "The client secret is wrong. Use the secret's Value (shown once when it was "
    "created), not its Secret ID, and check that it belongs to this client_id.",
    "AADSTS7000222": "The client secret has expired. Create a new secret for the application and "
    "update client_secret.",
    "AADSTS700016": "No application with this client_id exists in the tenant: check client_id and "
    "tenant_id, and that the app is registered in this cloud (option cloud).",
    "AADSTS90002": "The tenant was not found: check tenant_id and that the tenant belongs to the "
    "selected cloud (option cloud).",
    "AADSTS90038": "The tenant belongs to another national cloud: check the option cloud.",
    "AADSTS900382": "The tenant belongs to another cloud than the authority that was asked (for example a US "
    "Government tenant at the global authority): set the option cloud to the tenant's cloud.",
    "AADSTS1002012": "The requested scope belongs to another cloud: check the option cloud "
    "(a token for one national cloud cannot be used in another).",
    "AADSTS700027": "The certificate is not registered on the application (compare its thumbprint "
    "with the application's certificates) or the client assertion is malformed.",
    "AADSTS700024": "The federated token is not valid at this time: check that the token file is "
    "being refreshed (federated_token_file).",
    "AADSTS70021": "No federated identity credential on the application matches the federated "
    "token's issuer and subject.",
    "AADSTS7000229": "The application has no service principal in this tenant: create it (or grant "
    "admin consent) before requesting app-only tokens.",
}

# "AADSTS500011: The resource principal named https://... was not found in the tenant named ...".
_MISSING_RESOURCE = re.compile(r"resource principal named (\S+) was not found")


def resource_not_found_hint(resource: str | None, authority: str | None, description: str | None = None) -> str:
    """The hint for AADSTS500011: the resource's service principal is not in the tenant (the AADSTS
    reference, https://learn.microsoft.com/entra/identity-platform/reference-error-codes). Names the
    resource and the case: a resource of another cloud than the authority's, Partner Center's service
    principal missing (usual in a new tenant), or another API not added to the tenant.
    """
    # Imported here: the cloud catalog and the identifiers import this module.
    from ._clouds import clouds_for_host, clouds_for_resource, is_partner_center_resource
    from ._ids import PARTNER_CENTER_APP_ID

    found = _MISSING_RESOURCE.search(description or "")
    resource = resource or (found.group(1) if found else None)
    if not resource:
        return ("The resource has no service principal in this tenant: it was never added to the tenant, or it "
                "belongs to another cloud: check the option cloud.")
    owners = clouds_for_resource(resource)
    asked = clouds_for_host(authority) if authority and "//" in authority else ()
    if owners and asked and not set(owners) & set(asked):
        return ("The resource %s belongs to %s, but the token was asked at the authority of %s, which issues tokens "
                "only for its own cloud: set the option cloud to the tenant's cloud."
                % (resource, _cloud_names(owners), _cloud_names(asked)))
    if is_partner_center_resource(resource) or resource.rstrip("/").lower() == PARTNER_CENTER_APP_ID:
        return ("Microsoft Partner Center's service principal (appId %s) is missing in this tenant, so no token for %s "
                "can be issued. To create it, run partnercenter.national_cloud.pc_register_webapp "
                "(create_partner_center_service_principal=true) or partnercenter.national_cloud.pc_aad_permissions with a "
                "Partner Center permission and admin_consent=true; an admin's first sign-in to Partner Center creates it "
                "too." % (PARTNER_CENTER_APP_ID, resource))
    return ("The resource %s has no service principal in this tenant: the API was never added to the tenant (an "
            "administrator adds it by consenting to it), or it belongs to another cloud: check the option cloud." % resource)


def _cloud_names(clouds: t.Sequence[t.Any]) -> str:
    """Display and option names, closed clouds only when nothing else matches."""
    shown = [c for c in clouds if not c.retired] or list(clouds)
    return " or ".join("%s (cloud %s)" % (c.display_name, c.name) for c in shown)


class AuthenticationError(PartnerCenterCollectionError):
    """The identity platform refused to issue a token (or could not be asked)."""

    kind = "authentication"

    def __init__(
        self,
        message: str,
        *,
        authority: str | None = None,
        resource: str | None = None,
        error: str | None = None,
        error_codes: t.Sequence[str] = (),
        description: str | None = None,
        correlation_id: str | None = None,
        trace_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        codes = tuple(error_codes)
        if hint is None and "AADSTS500011" in codes:
            hint = resource_not_found_hint(resource, authority, description)
        if hint is None:
            hint = next((AADSTS_HINTS[c] for c in codes if c in AADSTS_HINTS), None)
        super().__init__(message, hint=hint)
        self.authority = authority
        self.resource = resource
        self.error = error
        self.error_codes = codes
        self.description = first_line(description)
        self.correlation_id = correlation_id
        self.trace_id = trace_id

    @classmethod
    def from_msal_result(
        cls, result: t.Mapping[str, t.Any], *, authority: str | None, resource: str | None
    ) -> AuthenticationError:
        """Build from the error dict that msal returns instead of raising."""
        codes = tuple("AADSTS%s" % c for c in (result.get("error_codes") or ()))
        target = " for %s" % resource if resource else ""
        where = " at %s" % authority if authority else ""
        return cls(
            "Could not get an access token%s%s." % (target, where),
            authority=authority,
            resource=resource,
            error=result.get("error"),
            error_codes=codes,
            description=result.get("error_description"),
            correlation_id=result.get("correlation_id"),
            trace_id=result.get("trace_id"),
        )

    def to_message(self) -> str:
        detail = ""
        if self.error or self.description:
            desc = self.description
            # The description usually starts with the code already ("AADSTS7000215: ...").
            codes = ", ".join(c for c in self.error_codes if c not in desc)
            head = ", ".join(x for x in (self.error, codes) if x)
            detail = "%s: %s" % (head, desc) if head and desc else (head or desc)
        ids = _ids(("trace ID", self.trace_id), ("correlation ID", self.correlation_id))
        return _join(self.message, detail and detail.rstrip(".") + ".", self.hint, ids)

    def to_dict(self) -> dict[str, t.Any]:
        result = super().to_dict()
        result.update(
            code=self.error_codes[0] if self.error_codes else self.error,
            error=self.error,
            error_codes=list(self.error_codes),
            description=self.description,
            authority=self.authority,
            resource=self.resource,
            correlation_id=self.correlation_id,
            trace_id=self.trace_id,
        )
        return result


class ServiceError(PartnerCenterCollectionError):
    """A Graph or Partner Center request answered with an error status."""

    kind = "service"

    def __init__(
        self,
        *,
        service: str,
        method: str,
        url: str,
        status: int,
        code: str | None = None,
        detail_code: str | None = None,
        message: str | None = None,
        request_id: str | None = None,
        client_request_id: str | None = None,
        date: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        operation: str | None = None,
        required_permissions: t.Sequence[str] = (),
        hint: str | None = None,
    ) -> None:
        self.service = service
        self.method = method.upper()
        self.url = redact_url(url)
        self.status = status
        self.code = code
        self.detail_code = detail_code
        self.service_message = first_line(message)
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.date = date
        self.retry_after = retry_after
        # Attempts of the same non-idempotent call (addPassword) that failed with an unknown outcome before this one.
        self.unknown_attempts = 0
        self.attempts = attempts
        self.operation = operation
        self.required_permissions = tuple(required_permissions)
        super().__init__(self._summary(), hint=hint)

    # Predicates (the subclasses below make ``except NotFoundError`` possible as well).
    @property
    def is_not_found(self) -> bool:
        return self.status == 404

    @property
    def is_forbidden(self) -> bool:
        return self.status == 403

    def has_code(self, *codes: str) -> bool:
        """True when the error code or the detail/inner code is one of ``codes`` (case-insensitive)."""
        wanted = {c.lower() for c in codes}
        return any(c and c.lower() in wanted for c in (self.code, self.detail_code))

    def _summary(self) -> str:
        name = SERVICE_NAMES.get(self.service, self.service)
        codes = " ".join(c for c in (self.code, self.detail_code and "(%s)" % self.detail_code) if c)
        text = "%s request %s %s failed with HTTP %s" % (name, self.method, self.url, self.status)
        if codes:
            text += " " + codes
        if self.service_message:
            text += ": " + self.service_message.rstrip(".")
        return text + "."

    def to_message(self) -> str:
        self.message = self._summary()
        parts: list[str | None] = [self.message]
        if self.is_forbidden and self.required_permissions:
            perms = " or ".join(self.required_permissions)
            what = " to %s" % self.operation.replace("_", " ") if self.operation else ""
            parts.append(
                "The client needs the %s application permission %s (granted with admin consent)%s."
                % (SERVICE_NAMES.get(self.service, self.service), perms, what)
            )
        if self.status in (429, 503) and self.attempts > 1:
            parts.append(
                "Still failing after %d attempts within retry_timeout: raise retry_timeout or run "
                "fewer tasks in parallel (forks)." % self.attempts
            )
        elif self.attempts > 1:
            parts.append("Failed after %d attempts." % self.attempts)
        parts.append(self.hint)
        parts.append(
            _ids(("request-id", self.request_id), ("client-request-id", self.client_request_id), ("date", self.date))
        )
        return _join(*parts)

    def to_dict(self) -> dict[str, t.Any]:
        result = super().to_dict()
        result.update(
            service=self.service,
            method=self.method,
            url=self.url,
            status=self.status,
            code=self.code,
            detail_code=self.detail_code,
            service_message=self.service_message,
            request_id=self.request_id,
            client_request_id=self.client_request_id,
            date=self.date,
            attempts=self.attempts,
        )
        if self.operation:
            result["operation"] = self.operation
        if self.required_permissions:
            result["required_permissions"] = list(self.required_permissions)
        return result


class NotFoundError(ServiceError):
    """HTTP 404."""


class ForbiddenError(ServiceError):
    """HTTP 403 (e.g. Graph ``Authorization_RequestDenied``)."""


class ThrottledError(ServiceError):
    """HTTP 429 or 503 after the retry budget was spent."""


class ConflictError(ServiceError):
    """HTTP 409 (e.g. ``Request_MultipleObjectsWithSameKeyValue``)."""


_BY_STATUS: dict[int, type[ServiceError]] = {
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: ThrottledError,
    503: ThrottledError,
}


def service_error(**kwargs: t.Any) -> ServiceError:
    """Create the :class:`ServiceError` subclass matching ``kwargs['status']``."""
    return _BY_STATUS.get(int(kwargs["status"]), ServiceError)(**kwargs)


class TransportError(PartnerCenterCollectionError):
    """The endpoint could not be reached, or the TLS handshake failed."""

    kind = "transport"

    def __init__(
        self,
        *,
        service: str,
        method: str,
        url: str,
        reason: str,
        tls: bool = False,
        attempts: int = 1,
        client_request_id: str | None = None,
    ) -> None:
        self.service = service
        self.method = method.upper()
        self.url = redact_url(url)
        self.host = urlsplit(url).netloc or url
        self.reason = reason
        self.tls = tls
        self.attempts = attempts
        self.client_request_id = client_request_id
        name = SERVICE_NAMES.get(service, service)
        what = "TLS verification failed for" if tls else "Could not reach"
        message = "%s %s at %s (%s %s): %s" % (what, name, self.host, self.method, self.url, reason)
        if attempts > 1:
            message += " (after %d attempts)" % attempts
        hint = None
        if tls:
            hint = (
                "If a proxy inspects TLS or the endpoint uses a private CA, set ca_bundle to a PEM file "
                "with that CA. TLS verification cannot be turned off."
            )
        super().__init__(message.rstrip(".") + ".", hint=hint)

    def to_dict(self) -> dict[str, t.Any]:
        result = super().to_dict()
        result.update(
            service=self.service,
            method=self.method,
            url=self.url,
            host=self.host,
            reason=self.reason,
            tls=self.tls,
            attempts=self.attempts,
            client_request_id=self.client_request_id,
        )
        return result


class ConsistencyTimeout(PartnerCenterCollectionError):
    """A write succeeded but its effect did not become visible within consistency_timeout."""

    kind = "consistency_timeout"

    def __init__(self, what: str, *, waited: float, last_error: ServiceError | None = None) -> None:
        self.what = what
        self.waited = waited
        self.last_error = last_error
        message = "Timed out after %.0f seconds waiting for %s (directory replication)." % (waited, what)
        if last_error is not None:
            message += " Last answer: " + last_error.to_message()
        super().__init__(
            message,
            hint="The write itself succeeded; rerun the task, or raise consistency_timeout.",
        )

    def to_dict(self) -> dict[str, t.Any]:
        result = super().to_dict()
        result["waited"] = round(self.waited, 1)
        if self.last_error is not None:
            result["last_error"] = self.last_error.to_dict()
            for key in ("code", "request_id", "client_request_id", "status"):
                result[key] = getattr(self.last_error, key)
        return result


def _ids(*pairs: tuple[str, str | None]) -> str:
    shown = ["%s: %s" % (k, v) for k, v in pairs if v]
    return "(%s)" % ", ".join(shown) if shown else ""


def _join(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())
