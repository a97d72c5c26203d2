"""Partner Center REST API: token acceptance, a light app-only call and the registry of web
apps registered in each partner tenant.

Partner Center has no API to register a web app: the portal's "Account settings > App
management > Web app > Register existing app" does it. The control API plays that portal
step (`POST /_emulator/partner-center/registrations`), and `--pc-auto-register-after`
plays an operator who does it some seconds after an unregistered app first calls.
`GET /v1/customers` accepts "both standalone App and App+User credentials":
https://github.com/xdmushui/partner-center-sdk/blob/master/develop/get-a-list-of-customers.md
Error body `{"code","description","data","source"}` with `WWW-Authenticate` on 401:
https://learn.microsoft.com/partner-center/developer/error-codes
"""
from __future__ import annotations

import json
import uuid
from typing import Any

import jwt

from .app import Answer, Call, EmulatedError, Service
from .store import Tenant

PARTNER_CENTER_RESOURCE_HOSTS = ("https://api.partnercenter.microsoft.com", "https://partner.partnercenterapi.microsoftonline.cn")
MAX_PAGE_SIZE = 500


def _pc_error(status: int, code: str, description: str) -> EmulatedError:
    headers = {"WWW-Authenticate": "OAuth realm=urn:cpsvc:cpid:emulator"} if status == 401 else {}
    return EmulatedError(status, code, description, headers=headers)


