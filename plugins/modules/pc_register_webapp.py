#!/usr/bin/python
# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pc_register_webapp
short_description: Check, and wait for, the registration of a web app in Partner Center
version_added: 0.1.0
description:
  - The last step of Microsoft's procedure for a web app is done in the Partner Center portal, because Partner Center
    has no public API to register a web app (Account settings > App management > Web app > Register existing app).
    This module makes that one manual step safe to automate around.
  - It verifies the prerequisites and reports each one that is missing - the application and its service principal
    exist, the application permission (O(application_permission), "Read directory data" by default) is consented, and
    the credential given is valid - and that Microsoft Partner Center's service principal exists in the tenant (an
    app-only token for Partner Center needs it; see O(create_partner_center_service_principal)).
  - It then checks the registration the way Partner Center sees it, with the web app's OWN credentials (not the
    credentials of the automation, which are the module's auth options), an app-only token for the cloud's Partner
    Center resource and a light app-only call (C(GET /v1/customers?size=1)).
  - Registered - the task is ok and unchanged. Not registered - with O(wait_timeout) it polls, backing off, while an
    operator does the portal step; when the time runs out, or without waiting, it fails with the cloud's Partner Center
    portal URL, the click path and the app ID (also returned as RV(instructions)).
  - In check mode it reports RV(registered) and what the operator must do, and never fails for that reason.
  - It never reports a change it did not make; the only change it can make is creating Partner Center's service
    principal.
author:
  - Partner Center National Cloud contributors (@partnercenter)
extends_documentation_fragment:
  - partnercenter.national_cloud.auth
  - partnercenter.national_cloud.attributes
  - partnercenter.national_cloud.attributes.actiongroup_all
  - partnercenter.national_cloud.target_application
  - partnercenter.national_cloud.webapp_credentials
  - partnercenter.national_cloud.secret_store.webapp
options:
  application_permission:
    description:
      - The application permission (Microsoft Graph or Windows Azure Active Directory) the web app must hold with admin
        consent. The procedure's "Read directory data" is C(Directory.Read.All).
    type: str
    default: Directory.Read.All
  create_partner_center_service_principal:
    description:
      - Create Microsoft Partner Center's service principal in the tenant when it is missing (the only change this module
        makes). With V(false), a missing one is reported as a missing prerequisite.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for an operator to register the app in the portal, polling with backoff. V(0) checks once.
      - Never waits in check mode.
    type: int
    default: 0
notes:
  - "Microsoft Graph application permissions needed by the module's own credentials: C(Application.Read.All) to read the
    application, its service principal and consent; C(Application.ReadWrite.All) only to create Partner Center's service
    principal."
  - Registration exists only in the Partner Center portal, so the module observes it and never claims to make it.
seealso:
  - name: Register app details for Partner Center for Microsoft National Cloud
    description: Microsoft's procedure this collection automates.
    link: https://learn.microsoft.com/partner-center/developer/create-apps-for-partner-center-for-microsoft-national-clouds
  - module: partnercenter.national_cloud.pc_app_secret
"""

EXAMPLES = r"""
- name: Check that the web app is registered in Partner Center (fails with the portal steps when it is not)
  partnercenter.national_cloud.pc_register_webapp:
    cloud: usgov
    tenant_id: "{{ partner_tenant_id }}"
    client_id: "{{ automation_client_id }}"
    client_secret: "{{ automation_client_secret }}"
    unique_name: partner-center-web
    webapp_secret_file: "{{ playbook_dir }}/secrets/partner-center-web.json"

- name: Wait up to 30 minutes while an operator registers the app in the portal
  partnercenter.national_cloud.pc_register_webapp:
    unique_name: partner-center-web
    webapp_secret_file: "{{ playbook_dir }}/secrets/partner-center-web.json"
    wait_timeout: 1800
"""

RETURN = r"""
registered:
  description: Whether Partner Center accepts the web app's app-only call. Null when it could not be checked.
  returned: always
  type: bool
  sample: true
app_id:
  description: Application (client) ID of the web app. Null when no application matches.
  returned: always
  type: str
  sample: 5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11
object_id:
  description: Object ID of the web app. Null when no application matches.
  returned: always
  type: str
  sample: 0f7c3a55-8d2b-4b6e-a1c9-3e4d5f6a7b8c
prerequisites:
  description: Each prerequisite with C(ok) (true, false, or null when it could not be checked) and a C(detail).
  returned: always
  type: list
  elements: dict
  sample:
    - name: application_permission
      ok: true
      detail: Directory.Read.All of Microsoft Graph is consented
missing:
  description: Names of the prerequisites that do not hold.
  returned: always
  type: list
  elements: str
  sample: [credential]
cloud:
  description: The cloud the module worked in (its C(cloud) option).
  returned: always
  type: str
  sample: usgov
tenant_id:
  description: The tenant the module worked in, as given (its C(tenant_id) option).
  returned: always
  type: str
  sample: contoso.onmicrosoft.us
partner_center_portal_url:
  description: The cloud's Partner Center portal.
  returned: always
  type: str
  sample: https://partnercenter.microsoft.com
portal_path:
  description: The portal's click path to register a web app.
  returned: always
  type: str
  sample: Account settings > App management > Web app > Register existing app
instructions:
  description: What an operator must do in the portal; null when the app is registered.
  returned: always
  type: str
partner_center_response:
  description: Partner Center's refusal of the app-only call (status, code, message, request ID) when not registered.
  returned: always
  type: dict
waited_seconds:
  description: Seconds spent waiting for the registration.
  returned: always
  type: float
  sample: 12.5
polls:
  description: How many times Partner Center was asked.
  returned: always
  type: int
  sample: 3
"""

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._module import PartnerCenterModule
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._registration import run_pc_register_webapp
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._specs import (
    TARGET_APPLICATION_MUTUALLY_EXCLUSIVE,
    TARGET_APPLICATION_REQUIRED_ONE_OF,
    TARGET_APPLICATION_SPEC,
    WEBAPP_CREDENTIAL_SPEC,
    WEBAPP_CREDENTIALS,
)


def main() -> None:
    """Entry point."""
    argument_spec = dict(
        TARGET_APPLICATION_SPEC,
        **WEBAPP_CREDENTIAL_SPEC,
        application_permission=dict(type="str", default="Directory.Read.All"),
        create_partner_center_service_principal=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=0),
    )
    module = PartnerCenterModule(
        argument_spec,
        supports_check_mode=True,
        mutually_exclusive=TARGET_APPLICATION_MUTUALLY_EXCLUSIVE + [WEBAPP_CREDENTIALS],
        required_one_of=TARGET_APPLICATION_REQUIRED_ONE_OF + [WEBAPP_CREDENTIALS],
    )
    module.run(run_pc_register_webapp)


if __name__ == "__main__":
    main()
