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
  - The value of a secret exists once, in the response that created it. With O(dest) the module writes it to a store (a
    private file, see O(dest)) before anything else can fail, with a record of which secret it is (application, key id,
    tenant, cloud, dates). Without O(dest) it is returned once, as RV(secret_text), by the run that created it; that task
    should use C(no_log) (see the examples).
  - "What is guaranteed about secrets: a run with O(state=present) never removes a secret that it cannot prove it created
    itself and then lost. The proof is written to the store before the secret is requested (the name and dates of the
    addition), so a secret whose value never reached the store (a lost answer, a crash, a failed write) is recognised by
    the run itself or by the next one, and removed once a new value is stored (RV(orphan_key_ids)). Secrets made by a
    person, by another tool, or held by another store, host or checkout are never removed by O(state=present): they are
    listed in RV(unheld_key_ids) with a warning. Removal happens only by O(retire_previous) (the secrets this same store
    held before) or by O(state=absent)."
  - "A missing value is a decision, not a repair: when O(dest) holds no value (file missing, for example on a new runner)
    while the application has valid secrets with this display name, the run fails, lists them (key id, name, expiry) and
    changes nothing. Point O(dest) at the store that holds the value, or set O(missing_value=add) to add a new secret
    beside them. Check mode reports which of these would happen and does not fail."
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
  - partnercenter.national_cloud.target_application
  - partnercenter.national_cloud.secret_store.store
options:
  state:
    description:
      - V(present) makes sure a secret with this display name is valid beyond the renewal window.
      - V(absent) removes the secrets with this O(display_name) (all of them, as they are all this secret), or only the
        one O(key_id). It never removes secrets with another display name.
    type: str
    choices: [present, absent]
    default: present
  # object_id, app_id and unique_name come from the doc fragment target_application; its display_name is the
  # application's, here app_display_name (same words, test_target_application.py), as display_name is the secret's.
  app_display_name:
    description:
      - Exact display name of the application. More than one application with this name is an error that lists them.
      - Exactly one of O(object_id), O(app_id), O(unique_name) and O(app_display_name) designates the application.
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
      - Remove the secrets that O(dest) held before the current one (a renewal or rotation keeps them, for overlap), and the
        current one when a new one replaces it in this run. The removal happens after the new secret has been stored.
      - Only secrets this store held are removed; other secrets with the same display name stay. Needs O(dest).
    type: bool
    default: false
  missing_value:
    description:
      - What a run with O(dest) does when the store holds no value while the application has valid secrets with this
        display name (held by another store, runner or person).
      - V(fail) changes nothing, and fails with the list of those secrets and how to proceed.
      - V(add) adds a new secret beside them and stores it; they stay valid until they expire or are removed explicitly.
        Use it when each runner or host keeps its own secret.
    type: str
    choices: [fail, add]
    default: fail
  lock_timeout:
    description:
      - Seconds a run waits for another run that manages the same O(dest) (holding its lock file) before it fails, naming
        the process that holds the lock. Nothing is changed by a run that times out.
      - With a shared O(store) (Key Vault, Vault), how long another runner's claim counts as in flight, and is waited for;
        never less than O(retry_timeout) plus O(request_timeout), the longest its addPassword can still run. An older
        claim was left by a run that died, and a secret matching it is removed as lost once a new value is stored.
    type: int
    default: 120
  dest:
    description:
      - Path of a file, on the host that runs the module, that stores the secret's value and its record as JSON with the
        keys C(tenant_id), C(cloud), C(app_id), C(key_id), C(display_name), C(secret), C(start_date_time),
        C(end_date_time), C(previous_key_ids) (the secrets it held before) and C(pending) (additions in flight).
      - Keep one file per tenant, application and secret (the roles name it after the inventory host and the app).
      - "The folder of the file must belong to the user running the module and must not be writable by group or others;
        otherwise the task fails before any request. Missing folders are created with mode 0700. The file is written
        atomically through the descriptor that created it (mode 0600, fsync, rename, fsync of the folder); an existing
        file with a looser mode is set back to 0600 with a warning. It is read only if it is a regular file of at most 1 MiB."
      - The record is written before the secret is requested, and again with the value before old secrets are removed and
        before the module returns; a O(dest) that cannot be written fails before the secret is created.
      - The file belongs to the module. One that holds the secret of another tenant, application or display name, or that
        is not a record written by this module, is left alone and fails the task. With O(state=absent), a file that holds
        the value of a removed secret is deleted.
      - "Runs that manage the same O(dest) at the same time take turns: a lock file C(.<name>.lock) (mode 0600) next to
        O(dest) is held from the first read of the application until the new value is stored, so two concurrent runs
        create one secret, not two. A run waits up to O(lock_timeout) seconds for the lock. Without O(dest) nothing
        serialises runs: do not run two tasks for the same secret at once."
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

- name: On a runner that does not hold the value (a new AWX job, another laptop), keep a secret of its own beside the others
  partnercenter.national_cloud.pc_app_secret:
    unique_name: partner-center-web
    display_name: Partner Center
    dest: "{{ playbook_dir }}/secrets/{{ inventory_hostname }}-partner-center-web.json"
    missing_value: add

- name: Rotate with overlap (the previous secret stays valid until it expires)
  partnercenter.national_cloud.pc_app_secret:
    app_id: 00000000-0000-0000-0000-000000000000
    display_name: Partner Center
    expires_in: 90d
    rotate: true
    dest: /etc/partner-center/web-secret.json

- name: Once every consumer uses the new value, retire the secrets this file held before
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
      has expired), V(rotated) (O(rotate=true)), V(added) (O(missing_value=add), a new secret beside valid ones whose value
      the store does not hold), V(repaired) (removed secrets that an earlier run on this store created and lost, nothing
      created), V(removed) (O(state=absent), or O(retire_previous=true) with nothing to create) or V(none).
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
  description: Absolute path of O(dest) (or of a V(file) O(store)), or null.
  returned: always
  type: str
  sample: /etc/partner-center/web-secret.json
store:
  description: The store that keeps the value, in words, or null.
  returned: always
  type: str
  sample: Key Vault secret partner-center-web in https://contoso-pc.vault.usgovcloudapi.net
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
    - Key ids of the secrets removed because this module created them and their value was lost (a failed addPassword
      attempt of this run, or an addition O(dest) recorded but whose value never reached it).
  returned: always
  type: list
  elements: str
  sample: []
unheld_key_ids:
  description:
    - Key ids of valid secrets with this display name whose value O(dest) does not hold (another store, runner or a person
      holds it). They are never removed by O(state=present).
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
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._specs import STORE_OPTION_SPEC


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
        store=dict(type="dict", options=STORE_OPTION_SPEC),
        missing_value=dict(type="str", default="fail", choices=["fail", "add"]),
        lock_timeout=dict(type="int", default=120),
    )
    module = PartnerCenterModule(
        argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("object_id", "app_id", "unique_name", "app_display_name"), ("expires_in", "end_date_time"), ("dest", "store")],
        required_one_of=[("object_id", "app_id", "unique_name", "app_display_name")],
        required_if=[("state", "present", ["display_name"]), ("state", "absent", ["display_name", "key_id"], True)],
        # The new secret's value, once, when there is no dest (documented: use no_log).
        reveal=("secret_text",),
    )
    module.run(run_pc_app_secret)


if __name__ == "__main__":
    main()
