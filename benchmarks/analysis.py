"""Reading a phase's emulator request log against the playbook's own recording of its tasks.

The emulator logs every request with its start time, service, tenant and client; the benchmark's
callback (callback_plugins/bench_recorder.py) records when each task ended on each host. A host's
tasks run one after another and a module's requests all happen before its result reaches the
controller, so a request of tenant T at time t belongs to the first task of T's host that ended at
or after t: that is how requests are matched to module invocations without any help from the
collection (its User-Agent and client-request-id do not name the module).
"""
from __future__ import annotations

import bisect
import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

COLLECTION_PREFIX = "partnercenter.national_cloud."
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
CATEGORIES = ("identity", "graph_reads", "graph_writes", "partner_center")
# Tasks that run on the controller only (an action plugin, no module process): the baseline gives them
# a controller-only no-op too, and everything else a module run.
CONTROLLER_ONLY_ACTIONS = frozenset({
    "add_host", "assert", "debug", "fail", "group_by", "include_role", "include_tasks", "include_vars", "meta",
    "set_fact", "set_stats", "validate_argument_spec", "import_role", "import_tasks",
})
EXECUTED = ("ok", "failed")
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Microsoft first-party application ids that name a resource in request paths and bodies.
KNOWN_APP_IDS = {
    "00000003-0000-0000-c000-000000000000": "graph",
    "00000002-0000-0000-c000-000000000000": "aad_graph",
    "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd": "partner_center",
}
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access"})

# (service, method, path regex on the normalised path, short name) -> how the report names a request.
FRIENDLY_NAMES: tuple[tuple[str, str, str, str], ...] = (
    ("identity", "GET", r"/\.well-known/openid-configuration$", "OIDC discovery"),
    ("identity", "POST", r"/oauth2/v2\.0/token$", "token"),
    ("graph", "GET", r"^/v1\.0/applications\(uniqueName='\{name\}'\)$", "GET app"),
    ("graph", "PATCH", r"^/v1\.0/applications\(uniqueName='\{name\}'\)$", "PATCH app (upsert)"),
    ("graph", "GET", r"^/v1\.0/applications/\{id\}$", "GET app by id"),
    ("graph", "PATCH", r"^/v1\.0/applications/\{id\}$", "PATCH app"),
    ("graph", "GET", r"^/v1\.0/applications$", "GET apps ($filter)"),
    ("graph", "POST", r"^/v1\.0/applications$", "POST app"),
    ("graph", "POST", r"^/v1\.0/applications/\{id\}/addPassword$", "POST addPassword"),
    ("graph", "POST", r"^/v1\.0/applications/\{id\}/removePassword$", "POST removePassword"),
    ("graph", "GET", r"^/v1\.0/servicePrincipals\(appId='\{graph\}'\)$", "GET Graph SP"),
    ("graph", "GET", r"^/v1\.0/servicePrincipals\(appId='\{aad_graph\}'\)$", "GET Azure AD Graph SP"),
    ("graph", "GET", r"^/v1\.0/servicePrincipals\(appId='\{partner_center\}'\)$", "GET Partner Center SP"),
    ("graph", "GET", r"^/v1\.0/servicePrincipals\(appId='\{id\}'\)$", "GET app SP"),
    ("graph", "GET", r"^/v1\.0/servicePrincipals$", "GET SPs ($filter)"),
    ("graph", "POST", r"^/v1\.0/servicePrincipals$", "POST SP"),
    ("graph", "GET", r"^/v1\.0/servicePrincipals(/\{id\}|\(appId='\{id\}'\))/appRoleAssignments$", "GET app role assignments"),
    ("graph", "GET", r"^/v1\.0/servicePrincipals(/\{id\}|\(appId='\{id\}'\))/oauth2PermissionGrants$", "GET grants"),
    ("graph", "POST", r"^/v1\.0/servicePrincipals/\{id\}/appRoleAssignedTo$", "POST app role assignment"),
    ("graph", "DELETE", r"^/v1\.0/servicePrincipals/\{id\}/appRoleAssignedTo/.*$", "DELETE app role assignment"),
    ("graph", "GET", r"^/v1\.0/oauth2PermissionGrants$", "GET grants"),
    ("graph", "POST", r"^/v1\.0/oauth2PermissionGrants$", "POST grant"),
    ("graph", "PATCH", r"^/v1\.0/oauth2PermissionGrants/.*$", "PATCH grant"),
    ("graph", "GET", r"^/v1\.0/policies/defaultAppManagementPolicy$", "GET default app management policy"),
    ("graph", "GET", r"^/v1\.0/organization$", "GET organization"),
    ("partner_center", "GET", r"^/v1/customers$", "PC GET customers"),
)


