"""benchmarks/startup.py: how one module process's `-X importtime` output becomes the start-up numbers
of issue 16 (module_utils compiled, third-party packages, seconds)."""
from __future__ import annotations

import os
import subprocess
import sys

from benchmarks import startup

MU = startup.MODULE_UTILS_PREFIX
TEXT = f"""# cpu_s 0.400000 wall_s 0.600000
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   json
import time:      2000 |       2000 |     urllib3.util
import time:      3000 |       5000 |   requests
import time:        50 |         50 |     brotli_not_installed_here
import time:      4000 |       9150 | {MU}_http
import time:      1000 |       1000 |   ansible.module_utils.basic
import time:      5000 |      15150 | {MU}_module
"""


def test_a_process_record_counts_module_utils_third_party_and_absent_packages(tmp_path):
    record = startup.parse(TEXT)
    assert record["module_utils"] == ["_http", "_module"]
    assert record["third_party"] == {"requests": 1, "urllib3": 1}
    assert record["absent"] == ["brotli_not_installed_here"]
    assert record["ansible_modules"] == 1 and record["stdlib_modules"] == 1
    assert round(record["import_s"], 4) == 0.0152 and round(record["module_utils_s"], 4) == 0.009
    assert round(record["third_party_s"], 4) == 0.005 and (record["cpu_s"], record["wall_s"]) == (0.4, 0.6)
    (tmp_path / "pc_aad_app.1.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "pc_aad_app.2.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "file.3.txt").write_text(TEXT, encoding="utf-8")
    summary = startup.summarize(tmp_path, ("pc_",))
    assert list(summary) == ["pc_aad_app"]
    entry = summary["pc_aad_app"]
    assert entry["processes"] == 2 and entry["same_imports_every_run"] and entry["module_utils_count"] == 2
    assert entry["third_party_packages"] == ["requests", "urllib3"] and entry["third_party_modules"] == 2


def test_the_wrapper_runs_the_script_under_importtime_and_passes_output_and_exit_status_through(tmp_path):
    wrapper, out = startup.write_wrapper(tmp_path, "t")
    script = tmp_path / "AnsiballZ_pc_demo.py"
    script.write_text("import sys, json\nprint('out')\nsys.stderr.write('err\\n')\nsys.exit(3)\n", encoding="utf-8")
    completed = subprocess.run([str(wrapper), str(script)], capture_output=True, text=True, check=False,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert (completed.returncode, completed.stdout, completed.stderr) == (3, "out\n", "err\n")
    (record_file,) = out.glob("pc_demo.*.txt")
    record = startup.parse(record_file.read_text(encoding="utf-8"))
    assert record["cpu_s"] > 0 and record["stdlib_modules"] > 0
