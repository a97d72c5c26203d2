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

import os
import typing as t

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

MANIFEST = "MANIFEST.json"


def output_folder(variables: t.Mapping[str, t.Any]) -> str:
    """pc_output_dir, else the host's inventory folder, else the current directory (absolute)."""
    chosen = variables.get("pc_output_dir")
    if chosen:
        return os.path.abspath(os.path.expanduser(str(chosen)))
    # inventory_dir is None (which reaches lookups as "None") for a host list given inline (-i 'a,b'), and
    # undefined for the implicit localhost: those have no inventory folder.
    inventory_dir = variables.get("inventory_dir")
    if inventory_dir not in (None, "", "None") and os.path.isabs(str(inventory_dir)) and os.path.isdir(str(inventory_dir)):
        return str(inventory_dir)
    return os.getcwd()


def installed_collection(path: str) -> str | None:
    """The installed collection folder that holds ``path`` (or is it), if any.

    An installed collection is ``.../ansible_collections/<namespace>/<name>`` with a MANIFEST.json, which
    ``ansible-galaxy collection install`` writes and a source checkout does not have.
    """
    parts = os.path.realpath(path).split(os.sep)
    for index in range(len(parts) - 3, -1, -1):
        if parts[index] == "ansible_collections":
            root = os.sep.join(parts[:index + 3])
            if os.path.isfile(os.path.join(root, MANIFEST)):
                return root
    return None


def resolve_output(term: str, variables: t.Mapping[str, t.Any]) -> str:
    """The absolute path of one output; refused inside an installed collection."""
    if not term or not str(term).strip():
        raise AnsibleLookupError("output_dir needs a path (relative to the output folder, or absolute); it got an empty one.")
    path = os.path.normpath(os.path.join(output_folder(variables), os.path.expanduser(str(term))))
    collection = installed_collection(path)
    if collection is not None:
        raise AnsibleLookupError(
            "%s is inside the installed collection %s, which installing or upgrading it wipes. Write outputs "
            "elsewhere: set pc_output_dir (for example -e pc_output_dir=$PWD), use an inventory file in your own "
            "folder (its folder is used), or run ansible-playbook from your own folder." % (path, collection))
    return path


class LookupModule(LookupBase):
    """See DOCUMENTATION."""

    def run(self, terms: list[t.Any], variables: dict[str, t.Any] | None = None, **kwargs: t.Any) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        return [resolve_output(term, variables or {}) for term in terms]
