"""Scenario 8, secret custody (issue 11): the secret a rollout created is never removed by a runner that
does not hold its value. Several runners (checkouts, fresh AWX containers) run playbooks/rollout.yml over
tenants of every cloud, each with its own secret files: without the value a runner fails clearly and
changes nothing (default), or adds a secret of its own beside the others (missing_value=add), and no
run ever removes a secret that any runner's file holds. A secret folder that other users can write is
refused before any secret is requested.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.emulator.inventory import host_name
from tests.reliability.support import ROLLOUT, SECRET_NAME, Lab, describe, failures, hosts_ok, scenario_seed, sign_in, writes
from tests.second_user import needs_root, shared_folder

SCENARIO = "8. Secret custody"


def runner_files(folder: Path) -> list[str]:
    """Extra vars that keep one runner's secret files in its own folder."""
    return ["-e", f"web_app_secret_dest={folder}/{{{{ inventory_hostname }}}}-web-app.json"]


def web_app(lab: Lab, tenant: dict[str, Any]) -> dict[str, Any]:
    return lab.emulator.graph(tenant).get("/applications(uniqueName='partner-center-web')").json()


def valid_secrets(app: dict[str, Any]) -> set[str]:
    now = datetime.now(timezone.utc)
    return {c["keyId"] for c in app["passwordCredentials"] if c["displayName"] == SECRET_NAME
            and datetime.fromisoformat(c["endDateTime"].replace("Z", "+00:00")) > now}


def held(folders: list[Path], tenant: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """key id -> record, of every runner's file for this tenant that holds a value."""
    found = {}
    for folder in folders:
        path = folder / f"{host_name(tenant)}-web-app.json"
        if path.exists():
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("secret"):
                found[record["key_id"]] = record
    return found


def check_custody(lab: Lab, tenants: list[dict[str, Any]], folders: list[Path]) -> list[str]:
    """Every key id a runner holds is valid and signs in; every valid secret is held by some runner."""
    problems = []
    for tenant in tenants:
        app = web_app(lab, tenant)
        valid, records = valid_secrets(app), held(folders, tenant)
        gone = sorted(set(records) - valid)
        if gone:
            problems.append(f"{host_name(tenant)}: secrets held by a runner were removed or expired: {gone}")
        unheld = sorted(valid - set(records))
        if unheld:
            lab.record.lost_secrets += len(unheld)
            problems.append(f"{host_name(tenant)}: valid secrets no runner holds: {unheld}")
        problems += [f"{host_name(tenant)}: the value of {key} does not sign in" for key, record in records.items()
                     if key in valid and not sign_in(lab.emulator, tenant, app["appId"], record["secret"])]
    lab.record.checks += 1
    lab.record.converged += not problems
    return problems


def test_runners_that_do_not_hold_the_value_never_remove_a_live_secret(make_lab, record):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, runners")
    record.seeds.append(seed)
    lab = make_lab("--tenants", "1", "--seed", str(seed % 1000 + 1), "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    record.cases = len(hosts)
    inventory = lab.inventory()
    runner_a, runner_b = lab.workdir / "runner-a", lab.workdir / "runner-b"

    first = lab.run(ROLLOUT, *runner_files(runner_a), inventory=inventory, label="runner A, first rollout")
    assert not hosts_ok(first, hosts), failures(first)
    # A second runner without the values (a new container, another laptop): fails clearly, changes nothing.
    strict = lab.run(ROLLOUT, *runner_files(runner_b), inventory=inventory, label="runner B, default")
    assert set(failures(strict)) == set(hosts), failures(strict)
    assert all("holds no value for the valid secret" in msg for msg in failures(strict).values()), failures(strict)
    assert writes(strict.requests) == [], describe(writes(strict.requests))
    # With missing_value=add each keeps its own; four alternating runs never remove a secret.
    add = ["-e", "web_app_secret_missing_value=add"]
    for turn, folder in enumerate([runner_b, runner_a, runner_b, runner_a]):
        run = lab.run(ROLLOUT, *runner_files(folder), *add, inventory=inventory, label=f"alternating run {turn + 1}")
        assert not hosts_ok(run, hosts), failures(run)
        removals = [e for e in writes(run.requests) if e["path"].endswith("/removePassword")]
        assert removals == [], describe(removals)
        if turn:
            assert writes(run.requests) == [], describe(writes(run.requests))
    problems = check_custody(lab, tenants, [runner_a, runner_b])
    lab.finish()
    assert not problems, problems
    assert all(len(held([runner_a, runner_b], t)) == 2 for t in tenants)


@needs_root
def test_a_secret_folder_others_can_write_is_refused_before_any_secret_is_requested(make_lab, record):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, shared folder")
    record.seeds.append(seed)
    lab = make_lab("--tenants", "1", "--seed", str(seed % 1000 + 1), "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    record.cases = len(hosts)
    with shared_folder() as folder:  # mode 1777, like /tmp
        run = lab.run(ROLLOUT, *runner_files(folder), inventory=lab.inventory(), label="rollout into a shared folder")
        assert set(failures(run)) == set(hosts), failures(run)
        assert all("can be written by" in msg for msg in failures(run).values()), failures(run)
        assert not [e for e in run.requests if e["path"].endswith("/addPassword")]
        assert not list(folder.glob("*.json"))
    record.checks += 1
    record.converged += 1
    lab.finish()
