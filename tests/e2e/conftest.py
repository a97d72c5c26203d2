"""End-to-end fixtures: run real `ansible-playbook` against the emulator and read back what
happened (task results from a recording callback, requests from the emulator's log)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.hygiene import HygieneScan
from tests.emulator.client import REPO_ROOT, EmulatorProcess, writes
from tests.emulator.inventory import write_inventory
from tests.emulator.schema import check_log_entry
# The OpenBao server fixture, which pytest finds here by name.
from tests.openbao import openbao  # noqa: F401  # pylint: disable=unused-import

COLLECTIONS_PATH = REPO_ROOT / "build" / "collections"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
FQCN = "partnercenter.national_cloud"


@dataclass
class TaskResult:
    """One task's outcome on one host."""

    task: str
    action: str
    status: str
    result: dict[str, Any]
    host: str = "localhost"

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def msg(self) -> str:
        return str(self.result.get("msg", ""))


@dataclass
class PlaybookRun:
    """What one ansible-playbook run printed and did."""

    rc: int
    stdout: str
    stderr: str
    tasks: list[TaskResult] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counters per host (ok, changed, failed, ...)."""
        counters: dict[str, dict[str, int]] = {}
        for line in self.stdout.split("PLAY RECAP", 1)[-1].splitlines():
            host, sep, rest = line.partition(" : ")
            if sep:
                counters[host.strip()] = {k: int(v) for k, v in (item.split("=") for item in rest.split())}
        return counters

    def module_results(self) -> list[TaskResult]:
        """Results of the collection's modules (not debug/assert/set_fact)."""
        return [t for t in self.tasks if t.action.startswith(FQCN)]

    @property
    def last(self) -> TaskResult:
        return self.module_results()[-1]

    def graph_writes(self) -> list[dict[str, Any]]:
        """Graph write requests, those inside a $batch included ($batch round trips themselves are not)."""
        return writes(self.requests)

    def identity_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["service"] == "identity"]


