#!/usr/bin/python
# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pc_aad_app_info
short_description: Read app registrations for audits - permissions against consent, secrets, Partner Center registration
version_added: 0.1.0
description:
  - Reads one application (designated by O(object_id), O(app_id), O(unique_name) or O(display_name)) or every
    application matching O(filter) (all when nothing is given), and reports for each
    - its requested API permissions by value name, each with whether admin consent for it exists (from the actual
      grants and app role assignments, not from the request);
    - with O(expected_permissions), the drift between the requested permissions and the expected set;
    - its client secrets and certificates with their dates, days to expiry and status (never their values);
    - with the web app's own credentials, whether Partner Center accepts it (its registration).
  - It never writes, so it is safe in audits run with C(--check).
author:
  - Partner Center National Cloud contributors (@partnercenter)
extends_documentation_fragment:
  - partnercenter.national_cloud.auth
  - partnercenter.national_cloud.attributes.info_module
  - partnercenter.national_cloud.attributes.actiongroup_all
  - partnercenter.national_cloud.target_application
  - partnercenter.national_cloud.webapp_credentials
  - partnercenter.national_cloud.secret_store.webapp
options:
  filter:
    description:
      - An OData C($filter) selecting the applications to read, for example V(startswith(displayName,'Partner Center')).
      - Without it and without an application designation, every application of the tenant is read.
    type: str
  expected_permissions:
    description:
      - The permissions the application should request, in the format of
        O(partnercenter.national_cloud.pc_aad_permissions#module:permissions); RV(applications[].drift) lists the
        differences.
    type: list
    elements: dict
    suboptions:
      api:
        description:
          - The API, as in O(partnercenter.national_cloud.pc_aad_permissions#module:permissions[].api).
        type: str
        required: true
      delegated:
        description:
          - Delegated permissions (scopes), by value, display name or ID.
        type: list
        elements: str
      application:
        description:
          - Application permissions (app roles), by value, display name or ID.
        type: list
        elements: str
  secret_expiry_days:
    description:
      - Secrets and certificates that expire within this many days are reported as V(expiring).
    type: int
    default: 30
notes:
  - "Microsoft Graph application permissions needed: C(Application.Read.All) and C(Directory.Read.All) (to read delegated
    grants); without the latter, consent of delegated permissions is reported as unknown (null)."
"""

EXAMPLES = r"""
- name: Audit the web app of a tenant against the procedure's permission
  partnercenter.national_cloud.pc_aad_app_info:
    unique_name: partner-center-web
    expected_permissions:
      - api: Microsoft Graph
        application: [Directory.Read.All]
    secret_expiry_days: 45
    webapp_secret_file: "{{ playbook_dir }}/secrets/{{ inventory_hostname }}-web-app.json"
  register: web_app_facts

- name: Every application whose name starts with "Partner Center"
  partnercenter.national_cloud.pc_aad_app_info:
    filter: startswith(displayName,'Partner Center')
  register: partner_apps
"""

RETURN = r"""
exists:
  description: Whether the designated application exists; null when applications were listed by O(filter).
  returned: always
  type: bool
  sample: true
applications:
  description: One entry per application read.
  returned: always
  type: list
  elements: dict
  contains:
    app_id:
      description: Application (client) ID of the application.
      type: str
      returned: always
      sample: 5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11
    object_id:
      description: Object ID of the application.
      type: str
      returned: always
    display_name:
      description: Display name.
      type: str
      returned: always
    unique_name:
      description: Unique name, or null.
      type: str
      returned: always
    service_principal_id:
      description: Object ID of the application's service principal; null when it does not exist.
      type: str
      returned: always
    permissions:
      description:
        - The permissions the application requests (its C(requiredResourceAccess)), shaped like
          RV(partnercenter.national_cloud.pc_aad_permissions#module:permissions).
        - Their C(consented) comes from the grants and app role assignments that exist; null when the consent could not be read.
      type: list
      elements: dict
      returned: always
    consent_missing:
      description: 'Requested permissions without admin consent, as "API: permission (type)" labels.'
      type: list
      elements: str
      returned: always
    drift:
      description: With O(expected_permissions), C(missing) and C(extra) permission labels; otherwise null.
      type: dict
      returned: always
    secrets:
      description:
        - Client secrets with C(key_id), C(display_name), C(hint), C(start_date_time), C(end_date_time),
          C(days_to_expiry) and C(status) (valid, expiring, expired, not_yet_valid). Never the values.
        - With O(webapp_secret_store) or O(webapp_secret_file), C(held_by) names the store that holds a secret's value (null
          for the others); a valid secret that the store does not hold is a finding in RV(applications[].problems).
      type: list
      elements: dict
      returned: always
    secret_store:
      description: The store of O(webapp_secret_store) or O(webapp_secret_file), in words; else null.
      type: str
      returned: always
    certificates:
      description: Certificates, in the same shape as RV(applications[].secrets).
      type: list
      elements: dict
      returned: always
    partner_center:
      description:
        - With web app credentials, C(registered) (true, false, or null when it could not be checked), C(checked) and a
          C(detail); else null.
        - C(checked) is false when the audit could not ask Partner Center, for example because the store named by
          O(webapp_secret_file) or O(webapp_secret_store) holds no secret value (C(detail) says why). That is a finding,
          not an error, so that an audit from a machine without the secret still reports it.
      type: dict
      returned: always
    problems:
      description:
        - The findings, one line each (missing consent, drift, expired or expiring secrets, registration).
        - What the audit could not check is a finding too (C(consent not checked), C(Partner Center registration not
          checked)), so that an incomplete audit never looks clean.
      type: list
      elements: str
      returned: always
      sample: ["secret 'Partner Center' (4f1c...) expires in 12 days"]
"""

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._app_info import run_pc_aad_app_info
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._module import PartnerCenterModule
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._permissions import PERMISSION_ENTRY_OPTIONS
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._specs import (
    TARGET_APPLICATION_MUTUALLY_EXCLUSIVE,
    TARGET_APPLICATION_SPEC,
    WEBAPP_CREDENTIAL_SPEC,
    WEBAPP_CREDENTIALS,
)


def main() -> None:
    """Entry point."""
    argument_spec = dict(
        TARGET_APPLICATION_SPEC,
        filter=dict(type="str"),
        expected_permissions=dict(type="list", elements="dict", options=PERMISSION_ENTRY_OPTIONS),
        secret_expiry_days=dict(type="int", default=30, no_log=False),
        **WEBAPP_CREDENTIAL_SPEC,
    )
    module = PartnerCenterModule(
        argument_spec,
        supports_check_mode=True,
        mutually_exclusive=TARGET_APPLICATION_MUTUALLY_EXCLUSIVE + [WEBAPP_CREDENTIALS],
    )
    module.run(run_pc_aad_app_info)


if __name__ == "__main__":
    main()
