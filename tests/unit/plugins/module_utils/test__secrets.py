# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_app_secret logic: lifetimes, secret selection and renewal windows, plans for every mode, the
app management policy, the store's record, and the flows against an in-memory Graph double."""

from __future__ import annotations

import json
import os
import re
import stat
import uuid
from urllib.parse import unquote, urlsplit

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _graph, _http
from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _secrets as sec
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import (
    ConfigurationError,
    PartnerCenterCollectionError,
    ServiceError,
    TransportError,
)
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._private_files import LockTimeout
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secret_stores import (
    FileStore,
    PendingAddition,
    SecretRecord,
)
from tests.unit.conftest import FakeClock, FakeResponse, ScriptedSession, write_private

DAY = 86400
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NAME = "Partner Center"
TENANT = "11111111-2222-3333-4444-555555555555"
VALUE = "abc8Q~held-value"  # what a record holds for cred(): it starts with cred()'s hint


def iso(seconds):
    return sec.format_datetime(seconds)


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


# -------------------------------------------------------------------------------------------------
# Lifetimes and dates
# -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "days"),
    [("1y", 365), ("2y", 730), ("1Y", 365), ("90d", 90), ("90D", 90), ("90", 90), (90, 90), (" 30 d ", 30), ("1", 1)],
)
def test_expires_in_forms(value, days):
    assert sec.parse_expires_in(value) == days


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("3 weeks", "must be 1y, 2y"),
        ("1m", "must be 1y, 2y"),
        ("", "must be 1y, 2y"),
        ("y", "must be 1y, 2y"),
        ("-5d", "must be 1y, 2y"),
        ("1.5y", "must be 1y, 2y"),
        ("0", "between 1 day"),
        ("0d", "between 1 day"),
        (0, "between 1 day"),
        ("101y", "between 1 day"),
        (True, "(bool)"),
        (1.5, "(float)"),
        (["1y"], "(list)"),
        ({"days": 1}, "(dict)"),
    ],
)
def test_bad_expires_in(value, fragment):
    with pytest.raises(ConfigurationError) as err:
        sec.parse_expires_in(value)
    assert fragment in err.value.to_message() and err.value.option == "expires_in"


@pytest.mark.parametrize(
    ("text", "days"),
    [("P90D", 90), ("P1Y", 365), ("P2W", 14), ("P1M", 30), ("P1Y6M", 545), ("PT12H", 0.5), ("p30d", 30), ("P1DT12H", 1.5)],
)
def test_parse_duration(text, days):
    assert sec.parse_duration(text) == days * DAY


@pytest.mark.parametrize("text", ["P", "PT", "90D", "P-1D", "", None, "P1.5D"])
def test_parse_duration_rejects(text):
    assert sec.parse_duration(text) is None


def test_lifetime_defaults_to_one_year_from_now_to_the_second():
    lifetime = sec.parse_lifetime(None, None, NOW + 0.75)
    assert (lifetime.days, lifetime.end, lifetime.text) == (365, None, "expires_in 1y")
    start, end = lifetime.dates(NOW + 0.75)
    assert (start, end) == (NOW, NOW + 365 * DAY)


def test_lifetime_with_end_date_time():
    lifetime = sec.parse_lifetime(None, "2027-06-30", NOW)
    assert lifetime.days is None and lifetime.end == sec.parse_datetime("2027-06-30T00:00:00Z")
    assert lifetime.dates(NOW) == (NOW, lifetime.end)
    assert lifetime.text == "end_date_time 2027-06-30T00:00:00Z"


@pytest.mark.parametrize(
    ("expires_in", "end", "fragment"),
    [
        ("1y", "2030-01-01", "mutually exclusive"),
        (None, "2020-01-01", "in the past"),
        (None, iso(NOW), "in the past"),
        (None, "soon", "ISO 8601"),
        (None, 20270101, "ISO 8601"),
    ],
)
def test_bad_lifetimes(expires_in, end, fragment):
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        sec.parse_lifetime(expires_in, end, NOW)


# -------------------------------------------------------------------------------------------------
# Selection and renewal windows
# -------------------------------------------------------------------------------------------------


def test_managed_secrets_match_the_display_name_exactly_oldest_first():
    app = {
        "passwordCredentials": [
            cred("b", start=-10),
            cred("other", name="partner center"),
            cred("a", start=-20),
            cred("none", name=None),
            cred("spaced", name=NAME + " "),
        ]
    }
    assert [c["keyId"] for c in sec.managed_secrets(app, NAME)] == ["a", "b"]
    assert sec.managed_secrets(app, None) == []
    assert sec.managed_secrets({"passwordCredentials": None}, NAME) == []


def test_newest_is_the_one_that_lasts_longest():
    assert sec.newest([]) is None
    assert sec.newest([cred("a", end=10), cred("b", end=20), cred("c", end=5)])["keyId"] == "b"
    # Same end: the later start wins.
    assert sec.newest([cred("a", start=-5, end=10), cred("b", start=-1, end=10)])["keyId"] == "b"


@pytest.mark.parametrize(
    ("end_offset", "renew_days", "renew"),
    [
        (30 * DAY + 1, 30, False),  # valid beyond the window
        (30 * DAY, 30, True),  # exactly at the edge: not "beyond"
        (30 * DAY - 1, 30, True),
        (1, 0, False),  # renew_before_days=0: only expired secrets
        (0, 0, True),
        (-DAY, 30, True),  # expired
        (365 * DAY, 364, False),
        (365 * DAY, 365, True),
    ],
)
def test_renewal_window_boundaries(end_offset, renew_days, renew):
    credential = {"endDateTime": iso(NOW + end_offset)}
    assert sec.needs_renewal(credential, NOW, renew_days) is renew


def test_renewal_with_an_explicit_end_date_never_repeats():
    credential = {"endDateTime": iso(NOW + 10 * DAY)}
    assert sec.needs_renewal(credential, NOW, 30, requested_end=NOW + 10 * DAY) is False  # a new one would not last longer
    assert sec.needs_renewal(credential, NOW, 30, requested_end=NOW + 5 * DAY) is False
    assert sec.needs_renewal(credential, NOW, 30, requested_end=NOW + 11 * DAY) is True


def test_secret_view_has_no_value():
    view = sec.secret_view(dict(cred("k"), secretText="VALUE"), NOW)
    assert view == {
        "key_id": "k",
        "display_name": NAME,
        "hint": "abc",
        "start_date_time": iso(NOW - 300 * DAY),
        "end_date_time": iso(NOW + 100 * DAY),
        "days_to_expiry": 100,
    }
    assert sec.secret_view(None, NOW) == {}


# -------------------------------------------------------------------------------------------------
# Plans
# -------------------------------------------------------------------------------------------------


def plan(managed, **kwargs):
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("renew_before_days", 30)
    return sec.plan_present(managed, **kwargs)


def keys(secrets):
    return [c["keyId"] for c in secrets]


def record(held, previous=(), pending=(), value=VALUE, app_id="app"):
    """A store record holding ``held`` (a key id of ``cred``: its value matches the hint) or no value."""
    return SecretRecord(tenant_id=TENANT, cloud="usgov", app_id=app_id, key_id=held, display_name=NAME,
                        secret=value if held else None, previous_key_ids=tuple(previous), pending=tuple(pending))


def addition_of(credential):
    """The pending addition that asked addPassword for ``credential``."""
    return PendingAddition(credential["displayName"], credential["startDateTime"], credential["endDateTime"])


