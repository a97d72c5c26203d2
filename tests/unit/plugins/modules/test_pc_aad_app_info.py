# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_aad_app_info's return docs: what it reports as pc_aad_permissions does is documented once, there."""

from __future__ import annotations

import yaml

from ansible_collections.partnercenter.national_cloud.plugins.modules import pc_aad_app_info, pc_aad_permissions


def test_application_entries_use_the_words_and_shapes_of_pc_aad_permissions():
    entry = yaml.safe_load(pc_aad_app_info.RETURN)["applications"]["contains"]
    permissions = yaml.safe_load(pc_aad_permissions.RETURN)
    for name in ("app_id", "object_id"):
        assert entry[name]["description"] == permissions[name]["description"], name
    assert permissions["service_principal_id"]["description"][0].startswith(entry["service_principal_id"]["description"][:-1])
    assert "RV(partnercenter.national_cloud.pc_aad_permissions#module:permissions)" in " ".join(entry["permissions"]["description"])
    assert "contains" not in entry["permissions"] and set(permissions["permissions"]["contains"]) == {
        "api", "api_app_id", "value", "id", "type", "display_name", "consented"}
