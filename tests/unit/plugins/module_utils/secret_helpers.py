# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared by the tests of pc_app_secret's files: a fixed now, credentials relative to it, a policy."""

from __future__ import annotations

from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secret_stores import PendingAddition
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._timestamps import format_datetime

DAY = 86400
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NAME = "Partner Center"
TENANT = "11111111-2222-3333-4444-555555555555"
VALUE = "abc8Q~held-value"  # what a record holds for cred(): it starts with cred()'s hint


def iso(seconds):
    return format_datetime(seconds)


def cred(key="k", name=NAME, start=-300, end=100, hint="abc"):
    """A passwordCredential starting/ending ``start``/``end`` days from NOW."""
    return {
        "keyId": key,
        "displayName": name,
        "hint": hint,
        "startDateTime": iso(NOW + start * DAY),
        "endDateTime": iso(NOW + end * DAY),
        "customKeyIdentifier": None,
        "secretText": None,
    }


def policy(*restrictions, enabled=True):
    return {
        "id": "00000000-0000-0000-0000-000000000000",
        "displayName": "Default app management tenant policy",
        "isEnabled": enabled,
        "applicationRestrictions": {"passwordCredentials": list(restrictions)},
    }


def addition_of(credential):
    """The pending addition that asked addPassword for ``credential``."""
    return PendingAddition(credential["displayName"], credential["startDateTime"], credential["endDateTime"])
