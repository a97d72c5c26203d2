"""The ASGI application: routes each listening port to one service of one emulated cloud,
injects faults, and keeps the request log.

Each (cloud, service) pair has its own base URL (its own port on 127.0.0.1), like the real
services have their own hosts, so clients address the emulator exactly as they address a
cloud: an authority host, a Graph endpoint and a Partner Center endpoint per cloud.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from .clouds import CLOUDS, EmulatedCloud
from .faults import Fault, FaultInjector
from .store import Store
from .tokens import ACCESS_TOKEN_LIFETIME

# Keys whose values are secrets wherever they appear in a logged body (form or JSON).
SECRET_KEYS = frozenset({"client_secret", "client_assertion", "password", "refresh_token", "access_token",
                         "assertion", "secretText", "secret", "key", "code", "code_verifier"})
# Per service, more keys whose values are secrets: Key Vault's secret value (Set Secret's `value`).
SERVICE_SECRET_KEYS = {"key_vault": SECRET_KEYS | {"value"}}
REDACTED = "**REDACTED**"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def redact(value: Any, keys: frozenset[str] = SECRET_KEYS) -> Any:
    """A copy of a parsed body with every secret value (of `keys`) replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if k in keys and v is not None else redact(v, keys)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item, keys) for item in value]
    return value


class EmulatedError(Exception):
    """An error answer of an emulated service; each service renders it in its own shape."""

    def __init__(self, status: int, code: str, message: str, *, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, aadsts: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self.aadsts = aadsts


@dataclass
class Answer:
    """What a handler answers: a status, a JSON body (or None) and headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    raw: bytes | None = None


@dataclass
class Call:
    """One request as the services see it."""

    emulator: "Emulator"
    cloud: EmulatedCloud
    service: str
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    base_url: str
    request_id: str
    log: dict[str, Any]

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (the last value wins for repeated names)."""
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))

    def json(self) -> Any:
        """The JSON body; raises EmulatedError 400 for a body that is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EmulatedError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                                "header is set and payload is of valid JSON format.") from exc

    def form(self) -> dict[str, str]:
        """The form-encoded body (token requests)."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def identify(self, tenant_id: str | None, client_id: str | None) -> None:
        """Record who is calling, for the request log and the per-client rate limit."""
        if tenant_id:
            self.log["tenant_id"] = tenant_id
        if client_id:
            self.log["client_id"] = client_id


