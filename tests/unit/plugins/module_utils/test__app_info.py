# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_aad_app_info helpers: credential status and the findings of an audit."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _app_info
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._timestamps import parse_datetime

NOW = parse_datetime("2026-06-01T00:00:00Z")


@pytest.mark.parametrize("start, end, status, days", [
    ("2026-01-01T00:00:00Z", "2027-06-01T00:00:00Z", "valid", 365),
    ("2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z", "valid", 30),       # exactly 30 days left: not "within 30"
    ("2026-01-01T00:00:00Z", "2026-06-30T23:00:00Z", "expiring", 29),
    ("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "expired", 0),
    ("2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "expired", -151),
    ("2026-07-01T00:00:00Z", "2027-07-01T00:00:00Z", "not_yet_valid", 395),
    (None, None, "valid", None),
])
def test_credential_status(start, end, status, days):
    credential = {"keyId": "k", "displayName": "Partner Center", "hint": "abc", "startDateTime": start, "endDateTime": end,
                  "secretText": "never returned"}
    found = _app_info.credential_status(credential, NOW, 30)
    assert (found["status"], found["days_to_expiry"]) == (status, days)
    assert "never returned" not in str(found)


def audit_entry(**changes):
    entry = {"consent_missing": [], "drift": None, "secrets": [], "certificates": [], "service_principal_id": "sp",
             "partner_center": None, "permissions": []}
    entry.update(changes)
    return entry


def test_no_findings():
    assert _app_info.problems(audit_entry()) == []


def test_each_finding_is_one_line():
    entry = audit_entry(
        consent_missing=["Microsoft Graph: User.Read (delegated)"],
        drift={"missing": ["Microsoft Graph: Directory.Read.All (application)"], "extra": ["X: y (delegated)"]},
        secrets=[{"display_name": "Partner Center", "key_id": "k1", "status": "expiring", "days_to_expiry": 12},
                 {"display_name": "old", "key_id": "k2", "status": "expired", "days_to_expiry": -3},
                 {"display_name": "fine", "key_id": "k3", "status": "valid", "days_to_expiry": 200}],
        service_principal_id=None, partner_center={"registered": False, "detail": None})
    assert _app_info.problems(entry) == [
        "consent missing: Microsoft Graph: User.Read (delegated)",
        "permission missing: Microsoft Graph: Directory.Read.All (application)",
        "permission not expected: X: y (delegated)",
        "secret 'Partner Center' (k1) expires in 12 days",
        "secret 'old' (k2) expired",
        "no service principal",
        "not registered in Partner Center",
    ]


def test_a_registration_not_checked_is_a_finding_with_its_reason():
    unchecked = {"registered": None, "checked": False, "detail": "file /s/w.json does not exist"}
    assert _app_info.problems(audit_entry(partner_center=unchecked)) == [
        "Partner Center registration not checked: file /s/w.json does not exist"]


def test_consent_that_could_not_be_read_is_a_finding():
    permissions = [{"api": "Microsoft Graph", "value": "User.Read", "id": "e1", "type": "delegated", "consented": None},
                   {"api": "Microsoft Graph", "value": "Group.Read.All", "id": "e2", "type": "delegated", "consented": True}]
    found = _app_info.problems(audit_entry(permissions=permissions))
    assert len(found) == 1 and found[0].startswith("consent not checked: ")
    assert "Microsoft Graph: User.Read (delegated)" in found[0] and "Group.Read.All" not in found[0]
    # Without a service principal there is no consent to read: that finding is "no service principal".
    assert _app_info.problems(audit_entry(permissions=permissions, service_principal_id=None)) == ["no service principal"]
