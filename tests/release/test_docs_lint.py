"""antsibull-docs accepts every plugin's and role's documentation and the collection's docs/docsite files.

The same checks the Ansible docsite runs on collections it includes: documentation schema, semantic markup,
references to modules, options and return values (of this collection and of ansible.builtin), RST.
"""
from __future__ import annotations

from tests.emulator.client import REPO_ROOT
from tests.release.conftest import output_of, run, tool, tool_env


def test_lint_collection_docs_clean(tmp_path):
    completed = run([tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs", "--check-extra-docs-refs",
                     "--validate-collection-refs", "dependent", str(REPO_ROOT)],
                    cwd=REPO_ROOT, env=tool_env(tmp_path))
    assert completed.returncode == 0 and not completed.stdout.strip(), output_of(completed)
