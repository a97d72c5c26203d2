"""Scenario 6, secret hygiene across the whole end-to-end suite: tests/e2e runs (as its own pytest
session) with $PC_E2E_HYGIENE_DIR set, so that every one of its ansible-playbook runs is at -vvv and is
searched, right after it ends, for every secret value its runner knows by then: the seeded client
secrets and passwords, the tokens in its token cache, the values in its dest files and the values
returned as secret_text (tests/e2e/hygiene.py). A value returned as secret_text may appear only in the
run that returned it (the documented return), nowhere else. ANSIBLE_DEBUG=1 is covered by
fast/test_secret_hygiene.py: with it ansible-core prints every module's arguments, as it documents."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.e2e.hygiene import HYGIENE_ENV
from tests.emulator.client import REPO_ROOT
from tests.reliability.support import scenario_seed

SCENARIO = "6. Secret hygiene"


def test_the_whole_end_to_end_suite_at_vvv_leaks_nothing(tmp_path, record):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, whole end-to-end suite")
    record.seeds.append(seed)
    findings = tmp_path / "findings"
    findings.mkdir(mode=0o700)
    env = {**os.environ, HYGIENE_ENV: str(findings), "PYTHONHASHSEED": str(seed % 4294967296)}
    completed = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", "tests/e2e"],
                               cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
    print(completed.stdout[-3000:])
    runs = [json.loads(line) for path in sorted(findings.glob("*.jsonl")) for line in path.read_text(encoding="utf-8").splitlines()]
    leaks = [f"{run['test']}: {leak['secret']} in {leak['where']}: ...{leak['context']}..." for run in runs for leak in run["leaks"]]
    record.runs += len(runs)
    record.cases = len({run["test"] for run in runs})
    record.leaks += len(leaks)
    tracebacks = [run["test"] for run in runs if run["traceback"]]
    record.tracebacks += len(tracebacks)
    record.notes.append(f"whole end-to-end suite at -vvv: {len(runs)} ansible-playbook runs of {record.cases} tests, "
                        f"{sum(run['bytes'] for run in runs) / 1e6:.0f} MB searched for up to "
                        f"{max((run['secrets_known'] for run in runs), default=0)} secret values per test")
    assert completed.returncode == 0, f"the end-to-end suite failed:\n{completed.stdout[-5000:]}"
    assert len(runs) >= 100, f"only {len(runs)} ansible-playbook runs were searched"
    assert not leaks, "\n".join(leaks[:20])
    assert not tracebacks, f"runs that printed a Python traceback: {tracebacks}"
