# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file is PRIVATE to the partnercenter.national_cloud collection: it may change at any time and
# is not meant to be used by other collections.
"""The collection's version, in one place (keep in step with galaxy.yml; a unit test checks it)."""

from __future__ import annotations

COLLECTION_NAME = "partnercenter.national_cloud"
COLLECTION_VERSION = "0.1.0"
