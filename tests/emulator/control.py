"""The emulator's control API (`/_emulator/...`): request log, reset, tenants, faults, the
Partner Center portal step, app-management policies, and a state dump. Plain JSON over the
same HTTPS and CA as the emulated services; not part of any Microsoft service.
"""
from __future__ import annotations

import re
from typing import Any

from .app import Answer, Call, EmulatedError, Service
from .clouds import CLOUDS
from .faults import Fault, FaultSettings
from .graph import apply_policy
from .partner_center import register
from .store import iso, parse_iso, public_view

PREFIX = "/_emulator"


class ControlService(Service):
    """Routes under `control_url`."""

    name = "control"

    def render_error(self, call: Call, error: EmulatedError) -> Answer:
        return Answer(error.status, {"error": error.message})

    def fault_answer(self, call: Call, fault: Fault) -> Answer:  # pragma: no cover - never faulted
        raise AssertionError("the control API is never faulted")

    def handle(self, call: Call) -> Answer:
        if not call.path.startswith(PREFIX):
            raise EmulatedError(404, "NotFound", f"control paths start with {PREFIX}/")
        path = call.path[len(PREFIX):].rstrip("/") or "/"
        emulator = call.emulator
        store = emulator.store
        method = call.method
        with store.lock:
            if (method, path) == ("GET", "/health"):
                return Answer(200, {"status": "ok"})
            if (method, path) == ("GET", "/info"):
                return Answer(200, emulator_info(emulator))
            if (method, path) == ("GET", "/requests"):
                return Answer(200, emulator.log.entries(call.query))
            if (method, path) == ("DELETE", "/requests"):
                emulator.log.clear()
                return Answer(204)
            if (method, path) == ("POST", "/reset"):
                store.seed_initial()
                emulator.faults.configure(FaultSettings())
                emulator.restore_settings()
                emulator.log.clear()
                return Answer(200, emulator_info(emulator))
            if (method, path) == ("GET", "/tenants"):
                return Answer(200, [tenant_info(emulator, t) for t in store.tenants.values()])
            if (method, path) == ("POST", "/tenants"):
                return Answer(201, self._add_tenants(call))
            if (method, path) == ("GET", "/faults"):
                return Answer(200, emulator.faults.settings.to_json())
            if (method, path) == ("PUT", "/faults"):
                return Answer(200, self._set_faults(call))
            if path == "/partner-center/registrations":
                return self._registrations(call)
            if (method, path) == ("PUT", "/partner-center/settings"):
                return Answer(200, self._pc_settings(call))
            if (method, path) == ("PUT", "/identity/settings"):
                return Answer(200, self._identity_settings(call))
            if (method, path) == ("GET", "/state"):
                return Answer(200, self._state(call))
            match = re.match(r"^/tenants/([^/]+)/app-management-policy$", path)
            if match and method == "PUT":
                tenant = self._tenant(call, match.group(1))
                apply_policy(tenant, call.json())
                store.dirty = True
                return Answer(200, tenant.policy)
            match = re.match(r"^/tenants/([^/]+)/password-credentials/([^/]+)$", path)
            if match and method == "PATCH":
                return Answer(200, self._set_credential_dates(call, match.group(1), match.group(2)))
        raise EmulatedError(404, "NotFound", f"no control endpoint {method} {call.path}")

    @staticmethod
    def _body(call: Call) -> dict[str, Any]:
        body = call.json()
        if not isinstance(body, dict):
            raise EmulatedError(400, "BadRequest", "a JSON object is required")
        return body

    def _tenant(self, call: Call, ref: str) -> Any:
        tenant = call.emulator.store.tenant(ref)
        if tenant is None:
            raise EmulatedError(404, "NotFound", f"no tenant {ref}")
        return tenant

    def _add_tenants(self, call: Call) -> list[dict[str, Any]]:
        body = self._body(call)
        store = call.emulator.store
        cloud = body.get("cloud", "public")
        count = body.get("count", 1)
        if cloud not in store.clouds:
            raise EmulatedError(400, "BadRequest", f"cloud {cloud!r} is not emulated here; emulated: {', '.join(store.clouds)}")
        if not isinstance(count, int) or not 1 <= count <= 1000:
            raise EmulatedError(400, "BadRequest", "count must be an integer between 1 and 1000")
        try:
            return [tenant_info(call.emulator, store.add_tenant(cloud, body.get("domain_prefix"))) for dummy in range(count)]
        except ValueError as exc:
            raise EmulatedError(400, "BadRequest", str(exc)) from exc

    @staticmethod
    def _set_faults(call: Call) -> dict[str, Any]:
        body = call.json()
        if not isinstance(body, dict):
            raise EmulatedError(400, "BadRequest", "a JSON object of fault settings is required")
        try:
            settings = FaultSettings.from_json(body)
        except (TypeError, ValueError) as exc:
            raise EmulatedError(400, "BadRequest", str(exc)) from exc
        call.emulator.faults.configure(settings)
        return settings.to_json()

    def _registrations(self, call: Call) -> Answer:
        """The portal's "Register existing app" step (and its undo)."""
        store = call.emulator.store
        if call.method == "GET":
            return Answer(200, [{"tenant_id": t.id, **r} for t in store.tenants.values() for r in t.pc_registrations.values()])
        body = self._body(call)
        tenant = self._tenant(call, str(body.get("tenant_id", "")))
        app_id = str(body.get("app_id", "")).lower()
        app = tenant.application_by_app_id(app_id)
        if app is None:
            raise EmulatedError(404, "NotFound", f"tenant {tenant.id} has no application with appId {app_id}")
        if call.method == "POST":
            existed = app_id in tenant.pc_registrations
            if not existed:
                register(tenant, app_id, store.now(), "portal")
                store.dirty = True
            return Answer(200 if existed else 201, {"tenant_id": tenant.id, **tenant.pc_registrations[app_id]})
        if call.method == "DELETE":
            tenant.pc_registrations.pop(app_id, None)
            tenant.pc_pending.pop(app_id, None)
            store.dirty = True
            return Answer(204)
        raise EmulatedError(405, "MethodNotAllowed", "use GET, POST or DELETE")

    def _pc_settings(self, call: Call) -> dict[str, Any]:
        body = self._body(call)
        if "auto_register_after" in body:
            delay = body["auto_register_after"]
            if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
                raise EmulatedError(400, "BadRequest", "auto_register_after must be null or a number of seconds >= 0")
            call.emulator.pc_auto_register_after = delay
        if "utf8_bom" in body:
            call.emulator.pc_utf8_bom = bool(body["utf8_bom"])
        return {"auto_register_after": call.emulator.pc_auto_register_after, "utf8_bom": call.emulator.pc_utf8_bom}

    def _identity_settings(self, call: Call) -> dict[str, Any]:
        body = self._body(call)
        lifetime = body.get("access_token_lifetime")
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime < 1:
            raise EmulatedError(400, "BadRequest", "access_token_lifetime must be an integer number of seconds >= 1")
        call.emulator.access_token_lifetime = lifetime
        return {"access_token_lifetime": lifetime}

    def _set_credential_dates(self, call: Call, tenant_ref: str, key_id: str) -> dict[str, Any]:
        """Move a password credential's dates (to plant expired or expiring secrets in tests)."""
        tenant = self._tenant(call, tenant_ref)
        body = self._body(call)
        for app in tenant.applications.values():
            for credential in app["passwordCredentials"]:
                if credential["keyId"] == key_id.lower():
                    for field in ("startDateTime", "endDateTime"):
                        if field in body:
                            try:
                                credential[field] = iso(parse_iso(str(body[field])))
                            except ValueError as exc:
                                raise EmulatedError(400, "BadRequest", f"{field}: {exc}") from exc
                    call.emulator.store.dirty = True
                    return public_view(credential)
        raise EmulatedError(404, "NotFound", f"no password credential {key_id} in tenant {tenant.id}")

    @staticmethod
    def _state(call: Call) -> dict[str, Any]:
        store = call.emulator.store
        return {"tenants": [{
            "tenant_id": t.id, "cloud": t.cloud, "domain": t.domain,
            "applications": public_view(list(t.applications.values())),
            "service_principals": public_view(list(t.service_principals.values())),
            "app_role_assignments": public_view(list(t.app_role_assignments.values())),
            "oauth2_permission_grants": public_view(list(t.grants.values())),
            "app_management_policy": public_view(t.policy),
            "partner_center_registrations": list(t.pc_registrations.values()),
        } for t in store.tenants.values()]}


