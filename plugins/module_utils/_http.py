# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""HTTP transport: one requests.Session per process, retries that are safe, typed errors.

- Every request carries ``client-request-id`` (one UUID per logical request, kept across its
  retries), ``return-client-request-id: true`` and a User-Agent naming the collection.
- 429 and 503 are retried for every method, honouring ``Retry-After`` (seconds or HTTP-date,
  clamped), within a total time budget; otherwise exponential backoff with full jitter.
  https://learn.microsoft.com/graph/throttling
- 500/502/504 and broken connections are retried only for idempotent requests; a request that
  provably never left (DNS failure, connection refused, connect timeout) is retried for any method,
  but only for ``connect_retry_timeout`` seconds (default 5): an endpoint that cannot be reached at
  all fails the host in seconds, naming the endpoint, while throttling and 5xx keep ``retry_timeout``.
  TLS failures are not retried.
- TLS verification is always on. A CA bundle given by the user wins over ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import email.utils
import json
import math
import os
import platform
import random
import time
import traceback
import typing as t
import uuid

from ._errors import ConfigurationError, ServiceError, TransportError, first_line, redact_url, service_error
from ._version import COLLECTION_NAME, COLLECTION_VERSION

try:
    import requests
    from requests.exceptions import ChunkedEncodingError, ConnectTimeout, SSLError
    from urllib3.exceptions import ConnectTimeoutError
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None

try:
    from ansible.module_utils.ansible_release import __version__ as ANSIBLE_CORE_VERSION
except ImportError:  # pragma: no cover - ansible-core is always there when a module runs
    ANSIBLE_CORE_VERSION = "unknown"

IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"))
THROTTLE_STATUSES = frozenset((429, 503))
RETRYABLE_SERVER_STATUSES = frozenset((500, 502, 504))
DEFAULT_CONNECT_RETRY_TIMEOUT = 5  # seconds of retrying an endpoint that refuses connections or cannot be resolved


def user_agent() -> str:
    """``partnercenter.national_cloud/<version> (ansible-core/<ver>; python/<ver>)``."""
    return "%s/%s (ansible-core/%s; python/%s)" % (
        COLLECTION_NAME,
        COLLECTION_VERSION,
        ANSIBLE_CORE_VERSION,
        platform.python_version(),
    )


_SessionBase: t.Any = requests.Session if HAS_REQUESTS else object


class VerifyingSession(_SessionBase):  # type: ignore[misc]
    """A requests.Session whose CA bundle cannot be overridden by the environment.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` replace a session's ``verify`` whenever a
    request passes no ``verify`` of its own (https://github.com/psf/requests/issues/3829,
    https://github.com/psf/requests/issues/4726). msal passes none, so a ``ca_bundle`` given to
    msal or to a session would be silently ignored on machines that set those variables. When a CA
    bundle was given it is put back here; without one, requests' default behaviour (environment
    bundle, then certifi) applies. A request that asks not to verify certificates is verified anyway.
    """

    def __init__(self, ca_bundle: str | None = None, timeout: float | None = None) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        self.default_timeout = timeout
        if ca_bundle:
            self.verify = ca_bundle
        self.headers["User-Agent"] = user_agent()

    def __enter__(self) -> VerifyingSession:
        return self

    def __exit__(self, *args: t.Any) -> None:
        self.close()

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        if self.ca_bundle and (verify is None or verify is True):
            verify = self.ca_bundle
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if settings.get("verify") is False:  # TLS verification is never switched off.
            settings["verify"] = self.ca_bundle or True
        return settings

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        # msal's managed-identity client calls the session directly: give it a timeout too.
        if kwargs.get("timeout") is None and self.default_timeout:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


_SESSIONS: dict[str | None, t.Any] = {}


def get_session(ca_bundle: str | None = None, timeout: float | None = None) -> t.Any:
    """The process-wide session for this CA bundle (None: requests' default trust)."""
    key = os.path.realpath(ca_bundle) if ca_bundle else None
    session = _SESSIONS.get(key)
    if session is None:
        session = _SESSIONS[key] = VerifyingSession(key, timeout)
    elif timeout:
        session.default_timeout = timeout
    return session


def parse_retry_after(value: str | None, *, now: float, date_header: str | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date), or None.

    An HTTP-date is measured against the response's own ``Date`` header when present (so clock
    skew between us and the service does not matter), else against ``now`` (wall clock).
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    target = _http_date(text)
    if target is None:
        return None
    reference = _http_date(date_header) if date_header else None
    return max(0.0, target - (reference if reference is not None else now))


