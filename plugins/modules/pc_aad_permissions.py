#!/usr/bin/python
# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pc_aad_permissions
short_description: Manage the API permissions of an app registration and grant admin consent, in the global or a national cloud
version_added: 0.1.0
description:
  - Sets the API permissions that an app registration requires (its C(requiredResourceAccess)) as desired state, and optionally
    grants tenant-wide admin consent for them, in the global Azure cloud, Azure Government (GCC High / L4, DoD / L5) or Azure
    operated by 21Vianet.
  - Permissions compare as a set of (API, permission, type), so neither the order of the list nor duplicates ever cause a change.
    Only C(requiredResourceAccess) is written.
  - APIs and permission names are resolved live from the API's service principal in the target tenant, because permission IDs
    are not assumed to be the same in every cloud. Unknown or ambiguous names fail before anything is written, and the error
    names the closest matches.
  - The service principal of Microsoft Partner Center is usually absent from a tenant until it is needed. When the service
    principal of one of the three APIs of Microsoft's procedure (Microsoft Graph, Windows Azure Active Directory, Microsoft
    Partner Center) is absent, their well-known permission definitions are used instead; with O(admin_consent=true) the service
    principal is created first and the names are resolved again from it.
  - Azure AD Graph (Windows Azure Active Directory) permissions are set as asked, with a warning that Azure AD Graph is retired,
    naming the Microsoft Graph equivalents.
author:
  - Partner Center National Cloud contributors (@partnercenter)
extends_documentation_fragment:
  - partnercenter.national_cloud.auth
  - partnercenter.national_cloud.target_application
  - partnercenter.national_cloud.attributes
  - partnercenter.national_cloud.attributes.actiongroup_all
