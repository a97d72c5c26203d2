#!/usr/bin/python
# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pc_aad_app
short_description: Manage a Microsoft Entra ID app registration in the global or a national cloud
version_added: 0.1.0
description:
  - Creates, updates or deletes an app registration (application object) as desired state, in the global Azure cloud,
    Azure Government (GCC High / L4, DoD / L5) or Azure operated by 21Vianet.
  - Only the options that are set are compared and changed; lists compare as sets, so their order never matters.
  - The application is identified by O(object_id), O(app_id), O(unique_name) or, when none of them is given, by its exact
    O(display_name). More than one application with that display name is an error that lists them.
  - With O(unique_name), creation uses Microsoft Graph's upsert, so concurrent runs create exactly one application.
    This is the race-free way to create applications, and the one the examples and the roles use.
  - Without O(unique_name), the application is looked up by O(display_name) and created when none is found. When the answer
    to that create is lost (dropped connection, server error after sending), the module looks the application up again
    for up to O(consistency_timeout) seconds before it would create another, and uses the one that appears (with a warning).
    Two runs started at the same moment, or a rerun after a run killed during that wait, can still create two applications
    with the same display name; only O(unique_name) prevents that.
  - By default the application's service principal (enterprise application) is created too, as the portal does.
  - Redirect URIs are validated before any request, following Entra ID's rules.
author:
  - Partner Center National Cloud contributors (@partnercenter)
extends_documentation_fragment:
  - partnercenter.national_cloud.auth
  - partnercenter.national_cloud.attributes
  - partnercenter.national_cloud.attributes.actiongroup_all
