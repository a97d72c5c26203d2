# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Partner Center REST client: requests with Partner Center's headers, typed errors.

Request headers MS-RequestId and MS-CorrelationId, echoed by the service:
https://learn.microsoft.com/partner-center/developer/headers ; error body ``{"code",
"description", "data", "source"}``: https://learn.microsoft.com/partner-center/developer/error-codes
"""

from __future__ import annotations

import typing as t
import uuid

from ._http import HttpClient, decode_json


class PartnerCenterClient:
    """Partner Center requests for one cloud (or its transport override)."""

    def __init__(self, http: HttpClient, token_provider: t.Callable[[str], str], *, base_url: str, resource: str) -> None:
        self.http = http
        self.token_provider = token_provider
        self.base_url = base_url.rstrip("/")
        self.resource = resource

    def get(self, path: str, *, params: t.Mapping[str, t.Any] | None = None) -> t.Any:
        """GET ``/v1/...`` and return its JSON; an error status raises ServiceError."""
        correlation_id = str(uuid.uuid4())
        headers = {
            "Accept": "application/json",
            "Authorization": "Bearer " + self.token_provider(self.resource),
            "MS-RequestId": str(uuid.uuid4()),
            "MS-CorrelationId": correlation_id,
            "MS-Contract-Version": "v1",
        }
        response = self.http.request(
            "GET", "%s/%s" % (self.base_url, path.lstrip("/")), service="partner_center", headers=headers, params=params
        )
        return decode_json(response, service="partner_center")
