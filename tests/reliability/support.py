"""Machinery shared by the reliability and security scenarios (issue 7).

- `Record`: the numbers one test contributes to the summary table (see conftest.py).
- `Lab`: one emulator, one work directory, the playbook runner of the end-to-end suite, and the
  bookkeeping every scenario shares: every byte Ansible printed, every callback result and every
  request-log page are kept, so that `Lab.finish()` can look for tracebacks and leaked secrets in
  all of them once every secret value is known.
- `check_converged`: the converged state of the procedure, read from the emulator's state dump:
  exactly one app per (tenant, flow), its service principal, permissions and consent, exactly one
  valid managed secret per web app whose value is in its dest file and signs in.
"""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from tests.e2e.conftest import REPO_ROOT, PlaybookRun, Runner, TaskResult
from tests.e2e.hygiene import Secrets
from tests.emulator.client import GRAPH_RESOURCES, EmulatorProcess
from tests.emulator.inventory import KEY_VAULT_SECRET, host_name, inventory as inventory_data

PLAYBOOKS = REPO_ROOT / "playbooks"
ROLLOUT = PLAYBOOKS / "rollout.yml"
AUDIT = PLAYBOOKS / "audit.yml"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

WEB_UNIQUE_NAME = "partner-center-web"
NATIVE_UNIQUE_NAME = "partner-center-native"
WEB_DISPLAY_NAME = "Partner Center web app"
NATIVE_DISPLAY_NAME = "Partner Center native app"
SECRET_NAME = "Partner Center"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
# What the roles' default permission sets (microsoft_graph) ask for.
WEB_APP_ROLES = {GRAPH_APP_ID: {"Directory.Read.All"}}
NATIVE_APP_SCOPES = {GRAPH_APP_ID: {"User.Read", "Directory.Read.All", "Directory.AccessAsUser.All", "Group.Read.All"},
                     PARTNER_CENTER_APP_ID: {"user_impersonation"}}

SEED_ENV = "PC_RELIABILITY_SEED"
TRACEBACK = "Traceback (most recent call last)"
NO_FAULTS: dict[str, Any] = {}


# Seeds ------------------------------------------------------------------------------------------


def scenario_seed(label: str) -> int:
    """The seed of a scenario: $PC_RELIABILITY_SEED when set (to replay a failure), else a new one.

    Printed (pytest shows it with the failure) and recorded in the summary table.
    """
    text = os.environ.get(SEED_ENV)
    seed = int(text) if text else random.SystemRandom().randrange(1, 2**31)
    print(f"[reliability] {label}: seed {seed} (replay with {SEED_ENV}={seed})", flush=True)
    return seed


# The summary record -----------------------------------------------------------------------------


@dataclass
class Record:
    """What one test contributes to its scenario's row of the summary table."""

    scenario: str = ""
    runs: int = 0
    checks: int = 0
    converged: int = 0
    duplicates: int = 0
    lost_secrets: int = 0
    leaks: int = 0
    tracebacks: int = 0
    seeds: list[int] = field(default_factory=list)
    cases: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON-compatible, for pytest's user_properties (which xdist ships to the controller)."""
        return asdict(self)


# Tracebacks -------------------------------------------------------------------------------------


def task_has_traceback(task: TaskResult) -> bool:
    """A module result that carries a Python traceback or an unhandled-exception message."""
    result = task.result
    exception = str(result.get("exception") or "")
    msg = str(result.get("msg") or "")
    return (TRACEBACK in exception or TRACEBACK in msg or msg.startswith("MODULE FAILURE")
            or msg.startswith("Unexpected error") or "module_stderr" in result and TRACEBACK in str(result["module_stderr"]))


def count_tracebacks(run: PlaybookRun) -> int:
    """Task results with a traceback, or 1 if only Ansible's own output shows one."""
    found = sum(task_has_traceback(task) for task in run.tasks)
    if not found and (TRACEBACK in run.stdout or TRACEBACK in run.stderr):
        found = 1
    return found


# Running playbooks ------------------------------------------------------------------------------