def tenant_info(emulator: Any, tenant: Any) -> dict[str, Any]:
    """A tenant's summary plus its vault: `key_vault_name` and `key_vault_url`, the base URL clients use as
    `{key_vault_url}/secrets/{name}?api-version=...` (key_vault.py)."""
    name = tenant.key_vault["name"]
    return {**emulator.store.tenant_summary(tenant), "key_vault_name": name,
            "key_vault_url": f"{emulator.endpoint(tenant.cloud, 'key_vault')}/{name}"}


def emulator_info(emulator: Any) -> dict[str, Any]:
    """The document printed at start: CA bundle, URLs and seeded credentials."""
    return {
        "ca_bundle": emulator.ca_bundle, "control_url": emulator.control_url,
        "clouds": {cloud: {"authority_host": urls["identity"], "graph_endpoint": urls["graph"],
                           "partner_center_endpoint": urls["partner_center"], "key_vault_endpoint": urls["key_vault"],
                           "key_vault_resource": CLOUDS[cloud].key_vault_resource,
                           "key_vault_dns_suffix": CLOUDS[cloud].key_vault_dns_suffix}
                   for cloud, urls in emulator.endpoints.items()},
        "tenants": [tenant_info(emulator, t) for t in emulator.store.tenants.values()],
        "seed": emulator.store.seed, "fault_seed": emulator.faults.settings.seed,
    }
