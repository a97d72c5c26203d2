# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options that designate one existing application (app registration).

Their argument spec is module_utils/_specs.TARGET_APPLICATION_SPEC. pc_app_secret takes this fragment
too, but its display_name is the secret's name: it overrides that entry and documents the application's
display name as app_display_name, in this fragment's words (tests/unit/plugins/doc_fragments/test_target_application.py).
"""

from __future__ import annotations


class ModuleDocFragment:
    """Exactly one of object_id, app_id, unique_name or display_name."""

    DOCUMENTATION = r"""
options:
  object_id:
    description:
      - Object ID of the application (its C(id)).
    type: str
  app_id:
    description:
      - Application (client) ID of the application.
    type: str
  unique_name:
    description:
      - Unique name of the application (see M(partnercenter.national_cloud.pc_aad_app)).
    type: str
  display_name:
    description:
      - Exact display name of the application. More than one application with this name is an error that lists them.
      - Exactly one of O(object_id), O(app_id), O(unique_name) and O(display_name) designates the application.
    type: str
"""
