"""Targeted faults: `match` limits the random faults to some requests, and slow answers (delay_seconds,
delay_match) hold the answer of a request that took effect and is logged at once; the reliability
suite uses them to hit one operation (addPassword) and to crash a client at a precise point."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.emulator.client import EmulatorError


@pytest.fixture
def tenant(emulator):
    return emulator.tenant("public")


def test_matching_answers_are_held_and_logged_while_the_client_waits(emulator, tenant):
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "slow"}).json()
    emulator.set_faults(delay_seconds=1.5, delay_match=r"^POST .*/addPassword$")
    emulator.clear_log()
    answers: list[requests.Response] = []
    client = threading.Thread(target=lambda: answers.append(graph.post(f"/applications/{app['id']}/addPassword", json={})))
    started = time.monotonic()
    client.start()
    deadline = started + 1.2
    logged = []
    while not logged and time.monotonic() < deadline:
        logged = emulator.requests_log(service="graph", method="POST")
        time.sleep(0.02)
    assert logged and not answers, "the processed request shows in the log before its answer arrives"
    assert logged[0]["status"] == 200 and logged[0]["fault"] == "delay"
    # The credential exists already, while its value is still on its way.
    assert len(graph.get(f"/applications/{app['id']}").json()["passwordCredentials"]) == 1
    client.join(10)
    assert answers and answers[0].status_code == 200 and answers[0].json()["secretText"]
    assert time.monotonic() - started >= 1.5
    assert len(emulator.requests_log(service="graph", method="POST")) == 1, "logged once"


def test_the_query_is_part_of_what_match_and_delay_match_search(emulator, tenant):
    graph = emulator.graph(tenant)
    emulator.set_faults(server_error_probability=1.0, server_error_statuses=[500], match=r"\?.*passwordCredentials")
    assert graph.get("/applications", params={"$select": "id,passwordCredentials"}).status_code == 500
    assert graph.get("/applications", params={"$select": "id"}).status_code == 200
    assert graph.get("/applications").status_code == 200
    emulator.set_faults(delay_seconds=1, delay_match=r"^GET /v1\.0/applications\?.*passwordCredentials")
    started = time.monotonic()
    assert graph.get("/applications", params={"$select": "id"}).status_code == 200
    assert time.monotonic() - started < 0.9
    assert graph.get("/applications", params={"$select": "id,passwordCredentials"}).status_code == 200
    assert time.monotonic() - started >= 1


def test_a_held_answer_shows_the_state_when_the_request_was_processed(emulator, tenant):
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "held read"}).json()
    emulator.set_faults(delay_seconds=1.5, delay_match=r"^GET /v1\.0/applications/")
    answers: list[requests.Response] = []
    reader = threading.Thread(target=lambda: answers.append(graph.get(f"/applications/{app['id']}")))
    reader.start()
    assert wait_for_log(emulator, method="GET", path=f"/v1.0/applications/{app['id']}")
    emulator.set_faults()
    assert graph.post(f"/applications/{app['id']}/addPassword", json={}).status_code == 200
    reader.join(10)
    assert answers[0].status_code == 200 and answers[0].json()["passwordCredentials"] == []


def wait_for_log(emulator, timeout: float = 5, **filters: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.requests_log(**filters):
            return True
        time.sleep(0.02)
    return False


def test_other_requests_are_not_delayed(emulator, tenant):
    graph = emulator.graph(tenant)
    emulator.set_faults(delay_seconds=5, delay_match=r"addPassword")
    started = time.monotonic()
    assert graph.get("/applications").status_code == 200
    assert time.monotonic() - started < 4
    assert emulator.requests_log(service="graph")[-1]["fault"] is None


def test_a_client_that_gives_up_does_not_disturb_the_emulator(emulator, tenant):
    graph = emulator.graph(tenant)
    emulator.set_faults(delay_seconds=1, delay_match=r"^GET /v1\.0/organization$", services=["graph"])
    with pytest.raises(requests.Timeout):
        graph.session.get(f"{graph.base}/organization", timeout=0.3)
    time.sleep(1.2)
    emulator.set_faults()
    assert graph.get("/organization").status_code == 200


def test_match_limits_faults_to_matching_requests(emulator, tenant):
    graph = emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": "targeted"}).json()
    emulator.set_faults(server_error_probability=1.0, server_error_statuses=[500], match=r"^POST .*/addPassword$")
    assert graph.get(f"/applications/{app['id']}").status_code == 200
    assert graph.post(f"/applications/{app['id']}/addPassword", json={}).status_code == 500
    # A negative lookahead spares the matching requests instead.
    emulator.set_faults(server_error_probability=1.0, server_error_statuses=[500], match=r"^(?!POST .*/addPassword$)")
    assert graph.get(f"/applications/{app['id']}").status_code == 500
    assert graph.post(f"/applications/{app['id']}/addPassword", json={}).status_code == 200


def test_max_faults_per_request_lets_the_next_attempt_through(emulator, tenant):
    graph = emulator.graph(tenant)
    first = graph.post("/applications", json={"displayName": "first"}).json()
    second = graph.post("/applications", json={"displayName": "second"}).json()
    emulator.set_faults(server_error_probability=1.0, server_error_statuses=[502], max_faults_per_request=1,
                        match="addPassword$")
    for app in (first, second):  # each request (path) gets its own single fault
        assert graph.post(f"/applications/{app['id']}/addPassword", json={}).status_code == 502
        assert graph.post(f"/applications/{app['id']}/addPassword", json={}).status_code == 200
    emulator.set_faults(drop_probability=1.0, drop_after_processing=1.0, max_faults_per_request=2, match="addPassword$")
    for dummy in range(2):
        with pytest.raises(requests.ConnectionError):
            graph.post(f"/applications/{first['id']}/addPassword", json={})
    assert graph.post(f"/applications/{first['id']}/addPassword", json={}).status_code == 200
    # 1 answered after the 502 (which took no effect), 2 dropped after taking effect, 1 answered.
    assert len(graph.get(f"/applications/{first['id']}").json()["passwordCredentials"]) == 4


@pytest.mark.parametrize("settings", [{"delay_seconds": -1}, {"delay_seconds": 601}, {"delay_seconds": True},
                                      {"delay_seconds": 1, "delay_match": "("}, {"delay_match": 3}, {"match": "[a"},
                                      {"match": None}, {"max_faults_per_request": -1}, {"max_faults_per_request": 1.5}])
def test_bad_targeting_settings_are_refused(emulator, settings):
    with pytest.raises(EmulatorError, match="400"):
        emulator.set_faults(**settings)
