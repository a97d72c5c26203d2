# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Consent planning: the AllPrincipals grant's scope and the app role assignments, exact and merge."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _consent as consent
from tests.unit.plugins.module_utils.test__api_catalogue import DIR_READ_ROLE, GROUP_READ_ROLE


# -------------------------------------------------------------------------------------------------
# Consent planning
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "desired", "mode", "action", "after", "added", "removed"),
    [
        (None, ["User.Read", "Group.Read.All"], "exact", "create", ["User.Read", "Group.Read.All"], ["User.Read", "Group.Read.All"], []),
        (None, [], "exact", "none", [], [], []),
        ("User.Read Group.Read.All", ["Group.Read.All", "User.Read"], "exact", "none", ["User.Read", "Group.Read.All"], [], []),
        ("user.read  User.Read", ["User.Read"], "exact", "none", ["user.read"], [], []),
        ("User.Read Group.Read.All openid", ["User.Read"], "exact", "update", ["User.Read"], [], ["Group.Read.All", "openid"]),
        ("User.Read", ["User.Read", "Directory.Read.All"], "exact", "update", ["User.Read", "Directory.Read.All"], ["Directory.Read.All"], []),
        ("User.Read openid", ["Group.Read.All"], "merge", "update", ["User.Read", "openid", "Group.Read.All"], ["Group.Read.All"], []),
        ("User.Read openid", ["User.Read"], "merge", "none", ["User.Read", "openid"], [], []),
        ("User.Read", [], "exact", "delete", [], [], ["User.Read"]),
        ("", [], "exact", "none", [], [], []),
        ("", ["User.Read"], "exact", "update", ["User.Read"], ["User.Read"], []),
        ("User.Read", [], "merge", "none", ["User.Read"], [], []),
    ],
)
def test_plan_grant(current, desired, mode, action, after, added, removed):
    plan = consent.plan_grant(current, desired, mode)
    assert (plan.action, plan.after, plan.added, plan.removed) == (action, after, added, removed)
    assert plan.scope == " ".join(after)


def test_plan_assignments():
    current = {DIR_READ_ROLE: ["a1"], GROUP_READ_ROLE: ["a2"]}
    assert consent.plan_assignments(current, [DIR_READ_ROLE.upper()], "exact") == ([], [(GROUP_READ_ROLE, "a2")])
    assert consent.plan_assignments(current, [DIR_READ_ROLE], "merge") == ([], [])
    new = "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"
    assert consent.plan_assignments(current, [new, new], "merge") == ([new], [])
    assert consent.plan_assignments({}, [new], "exact") == ([new], [])
