#!/usr/bin/python
# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: pc_app_secret
short_description: Manage the lifecycle of a client secret of a Microsoft Entra ID app registration
version_added: 0.1.0
description:
  - Creates, renews, rotates and removes a client secret (password credential) of an app registration, in the global Azure
    cloud, Azure Government (GCC High / L4, DoD / L5) or Azure operated by 21Vianet.
  - The secret is identified by its O(display_name), the portal's "Description" of a client secret. Every secret of the
    application with exactly that display name is this secret; secrets with other names are never touched.
  - "Renewal window: with O(state=present) a new secret is created only when no secret with this display name is valid for
    more than O(renew_before_days) days. A second run is therefore unchanged and makes no write request."
  - "Overlap: a renewed or rotated secret is added next to the previous one, which stays valid until it expires, so that
    consumers can switch over. O(retire_previous=true) removes the previous ones (after the new one is stored), and on
    a run that creates nothing it removes every secret with this display name except the current one: run with
    O(rotate=true) first, then with O(retire_previous=true) once every consumer uses the new value."
  - The value of a secret exists once, in the response that created it. With O(dest) the module writes it to a file
    (mode 0600, atomically) before anything else can fail. Without O(dest) it is returned once, as RV(secret_text), by
    the run that created it; that task should use C(no_log) (see the examples).
  - "With O(dest), the module always knows the value of the current secret. A run whose O(dest) does not hold it (file
    missing or unreadable, or holding another key id, for example after a run that was interrupted right after creating a
    secret) creates a replacement, stores it, and only then removes the secrets whose value was lost (RV(orphan_key_ids),
    RV(action=repaired)). Secrets older than the one O(dest) held stay (overlap)."
  - Before creating a secret the module reads the tenant's default app management policy. A restriction that applies to
    the application and blocks client secrets (C(passwordAddition)) or caps their lifetime (C(passwordLifetime),
    C(maxLifetime)) below the one asked fails the task with the policy's words and nothing is written; in check mode it is
    reported as a warning and in RV(policy_violations). Without the C(Policy.Read.All) permission the check is skipped with
    one warning, and a refusal by Microsoft Graph (C(CredentialTypeNotAllowedAsPerAppPolicy),
    C(CredentialInvalidLifetimeAsPerAppPolicy)) fails with a message that names the code and the policy.
  - When the application is not found, a real run waits up to O(consistency_timeout) seconds for it to appear, as it may have
    been created by a previous task moments ago (directory replication); check mode does not wait and reports that the
    secret would be created.
author:
  - Partner Center National Cloud contributors (@partnercenter)
extends_documentation_fragment:
  - partnercenter.national_cloud.auth
  - partnercenter.national_cloud.attributes
  - partnercenter.national_cloud.attributes.actiongroup_all