def test_plan_created_when_none_exists():
    result = plan([])
    assert (result.action, result.create, result.remove, result.current) == ("created", True, [], None)


def test_plan_none_when_valid_beyond_the_window():
    result = plan([cred("a", end=31)])
    assert (result.action, result.create, keys(result.remove), result.current["keyId"]) == ("none", False, [], "a")
    assert "beyond the renewal window" in result.reason


def test_plan_renewed_inside_the_window_keeps_the_old_one():
    result = plan([cred("a", end=29)])
    assert (result.action, result.create, result.remove) == ("renewed", True, [])
    assert "expires in 29 days" in result.reason


def test_plan_renewed_with_retire_previous_removes_the_previous_and_the_current_ones():
    managed = [cred("old", end=-5), cred("a", end=29)]
    result = plan(managed, retire_previous=True, use_store=True, record=record("a", previous=["old"]))
    assert result.action == "renewed" and keys(result.remove) == ["old", "a"] and result.lost == []


def test_plan_retire_previous_without_a_store_removes_nothing():
    # Without a store the module cannot tell which secrets are its own (validate_params refuses the combination).
    for kwargs in ({}, {"rotate": True}):
        result = plan([cred("old", end=-5), cred("a", end=29)], retire_previous=True, **kwargs)
        assert result.create and result.remove == [] and result.lost == [] and result.unheld == []


def test_plan_renewed_when_all_expired():
    result = plan([cred("a", end=-1), cred("b", end=-2)])
    assert result.action == "renewed" and "expired" in result.reason and result.remove == []


def test_plan_newest_decides_without_dest():
    # An old secret inside the window next to a newer valid one: nothing to do.
    result = plan([cred("old", start=-700, end=3), cred("new", start=-10, end=355)])
    assert result.action == "none" and result.current["keyId"] == "new"


def test_plan_rotate_forces_a_new_secret_and_keeps_the_old():
    assert plan([], rotate=True).action == "created"
    result = plan([cred("a", end=300)], rotate=True)
    assert (result.action, result.create, result.remove) == ("rotated", True, [])
    result = plan([cred("a", end=300)], rotate=True, retire_previous=True, use_store=True, record=record("a"))
    assert keys(result.remove) == ["a"]


def test_plan_retire_previous_without_creating():
    managed = [cred("old", start=-400, end=10), cred("cur", start=-10, end=300)]
    result = plan(managed, retire_previous=True, use_store=True, record=record("cur", previous=["old"]))
    assert (result.action, result.create, keys(result.remove), result.current["keyId"]) == ("none", False, ["old"], "cur")
    assert plan([cred("cur", end=300)], retire_previous=True, use_store=True, record=record("cur")).remove == []


def test_plan_retire_previous_removes_only_what_the_store_held_before():
    managed = [cred("prev", start=-400, end=100), cred("theirs", start=-200, end=200), cred("cur", start=-10, end=300)]
    rec = record("cur", previous=["prev", "gone"])
    result = plan(managed, retire_previous=True, use_store=True, record=rec)
    assert keys(result.remove) == ["prev"] and "theirs" in keys(result.unheld)
    result = plan(managed, retire_previous=True, rotate=True, use_store=True, record=rec)
    assert result.action == "rotated" and keys(result.remove) == ["prev", "cur"] and "theirs" not in keys(result.remove)


def test_plan_the_secrets_the_store_held_before_are_not_unheld():
    managed = [cred("prev", start=-400, end=100), cred("theirs", start=-200, end=200), cred("cur", start=-10, end=300)]
    for kwargs in ({}, {"retire_previous": True}):
        assert keys(plan(managed, use_store=True, record=record("cur", previous=["prev"]), **kwargs).unheld) == ["theirs"]


def test_plan_with_a_store_holding_the_current_secret():
    managed = [cred("older", start=-400, end=100), cred("held", start=-10, end=300)]
    rec = record("held", previous=["older"])
    result = plan(managed, use_store=True, record=rec)
    assert result.action == "none" and result.current["keyId"] == "held" and result.lost == [] and result.remove == []
    # Older secrets are not lost (the store held them before): overlap, until retire_previous.
    result = plan(managed, use_store=True, record=rec, retire_previous=True)
    assert keys(result.remove) == ["older"] and result.lost == []


def test_plan_with_a_store_holding_nothing_fails_and_removes_nothing():
    managed = [cred("expired", start=-800, end=-1), cred("a", start=-100, end=200), cred("b", start=-5, end=300)]
    for kwargs in ({}, {"rotate": True}, {"retire_previous": True}, {"rotate": True, "retire_previous": True}):
        result = plan(managed, use_store=True, record=None, store_reason="/x does not exist", **kwargs)
        assert (result.action, result.create, result.remove, result.lost, result.value_missing) == ("none", False, [], [], True)
        assert keys(result.unheld) == ["a", "b"]  # the expired one is not listed
        assert "/x does not exist" in result.reason and "a, b" in result.reason and result.store_reason == "/x does not exist"


def test_plan_a_record_with_the_wrong_value_holds_nothing():
    managed = [cred("k1", hint="xyz", end=200)]
    result = plan(managed, use_store=True, record=record("k1"))
    assert result.value_missing and result.current is None and keys(result.unheld) == ["k1"] and result.remove == []
    assert "does not match the secret's hint" in result.reason


def test_plan_missing_value_add_adds_one_beside_the_unheld_ones():
    managed = [cred("expired", start=-800, end=-1), cred("a", start=-100, end=200), cred("b", start=-5, end=300)]
    result = plan(managed, use_store=True, store_reason="/x does not exist", missing_value="add", retire_previous=True)
    assert (result.action, result.create, result.remove, result.lost, result.value_missing) == ("added", True, [], [], False)
    assert keys(result.unheld) == ["a", "b"] and "missing_value=add" in result.reason and "/x does not exist" in result.reason


def test_plan_a_valid_secret_the_store_does_not_hold_is_never_removed():
    managed = [cred("held", start=-100, end=200), cred("theirs", start=-1, end=700)]
    for kwargs in ({}, {"retire_previous": True}, {"rotate": True}, {"rotate": True, "retire_previous": True}):
        result = plan(managed, use_store=True, record=record("held"), **kwargs)
        assert keys(result.unheld) == ["theirs"] and result.lost == [] and "theirs" not in keys(result.remove)
        assert result.current["keyId"] == "held" and not result.value_missing
    assert keys(plan(managed, use_store=True, record=record("held"), rotate=True, retire_previous=True).remove) == ["held"]


def test_plan_a_secret_of_a_pending_addition_is_lost_and_removed():
    managed = [cred("held", start=-100, end=200), cred("lost", start=-1, end=700)]
    rec = record("held", pending=[addition_of(managed[1])])
    result = plan(managed, use_store=True, record=rec)
    assert (result.action, result.create) == ("repaired", False)
    assert keys(result.lost) == ["lost"] == keys(result.remove) and result.unheld == []
    assert "were never stored (value lost)" in result.reason
    assert keys(plan(managed, use_store=True, record=rec, retire_previous=True).remove) == ["lost"]  # held is not previous
    result = plan(managed, use_store=True, record=rec, rotate=True, retire_previous=True)
    assert result.action == "rotated" and keys(result.lost) == ["lost"] and keys(result.remove) == ["lost", "held"]


