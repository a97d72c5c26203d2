"""benchmarks/analysis.py: how a phase's request log is counted and matched to module invocations, the
numbers the targets of issue 6 are judged on."""
from __future__ import annotations

from benchmarks import analysis

TENANT = "11111111-2222-3333-4444-555555555555"


def entry(service, method, path, time="2026-11-27T10:00:01Z", **extra):
    return {"service": service, "method": method, "path": path, "time": time, "tenant_id": TENANT, "status": 200, **extra}


def test_round_trips_are_counted_by_category_and_batches_by_their_contents():
    log = [
        entry("identity", "GET", f"/{TENANT}/v2.0/.well-known/openid-configuration"),
        entry("identity", "POST", f"/{TENANT}/oauth2/v2.0/token"),
        entry("graph", "GET", "/v1.0/applications(uniqueName='pc')"),
        entry("graph", "POST", "/v1.0/$batch", request_id="b1"),  # reads only: one read round trip
        entry("graph", "GET", "/v1.0/servicePrincipals(appId='x')", batch="b1"),
        entry("graph", "GET", "/v1.0/oauth2PermissionGrants", batch="b1", status=429),
        entry("graph", "POST", "/v1.0/$batch", request_id="b2"),  # a write inside: a write round trip
        entry("graph", "POST", "/v1.0/servicePrincipals", batch="b2"),
        entry("graph", "PATCH", "/v1.0/applications/1"),
        entry("partner_center", "GET", "/v1/customers"),
    ]
    counts = analysis.request_counts(log)
    assert analysis.per_tenant(counts, 1) == {"identity": 2, "graph_reads": 2, "graph_writes": 2, "partner_center": 1}
    assert counts["identity_token_requests"] == 1 and counts["graph_batch_requests"] == 2
    assert counts["graph_batch_inner_requests"] == 3 and counts["throttled"] == counts["throttled_in_batches"] == 1
    assert counts["graph_write_operations"] == 2 and counts["graph_read_operations"] == 3
    assert analysis.per_tenant(counts, 2)["graph_writes"] == 1


def test_a_request_belongs_to_the_first_task_of_its_host_that_ended_after_it():
    events = [{"event": "result", "status": "ok", "host": "h1", "time": t, "task": name}
              for t, name in ((analysis.parse_time("2026-11-27T10:00:02Z"), "app"),
                              (analysis.parse_time("2026-11-27T10:00:05Z"), "permissions"))]
    log = [entry("graph", "GET", "/a", time="2026-11-27T10:00:01Z"), entry("graph", "GET", "/b", time="2026-11-27T10:00:03Z"),
           entry("graph", "GET", "/c", time="2026-11-27T10:00:09Z"), {**entry("graph", "GET", "/d"), "tenant_id": None}]
    matched, unmatched = analysis.attribute(log, events, {TENANT: "h1"})
    assert [(e["path"], r and r["task"]) for e, r in matched] == [("/a", "app"), ("/b", "permissions"), ("/c", None), ("/d", None)]
    assert unmatched == 2
