"""`python -m benchmarks.rollout` (`make bench`): the rollout benchmark of issue 6.

Starts the local emulator with T tenants spread over the four active clouds, writes an inventory for
it (one host per tenant; a fresh token cache, so the first phase starts cold) and runs three phases:

  create   playbooks/rollout.yml on empty tenants
  rerun    playbooks/rollout.yml again (nothing to change)
  audit    playbooks/audit.yml --check

For each phase it reads the emulator's request log (cleared between phases): requests per tenant
(identity platform, Graph reads, Graph writes, Partner Center), 429s, and which module invocation made
which request (matched through a callback that records when each task ended on each host). It times
each phase, samples the peak summed RSS of the ansible-playbook process tree, and runs Ansible's floor
beside it: the same inventory, forks and tasks per host, each module task replaced by
ansible.builtin.ping (a real, trivial module) and each controller-only task by ansible.builtin.debug.
`--forks-curve` adds the rerun phase at forks 1, 5 and 10. It also times the import of the module_utils
in a fresh interpreter, and measures the start-up cost of one task per module on real module runs: the
rerun once more on one host per cloud, each module process under `python -X importtime`
(benchmarks/startup.py: module_utils files compiled, third-party packages imported, seconds).

Results: benchmarks/results/latest.json and latest.md (the targets of the issue beside the measured
numbers); `--compare FILE` prints the change against an earlier result file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.emulator.client import EmulatorProcess
from tests.emulator.inventory import host_name, write_inventory

from . import analysis, report, startup
from .proctree import TreeSampler

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
CALLBACK_DIR = REPO_ROOT / "benchmarks" / "callback_plugins"
COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
PLAYBOOKS = REPO_ROOT / "playbooks"
CLOUDS = ("public", "usgov", "usgov_dod", "china")
PHASES = ("create", "rerun", "audit")
FORKS_CURVE = (1, 5, 10)
COLLECTION_PACKAGE = "ansible_collections.partnercenter.national_cloud.plugins"
OPERATIONS = ("graph_read_operations", "graph_write_operations", "partner_center_read_operations", "partner_center_write_operations")
TOTALS = ("identity", "graph_reads", "graph_writes", "partner_center", *OPERATIONS, "identity_token_requests", "graph_batch_requests",
          "graph_batch_inner_requests", "throttled_in_batches")
MODULES = ("pc_aad_app", "pc_aad_permissions", "pc_app_secret", "pc_register_webapp", "pc_aad_app_info")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rollout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants-total", type=int, default=40,
                        help="tenants, spread evenly over the clouds (default: %(default)s, i.e. 10 per cloud)")
    parser.add_argument("--clouds", default=",".join(CLOUDS), help="clouds to use (default: %(default)s)")
    parser.add_argument("--forks", type=int, default=5,
                        help="ansible-playbook --forks of the three phases and their baselines (default: %(default)s, Ansible's default)")
    parser.add_argument("--forks-curve", dest="forks_curve", action="store_true", default=False,
                        help=f"also run the rerun phase and its baseline with forks {', '.join(map(str, FORKS_CURVE))}")
    parser.add_argument("--no-forks-curve", dest="forks_curve", action="store_false", help="do not (the default)")
    parser.add_argument("--baseline-phases", default=",".join(PHASES),
                        help="phases whose no-op baseline is measured (default: %(default)s)")
    parser.add_argument("--import-repeats", type=int, default=5, help="fresh interpreters per import timing (default: %(default)s)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS_DIR, help="where latest.json and latest.md go (default: benchmarks/results)")
    parser.add_argument("--name", default="latest", help="base name of the result files (default: %(default)s)")
    parser.add_argument("--compare", type=Path, metavar="FILE", help="print the change against this earlier result JSON")
    parser.add_argument("--results", type=Path, metavar="FILE",
                        help="do not run: read this result JSON (e.g. with --compare, or to re-render its Markdown)")
    parser.add_argument("--quiet-below", type=float, metavar="SHARE",
                        help="on a shared machine: before each timed run, wait until other processes use at most this share of "
                             "the CPUs (e.g. 0.2), for up to --quiet-timeout seconds (default: do not wait)")
    parser.add_argument("--quiet-timeout", type=float, default=300.0, help="longest wait per run for --quiet-below (default: %(default)s)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temporary directory (inventory, logs, secrets)")
    args = parser.parse_args(argv)
    args.clouds = [cloud for cloud in args.clouds.split(",") if cloud]
    args.baseline_phases = [phase for phase in args.baseline_phases.split(",") if phase]
    unknown = sorted(set(args.baseline_phases) - set(PHASES))
    if unknown:
        parser.error(f"--baseline-phases: unknown phase(s) {', '.join(unknown)}")
    if args.tenants_total < 1 or args.forks < 1:
        parser.error("--tenants-total and --forks must be at least 1")
    return args


def log(message: str) -> None:
    """Progress on stderr, with the time since start."""
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


STARTED = time.monotonic()


# --- running things ---------------------------------------------------------------------------------

def start_emulator(total: int, clouds: list[str]) -> EmulatorProcess:
    """An emulator with `total` tenants spread over `clouds` (the first clouds get one more when it does
    not divide), web apps accepted by Partner Center from their first call, faults off."""
    clouds = clouds[:total] if total < len(clouds) else clouds
    per_cloud, remainder = divmod(total, len(clouds))
    emulator = EmulatorProcess("--clouds", ",".join(clouds), "--tenants", str(per_cloud), "--pc-auto-register-after", "0").start()
    try:
        for cloud in clouds[:remainder]:
            emulator.control("POST", "/tenants", json={"cloud": cloud, "count": 1})
        if remainder:
            emulator.info = {**emulator.info, **emulator.control("GET", "/info")}
    except Exception:
        emulator.stop()
        raise
    return emulator


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (/proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot, all CPUs (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


QUIET: dict[str, float | None] = {"below": None, "timeout": 300.0}


def wait_for_quiet() -> float:
    """With --quiet-below: wait until the machine's busy share over 3 s is at most that (nothing of ours
    runs between two runs but the idle emulator); returns the seconds waited."""
    below, timeout = QUIET["below"], QUIET["timeout"] or 0.0
    if below is None:
        return 0.0
    started = time.monotonic()
    cpus = len(os.sched_getaffinity(0))
    while True:
        busy = machine_busy_seconds()
        time.sleep(3)
        share = (machine_busy_seconds() - busy) / (3 * cpus)
        waited = time.monotonic() - started
        if share <= below or waited >= timeout:
            if waited > 5:
                log(f"waited {waited:.0f} s for other load to drop: now {share:.0%} of the CPUs")
            return round(waited, 1)


def ansible_env(workdir: Path, events_path: Path) -> dict[str, str]:
    """The environment of every Ansible run of the benchmark."""
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_recorder",
        "PC_BENCH_EVENTS": str(events_path),
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local-tmp"),
        "ANSIBLE_REMOTE_TMP": str(workdir / "ansible-remote-tmp"),
    }


def run_playbook(workdir: Path, label: str, playbook: Path, inventory: Path, forks: int, extra: list[str],
                 emulator_pid: int | None) -> dict[str, Any]:
    """One ansible-playbook run: wall time, CPU of the whole tree, peak RSS, the callback's events, and
    how much CPU everything else on the machine used meanwhile (other load makes wall times noisy)."""
    events_path = workdir / f"{label}.events.jsonl"
    output_path = workdir / f"{label}.log"
    events_path.unlink(missing_ok=True)
    env = ansible_env(workdir, events_path)
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "--forks", str(forks),
               str(playbook), *extra]
    waited = wait_for_quiet()
    busy_before, own_before = machine_busy_seconds(), sum(os.times()[:2])
    emulator_before = cpu_seconds(emulator_pid) if emulator_pid else 0.0
    load_before = os.getloadavg()[0]
    with open(output_path, "w", encoding="utf-8") as output:
        started = time.monotonic()
        with subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=output,
                              stderr=subprocess.STDOUT) as process:
            sampler = TreeSampler(process.pid)
            sampler.start()
            # wait4: the rusage of the playbook and every descendant it waited for (workers, modules).
            dummy, status, usage = os.wait4(process.pid, 0)
            wall = time.monotonic() - started
            sampler.stop()
            process.returncode = os.waitstatus_to_exitcode(status)
    tree_cpu = usage.ru_utime + usage.ru_stime
    emulator_used = (cpu_seconds(emulator_pid) - emulator_before) if emulator_pid else 0.0
    other = machine_busy_seconds() - busy_before - tree_cpu - emulator_used - (sum(os.times()[:2]) - own_before)
    if process.returncode != 0:
        tail = output_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        raise RuntimeError(f"{label}: ansible-playbook exited {process.returncode}; output in {output_path}:\n" + "\n".join(tail))
    return {"wall_s": round(wall, 2), "cpu_s": round(tree_cpu, 2), "emulator_cpu_s": round(emulator_used, 2),
            "other_cpu_s": round(max(other, 0.0), 1),
            "other_load_share": round(max(other, 0.0) / (wall * len(os.sched_getaffinity(0))), 2),
            "waited_for_quiet_s": waited, "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2),
            "peak_rss_mb": round(sampler.peak_rss_bytes / 2**20, 1), "peak_processes": sampler.peak_processes,
            "rss_samples": sampler.samples, "events": analysis.read_events(events_path), "output": str(output_path)}


def baseline_playbook(structure: list[dict[str, Any]], hosts: list[str]) -> tuple[str, dict[str, int]]:
    """Ansible's floor for a recorded run: the same tasks per host in the same order, each module task a
    ping (a real module that does nothing) and each controller-only task a debug, on the same hosts
    (skipped where the real task was skipped; run_once where it was)."""
    tasks: list[dict[str, Any]] = []
    play_vars: dict[str, Any] = {}
    kinds = {"module": 0, "controller": 0}
    for index, task in enumerate(structure):
        kinds[task["kind"]] += 1
        action = {"ansible.builtin.ping": {}} if task["kind"] == "module" else {"ansible.builtin.debug": {"msg": "noop"}}
        entry: dict[str, Any] = {"name": f"noop {index} ({task['kind']}, for {task['action']})", **action}
        executed = set(task["executed"])
        if task["run_once"]:
            entry["run_once"] = True
            if not executed:
                entry["when"] = False
        elif not executed:
            entry["when"] = False
        elif executed != set(hosts):
            play_vars[f"bench_hosts_{index}"] = sorted(executed)
            entry["when"] = f"inventory_hostname in bench_hosts_{index}"
        tasks.append(entry)
    play = {"name": "Ansible's floor: the same tasks per host, doing nothing", "hosts": "partner_tenants",
            "connection": "local", "gather_facts": False, "vars": play_vars, "tasks": tasks}
    return json.dumps([play], indent=1) + "\n", kinds


def measure_floors(phases: list[str], runs: dict[str, dict[str, Any]], baselines: dict[str, dict[str, Any]], workdir: Path,
                   inventory: Path, hosts: list[str], forks: int, check: dict[str, bool]) -> None:
    """The no-op floor of each phase, in reverse order (the last phase's floor runs next to it); a phase
    whose floor playbook is identical to one measured here shares that measurement."""
    measured: dict[tuple[str, bool], str] = {}
    for phase in reversed(phases):
        structure = analysis.task_structure(runs[phase]["events"])
        key = (baseline_playbook(structure, hosts)[0], check[phase])
        if key in measured:
            baselines[phase] = {**baselines[measured[key]], "same_as": measured[key]}
            log(f"baseline-{phase}: the same playbook as baseline-{measured[key]}: measured once")
            continue
        baselines[phase] = measure_baseline(workdir, f"baseline-{phase}", structure, inventory, hosts, forks, check[phase])
        measured[key] = phase


def measure_phase(emulator: EmulatorProcess, workdir: Path, label: str, playbook: Path, inventory: Path, forks: int,
                  extra: list[str]) -> dict[str, Any]:
    """One phase against a cleared request log: the run and the log it left."""
    emulator.clear_log()
    log(f"{label}: ansible-playbook {playbook.name} --forks {forks} {' '.join(extra[-2:]) if '--check' in extra else ''}".rstrip())
    run = run_playbook(workdir, label, playbook, inventory, forks, extra, emulator.process.pid if emulator.process else None)
    run["log"] = emulator.requests_log()
    log(f"{label}: {run['wall_s']} s (CPU {run['cpu_s']} s), {len(run['log'])} requests, peak RSS {run['peak_rss_mb']} MB; "
        f"other load {run['other_load_share']:.0%} of the CPUs")
    return run


def measure_baseline(workdir: Path, label: str, structure: list[dict[str, Any]], inventory: Path, hosts: list[str],
                     forks: int, check: bool) -> dict[str, Any]:
    """The floor of a recorded run."""
    path = workdir / f"{label}.yml"
    text, kinds = baseline_playbook(structure, hosts)
    path.write_text(text, encoding="utf-8")
    log(f"{label}: ansible-playbook {path.name} --forks {forks} ({kinds['module']} ping + {kinds['controller']} debug tasks)")
    run = run_playbook(workdir, label, path, inventory, forks, ["--check"] if check else [], None)
    run["task_kinds"] = kinds
    log(f"{label}: {run['wall_s']} s (CPU {run['cpu_s']} s), peak RSS {run['peak_rss_mb']} MB; "
        f"other load {run['other_load_share']:.0%} of the CPUs")
    return run


def forks_curve(emulator: EmulatorProcess, workdir: Path, inventory: Path, hosts: list[str], rerun_args: tuple[str, list[str]],
                rerun: dict[str, Any], rerun_floor: dict[str, Any] | None, default_forks: int) -> list[dict[str, Any]]:
    """The rerun phase and its floor at each of FORKS_CURVE (the main rerun stands for its own forks)."""
    playbook, extra = rerun_args
    structure = analysis.task_structure(rerun["events"])
    curve = []
    for forks in FORKS_CURVE:
        if forks == default_forks and rerun_floor is not None:
            run, floor = rerun, rerun_floor
        else:
            run = measure_phase(emulator, workdir, f"rerun-forks{forks}", PLAYBOOKS / playbook, inventory, forks, extra)
            floor = measure_baseline(workdir, f"baseline-rerun-forks{forks}", structure, inventory, hosts, forks, False)
        log(f"forks {forks}: rerun {run['wall_s']} s, floor {floor['wall_s']} s")
        counts = analysis.request_counts(run["log"])
        curve.append({"forks": forks, "wall_s": run["wall_s"], "baseline_wall_s": floor["wall_s"],
                      "wall_vs_baseline": round(run["wall_s"] / floor["wall_s"], 2), "cpu_s": run["cpu_s"],
                      "baseline_cpu_s": floor["cpu_s"], "peak_rss_mb": run["peak_rss_mb"],
                      "baseline_peak_rss_mb": floor["peak_rss_mb"], "emulator_cpu_s": run["emulator_cpu_s"],
                      "other_load_share": run["other_load_share"], "baseline_other_load_share": floor["other_load_share"],
                      "requests_per_tenant": analysis.per_tenant(counts, len(hosts)),
                      "tenants_per_s": round(len(hosts) / run["wall_s"], 2)})
    return curve


def measure_startup(workdir: Path, inventory: Path, tenants: list[dict[str, Any]], phase_args: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """The start-up cost of one task per module (benchmarks/startup.py): the rerun once more on the first
    host of each cloud, each module process run with -X importtime through an interpreter wrapper; the
    audit the same way for the modules only it runs; ansible.builtin.ping the same way as the floor."""
    hosts = startup.sample_hosts(tenants, host_name)
    modules: dict[str, Any] = {}
    for phase in ("rerun", "audit"):
        wrapper, out = startup.write_wrapper(workdir, phase)
        playbook, extra = phase_args[phase]
        log(f"start-up: {playbook} ({phase}) again on {', '.join(hosts)}, each module process under -X importtime")
        run_playbook(workdir, f"startup-{phase}", PLAYBOOKS / playbook, inventory, 1,
                     [*extra, "--limit", ",".join(hosts), "-e", f"ansible_python_interpreter={wrapper}"], None)
        for name, entry in startup.summarize(out, ("pc_",)).items():
            modules.setdefault(name, {**entry, "phase": phase})
    wrapper, out = startup.write_wrapper(workdir, "ping")
    startup.ping_floor(workdir, inventory, hosts, wrapper, ansible_env(workdir, workdir / "startup-ping.events.jsonl"))
    modules.update({f"{name} (floor)": {**entry, "phase": "ad hoc"} for name, entry in startup.summarize(out, ("ping",)).items()})
    for name, entry in modules.items():
        log(f"start-up {name}: {entry['module_utils_count']} module_utils, third-party {', '.join(entry['third_party_packages']) or 'none'} "
            f"({entry['third_party_modules']} modules), imports {entry['import_s']} s, CPU {entry['cpu_s']} s")
    return {"hosts": hosts, "forks": 1, "modules": modules,
            "how": "rollout.yml (rerun) and audit.yml --check on the first host of each cloud, forks 1, ansible_python_interpreter = a "
                   "wrapper that runs python -X importtime on the same AnsiballZ file (benchmarks/startup.py); a module is reported from "
                   "the first of the two that runs it; the floor: ad hoc ansible.builtin.ping the same way"}


# --- import time --------------------------------------------------------------------------------------

def import_times(repeats: int) -> dict[str, Any]:
    """Import time, in a fresh interpreter each, of ansible's module base, the collection's module_utils
    core and each module (the median of `repeats`), plus the heaviest top-level packages it pulls in."""
    env = {**os.environ, "PYTHONPATH": str(COLLECTIONS_PATH), "PYTHONDONTWRITEBYTECODE": "1"}
    targets = {"ansible.module_utils.basic": "ansible.module_utils.basic",
               "module_utils._module": f"{COLLECTION_PACKAGE}.module_utils._module",
               **{f"modules.{name}": f"{COLLECTION_PACKAGE}.modules.{name}" for name in MODULES}}
    code = "import importlib, sys, time; t = time.perf_counter(); importlib.import_module(sys.argv[1]); print(time.perf_counter() - t)"
    medians: dict[str, float] = {}
    for label, module in targets.items():
        samples = []
        for dummy in range(repeats):
            completed = subprocess.run([sys.executable, "-c", code, module], env=env, capture_output=True, text=True, check=True)
            samples.append(float(completed.stdout.strip()))
        medians[label] = round(statistics.median(samples), 3)
    startup = []
    for dummy in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        startup.append(time.perf_counter() - started)
    completed = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {targets['module_utils._module']}"],
                               env=env, capture_output=True, text=True, check=True)
    packages: dict[str, float] = {}
    for line in completed.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].strip()
        # Third-party top-level packages, and ansible's own module base (the standard library is left out).
        if ("." not in name and name not in sys.stdlib_module_names and name not in ("ansible", "ansible_collections")
                or name == "ansible.module_utils.basic"):
            packages[name] = max(packages.get(name, 0.0), int(parts[1]) / 1e6)
    heaviest = dict(sorted(((k, round(v, 3)) for k, v in packages.items() if v >= 0.005), key=lambda kv: -kv[1])[:10])
    # AnsiballZ ships the module_utils as sources in a zip and imports them from it (zipimport writes no
    # .pyc), so every module run compiles them again: a cost the import timing above (cached .pyc) hides.
    code = ("import glob, statistics, sys, time\nsources = [(p, open(p).read()) for p in sorted(glob.glob(sys.argv[1] + '/*.py'))]\n"
            "samples = []\nfor dummy in range(int(sys.argv[2])):\n    t = time.perf_counter()\n"
            "    for path, text in sources:\n        compile(text, path, 'exec')\n    samples.append(time.perf_counter() - t)\n"
            "print(statistics.median(samples))")
    completed = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT / "plugins" / "module_utils"), str(repeats)],
                               capture_output=True, text=True, check=True)
    return {
        "module_utils_compile_s": round(float(completed.stdout.strip()), 3),
        "module_utils_s": medians["module_utils._module"],
        "ansible_module_basic_s": medians["ansible.module_utils.basic"],
        "module_utils_above_ansible_s": round(medians["module_utils._module"] - medians["ansible.module_utils.basic"], 3),
        "modules_s": {label.split(".", 1)[1]: value for label, value in medians.items() if label.startswith("modules.")},
        "python_startup_s": round(statistics.median(startup), 3),
        "heaviest_imports_s": heaviest,
        "repeats": repeats,
        "how": "median over fresh interpreters of the in-process import time (perf_counter around importlib.import_module); "
               "heaviest_imports_s: cumulative -X importtime of the first import of each top-level package under module_utils._module",
    }


# --- environment ----------------------------------------------------------------------------------------

def machine_info() -> dict[str, Any]:
    """Where and on what the numbers were taken."""
    try:
        from ansible.release import __version__ as ansible_version  # pylint: disable=import-outside-toplevel
    except ImportError:  # pragma: no cover - the benchmark runs in the venv
        ansible_version = None
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout.strip()
    collection = ["--", "plugins", "roles", "playbooks", "meta"]
    dirty = subprocess.run(["git", "status", "--porcelain", *collection], cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout.strip()
    diff = subprocess.run(["git", "diff", "HEAD", *collection], cwd=REPO_ROOT, capture_output=True, check=False).stdout
    return {
        "platform": platform.platform(), "python": platform.python_version(), "ansible_core": ansible_version,
        "cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_mb": os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20,
        "git_commit": commit or None, "collection_modified_since_commit": bool(dirty),
        # Identifies the uncommitted state of the collection that was measured (sha1 of `git diff HEAD` of it).
        "collection_diff_sha1": hashlib.sha1(diff).hexdigest()[:12] if diff else None,
    }


# --- assembling the result ------------------------------------------------------------------------------

def phase_result(run: dict[str, Any], baseline: dict[str, Any] | None, tenants: int, hosts: list[str],
                 host_of_tenant: dict[str, str]) -> dict[str, Any]:
    """A phase's entry in the result JSON."""
    counts = analysis.request_counts(run["log"])
    tasks = analysis.task_counts(run["events"], hosts)
    matched, unmatched = analysis.attribute(run["log"], run["events"], host_of_tenant)
    breakdown = analysis.module_breakdown(matched, run["events"])
    invocations = tasks["module_invocations"]
    result: dict[str, Any] = {
        "wall_s": run["wall_s"],
        "baseline_wall_s": baseline["wall_s"] if baseline else None,
        "requests_per_tenant": analysis.per_tenant(counts, tenants),
        "throttled": counts["throttled"],
        "peak_rss_mb": run["peak_rss_mb"],
        "wall_vs_baseline": round(run["wall_s"] / baseline["wall_s"], 2) if baseline else None,
        "cpu_s": run["cpu_s"],
        "baseline_cpu_s": baseline["cpu_s"] if baseline else None,
        "cpu_vs_baseline": round(run["cpu_s"] / baseline["cpu_s"], 2) if baseline and baseline["cpu_s"] else None,
        "baseline_peak_rss_mb": baseline["peak_rss_mb"] if baseline else None,
        "peak_processes": run["peak_processes"],
        "emulator_cpu_s": run["emulator_cpu_s"],
        # CPU that other processes on the machine used during the run, as a share of all CPUs over its wall
        # time: wall times (ours and the floor's) are only comparable when this is low for both.
        "other_load_share": run["other_load_share"],
        "baseline_other_load_share": baseline["other_load_share"] if baseline else None,
        # Write operations (each request inside a $batch on its own), Graph and Partner Center.
        "writes_per_tenant": round((counts["graph_write_operations"] + counts["partner_center_write_operations"]) / max(tenants, 1), 2),
        "operations_per_tenant": {name: round(counts[name] / max(tenants, 1), 2) for name in OPERATIONS},
        "graph_reads_per_module_invocation": round(counts["graph_reads"] / invocations, 2) if invocations else None,
        "requests_total": {name: counts[name] for name in TOTALS},
        "error_statuses": {name[len("status_"):]: value for name, value in sorted(counts.items()) if name.startswith("status_")},
        "faults": {name[len("fault_"):]: value for name, value in sorted(counts.items()) if name.startswith("fault_")},
        "tasks": tasks,
        "unattributed_requests": unmatched,
        **breakdown,
    }
    if baseline:
        result["baseline_tasks"] = {**analysis.task_counts(baseline["events"], hosts), "task_kinds": baseline["task_kinds"]}
        if baseline.get("same_as"):
            result["baseline_same_as"] = baseline["same_as"]
    return result


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Everything; returns the result document."""
    started_at = datetime.now(timezone.utc)
    load_before = os.getloadavg()
    if not (COLLECTIONS_PATH / "ansible_collections" / "partnercenter" / "national_cloud" / "galaxy.yml").exists():
        raise RuntimeError(f"{COLLECTIONS_PATH} has no partnercenter.national_cloud: run `make collection` (make bench does)")
    workdir = Path(tempfile.mkdtemp(prefix="pc-bench-"))
    timings: dict[str, float] = {}
    log(f"work directory {workdir}")
    try:
        step = time.monotonic()
        imports = import_times(args.import_repeats)
        timings["import_times_s"] = round(time.monotonic() - step, 1)
        log(f"module_utils import: {imports['module_utils_s']} s (ansible.module_utils.basic {imports['ansible_module_basic_s']} s)")
        step = time.monotonic()
        emulator = start_emulator(args.tenants_total, args.clouds)
        try:
            tenants = emulator.info["tenants"]
            hosts = sorted(host_name(tenant) for tenant in tenants)
            host_of_tenant = {tenant["tenant_id"]: host_name(tenant) for tenant in tenants}
            admin_clients = {tenant["admin"]["client_id"].lower() for tenant in tenants}
            inventory = write_inventory(emulator.info, workdir / "inventory.yml", token_cache=str(workdir / "token-cache"))
            log(f"emulator up: {len(tenants)} tenants over {', '.join(sorted({t['cloud'] for t in tenants}))}")
            common = ["-e", f"web_app_secret_dest={workdir}/secrets/{{{{ inventory_hostname }}}}-web-app.json"]
            phase_args = {"create": ("rollout.yml", common), "rerun": ("rollout.yml", common),
                          "audit": ("audit.yml", [*common, "--check", "-e", f"audit_report_dir={workdir}/audit"])}
            runs: dict[str, dict[str, Any]] = {}
            baselines: dict[str, dict[str, Any]] = {}
            pending: list[str] = []
            for index, phase in enumerate(PHASES):
                playbook, extra = phase_args[phase]
                runs[phase] = measure_phase(emulator, workdir, phase, PLAYBOOKS / playbook, inventory, args.forks, extra)
                if phase in args.baseline_phases:
                    pending.append(phase)
                # The floor of consecutive runs of one playbook (create, rerun) runs after the last of them; a floor
                # identical to one already measured (same tasks, hosts, skips and check mode) is measured once.
                if index + 1 == len(PHASES) or phase_args[PHASES[index + 1]][0] != playbook:
                    measure_floors(pending, runs, baselines, workdir, inventory, hosts, args.forks,
                                   {name: "--check" in phase_args[name][1] for name in pending})
                    pending = []
            timings["main_phases_s"] = round(time.monotonic() - step, 1)
            step = time.monotonic()
            startup_cost = measure_startup(workdir, inventory, tenants, phase_args)
            timings["startup_s"] = round(time.monotonic() - step, 1)
            step = time.monotonic()
            curve = None
            if args.forks_curve:
                curve = forks_curve(emulator, workdir, inventory, hosts, phase_args["rerun"], runs["rerun"], baselines.get("rerun"),
                                    args.forks)
                timings["forks_curve_s"] = round(time.monotonic() - step, 1)
        finally:
            emulator.stop()
        phases = {phase: phase_result(runs[phase], baselines.get(phase), len(tenants), hosts, host_of_tenant) for phase in PHASES}
        result: dict[str, Any] = {
            "tenants": len(tenants),
            "forks": args.forks,
            "phases": phases,
            "clouds": {cloud: sum(1 for t in tenants if t["cloud"] == cloud) for cloud in sorted({t["cloud"] for t in tenants})},
            "identity": analysis.identity_summary({phase: runs[phase]["log"] for phase in PHASES}, admin_clients, len(tenants)),
            "create_writes": {**analysis.expected_create_writes(),
                              **analysis.create_writes_check(runs["create"]["log"], host_of_tenant)},
            "graph_reads_per_module_invocation": phases["rerun"]["graph_reads_per_module_invocation"],
            "import_time": imports,
            "startup": startup_cost,
            "forks_curve": curve,
            "machine": {**machine_info(), "loadavg_before": [round(x, 2) for x in load_before],
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "settings": {"quiet_below": args.quiet_below, "pc_auto_register_after": 0, "faults": "off", "baseline": "ansible.builtin.ping per module task, "
                         "ansible.builtin.debug per controller-only task, same hosts, order, skips, run_once and forks",
                         "ansible_config": "defaults (no ansible.cfg; pipelining off), connection local"},
        }
        timings["total_s"] = round(time.monotonic() - STARTED, 1)
        timings["without_forks_curve_s"] = round(timings["import_times_s"] + timings["main_phases_s"] + timings["startup_s"], 1)
        result["timings"] = timings
        result["targets"] = report.evaluate_targets(result)
        return result
    except BaseException:
        args.keep_workdir = True
        raise
    finally:
        if args.keep_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run (or read) a result, write latest.json / latest.md, print the table and the comparison."""
    args = parse_args(argv)
    QUIET.update(below=args.quiet_below, timeout=args.quiet_timeout)
    if args.results:
        result = json.loads(args.results.read_text(encoding="utf-8"))
    else:
        try:
            result = run_benchmark(args)
        except RuntimeError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
        args.output_dir.mkdir(parents=True, exist_ok=True)
        json_path = args.output_dir / f"{args.name}.json"
        md_path = args.output_dir / f"{args.name}.md"
        json_path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        md_path.write_text(report.markdown(result), encoding="utf-8")
        log(f"wrote {json_path} and {md_path}")
    print(report.markdown(result))
    if args.compare:
        print(report.compare(json.loads(args.compare.read_text(encoding="utf-8")), result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
