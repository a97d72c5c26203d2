"""The targets of issue 6 against a result, the Markdown report, and the comparison of two results."""
from __future__ import annotations

from typing import Any

LE = "\u2264"  # less-than-or-equal sign
TIMES = "\u00d7"  # multiplication sign
PHASES = ("create", "rerun", "audit")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return str(value)


def _share(value: Any) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured number and whether it is met."""
    phases = result["phases"]
    create, rerun, audit = phases["create"], phases["rerun"], phases["audit"]
    writes = result["create_writes"]
    identity = result["identity"]
    other = sum(identity["other_identity_requests"].values())
    ratio = rerun.get("wall_vs_baseline")
    reads = rerun.get("graph_reads_per_module_invocation")
    return [
        {"id": "create_writes", "target": "Create: Graph writes per tenant = the minimum the job needs",
         "expected": f"{writes['expected_per_tenant']}",
         "measured": f"{_fmt(create['writes_per_tenant'])} (min {writes['measured_min']}, max {writes['measured_max']})",
         "value": create["writes_per_tenant"],
         "met": writes["measured_min"] == writes["measured_max"] == writes["expected_per_tenant"]
         and writes["tenants_at_minimum"] == result["tenants"]},
        {"id": "identity_per_triple", "target": "Whole run: identity requests per (tenant, client, resource)",
         "expected": f"{LE} 1",
         "measured": f"{_fmt(identity['identity_requests_per_triple'])} ({identity['token_requests']} token + {other} discovery "
                     f"requests for {identity['distinct_tenant_client_resource']} triples; max {identity['max_token_requests_per_triple']} "
                     "token request per triple)",
         "value": identity["identity_requests_per_triple"],
         "met": identity["identity_requests"] <= identity["distinct_tenant_client_resource"]
         and identity["max_token_requests_per_triple"] <= 1},
        {"id": "rerun_writes", "target": "Rerun: writes per tenant", "expected": "0",
         "measured": _fmt(rerun["writes_per_tenant"]), "value": rerun["writes_per_tenant"], "met": rerun["writes_per_tenant"] == 0},
        {"id": "rerun_identity", "target": "Rerun: identity requests per tenant", "expected": "0",
         "measured": _fmt(rerun["requests_per_tenant"]["identity"]), "value": rerun["requests_per_tenant"]["identity"],
         "met": rerun["requests_per_tenant"]["identity"] == 0},
        {"id": "rerun_graph_reads_per_invocation", "target": "Rerun: Graph reads per module invocation", "expected": f"{LE} 2",
         "measured": f"{_fmt(reads)} ({rerun['requests_total']['graph_reads']} reads / {rerun['tasks']['module_invocations']} invocations)",
         "value": reads, "met": reads is not None and reads <= 2},
        {"id": "audit_writes", "target": "Audit (--check): writes per tenant", "expected": "0",
         "measured": _fmt(audit["writes_per_tenant"]), "value": audit["writes_per_tenant"], "met": audit["writes_per_tenant"] == 0},
        {"id": "rerun_wall_vs_baseline", "target": f"Rerun: wall time / no-op floor (forks {result['forks']})",
         "expected": f"{LE} 1.5",
         "measured": (f"{_fmt(ratio)} ({_fmt(rerun['wall_s'], 1)} s / {_fmt(rerun['baseline_wall_s'], 1)} s)" if ratio is not None
                      else "not measured"),
         "value": ratio, "met": ratio is not None and ratio <= 1.5},
        {"id": "rerun_cpu_vs_baseline", "target": "Rerun: CPU time / no-op floor (informational: less sensitive to other load)",
         "expected": f"({LE} 1.5)",
         "measured": (f"{_fmt(rerun.get('cpu_vs_baseline'))} ({_fmt(rerun['cpu_s'], 1)} s / {_fmt(rerun.get('baseline_cpu_s'), 1)} s)"
                      if rerun.get("cpu_vs_baseline") is not None else "not measured"),
         "value": rerun.get("cpu_vs_baseline"), "met": None},
    ]


def targets_table(result: dict[str, Any]) -> list[str]:
    """The targets as a Markdown table."""
    lines = ["| target | expected | measured | met |", "|---|---|---|---|"]
    for target in result["targets"]:
        met = "(info)" if target["met"] is None else "met" if target["met"] else "**not met**"
        lines.append(f"| {target['target']} | {target['expected']} | {target['measured']} | {met} |")
    return lines


def phases_table(result: dict[str, Any]) -> list[str]:
    """Per phase: time, floor, requests per tenant, 429s, memory."""
    lines = ["| phase | wall s | no-op floor s | ratio | CPU s (floor) | identity /tenant | Graph reads /tenant | "
             "Graph writes /tenant | Partner Center /tenant | 429s | peak RSS MB (floor) | tasks /host (module runs) | other load (floor) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in PHASES:
        phase = result["phases"][name]
        per = phase["requests_per_tenant"]
        floor_rss = f" ({_fmt(phase.get('baseline_peak_rss_mb'), 0)})" if phase.get("baseline_peak_rss_mb") is not None else ""
        floor_cpu = f" ({_fmt(phase.get('baseline_cpu_s'), 1)})" if phase.get("baseline_cpu_s") is not None else ""
        tasks = phase["tasks"]
        lines.append(
            f"| {name} | {_fmt(phase['wall_s'], 1)} | {_fmt(phase['baseline_wall_s'], 1)} | {_fmt(phase.get('wall_vs_baseline'))} | "
            f"{_fmt(phase.get('cpu_s'), 1)}{floor_cpu} | {_fmt(per['identity'])} | {_fmt(per['graph_reads'])} | "
            f"{_fmt(per['graph_writes'])} | {_fmt(per['partner_center'])} | {phase['throttled']} | "
            f"{_fmt(phase['peak_rss_mb'], 0)}{floor_rss} | {_fmt(tasks['tasks_per_host'])} ({_fmt(tasks['module_runs_per_host'])}) | "
            f"{_share(phase.get('other_load_share'))} ({_share(phase.get('baseline_other_load_share'))}) |")
    return lines


def module_table(phase: dict[str, Any]) -> list[str]:
    """Requests per invocation of each of the collection's modules in one phase."""
    lines = ["| module | invocations | Graph reads /run | Graph writes /run | identity /run | Partner Center /run |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, stats in phase.get("per_module", {}).items():
        per = stats["requests_per_invocation"]
        lines.append(f"| {name} | {stats['invocations']} | {_fmt(per['graph_reads'])} | {_fmt(per['graph_writes'])} | "
                     f"{_fmt(per['identity'])} | {_fmt(per['partner_center'])} |")
    for name in phase.get("modules_without_requests", []):
        lines.append(f"| {name} | {phase['tasks']['module_invocations_by_module'].get(name, 0)} | 0 | 0 | 0 | 0 |")
    return lines


def task_sequences(phase: dict[str, Any]) -> list[str]:
    """Per task: the requests one invocation makes, in order (the most common sequence)."""
    lines = []
    for name, stats in phase.get("per_task", {}).items():
        share = "" if stats["typical_sequence_share"] >= 1 else f" (in {stats['typical_sequence_share']:.0%} of runs)"
        lines.append(f"- `{name}` ({stats['invocations']} runs){share}: {', '.join(stats['typical_sequence'])}")
    return lines


def request_details(phase: dict[str, Any]) -> list[str]:
    """Per module: each distinct request (ids normalised) and how often one invocation makes it."""
    lines = []
    for name, stats in phase.get("per_module", {}).items():
        lines.append(f"- `{name}`:")
        for detail, count in stats["request_details_per_invocation"].items():
            lines.append(f"  - {_fmt(count)} {TIMES} `{detail}`")
    return lines


def startup_table(startup: dict[str, Any] | None) -> list[str]:
    """Per module: what one task's process imports and compiles, and how long that takes (benchmarks/startup.py)."""
    if not startup:
        return []
    lines = ["## Module start-up per task (real module runs under -X importtime)", "",
             f"Hosts {', '.join(startup['hosts'])} (one per cloud), forks {startup['forks']}; counts are per process (the same in "
             "every run unless marked), seconds the median. module_utils: collection files imported, each compiled from the "
             "AnsiballZ zip. Import s: the sum of every import's own time (compiling included); CPU s: the whole module "
             "process (user + system, importtime's overhead included).", "",
             "| module | phase | runs | module_utils | third-party packages (modules) | import s | of which module_utils | of which third-party | CPU s |",
             "|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for name, entry in startup["modules"].items():
        most = entry["module_utils_count"]
        fewest = entry.get("module_utils_min_count", most)
        same = "" if entry["same_imports_every_run"] else f" (varies: {fewest} to {most})" if fewest != most else " (varies)"
        third = ", ".join(f"{pkg} {count}" for pkg, count in entry["third_party"].items()) or "none"
        lines.append(f"| {name} | {entry.get('phase', '')} | {entry['processes']} | {most}{same} | {third} ({entry['third_party_modules']}) | "
                     f"{_fmt(entry['import_s'], 3)} | {_fmt(entry['module_utils_s'], 3)} | {_fmt(entry['third_party_s'], 3)} | "
                     f"{_fmt(entry['cpu_s'], 3)} |")
    lines += ["", "module_utils imported per module (the most in one run): "
              + "; ".join(f"{name}: {', '.join(entry['module_utils']) or 'none'}" for name, entry in startup["modules"].items()), ""]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The whole report."""
    machine = result.get("machine", {})
    rerun = result["phases"]["rerun"]
    out = [
        f"# Rollout benchmark: {result['tenants']} tenants, forks {result['forks']}",
        "",
        f"Measured {result.get('started_at', '?')} on {machine.get('platform', '?')} ({machine.get('cpus_usable', '?')} usable CPUs, "
        f"load average {machine.get('loadavg_before', ['?'])[0]} before, {machine.get('loadavg_after', ['?'])[0]} after), "
        f"ansible-core {machine.get('ansible_core', '?')}, commit {str(machine.get('git_commit') or '?')[:12]}"
        f"{' + uncommitted changes to the collection' if machine.get('collection_modified_since_commit') else ''}. "
        f"Tenants per cloud: {', '.join(f'{k} {v}' for k, v in result.get('clouds', {}).items())}. "
        "Reproduce: `make bench` (`python -m benchmarks.rollout --help`).",
        "",
        "## Targets (issue 6)",
        "",
        *targets_table(result),
        "",
        "## Phases",
        "",
        "Requests per tenant from the emulator's request log; wall and CPU time (user + system, the whole ansible-playbook "
        "process tree) of the playbook run; the no-op floor runs the same tasks per host (ping for each module task, debug for "
        "each controller-only task) with the same forks. Other load: the CPU that other processes on the machine used during "
        "the run, as a share of all CPUs; wall times and their ratio are only comparable when it is low for both runs.",
        "",
        *phases_table(result),
        "",
        "## Create phase: Graph writes per tenant against the minimum",
        "",
    ]
    writes = result["create_writes"]
    for item in writes["items"]:
        out.append(f"- {item['flow']}: {item['count']} {TIMES} {item['request']}: {item['why']}")
    out += ["", f"Expected {writes['expected_per_tenant']} per tenant; measured {_fmt(writes['measured_per_tenant'])} "
                f"({writes['tenants_at_minimum']} of {result['tenants']} tenants exactly at the minimum). {writes['note']}"]
    if writes["extra_writes_total"] or writes["missing_writes_total"]:
        out.append(f"Extra writes (all tenants): {writes['extra_writes_total'] or 'none'}; missing: {writes['missing_writes_total'] or 'none'}.")
    out += ["", "## Rerun phase: requests per module invocation", "",
            f"Graph reads per module invocation: {_fmt(rerun.get('graph_reads_per_module_invocation'))} "
            f"(target {LE} 2). Requests are matched to the task that made them by tenant and time "
            f"({rerun.get('unattributed_requests', 0)} unmatched).", "",
            *module_table(rerun), "", "Requests of one invocation, in order:", "", *task_sequences(rerun), "",
            "Request shapes per invocation (ids normalised):", "", *request_details(rerun), ""]
    for name in ("create", "audit"):
        out += [f"## {name.capitalize()} phase: requests per module invocation", "", *module_table(result["phases"][name]), "",
                *task_sequences(result["phases"][name]), ""]
    identity = result["identity"]
    out += ["## Identity platform: requests per (tenant, client, resource), whole run", "",
            "| client -> resource | triples | token requests | max per triple |", "|---|---:|---:|---:|"]
    for kind, stats in identity["by_client_and_resource"].items():
        out.append(f"| {kind} | {stats['triples']} | {stats['token_requests']} | {stats['max_token_requests_per_triple']} |")
    out += ["", f"Other identity requests: {identity['other_identity_requests'] or 'none'}. Per phase: "
                + "; ".join(f"{k} {v['token_requests']} token + {v['other_identity_requests']} other" for k, v in identity["per_phase"].items())
                + ".", ""]
    imports = result["import_time"]
    out += ["## Module start-up: import time (fresh interpreter, median)", "",
            "| import | seconds |", "|---|---:|",
            f"| python -c pass (interpreter start, whole process) | {imports['python_startup_s']} |",
            f"| ansible.module_utils.basic (any module) | {imports['ansible_module_basic_s']} |",
            f"| module_utils._module (the collection's core) | {imports['module_utils_s']} |",
            *(f"| modules.{name} | {value} |" for name, value in imports["modules_s"].items()),
            *([f"| compiling every module_utils source (AnsiballZ imports them from a zip: no .pyc, so every module run "
               f"compiles what it imports) | {imports['module_utils_compile_s']} |"] if "module_utils_compile_s" in imports else []), "",
            "Heaviest top-level packages under module_utils._module (cumulative, first import): "
            + ", ".join(f"{name} {value} s" for name, value in imports["heaviest_imports_s"].items()) + ".", ""]
    out += startup_table(result.get("startup"))
    curve = result.get("forks_curve")
    out += ["## Forks (rerun phase)", ""]
    if curve:
        out += ["| forks | wall s | no-op floor s | ratio | CPU s (floor) | tenants /s | peak RSS MB (floor) | other load (floor) |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for point in curve:
            out.append(f"| {point['forks']} | {_fmt(point['wall_s'], 1)} | {_fmt(point['baseline_wall_s'], 1)} | "
                       f"{_fmt(point['wall_vs_baseline'])} | {_fmt(point['cpu_s'], 1)} ({_fmt(point['baseline_cpu_s'], 1)}) | "
                       f"{_fmt(point['tenants_per_s'])} | {_fmt(point['peak_rss_mb'], 0)} ({_fmt(point.get('baseline_peak_rss_mb'), 0)}) | "
                       f"{_share(point.get('other_load_share'))} ({_share(point.get('baseline_other_load_share'))}) |")
    else:
        out.append("Not measured in this run (`make bench-forks`, or `python -m benchmarks.rollout --forks-curve`).")
    timings = result.get("timings", {})
    out += ["", f"Benchmark run time: {timings.get('total_s', '?')} s ({timings.get('without_forks_curve_s', '?')} s without the forks "
                "curve, i.e. what `make bench` takes)." if timings.get("forks_curve_s") else
            f"Benchmark run time: {timings.get('total_s', '?')} s.", ""]
    return "\n".join(out)


COMPARED: tuple[tuple[str, ...], ...] = (
    ("wall_s",), ("baseline_wall_s",), ("wall_vs_baseline",), ("cpu_s",), ("cpu_vs_baseline",),
    ("requests_per_tenant", "identity"), ("requests_per_tenant", "graph_reads"), ("requests_per_tenant", "graph_writes"),
    ("requests_per_tenant", "partner_center"), ("throttled",), ("peak_rss_mb",), ("graph_reads_per_module_invocation",),
)


def _get(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


def _change(before: Any, after: Any) -> str:
    if not isinstance(before, (int, float)) or not isinstance(after, (int, float)):
        return "" if before == after else "changed"
    delta = after - before
    if delta == 0:
        return "="
    percent = f" ({delta / before:+.0%})" if before else ""
    return f"{delta:+.3g}{percent}"


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A Markdown table of the change from an earlier result to this one."""
    lines = [f"## Change against the earlier result ({before.get('started_at', '?')}, {before.get('tenants')} tenants, "
             f"forks {before.get('forks')})", "", "| metric | before | after | change |", "|---|---:|---:|---:|"]
    if (before.get("tenants"), before.get("forks")) != (after.get("tenants"), after.get("forks")):
        lines.insert(1, f"\nNote: sizes differ (now {after.get('tenants')} tenants, forks {after.get('forks')}); per-tenant numbers compare, times do not.\n")
    rows: list[tuple[str, Any, Any]] = []
    for phase in PHASES:
        for path in COMPARED:
            rows.append((f"{phase}.{'.'.join(path)}", _get(before, ("phases", phase, *path)), _get(after, ("phases", phase, *path))))
    rows.append(("identity requests per (tenant, client, resource)", _get(before, ("identity", "identity_requests_per_triple")),
                 _get(after, ("identity", "identity_requests_per_triple"))))
    rows.append(("import_time.module_utils_s", _get(before, ("import_time", "module_utils_s")), _get(after, ("import_time", "module_utils_s"))))
    for name in sorted(set(_get(before, ("startup", "modules")) or {}) | set(_get(after, ("startup", "modules")) or {})):
        for kind in ("module_utils_count", "third_party_modules", "import_s", "cpu_s"):
            path = ("startup", "modules", name, kind)
            rows.append((f"start-up {name} {kind}", _get(before, path), _get(after, path)))
    for name in sorted(set(_get(before, ("phases", "rerun", "per_module")) or {}) | set(_get(after, ("phases", "rerun", "per_module")) or {})):
        for kind in ("graph_reads", "graph_writes"):
            path = ("phases", "rerun", "per_module", name, "requests_per_invocation", kind)
            rows.append((f"rerun {name} {kind} /run", _get(before, path), _get(after, path)))
    for name, old, new in rows:
        lines.append(f"| {name} | {_fmt(old)} | {_fmt(new)} | {_change(old, new)} |")
    met_before = {t["id"]: t["met"] for t in before.get("targets", [])}
    for target in after.get("targets", []):
        if target["id"] in met_before and met_before[target["id"]] != target["met"]:
            if target["met"] is None:
                continue
            lines.append(f"| target {target['id']} | {'met' if met_before[target['id']] else 'not met'} | "
                         f"{'met' if target['met'] else 'not met'} | |")
    return "\n".join(lines) + "\n"