class Started:
    """An ansible-playbook process in its own process group (so that it can be killed whole)."""

    def __init__(self, lab: "Lab", playbook: Path, args: Iterable[str], inventory: Path, env: dict[str, str] | None,
                 label: str) -> None:
        runner = lab.runner
        runner.count += 1
        number = runner.count
        self.lab = lab
        self.label = label
        self.results = runner.workdir / f"results-{number}.jsonl"
        self.stdout_path = runner.workdir / f"stdout-{number}.txt"
        self.stderr_path = runner.workdir / f"stderr-{number}.txt"
        command = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook), *args]
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(  # pylint: disable=consider-using-with
                command, cwd=runner.workdir, env={**runner.env(self.results), **(env or {})}, stdout=stdout,
                stderr=stderr, start_new_session=True)
        self.started = time.monotonic()
        self.killed = False

    def task_lines(self) -> int:
        """Task results recorded so far (the callback writes one line as each task ends on a host)."""
        try:
            return self.results.read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def running(self) -> bool:
        """Whether ansible-playbook has not exited yet."""
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL everything the run started: ansible-playbook's process group and every descendant.

        ansible-core 2.19 starts each worker in a session of its own (os.setsid in WorkerProcess), so
        killing the process group alone would leave the workers and their module processes running to
        completion: a crash must take them down too. Everything is stopped first (SIGSTOP, until no new
        process appears), so that nothing forks between the listing and the kill.
        """
        self.killed = True
        root = self.process.pid
        doomed: set[int] = set()
        while True:
            found = (set(process_tree(root)) | {int(p.split()[0]) for p in group_members(root)}) - doomed
            if not found:
                break
            for pid in found:
                _signal(pid, signal.SIGSTOP)
            doomed |= found
        for pid in doomed:
            _signal(pid, signal.SIGKILL)
        self.process.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(pid) for pid in doomed):
            time.sleep(0.05)
        left = [pid for pid in doomed if alive(pid)]
        assert not left, f"processes of the killed run still alive: {left}"

    def wait(self, timeout: float = 1800) -> PlaybookRun:
        """Wait for the end (or collect what a killed run left) and return it as a PlaybookRun."""
        try:
            rc = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.label}: ansible-playbook did not finish within {timeout} s") from None
        stdout = self.stdout_path.read_text(encoding="utf-8", errors="replace")
        stderr = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        tasks = []
        if self.results.exists():
            tasks = [TaskResult(**json.loads(line)) for line in self.results.read_text(encoding="utf-8").splitlines()
                     if line.strip()]
        run = PlaybookRun(rc, stdout, stderr, tasks, [])
        self.lab.observe(run, self.label, self.results)
        return run


def _proc_stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(command, fields after it) of /proc/<pid>/stat: state, ppid, pgrp, ...; None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    comm_end = stat.rfind(")")  # the command may hold spaces and parentheses
    return stat[stat.find("(") + 1:comm_end], stat[comm_end + 2:].split()


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    stat = _proc_stat(pid)
    return stat is not None and stat[1][0] != "Z"


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def process_tree(root: int) -> list[int]:
    """root and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _proc_stat(entry.name)
            if stat is not None and stat[1][0] != "Z":
                children.setdefault(int(stat[1][1]), []).append(int(entry.name))
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        if alive(pid):
            tree.append(pid)
        queue.extend(children.get(pid, []))
    return tree


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group, as 'pid command'."""
    members = []
    for entry in Path("/proc").iterdir():
        stat = _proc_stat(entry.name) if entry.name.isdigit() else None
        if stat is not None and len(stat[1]) > 2 and int(stat[1][2]) == pgid and stat[1][0] != "Z":
            members.append(f"{entry.name} {stat[0]}")
    return members


class Lab:
    """One scenario's emulator, work directory, runner and observations."""

    def __init__(self, emulator: EmulatorProcess, workdir: Path, record: Record) -> None:
        self.runner = Runner(emulator, workdir)
        self.record = record
        self.secrets_dir = workdir / "secrets"
        self.outputs: list[tuple[str, str]] = []
        self.requests: dict[int, dict[str, Any]] = {}
        self.secrets = Secrets()
        self.secrets.add_emulator_credentials(emulator.info)
        self.traceback_places: list[str] = []
        # (place substring, secret label prefix, why): occurrences the scan tolerates (see scan_for_leaks).
        self.tolerated: list[tuple[str, str, str]] = []

    @property
    def emulator(self) -> EmulatorProcess:
        return self.runner.emulator

    @property
    def workdir(self) -> Path:
        return self.runner.workdir

    @property
    def token_cache(self) -> Path:
        return self.runner.token_cache

    # Inventories ----------------------------------------------------------------------------------

    def dest_args(self) -> list[str]:
        """Extra vars that keep the secret files in this lab's directory."""
        return ["-e", f"web_app_secret_dest={self.secrets_dir}/{{{{ inventory_hostname }}}}-web-app.json"]

    def dest(self, tenant: dict[str, Any]) -> Path:
        """The dest file of a tenant's web app secret."""
        return self.secrets_dir / f"{host_name(tenant)}-web-app.json"

    def inventory(self, tenants: list[dict[str, Any]] | None = None, *, name: str = "inventory.yml",
                  auth: dict[str, Any] | None = None, host_vars: dict[str, dict[str, Any]] | None = None,
                  clouds: dict[str, dict[str, str]] | None = None) -> Path:
        """An inventory of the emulator's tenants (see tests.emulator.inventory), with overrides:
        `auth` merged into every host's pc_auth, `host_vars` per host name, `clouds` replacing
        endpoints of some clouds (e.g. one pointed at a closed port)."""
        data = inventory_data(self.emulator.info, tenants=tenants, token_cache=str(self.token_cache))
        group = data["partner_tenants"]
        if auth:
            group["vars"]["pc_auth"].update(auth)
        for cloud, endpoints in (clouds or {}).items():
            if cloud in group["vars"]["pc_emulator"]:
                group["vars"]["pc_emulator"][cloud] = {**group["vars"]["pc_emulator"][cloud], **endpoints}
        for child in group["children"].values():
            for host, variables in child["hosts"].items():
                variables.update((host_vars or {}).get(host, {}))
        path = self.workdir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        return path

    # Runs -----------------------------------------------------------------------------------------

    def run(self, playbook: Path | list[dict[str, Any]], *args: str, inventory: Path | None = None,
            env: dict[str, str] | None = None, clear_log: bool = True, timeout: float = 1800,
            label: str = "", per_host: bool = False) -> PlaybookRun:
        """Run a playbook to its end (Runner.run) and observe it (per_host: keep each host's results
        apart, so that a leak is reported with the host it belongs to)."""
        if clear_log:
            self.collect_requests()  # what earlier (background) runs left in the log
        run = self.runner.run(playbook, *args, inventory=inventory, env=env, clear_log=clear_log, timeout=timeout)
        results = self.workdir / f"results-{self.runner.count}.jsonl"
        self.observe(run, label or f"run {self.runner.count}", None if per_host else results)
        if per_host:
            self.outputs += [(f"{label}: result of {task.host}", json.dumps(task.result)) for task in run.tasks]
        self.requests.update((entry["seq"], entry) for entry in run.requests)
        return run

    def rollout(self, *args: str, inventory: Path, **kwargs: Any) -> PlaybookRun:
        """playbooks/rollout.yml with this lab's secret files."""
        return self.run(ROLLOUT, *self.dest_args(), *args, inventory=inventory, **kwargs)

    def start(self, playbook: Path, *args: str, inventory: Path, env: dict[str, str] | None = None,
              label: str = "") -> Started:
        """Start a playbook in the background (its own process group); the log is not cleared."""
        return Started(self, playbook, args, inventory, env, label or f"run {self.runner.count + 1}")

    def start_rollout(self, *args: str, inventory: Path, **kwargs: Any) -> Started:
        """playbooks/rollout.yml in the background."""
        return self.start(ROLLOUT, *self.dest_args(), *args, inventory=inventory, **kwargs)

    def observe(self, run: PlaybookRun, label: str, results: Path | None = None) -> None:
        """Count the run and its tracebacks; keep its output for the final leak scan."""
        self.record.runs += 1
        found = count_tracebacks(run)
        if found:
            self.record.tracebacks += found
            self.traceback_places.append(f"{label}: {found}")
        self.outputs.append((f"{label}: stdout", run.stdout))
        self.outputs.append((f"{label}: stderr", run.stderr))
        if results is not None and results.exists():
            self.outputs.append((f"{label}: callback results", results.read_text(encoding="utf-8", errors="replace")))

    def collect_requests(self) -> None:
        """Keep the emulator's current request log for the leak scan (then it may be cleared)."""
        self.requests.update((entry["seq"], entry) for entry in self.emulator.requests_log())

    # Checks ---------------------------------------------------------------------------------------

    def converged(self, tenants: list[dict[str, Any]], *, lag: float = 0.0, key_vault: bool = False, **kwargs: Any) -> "Convergence":
        """check_converged for these tenants (secrets in their dest files, or in Key Vault), counted in the record."""
        result = check_converged(self.emulator, tenants, (lambda tenant: None) if key_vault else self.dest, lag=lag, **kwargs)
        self.record.checks += 1
        self.record.converged += result.ok
        self.record.duplicates += result.duplicates
        self.record.lost_secrets += result.lost_secrets
        return result

    def scan_for_leaks(self, extra: Iterable[tuple[str, str]] = ()) -> list[str]:
        """Every known secret value in every kept output and request log entry: where it was found.

        Known values: the seeded client secrets and passwords, the values in the dest files and the
        tokens in the token cache (both read now). Counted as leaks in the record.
        """
        self.secrets.add_dest_files(self.secrets_dir)
        self.secrets.add_token_cache(self.token_cache)
        places = list(self.outputs) + list(extra)
        places.append(("emulator request log", json.dumps(list(self.requests.values()))))
        found = []
        for where, text in places:
            for value, label in self.secrets.values.items():
                if value not in text:
                    continue
                why = next((why for place, prefix, why in self.tolerated if place in where and label.startswith(prefix)), None)
                if why is not None:
                    if why not in self.record.notes:
                        self.record.notes.append(why)
                    continue
                found.append(f"{label} in {where}")
                if len(found) <= 5:
                    print(f"[reliability] leak: {label} in {where}: ...{self.secrets.context(text, value)}...")
        self.record.leaks += len(found)
        return found

    def finish(self) -> None:
        """The checks every scenario ends with: no traceback and no leaked secret anywhere."""
        self.collect_requests()
        leaks = self.scan_for_leaks()
        assert not leaks, f"secret values leaked: {leaks}"
        assert not self.traceback_places, f"tracebacks: {self.traceback_places}"


