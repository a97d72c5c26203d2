# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Credential expiry: a secret's or certificate's dates, whole days to expiry, and its status.

One set of rules for every module that decides on or reports a credential's validity (pc_app_secret,
pc_aad_app_info, pc_register_webapp):

- a credential is expired from its end date on (sign-in fails with AADSTS7000222);
- one whose start is at most ``CLOCK_SKEW_SECONDS`` ahead counts as started: the identity
  platform's clock and this host's differ;
- days to expiry are whole days, rounded down (negative once expired).

Graph always sends both dates of a credential. Should one be missing, pc_app_secret's planning
treats the credential as ended (:func:`credential_end` is 0: it is never kept as the current
secret), while :func:`valid_now` and :func:`expiry_status` (reports) treat it as having no known
start or end.
"""

from __future__ import annotations

import math
import typing as t

from ._timestamps import parse_datetime

DAY = 86400.0
CLOCK_SKEW_SECONDS = 300.0


def whole_days(seconds: float) -> int:
    """Whole days in ``seconds``, rounded down (``-1`` for a second ago)."""
    return int(math.floor(seconds / DAY))


def credential_start(credential: t.Mapping[str, t.Any]) -> float:
    """The start date in epoch seconds; 0 when it is missing."""
    value = parse_datetime(credential.get("startDateTime"))
    return value if value is not None else 0.0


def credential_end(credential: t.Mapping[str, t.Any]) -> float:
    """The end date in epoch seconds; 0 when it is missing (an ended credential)."""
    value = parse_datetime(credential.get("endDateTime"))
    return value if value is not None else 0.0


def is_expired(credential: t.Mapping[str, t.Any], now: float) -> bool:
    """A secret is expired from its end date on (sign-in fails with AADSTS7000222)."""
    return credential_end(credential) <= now


def days_to_expiry(credential: t.Mapping[str, t.Any], now: float) -> int:
    """Whole days until the end date (negative once expired)."""
    return whole_days(credential_end(credential) - now)


def valid_now(credential: t.Mapping[str, t.Any], now: float) -> bool:
    """Whether the credential signs in now: started (within the clock skew) and not ended."""
    start, end = parse_datetime(credential.get("startDateTime")), parse_datetime(credential.get("endDateTime"))
    return (start is None or start <= now + CLOCK_SKEW_SECONDS) and (end is None or end > now)


def expiry_status(credential: t.Mapping[str, t.Any], now: float, expiry_days: int) -> tuple[int | None, str]:
    """Whole days to expiry (None without an end date) and ``expired``, ``not_yet_valid``,
    ``expiring`` (fewer than ``expiry_days`` left) or ``valid``."""
    start, end = parse_datetime(credential.get("startDateTime")), parse_datetime(credential.get("endDateTime"))
    days = None if end is None else whole_days(end - now)
    if end is not None and end <= now:
        status = "expired"
    elif start is not None and start > now + CLOCK_SKEW_SECONDS:
        status = "not_yet_valid"
    elif days is not None and days < expiry_days:
        status = "expiring"
    else:
        status = "valid"
    return days, status