def parse_time(value: str) -> float:
    """Epoch seconds of a request log time (ISO 8601 with milliseconds and an offset)."""
    return datetime.fromisoformat(value).timestamp()


def short_action(action: str) -> str:
    """`ansible.builtin.debug` -> `debug`; `partnercenter.national_cloud.pc_aad_app` -> `pc_aad_app`."""
    return action.rsplit(".", 1)[-1]


def is_collection_module(action: str) -> bool:
    """Whether an action is one of the collection's modules."""
    return action.startswith(COLLECTION_PREFIX)


def split_batches(log: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The round trips of a log, and the requests that Graph `$batch` round trips carried (the emulator
    logs each of those too, with `batch` set to the request id of its `$batch`), by that request id."""
    trips: list[dict[str, Any]] = []
    inner: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in log:
        if entry.get("batch"):
            inner[entry["batch"]].append(entry)
        else:
            trips.append(entry)
    return trips, inner


def is_batch(entry: dict[str, Any]) -> bool:
    """A Graph JSON batching round trip."""
    return entry["service"] == "graph" and entry["method"] == "POST" and entry["path"].rstrip("/").endswith("/$batch")


def batch_methods(entry: dict[str, Any], inner: dict[str, list[dict[str, Any]]] | None = None) -> list[str]:
    """The methods of the requests inside a `$batch` round trip (from the log, else from its logged body)."""
    if not is_batch(entry):
        return []
    carried = (inner or {}).get(entry.get("request_id") or "")
    if carried:
        return [item["method"] for item in carried]
    body = entry.get("body")
    if isinstance(body, dict) and isinstance(body.get("requests"), list):
        return [str(item.get("method", "GET")).upper() for item in body["requests"] if isinstance(item, dict)]
    return []


def is_write(entry: dict[str, Any], inner: dict[str, list[dict[str, Any]]] | None = None) -> bool:
    """A round trip that may change state: a write method, except a `$batch` of reads only (one read
    round trip; a batch with any write inside is a write)."""
    if is_batch(entry):
        return any(method in WRITE_METHODS for method in batch_methods(entry, inner))
    return entry["method"] in WRITE_METHODS


def category(entry: dict[str, Any], inner: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """identity, graph_reads, graph_writes or partner_center (of a round trip)."""
    service = entry["service"]
    if service == "graph":
        return "graph_writes" if is_write(entry, inner) else "graph_reads"
    return service


def write_operations(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every Graph or Partner Center write, each request inside a `$batch` on its own (not the batch)."""
    return [entry for entry in log
            if entry["service"] in ("graph", "partner_center") and not is_batch(entry) and entry["method"] in WRITE_METHODS]


def normalise_path(path: str) -> str:
    """Ids replaced: first-party app ids by their name ({graph}, {partner_center}), others by {id};
    unique names by {name}."""
    path = GUID.sub(lambda match: "{%s}" % KNOWN_APP_IDS.get(match.group(0).lower(), "id"), path)
    return re.sub(r"(uniqueName)='[^']*'", r"\1='{name}'", path)


def normalise_query(query: str) -> str:
    """The decoded query with ids replaced."""
    return normalise_path(unquote(query or ""))


def select_of(entry: dict[str, Any]) -> str | None:
    """The `$select` of a request, if any."""
    match = re.search(r"(?:^|&)\$select=([^&]*)", unquote(entry.get("query") or ""))
    return match.group(1) if match else None


def resource_of(scope: str) -> str:
    """The resource of a token request's scope ('https://graph.microsoft.us/.default openid' ->
    'https://graph.microsoft.us')."""
    for item in scope.split():
        if item in OIDC_SCOPES:
            continue
        if "://" in item:
            return item.rsplit("/", 1)[0]
        return item
    return ""


def friendly_name(entry: dict[str, Any], inner: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """A short name for a request: 'GET app', 'GET Graph SP', 'POST SP (partner_center)', 'token (graph)',
    '$batch [GET app, GET Graph SP]'."""
    if is_batch(entry):
        carried = (inner or {}).get(entry.get("request_id") or "", [])
        return f"$batch [{', '.join(friendly_name(item) for item in carried)}]"
    path = normalise_path(entry["path"])
    for service, method, pattern, name in FRIENDLY_NAMES:
        if entry["service"] == service and entry["method"] == method and re.search(pattern, path):
            body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
            if name == "token":
                return f"token ({resource_name(resource_of(str(body.get('scope', ''))))})"
            if name == "POST SP":
                return f"{name} ({KNOWN_APP_IDS.get(str(body.get('appId') or '').lower(), 'app')})"
            return name
    prefix = {"graph": "", "partner_center": "PC ", "identity": "identity "}.get(entry["service"], "")
    return f"{prefix}{entry['method']} {path}"


def resource_name(resource: str) -> str:
    """'https://graph.microsoft.com' -> 'graph'; Partner Center -> 'partner_center'."""
    lowered = resource.lower()
    if "graph" in lowered:
        return "graph"
    if "partnercenter" in lowered or "partner" in lowered:
        return "partner_center"
    return resource


def request_detail(entry: dict[str, Any]) -> str:
    """'GET /v1.0/applications(uniqueName='{name}')?$select=...' with ids normalised."""
    query = normalise_query(entry.get("query") or "")
    return f"{entry['method']} {normalise_path(entry['path'])}" + (f"?{query}" if query else "")


# --- the callback's recording ---------------------------------------------------------------------

def read_events(path: Path) -> list[dict[str, Any]]:
    """The JSON lines the bench_recorder callback wrote."""
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def task_structure(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks of a run in the order they started, each with the hosts it ran on and skipped on."""
    tasks: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["event"] == "task_start" and event["task_uuid"] not in tasks:
            tasks[event["task_uuid"]] = {"uuid": event["task_uuid"], "task": event["task"], "action": event["action"],
                                         "role": event.get("role"), "run_once": event.get("run_once", False),
                                         "executed": [], "skipped": []}
        elif event["event"] == "result":
            task = tasks.setdefault(event["task_uuid"], {
                "uuid": event["task_uuid"], "task": event["task"], "action": event["action"], "role": event.get("role"),
                "run_once": event.get("run_once", False), "executed": [], "skipped": []})
            task["executed" if event["status"] in EXECUTED else "skipped"].append(event["host"])
    for task in tasks.values():
        task["kind"] = "controller" if short_action(task["action"]) in CONTROLLER_ONLY_ACTIONS else "module"
    return list(tasks.values())


def task_counts(events: list[dict[str, Any]], hosts: list[str]) -> dict[str, Any]:
    """Tasks per host (executed, skipped), module runs per host, and collection-module invocations."""
    executed: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    module_runs: Counter[str] = Counter()
    invocations: Counter[str] = Counter()
    failed = 0
    for event in events:
        if event["event"] != "result":
            continue
        if event["status"] in EXECUTED:
            executed[event["host"]] += 1
            if short_action(event["action"]) not in CONTROLLER_ONLY_ACTIONS:
                module_runs[event["host"]] += 1
            if is_collection_module(event["action"]):
                invocations[short_action(event["action"])] += 1
            failed += event["status"] == "failed"
        else:
            skipped[event["host"]] += 1
    count = max(len(hosts), 1)
    return {
        "tasks_per_host": round(sum(executed.values()) / count, 2),
        "skipped_per_host": round(sum(skipped.values()) / count, 2),
        "module_runs_per_host": round(sum(module_runs.values()) / count, 2),
        "module_invocations": sum(invocations.values()),
        "module_invocations_by_module": dict(sorted(invocations.items())),
        "failed_tasks": failed,
    }


# --- the request log ------------------------------------------------------------------------------

def request_counts(log: list[dict[str, Any]]) -> Counter[str]:
    """Round trips per category; 429s (inside batches too); write and read operations (each request
    inside a `$batch` counted on its own); error statuses and injected faults."""
    trips, inner = split_batches(log)
    counts: Counter[str] = Counter()
    for entry in trips:
        counts[category(entry, inner)] += 1
        counts["identity_token_requests"] += entry["service"] == "identity" and entry["method"] == "POST"
        if is_batch(entry):
            counts["graph_batch_requests"] += 1
            counts["graph_batch_inner_requests"] += len(batch_methods(entry, inner))
    for entry in log:
        counts["throttled"] += entry.get("status") == 429
        counts["throttled_in_batches"] += entry.get("status") == 429 and bool(entry.get("batch"))
        if entry["service"] in ("graph", "partner_center") and not is_batch(entry):
            kind = "write" if entry["method"] in WRITE_METHODS else "read"
            counts[f"{entry['service']}_{kind}_operations"] += 1
        if (entry.get("status") or 0) >= 400:
            counts[f"status_{entry.get('status')}_{entry['service']}"] += 1
        if entry.get("fault"):
            counts[f"fault_{entry['fault']}"] += 1
    return counts


def per_tenant(counts: Counter[str], tenants: int) -> dict[str, float]:
    """The four request categories per tenant."""
    return {name: round(counts[name] / max(tenants, 1), 2) for name in CATEGORIES}


def attribute(log: list[dict[str, Any]], events: list[dict[str, Any]],
              host_of_tenant: dict[str, str]) -> tuple[list[tuple[dict[str, Any], dict[str, Any] | None]], int]:
    """Each request with the task result (the module invocation) it belongs to; and how many requests
    could not be matched (no tenant, or after the host's last task)."""
    ends: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for event in events:
        if event["event"] == "result" and event["status"] in EXECUTED:
            ends[event["host"]].append((event["time"], event))
    for host_ends in ends.values():
        host_ends.sort(key=lambda item: item[0])
    times = {host: [end for end, dummy in host_ends] for host, host_ends in ends.items()}
    matched: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    unmatched = 0
    for entry in log:
        host = host_of_tenant.get(entry.get("tenant_id") or "")
        result = None
        if host in ends:
            index = bisect.bisect_left(times[host], parse_time(entry["time"]))
            if index < len(ends[host]):
                result = ends[host][index][1]
        unmatched += result is None
        matched.append((entry, result))
    return matched, unmatched


def module_breakdown(matched: list[tuple[dict[str, Any], dict[str, Any] | None]],
                     events: list[dict[str, Any]]) -> dict[str, Any]:
    """Per collection module (and per task): invocations, requests per invocation by category, which
    requests (by name, in their usual order) and their exact shape ($select) per invocation."""
    invocations: dict[str, int] = Counter()
    task_invocations: dict[str, int] = Counter()
    for event in events:
        if event["event"] == "result" and event["status"] in EXECUTED and is_collection_module(event["action"]):
            invocations[short_action(event["action"])] += 1
            task_invocations[_task_key(event)] += 1
    inner: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry, dummy in matched:
        if entry.get("batch"):
            inner[entry["batch"]].append(entry)
    by_invocation: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for entry, result in matched:
        if result is not None and not entry.get("batch"):
            by_invocation[(result["host"], result["task_uuid"])].append(entry)
    results = {(e["host"], e["task_uuid"]): e for e in events if e["event"] == "result" and e["status"] in EXECUTED}
    modules: dict[str, dict[str, Any]] = {}
    tasks: dict[str, dict[str, Any]] = {}
    for key, entries in by_invocation.items():
        result = results[key]
        for group, name in ((modules, short_action(result["action"])), (tasks, _task_key(result))):
            stats = group.setdefault(name, {"categories": Counter(), "names": Counter(), "details": Counter(),
                                            "sequences": Counter(), "module": short_action(result["action"])})
            for entry in entries:
                stats["categories"][category(entry, inner)] += 1
                stats["names"][friendly_name(entry, inner)] += 1
                stats["details"][request_detail(entry)] += 1
                for item in inner.get(entry.get("request_id") or "", []):
                    stats["details"][f"(in $batch) {request_detail(item)}"] += 1
            stats["sequences"][tuple(friendly_name(entry, inner) for entry in entries)] += 1
    return {
        "per_module": {name: _summarise(stats, invocations.get(name, 0)) for name, stats in sorted(modules.items())},
        "per_task": {name: _summarise(stats, task_invocations.get(name, 0)) for name, stats in tasks.items()},
        "modules_without_requests": sorted(set(invocations) - set(modules)),
    }


def _task_key(event: dict[str, Any]) -> str:
    """'web_app / pc_aad_app: Ensure the web app registration'."""
    name = event["task"].split(" : ", 1)[-1]
    role = short_action(event["role"]) if event.get("role") else "play"
    return f"{role} / {short_action(event['action'])}: {name}"


def _summarise(stats: dict[str, Any], invocations: int) -> dict[str, Any]:
    runs = max(invocations, 1)
    sequence, seen = stats["sequences"].most_common(1)[0]
    return {
        "module": stats["module"],
        "invocations": invocations,
        "requests_per_invocation": {name: round(stats["categories"][name] / runs, 2) for name in CATEGORIES},
        "requests_by_name_per_invocation": {name: round(count / runs, 2) for name, count in stats["names"].most_common()},
        "typical_sequence": list(sequence),
        "typical_sequence_share": round(seen / max(sum(stats["sequences"].values()), 1), 2),
        "request_details_per_invocation": {detail: round(count / runs, 2) for detail, count in sorted(stats["details"].items())},
    }


# --- identity ---------------------------------------------------------------------------------------

def identity_summary(logs: dict[str, list[dict[str, Any]]], admin_clients: set[str], tenants: int) -> dict[str, Any]:
    """Identity-platform requests of the whole run against the distinct (tenant, client, resource) it
    needed, from the token requests' form bodies (client_id, scope; secrets are redacted)."""
    triples: Counter[tuple[str, str, str]] = Counter()
    other: Counter[str] = Counter()
    per_phase: dict[str, dict[str, int]] = {}
    for phase, log in logs.items():
        tokens = others = 0
        for entry in log:
            if entry["service"] != "identity":
                continue
            body = entry.get("body") if isinstance(entry.get("body"), dict) else {}
            if entry["method"] == "POST" and entry["path"].endswith("/token"):
                tenant = entry["path"].strip("/").split("/", 1)[0]
                client = str(body.get("client_id") or entry.get("client_id") or "")
                triples[(tenant.lower(), client.lower(), resource_of(str(body.get("scope", ""))))] += 1
                tokens += 1
            else:
                other[friendly_name(entry)] += 1
                others += 1
        per_phase[phase] = {"token_requests": tokens, "other_identity_requests": others}
    kinds: dict[str, dict[str, Any]] = {}
    for (dummy, client, resource), count in triples.items():
        kind = f"{'admin (automation) client' if client in admin_clients else 'created web app'} -> {resource_name(resource)}"
        slot = kinds.setdefault(kind, {"triples": 0, "token_requests": 0, "max_token_requests_per_triple": 0})
        slot["triples"] += 1
        slot["token_requests"] += count
        slot["max_token_requests_per_triple"] = max(slot["max_token_requests_per_triple"], count)
    distinct = len(triples)
    total = sum(triples.values()) + sum(other.values())
    return {
        "distinct_tenant_client_resource": distinct,
        "distinct_per_tenant": round(distinct / max(tenants, 1), 2),
        "token_requests": sum(triples.values()),
        "other_identity_requests": dict(other),
        "identity_requests": total,
        "identity_requests_per_triple": round(total / distinct, 2) if distinct else 0.0,
        "token_requests_per_triple": round(sum(triples.values()) / distinct, 2) if distinct else 0.0,
        "max_token_requests_per_triple": max(triples.values(), default=0),
        "by_client_and_resource": dict(sorted(kinds.items())),
        "per_phase": per_phase,
    }


# --- the create phase's writes against the minimum the job needs -------------------------------------

# Per tenant, both flows, default settings (roles/*/defaults): the Graph writes the procedure cannot do
# without, with the modules split as DESIGN section 4 fixes them. Each entry: (request name as
# friendly_name() gives it, count, why).
EXPECTED_CREATE_WRITES: tuple[tuple[str, str, int, str], ...] = (
    ("web app", "PATCH app (upsert)", 1, "create the app registration (upsert by uniqueName)"),
    ("web app", "POST SP (app)", 1, "its service principal (consent and Partner Center need it)"),
    ("web app", "PATCH app", 1, "requiredResourceAccess: Directory.Read.All (application)"),
    ("web app", "POST app role assignment", 1, "admin consent of the application permission"),
    ("web app", "POST addPassword", 1, "the client secret (value shown once)"),
    ("native app", "PATCH app (upsert)", 1, "create the public-client app registration"),
    ("native app", "POST SP (app)", 1, "its service principal (the grants' clientId)"),
    ("native app", "PATCH app", 1, "requiredResourceAccess: 4 Graph scopes + Partner Center user_impersonation"),
    ("tenant", "POST SP (partner_center)", 1, "Microsoft Partner Center's service principal, absent from a new tenant: "
     "the resource of the native app's Partner Center grant (once per tenant, first rollout only; today "
     "pc_register_webapp creates it as a Partner Center prerequisite)"),
    ("native app", "POST grant", 2, "admin consent: one AllPrincipals grant per resource (Microsoft Graph, Partner Center)"),
)


def expected_create_writes() -> dict[str, Any]:
    """The expected minimum of Graph writes per tenant, with the reason for each."""
    items = [{"flow": flow, "request": name, "count": count, "why": why} for flow, name, count, why in EXPECTED_CREATE_WRITES]
    return {"per_tenant": sum(item["count"] for item in items), "items": items,
            "note": "Partner Center's registration of the web app is a portal step (no API write); the modules are "
                    "separate (DESIGN section 4), so requiredResourceAccess is a PATCH of its own: folding it into the "
                    "upsert would save 2 writes per tenant but merge pc_aad_app and pc_aad_permissions."}


def create_writes_check(log: list[dict[str, Any]], host_of_tenant: dict[str, str]) -> dict[str, Any]:
    """Measured writes per tenant (by name) against EXPECTED_CREATE_WRITES: extra and missing ones."""
    expected: Counter[str] = Counter()
    for dummy, name, count, dummy_why in EXPECTED_CREATE_WRITES:
        expected[name] += count
    per_host: dict[str, Counter[str]] = {host: Counter() for host in host_of_tenant.values()}
    for entry in write_operations(log):
        host = host_of_tenant.get(entry.get("tenant_id") or "", "(unknown tenant)")
        per_host.setdefault(host, Counter())[friendly_name(entry)] += 1
    extra: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    totals = []
    for counts in per_host.values():
        totals.append(sum(counts.values()))
        extra.update(counts - expected)
        missing.update(expected - counts)
    return {
        "expected_per_tenant": sum(expected.values()),
        "measured_per_tenant": round(sum(totals) / max(len(totals), 1), 2),
        "measured_min": min(totals, default=0), "measured_max": max(totals, default=0),
        "extra_writes_total": dict(extra), "missing_writes_total": dict(missing),
        "tenants_at_minimum": sum(1 for counts in per_host.values() if counts == expected),
    }
