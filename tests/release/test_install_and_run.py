"""Install the tarball into an empty collections path and run a module from there against the emulator.

Nothing here sees the working tree's collection: ANSIBLE_COLLECTIONS_PATH is only the temporary install
path, sys.path is not scanned for collections, and the playbook has no adjacent collections/ directory.
"""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from tests.emulator.inventory import host_name, write_inventory
from tests.release.conftest import FQCN, NAME, NAMESPACE, output_of, run, tool

MODULE = f"{FQCN}.pc_aad_app"


def test_ansible_finds_the_module_in_the_install(installed, tmp_path):
    collections, env = installed
    completed = run([tool("ansible-doc"), "--json", MODULE], cwd=tmp_path, env=env)
    assert completed.returncode == 0, output_of(completed)
    filename = Path(json.loads(completed.stdout)[MODULE]["doc"]["filename"]).resolve()
    assert filename.is_relative_to(collections.resolve()), f"{MODULE} was loaded from {filename}, not from the install"


def test_module_from_the_install_runs_against_the_emulator(installed, emulator, tmp_path):
    collections, env = installed
    emulator.reset()
    tenant = emulator.tenant("public")
    endpoints = emulator.endpoints("public")
    auth = {"cloud": "public", "tenant_id": tenant["tenant_id"], "client_id": tenant["admin"]["client_id"],
            "client_secret": tenant["admin"]["client_secret"], "authority_host": endpoints["authority_host"],
            "graph_endpoint": endpoints["graph_endpoint"], "partner_center_endpoint": endpoints["partner_center_endpoint"],
            "ca_bundle": emulator.info["ca_bundle"], "token_cache": str(tmp_path / "token-cache")}
    display_name = f"Release check {uuid.uuid4()}"
    results = tmp_path / "results"
    task = {MODULE: {"display_name": display_name}}
    playbook = [{
        "name": "Run the installed collection against the emulator",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "module_defaults": {f"group/{FQCN}.all": auth},  # the action group from the installed meta/runtime.yml
        "tasks": [
            {"name": "Create the app registration", **task, "register": "first"},
            {"name": "Run it again", **task, "register": "second"},
            {"name": "Save the results", "ansible.builtin.copy": {
                "content": "{{ {'first': first, 'second': second} | to_json }}", "dest": str(results), "mode": "0600"}},
        ],
    }]
    path = tmp_path / "playbook.yml"
    path.write_text(json.dumps(playbook, indent=1), encoding="utf-8")  # JSON is YAML
    env = {**env, "ANSIBLE_PYTHON_INTERPRETER": sys.executable, "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    completed = run([tool("ansible-playbook"), "-i", "localhost,", str(path)], cwd=tmp_path, env=env)
    assert completed.returncode == 0, output_of(completed)

    graph_requests = emulator.requests_log(service="graph")  # the module's, before this test asks Graph itself
    saved = json.loads(results.read_text(encoding="utf-8"))
    first, second = saved["first"], saved["second"]
    assert first["changed"] and not second["changed"]
    assert first["app_id"] == second["app_id"]
    app = emulator.graph(tenant).get(f"/applications(appId='{first['app_id']}')").json()
    assert app["displayName"] == display_name
    # The module that ran names the installed collection's version.
    user_agent = f"{FQCN}/{manifest_version(collections)}"
    assert graph_requests and all(r["user_agent"].startswith(user_agent) for r in graph_requests), graph_requests


def manifest_version(collections: Path) -> str:
    """Version of the installed collection."""
    manifest = collections / "ansible_collections" / NAMESPACE / NAME / "MANIFEST.json"
    return str(json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"])


def test_the_shipped_playbooks_run_by_name_from_the_install_and_write_only_beside_the_inventory(
        installed, emulator, tmp_path):
    """What a new user does: install the tarball, keep an inventory in a folder of their own, and run the
    shipped playbooks by name, twice, from yet another folder. Outputs land beside the inventory (the
    documented output folder), nothing under the installed collection; pointing outputs into the
    install is refused before anything is written."""
    collections, env = installed
    emulator.reset()
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    tenants = [emulator.tenant("public"), emulator.tenant("usgov")]
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    elsewhere.mkdir()
    inventory = write_inventory(emulator.info, project / "inventory.yml", tenants=tenants,
                                token_cache=str(tmp_path / "token-cache"))
    install = collections / "ansible_collections" / NAMESPACE / NAME
    files_of_install = sorted(p.relative_to(install) for p in install.rglob("*"))
    env = {**env, "ANSIBLE_RETRY_FILES_ENABLED": "0"}

    def playbook(name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run([tool("ansible-playbook"), "-i", str(inventory), f"{FQCN}.{name}", *args], cwd=elsewhere, env=env)

    for attempt in (1, 2):
        for name, args in (("rollout", ()), ("audit", ("--check", "--diff"))):
            completed = playbook(name, *args)
            assert completed.returncode == 0, f"{name}, run {attempt}: {output_of(completed)}"
            if attempt == 2:
                assert "changed=0" in completed.stdout and "changed=1" not in completed.stdout, output_of(completed)
    assert sorted(p.relative_to(install) for p in install.rglob("*")) == files_of_install
    assert list(elsewhere.iterdir()) == []
    secrets = sorted(p.name for p in (project / "secrets").glob("[!.]*.json"))
    assert secrets == sorted(f"{host_name(t)}-partner-center-web.json" for t in tenants)
    report = project / "partner-center-audit"
    assert sorted(p.name for p in report.iterdir()) == ["report.html", "report.json", "report.md"]
    assert json.loads((report / "report.json").read_text(encoding="utf-8"))["failed_hosts"] == []

    emulator.clear_log()
    refused = playbook("audit", "-e", f"pc_output_dir={install / 'playbooks'}")
    assert refused.returncode != 0 and "inside the installed collection" in refused.stdout + refused.stderr
    assert emulator.requests_log() == []  # refused before the first request
    assert sorted(p.relative_to(install) for p in install.rglob("*")) == files_of_install