def test_plan_only_a_pending_addition_whose_key_id_the_store_does_not_know_proves_a_loss():
    held = cred("held", start=-1, end=200)
    twin = cred("twin", start=-1, end=700)  # same start as the held one, another end: not this store's addition
    prev = cred("prev", start=-50, end=300)
    rec = record("held", previous=["prev"], pending=[addition_of(held), addition_of(prev), addition_of(dict(twin, endDateTime=iso(NOW)))])
    result = plan([held, twin, prev], use_store=True, record=rec)
    # prev: the store held it before (retire_previous's), so neither lost nor held elsewhere.
    assert result.lost == [] and result.action == "none" and keys(result.unheld) == ["twin"]
    assert keys(sec.lost_secrets([held, twin], [addition_of(twin)], ["held"])) == ["twin"]
    assert sec.lost_secrets([held, twin], [addition_of(twin)], ["TWIN"]) == []  # known, in any case
    assert sec.lost_secrets([cred("other", name="Other", start=-1, end=700)], [addition_of(twin)], []) == []  # another name
    assert sec.lost_secrets([twin], [], []) == []


def test_plan_a_store_with_only_a_pending_addition_creates_then_removes_the_lost_secret():
    lost = cred("lost", start=-1, end=364)
    result = plan([lost], use_store=True, record=record(None, pending=[addition_of(lost)]), store_reason="/x holds no value")
    assert (result.action, result.create, result.value_missing) == ("created", True, False)
    assert keys(result.lost) == ["lost"] == keys(result.remove) and result.unheld == []


def test_plan_with_a_store_renews_the_held_secret():
    managed = [cred("held", start=-300, end=20)]
    result = plan(managed, use_store=True, record=record("held"))
    assert result.action == "renewed" and result.remove == []
    # Held and expired, nothing else: renewed (nothing lost).
    managed = [cred("held", start=-300, end=-1)]
    assert plan(managed, use_store=True, record=record("held")).action == "renewed"


def test_plan_with_a_store_holding_nothing_and_only_expired_secrets():
    result = plan([cred("x", end=-3)], use_store=True, record=None, store_reason="missing")
    assert result.action == "renewed" and result.lost == [] and result.remove == [] and result.unheld == []
    assert not result.value_missing and "(missing)" in result.reason


def test_plan_rotate_with_lost_secrets_removes_them_too():
    managed = [cred("cur", start=-10, end=300), cred("lost", start=-2, end=300)]
    result = plan(managed, use_store=True, record=record("cur", pending=[addition_of(managed[1])]), rotate=True)
    assert result.action == "rotated" and keys(result.lost) == ["lost"] == keys(result.remove)


def test_plan_absent_by_name_removes_all_with_the_name_and_nothing_else():
    creds = [cred("a"), cred("b"), cred("other", name="Other")]
    result = sec.plan_absent(creds, display_name=NAME, key_id=None)
    assert result.action == "removed" and keys(result.remove) == ["a", "b"]
    assert sec.plan_absent([cred("other", name="Other")], display_name=NAME, key_id=None).action == "none"


def test_plan_absent_by_key_id():
    creds = [cred("0a0a0a0a-0000-0000-0000-000000000001"), cred("0b0b0b0b-0000-0000-0000-000000000002", name="Other")]
    result = sec.plan_absent(creds, display_name=None, key_id="0B0B0B0B-0000-0000-0000-000000000002")
    assert keys(result.remove) == ["0b0b0b0b-0000-0000-0000-000000000002"]
    assert sec.plan_absent(creds, display_name=None, key_id="0c0c0c0c-0000-0000-0000-000000000003").action == "none"
    with pytest.raises(ConfigurationError, match="named 'Other', not 'Partner Center'"):
        sec.plan_absent(creds, display_name=NAME, key_id="0b0b0b0b-0000-0000-0000-000000000002")


# -------------------------------------------------------------------------------------------------
# App management policy
# -------------------------------------------------------------------------------------------------

APP = {"id": "obj", "appId": "app", "createdDateTime": "2024-05-01T00:00:00Z"}


def policy(*restrictions, enabled=True):
    return {
        "id": "00000000-0000-0000-0000-000000000000",
        "displayName": "Default app management tenant policy",
        "isEnabled": enabled,
        "applicationRestrictions": {"passwordCredentials": list(restrictions)},
    }


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


# -------------------------------------------------------------------------------------------------
# The store's record (the file store itself: test__secret_stores.py)
# -------------------------------------------------------------------------------------------------


def test_held_secret(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"key_id": "K1", "secret": "abcdef", "app_id": "app", "display_name": NAME}))
    stored = FileStore(str(path)).read().record
    assert stored.held_key_id == "k1" and stored.secret == "abcdef"
    held, why = sec.held_secret(stored, [cred("k1", hint="abc"), cred("k2")])
    assert held["keyId"] == "k1" and why == ""
    held, why = sec.held_secret(stored, [cred("K1", hint=None)])  # no hint to compare: the key id decides
    assert held["keyId"] == "K1" and why == ""
    held, why = sec.held_secret(stored, [cred("k1", hint="xyz")])
    assert held is None and "does not match the secret's hint" in why
    held, why = sec.held_secret(stored, [cred("k2")])
    assert held is None and "holds key id k1" in why
    assert sec.held_secret(None, [cred("k1")]) == (None, "")
    assert sec.held_secret(stored._replace(secret=None), [cred("k1")]) == (None, "")


def test_a_record_of_another_tenant_application_or_secret_is_refused():
    store = FileStore("/p/s.json")
    app = {"appId": "APP"}
    other_tenant = "99999999-8888-7777-6666-555555555555"
    with pytest.raises(ConfigurationError, match="another tenant") as err:
        sec.check_record_owner(record("k", app_id="app")._replace(tenant_id=other_tenant), store, app, NAME, TENANT)
    assert err.value.option == "dest" and "dest /p/s.json" in err.value.to_message() and other_tenant in err.value.to_message()
    with pytest.raises(ConfigurationError, match="another application"):
        sec.check_record_owner(record("k", app_id="OTHER"), store, app, NAME, TENANT)
    with pytest.raises(ConfigurationError, match="named 'Other'"):
        sec.check_record_owner(record("k", app_id="app")._replace(display_name="Other"), store, app, NAME, TENANT)
    # The same tenant in another case, or a tenant that is not a GUID on either side, an unnamed record, no record: fine.
    sec.check_record_owner(record("k", app_id="app")._replace(tenant_id=TENANT.upper()), store, app, NAME, TENANT)
    sec.check_record_owner(record("k", app_id="app")._replace(tenant_id="contoso.onmicrosoft.com"), store, app, NAME, TENANT)
    sec.check_record_owner(record("k", app_id="app"), store, app, NAME, None)
    sec.check_record_owner(record("k", app_id="app")._replace(display_name=None), store, app, NAME, TENANT)
    sec.check_record_owner(None, store, app, NAME, TENANT)


# -------------------------------------------------------------------------------------------------
# validate_params
# -------------------------------------------------------------------------------------------------


