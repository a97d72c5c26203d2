"""Start-up cost of one module task, measured on real module runs (issue 16, item 6).

A module task starts a fresh Python that runs the module's AnsiballZ payload: the collection's
module_utils are imported from the payload's zip (zipimport writes no .pyc, so each is compiled again
on every run), with the third-party libraries they import (requests, msal, ...) from site-packages.

Method: the rollout playbook runs once more, after the rerun phase (nothing to change; the token cache
is warm), on a sample of hosts (the first of each cloud), with ``ansible_python_interpreter`` set to
a wrapper; so does the audit playbook (``--check``), for the module the rollout does not run
(pc_aad_app_info). The wrapper runs the real interpreter with ``-X importtime`` on the same AnsiballZ file and
arguments Ansible gave it, keeps the import-time lines (stderr) in a file per process, passes every
other stderr line through, and records the process's CPU seconds (``wait4``) and wall seconds. Ansible's
``ping`` module runs the same way on the same hosts (ad hoc) as the floor. Nothing is mocked: each run
is the module doing its real rerun work against the emulator.

Per module the result has counts (deterministic: the same task imports the same modules every time)
and seconds (the median over the sample):

  module_utils       collection module_utils files imported (each compiled from the zip)
  third_party        third-party top-level packages imported, and how many modules of them (attempts
                     to import packages that are not installed are listed apart)
  import_s           sum of the self times of every import (``-X importtime``; includes compiling)
  module_utils_s     the part of import_s spent in the collection's module_utils
  third_party_s      the part spent in third-party packages
  cpu_s / wall_s     CPU and wall seconds of the whole module process (importtime's own overhead included)
"""
from __future__ import annotations

import functools
import importlib.util
import json
import statistics
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

COLLECTION_PREFIX = "ansible_collections.partnercenter.national_cloud.plugins."
MODULE_UTILS_PREFIX = COLLECTION_PREFIX + "module_utils."

WRAPPER = '''#!{python}
"""Interpreter wrapper of the start-up benchmark: run the real interpreter with -X importtime."""
import os, subprocess, sys, time
OUT = {out!r}
script = sys.argv[1] if len(sys.argv) > 1 else ""
name = os.path.basename(script)
name = name[len("AnsiballZ_"):-3] if name.startswith("AnsiballZ_") and name.endswith(".py") else "unknown"
started = time.monotonic()
process = subprocess.Popen([{python!r}, "-X", "importtime", *sys.argv[1:]], stderr=subprocess.PIPE)
lines = process.stderr.read().decode("utf-8", "replace").splitlines(keepends=True)
dummy, status, usage = os.wait4(process.pid, 0)
wall = time.monotonic() - started
imports = [line for line in lines if line.startswith("import time:")]
for line in lines:
    if not line.startswith("import time:"):
        sys.stderr.write(line)
path = os.path.join(OUT, "%s.%d.txt" % (name, os.getpid()))
with open(path, "w", encoding="utf-8") as handle:
    handle.write("# cpu_s %f wall_s %f\\n" % (usage.ru_utime + usage.ru_stime, wall))
    handle.writelines(imports)
sys.exit(os.waitstatus_to_exitcode(status))
'''


def write_wrapper(workdir: Path, label: str) -> tuple[Path, Path]:
    """The interpreter wrapper and the folder it writes to (emptied)."""
    out = workdir / f"startup-{label}"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.txt"):
        old.unlink()
    wrapper = workdir / f"python-importtime-{label}"
    wrapper.write_text(WRAPPER.format(python=sys.executable, out=str(out)), encoding="utf-8")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, out


@functools.lru_cache(maxsize=None)
def installed(top: str) -> bool:
    """Whether a top-level package exists here (the benchmark runs in the interpreter the modules run in)."""
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def category(name: str) -> tuple[str, str]:
    """(category, top-level package) of an imported module name; ``absent``: an attempt to import a package
    that is not installed (``-X importtime`` lists those too, e.g. requests looking for brotli)."""
    top = name.split(".", 1)[0]
    if name.startswith(MODULE_UTILS_PREFIX):
        return "module_utils", top
    if top in ("ansible", "ansible_collections"):
        return "ansible", top
    if top in sys.stdlib_module_names or top.startswith("_") or top in ("sitecustomize", "encodings"):
        return "stdlib", top
    return ("third_party" if installed(top) else "absent"), top


