"""Scenario 7, bad input, the part that runs in `make test`: a seeded sample of the corpus
(tests/reliability/bad_input.py; the whole of it runs in `make reliability`), and valid but unusual
names (quotes, '#', '&', unicode), which must round-trip exactly and be found again by name."""
from __future__ import annotations

import json
import random

from tests.reliability.bad_input import MODULES, corpus, run_corpus
from tests.reliability.support import describe, failures, scenario_seed, writes

SCENARIO = "7. Bad input"
SAMPLE_PER_MODULE = 20
FQCN = "partnercenter.national_cloud"


def test_a_sample_of_invalid_argument_sets_fails_cleanly(make_lab, record):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, sample")
    record.seeds.append(seed)
    lab = make_lab("--clouds", "public", "--tenants", "1")
    rng = random.Random(seed)
    every = corpus(seed, lab.workdir)
    cases = [case for module in MODULES for case in rng.sample([c for c in every if c.module == module], SAMPLE_PER_MODULE)]
    record.cases = len(cases)
    problems = run_corpus(lab, cases)
    lab.finish()
    assert not problems, f"seed {seed}: {len(problems)} problems:\n" + "\n".join(problems)


def _has_issue_14_value(case) -> bool:
    return any(key == "connect_retry_timeout" or (isinstance(value, str) and (
        value.endswith("\n") or value == "/proc/self" or "+25:00" in value or "+01:60" in value)) for key, value in case.args.items())


def test_the_inputs_of_issue_14_fail_cleanly(make_lab, record):
    """Every corpus case with an input that used to pass (GUID + newline, offset +25:00, token_cache /proc/self)."""
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, issue 14")
    record.seeds.append(seed)
    lab = make_lab("--clouds", "public", "--tenants", "1")
    cases = [case for case in corpus(seed, lab.workdir) if _has_issue_14_value(case)]
    kinds = {module: [c for c in cases if c.module == module] for module in MODULES}
    assert all(kinds.values()) and any("+25:00" in str(c.args) for c in kinds["pc_app_secret"]), kinds
    record.cases = len(cases)
    problems = run_corpus(lab, cases)
    lab.finish()
    assert not problems, f"seed {seed}: {len(problems)} problems:\n" + "\n".join(problems)


# Valid but unusual: quotes (single quotes must be doubled in OData literals), '#', '&', '%', '+',
# '/', '\', '?', '=', non-Latin scripts, an emoji and a combining accent.
APP_NAME = "Partner O'Brien & Söhne #1 \"quoted\" — 東京 🚀 100% + / \\ ?a=b&c'd"
OTHER_NAME = "O'Reilly #2 & ü (display name only)"
SECRET_LABEL = "Key 'Ω' #1 & e\u0301"
NOTES = "Notes: ü 'q' #& 100%"
TAGS = ["a'b", "#c", "d&e", "ü", "x=y?z"]


def test_unusual_names_round_trip_exactly(make_lab, record):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, unusual names")
    record.seeds.append(seed)
    lab = make_lab("--clouds", "public", "--tenants", "1", "--seed", str(seed % 1000 + 1))
    tenant = lab.emulator.info["tenants"][0]
    graph = lab.emulator.graph(tenant)
    # Look-alikes that differ only in case: Graph's filter matches them, the modules must not.
    for name in (APP_NAME.upper(), OTHER_NAME.upper()):
        assert graph.post("/applications", json={"displayName": name}).status_code == 201
    dest = lab.secrets_dir / "unusual.json"
    app = {"unique_name": "pc-unusual", "display_name": APP_NAME, "notes": NOTES, "tags": TAGS}
    secret = {"unique_name": "pc-unusual", "display_name": SECRET_LABEL, "dest": str(dest)}
    permissions = {"display_name": APP_NAME, "permissions": [{"api": "Microsoft Graph", "application": ["Directory.Read.All"]}]}
    tasks = [{"name": "app", f"{FQCN}.pc_aad_app": app}, {"name": "other", f"{FQCN}.pc_aad_app": {"display_name": OTHER_NAME}},
             {"name": "secret", f"{FQCN}.pc_app_secret": secret}, {"name": "permissions", f"{FQCN}.pc_aad_permissions": permissions}]
    record.cases = len(tasks)
    first = lab.run(lab.runner.play(tasks, lab.runner.auth(tenant)), "--diff", label="unusual names")
    assert first.rc == 0 and all(task.changed for task in first.module_results()), failures(first)
    tasks.append({"name": "info", f"{FQCN}.pc_aad_app_info": {"display_name": APP_NAME}})
    second = lab.run(lab.runner.play(tasks, lab.runner.auth(tenant)), "--diff", label="unusual names again")
    assert second.rc == 0, failures(second)
    assert not any(task.changed for task in second.module_results()), {t.task: t.msg for t in second.module_results()}
    assert writes(second.requests) == [], describe(writes(second.requests))

    apps = graph.get("/applications", params={"$select": "id,appId,displayName,uniqueName,notes,tags,passwordCredentials"}).json()["value"]
    exact = [a for a in apps if a["displayName"] == APP_NAME]
    others = [a for a in apps if a["displayName"] == OTHER_NAME]
    assert len(exact) == 1 and len(others) == 1, [a["displayName"] for a in apps]
    assert exact[0]["uniqueName"] == "pc-unusual" and exact[0]["notes"] == NOTES and sorted(exact[0]["tags"]) == sorted(TAGS)
    assert [c["displayName"] for c in exact[0]["passwordCredentials"]] == [SECRET_LABEL]
    assert json.loads(dest.read_text(encoding="utf-8"))["display_name"] == SECRET_LABEL
    info = second.last.result["applications"]
    assert [a["app_id"] for a in info] == [exact[0]["appId"]], info
    lab.finish()
