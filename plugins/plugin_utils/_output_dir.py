# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Where the collection's playbooks and roles write local files: the rule of the lookup output_dir.

Free of ansible-core's controller imports, so that its unit tests run beside the modules' (importing
the controller changes how ansible-core's module code reports warnings in that process).
"""

from __future__ import annotations

import os
import typing as t


class OutputPathError(ValueError):
    """A path the playbooks must not write to, or no path at all."""


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
        raise OutputPathError("output_dir needs a path (relative to the output folder, or absolute); it got an empty one.")
    path = os.path.normpath(os.path.join(output_folder(variables), os.path.expanduser(str(term))))
    collection = installed_collection(path)
    if collection is not None:
        raise OutputPathError(
            "%s is inside the installed collection %s, which installing or upgrading it wipes. Write outputs "
            "elsewhere: set pc_output_dir (for example -e pc_output_dir=$PWD), use an inventory file in your own "
            "folder (its folder is used), or run ansible-playbook from your own folder." % (path, collection))
    return path