class Runner:
    """Writes a playbook, runs ansible-playbook against the emulator, collects the results."""

    def __init__(self, emulator: EmulatorProcess, workdir: Path) -> None:
        self.emulator = emulator
        self.workdir = workdir
        self.token_cache = workdir / "token-cache"
        self.count = 0
        self.hygiene = HygieneScan.from_environment(emulator.info)
        # Graph requests outside the v1.0 schema of their cloud, by log sequence number (issue 13).
        self.schema_findings: dict[int, str] = {}

    def check_schema(self, entries: list[dict[str, Any]]) -> None:
        """Note every Graph request of a request log that names something its cloud's v1.0 schema lacks."""
        for entry in entries:
            finding = check_log_entry(entry)
            if finding:
                self.schema_findings[entry["seq"]] = finding

    def auth(self, tenant: dict[str, Any], who: str = "admin", **overrides: Any) -> dict[str, Any]:
        """module_defaults for one tenant of the emulator (credentials of the seeded `who` client)."""
        endpoints = self.emulator.endpoints(tenant["cloud"])
        auth = {"cloud": tenant["cloud"], "tenant_id": tenant["tenant_id"], "client_id": tenant[who]["client_id"],
                "client_secret": tenant[who]["client_secret"], "authority_host": endpoints["authority_host"],
                "graph_endpoint": endpoints["graph_endpoint"], "partner_center_endpoint": endpoints["partner_center_endpoint"],
                "ca_bundle": self.emulator.info["ca_bundle"], "token_cache": str(self.token_cache)}
        auth.update(overrides)
        return {key: value for key, value in auth.items() if value is not None}

    def play(self, tasks: list[dict[str, Any]], auth: dict[str, Any] | None = None, **play: Any) -> list[dict[str, Any]]:
        """A one-play playbook on localhost with the auth in module_defaults of the action group."""
        body: dict[str, Any] = {"name": "End-to-end", "hosts": "localhost", "connection": "local", "gather_facts": False,
                                "tasks": tasks, **play}
        if auth:
            body["module_defaults"] = {f"group/{FQCN}.all": auth}
        return [body]

    def inventory(self, tenants: list[dict[str, Any]] | None = None) -> Path:
        """An inventory of the emulator's tenants (all by default), as playbooks/inventory/example.yml lays it out."""
        return write_inventory(self.emulator.info, self.workdir / "inventory.yml", tenants=tenants,
                               token_cache=str(self.token_cache))

    def run(self, playbook: list[dict[str, Any]] | Path, *args: str, env: dict[str, str] | None = None,
            clear_log: bool = True, timeout: float = 300, inventory: Path | None = None) -> PlaybookRun:
        """Run a playbook (generated from data, or a file such as playbooks/rollout.yml) on localhost or on
        an inventory; the emulator's log is cleared first so `requests` holds only this run's."""
        return self.start(playbook, *args, env=env, clear_log=clear_log, inventory=inventory).wait(timeout)

    def start(self, playbook: list[dict[str, Any]] | Path, *args: str, env: dict[str, str] | None = None,
              clear_log: bool = True, inventory: Path | None = None) -> BackgroundRun:
        """Start a playbook as run() does, in the background (runs at once: pass clear_log=False to all but
        the first); its wait() returns the PlaybookRun, whose `requests` are the emulator's log by then."""
        self.count += 1
        if isinstance(playbook, Path):
            path = playbook
        else:
            path = self.workdir / f"playbook-{self.count}.yml"
            path.write_text(json.dumps(playbook, indent=1), encoding="utf-8")  # JSON is YAML
        results = self.workdir / f"results-{self.count}.jsonl"
        if clear_log:
            self.emulator.clear_log()
        if self.hygiene and not any(arg.startswith("-v") for arg in args):
            args = (*args, "-vvv")
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory or "localhost,"), str(path), *args],
            cwd=self.workdir, env={**self.env(results), **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return BackgroundRun(self, process, results)

    def collect(self, completed: subprocess.CompletedProcess[str], results: Path) -> PlaybookRun:
        """The PlaybookRun of a finished ansible-playbook: its task results and the emulator's log."""
        tasks = []
        if results.exists():
            tasks = [TaskResult(**json.loads(line)) for line in results.read_text(encoding="utf-8").splitlines()]
        run = PlaybookRun(completed.returncode, completed.stdout, completed.stderr, tasks, self.emulator.requests_log())
        self.check_schema(run.requests)
        if self.hygiene:
            self.hygiene.after_run(self.workdir, self.token_cache, run, results.read_text(encoding="utf-8") if results.exists() else "")
        return run

    def env(self, results: Path) -> dict[str, str]:
        """Environment of ansible-playbook: this collection, the recorder, no colour, this Python."""
        return {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
            "ANSIBLE_CALLBACKS_ENABLED": "result_recorder",
            "PC_E2E_RESULTS": str(results),
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": str(self.workdir / "ansible-tmp"),
            "ANSIBLE_HOME": str(self.workdir / "ansible-home"),
            "ANSIBLE_DEPRECATION_WARNINGS": "1",
            # Machines like this one set REQUESTS_CA_BUNDLE to the system bundle: the modules'
            # ca_bundle must still win (reference/build-notes.md), so keep it set in every run.
            "REQUESTS_CA_BUNDLE": os.environ.get("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt"),
        }


class BackgroundRun:
    """An ansible-playbook started by Runner.start."""

    def __init__(self, runner: Runner, process: subprocess.Popen[str], results: Path) -> None:
        self.runner = runner
        self.process = process
        self.results = results

    def wait(self, timeout: float = 300) -> PlaybookRun:
        """Wait for the run (killed after ``timeout`` seconds, then TimeoutExpired) and collect it."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        completed = subprocess.CompletedProcess(self.process.args, self.process.returncode, stdout, stderr)
        return self.runner.collect(completed, self.results)


@pytest.fixture
def runner(emulator: EmulatorProcess, tmp_path: Path) -> Iterator[Runner]:
    """A playbook runner against a freshly reset emulator. Afterwards, every Graph request the test's runs
    made (and what the log holds since the last run) must use only names of its cloud's v1.0 schema."""
    emulator.reset()
    runner = Runner(emulator, tmp_path)
    yield runner
    runner.check_schema(emulator.requests_log())
    assert not runner.schema_findings, "Graph requests outside the cloud's v1.0 schema (tests/emulator/schema):\n" + \
        "\n".join(runner.schema_findings.values())
