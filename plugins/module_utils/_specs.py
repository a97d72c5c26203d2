# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Argument specs that several modules share, importable without loading any client code.

Each spec is documented by a doc fragment (named next to it); the unit tests in
tests/unit/plugins/doc_fragments keep the two in agreement. This file imports nothing but typing.
"""

from __future__ import annotations

import typing as t

# The options that designate one existing application, for the modules that act on one
# (pc_aad_permissions, pc_register_webapp, pc_aad_app_info); documented by the doc fragment
# target_application. pc_app_secret names the last one app_display_name (its display_name is the
# secret's) and writes its spec out.
TARGET_APPLICATION_SPEC: dict[str, dict[str, t.Any]] = {
    "object_id": {"type": "str"},
    "app_id": {"type": "str"},
    "unique_name": {"type": "str"},
    "display_name": {"type": "str"},
}
TARGET_APPLICATION_MUTUALLY_EXCLUSIVE = [("object_id", "app_id", "unique_name", "display_name")]
TARGET_APPLICATION_REQUIRED_ONE_OF = [("object_id", "app_id", "unique_name", "display_name")]

STORE_TYPES = ("file", "azure_key_vault", "hashi_vault")
# Suboptions of the ``store`` option (and of webapp_secret_store), shared by the modules that read a store;
# documented by the doc fragment secret_store (STORE and WEBAPP).
STORE_OPTION_SPEC: dict[str, t.Any] = dict(
    type=dict(type="str", required=True, choices=list(STORE_TYPES)),
    path=dict(type="str"),
    vault_url=dict(type="str"),
    secret_name=dict(type="str"),
    url=dict(type="str"),
    engine_mount_point=dict(type="str", default="secret"),
    auth_method=dict(type="str", default="token", choices=["token", "approle"]),
    token=dict(type="str", no_log=True),
    role_id=dict(type="str"),
    secret_id=dict(type="str", no_log=True),
    namespace=dict(type="str"),
    ca_cert=dict(type="path", aliases=["ca_bundle"]),
)

# The web app's own credentials, with which pc_register_webapp and pc_aad_app_info ask Partner Center
# as the web app; documented by the doc fragments webapp_credentials and secret_store.webapp. At most
# one of WEBAPP_CREDENTIALS is given.
WEBAPP_CREDENTIAL_SPEC: dict[str, dict[str, t.Any]] = dict(
    webapp_client_secret=dict(type="str", no_log=True),
    webapp_secret_file=dict(type="path"),
    webapp_secret_store=dict(type="dict", options=STORE_OPTION_SPEC, no_log=False),
    webapp_certificate_path=dict(type="path"),
    webapp_certificate_password=dict(type="str", no_log=True),
)
WEBAPP_CREDENTIALS = ("webapp_client_secret", "webapp_secret_file", "webapp_secret_store", "webapp_certificate_path")