def params(**overrides):
    base = {
        "state": "present",
        "object_id": None,
        "app_id": None,
        "unique_name": "pc-web",
        "app_display_name": None,
        "display_name": NAME,
        "key_id": None,
        "expires_in": None,
        "end_date_time": None,
        "renew_before_days": 30,
        "rotate": False,
        "retire_previous": False,
        "missing_value": "fail",
        "lock_timeout": 120,
        "dest": None,
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "consistency_timeout": 0,
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"display_name": None}, "display_name is required with state=present"),
        ({"display_name": "  "}, "must not be empty"),
        ({"key_id": "00000000-0000-0000-0000-000000000000"}, "only used with state=absent"),
        ({"state": "absent", "key_id": "nope"}, "key_id must be a GUID"),
        ({"state": "absent", "display_name": None}, "needs display_name or key_id"),
        ({"state": "absent", "rotate": True}, "rotate applies to state=present only"),
        ({"renew_before_days": -1}, "renew_before_days must be 0 or more"),
        ({"renew_before_days": True}, "renew_before_days must be 0 or more"),
        ({"expires_in": "30d"}, "renew_before_days (30) must be shorter than the lifetime (30 days)"),
        ({"expires_in": "1y", "end_date_time": "2030-01-01"}, "mutually exclusive"),
        ({"retire_previous": True}, "retire_previous needs dest"),
        ({"retire_previous": True, "rotate": True}, "retire_previous needs dest"),
        ({"missing_value": "repair"}, "missing_value must be one of fail, add; got 'repair'"),
        ({"lock_timeout": -1}, "lock_timeout must be 0 or more seconds"),
        ({"lock_timeout": True}, "lock_timeout must be 0 or more seconds"),
        ({"lock_timeout": 1.5}, "lock_timeout must be 0 or more seconds"),
        ({"dest": " "}, "dest must not be empty"),
        ({"dest": "/"}, "is a directory"),
    ],
)
def test_validate_params_rejects(overrides, fragment):
    with pytest.raises(ConfigurationError) as err:
        sec.validate_params(params(**overrides), NOW)
    assert fragment in err.value.to_message()


def test_validate_params_accepts(tmp_path):
    options = sec.validate_params(params(expires_in="31d"), NOW)
    assert options.lifetime.days == 31 and options.key_id is None and options.store is None
    options = sec.validate_params(
        params(state="absent", display_name=None, key_id="0A0A0A0A-0000-0000-0000-000000000001", expires_in="junk"), NOW
    )
    assert options.lifetime is None and options.key_id == "0a0a0a0a-0000-0000-0000-000000000001"  # lifetime ignored when absent
    assert sec.validate_params(params(renew_before_days=0, expires_in="1"), NOW).lifetime.days == 1
    options = sec.validate_params(params(dest=str(tmp_path / "d" / "s.json"), retire_previous=True, lock_timeout=0), NOW)
    assert options.store == {"type": "file", "path": str(tmp_path / "d" / "s.json")} and options.store_option == "dest"
    assert options.lock_timeout == 0 and not (tmp_path / "d").exists()  # nothing is created by checking
    assert sec.validate_params(params(dest=str(tmp_path / "s.json"), lock_timeout=None), NOW).lock_timeout == 120
    assert sec.validate_params(params(missing_value=None), NOW).store is None


# -------------------------------------------------------------------------------------------------
# Flows against an in-memory Graph double
# -------------------------------------------------------------------------------------------------

BASE = "https://graph.test"


def graph_error(status, code, message):
    return FakeResponse(status, {"error": {"code": code, "message": message, "innerError": {"request-id": "req-1"}}})


class FakeGraph:
    """One application with password credentials, addPassword/removePassword and the tenant policy."""

    def __init__(self, created="2024-05-01T00:00:00Z"):
        self.app = {
            "id": str(uuid.uuid4()),
            "appId": str(uuid.uuid4()),
            "displayName": "PC web",
            "uniqueName": "pc-web",
            "createdDateTime": created,
            "passwordCredentials": [],
        }
        self.values: dict[str, str] = {}
        self.policy = policy()
        self.policy_status = 200
        self.add_failure = None  # a FakeResponse or exception for the next addPassword
        self.add_failure_sticky = False  # ... and for every one after it
        self.add_failures_after_processing = 0  # addPasswords that create the secret, then lose the connection
        self.hidden_keys: set[str] = set()  # credentials reads do not show yet (replication)
        self.remove_failure = None
        self.on_add = None  # called when an addPassword arrives, before it is answered
        self.app_visible = True
        self.log: list[tuple[str, str]] = []

    @property
    def writes(self):
        return [entry for entry in self.log if entry[0] != "GET"]

    def plant(self, key=None, name=NAME, start=-300, end=100):
        credential = cred(key or str(uuid.uuid4()), name=name, start=start, end=end, hint=None)
        value = "%s8Q~%s" % (uuid.uuid4().hex[:3], uuid.uuid4().hex)
        credential["hint"] = value[:3]
        self.app["passwordCredentials"].append(credential)
        self.values[credential["keyId"]] = value
        return credential, value

    def __call__(self, sent):
        parts = urlsplit(sent.url)
        path = unquote(parts.path)[len("/v1.0/") :]
        self.log.append((sent.method, path))
        if path == "policies/defaultAppManagementPolicy":
            if self.policy_status != 200:
                return graph_error(self.policy_status, "Authorization_RequestDenied", "Insufficient privileges.")
            return FakeResponse(200, self.policy)
        if path == "applications(uniqueName='pc-web')" or path == "applications/%s" % self.app["id"]:
            if not self.app_visible:
                return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
            shown = [c for c in self.app["passwordCredentials"] if c["keyId"] not in self.hidden_keys]
            self.hidden_keys.clear()  # replicated by the next read
            return FakeResponse(200, dict(self.app, passwordCredentials=shown))
        if path.startswith("applications(uniqueName="):
            return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
        if path == "applications/%s/addPassword" % self.app["id"]:
            if self.on_add is not None:
                self.on_add()
            if self.add_failure is not None:
                failure = self.add_failure
                if not self.add_failure_sticky:
                    self.add_failure = None
                if isinstance(failure, BaseException):
                    raise failure
                return failure
            spec = sent.json["passwordCredential"]
            value = "%s8Q~%s" % (uuid.uuid4().hex[:3], uuid.uuid4().hex)
            credential = {
                "keyId": str(uuid.uuid4()),
                "displayName": spec.get("displayName"),
                "hint": value[:3],
                "startDateTime": spec["startDateTime"],
                "endDateTime": spec["endDateTime"],
                "customKeyIdentifier": None,
                "secretText": None,
            }
            self.app["passwordCredentials"].append(credential)
            self.values[credential["keyId"]] = value
            if self.add_failures_after_processing:
                self.add_failures_after_processing -= 1
                raise TransportError(service="graph", method="POST", url=BASE, reason="connection reset")
            return FakeResponse(200, dict(credential, secretText=value))
        if path == "applications/%s/removePassword" % self.app["id"]:
            if self.remove_failure is not None:
                failure, self.remove_failure = self.remove_failure, None
                return failure
            key = sent.json["keyId"]
            before = len(self.app["passwordCredentials"])
            self.app["passwordCredentials"] = [c for c in self.app["passwordCredentials"] if c["keyId"] != key]
            if len(self.app["passwordCredentials"]) == before:
                return graph_error(400, "Request_BadRequest", "No password credential with keyId '%s' exists." % key)
            return FakeResponse(204)
        raise AssertionError("unexpected %s %s" % (sent.method, path))

    def names(self):
        return [c["displayName"] for c in self.app["passwordCredentials"]]


class Warnings:
    def __init__(self):
        self.items: list[str] = []

    def warn(self, text):
        self.items.append(text)


class Cloud:
    name = "usgov"


