# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_app_secret planning: lifetimes, secret selection and renewal windows, plans for every mode,
the store's record."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _secret_plan as sec
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ConfigurationError
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secret_stores import FileStore, SecretRecord
from tests.unit.plugins.module_utils.secret_helpers import DAY, NAME, NOW, TENANT, VALUE, addition_of, cred, iso


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
