# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Credential expiry: the end date, whole days to expiry, validity within the clock skew."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _expiry
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._timestamps import format_datetime, parse_datetime

DAY = 86400


def iso(seconds):
    return format_datetime(seconds)


NOW = parse_datetime("2026-06-01T00:00:00Z")


@pytest.mark.parametrize("start, end, valid", [
    ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", True),
    ("2026-01-01T00:00:00Z", "2026-05-31T23:59:59Z", False),     # expired
    ("2026-06-01T00:04:00Z", "2027-01-01T00:00:00Z", True),      # starts within the 5-minute clock skew
    ("2026-06-02T00:00:00Z", "2027-01-01T00:00:00Z", False),     # not yet valid
    (None, None, True),
    ("2026-01-01T00:00:00.1234567Z", "2027-01-01T00:00:00.1234567Z", True),  # Graph's 7 fraction digits
])
def test_validity_window(start, end, valid):
    assert _expiry.valid_now({"startDateTime": start, "endDateTime": end}, NOW) is valid


def test_expiry_boundary_and_days_to_expiry():
    assert _expiry.is_expired({"endDateTime": iso(NOW)}, NOW) is True
    assert _expiry.is_expired({"endDateTime": iso(NOW + 1)}, NOW) is False
    assert _expiry.is_expired({}, NOW) is True  # no end date: treated as expired
    assert _expiry.days_to_expiry({"endDateTime": iso(NOW + 30 * DAY - 1)}, NOW) == 29
    assert _expiry.days_to_expiry({"endDateTime": iso(NOW + 30 * DAY)}, NOW) == 30
    assert _expiry.days_to_expiry({"endDateTime": iso(NOW - 1)}, NOW) == -1
