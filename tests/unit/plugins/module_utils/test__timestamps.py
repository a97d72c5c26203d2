# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Date-times: RFC 3339 / ISO 8601 forms read to epoch seconds, Graph's format written."""

from __future__ import annotations

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-09-09T19:50:29Z", "2021-09-09T19:50:29Z"),
        ("2021-09-09T19:50:29.3086381Z", "2021-09-09T19:50:29Z"),
        ("2021-09-09T19:50:29", "2021-09-09T19:50:29Z"),
        ("2021-09-09 19:50", "2021-09-09T19:50:00Z"),
        ("2021-09-09", "2021-09-09T00:00:00Z"),
        ("2021-09-09T21:50:29+02:00", "2021-09-09T19:50:29Z"),
        ("2021-09-09T14:50:29-0500", "2021-09-09T19:50:29Z"),
        ("2021-09-09t19:50:29z", "2021-09-09T19:50:29Z"),
    ],
)
def test_parse_datetime(text, expected):
    assert _timestamps.format_datetime(_timestamps.parse_datetime(text)) == expected


@pytest.mark.parametrize("text", ["", "tomorrow", "2021-13-01", "2021-02-30", "09/09/2021", None, 5, "2021-09-09T25:00:00Z"])
def test_parse_datetime_rejects(text):
    assert _timestamps.parse_datetime(text) is None


def test_parse_datetime_keeps_fractions():
    assert _timestamps.parse_datetime("2021-09-09T19:50:29.5Z") == _timestamps.parse_datetime("2021-09-09T19:50:29Z") + 0.5


@pytest.mark.parametrize("value, expected", [("2021-09-09T19:50:29Z", 1631217029.0), ("2021-09-09T19:50:29.3086381Z", 1631217029.308638),
                                             ("2021-09-09T19:50:29+00:00", 1631217029.0), ("", None), (None, None), ("soon", None)])
def test_parse_datetime_gives_epoch_seconds(value, expected):
    assert _timestamps.parse_datetime(value) == expected


# -------------------------------------------------------------------------------------------------
# Date-times: RFC 3339 / ISO 8601 extended forms only (issue 14)
# -------------------------------------------------------------------------------------------------

EPOCH_2027 = 1813017600.0  # 2027-06-15T00:00:00Z


@pytest.mark.parametrize("value, expected", [
    ("2027-06-15", EPOCH_2027),
    ("2027-06-15T00:00:00Z", EPOCH_2027),
    ("2027-06-15t00:00:00z", EPOCH_2027),  # RFC 3339 5.6: "T" and "Z" may be lower case
    ("2027-06-15 00:00:00Z", EPOCH_2027),  # RFC 3339 5.6 note: a space instead of "T"
    ("2027-06-15T00:00Z", EPOCH_2027),  # ISO 8601 without seconds
    ("2027-06-15T02:00:00+02:00", EPOCH_2027),
    ("2027-06-14T23:00:00-01:00", EPOCH_2027),
    ("2027-06-15T23:59:00+23:59", EPOCH_2027),
    ("2027-06-15T02:00:00+0200", EPOCH_2027),  # ISO 8601 basic offset
    ("2027-06-15T00:00:00.5Z", EPOCH_2027 + 0.5),
    ("2016-12-31T23:59:60Z", 1483228800.0),  # RFC 3339 5.7: a leap second
    ("  2027-06-15T00:00:00Z\n", EPOCH_2027),  # surrounding whitespace of a YAML value
])
def test_parse_datetime_accepts_rfc3339_and_iso_forms(value, expected):
    assert _timestamps.parse_datetime(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [
    "2027-06-15T00:00:00+25:00",  # offset hours 00-23 (RFC 3339 5.6 time-numoffset = time-hour ":" time-minute)
    "2027-06-15T00:00:00+24:00",
    "2027-06-15T00:00:00-99:00",
    "2027-06-15T00:00:00+01:60",  # offset minutes 00-59
    "2027-06-15T00:00:00+0160",
    "2027-06-15T24:00:00Z",
    "2027-06-15T12:60:00Z",
    "2027-06-15T12:00:61Z",
    "2027-06-15T12:00:60Z",  # 60 only at the end of a day (a leap second)
    "2027-13-01",
    "2027-02-30",
    "2027-06-15T00:00:00 Z",  # no space before the offset
    "2027-06-15T00:00:00 +01:00",
    "2027-06-15Z",  # a zone needs a time
    "2027-06-15+01:00",
    "2027-06-15T00:00:00+01",
    "2027-06-15T0:00:00Z",
    "2027-06-15T00:00:00.Z",
    "\u0662\u0660\u0662\u0667-06-15",  # non-ASCII digits (\d matches them, int() reads them)
    "2027-06-15T00:00:00Z\nx",
    "20270615",
])
def test_parse_datetime_refuses_what_rfc3339_and_iso_do_not_allow(value):
    assert _timestamps.parse_datetime(value) is None
