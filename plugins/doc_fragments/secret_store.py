# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The secret store option: where a client secret's value and its record are kept.

pc_app_secret writes it (``store``); pc_register_webapp and pc_aad_app_info read the web app's secret
from it (``webapp_secret_store``). ansible-test reads doc fragments as plain string literals, so the
suboptions are written out in both; a unit test (test_secret_store_fragment) keeps them identical.
"""

from __future__ import annotations


class ModuleDocFragment:
    """``store`` (pc_app_secret) and ``webapp_secret_store`` (the modules that read the web app's secret)."""

    STORE = r"""
options:
  store:
    description:
      - Where the secret's value and its record are kept, instead of O(dest). The store is read before anything is written,
        and an unreachable store or one that refuses the write fails before a secret is created (a secret created just
        before a refused write is removed again, as its value could not be kept).
      - Stores shared by several runners do not take turns through a lock; a run that finds another runner adding a secret
        through the same store waits for it (up to C(lock_timeout)) and then uses what it stored, so two runners at once
        create one secret.
      - "V(file): a local file, as O(dest) (C(path))."
      - "V(azure_key_vault): secret C(secret_name) of the vault C(vault_url) in the tenant's own cloud, reached
        with the module's credentials and a token for that cloud's Key Vault resource. Its latest version holds the value,
        the record (app id, key id, tenant, cloud, dates) in its tags, the expiry in C(exp); additions are claimed in a
        second secret, C(<secret_name>-claims), so that readers of C(secret_name) only ever see values. Needs the
        secrets get, list and set permissions (a Key Vault Secrets Officer role assignment, or an access policy)."
      - "V(hashi_vault): a KV version 2 secret of an OpenBao or HashiCorp Vault server; the value and the record in its data
        (written with check-and-set), a summary in its custom metadata."
    type: dict

    suboptions:
      type:
        description: The kind of store.
        type: str
        required: true
        choices: [file, azure_key_vault, hashi_vault]
      path:
        description:
          - V(file) - path of the file, as C(dest) of M(partnercenter.national_cloud.pc_app_secret).
          - V(hashi_vault) - path of the secret below the engine's mount point, for example C(partner-center/contoso-web).
        type: str
      vault_url:
        description:
          - V(azure_key_vault) - the vault's URL, such as C(https://contoso-pc.vault.usgovcloudapi.net). A vault of another
            cloud than the tenant's is refused.
        type: str
      secret_name:
        description:
          - V(azure_key_vault) - name of the secret (letters, digits and hyphens, at most 120).
        type: str
      url:
        description:
          - V(hashi_vault) - URL of the server. Defaults to the environment variable E(VAULT_ADDR).
        type: str
      engine_mount_point:
        description: V(hashi_vault) - mount point of the KV version 2 secrets engine.
        type: str
        default: secret
      auth_method:
        description: V(hashi_vault) - how to sign in.
        type: str
        choices: [token, approle]
        default: token
      token:
        description: V(hashi_vault) - token for C(auth_method=token). Defaults to the environment variable E(VAULT_TOKEN).
        type: str
      role_id:
        description: V(hashi_vault) - role ID for C(auth_method=approle).
        type: str
      secret_id:
        description: V(hashi_vault) - secret ID for C(auth_method=approle).
        type: str
      namespace:
        description: V(hashi_vault) - namespace (Vault Enterprise, OpenBao). Defaults to the environment variable E(VAULT_NAMESPACE).
        type: str
      ca_cert:
        description: V(hashi_vault) - CA bundle that signs the server's certificate.
        type: path
        aliases: [ca_bundle]
"""

    WEBAPP = r"""
options:
  webapp_secret_store:
    description:
      - The store that M(partnercenter.national_cloud.pc_app_secret) keeps the web app's secret in (its option
        O(partnercenter.national_cloud.pc_app_secret#module:store)), instead of O(webapp_client_secret). Its value is used
        without passing through Ansible variables, and its key is the one whose validity is checked.
    type: dict

    suboptions:
      type:
        description: The kind of store.
        type: str
        required: true
        choices: [file, azure_key_vault, hashi_vault]
      path:
        description:
          - V(file) - path of the file, as C(dest) of M(partnercenter.national_cloud.pc_app_secret).
          - V(hashi_vault) - path of the secret below the engine's mount point, for example C(partner-center/contoso-web).
        type: str
      vault_url:
        description:
          - V(azure_key_vault) - the vault's URL, such as C(https://contoso-pc.vault.usgovcloudapi.net). A vault of another
            cloud than the tenant's is refused.
        type: str
      secret_name:
        description:
          - V(azure_key_vault) - name of the secret (letters, digits and hyphens, at most 120).
        type: str
      url:
        description:
          - V(hashi_vault) - URL of the server. Defaults to the environment variable E(VAULT_ADDR).
        type: str
      engine_mount_point:
        description: V(hashi_vault) - mount point of the KV version 2 secrets engine.
        type: str
        default: secret
      auth_method:
        description: V(hashi_vault) - how to sign in.
        type: str
        choices: [token, approle]
        default: token
      token:
        description: V(hashi_vault) - token for C(auth_method=token). Defaults to the environment variable E(VAULT_TOKEN).
        type: str
      role_id:
        description: V(hashi_vault) - role ID for C(auth_method=approle).
        type: str
      secret_id:
        description: V(hashi_vault) - secret ID for C(auth_method=approle).
        type: str
      namespace:
        description: V(hashi_vault) - namespace (Vault Enterprise, OpenBao). Defaults to the environment variable E(VAULT_NAMESPACE).
        type: str
      ca_cert:
        description: V(hashi_vault) - CA bundle that signs the server's certificate.
        type: path
        aliases: [ca_bundle]
"""
