# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Date-times: reading RFC 3339 / ISO 8601 dates and writing Graph's format, in epoch seconds.

Graph's credentials, the store's records and the user's ``end_date_time`` all carry such dates;
every module_utils file reads and writes them through these two functions.
"""

from __future__ import annotations

import datetime
import re
import typing as t

# An RFC 3339 date-time (https://www.rfc-editor.org/rfc/rfc3339#section-5.6), or the ISO 8601 forms the
# docs also promise: a date alone (midnight UTC), no seconds, no offset (UTC), a basic offset (+hhmm).
# ASCII digits only (``\d`` would match other scripts' digits, which int() reads), "T" or a space
# between date and time, no space before the offset, an offset only after a time. Graph sends up to
# 7 fractional digits. Ranges (offset hours 00-23, minutes 00-59, ...) are checked in parse_datetime.
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?([Zz]|[+-][0-9]{2}:?[0-9]{2})?)?"
)


def parse_datetime(value: t.Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 / ISO 8601 date or date-time, or None when it is not one.

    UTC unless an offset is given. Accepts Graph's 7 fractional digits
    (``2021-09-09T19:50:29.3086381Z``), a date alone (midnight UTC) and a leap second (``23:59:60``
    at the end of a UTC day, RFC 3339 section 5.7). Refuses offsets beyond 23:59 (``+25:00``) and
    every field out of its range.
    """
    if not isinstance(value, str):
        return None
    match = _DATETIME.fullmatch(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    shift = 0
    if offset and offset.upper() != "Z":
        digits = offset[1:].replace(":", "")
        if len(digits) != 4 or int(digits[:2]) > 23 or int(digits[2:]) > 59:
            return None
        shift = (-1 if offset[0] == "-" else 1) * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    leap = second == "60"
    try:
        moment = datetime.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), 59 if leap else int(second or 0),
            tzinfo=datetime.timezone.utc,
        )
    except ValueError:
        return None
    seconds = moment.timestamp() - shift
    if leap:
        if datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).time() != datetime.time(23, 59, 59):
            return None
        seconds += 1
    return seconds + (float("0." + fraction) if fraction else 0.0)


def format_datetime(seconds: float) -> str:
    """Graph's date-time format, to the second: ``2026-01-01T00:00:00Z``."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