class FakeModule:
    """What run_pc_app_secret needs from AppSecretModule."""

    def __init__(self, service, check_mode=False, **overrides):
        clock = FakeClock()
        http = _http.HttpClient(
            session=ScriptedSession(handler=service), sleep=clock.sleep, clock=clock.clock, rand=lambda: 0.5
        )
        self.graph = _graph.GraphClient(
            http, lambda resource: "token", base_url=BASE, resource="https://graph.microsoft.us", consistency_timeout=5
        )
        self.params = params(**overrides)
        self.check_mode = check_mode
        self.module = Warnings()
        self.cloud = Cloud()
        self.diff = None

    def validate(self):
        pass

    def set_diff(self, before, after):
        self.diff = (before, after)


def run(service, check_mode=False, now=NOW, **overrides):
    module = FakeModule(service, check_mode=check_mode, **overrides)
    return sec.run_pc_app_secret(module, now=now), module


def store_record(dest, service, credential=None, value=None, **fields):
    """Write the record a store holds for ``credential`` (planted in ``service``), or one without a value."""
    data = {"tenant_id": TENANT, "cloud": "usgov", "app_id": service.app["appId"], "display_name": NAME}
    if credential is not None:
        data.update(key_id=credential["keyId"], secret=value, start_date_time=credential["startDateTime"],
                    end_date_time=credential["endDateTime"])
    data.update(fields)
    rec = SecretRecord(**data)
    write_private(str(dest), rec.to_json().decode())
    return rec


def stored(dest):
    """The record in the file ``dest``."""
    return SecretRecord.from_mapping(json.loads(dest.read_text()))


def key_ids(service):
    return sorted(c["keyId"] for c in service.app["passwordCredentials"])


def removed(service):
    return [w for w in service.writes if w[1].endswith("/removePassword")]


def test_create_without_dest_returns_the_value_once():
    service = FakeGraph()
    result, module = run(service)
    assert result["changed"] and result["action"] == "created"
    [created] = service.app["passwordCredentials"]
    assert result["secret_text"] == service.values[created["keyId"]]
    assert (result["key_id"], result["hint"], result["days_to_expiry"]) == (created["keyId"], created["hint"], 365)
    assert (created["startDateTime"], created["endDateTime"]) == (iso(NOW), iso(NOW + 365 * DAY))
    assert service.writes == [("POST", "applications/%s/addPassword" % service.app["id"])]
    assert ("GET", "policies/defaultAppManagementPolicy") in service.log
    text = json.dumps({k: v for k, v in result.items() if k != "secret_text"}) + json.dumps(module.diff)
    assert result["secret_text"] not in text and "secret_text" in result["msg"]
    assert module.diff[0] == {"secrets": []} and module.diff[1]["secrets"][0]["key_id"] == created["keyId"]
    service.log.clear()
    again, dummy = run(service)
    assert again["changed"] is False and again["action"] == "none" and "secret_text" not in again
    assert service.writes == [] and ("GET", "policies/defaultAppManagementPolicy") not in service.log


