"""The suite's own checks must be able to fail: the convergence check sees planted duplicates, lost
secrets and missing consent; the leak search finds a value and masks it; tracebacks are counted; a
kill takes down ansible-playbook's workers and module processes (in sessions of their own); the
summary table adds records up per scenario."""
from __future__ import annotations

import json
import time

from tests.e2e.conftest import PlaybookRun, TaskResult
from tests.e2e.hygiene import HYGIENE_ENV, HygieneScan, Secrets
from tests.emulator.inventory import host_name
from tests.reliability.summary import RECORD_KEY, Summary
from tests.reliability.support import (
    NATIVE_UNIQUE_NAME,
    SECRET_NAME,
    WEB_DISPLAY_NAME,
    WEB_UNIQUE_NAME,
    Record,
    alive,
    count_tracebacks,
    failures,
    hosts_ok,
    process_tree,
    wait_until,
)


def test_convergence_check_sees_duplicates_lost_secrets_and_missing_consent(make_lab, record):
    lab = make_lab("--clouds", "public", "--tenants", "1", "--pc-auto-register-after", "0")
    tenant = lab.emulator.info["tenants"][0]
    run = lab.rollout(inventory=lab.inventory(), label="rollout to plant problems in")
    assert not hosts_ok(run, [host_name(tenant)]), failures(run)
    assert lab.converged([tenant]).ok
    graph = lab.emulator.graph(tenant)

    assert graph.post("/applications", json={"displayName": WEB_DISPLAY_NAME}).status_code == 201
    web = graph.get(f"/applications(uniqueName='{WEB_UNIQUE_NAME}')").json()
    assert graph.post(f"/applications/{web['id']}/addPassword", json={"passwordCredential": {"displayName": SECRET_NAME}}).ok
    native = graph.get(f"/applications(uniqueName='{NATIVE_UNIQUE_NAME}')").json()
    native_sp = graph.get(f"/servicePrincipals(appId='{native['appId']}')").json()
    grants = graph.get("/oauth2PermissionGrants", params={"$filter": f"clientId eq '{native_sp['id']}'"}).json()["value"]
    assert graph.delete(f"/oauth2PermissionGrants/{grants[0]['id']}").status_code == 204

    result = lab.converged([tenant])
    assert not result.ok and result.duplicates == 2 and result.lost_secrets == 1, str(result)
    text = str(result)
    assert "2 applications 'partner-center-web'" in text and "no admin consent grants of the native app" in text
    lab.dest(tenant).unlink()
    result = lab.converged([tenant])
    assert result.lost_secrets == 2 and "does not exist" in str(result)
    assert not record.scenario  # a check of the suite: not a row of the summary table


def test_leak_search_finds_and_masks_values():
    secrets = Secrets()
    secrets.add("a token", "eyJhbGciOi.payload.signature-0123456789")
    secrets.add("too short to be a secret", "abc")
    text = "before eyJhbGciOi.payload.signature-0123456789 after"
    assert secrets.find(text) == ["a token"] and secrets.find("abc") == []
    token = "eyJhbGciOi.payload.signature-0123456789"
    assert "<SECRET>" in secrets.context(text, token) and "signature" not in secrets.context(text, token)


def test_tracebacks_are_counted_in_results_and_output():
    clean = TaskResult("t", "a", "failed", {"msg": "bad input", "exception": "(traceback unavailable)"})
    crashed = TaskResult("t", "a", "failed", {"msg": "MODULE FAILURE", "module_stderr": "Traceback (most recent call last):"})
    assert count_tracebacks(PlaybookRun(2, "", "", [clean])) == 0
    assert count_tracebacks(PlaybookRun(2, "", "", [clean, crashed])) == 1
    assert count_tracebacks(PlaybookRun(250, "", "Traceback (most recent call last):\n  File ...", [])) == 1