class RequestLog:
    """Every request the emulator answered, in order, with secrets redacted."""

    def __init__(self, limit: int = 500_000) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._seq = 0
        self._limit = limit

    def add(self, entry: dict[str, Any]) -> None:
        """Append one finished entry."""
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                del self._entries[: len(self._entries) - self._limit]

    def entries(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        """Entries matching every given field (`since` filters on seq)."""
        since = int(filters.pop("since", "0") or 0)
        with self._lock:
            selected = [e for e in self._entries if e["seq"] > since]
        return [e for e in selected if all(str(e.get(k)) == v for k, v in filters.items())]

    def clear(self) -> None:
        """Forget every entry (sequence numbers keep growing)."""
        with self._lock:
            self._entries.clear()


Handler = Callable[[Call], Answer]


class Service:
    """Base of the emulated services: dispatch and error rendering."""

    name = ""

    def handle(self, call: Call) -> Answer:
        """Answer one request."""
        raise NotImplementedError

    def render_error(self, call: Call, error: EmulatedError) -> Answer:
        """The service's error body for an EmulatedError."""
        raise NotImplementedError

    def fault_answer(self, call: Call, fault: Fault) -> Answer:
        """The answer a throttled or failing request gets from this service."""
        if fault.kind in ("throttle", "rate_limit"):
            error = EmulatedError(429, "TooManyRequests", "Too many requests. Please try again later.",
                                  headers={"Retry-After": str(fault.retry_after)})
        else:
            error = EmulatedError(fault.status, "ServiceUnavailable" if fault.status == 503 else "InternalServerError",
                                  "The service is temporarily unavailable. Please try again later."
                                  if fault.status == 503 else "An internal server error occurred.",
                                  headers={"Retry-After": str(fault.retry_after)} if fault.retry_after else {})
        return self.render_error(call, error)

    def guarded(self, call: Call, tenant_id: str, client_id: str, process: Callable[[], Answer]) -> Answer:
        """Run `process` for an identified caller, unless a fault is injected instead."""
        emulator = call.emulator
        fault = emulator.faults.before_request(self.name, tenant_id, client_id, call.method, call.path, time.time(),
                                               call.raw_query)
        if fault is None:
            return process()
        if call.log.get("batch") and fault.kind.startswith("drop"):
            return process()  # a request inside a $batch has no connection of its own to lose
        call.log["fault"] = fault.kind
        if fault.kind == "drop_before":
            return Answer(0, drop=True)
        if fault.kind == "drop_after":
            process()
            return Answer(0, drop=True)
        return self.fault_answer(call, fault)


class Emulator:
    """State, faults, log and the per-port routing of one emulator instance."""

    def __init__(self, store: Store, *, pc_auto_register_after: float | None = None, pc_utf8_bom: bool = True,
                 access_token_lifetime: int = ACCESS_TOKEN_LIFETIME) -> None:
        # Imported here: the service modules import this one for Call/Answer.
        from .control import ControlService
        from .graph import GraphService
        from .identity import IdentityService
        from .key_vault import KeyVaultService
        from .partner_center import PartnerCenterService

        self.store = store
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.pc_auto_register_after = pc_auto_register_after
        self.pc_utf8_bom = pc_utf8_bom
        self.access_token_lifetime = access_token_lifetime
        self._started_with = (pc_auto_register_after, pc_utf8_bom, access_token_lifetime)
        self.services: dict[str, Service] = {
            "identity": IdentityService(), "graph": GraphService(), "partner_center": PartnerCenterService(),
            "key_vault": KeyVaultService(), "control": ControlService(),
        }
        self.ports: dict[int, tuple[str, str]] = {}
        self.endpoints: dict[str, dict[str, str]] = {}
        self.control_url = ""
        self.ca_bundle = ""

    def restore_settings(self) -> None:
        """Partner Center and identity settings as the command line set them."""
        self.pc_auto_register_after, self.pc_utf8_bom, self.access_token_lifetime = self._started_with

    def bind(self, port: int, cloud: str, service: str) -> None:
        """Route a listening port to one service of one cloud ('-' for the control API)."""
        self.ports[port] = (cloud, service)
        base = f"https://127.0.0.1:{port}"
        if service == "control":
            self.control_url = f"{base}/_emulator"
        else:
            self.endpoints.setdefault(cloud, {})[service] = base

    def endpoint(self, cloud: str, service: str) -> str:
        """Base URL of a service of a cloud."""
        return self.endpoints[cloud][service]

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        answer, entry = self.answer(scope, dict(request.headers), body)
        delay = 0.0
        if entry["service"] != "control":
            delay = self.faults.response_delay(entry["service"], entry["method"], entry["path"], entry["query"])
        # Serialised now: an answer body may share nested values with the store (public_view), and a
        # held answer must show the state at processing time, not what changed while it was held.
        content = answer.raw if answer.raw is not None else (b"" if answer.body is None else json.dumps(answer.body).encode())
        if delay:
            # Processed: visible in the log now, while the client waits for the held answer.
            entry["fault"] = entry["fault"] or "delay"
            self.log.add(entry)
            await asyncio.sleep(delay)
        if answer.drop:
            _drop_connection(send)
        else:
            headers = dict(answer.headers)
            if answer.body is not None and answer.raw is None:
                headers.setdefault("Content-Type", "application/json")
            response = Response(content=content, status_code=answer.status, headers=headers)
            await response(scope, receive, send)
        if entry["service"] != "control" and not delay:
            self.log.add(entry)

    def answer(self, scope: dict[str, Any], headers: dict[str, str], body: bytes) -> tuple[Answer, dict[str, Any]]:
        """Run one request through its service; returns the answer and its log entry."""
        port = scope["server"][1]
        cloud_name, service_name = self.ports[port]
        call = self.new_call(cloud_name, service_name, scope["method"], scope["path"],
                             scope.get("query_string", b"").decode("latin-1"), headers, body, f"https://127.0.0.1:{port}")
        return self.run(call, self.services[service_name]), call.log

    def new_call(self, cloud_name: str, service_name: str, method: str, path: str, raw_query: str,
                 headers: dict[str, str], body: bytes, base_url: str, batch: str | None = None) -> Call:
        """A request and its log entry (`batch`: the request id of the $batch that carried it)."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(time.time(), timezone.utc).isoformat(timespec="milliseconds"),
            "cloud": None if service_name == "control" else cloud_name, "service": service_name,
            "method": method, "path": path, "query": raw_query, "status": None, "tenant_id": None,
            "client_id": None, "body": None, "request_id": str(uuid.uuid4()),
            "client_request_id": headers.get("client-request-id") or headers.get("ms-correlationid"),
            "user_agent": headers.get("user-agent"), "fault": None, "batch": batch, "_started": time.time(),
        }
        if method in WRITE_METHODS and body:
            entry["body"] = _logged_body(headers, body, SERVICE_SECRET_KEYS.get(service_name, SECRET_KEYS))
        return Call(self, CLOUDS.get(cloud_name, CLOUDS["public"]), service_name, method, path, raw_query,
                    headers, body, base_url, entry["request_id"], entry)

    @staticmethod
    def run(call: Call, service: "Service") -> Answer:
        """The service's answer to a call, errors rendered in its shape; completes the log entry."""
        try:
            answer = service.handle(call)
        except EmulatedError as error:
            answer = service.render_error(call, error)
        entry = call.log
        entry["status"] = None if answer.drop else answer.status
        entry["duration_ms"] = round((time.time() - entry.pop("_started")) * 1000, 3)
        return answer


def _logged_body(headers: dict[str, str], body: bytes, keys: frozenset[str] = SECRET_KEYS) -> Any:
    """The parsed body of a write request with secrets redacted (responses are never logged)."""
    content_type = headers.get("content-type", "")
    try:
        if "application/x-www-form-urlencoded" in content_type:
            return redact(dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)), keys)
        return redact(json.loads(body), keys)
    except (ValueError, UnicodeDecodeError):
        return "(unparsable body)"


def _drop_connection(send: Callable[..., Any]) -> None:
    """Close the client's connection without any response, as a network drop does.

    ASGI has no message for this, so reach the transport of uvicorn's request cycle
    (`send` is its bound method); the emulator pins uvicorn for that reason.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("dropped-connection faults need uvicorn's h11 or httptools protocol")
    transport.abort()
    cycle.disconnected = True