def test_create_with_dest_stores_the_value_and_returns_none(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "d" / "s.json"
    result, dummy = run(service, dest=str(dest))
    assert "secret_text" not in result and result["dest"] == str(dest)
    [created] = service.app["passwordCredentials"]
    data = json.loads(dest.read_text())
    assert data == {
        "tenant_id": TENANT,
        "cloud": "usgov",
        "app_id": service.app["appId"],
        "key_id": created["keyId"],
        "display_name": NAME,
        "secret": service.values[created["keyId"]],
        "start_date_time": created["startDateTime"],
        "end_date_time": created["endDateTime"],
        "previous_key_ids": [],
        "pending": [],
    }
    assert data["secret"] not in json.dumps(result)
    service.log.clear()
    again, dummy = run(service, dest=str(dest))
    assert again["action"] == "none" and service.writes == []


def test_the_value_is_stored_before_old_secrets_are_removed(tmp_path):
    service = FakeGraph()
    old, dummy = service.plant(end=10)
    dest = tmp_path / "s.json"
    dest.write_text(json.dumps({"key_id": old["keyId"], "secret": service.values[old["keyId"]], "app_id": service.app["appId"]}))
    order = []
    real = service.__call__

    def watching(sent):
        if sent.url.endswith("/removePassword"):
            order.append(("remove", json.loads(dest.read_text())["key_id"]))
        return real(sent)

    module = FakeModule(watching, dest=str(dest), retire_previous=True)
    result = sec.run_pc_app_secret(module, now=NOW)
    assert result["action"] == "renewed" and result["retired_key_ids"] == [old["keyId"]]
    assert order == [("remove", result["key_id"])]  # the file already held the new value


def test_check_mode_plans_without_writing(tmp_path):
    service = FakeGraph()
    old, dummy = service.plant(end=-1)  # expired: nothing valid, a real run renews
    dest = tmp_path / "new" / "s.json"
    result, module = run(service, check_mode=True, retire_previous=True, dest=str(dest))
    assert result["changed"] and result["action"] == "renewed"
    assert result["key_id"] is None and result["end_date_time"] == iso(NOW + 365 * DAY)
    assert result["retired_key_ids"] == [] and result["orphan_key_ids"] == []  # the store never held it: not its to retire
    assert service.writes == [] and not dest.parent.exists()
    before, after = module.diff
    assert [s["key_id"] for s in before["secrets"]] == [old["keyId"]]
    assert after["secrets"] == [
        sec.secret_view(old, NOW),
        {
            "key_id": None,
            "display_name": NAME,
            "hint": None,
            "start_date_time": iso(NOW),
            "end_date_time": iso(NOW + 365 * DAY),
            "days_to_expiry": 365,
        },
    ]
    assert result["msg"].startswith("Would renew") and "It would be stored in dest %s" % dest in result["msg"]
    assert "secret_text" not in result


def test_check_mode_of_a_store_without_a_value_says_a_real_run_would_fail(tmp_path):
    service = FakeGraph()
    theirs, dummy = service.plant(end=200)
    dest = tmp_path / "new" / "s.json"
    result, module = run(service, check_mode=True, retire_previous=True, rotate=True, dest=str(dest))
    assert result["changed"] is False and result["action"] == "none" and result["unheld_key_ids"] == [theirs["keyId"]]
    assert result["msg"].startswith("A real run would fail: dest %s holds no value" % dest) and theirs["keyId"] in result["msg"]
    assert [w for w in module.module.items if w.startswith("A real run would fail")] == [result["msg"]]
    assert result["retired_key_ids"] == [] and service.writes == [] and not dest.parent.exists()
    assert module.diff[0] == module.diff[1] == {"secrets": [sec.secret_view(theirs, NOW)]}
    result, module = run(service, check_mode=True, dest=str(dest), missing_value="add")
    assert result["changed"] and result["action"] == "added" and result["msg"].startswith("Would add secret")
    assert result["retired_key_ids"] == [] and service.writes == [] and not dest.parent.exists()


def test_check_mode_reports_policy_violations_and_a_real_run_fails_without_writing():
    service = FakeGraph()
    service.policy = policy({"restrictionType": "passwordLifetime", "maxLifetime": "P90D"})
    result, module = run(service, check_mode=True)
    assert result["changed"] and result["policy_violations"] and "P90D" in module.module.items[0]
    assert "But: " in result["msg"]
    with pytest.raises(sec.AppManagementPolicyError) as err:
        run(service)
    assert "maxLifetime P90D" in err.value.to_message() and "Nothing was changed" in err.value.to_message()
    assert err.value.result["policy_violations"] == result["policy_violations"]
    assert service.writes == []
    result, dummy = run(service, expires_in="90d")
    assert result["action"] == "created"


def test_unreadable_policy_warns_once_and_policy_errors_from_graph_are_explained():
    service = FakeGraph()
    service.policy_status = 403
    service.add_failure = graph_error(400, "CredentialTypeNotAllowedAsPerAppPolicy", "Credential type not allowed as per assigned policy")
    module = FakeModule(service)
    with pytest.raises(sec.AppManagementPolicyError) as err:
        sec.run_pc_app_secret(module, now=NOW)
    text = err.value.to_message()
    assert "CredentialTypeNotAllowedAsPerAppPolicy" in text and "does not allow client secrets" in text and "req-1" in text
    assert err.value.to_dict()["status"] == 400
    assert len(module.module.items) == 1 and "Policy.Read.All" in module.module.items[0]
    service.add_failure = graph_error(400, "CredentialInvalidLifetimeAsPerAppPolicy", "Credential lifetime exceeds")
    with pytest.raises(sec.AppManagementPolicyError, match="limits the lifetime of client secrets below the 365 days"):
        run(service)
    assert service.app["passwordCredentials"] == []


# addPassword answers that leave unknown whether the secret was created.
AMBIGUOUS_FAILURES = [
    graph_error(500, "InternalServerError", "boom"),
    TransportError(service="graph", method="POST", url=BASE, reason="connection reset"),
]


@pytest.mark.parametrize("failure", AMBIGUOUS_FAILURES)
def test_an_ambiguous_add_password_failure_is_retried(tmp_path, failure):
    service = FakeGraph()
    service.add_failure = failure
    dest = tmp_path / "dir" / "s.json"
    result, module = run(service, dest=str(dest))
    [created] = service.app["passwordCredentials"]
    assert result["action"] == "created" and result["key_id"] == created["keyId"] and result["orphan_key_ids"] == []
    assert json.loads(dest.read_text())["secret"] == service.values[created["keyId"]]
    assert [w[1].rsplit("/", 1)[-1] for w in service.writes] == ["addPassword", "addPassword"]
    assert any("addPassword failed" in w and "retrying" in w for w in module.module.items)


def test_a_secret_created_by_an_attempt_whose_answer_was_lost_is_removed_after_the_new_one_is_stored(tmp_path):
    service = FakeGraph()
    other, dummy = service.plant(name="someone else's")
    service.add_failures_after_processing = 2
    dest = tmp_path / "s.json"
    order = []
    real_remove = sec._remove_password

    def remove(module, app, key):
        order.append(("remove", key, json.loads(dest.read_text())["key_id"]))
        return real_remove(module, app, key)

    sec._remove_password, saved = remove, sec._remove_password
    try:
        result, dummy = run(service, dest=str(dest))
    finally:
        sec._remove_password = saved
    kept = [c for c in service.app["passwordCredentials"] if c["displayName"] == NAME]
    assert [c["keyId"] for c in kept] == [result["key_id"]] and other in service.app["passwordCredentials"]
    assert len(result["orphan_key_ids"]) == 2 and sorted(result["retired_key_ids"]) == sorted(result["orphan_key_ids"])
    assert all(stored == result["key_id"] for dummy, dummy2, stored in order)  # removed only once the new value was stored
    assert "failed addPassword attempts" in result["msg"]


@pytest.mark.parametrize("failure", AMBIGUOUS_FAILURES)
def test_ambiguous_add_password_failures_until_the_budget_ends_say_the_secret_may_exist(tmp_path, failure):
    service = FakeGraph()
    service.add_failure, service.add_failure_sticky = failure, True
    dest = tmp_path / "dir" / "s.json"
    with pytest.raises((ServiceError, TransportError)) as err:
        run(service, dest=str(dest))
    assert "may have been created anyway" in err.value.to_message()
    assert len(service.writes) > 3
    assert sorted(os.listdir(tmp_path / "dir")) == [".s.json.lock", "s.json"]  # no temporary file
    # The record names the addition, so that a rerun can prove such a secret its own; it holds no value.
    record_after = stored(dest)
    assert record_after.secret is None and record_after.key_id is None and record_after.app_id == service.app["appId"]
    [pending] = record_after.pending
    assert pending._replace(claim_id="") == PendingAddition(NAME, iso(NOW), iso(NOW + 365 * DAY)) and pending.claim_id


def test_runs_on_one_dest_are_serialised_by_its_lock_file(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    with FileStore(str(dest)).lock():
        with pytest.raises(LockTimeout) as err:
            run(service, dest=str(dest), lock_timeout=0)
    text = err.value.to_message()
    assert "Dest %s is locked by" % dest in text and "nothing was changed" in text and "lock_timeout" in text
    assert service.log == [] and not dest.exists()
    assert stat.S_IMODE(os.stat(tmp_path / ".s.json.lock").st_mode) == 0o600
    result, dummy = run(service, dest=str(dest), lock_timeout=0)  # released
    assert result["action"] == "created"


def test_check_mode_does_not_wait_for_the_lock(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    with FileStore(str(dest)).lock():
        result, dummy = run(service, check_mode=True, dest=str(dest), lock_timeout=0)
        assert result["action"] == "created" and service.writes == []


def test_a_run_removes_the_temporary_files_killed_runs_left(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    stale = tmp_path / (".s.json.%s.tmp" % uuid.uuid4().hex)
    stale.write_text("half a secret")
    others = [tmp_path / (".other.json.%s.tmp" % uuid.uuid4().hex), tmp_path / ".s.json.notes.tmp"]
    for path in others:
        path.write_text("not ours")
    result, dummy = run(service, dest=str(dest))
    assert result["action"] == "created" and not stale.exists() and all(path.exists() for path in others)


def test_a_secret_stored_moments_ago_is_waited_for_until_reads_show_it(tmp_path):
    service = FakeGraph()
    credential, value = service.plant(start=0)
    dest = tmp_path / "s.json"
    dest.write_text(json.dumps({"key_id": credential["keyId"], "secret": value, "app_id": service.app["appId"],
                                "display_name": NAME, "start_date_time": credential["startDateTime"]}))
    service.hidden_keys = {credential["keyId"]}
    result, dummy = run(service, dest=str(dest))
    assert result["action"] == "none" and result["key_id"] == credential["keyId"] and service.writes == []


def test_add_password_is_retried_on_throttling():
    service = FakeGraph()
    service.add_failure = FakeResponse(429, {"error": {"code": "TooManyRequests", "message": "slow down"}}, {"Retry-After": "1"})
    result, dummy = run(service)
    assert result["action"] == "created" and len(service.app["passwordCredentials"]) == 1
    assert [w[1].rsplit("/", 1)[-1] for w in service.writes] == ["addPassword", "addPassword"]


def test_dest_write_failure_removes_the_new_secret_again(tmp_path, monkeypatch):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    real_replace, renames = os.replace, []

    def broken_after_the_first(src, dst):
        renames.append(dst)
        if len(renames) > 1:  # the record with the pending addition is written; the one with the value is not
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", broken_after_the_first)
    with pytest.raises(PartnerCenterCollectionError) as err:
        run(service, dest=str(dest))
    assert "No space left on device" in err.value.to_message() and "was removed again" in err.value.to_message()
    assert service.app["passwordCredentials"] == [] and sorted(os.listdir(tmp_path)) == [".s.json.lock", "s.json"]
    assert [w[1].rsplit("/", 1)[-1] for w in service.writes] == ["addPassword", "removePassword"]
    assert stored(dest).secret is None and len(stored(dest).pending) == 1


def test_a_store_that_cannot_be_written_fails_before_add_password(tmp_path, monkeypatch):
    service = FakeGraph()
    dest = tmp_path / "s.json"

    def broken(src, dst):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(ConfigurationError) as err:
        run(service, dest=str(dest))
    assert "Cannot write dest %s: Read-only file system. Nothing was created." % dest in err.value.to_message()
    assert service.writes == [] and os.listdir(tmp_path) == [".s.json.lock"]


def test_a_store_changed_by_another_writer_during_add_password_removes_the_new_secret_again(tmp_path):
    service = FakeGraph()
    old, value = service.plant(end=10)
    dest = tmp_path / "s.json"
    store_record(dest, service, old, value)
    theirs = SecretRecord(app_id=service.app["appId"], display_name=NAME, key_id="written-by-another-runner", secret="theirs")
    service.on_add = lambda: write_private(str(dest), theirs.to_json().decode())
    with pytest.raises(PartnerCenterCollectionError) as err:
        run(service, dest=str(dest))
    text = err.value.to_message()
    assert "changed while this run was using it" in text and "was removed again" in text
    assert key_ids(service) == [old["keyId"]] and stored(dest) == theirs  # nothing overwritten, the new secret gone


def test_a_failed_removal_after_creation_keeps_the_value(tmp_path):
    service = FakeGraph()
    old, value = service.plant(end=3)
    dest = tmp_path / "s.json"
    store_record(dest, service, old, value)
    service.remove_failure = graph_error(403, "Authorization_RequestDenied", "Insufficient privileges.")
    result, module = run(service, retire_previous=True, dest=str(dest))
    assert result["action"] == "renewed" and result["retired_key_ids"] == []
    assert stored(dest).key_id == result["key_id"] != old["keyId"]
    assert stored(dest).secret == service.values[result["key_id"]]
    assert "Could not remove secret %s" % old["keyId"] in module.module.items[0]
    assert len(result["secrets"]) == 2  # the one that could not be removed is still there


def test_a_lost_secret_is_removed_only_after_the_new_value_is_stored(tmp_path):
    service = FakeGraph()
    lost, value = service.plant(start=-1, end=364)  # created by an earlier run whose answer never arrived
    dest = tmp_path / "s.json"
    store_record(dest, service, pending=(addition_of(lost),))
    order = []
    real = service.__call__

    def watching(sent):
        if sent.url.endswith("/removePassword"):
            order.append((sent.json["keyId"], stored(dest).key_id))
        return real(sent)

    result = sec.run_pc_app_secret(FakeModule(watching, dest=str(dest)), now=NOW)
    assert result["action"] == "created" and result["orphan_key_ids"] == [lost["keyId"]] == result["retired_key_ids"]
    assert [w[1].rsplit("/", 1)[-1] for w in service.writes] == ["addPassword", "removePassword"]
    assert order == [(lost["keyId"], result["key_id"])]  # the store held the new value when the lost one was removed
    assert key_ids(service) == [result["key_id"]] and stored(dest).secret == service.values[result["key_id"]]
    assert "created by an earlier run on this store whose value never reached it" in result["msg"]
    assert value not in json.dumps(result)


def test_a_lost_secret_beside_the_held_one_is_removed_without_creating(tmp_path):
    service = FakeGraph()
    held, value = service.plant(start=-10, end=300)
    lost, dummy = service.plant(start=-1, end=364)
    dest = tmp_path / "s.json"
    store_record(dest, service, held, value, pending=(addition_of(lost),))
    result, module = run(service, check_mode=True, dest=str(dest))
    assert result["action"] == "repaired" and result["retired_key_ids"] == [lost["keyId"]] and service.writes == []
    assert "Would remove the secret(s) %s" % lost["keyId"] in result["msg"]
    result, dummy = run(service, dest=str(dest))
    assert result["action"] == "repaired" and result["orphan_key_ids"] == [lost["keyId"]] == result["retired_key_ids"]
    assert result["key_id"] == held["keyId"] and key_ids(service) == [held["keyId"]]
    assert stored(dest).secret == value


def test_a_crash_after_add_password_is_repaired_by_the_rerun_and_nothing_else_is_removed(tmp_path):
    service = FakeGraph()
    person, dummy = service.plant(start=-20, end=300)  # same name, added by a person: never removed
    service.add_failures_after_processing = 100
    dest = tmp_path / "s.json"
    with pytest.raises(TransportError):
        run(service, dest=str(dest), missing_value="add")
    lost = [k for k in key_ids(service) if k != person["keyId"]]
    assert len(lost) > 1 and stored(dest).secret is None and len(stored(dest).pending) == 1
    service.add_failures_after_processing = 0
    # The store holds no value and the person's secret is valid: the default fails, removing nothing.
    with pytest.raises(sec.SecretValueMissing) as err:
        run(service, dest=str(dest), now=NOW + 600)
    assert err.value.result["unheld_key_ids"] == [person["keyId"]] and removed(service) == []
    assert all(k not in err.value.to_message() for k in lost)
    result, dummy = run(service, dest=str(dest), now=NOW + 600, missing_value="add", retire_previous=True)
    assert result["action"] == "added" and sorted(result["retired_key_ids"]) == sorted(result["orphan_key_ids"]) == sorted(lost)
    assert key_ids(service) == sorted([person["keyId"], result["key_id"]])
    assert stored(dest).key_id == result["key_id"] and stored(dest).previous_key_ids == ()


def test_the_record_is_written_before_add_password_and_a_refusal_leaves_it_with_the_old_value(tmp_path):
    service = FakeGraph()
    old, value = service.plant(end=10)
    dest = tmp_path / "s.json"
    before = store_record(dest, service, old, value)
    seen = []
    service.on_add = lambda: seen.append(stored(dest))
    service.add_failure = graph_error(400, "Request_BadRequest", "Invalid value specified for property 'displayName'.")
    with pytest.raises(ServiceError):
        run(service, dest=str(dest))
    [addition] = stored(dest).pending
    assert addition._replace(claim_id="") == PendingAddition(NAME, iso(NOW), iso(NOW + 365 * DAY)) and addition.claim_id
    assert seen == [before._replace(pending=(addition,))]  # on disk when addPassword was sent
    assert stored(dest) == before._replace(pending=(addition,))  # the old value is intact, the addition recorded
    assert key_ids(service) == [old["keyId"]]
    # The rerun renews; the addition that created nothing is not mistaken for a loss.
    result, dummy = run(service, dest=str(dest), now=NOW + 60)
    assert result["action"] == "renewed" and result["retired_key_ids"] == [] and len(service.app["passwordCredentials"]) == 2
    assert stored(dest).key_id == result["key_id"] and stored(dest).previous_key_ids == (old["keyId"],)


def test_a_store_without_a_value_fails_listing_the_valid_secrets_and_removes_nothing(tmp_path):
    service = FakeGraph()
    theirs, dummy = service.plant(end=200)
    expired, dummy = service.plant(end=-1)
    dest = tmp_path / "s.json"
    with pytest.raises(sec.SecretValueMissing) as err:
        run(service, dest=str(dest), rotate=True, retire_previous=True)
    text = err.value.to_message()
    assert "dest %s holds no value for the valid secret(s) named %r" % (dest, NAME) in text and "does not exist" in text
    assert "%s (%r, expires %s, in 200 days)" % (theirs["keyId"], NAME, theirs["endDateTime"]) in text
    assert expired["keyId"] not in text and "missing_value=add" in text and "point dest at the store" in text
    assert err.value.result["unheld_key_ids"] == [theirs["keyId"]] and err.value.result["dest"] == str(dest)
    assert service.writes == [] and not dest.exists()


def test_missing_value_add_adds_a_secret_beside_the_unheld_ones(tmp_path):
    service = FakeGraph()
    theirs, dummy = service.plant(end=200)
    dest = tmp_path / "s.json"
    result, module = run(service, dest=str(dest), missing_value="add", retire_previous=True)
    assert result["action"] == "added" and result["retired_key_ids"] == [] and result["unheld_key_ids"] == [theirs["keyId"]]
    assert key_ids(service) == sorted([theirs["keyId"], result["key_id"]]) and stored(dest).key_id == result["key_id"]
    assert any("whose value dest %s does not hold: %s" % (dest, theirs["keyId"]) in w for w in module.module.items)
    assert "The other secret(s) stay valid until they expire" in result["msg"]
    again, module = run(service, dest=str(dest), retire_previous=True)  # the default again: the store holds a value now
    assert again["action"] == "none" and again["retired_key_ids"] == [] and theirs["keyId"] in key_ids(service)
    assert again["unheld_key_ids"] == [theirs["keyId"]] and removed(service) == []


def test_two_checkouts_with_their_own_store_never_remove_each_others_secret(tmp_path):
    service = FakeGraph()
    person, dummy = service.plant(start=-20, end=300)
    stores = [tmp_path / "a" / "s.json", tmp_path / "b" / "s.json"]
    for run_number, dest in enumerate(stores * 2):
        result, dummy = run(service, dest=str(dest), missing_value="add", rotate=True, retire_previous=True, now=NOW + 60 * run_number)
        held = {stored(path).key_id for path in stores if path.exists()}
        assert held | {person["keyId"]} <= set(key_ids(service)), run_number
        assert person["keyId"] not in result["retired_key_ids"] and not held & set(result["retired_key_ids"])
    assert key_ids(service) == sorted([person["keyId"], stored(stores[0]).key_id, stored(stores[1]).key_id])
    # Each store retired only its own earlier secret when it rotated.
    assert len(removed(service)) == 2


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"tenant_id": "99999999-8888-7777-6666-555555555555"}, "holds the secret of another tenant"),
        ({"app_id": "0a0a0a0a-0000-0000-0000-00000000000a"}, "holds the secret of another application"),
        ({"display_name": "Other"}, "holds the secret named 'Other' of this application"),
    ],
)
def test_a_record_of_another_tenant_app_or_name_is_left_alone_before_any_write(tmp_path, fields, fragment):
    service = FakeGraph()
    old, value = service.plant(end=10)
    dest = tmp_path / "s.json"
    store_record(dest, service, old, value, **fields)
    content = dest.read_bytes()
    for kwargs in ({}, {"rotate": True, "retire_previous": True}, {"check_mode": True}):
        with pytest.raises(ConfigurationError, match=fragment) as err:
            run(service, dest=str(dest), **kwargs)
        assert err.value.option == "dest" and "nothing was changed" in err.value.to_message()
    assert service.writes == [] and dest.read_bytes() == content


