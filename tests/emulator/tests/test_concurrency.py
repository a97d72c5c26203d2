"""Concurrency: racing upserts yield one application; the store stays consistent under load."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.emulator.client import GraphSession


def test_upsert_racing_itself_creates_one_application(emulator):
    tenant = emulator.tenant("public")
    token = emulator.token(tenant)

    def upsert(attempt: int) -> int:
        del attempt
        graph = GraphSession(emulator, "public", token)
        return graph.patch("/applications(uniqueName='raced')", json={"displayName": "raced"},
                           headers={"Prefer": "create-if-missing"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(upsert, range(16)))
    assert sorted(statuses) == [201] + [204] * 15
    found = emulator.graph(tenant).get("/applications", params={"$filter": "uniqueName eq 'raced'"}).json()["value"]
    assert len(found) == 1


def test_concurrent_creates_all_land(emulator):
    tenant = emulator.tenant("usgov")
    token = emulator.token(tenant)

    def create(n: int) -> int:
        return GraphSession(emulator, "usgov", token).post("/applications", json={"displayName": f"c{n}"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(create, range(40))) == {201}
    listed = emulator.graph(tenant).get("/applications", params={"$filter": "startswith(displayName,'c')", "$top": "999"})
    assert len(listed.json()["value"]) == 40