options:
  permissions:
    description:
      - The API permissions, one entry per API. Several entries for the same API are merged.
      - With O(mode=exact), an empty list removes every permission (and, with O(admin_consent=true), revokes their consent).
    type: list
    elements: dict
    required: true
    suboptions:
      api:
        description:
          - The API (resource application), by alias, by the display name of its service principal, or by its application ID.
          - Aliases, compared without case, spaces or punctuation, are V(Microsoft Graph) or V(graph),
            V(Windows Azure Active Directory) or V(aad_graph) (Azure AD Graph, retired), and V(Microsoft Partner Center) or
            V(partner_center).
        type: str
        required: true
      delegated:
        description:
          - Delegated permissions (scopes), each by its value (V(Directory.Read.All)), the display name the portal shows
            (V(Read directory data)) or its ID.
          - Display names compare without case, hyphens, punctuation and the articles C(a), C(an) and C(the), so the procedure's
            V(Access the directory as the signed-in user) matches Microsoft Graph's "Access directory as the signed in user".
          - V(Access Partner Center PPE) (the label in Microsoft's procedure), V(Access Partner Center) and
            V(Access Partner Center API) (the labels of other Microsoft documents) all designate Partner Center's
            C(user_impersonation).
        type: list
        elements: str
      application:
        description:
          - Application permissions (app roles), each by its value, its display name or its ID.
          - A name that an API publishes both as a delegated and as an application permission (V(Read directory data)) is taken
            from the list it is in.
        type: list
        elements: str
  mode:
    description:
      - V(exact) makes the permissions of the application exactly O(permissions); permissions of APIs that are not listed are
        removed.
      - V(merge) only adds the permissions that are missing and never removes any.
    type: str
    choices: [exact, merge]
    default: exact
  admin_consent:
    description:
      - Grant tenant-wide admin consent for the permissions listed, as the portal's "Grant admin consent" button does.
      - The service principals of the application and of each API are created when missing (Partner Center's, typically).
      - Delegated permissions become one C(AllPrincipals) delegated permission grant per API, whose scope is updated in place
        (never deleted and recreated); application permissions become app role assignments, and only the missing ones are
        created.
      - With O(mode=exact), consent for permissions that are no longer requested is revoked, for the APIs this task manages (the
        APIs listed and those the application required before). With O(mode=merge), consent is only added.
      - Per-user consents (C(consentType=Principal)) are never changed.
      - V(false) changes no consent, and needs fewer privileges; the consent that exists is still reported when it can be read.
    type: bool
    default: false
notes:
  - "Microsoft Graph application permissions needed: C(Application.ReadWrite.OwnedBy) (applications the caller owns) or
    C(Application.ReadWrite.All) to change the permissions; with O(admin_consent=true) also C(AppRoleAssignment.ReadWrite.All)
    with C(Application.Read.All) (application permissions), C(DelegatedPermissionGrant.ReadWrite.All) (delegated
    permissions), and
    C(Application.ReadWrite.All) to create a missing service principal of an API such as Microsoft Partner Center.
    C(Application.Read.All) (plus C(DelegatedPermissionGrant.Read.All) to report delegated consent) is enough in check mode."
  - Consent is reported from the grants and app role assignments that exist, and from the writes of this task; in check mode
    RV(permissions[].consented) is the current state, while RV(changes) and the diff show what would change.
  - "The diff lists the required permissions (C(required)) and the admin consent (C(consented)) of the APIs this task manages,
    one C(API: permission (type)) entry each, for example C(Microsoft Graph: Directory.Read.All (application)), so that moving
    a permission to another API shows as one removal and one addition. C(consent_unknown) names the types whose consent could
    not be read."
  - A target application created moments before (for example by M(partnercenter.national_cloud.pc_aad_app) in the previous task)
    is waited for during a few seconds, because the directory replicates new objects with a delay.
seealso:
  - module: partnercenter.national_cloud.pc_aad_app
  - name: Grant or revoke API permissions programmatically
    description: The Microsoft Graph operations used for admin consent.
    link: https://learn.microsoft.com/graph/permissions-grant-via-msgraph
  - name: Azure AD Graph permissions and their Microsoft Graph equivalents
    description: The mapping named in the warning for Azure AD Graph permissions.
    link: https://learn.microsoft.com/graph/migrate-azure-ad-graph-permissions-differences
"""

EXAMPLES = r"""
- name: Web app of the procedure - application permission "Read directory data", with admin consent
  partnercenter.national_cloud.pc_aad_permissions:
    cloud: usgov
    tenant_id: "{{ partner_tenant_id }}"
    client_id: "{{ automation_client_id }}"
    client_secret: "{{ automation_client_secret }}"
    unique_name: partner-center-web
    permissions:
      - api: Microsoft Graph
        application:
          - Read directory data
    admin_consent: true

- name: Native app of the procedure - four delegated permissions and Partner Center, with admin consent
  partnercenter.national_cloud.pc_aad_permissions:
    app_id: "{{ native_app.app_id }}"
    permissions:
      - api: Microsoft Graph
        delegated:
          - Sign in and read user profile
          - Read directory data
          - Access the directory as the signed-in user
          - Read all groups
      - api: Microsoft Partner Center
        delegated:
          - Access Partner Center PPE
    admin_consent: true
  register: native_permissions

- name: The procedure's literal Azure AD Graph set (retired API; the task warns)
  partnercenter.national_cloud.pc_aad_permissions:
    app_id: "{{ native_app.app_id }}"
    permissions:
      - api: Windows Azure Active Directory
        delegated: [User.Read, Directory.Read.All, Directory.AccessAsUser.All, Group.Read.All]
      - api: partner_center
        delegated: [user_impersonation]
    admin_consent: true

- name: Add one permission and keep all others (no consent change)
  partnercenter.national_cloud.pc_aad_permissions:
    display_name: Partner Center web app
    mode: merge
    permissions:
      - api: 00000003-0000-0000-c000-000000000000
        delegated: [e1fe6dd8-ba31-4d61-89e7-88639da4683d]

- name: Audit drift without changing anything
  partnercenter.national_cloud.pc_aad_permissions:
    unique_name: partner-center-web
    permissions:
      - api: graph
        application: [Directory.Read.All]
    admin_consent: true
  check_mode: true
  diff: true
  register: drift
"""

RETURN = r"""
app_id:
  description: Application (client) ID of the application.
  returned: always
  type: str
  sample: 5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11
object_id:
  description: Object ID of the application.
  returned: always
  type: str
  sample: 0f7c3a55-8d2b-4b6e-a1c9-3e4d5f6a7b8c
service_principal_id:
  description:
    - Object ID of the application's service principal; null when it does not exist (or would be created, in check mode).
  returned: always
  type: str
  sample: 7a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d
permissions:
  description:
    - The permissions the application requires after the task (in check mode, would require), sorted by API, type and value.
  returned: always
  type: list
  elements: dict
  contains:
    api:
      description: Display name of the API.
      type: str
      sample: Microsoft Graph
    api_app_id:
      description: Application ID of the API.
      type: str
      sample: 00000003-0000-0000-c000-000000000000
    value:
      description: Value of the permission; null when the API does not publish a permission with this ID.
      type: str
      sample: Directory.Read.All
    id:
      description: ID of the permission.
      type: str
      sample: 7ab1d382-f21e-4acd-a863-ba3e13f7da61
    type:
      description: V(delegated) (a scope) or V(application) (an app role).
      type: str
      sample: application
    display_name:
      description: Display name of the permission, as the portal shows it.
      type: str
      sample: Read directory data
    consented:
      description:
        - Whether tenant-wide admin consent exists for the permission, from the grants and app role assignments read and the
          writes of this task.
        - Null when the consent could not be read (the client lacks the permission to read it).
      type: bool
      sample: true
changes:
  description: What the task changed (in check mode, would change). Each list holds permissions shaped like RV(permissions).
  returned: always
  type: dict
  contains:
    added:
      description: Permissions added to the application's required permissions.
      type: list
      elements: dict
    removed:
      description: Permissions removed from the application's required permissions.
      type: list
      elements: dict
    consented:
      description: Permissions for which admin consent was granted.
      type: list
      elements: dict
    revoked:
      description: Permissions whose admin consent was revoked.
      type: list
      elements: dict
    service_principals_created:
      description: Display names of the APIs whose service principal was created.
      type: list
      elements: str
  sample:
    added:
      - api: Microsoft Graph
        api_app_id: 00000003-0000-0000-c000-000000000000
        value: Directory.Read.All
        id: 7ab1d382-f21e-4acd-a863-ba3e13f7da61
        type: application
        display_name: Read directory data
        consented: null
    removed: []
    consented:
      - api: Microsoft Graph
        api_app_id: 00000003-0000-0000-c000-000000000000
        value: Directory.Read.All
        id: 7ab1d382-f21e-4acd-a863-ba3e13f7da61
        type: application
        display_name: Read directory data
        consented: null
    revoked: []
    service_principals_created: []
"""

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._module import PartnerCenterModule
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._permissions import (
    MODES,
    PERMISSION_ENTRY_OPTIONS,
    run_pc_aad_permissions,
)
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._specs import (
    TARGET_APPLICATION_MUTUALLY_EXCLUSIVE,
    TARGET_APPLICATION_REQUIRED_ONE_OF,
    TARGET_APPLICATION_SPEC,
)


def main() -> None:
    """Entry point."""
    argument_spec = dict(
        permissions=dict(
            type="list",
            elements="dict",
            required=True,
            options=PERMISSION_ENTRY_OPTIONS,
        ),
        mode=dict(type="str", default="exact", choices=list(MODES)),
        admin_consent=dict(type="bool", default=False),
    )
    argument_spec.update({option: dict(spec) for option, spec in TARGET_APPLICATION_SPEC.items()})
    module = PartnerCenterModule(
        argument_spec,
        supports_check_mode=True,
        mutually_exclusive=TARGET_APPLICATION_MUTUALLY_EXCLUSIVE,
        required_one_of=TARGET_APPLICATION_REQUIRED_ONE_OF,
    )
    module.run(run_pc_aad_permissions)


if __name__ == "__main__":
    main()
