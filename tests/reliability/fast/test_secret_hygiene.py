"""Scenario 6, secret hygiene: the end-to-end flows (rollout, rerun, audit in check mode, rotation of a
secret, a secret returned as secret_text to a no_log task and passed on inline, a wrong client secret)
run at -vvv with --diff and a log file, once more with ANSIBLE_DEBUG=1. Every byte Ansible printed or
logged, the callback's results, the diffs, the audit report, the token cache files and the emulator's
request log are searched for every secret value the suite knows: the seeded client secrets and user
passwords, the wrong secret, every secret value created (read from the dest files as they are
written) and every access or refresh token (read from the token cache after each run).

- Values only the collection holds (secret values it stored in dest files, tokens) appear nowhere
  but in the dest files and the token cache, whatever the verbosity, ANSIBLE_DEBUG included.
- Values the playbook itself hands to modules (client secrets, a secret_text passed on) appear
  nowhere at -vvv. ANSIBLE_DEBUG=1 is the one exception, and not the collection's: ansible-core then
  prints every module's arguments and raw output in its own debug lines, no_log or not (its
  documentation of DEFAULT_DEBUG says so; see ActionBase._execute_module). The table notes it.
- The token cache holds tokens (that is its job) and no secret value; its files are 0600 in a 0700
  directory. Dest files are 0600, in a 0700 directory the module made.
"""
from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path
from typing import Any

from tests.emulator.inventory import host_name
from tests.reliability.support import AUDIT, SECRET_NAME, WEB_UNIQUE_NAME, Lab, failures, hosts_ok, scenario_seed

SCENARIO = "6. Secret hygiene"
FQCN = "partnercenter.national_cloud"
DEBUG_NOTE = ("with ANSIBLE_DEBUG=1 only, ansible-core's own debug lines show the secrets a playbook passes as module "
              "arguments (documented by ansible-core; never the values the collection stores, nor tokens)")
HANDED_TO_MODULES = ("seeded admin client secret", "a wrong client secret", "secret_text returned")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def flows(lab: Lab, tenant: dict[str, Any], inventory: Path, env: dict[str, str], tag: str) -> None:
    """Both flows and their neighbours, each run at -vvv --diff with env; harvests secrets after each."""

    def harvest() -> None:
        lab.secrets.add_dest_files(lab.secrets_dir)
        lab.secrets.add_token_cache(lab.token_cache)

    hosts = [host_name(t) for t in lab.emulator.info["tenants"]]
    run = lab.rollout("-vvv", "--diff", inventory=inventory, env=env, label=f"rollout {tag}")
    assert not hosts_ok(run, hosts), failures(run)
    harvest()
    audit_dir = lab.workdir / f"audit{len(lab.outputs)}"
    run = lab.run(AUDIT, *lab.dest_args(), "--check", "--diff", "-vvv", "-e", f"audit_report_dir={audit_dir}",
                  inventory=inventory, env=env, label=f"audit --check {tag}")
    assert not hosts_ok(run, hosts), failures(run)
    lab.outputs += [(f"audit report {p.name} {tag}", p.read_text(encoding="utf-8")) for p in sorted(audit_dir.iterdir())]

    # Rotation with dest; a secret returned once as secret_text to a no_log task (kept in a file of
    # ours, which then counts as a dest file) and passed on inline to the Partner Center check.
    kept = lab.secrets_dir / f"secret-text-{uuid.uuid4().hex}.txt"
    tasks = [
        {"name": "Rotate the web app secret", f"{FQCN}.pc_app_secret": {
            "unique_name": WEB_UNIQUE_NAME, "display_name": SECRET_NAME, "dest": str(lab.dest(tenant)), "rotate": True,
            "retire_previous": True}},
        {"name": "A second secret, returned as secret_text", f"{FQCN}.pc_app_secret": {
            "unique_name": WEB_UNIQUE_NAME, "display_name": "Returned once"}, "register": "returned", "no_log": True},
        {"name": "Keep it", "ansible.builtin.copy": {"content": "{{ returned.secret_text }}", "dest": str(kept), "mode": "0600"},
         "no_log": True},
        {"name": "Partner Center check with the secret inline", f"{FQCN}.pc_register_webapp": {
            "unique_name": WEB_UNIQUE_NAME, "webapp_client_secret": "{{ returned.secret_text }}"}},
        {"name": "Audit with the stored secret", f"{FQCN}.pc_aad_app_info": {
            "unique_name": WEB_UNIQUE_NAME, "webapp_secret_file": str(lab.dest(tenant))}},
        {"name": "Remove the second secret", f"{FQCN}.pc_app_secret": {
            "unique_name": WEB_UNIQUE_NAME, "display_name": "Returned once", "state": "absent"}},
    ]
    run = lab.run(lab.runner.play(tasks, lab.runner.auth(tenant)), "-vvv", "--diff", env=env,
                  label=f"rotation and secret_text {tag}")
    assert run.rc == 0, failures(run)
    lab.secrets.add("secret_text returned to a no_log task", kept.read_text(encoding="utf-8"))
    harvest()

    wrong = f"wrong-secret-{uuid.uuid4()}"
    lab.secrets.add("a wrong client secret", wrong)
    run = lab.run(lab.runner.play([{"name": "Wrong secret", f"{FQCN}.pc_aad_app_info": {"unique_name": WEB_UNIQUE_NAME}}],
                                  lab.runner.auth(tenant, client_secret=wrong)),
                  "-vvv", env=env, label=f"wrong client secret {tag}")
    assert run.rc != 0 and "AADSTS7000215" in failures(run).get("localhost", "")
    harvest()