# Convergence ------------------------------------------------------------------------------------


@dataclass
class Convergence:
    """The outcome of check_converged."""

    problems: list[str] = field(default_factory=list)
    duplicates: int = 0
    lost_secrets: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        return "converged" if self.ok else "not converged:\n  " + "\n  ".join(self.problems)


def _parse_time(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _one(found: list[dict[str, Any]], what: str, result: Convergence) -> dict[str, Any] | None:
    """The single object expected; counts duplicates and reports missing ones."""
    if len(found) > 1:
        result.duplicates += len(found) - 1
        result.problems.append(f"{len(found)} {what} (duplicates): {[o.get('id') for o in found]}")
    elif not found:
        result.problems.append(f"no {what}")
    return found[0] if found else None


def check_converged(emulator: EmulatorProcess, tenants: list[dict[str, Any]], dest: Callable[[dict[str, Any]], Path | None], *,
                    web: bool = True, native: bool = True, registered: bool = True, lag: float = 0.0) -> Convergence:
    """Whether every tenant holds exactly the converged result of playbooks/rollout.yml.

    Read from the emulator's state dump (which sees objects still hidden by replication lag), so a
    duplicate cannot hide. Sign-in with the stored secret is retried for `lag` seconds (a new
    credential may be invisible that long).
    """
    result = Convergence()
    state = {t["tenant_id"]: t for t in emulator.control("GET", "/state")["tenants"]}
    now = time.time()
    for tenant in tenants:
        where = f"{host_name(tenant)} ({tenant['tenant_id']})"
        before = len(result.problems)
        tstate = state[tenant["tenant_id"]]
        sps = tstate["service_principals"]
        graph_sp = next(sp for sp in sps if sp["appId"] == GRAPH_APP_ID)
        if web:
            _check_web_app(emulator, tenant, tstate, graph_sp, dest(tenant), now, registered, lag, result)
        if native:
            _check_native_app(tstate, result)
        result.problems[before:] = [f"{where}: {problem}" for problem in result.problems[before:]]
    return result


def _app_and_sp(tstate: dict[str, Any], unique_name: str, display_name: str,
                result: Convergence) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    apps = [a for a in tstate["applications"] if a.get("uniqueName") == unique_name or a.get("displayName") == display_name]
    app = _one(apps, f"applications {unique_name!r}", result)
    if app is None:
        return None, None
    sp = _one([s for s in tstate["service_principals"] if s["appId"] == app["appId"]],
              f"service principals of {unique_name}", result)
    return app, sp


def _required(app: dict[str, Any], resource_app_id: str, kind: str) -> set[str]:
    return {access["id"] for entry in app.get("requiredResourceAccess") or [] if entry["resourceAppId"] == resource_app_id
            for access in entry["resourceAccess"] if access["type"] == kind}


def _check_web_app(emulator: EmulatorProcess, tenant: dict[str, Any], tstate: dict[str, Any], graph_sp: dict[str, Any],
                   dest: Path | None, now: float, registered: bool, lag: float, result: Convergence) -> None:
    app, sp = _app_and_sp(tstate, WEB_UNIQUE_NAME, WEB_DISPLAY_NAME, result)
    if app is None:
        return
    roles = {r["value"]: r["id"] for r in graph_sp["appRoles"]}
    wanted = {roles[value] for value in WEB_APP_ROLES[GRAPH_APP_ID]}
    if not wanted <= _required(app, GRAPH_APP_ID, "Role"):
        result.problems.append("web app: Directory.Read.All (application) is not a required permission")
    if sp is not None:
        for role_id in wanted:
            _one([a for a in tstate["app_role_assignments"] if a["principalId"] == sp["id"]
                  and a["resourceId"] == graph_sp["id"] and a["appRoleId"] == role_id],
                 "app role assignments of Directory.Read.All to the web app (admin consent)", result)
    if registered and app["appId"] not in {r["app_id"] for r in tstate["partner_center_registrations"]}:
        result.problems.append("web app: not registered in Partner Center")
    _check_secret(emulator, tenant, app, dest, now, lag, result)


def _read_store(emulator: EmulatorProcess, tenant: dict[str, Any], dest: Path | None, result: Convergence) -> dict[str, Any]:
    """The stored record as a dict (secret, key_id, app_id): from the dest file, or (dest None) from Key Vault."""
    if dest is None:
        response = emulator.key_vault(tenant).get(f"/secrets/{KEY_VAULT_SECRET}")
        if response.status_code == 404:
            result.problems.append(f"web app secret: Key Vault secret {KEY_VAULT_SECRET} does not exist")
            return {}
        bundle = response.json()
        return {"secret": bundle["value"], "key_id": bundle["tags"].get("key-id"), "app_id": bundle["tags"].get("app-id")}
    try:
        return dict(json.loads(dest.read_text(encoding="utf-8")))
    except FileNotFoundError:
        result.problems.append(f"web app secret: dest {dest} does not exist")
    except ValueError:
        result.problems.append(f"web app secret: dest {dest} is not JSON")
    return {}


def _check_secret(emulator: EmulatorProcess, tenant: dict[str, Any], app: dict[str, Any], dest: Path | None, now: float,
                  lag: float, result: Convergence) -> None:
    """One valid managed secret, held by the store (the dest file, or Key Vault when dest is None), that signs in."""
    valid = [c for c in app["passwordCredentials"] if c.get("displayName") == SECRET_NAME and _parse_time(c["endDateTime"]) > now]
    stored = _read_store(emulator, tenant, dest, result)
    where = dest.name if dest is not None else "Key Vault"
    held = str(stored.get("key_id") or "").lower()
    lost = [c["keyId"] for c in valid if c["keyId"].lower() != held]
    if lost:
        result.lost_secrets += len(lost)
        result.problems.append(f"web app secret: valid secret(s) {lost} whose value is not in {where} (lost)")
    if len(valid) > 1:
        result.duplicates += len(valid) - 1
        result.problems.append(f"web app secret: {len(valid)} valid secrets named {SECRET_NAME!r}, expected one")
    if not valid:
        result.problems.append(f"web app secret: no valid secret named {SECRET_NAME!r}")
    if not stored:
        return
    if dest is not None and dest.stat().st_mode & 0o777 != 0o600:
        result.problems.append(f"web app secret: dest mode {oct(dest.stat().st_mode & 0o777)}, expected 0o600")
    current = next((c for c in valid if c["keyId"].lower() == held), None)
    if current is None:
        result.problems.append(f"web app secret: dest holds key id {held}, which is not a valid secret of the web app")
        return
    if str(stored.get("app_id")).lower() != app["appId"].lower() or not str(stored.get("secret", "")).startswith(current["hint"]):
        result.problems.append("web app secret: dest does not match the secret (app_id or hint)")
        return
    if not sign_in(emulator, tenant, app["appId"], stored["secret"], lag):
        result.problems.append("web app secret: the stored value does not sign in")


def sign_in(emulator: EmulatorProcess, tenant: dict[str, Any], client_id: str, secret: str, lag: float = 0.0) -> bool:
    """Whether an unmodified msal client gets an app-only Graph token with this secret."""
    deadline = time.monotonic() + lag + 2
    while True:
        client = emulator.confidential_client(tenant, client_id=client_id, secret=secret)
        answer = client.acquire_token_for_client([f"{GRAPH_RESOURCES[tenant['cloud']]}/.default"])
        if "access_token" in answer:
            return True
        if time.monotonic() > deadline:
            print(f"[reliability] sign-in with the stored secret of {client_id} failed: {answer.get('error_description')}")
            return False
        time.sleep(0.5)


def _check_native_app(tstate: dict[str, Any], result: Convergence) -> None:
    app, sp = _app_and_sp(tstate, NATIVE_UNIQUE_NAME, NATIVE_DISPLAY_NAME, result)
    pc_sp = _one([s for s in tstate["service_principals"] if s["appId"] == PARTNER_CENTER_APP_ID],
                 "service principals of Microsoft Partner Center", result)
    if app is None or sp is None or pc_sp is None:
        return
    resources = {GRAPH_APP_ID: next(s for s in tstate["service_principals"] if s["appId"] == GRAPH_APP_ID),
                 PARTNER_CENTER_APP_ID: pc_sp}
    for resource_app_id, values in NATIVE_APP_SCOPES.items():
        resource = resources[resource_app_id]
        scopes = {s["value"]: s["id"] for s in resource["oauth2PermissionScopes"]}
        if not {scopes[v] for v in values} <= _required(app, resource_app_id, "Scope"):
            result.problems.append(f"native app: delegated permissions on {resource['displayName']} are not all required")
        grant = _one([g for g in tstate["oauth2_permission_grants"] if g["clientId"] == sp["id"]
                      and g["resourceId"] == resource["id"] and g["consentType"] == "AllPrincipals"],
                     f"admin consent grants of the native app on {resource['displayName']}", result)
        if grant is not None and not values <= set(grant["scope"].split()):
            result.problems.append(f"native app: consent on {resource['displayName']} is {grant['scope']!r}, "
                                   f"missing {sorted(values - set(grant['scope'].split()))}")


# Small helpers ----------------------------------------------------------------------------------


def hosts_ok(run: PlaybookRun, hosts: Iterable[str]) -> list[str]:
    """Problems with the PLAY RECAP: hosts missing, failed or unreachable."""
    recap = run.recap()
    problems = []
    for host in hosts:
        counters = recap.get(host)
        if counters is None:
            problems.append(f"{host}: not in the PLAY RECAP")
        elif counters.get("failed") or counters.get("unreachable"):
            problems.append(f"{host}: {counters}")
    return problems


def failures(run: PlaybookRun) -> dict[str, str]:
    """Host -> msg of its failed task (the last one)."""
    return {task.host: task.msg for task in run.tasks if task.failed}


def writes(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write requests to Graph or Partner Center (a $batch envelope is not one: its items are logged
    on their own, with their own method)."""
    return [e for e in entries if e["service"] in ("graph", "partner_center") and e["method"] in ("POST", "PATCH", "PUT", "DELETE")
            and not e["path"].endswith("/$batch")]


def describe(entries: Iterable[dict[str, Any]]) -> list[str]:
    """Log entries as 'METHOD path -> status (fault)' lines, for assertion messages."""
    return [f"{e['method']} {e['path']} -> {e['status']}" + (f" ({e['fault']})" if e.get("fault") else "") for e in entries]


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll condition until it holds or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def matching(entries: list[dict[str, Any]], *, service: str | None = None, method: str | None = None,
             path: str | None = None, body: Callable[[Any], bool] | None = None) -> list[dict[str, Any]]:
    """Request log entries by service, method, path regex (searched) and a predicate on the body."""
    return [e for e in entries if (service is None or e["service"] == service) and (method is None or e["method"] == method)
            and (path is None or re.search(path, e["path"])) and (body is None or body(e.get("body")))]