def test_secrets_with_other_names_are_never_touched(tmp_path):
    service = FakeGraph()
    other, dummy = service.plant(name="Other", start=-1, end=700)
    result, dummy = run(service, dest=str(tmp_path / "s.json"), retire_previous=True, rotate=True)
    assert other in service.app["passwordCredentials"] and result["retired_key_ids"] == []
    result, dummy = run(service, state="absent")
    assert service.names() == ["Other"]


def test_absent_removes_its_own_and_deletes_a_dest_holding_one(tmp_path):
    service = FakeGraph()
    first, value = service.plant()
    second, dummy = service.plant()
    dest = tmp_path / "s.json"
    store_record(dest, service, first, value)
    result, module = run(service, check_mode=True, state="absent", dest=str(dest))
    assert result["changed"] and result["dest_removed"] and dest.exists() and service.writes == []
    result, module = run(service, state="absent", dest=str(dest))
    assert result["action"] == "removed" and sorted(result["retired_key_ids"]) == sorted([first["keyId"], second["keyId"]])
    assert not dest.exists() and service.app["passwordCredentials"] == []
    assert module.diff[1] == {"secrets": []} and len(module.diff[0]["secrets"]) == 2
    result, dummy = run(service, state="absent", dest=str(dest))
    assert result["changed"] is False and result["action"] == "none"