options:
  state:
    description:
      - V(present) creates or updates the application, V(absent) deletes it (Entra ID keeps it as a deleted item for 30 days).
    type: str
    choices: [present, absent]
    default: present
  object_id:
    description:
      - Object ID of the application (its C(id)).
      - It designates an existing application only. With O(state=present), an object ID that is not found is an error
        (nothing is created); with O(state=absent) it is V(ok).
    type: str
  app_id:
    description:
      - Application (client) ID of the application.
      - It designates an existing application only. With O(state=present), an application ID that is not found is an error
        that names the tenant and cloud (nothing is created); with O(state=absent) it is V(ok).
    type: str
  unique_name:
    description:
      - Unique name of the application, an alternate key set once at creation and never changed.
      - When given and the application does not exist, it is created with this unique name, race-free.
      - Recommended for every application this module creates; see the description.
    type: str
  display_name:
    description:
      - Display name of the application. Required to create one.
      - Identifies the application when O(object_id), O(app_id) and O(unique_name) are not given.
    type: str
  sign_in_audience:
    description:
      - Who can sign in. New applications default to V(AzureADMyOrg) in Microsoft Graph.
    type: str
    choices: [AzureADMyOrg, AzureADMultipleOrgs, AzureADandPersonalMicrosoftAccount, PersonalMicrosoftAccount]
  web:
    description:
      - Web platform settings. Only the sub-options that are set are managed.
    type: dict
    suboptions:
      redirect_uris:
        description:
          - Redirect URIs of the web platform, C(https://...) or C(http://localhost) / C(http://127.0.0.1).
          - Compared as a set. An empty list removes them all.
        type: list
        elements: str
      home_page_url:
        description:
          - Home page URL. An empty string clears it.
        type: str
      logout_url:
        description:
          - Front-channel logout URL, which Microsoft's authorization service uses to sign a user out of the app. An empty string
            clears it.
          - Must use C(https), also on localhost (C(https://localhost) is allowed). Entra ID refuses C(http) here, unlike for
            redirect URIs, see U(https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation).
        type: str
      implicit_grant:
        description:
          - Implicit grant settings.
        type: dict
        suboptions:
          id_token:
            description:
              - Whether ID tokens may be issued through the implicit flow.
            type: bool
          access_token:
            description:
              - Whether access tokens may be issued through the implicit flow.
            type: bool
  public_client_redirect_uris:
    description:
      - Redirect URIs of the mobile and desktop (public client) platform, for example
        V(https://login.microsoftonline.com/common/oauth2/nativeclient), V(http://localhost) or C(msal<app id>://auth).
      - Compared as a set. An empty list removes them all.
    type: list
    elements: str
  is_fallback_public_client:
    description:
      - Treat the application as a public client when the client type cannot be determined
        (the portal's "Allow public client flows").
    type: bool
  identifier_uris:
    description:
      - Application ID URIs, for example C(api://<app id>). Compared as a set.
    type: list
    elements: str
  notes:
    description:
      - Notes about the application. An empty string clears them.
    type: str
  tags:
    description:
      - Tags of the application. Compared as a set.
    type: list
    elements: str
  service_principal:
    description:
      - Ensure that the application has a service principal (enterprise application) in the tenant.
      - V(false) leaves service principals alone; it never deletes one.
    type: bool
    default: true
notes:
  - "Microsoft Graph application permissions needed: C(Application.ReadWrite.OwnedBy) (applications the caller owns) or
    C(Application.ReadWrite.All); C(Application.Read.All) is enough in check mode."
seealso:
  - name: Redirect URI restrictions
    description: The rules that Entra ID applies to redirect URIs.
    link: https://learn.microsoft.com/entra/identity-platform/reply-url
  - name: Upsert application
    description: The Microsoft Graph operation used with O(unique_name).
    link: https://learn.microsoft.com/graph/api/application-upsert
"""

EXAMPLES = r"""
- name: Ensure the web app used for Partner Center exists in the US Government cloud
  partnercenter.national_cloud.pc_aad_app:
    cloud: usgov
    tenant_id: "{{ partner_tenant_id }}"
    client_id: "{{ automation_client_id }}"
    client_secret: "{{ automation_client_secret }}"
    unique_name: partner-center-web
    display_name: Partner Center web app
    sign_in_audience: AzureADMyOrg
    web:
      redirect_uris:
        - https://app.contoso.com/signin-oidc
      home_page_url: https://app.contoso.com
  register: web_app

- name: Native app with a public client redirect URI, credentials from module_defaults
  module_defaults:
    group/partnercenter.national_cloud.all:
      cloud: "{{ cloud }}"
      tenant_id: "{{ tenant_id }}"
      client_id: "{{ automation_client_id }}"
      client_secret: "{{ automation_client_secret }}"
  partnercenter.national_cloud.pc_aad_app:
    unique_name: partner-center-native
    display_name: Partner Center native app
    public_client_redirect_uris:
      - https://login.microsoftonline.com/common/oauth2/nativeclient
    is_fallback_public_client: true

- name: Delete an application by its application (client) ID
  partnercenter.national_cloud.pc_aad_app:
    app_id: 00000000-0000-0000-0000-000000000000
    state: absent
"""

RETURN = r"""
app_id:
  description: Application (client) ID. Null in check mode when the application would be created.
  returned: always
  type: str
  sample: 5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11
object_id:
  description: Object ID of the application. Null in check mode when the application would be created.
  returned: always
  type: str
  sample: 0f7c3a55-8d2b-4b6e-a1c9-3e4d5f6a7b8c
service_principal_id:
  description:
    - Object ID of the application's service principal.
    - Null with O(state=absent), with O(service_principal=false), or in check mode when it would be created.
  returned: always
  type: str
  sample: 7a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d
application:
  description:
    - The application's properties, in snake_case, as Microsoft Graph returned them or as the module set them.
    - Empty when O(state=absent) and the application did not exist.
  returned: always
  type: dict
  sample:
    id: 0f7c3a55-8d2b-4b6e-a1c9-3e4d5f6a7b8c
    app_id: 5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11
    display_name: Partner Center web app
    unique_name: partner-center-web
    sign_in_audience: AzureADMyOrg
    web:
      redirect_uris: [https://app.contoso.com/signin-oidc]
      home_page_url: https://app.contoso.com
      logout_url: null
      implicit_grant_settings:
        enable_id_token_issuance: false
        enable_access_token_issuance: false
    public_client:
      redirect_uris: []
    is_fallback_public_client: false
    identifier_uris: []
    notes: null
    tags: []
"""

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._applications import (
    SIGN_IN_AUDIENCES,
    run_pc_aad_app,
)
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._module import PartnerCenterModule


def main() -> None:
    """Entry point."""
    argument_spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        object_id=dict(type="str"),
        app_id=dict(type="str"),
        unique_name=dict(type="str"),
        display_name=dict(type="str"),
        sign_in_audience=dict(type="str", choices=list(SIGN_IN_AUDIENCES)),
        web=dict(
            type="dict",
            options=dict(
                redirect_uris=dict(type="list", elements="str"),
                home_page_url=dict(type="str"),
                logout_url=dict(type="str"),
                implicit_grant=dict(
                    type="dict",
                    options=dict(id_token=dict(type="bool"), access_token=dict(type="bool")),
                ),
            ),
        ),
        public_client_redirect_uris=dict(type="list", elements="str"),
        is_fallback_public_client=dict(type="bool"),
        identifier_uris=dict(type="list", elements="str"),
        notes=dict(type="str"),
        tags=dict(type="list", elements="str"),
        service_principal=dict(type="bool", default=True),
    )
    module = PartnerCenterModule(
        argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("object_id", "app_id")],
        required_one_of=[("object_id", "app_id", "unique_name", "display_name")],
    )
    module.run(run_pc_aad_app)


if __name__ == "__main__":
    main()
