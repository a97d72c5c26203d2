# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Microsoft Graph client: URLs and OData escaping, paging, typed errors, consistency waits.

Entra ID is eventually consistent: right after a write, reads may answer 404 and dependent writes
may fail (``NoBackingApplicationObject``). :meth:`GraphClient.wait_for` and
:meth:`GraphClient.retry_dependent_write` retry those with a bounded budget
(``consistency_timeout``). Callers trust write responses and never re-read to decide ``changed``
(https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
"""

from __future__ import annotations

import json
import typing as t
from urllib.parse import quote, urlsplit

from ._errors import ConfigurationError, ConsistencyTimeout, ServiceError
from ._http import RETRYABLE_SERVER_STATUSES, THROTTLE_STATUSES, HttpClient, decode_json, parse_error, parse_retry_after

T = t.TypeVar("T")

# Least-privileged Microsoft Graph application permissions per operation, named in 403 messages.
# Sources: the "Permissions" table of each operation's page under https://learn.microsoft.com/graph/api/
# Please keep alphabetical.
GRAPH_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "add_password": ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
    "create_app_role_assignment": ("AppRoleAssignment.ReadWrite.All",),
    "create_application": ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
    "create_oauth2_permission_grant": ("DelegatedPermissionGrant.ReadWrite.All",),
    "create_service_principal": ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
    "delete_app_role_assignment": ("AppRoleAssignment.ReadWrite.All",),
    "delete_application": ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
    "delete_oauth2_permission_grant": ("DelegatedPermissionGrant.ReadWrite.All",),
    "read_app_management_policy": ("Policy.Read.All",),
    "read_app_role_assignments": ("Application.Read.All",),
    "read_application": ("Application.Read.All",),
    "read_oauth2_permission_grants": ("DelegatedPermissionGrant.Read.All", "Directory.Read.All"),
    "read_organization": ("Organization.Read.All",),
    "read_service_principal": ("Application.Read.All",),
    "remove_password": ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
    "update_application": ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
    "update_oauth2_permission_grant": ("DelegatedPermissionGrant.ReadWrite.All",),
    "update_service_principal": ("Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"),
}

# Characters left as-is when OData text goes into a URL: quotes delimit string literals.
_QUERY_SAFE = "$',():"


def odata_string(value: t.Any) -> str:
    """An OData string literal: ``O'Brien`` -> ``'O''Brien'`` (for $filter and key segments)."""
    return "'" + str(value).replace("'", "''") + "'"


def key_segment(entity_set: str, key: str, value: t.Any) -> str:
    """An alternate-key path segment, percent-encoded: ``applications(uniqueName='a%20b')``.

    https://learn.microsoft.com/graph/api/application-upsert ; the literal is escaped first, then
    everything except the quotes is percent-encoded (``#``, ``&``, ``+``, ``/``, ``?``, unicode).
    """
    return "%s(%s=%s)" % (entity_set, key, quote(odata_string(value), safe="'"))


def encode_query(params: t.Mapping[str, t.Any]) -> str:
    """Query string with ``%20`` for spaces (never ``+``) and OData punctuation kept readable."""
    pairs = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append("%s=%s" % (quote(str(name), safe="$"), quote(str(value), safe=_QUERY_SAFE)))
    return "&".join(pairs)


MAX_BATCH = 20  # requests per $batch round trip: https://learn.microsoft.com/graph/json-batching


class BatchItem(t.NamedTuple):
    """One request of a :meth:`GraphClient.batch`: a path below ``/v1.0`` and its query."""

    method: str
    path: str
    params: t.Mapping[str, t.Any] | None = None
    body: t.Any = None
    operation: str | None = None


def body_or_none(result: GraphResponse | ServiceError) -> t.Any:
    """The body of a batched read; None when the object does not exist; any other error is raised."""
    if isinstance(result, ServiceError):
        if result.is_not_found:
            return None
        raise result
    return result.body


def _batch_entry(index: int, item: BatchItem) -> dict[str, t.Any]:
    """One request of a ``$batch`` body; its id is the item's position."""
    query = encode_query(item.params or {})
    entry: dict[str, t.Any] = {"id": str(index), "method": item.method, "url": "/" + item.path.lstrip("/") + ("?" + query if query else "")}
    if item.body is not None:
        entry.update(body=item.body, headers={"Content-Type": "application/json"})
    return entry


class _ItemResponse:
    """A batched request's answer, shaped like a requests.Response for :func:`parse_error`."""

    def __init__(self, answer: t.Mapping[str, t.Any]) -> None:
        self.status_code = int(answer.get("status") or 0)
        self.headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        body = answer.get("body")
        self.content = b"" if body is None else (body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode())
        self.reason = "HTTP %s" % self.status_code
        self.request = None


class GraphResponse(t.NamedTuple):
    """Status, parsed JSON body (None when empty) and headers of a Graph response."""

    status: int
    body: t.Any
    headers: t.Mapping[str, str]


def is_not_yet_visible(exc: ServiceError) -> bool:
    """A read of an object written moments ago that has not replicated yet."""
    return exc.is_not_found


def is_dependent_write_lag(exc: ServiceError) -> bool:
    """A dependent write that failed only because its dependency has not replicated yet.

    Shapes: 400 with detail ``NoBackingApplicationObject`` ("The appId ... does not reference a valid
    application object"), 404 ``Request_ResourceNotFound`` on a fresh object, and "the backing
    application of the service principal being created must in the local tenant" (retried by Azure CLI).
    """
    if exc.is_not_found or exc.has_code("NoBackingApplicationObject"):
        return True
    text = (exc.service_message or "").lower()
    return exc.status == 400 and (
        "does not reference a valid application object" in text or "backing application" in text
    )


class GraphClient:
    """Microsoft Graph requests for one cloud (or its transport override)."""

    def __init__(
        self,
        http: HttpClient,
        token_provider: t.Callable[[str], str],
        *,
        base_url: str,
        resource: str,
        api_version: str = "v1.0",
        consistency_timeout: float = 120,
        consistency_max_wait: float = 8.0,
    ) -> None:
        self.http = http
        self.token_provider = token_provider
        self.base_url = base_url.rstrip("/")
        self.resource = resource
        self.api_version = api_version
        self.consistency_timeout = consistency_timeout
        self.consistency_max_wait = consistency_max_wait
        origin = urlsplit(self.base_url)
        self._origin = (origin.scheme, origin.netloc.lower())

    # URLs -------------------------------------------------------------------------------------

    def url(self, path: str, params: t.Mapping[str, t.Any] | None = None) -> str:
        """Absolute URL for a path below ``/v1.0`` (or a full URL of the same origin)."""
        if "://" in path:
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc.lower()) != self._origin:
                raise ConfigurationError(
                    "Refusing to send a Graph token to %s://%s (expected %s://%s)."
                    % (parts.scheme, parts.netloc, *self._origin)
                )
            url = path
        else:
            url = "%s/%s/%s" % (self.base_url, self.api_version, path.lstrip("/"))
        query = encode_query(params or {})
        if query:
            url += ("&" if "?" in url else "?") + query
        return url

    # Requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: t.Mapping[str, t.Any] | None = None,
        body: t.Any = None,
        headers: t.Mapping[str, str] | None = None,
        operation: str | None = None,
        idempotent: bool | None = None,
    ) -> GraphResponse:
        """One request; a failure raises :class:`ServiceError` naming the operation's permissions."""
        url = self.url(path, params)
        send = {"Accept": "application/json"}
        send.update(headers or {})
        for attempt in (1, 2):
            send["Authorization"] = "Bearer " + self.token_provider(self.resource)
            try:
                response = self.http.request(
                    method, url, service="graph", headers=send, json_body=body, idempotent=idempotent
                )
                break
            except ServiceError as exc:
                # A cached token refused before its expiry (revoked, keys rolled): one retry with a new token.
                invalidate = getattr(self.token_provider, "invalidate", None)
                if attempt == 1 and exc.status == 401 and exc.has_code("InvalidAuthenticationToken") and invalidate:
                    invalidate(self.resource)
                    continue
                if operation:
                    exc.operation = operation
                    exc.required_permissions = GRAPH_PERMISSIONS.get(operation, ())
                raise
        data = decode_json(response) if response.content else None
        return GraphResponse(response.status_code, data, response.headers)

    def batch(self, items: t.Sequence[BatchItem]) -> list[GraphResponse | ServiceError]:
        """Send independent requests in as few round trips as JSON batching allows (20 each).

        Returns, in order, each request's GraphResponse or its typed error (never raised, so one
        missing object does not hide the others). Requests Graph throttled inside the batch (429,
        503), and GETs that met a transient 5xx, are resent together after the longest
        ``Retry-After`` (or a backoff), within the retry budget; paging is the caller's.
        """
        results: list[GraphResponse | ServiceError | None] = [None] * len(items)
        pending = list(range(len(items)))
        deadline = self.http.clock() + self.http.retry_timeout
        attempt = 0
        while pending:
            attempt += 1
            again: list[int] = []
            waits: list[float] = []
            for start in range(0, len(pending), MAX_BATCH):
                chunk = pending[start:start + MAX_BATCH]
                requests = [_batch_entry(index, items[index]) for index in chunk]
                idempotent = all(items[index].method == "GET" for index in chunk)
                answers = self.request("POST", "$batch", body={"requests": requests}, idempotent=idempotent).body or {}
                by_id = {str(answer.get("id")): answer for answer in answers.get("responses") or []}
                for index in chunk:
                    item, answer = items[index], by_id.get(str(index), {"status": 502})
                    result = self._batch_result(item, answer, attempt)
                    results[index] = result
                    if isinstance(result, ServiceError) and (
                        result.status in THROTTLE_STATUSES or (result.status in RETRYABLE_SERVER_STATUSES and item.method == "GET")
                    ):
                        again.append(index)
                        if result.retry_after is not None:
                            waits.append(min(result.retry_after, self.http.max_retry_wait))
            wait = max(waits) if waits else self.http.backoff(attempt)
            if not again or self.http.clock() + wait > deadline:
                break
            self.http.sleep(wait)
            pending = again
        return t.cast("list[GraphResponse | ServiceError]", results)

    def _batch_result(self, item: BatchItem, answer: t.Mapping[str, t.Any], attempt: int) -> GraphResponse | ServiceError:
        status = int(answer.get("status") or 0)
        if 200 <= status < 400:
            return GraphResponse(status, answer.get("body"), answer.get("headers") or {})
        response = _ItemResponse(answer)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self.http.wall_clock())
        error = parse_error(response, service="graph", method=item.method, url=self.url(item.path, item.params),
                            attempts=attempt, retry_after=retry_after)
        if item.operation:
            error.operation = item.operation
            error.required_permissions = GRAPH_PERMISSIONS.get(item.operation, ())
        return error

    def get(
        self,
        path: str,
        *,
        params: t.Mapping[str, t.Any] | None = None,
        select: t.Sequence[str] | None = None,
        operation: str | None = None,
        headers: t.Mapping[str, str] | None = None,
    ) -> t.Any:
        """GET one resource and return its JSON."""
        query = dict(params or {})
        if select:
            query["$select"] = ",".join(select)
        return self.request("GET", path, params=query, operation=operation, headers=headers).body

    def list(
        self,
        path: str,
        *,
        filter: str | None = None,  # noqa: A002 - the OData name
        select: t.Sequence[str] | None = None,
        top: int | None = None,
        params: t.Mapping[str, t.Any] | None = None,
        operation: str | None = None,
        headers: t.Mapping[str, str] | None = None,
        max_pages: int = 10000,
    ) -> list[t.Any]:
        """GET a collection, following ``@odata.nextLink`` (a full URL) to the end.

        Request headers (e.g. ``ConsistencyLevel``) are repeated on every page, as Graph does not
        carry them over (https://learn.microsoft.com/graph/paging).
        """
        query = dict(params or {})
        if filter is not None:
            query["$filter"] = filter
        if select:
            query["$select"] = ",".join(select)
        if top is not None:
            query["$top"] = top
        page = self.request("GET", path, params=query, operation=operation, headers=headers).body or {}
        return self.all_pages(page, operation=operation, headers=headers, max_pages=max_pages)

    def all_pages(
        self,
        page: t.Mapping[str, t.Any],
        *,
        operation: str | None = None,
        headers: t.Mapping[str, str] | None = None,
        max_pages: int = 10000,
    ) -> list[t.Any]:
        """The items of a collection page and of every page its ``@odata.nextLink`` leads to."""
        items: list[t.Any] = []
        for dummy in range(max_pages):
            items.extend(page.get("value") or [])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return items
            page = self.request("GET", next_link, operation=operation, headers=headers).body or {}
        raise ConfigurationError("Graph paging did not end after %d pages." % max_pages)

    def post(
        self,
        path: str,
        body: t.Any = None,
        *,
        operation: str | None = None,
        idempotent: bool = False,
        headers: t.Mapping[str, str] | None = None,
    ) -> GraphResponse:
        """POST (not retried on 5xx/connection loss unless ``idempotent``)."""
        return self.request("POST", path, body=body, operation=operation, idempotent=idempotent, headers=headers)

    def patch(
        self, path: str, body: t.Any, *, operation: str | None = None, headers: t.Mapping[str, str] | None = None
    ) -> GraphResponse:
        """PATCH (204 for an update, 201 + object when an upsert created it)."""
        return self.request("PATCH", path, body=body, operation=operation, headers=headers)

    def delete(self, path: str, *, operation: str | None = None) -> GraphResponse:
        """DELETE (204)."""
        return self.request("DELETE", path, operation=operation)

    # Consistency ------------------------------------------------------------------------------

    def _waits(self, timeout: float | None = None) -> t.Iterator[float]:
        """Equal-jitter exponential waits (0.5 s doubling up to ``consistency_max_wait``) within the budget:
        ``consistency_timeout``, or ``timeout`` when that is shorter."""
        budget = float(self.consistency_timeout) if timeout is None else min(float(timeout), float(self.consistency_timeout))
        deadline = self.http.clock() + budget
        delay = 0.5
        while True:
            remaining = deadline - self.http.clock()
            if remaining <= 0:
                return
            wait = min(remaining, delay / 2 + self.http.rand() * delay / 2)
            yield wait
            delay = min(self.consistency_max_wait, delay * 2)

    def wait_for(
        self, read: t.Callable[[], T], predicate: t.Callable[[T], bool] | None = None, *, what: str, timeout: float | None = None
    ) -> T:
        """Call ``read`` until it succeeds (404 = not replicated yet) and ``predicate`` holds, within
        ``consistency_timeout`` (or ``timeout`` when shorter)."""
        start = self.http.clock()
        last_error: ServiceError | None = None
        waits = self._waits(timeout)
        while True:
            try:
                value = read()
            except ServiceError as exc:
                if not is_not_yet_visible(exc):
                    raise
                last_error = exc
            else:
                if predicate is None or predicate(value):
                    return value
                last_error = None
            wait = next(waits, None)
            if wait is None:
                raise ConsistencyTimeout(what, waited=self.http.clock() - start, last_error=last_error)
            self.http.sleep(wait)

    def retry_dependent_write(self, call: t.Callable[[], T], *, what: str) -> T:
        """Call a write that depends on a just-written object, retrying replication-lag failures."""
        start = self.http.clock()
        waits = self._waits()
        while True:
            try:
                return call()
            except ServiceError as exc:
                if not is_dependent_write_lag(exc):
                    raise
                wait = next(waits, None)
                if wait is None:
                    raise ConsistencyTimeout(what, waited=self.http.clock() - start, last_error=exc) from None
                self.http.sleep(wait)
