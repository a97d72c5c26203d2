"""Scenario 7, bad input, the whole corpus (tests/reliability/bad_input.py), one test per module: at least
100 invalid argument sets per module must each fail with a message that says what is wrong, without
a traceback, without showing a secret, and without a single write request."""
from __future__ import annotations

import pytest

from tests.reliability.bad_input import MIN_CASES_PER_MODULE, MODULES, corpus, run_corpus
from tests.reliability.support import scenario_seed

SCENARIO = "7. Bad input"


@pytest.mark.parametrize("module", MODULES)
def test_every_invalid_argument_set_fails_cleanly(make_lab, record, module):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, {module}")
    record.seeds.append(seed)
    lab = make_lab("--clouds", "public", "--tenants", "1")
    cases = [case for case in corpus(seed, lab.workdir) if case.module == module]
    assert len(cases) >= MIN_CASES_PER_MODULE
    record.cases = len(cases)
    problems = run_corpus(lab, cases)
    print("\n".join(f"[reliability] {problem}" for problem in problems))
    lab.finish()
    assert not problems, f"seed {seed}: {len(problems)} problems:\n" + "\n".join(problems)
