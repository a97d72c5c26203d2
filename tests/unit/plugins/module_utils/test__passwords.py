# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pc_app_secret's Graph calls, through runs against the in-memory Graph double of test__secrets: the
policy read and Graph's policy refusals, addPassword retried (ambiguous failures, throttling), waiting
for the application and for a secret to become visible."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.partnercenter.national_cloud.plugins.module_utils import _secrets as sec
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._errors import ServiceError, TransportError
from ansible_collections.partnercenter.national_cloud.plugins.module_utils._secret_stores import FileStore, PendingAddition
from tests.unit.conftest import FakeResponse
from tests.unit.plugins.module_utils.secret_helpers import DAY, NAME, NOW, iso
from tests.unit.plugins.module_utils.test__secrets import BASE, FakeGraph, FakeModule, graph_error, run, stored


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


@pytest.mark.parametrize("unknown_before", [0, 1])
def test_a_refusal_releases_the_claim_only_when_no_earlier_attempt_may_have_created_a_secret(tmp_path, monkeypatch,
                                                                                             unknown_before):
    """A shared store's claim is the proof that removes a secret a failed attempt created anyway: a refusal (4xx)
    releases it only when it came first; after an attempt whose outcome is unknown, the claim stays."""
    service = FakeGraph()
    service.add_failures_after_processing = unknown_before
    attempts = []

    def refuse_the_last_attempt():
        attempts.append(1)
        if len(attempts) == unknown_before + 1:
            service.add_failure = graph_error(400, "Request_BadRequest", "Invalid value specified for property 'endDateTime'.")

    service.on_add = refuse_the_last_attempt
    released = []
    monkeypatch.setattr(FileStore, "abandon", lambda self, claimed, version: released.append(claimed.pending[-1]))
    dest = tmp_path / "s.json"
    with pytest.raises(ServiceError) as err:
        run(service, dest=str(dest))
    assert err.value.status == 400 and err.value.unknown_attempts == unknown_before
    assert len(service.app["passwordCredentials"]) == unknown_before  # what the lost attempt created
    [claim] = stored(dest).pending
    assert released == ([] if unknown_before else [claim])


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
