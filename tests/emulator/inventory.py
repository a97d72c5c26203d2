"""An Ansible inventory for the emulator: one host per tenant, one group per cloud, in the layout of
playbooks/inventory/example.yml (each host's `pc_auth` carries the module auth options, here with
the emulator's endpoints and CA bundle as transport overrides).

`python -m tests.emulator.inventory INFO_JSON OUT_YML` writes one from an emulator's ready line.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable


def host_name(tenant: dict[str, Any]) -> str:
    """A stable, readable inventory name for a tenant: its domain's first label and its cloud."""
    return f"{tenant['domain'].split('.', 1)[0]}-{tenant['cloud']}".replace("_", "-")


KEY_VAULT_SECRET = "partner-center-web"


def key_vault_store(tenant: dict[str, Any]) -> dict[str, Any]:
    """The web_app_secret_store of a tenant whose web app secret is kept in its emulated Key Vault."""
    return {"type": "azure_key_vault", "vault_url": tenant["key_vault_url"], "secret_name": KEY_VAULT_SECRET}


def inventory(info: dict[str, Any], *, tenants: list[dict[str, Any]] | None = None, token_cache: str | None = None,
              python: str | None = None, host_vars: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The inventory as a dict (YAML-compatible JSON); ``host_vars(tenant)`` adds variables to a tenant's host."""
    groups: dict[str, Any] = {}
    for tenant in tenants if tenants is not None else info["tenants"]:
        cloud = tenant["cloud"]
        group = groups.setdefault(cloud, {"hosts": {}, "vars": {"pc_cloud": cloud}})
        group["hosts"][host_name(tenant)] = {
            "pc_tenant_id": tenant["tenant_id"], "pc_client_id": tenant["admin"]["client_id"],
            "pc_client_secret": tenant["admin"]["client_secret"],
            **(host_vars(tenant) if host_vars else {}),
        }
    endpoints = {cloud: info["clouds"][cloud] for cloud in groups}
    auth = {"cloud": "{{ pc_cloud }}", "tenant_id": "{{ pc_tenant_id }}", "client_id": "{{ pc_client_id }}",
            "client_secret": "{{ pc_client_secret }}", "authority_host": "{{ pc_emulator[pc_cloud].authority_host }}",
            "graph_endpoint": "{{ pc_emulator[pc_cloud].graph_endpoint }}",
            "partner_center_endpoint": "{{ pc_emulator[pc_cloud].partner_center_endpoint }}",
            "ca_bundle": info["ca_bundle"]}
    if token_cache:
        auth["token_cache"] = token_cache
    return {"partner_tenants": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": python or sys.executable,
                 "pc_emulator": endpoints, "pc_auth": auth},
        "children": groups,
    }}


def write_inventory(info: dict[str, Any], path: Path, **kwargs: Any) -> Path:
    """Write the inventory (mode 0600: it holds the seeded client secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(inventory(info, **kwargs), handle, indent=1)
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.emulator.inventory INFO_JSON OUT_YML")
    with open(sys.argv[1], encoding="utf-8") as source:
        write_inventory(json.loads(source.readline()), Path(sys.argv[2]))