def parse(text: str) -> dict[str, Any]:
    """One process's record: what it imported, and how long that took."""
    cpu = wall = 0.0
    module_utils: list[str] = []
    third: dict[str, int] = {}
    seconds = {"import_s": 0.0, "module_utils_s": 0.0, "third_party_s": 0.0, "ansible_s": 0.0, "stdlib_s": 0.0, "absent_s": 0.0}
    counts = {"ansible": 0, "stdlib": 0}
    absent: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# cpu_s"):
            fields = line.split()
            cpu, wall = float(fields[2]), float(fields[4])
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        self_s = int(parts[0]) / 1e6
        name = parts[2].strip()
        kind, top = category(name)
        seconds["import_s"] += self_s
        seconds[kind + "_s"] += self_s
        if kind == "module_utils":
            module_utils.append(name[len(MODULE_UTILS_PREFIX):])
        elif kind == "third_party":
            third[top] = third.get(top, 0) + 1
        elif kind == "absent":
            absent.add(top)
        else:
            counts[kind] += 1
    return {"cpu_s": cpu, "wall_s": wall, "module_utils": sorted(module_utils), "third_party": dict(sorted(third.items())),
            "ansible_modules": counts["ansible"], "stdlib_modules": counts["stdlib"], "absent": sorted(absent), **seconds}


def summarize(out: Path, keep: tuple[str, ...]) -> dict[str, Any]:
    """Per module whose name starts with one of ``keep``: the counts (and whether they were the same in
    every process) and median seconds."""
    records: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out.glob("*.txt")):
        if path.name.startswith(keep):
            records.setdefault(path.name.split(".", 1)[0], []).append(parse(path.read_text(encoding="utf-8")))
    summary: dict[str, Any] = {}
    for module, runs in sorted(records.items()):
        shapes = {json.dumps([run["module_utils"], run["third_party"]]) for run in runs}
        first = runs[0]
        summary[module] = {
            "processes": len(runs),
            "same_imports_every_run": len(shapes) == 1,
            "module_utils_count": max(len(run["module_utils"]) for run in runs),
            "module_utils_min_count": min(len(run["module_utils"]) for run in runs),
            "module_utils": max((run["module_utils"] for run in runs), key=len),
            "third_party_packages": sorted({top for run in runs for top in run["third_party"]}),
            "third_party_modules": max(sum(run["third_party"].values()) for run in runs),
            "third_party": first["third_party"],
            "ansible_modules": max(run["ansible_modules"] for run in runs),
            "stdlib_modules": max(run["stdlib_modules"] for run in runs),
            "absent_packages_tried": sorted({top for run in runs for top in run["absent"]}),
            **{key: round(statistics.median(run[key] for run in runs), 3)
               for key in ("import_s", "module_utils_s", "third_party_s", "ansible_s", "stdlib_s", "cpu_s", "wall_s")},
        }
    return summary


def sample_hosts(tenants: list[dict[str, Any]], host_name: Any) -> list[str]:
    """The first host (by name) of each cloud."""
    first: dict[str, str] = {}
    for tenant in tenants:
        name = host_name(tenant)
        if tenant["cloud"] not in first or name < first[tenant["cloud"]]:
            first[tenant["cloud"]] = name
    return sorted(first.values())


def ping_floor(workdir: Path, inventory: Path, hosts: list[str], wrapper: Path, env: dict[str, str]) -> None:
    """ansible.builtin.ping on the sample hosts through the wrapper (the floor of one module task)."""
    command = [str(Path(sys.executable).parent / "ansible"), "-i", str(inventory), "-m", "ansible.builtin.ping",
               "-e", f"ansible_python_interpreter={wrapper}", ",".join(hosts)]
    completed = subprocess.run(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"ping through the start-up wrapper failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}")
