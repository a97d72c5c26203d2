# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup output_dir: where the collection's playbooks and roles write their local files."""

from __future__ import annotations

DOCUMENTATION = r"""
name: output_dir
author: Partner Center National Cloud contributors (@partnercenter)
version_added: 0.1.0
short_description: Where the shipped playbooks and roles write their local files
description:
  - Returns the absolute path of each local output of the collection's playbooks and roles (secret files of the file
    store, audit reports), under one folder, the B(output folder). It is the variable C(pc_output_dir) when that is set
    (a relative C(pc_output_dir) is taken from the current directory), else the folder of the host's inventory file
    (C(inventory_dir)), else the current directory of C(ansible-playbook).
  - A relative path is taken from the output folder; an absolute path is returned as it is.
  - A path inside an installed collection (a folder C(ansible_collections/<namespace>/<name>) with a C(MANIFEST.json)) is
    refused, whichever way it was given, because installing or upgrading that collection wipes it. This is what keeps
    C(ansible-playbook partnercenter.national_cloud.rollout) from writing into its own install folder.
options:
  _terms:
    description: Paths of outputs, relative to the output folder or absolute.
    type: list
    elements: path
    required: true
notes:
  - The playbooks run by name from an installed collection have no folder of their own to write to. Give them an
    inventory file (its folder is used), run them from the folder that should hold the outputs, or set C(pc_output_dir).
"""

EXAMPLES = r"""
- name: Where the web app role keeps this tenant's secret file by default
  ansible.builtin.debug:
    msg: "{{ lookup('partnercenter.national_cloud.output_dir', 'secrets/' ~ inventory_hostname ~ '-partner-center-web.json') }}"

- name: The audit report folder, next to the inventory unless pc_output_dir says otherwise
  ansible.builtin.debug:
    msg: "{{ lookup('partnercenter.national_cloud.output_dir', 'partner-center-audit') }}"
"""

RETURN = r"""
_raw:
  description: The absolute path of each term, in order.
  type: list
  elements: path
"""

import typing as t

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.partnercenter.national_cloud.plugins.plugin_utils._output_dir import OutputPathError, resolve_output


class LookupModule(LookupBase):
    """See DOCUMENTATION."""

    def run(self, terms: list[t.Any], variables: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        try:
            return [resolve_output(term, variables or {}) for term in terms]
        except OutputPathError as exc:
            raise AnsibleLookupError(str(exc)) from None