def _http_date(text: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:  # pragma: no cover - older Pythons
        return None
    if parsed.tzinfo is None:
        import datetime

        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def decode_body(content: bytes | None) -> str:
    """Decode a response body as UTF-8, dropping a leading BOM (Partner Center sends one)."""
    if not content:
        return ""
    return content.decode("utf-8-sig", errors="replace")


def decode_json(response: t.Any, *, service: str = "graph") -> t.Any:
    """The JSON body of a successful response (None when empty); BOM-tolerant."""
    text = decode_body(response.content).strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise service_error(
            service=service,
            method=response.request.method if response.request is not None else "GET",
            url=response.url or "",
            status=response.status_code,
            code="InvalidResponse",
            message="The response body is not JSON (content-type %s)."
            % response.headers.get("Content-Type", "unknown"),
            request_id=response.headers.get("request-id"),
            client_request_id=response.headers.get("client-request-id"),
        ) from None


def vault_error_text(text: str) -> str:
    """One entry of Vault's ``errors``: the items of a multi-error ("1 error occurred:\\n\\t* permission denied"), else its first line."""
    items = [line.strip()[2:].strip() for line in text.splitlines() if line.strip().startswith("* ")]
    return "; ".join(item for item in items if item) or first_line(text)


def parse_error(
    response: t.Any,
    *,
    service: str,
    method: str,
    url: str,
    client_request_id: str | None = None,
    attempts: int = 1,
    retry_after: float | None = None,
) -> ServiceError:
    """Turn an error response into a typed :class:`ServiceError`.

    Shapes understood: Graph OData (``{"error": {"code", "message", "innerError", "details"}}``,
    https://learn.microsoft.com/graph/errors), legacy Azure AD Graph (``{"odata.error": {"code",
    "message": {"value"}}}``), Partner Center (``{"code", "description", "data", "source"}``, body
    possibly starting with a UTF-8 BOM), OAuth (``{"error", "error_description"}``) and non-JSON.
    """
    headers = response.headers or {}
    text = decode_body(response.content)
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    found: dict[str, t.Any] = {}
    if isinstance(data, dict):
        found = _json_error(data)
    elif text.strip():
        found["message"] = _text_error(response, text.strip(), headers)
    return service_error(
        service=service,
        method=method,
        url=url,
        status=response.status_code,
        code=found.get("code"),
        detail_code=found.get("detail_code"),
        message=found.get("message") or response.reason or None,
        # Graph answers with request-id; Partner Center echoes MS-RequestId.
        request_id=found.get("request_id") or headers.get("request-id") or headers.get("x-ms-request-id") or headers.get("MS-RequestId"),
        client_request_id=found.get("client_request_id") or headers.get("client-request-id") or client_request_id,
        date=found.get("date") or headers.get("Date"),
        retry_after=retry_after,
        attempts=attempts,
    )


def _json_error(data: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What a JSON error body tells, in the shape of its service: ``code``, ``detail_code``, ``message``,
    ``request_id``, ``client_request_id`` and ``date`` (those it has)."""
    err = data.get("error")
    if isinstance(err, dict):
        found = {"code": err.get("code"), "message": _message_text(err.get("message"))}
        inner = err.get("innerError") or err.get("innererror") or {}
        if isinstance(inner, dict):
            found.update(request_id=inner.get("request-id"), client_request_id=inner.get("client-request-id"),
                         date=inner.get("date"), detail_code=inner.get("code") if inner.get("code") != found["code"] else None)
        details = err.get("details")
        if isinstance(details, list):
            codes = [d.get("code") for d in details if isinstance(d, dict) and d.get("code")]
            if codes:
                found["detail_code"] = codes[0]
        return found
    if isinstance(data.get("odata.error"), dict):
        err = data["odata.error"]
        return {"code": err.get("code"), "message": _message_text(err.get("message")), "request_id": err.get("requestId"),
                "date": err.get("date")}
    if isinstance(err, str):
        return {"code": err, "message": data.get("error_description")}
    if "code" in data or "description" in data:
        name = data.get("errorName")
        return {"code": None if data.get("code") is None else str(data.get("code")),
                "message": _message_text(data.get("description") or data.get("message")),
                "detail_code": str(name) if name else None}
    if isinstance(data.get("errors"), list):  # Vault / OpenBao: {"errors": ["..."]}
        return {"message": "; ".join(vault_error_text(str(e)) for e in data["errors"] if str(e).strip()) or None}
    if "message" in data:
        return {"message": _message_text(data.get("message"))}
    return {}


def _text_error(response: t.Any, text: str, headers: t.Mapping[str, str]) -> str:
    """The message of a body that is not JSON: an HTML page is named, plain text is its first line."""
    if text.startswith("<"):
        return "%s (non-JSON %s body)" % (response.reason or "error", headers.get("Content-Type", "unknown"))
    return first_line(text)[:300]


def _message_text(value: t.Any) -> str | None:
    if isinstance(value, dict):  # AAD Graph: {"lang": "en", "value": "..."}
        value = value.get("value")
    return None if value is None else str(value)[:1000]


class HttpClient:
    """Requests with retries, timeouts and typed errors, over the process-wide session."""

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        request_timeout: float = 30,
        retry_timeout: float = 120,
        connect_retry_timeout: float = DEFAULT_CONNECT_RETRY_TIMEOUT,
        max_retry_wait: float = 60,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        session: t.Any = None,
        sleep: t.Callable[[float], None] = time.sleep,
        clock: t.Callable[[], float] = time.monotonic,
        wall_clock: t.Callable[[], float] = time.time,
        rand: t.Callable[[], float] = random.random,
        on_retry: t.Callable[[str], None] | None = None,
    ) -> None:
        if ca_bundle and not os.path.exists(ca_bundle):
            raise ConfigurationError("ca_bundle %s does not exist." % ca_bundle, option="ca_bundle")
        self.ca_bundle = ca_bundle
        self.request_timeout = request_timeout
        self.retry_timeout = retry_timeout
        self.connect_retry_timeout = connect_retry_timeout
        self.max_retry_wait = max_retry_wait
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.session = session if session is not None else get_session(ca_bundle, request_timeout)
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.rand = rand
        self.on_retry = on_retry
        self.request_count = 0

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the ``attempt``-th failure (1-based)."""
        return self.rand() * min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))

    def request(
        self,
        method: str,
        url: str,
        *,
        service: str,
        headers: t.Mapping[str, str] | None = None,
        params: t.Any = None,
        json_body: t.Any = None,
        data: t.Any = None,
        idempotent: bool | None = None,
        raise_for_status: bool = True,
    ) -> t.Any:
        """Send one logical request (with its retries) and return the ``requests.Response``.

        ``idempotent`` defaults to the method's nature (POST is not); pass True for a POST that is
        safe to repeat. With ``raise_for_status`` an error status raises :class:`ServiceError`.

        Longer than a screen on purpose: it is the one retry loop of the collection, and both ways to
        retry (a send that failed, an answer to wait for) share its attempt count and its two
        deadlines (``retry_timeout``, and ``connect_retry_timeout`` from the first failure to
        connect); they are easier to check together than handed between functions.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        send_headers = {"User-Agent": user_agent(), "return-client-request-id": "true"}
        send_headers.update(headers or {})
        client_request_id = next(
            (v for k, v in send_headers.items() if k.lower() == "client-request-id" and v), None
        ) or str(uuid.uuid4())
        send_headers = {k: v for k, v in send_headers.items() if k.lower() != "client-request-id"}
        send_headers["client-request-id"] = client_request_id
        deadline = self.clock() + self.retry_timeout
        connect_deadline: float | None = None  # set at the first failure to connect, cleared by any answer
        attempt = 0
        while True:
            attempt += 1
            try:
                self.request_count += 1
                response = self.session.request(
                    method,
                    url,
                    headers=send_headers,
                    params=params,
                    json=json_body,
                    data=data,
                    timeout=self.request_timeout,
                )
            except Exception as exc:  # noqa: BLE001 - classified below, re-raised typed
                error, retry = self._classify_exception(
                    exc, method, url, service, idempotent, attempt, client_request_id
                )
                if not retry:
                    raise error from None
                limit = deadline
                if _never_sent(exc):  # unreachable: refused, DNS, connect timeout
                    if connect_deadline is None:
                        connect_deadline = self.clock() + self.connect_retry_timeout
                    limit = min(deadline, connect_deadline)
                wait = self.backoff(attempt)
                if not self._may_wait(wait, limit):
                    if limit != deadline:
                        error.hint = _join_text(error.hint, "connect_retry_timeout (%gs) sets how long an endpoint that cannot be "
                                                "reached is retried." % self.connect_retry_timeout)
                    raise error from None
                self._notify("%s %s: %s; retrying in %.1fs" % (method, redact_url(url), error.reason, wait))
                self.sleep(wait)
                continue
            connect_deadline = None
            status = response.status_code
            if status < 400:
                return response
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=self.wall_clock(), date_header=response.headers.get("Date")
            )
            retryable = status in THROTTLE_STATUSES or (status in RETRYABLE_SERVER_STATUSES and idempotent)
            if retryable:
                wait = min(retry_after, self.max_retry_wait) if retry_after is not None else self.backoff(attempt)
                if self._may_wait(wait, deadline):
                    response.close()
                    self._notify(
                        "%s %s: HTTP %s; retrying in %.1fs (attempt %d)"
                        % (method, redact_url(url), status, wait, attempt)
                    )
                    self.sleep(wait)
                    continue
            if not raise_for_status:
                return response
            raise parse_error(
                response,
                service=service,
                method=method,
                url=url,
                client_request_id=client_request_id,
                attempts=attempt,
                retry_after=retry_after,
            )

    def _may_wait(self, wait: float, deadline: float) -> bool:
        return self.clock() + wait <= deadline

    def _notify(self, message: str) -> None:
        if self.on_retry is not None:
            self.on_retry(message)

    def _classify_exception(
        self,
        exc: Exception,
        method: str,
        url: str,
        service: str,
        idempotent: bool,
        attempt: int,
        client_request_id: str,
    ) -> tuple[TransportError, bool]:
        """The typed error for a failed send, and whether it may be retried."""

        def error(reason: str, tls: bool = False) -> TransportError:
            return TransportError(
                service=service,
                method=method,
                url=url,
                reason=reason,
                tls=tls,
                attempts=attempt,
                client_request_id=client_request_id,
            )

        if not HAS_REQUESTS:  # pragma: no cover - guarded by the module
            raise exc
        if isinstance(exc, SSLError):
            return error(_reason(exc), tls=True), False
        if isinstance(exc, OSError) and "CA certificate bundle" in str(exc):
            # requests raises OSError for a missing bundle path (e.g. a stale REQUESTS_CA_BUNDLE).
            return error(str(exc), tls=True), False
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, ChunkedEncodingError)):
            never_sent = _never_sent(exc)
            return error(_reason(exc)), never_sent or idempotent
        if isinstance(exc, requests.RequestException):
            return error(_reason(exc)), False
        raise exc


def _join_text(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _never_sent(exc: BaseException) -> bool:
    """True when the request provably did not reach the server (DNS, refused, connect timeout)."""
    if isinstance(exc, ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[t.Any] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        # urllib3: NewConnectionError and NameResolutionError derive from ConnectTimeoutError.
        if isinstance(item, ConnectTimeoutError):
            return True
        stack.extend(getattr(item, "args", ()) or ())
        stack.append(getattr(item, "reason", None))
        stack.append(item.__cause__ if isinstance(item, BaseException) else None)
        stack.append(item.__context__ if isinstance(item, BaseException) else None)
    return False


def _reason(exc: BaseException) -> str:
    """A short human reason from a requests/urllib3 exception chain (innermost meaningful text)."""
    inner: t.Any = exc
    for _depth in range(5):
        args = getattr(inner, "args", ())
        nxt = getattr(inner, "reason", None) or (args[0] if args and isinstance(args[0], BaseException) else None)
        if nxt is None or nxt is inner:
            break
        inner = nxt
    text = str(inner) or type(inner).__name__
    # urllib3 prefixes messages with the connection object's repr: keep the useful tail.
    if ">: " in text:
        text = text.split(">: ", 1)[1]
    return first_line(text)[:300]


class MsalHttpClient:
    """The ``http_client`` handed to msal: the shared session, with our retries and headers.

    msal accepts any object with ``get``/``post`` returning requests-like responses
    (https://learn.microsoft.com/python/api/msal/msal.application.confidentialclientapplication,
    parameter ``http_client``); its own ``verify``/``timeout`` are ignored when one is given, which
    is why the session must carry the CA bundle itself (see :class:`VerifyingSession`). Token
    requests for app-only credentials have no side effects, so they are retried like idempotent
    requests. Errors statuses are returned to msal, which turns them into error dicts.
    """

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def post(self, url: str, params: t.Any = None, data: t.Any = None, headers: t.Any = None, **kwargs: t.Any) -> t.Any:
        return self.http.request(
            "POST",
            url,
            service="identity",
            params=params,
            data=data,
            headers=headers,
            idempotent=True,
            raise_for_status=False,
        )

    def get(self, url: str, params: t.Any = None, headers: t.Any = None, **kwargs: t.Any) -> t.Any:
        return self.http.request("GET", url, service="identity", params=params, headers=headers, raise_for_status=False)

    def close(self) -> None:
        """The session is shared for the life of the process: nothing to close."""
