"""The rollout as AWX runs jobs: `ansible-runner run` with a private data directory, the collection
installed from the tarball, against the emulator."""
from __future__ import annotations

import json
import shutil

from tests.emulator.inventory import write_inventory
from tests.release.conftest import NAME, NAMESPACE, output_of, run, tool


def runner_job(private_data_dir, ident: str, env: dict[str, str]):
    """`ansible-runner run` of project/rollout.yml; returns the process and the job's artifacts directory."""
    completed = run([tool("ansible-runner"), "run", str(private_data_dir), "-p", "rollout.yml", "--ident", ident],
                    cwd=private_data_dir, env=env, timeout=600)
    return completed, private_data_dir / "artifacts" / ident


def test_rollout_through_ansible_runner(installed, emulator, tmp_path):
    collections, env = installed
    emulator.reset()
    emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 0})
    tenants = [emulator.tenant(cloud) for cloud in ("public", "usgov", "china")]
    private = tmp_path / "private-data-dir"
    installed_playbooks = collections / "ansible_collections" / NAMESPACE / NAME / "playbooks"
    (private / "project").mkdir(parents=True)
    shutil.copy(installed_playbooks / "rollout.yml", private / "project" / "rollout.yml")
    write_inventory(emulator.info, private / "inventory" / "hosts", tenants=tenants, token_cache=str(tmp_path / "token-cache"))
    (private / "env").mkdir()
    (private / "env" / "envvars").write_text(json.dumps({
        "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false"}), encoding="utf-8")
    secrets = tmp_path / "secrets"
    (private / "env" / "extravars").write_text(json.dumps({
        "web_app_secret_dest": f"{secrets}/{{{{ inventory_hostname }}}}-web-app.json"}), encoding="utf-8")

    completed, artifacts = runner_job(private, "create", env)
    assert completed.returncode == 0, output_of(completed)
    assert (artifacts / "status").read_text(encoding="utf-8") == "successful"
    assert (artifacts / "rc").read_text(encoding="utf-8") == "0"
    for tenant in tenants:
        apps = emulator.graph(tenant).get("/applications", params={"$filter": "startswith(uniqueName,'partner-center-')"})
        assert sorted(a["uniqueName"] for a in apps.json()["value"]) == ["partner-center-native", "partner-center-web"]

    completed, artifacts = runner_job(private, "rerun", env)
    assert completed.returncode == 0, output_of(completed)
    stats = [json.loads(event.read_text(encoding="utf-8")) for event in (artifacts / "job_events").glob("*.json")]
    [final] = [e for e in stats if e.get("event") == "playbook_on_stats"]
    assert final["event_data"]["changed"] == {} and final["event_data"]["failures"] == {}

    # The secret values written once to the dest files appear nowhere in the job's artifacts.
    values = [json.loads(path.read_text(encoding="utf-8"))["secret"] for path in secrets.glob("*.json")]
    assert len(values) == len(tenants)
    everything = "".join(path.read_text(encoding="utf-8", errors="replace") for path in private.rglob("*") if path.is_file())
    assert not [value for value in values if value in everything]