def test_absent_with_a_dest_that_is_not_a_record_removes_nothing(tmp_path):
    service = FakeGraph()
    first, dummy = service.plant()
    dest = tmp_path / "s.json"
    dest.write_text("not a record")
    with pytest.raises(ConfigurationError, match="not a secret record"):
        run(service, state="absent", dest=str(dest))
    assert service.writes == [] and key_ids(service) == [first["keyId"]]


def test_absent_of_a_secret_already_gone_is_not_a_change():
    service = FakeGraph()
    first, dummy = service.plant()
    real = service.__call__

    def racing(sent):
        if sent.url.endswith("/removePassword"):
            service.app["passwordCredentials"] = []  # removed by someone else meanwhile
        return real(sent)

    module = FakeModule(racing, state="absent")
    result = sec.run_pc_app_secret(module, now=NOW)
    assert result["changed"] is False and result["retired_key_ids"] == []


def test_missing_application():
    service = FakeGraph()
    service.app_visible = False
    with pytest.raises(ConfigurationError, match="No application matches unique_name 'pc-web'"):
        run(service)
    result, module = run(service, check_mode=True)
    assert result["changed"] and result["action"] == "created" and "does not exist" not in result["msg"]
    assert "(yet)" in module.module.items[0]
    result, dummy = run(service, state="absent")
    assert result["changed"] is False and "no secret to remove" in result["msg"]


def test_missing_application_is_waited_for_in_a_real_run():
    service = FakeGraph()
    service.app_visible = False
    real = service.__call__
    reads = []

    def appearing(sent):
        reads.append(sent.url)
        if len(reads) == 3:
            service.app_visible = True
        return real(sent)

    module = FakeModule(appearing)
    result = sec.run_pc_app_secret(module, now=NOW)
    assert result["action"] == "created"


def test_dest_of_another_application_fails_before_any_write(tmp_path):
    service = FakeGraph()
    dest = tmp_path / "s.json"
    dest.write_text(json.dumps({"key_id": "k", "secret": "v", "app_id": "someone-else"}))
    with pytest.raises(ConfigurationError, match="another application"):
        run(service, dest=str(dest))
    assert service.writes == [] and json.loads(dest.read_text())["secret"] == "v"


def test_end_date_time_inside_the_window_is_created_once_with_a_warning():
    service = FakeGraph()
    end = iso(NOW + 10 * DAY)
    result, module = run(service, end_date_time=end)
    assert result["action"] == "created" and result["end_date_time"] == end
    assert "within renew_before_days" in module.module.items[0]
    again, dummy = run(service, end_date_time=end)
    assert again["action"] == "none"


def test_the_tenant_id_comes_from_the_token_when_it_has_one(tmp_path):
    import base64

    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    service = FakeGraph()
    module = FakeModule(service, dest=str(tmp_path / "s.json"), tenant_id="contoso.onmicrosoft.com")
    guid = "99999999-8888-7777-6666-555555555555"
    module.graph.token_provider = lambda resource: "%s.%s.sig" % (part({"alg": "none"}), part({"tid": guid}))
    sec.run_pc_app_secret(module, now=NOW)
    assert json.loads((tmp_path / "s.json").read_text())["tenant_id"] == guid
