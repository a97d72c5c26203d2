# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The app management policy: ISO 8601 durations, which restrictions apply, violations in the policy's words."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _secret_policy as sec
from tests.unit.plugins.module_utils.secret_helpers import DAY, policy


@pytest.mark.parametrize(
    ("text", "days"),
    [("P90D", 90), ("P1Y", 365), ("P2W", 14), ("P1M", 30), ("P1Y6M", 545), ("PT12H", 0.5), ("p30d", 30), ("P1DT12H", 1.5)],
)
def test_parse_duration(text, days):
    assert sec.parse_duration(text) == days * DAY


@pytest.mark.parametrize("text", ["P", "PT", "90D", "P-1D", "", None, "P1.5D"])
def test_parse_duration_rejects(text):
    assert sec.parse_duration(text) is None


# -------------------------------------------------------------------------------------------------
# App management policy
# -------------------------------------------------------------------------------------------------

APP = {"id": "obj", "appId": "app", "createdDateTime": "2024-05-01T00:00:00Z"}


def test_restrictions_apply_by_creation_date_state_and_enablement():
    block = {"restrictionType": "passwordAddition", "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"}
    assert sec.applicable_restrictions(policy(block), APP) == [block]
    assert sec.applicable_restrictions(policy(block, enabled=False), APP) == []
    assert sec.applicable_restrictions(None, APP) == []
    later = dict(block, restrictForAppsCreatedAfterDateTime="2025-01-01T00:00:00Z")
    assert sec.applicable_restrictions(policy(later), APP) == []
    assert sec.applicable_restrictions(policy(dict(block, state="disabled")), APP) == []
    assert sec.applicable_restrictions(policy(dict(block, state="enabled")), APP) == [dict(block, state="enabled")]
    no_date = {"restrictionType": "passwordAddition"}
    assert sec.applicable_restrictions(policy(no_date), APP) == [no_date]
    assert sec.applicable_restrictions(policy(later), {"id": "x"}) == [later]  # unknown creation date: applies
    # Exactly at the date: applies (created after or at).
    at = dict(block, restrictForAppsCreatedAfterDateTime=APP["createdDateTime"])
    assert sec.applicable_restrictions(policy(at), APP) == [at]


def test_violations_in_the_policys_words():
    block = {"restrictionType": "passwordAddition", "restrictForAppsCreatedAfterDateTime": "2019-01-01T00:00:00Z"}
    [text] = sec.policy_violations(policy(block), APP, 365 * DAY, "expires_in 1y")
    assert "passwordAddition" in text and "2019-01-01T00:00:00Z" in text and "Default app management tenant policy" in text
    cap = {"restrictionType": "passwordLifetime", "maxLifetime": "P90D"}
    [text] = sec.policy_violations(policy(cap), APP, 365 * DAY, "expires_in 1y")
    assert "maxLifetime P90D (90 days)" in text and "passwordLifetime" in text and "expires_in 1y (365 days)" in text
    assert sec.policy_violations(policy(cap), APP, 90 * DAY, "expires_in 90d") == []  # exactly the cap is allowed
    assert sec.policy_violations(policy(cap), APP, 90 * DAY + 1, "x") != []
    assert sec.policy_violations(policy({"restrictionType": "passwordLifetime", "maxLifetime": "junk"}), APP, DAY, "x") == []
    assert sec.policy_violations(policy({"restrictionType": "symmetricKeyAddition"}), APP, DAY, "x") == []
    assert sec.policy_violations(policy(block, cap), APP, 365 * DAY, "x")[1].startswith("The tenant's app management policy")
