# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""Identifiers: the GUID format, and the application IDs of Microsoft's first-party APIs."""

from __future__ import annotations

import re

from ._errors import ConfigurationError

# Application IDs of the resource APIs the procedure uses. They also appear as ``aud`` of tokens.
# https://learn.microsoft.com/troubleshoot/entra/entra-id/governance/verify-first-party-apps-sign-in
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
AAD_GRAPH_APP_ID = "00000002-0000-0000-c000-000000000000"
PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"

# Not anchored on purpose: use it with ``fullmatch`` only (through is_guid/require_guid). A ``^...$``
# pattern with ``match`` also accepts a trailing newline ("$" matches before it), which then reached
# Graph as ``%0A`` in a key segment.
GUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_guid(value: object) -> bool:
    """Whether ``value`` is exactly a GUID in its usual 8-4-4-4-12 form (nothing before or after)."""
    return isinstance(value, str) and GUID_PATTERN.fullmatch(value) is not None


def require_guid(value: object, option: str) -> str:
    """``value`` as a lower-case GUID, or a ConfigurationError naming the option."""
    if not is_guid(value):
        raise ConfigurationError(
            "%s must be a GUID such as 00000000-0000-0000-0000-000000000000, got %r." % (option, value), option=option
        )
    return str(value).lower()
