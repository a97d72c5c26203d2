"""`make demo`: the whole procedure, end to end, against the local emulator.

Starts an emulator with partner tenants in the global, US Government (L4, DoD L5) and China clouds
(an emulated operator registers each web app in the Partner Center portal a few seconds after it
first asks, so the rollout shows the wait), writes an inventory for it, runs playbooks/rollout.yml,
runs it again to show that nothing changes, runs playbooks/audit.yml in check mode, prints where the
audit report is, and stops the emulator. Everything it writes goes under build/demo/: the inventory is
there, and the playbooks write beside their inventory by default.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.emulator.client import REPO_ROOT, EmulatorProcess
from tests.emulator.inventory import KEY_VAULT_SECRET, host_name, key_vault_store, write_inventory

DEMO_DIR = REPO_ROOT / "build" / "demo"
KEY_VAULT_CLOUD = "usgov"


def banner(text: str) -> None:
    """A visible step header."""
    print(f"\n{'=' * 100}\n== {text}\n{'=' * 100}", flush=True)


def playbook(name: str, inventory: Path, *args: str) -> int:
    """Run one of the collection's playbooks against the demo inventory, streaming its output."""
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
               str(REPO_ROOT / "playbooks" / name), *args]
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(REPO_ROOT / "build" / "collections"),
           "ANSIBLE_FORCE_COLOR": os.environ.get("ANSIBLE_FORCE_COLOR", "1" if sys.stdout.isatty() else "0"),
           "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    print("$ " + " ".join(command[1:]), flush=True)
    return subprocess.run(command, cwd=DEMO_DIR, env=env, check=False).returncode


def main() -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=2, help="tenants per cloud (default: %(default)s)")
    parser.add_argument("--operator-delay", type=float, default=8.0,
                        help="seconds before the emulated operator registers a web app (default: %(default)s)")
    args = parser.parse_args()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    started = time.monotonic()
    banner("Starting the local emulator of the identity platform, Microsoft Graph and Partner Center")
    with EmulatorProcess("--tenants", str(args.tenants), "--pc-auto-register-after", str(args.operator_delay)) as emulator:
        for cloud, urls in emulator.info["clouds"].items():
            print(f"  {cloud:10} identity {urls['authority_host']}  graph {urls['graph_endpoint']}  "
                  f"partner center {urls['partner_center_endpoint']}")
        # The US Government tenants keep their web app's secret in their own cloud's Key Vault (a store that
        # travels with the job, as AWX needs); the others in files under build/demo/secrets/.
        in_key_vault = [t for t in emulator.info["tenants"] if t["cloud"] == KEY_VAULT_CLOUD]
        inventory = write_inventory(emulator.info, DEMO_DIR / "inventory.yml", token_cache=str(DEMO_DIR / "token-cache"),
                                    host_vars=lambda t: {"web_app_secret_store": key_vault_store(t)} if t in in_key_vault else {})
        print(f"  {len(emulator.info['tenants'])} partner tenants; inventory: {inventory.relative_to(REPO_ROOT)}")
        for tenant in in_key_vault:
            print(f"  {host_name(tenant)}: web app secret in Azure Key Vault {tenant['key_vault_url']} "
                  f"(secret {KEY_VAULT_SECRET}, a vault of {tenant['cloud']})")
        # No output paths given: the playbooks write beside the inventory (build/demo), their documented default.
        banner("Rollout: both flows in every tenant; the operator registers the web apps in the portal meanwhile")
        if playbook("rollout.yml", inventory, "-e", "web_app_registration_wait_timeout=120") != 0:
            return 1
        banner("The same rollout again: nothing to change (changed=0)")
        if playbook("rollout.yml", inventory) != 0:
            return 1
        banner("Audit, read-only (--check --diff)")
        if playbook("audit.yml", inventory, "--check", "--diff") != 0:
            return 1
    banner("Done")
    report = (DEMO_DIR / "partner-center-audit").relative_to(REPO_ROOT)
    print(f"  Audit report: {report}/report.html (open it in a browser; also report.md and report.json)")
    print(f"  Secrets: {(DEMO_DIR / 'secrets').relative_to(REPO_ROOT)}/ (mode 0600), and the {KEY_VAULT_CLOUD} "
          f"tenants' in their Azure Key Vault (emulated; gone with the emulator)")
    print(f"  The emulator has stopped. Demo time: {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
