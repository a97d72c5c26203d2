"""Generate the emulator's per-cloud Graph v1.0 schema tables from Microsoft's published CSDL.

Reads the `$metadata` documents of Microsoft Graph v1.0 that Microsoft publishes per deployment
(microsoftgraph/msgraph-metadata, folder `schemas/`; copies in ../shared/reference/graph-metadata)
and writes one compact JSON table per deployment to tests/emulator/data/schema/<deployment>.json:
entity sets and singletons and their types; for the types the emulator serves (and what they
reach: base types, complex property types, navigation targets one step away) each type's
properties (name -> type), navigation properties, base type and open-type flag; and the actions
bound to those types with their parameters. Facts only, no descriptions.

    python -m tests.emulator.schema.generate [--source DIR] [--check]

`--check` writes nothing and exits 1 when a committed table differs from what the CSDL gives.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Iterable

REPO_ROOT = Path(__file__).resolve().parents[3]
# CI and the shared tree keep a read-only copy of shared/ beside the clone.
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "reference" / "graph-metadata"
TABLE_DIR = Path(__file__).resolve().parents[1] / "data" / "schema"
# Commit of microsoftgraph/msgraph-metadata the CSDL copies come from (their README).
METADATA_COMMIT = "f54f11b60956ea7b185ca0447b2b80805836ec7b"
FORMAT = 1

# Deployment -> (CSDL file, clouds of this collection it serves). usgov (L4) and usgov_dod (L5) are
# both served by the US Government deployment ("Fairfax"): https://learn.microsoft.com/graph/deployments
DEPLOYMENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Prod": ("graph-v1.0-Prod.csdl.gz", ("public",)),
    "Fairfax": ("graph-v1.0-Fairfax.csdl.gz", ("usgov", "usgov_dod")),
    "Mooncake": ("graph-v1.0-Mooncake.csdl.gz", ("china",)),
}
# Entity types the emulator serves (URL roots and what they contain). Everything they reach through
# base types and complex properties is kept, and navigation targets one step away from these.
ROOT_TYPES = ("microsoft.graph.application", "microsoft.graph.servicePrincipal", "microsoft.graph.oAuth2PermissionGrant",
              "microsoft.graph.appRoleAssignment", "microsoft.graph.organization", "microsoft.graph.policyRoot",
              "microsoft.graph.tenantAppManagementPolicy", "microsoft.graph.directoryObject")

_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_MAIN = "microsoft.graph"


def _short(name: str) -> str:
    """A qualified type name as the tables spell it: `microsoft.graph.` dropped, other namespaces kept."""
    if name.startswith("Collection(") and name.endswith(")"):
        return f"Collection({_short(name[11:-1])})"
    if name.startswith(_MAIN + ".") and "." not in name[len(_MAIN) + 1:]:
        return name[len(_MAIN) + 1:]
    return name


def _element_type(name: str) -> str:
    return name[11:-1] if name.startswith("Collection(") else name


class Csdl:
    """The parts of one CSDL document the tables are made of, with aliases resolved."""

    def __init__(self, data: bytes) -> None:
        root = ET.fromstring(data)
        self.types: dict[str, dict[str, Any]] = {}
        self.actions: list[dict[str, Any]] = []
        self.entity_sets: dict[str, str] = {}
        self.singletons: dict[str, str] = {}
        schemas = list(root.iter(f"{_EDM}Schema"))
        aliases = {s.get("Alias"): s.get("Namespace") for s in schemas if s.get("Alias")}

        def qualify(ref: str) -> str:
            if ref.startswith("Collection(") and ref.endswith(")"):
                return f"Collection({qualify(ref[11:-1])})"
            head, dot, tail = ref.rpartition(".")
            return f"{aliases.get(head, head)}.{tail}" if dot and head in aliases else ref

        for schema in schemas:
            namespace = schema.get("Namespace", "")
            for element in schema:
                tag = element.tag[len(_EDM):]
                if tag in ("EntityType", "ComplexType"):
                    self.types[f"{namespace}.{element.get('Name')}"] = {
                        "kind": "entity" if tag == "EntityType" else "complex",
                        "base": qualify(element.get("BaseType")) if element.get("BaseType") else None,
                        "open": element.get("OpenType") == "true",
                        "abstract": element.get("Abstract") == "true",
                        "properties": {p.get("Name"): qualify(p.get("Type", "")) for p in element.findall(f"{_EDM}Property")},
                        "navigation": {p.get("Name"): qualify(p.get("Type", ""))
                                       for p in element.findall(f"{_EDM}NavigationProperty")},
                    }
                elif tag == "Action" and element.get("IsBound") == "true":
                    params = element.findall(f"{_EDM}Parameter")
                    returns = element.find(f"{_EDM}ReturnType")
                    self.actions.append({"name": element.get("Name"), "binding": qualify(params[0].get("Type", "")),
                                         "parameters": {p.get("Name"): qualify(p.get("Type", "")) for p in params[1:]},
                                         "returns": qualify(returns.get("Type", "")) if returns is not None else None})
                elif tag == "EntityContainer":
                    for item in element:
                        kind = item.tag[len(_EDM):]
                        if kind == "EntitySet":
                            self.entity_sets[item.get("Name", "")] = qualify(item.get("EntityType", ""))
                        elif kind == "Singleton":
                            self.singletons[item.get("Name", "")] = qualify(item.get("Type", ""))

    def closure(self, roots: Iterable[str]) -> list[str]:
        """The root types and every type they reach (see ROOT_TYPES), sorted."""
        derived: dict[str, list[str]] = {}
        for name, spec in self.types.items():
            if spec["base"]:
                derived.setdefault(spec["base"], []).append(name)
        kept: set[str] = set()
        pending = [(name, True) for name in roots if name in self.types]
        while pending:
            name, root = pending.pop()
            if name not in self.types or (name in kept and not root):
                continue
            kept.add(name)
            spec = self.types[name]
            reached = [spec["base"]] if spec["base"] else []
            reached += [_element_type(t) for t in spec["properties"].values()]
            if spec["kind"] == "complex":
                reached += derived.get(name, [])
            pending += [(t, False) for t in reached if t in self.types and t not in kept]
            if root:
                pending += [(_element_type(t), False) for t in spec["navigation"].values()
                            if _element_type(t) in self.types and _element_type(t) not in kept]
        return sorted(kept)


def build_table(deployment: str, data: bytes) -> dict[str, Any]:
    """The table of one deployment from its (gzipped) CSDL bytes."""
    file_name, clouds = DEPLOYMENTS[deployment]
    csdl = Csdl(gzip.decompress(data))
    kept = csdl.closure(ROOT_TYPES)
    types: dict[str, Any] = {}
    for name in kept:
        spec = csdl.types[name]
        entry: dict[str, Any] = {"kind": spec["kind"]}
        if spec["base"]:
            entry["base"] = _short(spec["base"])
        if spec["open"]:
            entry["open"] = True
        if spec["abstract"]:
            entry["abstract"] = True
        entry["properties"] = {k: _short(v) for k, v in sorted(spec["properties"].items())}
        if spec["navigation"]:
            entry["navigation"] = {k: _short(v) for k, v in sorted(spec["navigation"].items())}
        types[_short(name)] = entry
    actions: dict[str, dict[str, dict[str, Any]]] = {}
    for action in csdl.actions:
        binding = action["binding"]
        if _element_type(binding) in kept:
            entry = {"parameters": {k: _short(v) for k, v in action["parameters"].items()}}
            if action["returns"]:
                entry["returns"] = _short(action["returns"])
            actions.setdefault(_short(binding), {})[action["name"]] = entry
    return {
        "format": FORMAT,
        "source": {"file": file_name, "sha256": hashlib.sha256(data).hexdigest(),
                   "repository": "microsoftgraph/msgraph-metadata", "commit": METADATA_COMMIT,
                   "generator": "python -m tests.emulator.schema.generate"},
        "deployment": deployment,
        "clouds": list(clouds),
        "entity_sets": {k: _short(v) for k, v in sorted(csdl.entity_sets.items())},
        "singletons": {k: _short(v) for k, v in sorted(csdl.singletons.items())},
        "types": types,
        "actions": {k: dict(sorted(v.items())) for k, v in sorted(actions.items())},
    }


def render(table: dict[str, Any]) -> str:
    """The committed text of a table: one type, action set or container entry per line."""
    lines = ["{"]
    items = list(table.items())
    for index, (key, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        if isinstance(value, dict) and key in ("entity_sets", "singletons", "types", "actions") and value:
            inner = [f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in value.items()]
            lines.append(f"{json.dumps(key)}: {{\n" + ",\n".join(inner) + f"\n}}{comma}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def table_path(deployment: str) -> Path:
    """Where the committed table of a deployment lives."""
    return TABLE_DIR / f"{deployment}.json"


def generate(source: Path) -> dict[str, str]:
    """The rendered table of every deployment, by deployment name."""
    missing = [name for name, (file_name, dummy) in DEPLOYMENTS.items() if not (source / file_name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: no CSDL for {', '.join(missing)} (expected {', '.join(f for f, c in DEPLOYMENTS.values())})")
    return {name: render(build_table(name, (source / file_name).read_bytes())) for name, (file_name, dummy) in DEPLOYMENTS.items()}


def main(argv: list[str] | None = None) -> int:
    """Command line: write (or `--check`) the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder of the graph-v1.0-*.csdl.gz files")
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed table is stale; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in generate(args.source).items():
        path = table_path(name)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