def test_kill_takes_down_workers_and_module_processes(make_lab):
    lab = make_lab("--clouds", "public", "--tenants", "1")
    marker = f"{time.time_ns()}"
    playbook = lab.workdir / "sleep.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False,
                                     "tasks": [{"ansible.builtin.command": f"sleep 3{marker[-3:]}.{marker}"}]}]), encoding="utf-8")
    started = lab.start(playbook, inventory="localhost,", label="a playbook to kill")  # type: ignore[arg-type]

    def sleeper() -> list[int]:
        return [pid for pid in process_tree(started.process.pid) if marker in _cmdline(pid)]

    assert wait_until(lambda: bool(sleeper()), 120), "the task never started"
    victims = process_tree(started.process.pid)
    assert any(_session(pid) != _session(started.process.pid) for pid in victims), "no worker in its own session?"
    started.kill()
    started.wait()
    assert not [pid for pid in victims if alive(pid)]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _session(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[3]
    except OSError:
        return ""


def test_summary_adds_records_up_per_scenario():
    summary = Summary()

    class Report:  # the parts of a pytest TestReport that Summary reads
        def __init__(self, nodeid: str, when: str, outcome: str, record: Record | None = None, xfail: bool = False) -> None:
            self.nodeid, self.when, self.outcome = nodeid, when, outcome
            self.passed, self.failed = outcome == "passed", outcome == "failed"
            self.user_properties = [(RECORD_KEY, json.dumps(record.to_json()))] if record else []
            if xfail:
                self.wasxfail = "collection bug"

    for nodeid, outcome, xfail, runs in (("a", "passed", False, 2), ("b", "skipped", True, 3), ("c", "failed", False, 1)):
        summary.pytest_runtest_logreport(Report(nodeid, "call", outcome, xfail=xfail))  # type: ignore[arg-type]
        entry = Record(scenario="1. Fault storm", runs=runs, checks=1, converged=int(outcome == "passed"), seeds=[runs],
                       duplicates=int(xfail))
        summary.pytest_runtest_logreport(Report(nodeid, "teardown", "passed", entry))  # type: ignore[arg-type]
    [row] = summary.table()
    assert row[:6] == ["1. Fault storm", "3", "1 pass, 1 FAILED, 1 xfail (collection bug)", "6", "1/2 (+1 not, known)",
                       "0 (+1 known)"]
    assert summary.markdown().splitlines()[0].startswith("| scenario | tests | result | runs | converged |")


def test_e2e_hygiene_scan_reports_a_leak_but_not_the_one_secret_text_return(tmp_path, monkeypatch):
    monkeypatch.setenv(HYGIENE_ENV, str(tmp_path))
    seeded = {"client_id": "c", "client_secret": "seeded-secret-0123456789"}
    info = {"tenants": [{"domain": "t", "admin": seeded, "limited": seeded, "user": {"username": "u", "password": "password-0123456789"}}]}
    scan = HygieneScan.from_environment(info)
    cache = tmp_path / "token-cache"
    cache.mkdir()
    token = "eyJ0eXAiOiJKV1QifQ.access-token-body.signature"
    (cache / "x.tokens.json").write_text(json.dumps({"AccessToken": {"k": {"secret": token}}}))
    returned = "returned-once-0123456789abcdef"
    run = PlaybookRun(0, f"ok: {returned} and {token}", "", [TaskResult("t", "a", "ok", {"secret_text": returned})],
                      [{"body": {"client_secret": "seeded-secret-0123456789"}}])
    scan.after_run(tmp_path, cache, run, json.dumps({"secret_text": returned}))
    [entry] = [json.loads(line) for line in scan.log.read_text().splitlines()]
    assert sorted((leak["secret"].split()[0], leak["where"]) for leak in entry["leaks"]) == [
        ("AccessToken", "stdout"), ("seeded", "emulator request log")]
    assert token not in scan.log.read_text() and "seeded-secret" not in scan.log.read_text()
