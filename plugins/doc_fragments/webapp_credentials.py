# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The web app's own credentials, with which a module asks Partner Center as the web app.

pc_register_webapp and pc_aad_app_info take them; their argument spec is
module_utils/_specs.WEBAPP_CREDENTIAL_SPEC. The store option, webapp_secret_store, is documented by the
fragment secret_store.webapp (its suboptions are those of pc_app_secret's store).
"""

from __future__ import annotations


class ModuleDocFragment:
    """webapp_client_secret, webapp_secret_file, webapp_certificate_path and webapp_certificate_password."""

    DOCUMENTATION = r"""
options:
  webapp_client_secret:
    description:
      - A client secret of the designated web app itself, used to ask Partner Center as the web app whether it is
        registered.
    type: str
  webapp_secret_file:
    description:
      - The file that M(partnercenter.national_cloud.pc_app_secret) wrote with O(partnercenter.national_cloud.pc_app_secret#module:dest),
        instead of O(webapp_client_secret). Its secret is used without the value passing through Ansible variables, and its
        key is the one whose validity is checked.
    type: path
  webapp_certificate_path:
    description:
      - A certificate of the web app (PEM with private key, or PFX), instead of a secret.
    type: path
  webapp_certificate_password:
    description:
      - Password of O(webapp_certificate_path).
    type: str
"""