options:
  state:
    description:
      - V(present) makes sure a secret with this display name is valid beyond the renewal window.
      - V(absent) removes the secrets with this O(display_name) (all of them, as they are all this secret), or only the
        one O(key_id). It never removes secrets with another display name.
    type: str
    choices: [present, absent]
    default: present
  object_id:
    description:
      - Object ID of the application (its C(id)).
      - Exactly one of O(object_id), O(app_id), O(unique_name) and O(app_display_name) designates the application.
    type: str
  app_id:
    description:
      - Application (client) ID of the application.
    type: str
  unique_name:
    description:
      - Unique name of the application (see M(partnercenter.national_cloud.pc_aad_app)).
    type: str
  app_display_name:
    description:
      - Exact display name of the application. More than one application with this name is an error that lists them.
      - In this module O(display_name) is the secret's name, so the application's display name has its own option.
    type: str
  display_name:
    description:
      - Display name of the secret (the portal's "Description" of a client secret), compared exactly.
      - Required with O(state=present). With O(state=absent), O(display_name) or O(key_id) is required.
    type: str
  key_id:
    description:
      - With O(state=absent), remove only the secret with this key id (the portal's "Secret ID").
      - When O(display_name) is given too, the secret must have that display name.
    type: str
  expires_in:
    description:
      - Lifetime of a new secret, from its creation. V(1y) (365 days) and V(2y) (730 days) are the choices of Microsoft's
        procedure; a number of days is written V(90d) or V(90).
      - Defaults to V(1y) when O(end_date_time) is not given. Microsoft recommends lifetimes shorter than a year; a tenant
        policy may cap them.
      - Mutually exclusive with O(end_date_time). Changing it does not replace a secret that is still valid.
    type: raw
  end_date_time:
    description:
      - End of a new secret, as an ISO 8601 date or date-time (V(2027-06-30), V(2027-06-30T12:00:00Z)); UTC unless an
        offset is given. It must be in the future.
      - A secret that already ends on or after this date is never renewed, as a new one would not last longer.
      - Mutually exclusive with O(expires_in).
    type: str
  renew_before_days:
    description:
      - Renewal window. A new secret is created when no secret with this display name is valid for more than this many
        days. V(0) renews only expired secrets.
      - Must be shorter than the lifetime, or every run would create a secret.
    type: int
    default: 30
  rotate:
    description:
      - Create a new secret even when the current one is valid. The previous ones stay unless O(retire_previous=true).
      - Every run with V(true) creates a secret, so use it in a run meant to rotate (for example with C(-e rotate=true)).
    type: bool
    default: false
  retire_previous:
    description:
      - Remove every other secret with this display name, keeping only the current (or new) one. The removal happens after
        the new secret has been stored.
    type: bool
    default: false
  dest:
    description:
      - Path of a file, on the host that runs the module, where the value of a new secret is stored as JSON with the keys
        C(tenant_id), C(cloud), C(app_id), C(key_id), C(display_name), C(secret), C(start_date_time) and C(end_date_time).
      - The file is written atomically (temporary file in the same directory, mode 0600 from its creation, fsync, rename);
        missing parent directories are created with mode 0700. It is written before old secrets are removed and before
        the module returns, and a O(dest) that cannot be written fails before the secret is created.
      - The file belongs to the module. One that holds the secret of another application or of another display name is
        left alone and fails the task. With O(state=absent), a file that holds the value of a removed secret is deleted.
      - "Runs that manage the same O(dest) at the same time take turns: a lock file C(.<name>.lock) (mode 0600) next to
        O(dest) is held from the first read of the application until the new value is stored, so two concurrent runs
        create one secret, not two. A run waits up to 10 minutes for the lock, then fails without changing anything.
        Without O(dest) nothing serialises runs: do not run two tasks for the same secret at once."
      - In check mode nothing is written.
    type: path
notes:
  - "Creating a secret (addPassword) is not idempotent. An answer that leaves its outcome unknown (HTTP 5xx, a connection
    lost) is retried within O(retry_timeout), with a warning; once the new value is stored, the secrets the failed attempts
    created (same display name and dates, value never received) are removed and listed in RV(orphan_key_ids)."
  - "Microsoft Graph application permissions needed: C(Application.ReadWrite.OwnedBy) (applications the caller owns) or
    C(Application.ReadWrite.All); C(Application.Read.All) is enough in check mode. C(Policy.Read.All) is optional: it
    lets the module check the tenant's app management policy before creating a secret."
  - Only the tenant's default app management policy is read before writing. A policy assigned to the application itself is
    enforced by Microsoft Graph when the secret is created, and reported with the code Microsoft Graph returns.
  - The value of a secret is never shown in C(diff), warnings, messages or any return value other than RV(secret_text);
    diffs show key ids, display names, hints (the first three characters, as the portal does) and dates.
  - A new secret may take a short time to be accepted at sign-in (directory replication).
seealso:
  - name: Add a client secret (addPassword)
    description: The Microsoft Graph operation used to create a secret.
    link: https://learn.microsoft.com/graph/api/application-addpassword
  - name: Tenant app management policy
    description: The restrictions that can block client secrets or limit their lifetime.
    link: https://learn.microsoft.com/graph/api/resources/tenantappmanagementpolicy
  - module: partnercenter.national_cloud.pc_aad_app
"""

EXAMPLES = r"""
- name: Client secret for the Partner Center web app, stored in a private file (renewed 30 days before it expires)
  partnercenter.national_cloud.pc_app_secret:
    cloud: usgov
    tenant_id: "{{ partner_tenant_id }}"
    client_id: "{{ automation_client_id }}"
    client_secret: "{{ automation_client_secret }}"
    unique_name: partner-center-web
    display_name: Partner Center
    expires_in: 1y
    dest: "{{ playbook_dir }}/secrets/partner-center-web.json"
  register: pc_secret

- name: Read the stored secret for a later task (the module ran on the controller, as API modules usually do)
  ansible.builtin.set_fact:
    pc_web_secret: "{{ (lookup('ansible.builtin.file', pc_secret.dest) | from_json).secret }}"
  no_log: true

- name: Without dest the value is returned once, by the run that creates it; hide it with no_log
  partnercenter.national_cloud.pc_app_secret:
    app_display_name: Partner Center web app
    display_name: Partner Center
    expires_in: 2y
  register: created_secret
  no_log: true

- name: Rotate with overlap (the previous secret stays valid until it expires)
  partnercenter.national_cloud.pc_app_secret:
    app_id: 00000000-0000-0000-0000-000000000000
    display_name: Partner Center
    expires_in: 90d
    rotate: true
    dest: /etc/partner-center/web-secret.json

- name: Once every consumer uses the new value, retire the previous secrets
  partnercenter.national_cloud.pc_app_secret:
    app_id: 00000000-0000-0000-0000-000000000000
    display_name: Partner Center
    expires_in: 90d
    retire_previous: true
    dest: /etc/partner-center/web-secret.json

- name: Remove this secret (every secret named "Partner Center"), and no other secret of the application
  partnercenter.national_cloud.pc_app_secret:
    app_id: 00000000-0000-0000-0000-000000000000
    display_name: Partner Center
    state: absent
"""

RETURN = r"""
action:
  description:
    - What the run did (or would do in check mode).
    - V(created) (first secret with this display name), V(renewed) (the current one expires within the renewal window or
      has expired), V(rotated) (O(rotate=true)), V(repaired) (O(dest) did not hold the value of the current secret),
      V(removed) (O(state=absent), or O(retire_previous=true) with nothing to create) or V(none).
  returned: always
  type: str
  sample: renewed
app_id:
  description: Application (client) ID of the application. Null when it was not found.
  returned: always
  type: str
  sample: 5b2e1d0c-3f5a-4c1e-9a4e-0d9f2c6a7b11
object_id:
  description: Object ID of the application. Null when it was not found.
  returned: always
  type: str
  sample: 0f7c3a55-8d2b-4b6e-a1c9-3e4d5f6a7b8c
key_id:
  description:
    - Key id (the portal's "Secret ID") of the current secret, the new one when one was created.
    - Null in check mode when a secret would be created, with O(state=absent), and when there is none.
  returned: always
  type: str
  sample: f0b0b335-1d71-4883-8f98-567911bfdca6
display_name:
  description: Display name of the secret.
  returned: always
  type: str
  sample: Partner Center
hint:
  description: First three characters of the current secret's value, as the portal shows them.
  returned: always
  type: str
  sample: 6gy
start_date_time:
  description: Start of the current secret (ISO 8601, UTC).
  returned: always
  type: str
  sample: "2026-01-15T09:30:00Z"
end_date_time:
  description: End of the current secret (ISO 8601, UTC).
  returned: always
  type: str
  sample: "2027-01-15T09:30:00Z"
days_to_expiry:
  description: Whole days until the current secret expires (negative once it has expired).
  returned: always
  type: int
  sample: 364
dest:
  description: Absolute path of O(dest), or null.
  returned: always
  type: str
  sample: /etc/partner-center/web-secret.json
retired_key_ids:
  description:
    - Key ids of the secrets removed by this run (O(retire_previous), orphans, O(state=absent)); in check mode, those that
      would be removed.
  returned: always
  type: list
  elements: str
  sample: [0e9c6a3b-7d41-4b8e-9f20-5a6c7d8e9f01]
orphan_key_ids:
  description:
    - Key ids of the secrets removed because their value was lost (not in O(dest), or created by a failed addPassword attempt
      of this run), after the replacement was stored.
  returned: always
  type: list
  elements: str
  sample: []
secrets:
  description:
    - The application's secrets with this display name after the run (in check mode, as they would be), without values.
    - In check mode a secret that would be created has a null C(key_id) and C(hint).
  returned: always
  type: list
  elements: dict
  contains:
    key_id:
      description: Key id of the secret.
      type: str
    display_name:
      description: Display name of the secret.
      type: str
    hint:
      description: First three characters of the value.
      type: str
    start_date_time:
      description: Start of validity.
      type: str
    end_date_time:
      description: End of validity.
      type: str
    days_to_expiry:
      description: Whole days until the end of validity.
      type: int
  sample:
    - key_id: f0b0b335-1d71-4883-8f98-567911bfdca6
      display_name: Partner Center
      hint: 6gy
      start_date_time: "2026-01-15T09:30:00Z"
      end_date_time: "2027-01-15T09:30:00Z"
      days_to_expiry: 364
policy_violations:
  description:
    - The tenant app management policy restrictions that refuse the new secret, in the policy's words (a real run fails on them; check mode reports them).
  returned: always
  type: list
  elements: str
  sample: []
dest_removed:
  description: Whether O(state=absent) deleted O(dest) because it held the value of a removed secret.
  returned: when O(state=absent) and the application exists
  type: bool
  sample: false
secret_text:
  description:
    - The value of the new secret. Returned only by the run that created it, and only without O(dest); it cannot be read
      again later. Use C(no_log) on the task and keep the value somewhere safe right away.
  returned: when a secret was created without O(dest)
  type: str
  sample: "[6gyXA5S20@MN+WRXAJ]I-TO7g1:h2P8"
"""

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._module import PartnerCenterModule
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secrets import run_pc_app_secret


def main() -> None:
    """Entry point."""
    argument_spec = dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        object_id=dict(type="str"),
        app_id=dict(type="str"),
        unique_name=dict(type="str"),
        app_display_name=dict(type="str"),
        display_name=dict(type="str"),
        key_id=dict(type="str", no_log=False),
        expires_in=dict(type="raw"),
        end_date_time=dict(type="str"),
        renew_before_days=dict(type="int", default=30),
        rotate=dict(type="bool", default=False),
        retire_previous=dict(type="bool", default=False),
        dest=dict(type="path"),
    )
    module = PartnerCenterModule(
        argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("object_id", "app_id", "unique_name", "app_display_name"), ("expires_in", "end_date_time")],
        required_one_of=[("object_id", "app_id", "unique_name", "app_display_name")],
        required_if=[("state", "present", ["display_name"]), ("state", "absent", ["display_name", "key_id"], True)],
        # The new secret's value, once, when there is no dest (documented: use no_log).
        reveal=("secret_text",),
    )
    module.run(run_pc_app_secret)


if __name__ == "__main__":
    main()
