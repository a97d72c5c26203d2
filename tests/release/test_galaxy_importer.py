"""galaxy-importer, the checker Galaxy and Automation Hub run on upload, accepts the tarball cleanly."""
from __future__ import annotations

import json
import sys

from tests.release.conftest import NAME, NAMESPACE, output_of, run, tool, tool_env

# galaxy-importer logs findings (ansible-lint's included) as "WARNING: ..." / "ERROR: ..." lines.
FINDING_PREFIXES = ("WARNING", "ERROR", "CRITICAL")


def test_galaxy_importer_has_no_errors_and_no_warnings(tarball, tmp_path):
    # Its tools are looked up on PATH; check they are there, or the importer only warns and skips them.
    tool("ansible-doc")
    tool("ansible-lint")
    # The default configuration, whatever /etc/galaxy-importer/ holds on this machine.
    config = tmp_path / "galaxy-importer.cfg"
    config.write_text("[galaxy-importer]\n", encoding="utf-8")
    completed = run([sys.executable, "-m", "galaxy_importer.main", str(tarball.path)], cwd=tmp_path, timeout=170,
                    env=tool_env(tmp_path, GALAXY_IMPORTER_CONFIG=str(config)))
    assert completed.returncode == 0, output_of(completed)
    lines = completed.stdout.splitlines()
    findings = [line for line in lines if line.startswith(FINDING_PREFIXES)]
    assert not findings, "galaxy-importer findings:\n" + "\n".join(findings)
    assert "Importer processing completed successfully" in lines, output_of(completed)
    assert "...ansible-lint run complete" in lines, output_of(completed)

    result = json.loads((tmp_path / "importer_result.json").read_text(encoding="utf-8"))
    metadata = result["metadata"]
    assert (metadata["namespace"], metadata["name"], metadata["version"]) == (NAMESPACE, NAME, tarball.version)
    modules = [c for c in result["docs_blob"]["contents"] if c["content_type"] == "module"]
    assert "pc_aad_app" in [m["content_name"] for m in modules]
    undocumented = [m["content_name"] for m in modules if not (m.get("doc_strings") or {}).get("doc")]
    assert not undocumented, f"modules whose docs galaxy-importer could not read with ansible-doc: {undocumented}"