class PartnerCenterService(Service):
    """`https://api.partnercenter.microsoft.com` and 21Vianet's Partner Center."""

    name = "partner_center"

    def handle(self, call: Call) -> Answer:
        claims, tenant = self._authenticate(call)
        call.identify(tenant.id, str(claims.get("appid")))
        return self.guarded(call, tenant.id, str(claims.get("appid")), lambda: self._dispatch(call, claims, tenant))

    def render_error(self, call: Call, error: EmulatedError) -> Answer:
        body = {"code": error.code, "description": error.message, "data": [], "source": "PartnerFD"}
        return self._encode(call, Answer(error.status, body, {**self._headers(call), **error.headers}))

    def _headers(self, call: Call) -> dict[str, str]:
        return {"MS-RequestId": call.headers.get("ms-requestid", call.request_id),
                "MS-CorrelationId": call.headers.get("ms-correlationid", call.request_id)}

    def _encode(self, call: Call, answer: Answer) -> Answer:
        """Partner Center's JSON bodies start with a UTF-8 byte order mark (observed, not
        documented: PartnerCenterPowerShellModule and CIPP strip the first character)."""
        if answer.body is not None and call.emulator.pc_utf8_bom:
            answer.raw = "\ufeff".encode() + json.dumps(answer.body).encode()
            answer.headers["Content-Type"] = "application/json; charset=utf-8"
        return answer

    def _authenticate(self, call: Call) -> tuple[dict[str, Any], Tenant]:
        scheme, dummy, token = call.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _pc_error(401, "800001", "Partner Token missing in request context")
        store = call.emulator.store
        try:
            claims = store.signing_key.verify(token.strip())
        except jwt.InvalidTokenError as exc:
            raise _pc_error(401, "400", "Access denied") from exc
        audience = str(claims.get("aud", ""))
        if audience.rstrip("/") == call.cloud.aad_graph_resource:
            raise _pc_error(401, "900420", f"The audience '{audience}' in the token is invalid and is no longer supported "
                            "in Partner Center API.")
        if audience.rstrip("/") != call.cloud.partner_center_resource:
            raise _pc_error(401, "400", "Access denied")
        tenant = store.tenants.get(str(claims.get("tid")))
        if tenant is None or tenant.cloud != call.cloud.name or claims.get("iss") != call.cloud.access_token_issuer(tenant.id):
            raise _pc_error(401, "400", "Access denied")
        return claims, tenant

    def _dispatch(self, call: Call, claims: dict[str, Any], tenant: Tenant) -> Answer:
        store = call.emulator.store
        with store.lock:
            app_only = claims.get("idtyp") == "app"
            if app_only and not self.is_registered(call, tenant, str(claims.get("appid")), store.now()):
                # Not registered in this partner tenant's App management (exact body UNCONFIRMED).
                raise _pc_error(403, "2032", "Access denied")
            if not app_only and "user_impersonation" not in str(claims.get("scp", "")).split():
                raise _pc_error(403, "900308", "Insufficient privileges to complete the operation.")
            path = call.path.rstrip("/")
            if call.method == "GET" and path == "/v1/customers":
                return self._encode(call, Answer(200, self._customers(call, tenant), self._headers(call)))
            if call.method == "GET" and path == "/v1/profiles/organization":
                if app_only:
                    raise _pc_error(403, "900329", "This resource does not support application-only authentication.")
                return self._encode(call, Answer(200, self._profile(tenant), self._headers(call)))
            raise _pc_error(404, "404", f"The requested resource '{call.path}' was not found.")

    def is_registered(self, call: Call, tenant: Tenant, app_id: str, now: float) -> bool:
        """Whether the app is registered; starts or completes the emulated operator's step."""
        if app_id in tenant.pc_registrations:
            return True
        due = tenant.pc_pending.get(app_id)
        if due is not None and due <= now:
            del tenant.pc_pending[app_id]
            register(tenant, app_id, now, "auto")
            call.emulator.store.dirty = True
            return True
        delay = call.emulator.pc_auto_register_after
        if due is None and delay is not None:
            if delay <= 0:  # the operator registered it before anyone asked
                register(tenant, app_id, now, "auto")
                call.emulator.store.dirty = True
                return True
            tenant.pc_pending[app_id] = now + delay
            call.emulator.store.dirty = True
        return False

    @staticmethod
    def _customers(call: Call, tenant: Tenant) -> dict[str, Any]:
        size_text = call.query.get("size", "")
        try:
            size = int(size_text) if size_text else MAX_PAGE_SIZE
        except ValueError as exc:
            raise _pc_error(400, "400", f"The value '{size_text}' is not valid for size.") from exc
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise _pc_error(400, "400", f"size must be between 1 and {MAX_PAGE_SIZE}.")
        customers = [_customer(tenant, n) for n in range(1, 3)]
        return {"totalCount": len(customers), "items": customers[:size],
                "links": {"self": {"uri": f"/v1/customers?size={size}", "method": "GET", "headers": []}},
                "attributes": {"objectType": "Collection"}}

    @staticmethod
    def _profile(tenant: Tenant) -> dict[str, Any]:
        return {"id": tenant.id, "companyName": tenant.display_name, "tenantId": tenant.id, "domain": tenant.domain,
                "email": f"admin@{tenant.domain}", "language": "en", "culture": "en-US",
                "profileType": "OrganizationProfile",
                "links": {"self": {"uri": "/profiles/organization", "method": "GET", "headers": []}},
                "attributes": {"objectType": "OrganizationProfile"}}


def register(tenant: Tenant, app_id: str, now: float, by: str) -> None:
    """Record the portal's "Register existing app" step for an app of this partner tenant."""
    from .store import iso

    tenant.pc_registrations[app_id] = {"app_id": app_id, "registered_at": iso(now), "registered_by": by}
    tenant.pc_pending.pop(app_id, None)


def _customer(tenant: Tenant, number: int) -> dict[str, Any]:
    customer_id = str(uuid.uuid5(uuid.UUID(tenant.id), f"customer-{number}"))
    domain = f"customer{number}{tenant.domain.split('.', 1)[0]}.{tenant.domain.split('.', 1)[1]}"
    return {"id": customer_id,
            "companyProfile": {"tenantId": customer_id, "domain": domain, "companyName": f"Customer {number} of {tenant.display_name}",
                               "attributes": {"objectType": "CustomerCompanyProfile"}},
            "relationshipToPartner": "reseller", "attributes": {"objectType": "Customer"}}