def test_no_secret_leaks_at_any_verbosity(make_lab, record):
    record.scenario = SCENARIO
    seed = scenario_seed(SCENARIO)
    record.seeds.append(seed)
    lab = make_lab("--clouds", "public,china", "--tenants", "1", "--seed", str(seed % 1000 + 1),
                   "--pc-auto-register-after", "0")
    tenants = lab.emulator.info["tenants"]
    record.cases = len(tenants)
    inventory = lab.inventory()
    logs = {"-vvv": lab.workdir / "ansible.log", "-vvv ANSIBLE_DEBUG": lab.workdir / "ansible-debug.log"}
    flows(lab, tenants[0], inventory, {"ANSIBLE_LOG_PATH": str(logs["-vvv"])}, "-vvv")
    flows(lab, tenants[1], inventory, {"ANSIBLE_LOG_PATH": str(logs["-vvv ANSIBLE_DEBUG"]), "ANSIBLE_DEBUG": "1"},
          "-vvv ANSIBLE_DEBUG")
    lab.outputs += [(f"ansible log file {tag}", path.read_text(encoding="utf-8", errors="replace")) for tag, path in logs.items()]
    assert sum(len(text) for where, text in lab.outputs if "ANSIBLE_DEBUG" in where) > 1_000_000, "ANSIBLE_DEBUG printed little"

    tokens = {value for value, label in lab.secrets.values.items() if label.split()[0] in ("AccessToken", "RefreshToken", "IdToken")}
    assert tokens, "no token was found in the token cache"
    cache_files = sorted(p for p in lab.token_cache.iterdir() if p.is_file())
    cache_text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in cache_files)
    in_cache = [label for value, label in lab.secrets.values.items() if value not in tokens and value in cache_text]
    record.leaks += len(in_cache)
    record.notes.append(f"searched for {len(lab.secrets.values)} secret values ({len(tokens)} of them tokens)")
    lab.tolerated += [("ANSIBLE_DEBUG", prefix, DEBUG_NOTE) for prefix in HANDED_TO_MODULES]
    lab.finish()
    assert not in_cache, f"secret values in the token cache: {in_cache}"

    assert mode(lab.token_cache) == 0o700, oct(mode(lab.token_cache))
    assert cache_files and all(mode(p) == 0o600 for p in cache_files), {p.name: oct(mode(p)) for p in cache_files}
    dests = [p for p in lab.secrets_dir.iterdir() if p.name.endswith("-web-app.json")]
    assert len(dests) == len(tenants) and all(mode(p) == 0o600 for p in dests), {p.name: oct(mode(p)) for p in dests}
    assert mode(lab.secrets_dir) == 0o700, oct(mode(lab.secrets_dir))
    assert all(json.loads(p.read_text(encoding="utf-8"))["secret"] in lab.secrets.values for p in dests)
