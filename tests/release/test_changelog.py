"""antsibull-changelog: fragments and changelogs/changelog.yaml are valid, CHANGELOG.md is generated from them."""
from __future__ import annotations

import yaml
from packaging.version import Version

from tests.emulator.client import REPO_ROOT
from tests.release.conftest import galaxy_metadata, output_of, run, tool, tool_env


def test_fragments_lint_clean(tmp_path):
    completed = run([tool("antsibull-changelog"), "lint"], cwd=REPO_ROOT, env=tool_env(tmp_path))
    assert completed.returncode == 0 and not completed.stdout.strip(), output_of(completed)


def test_changelog_yaml_lint_clean(tmp_path):
    completed = run([tool("antsibull-changelog"), "lint-changelog-yaml", "--strict", "changelogs/changelog.yaml"],
                    cwd=REPO_ROOT, env=tool_env(tmp_path))
    assert completed.returncode == 0 and not completed.stdout.strip(), output_of(completed)


def test_changelog_md_is_generated_from_changelog_yaml(tmp_path):
    """CHANGELOG.md is antsibull-changelog's output, not edited by hand (regenerate: make changelog)."""
    generated = tmp_path / "CHANGELOG.md"
    completed = run([tool("antsibull-changelog"), "generate", "--output", str(generated), "--output-format", "md"],
                    cwd=REPO_ROOT, env=tool_env(tmp_path))
    assert completed.returncode == 0, output_of(completed)
    assert (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8") == generated.read_text(encoding="utf-8"), \
        "CHANGELOG.md differs from what changelogs/changelog.yaml gives: run `make changelog`"


def test_releases_are_not_ahead_of_galaxy_yml():
    """The newest release in the changelog is galaxy.yml's version (released) or older (being prepared)."""
    releases = yaml.safe_load((REPO_ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))["releases"]
    assert releases, "changelogs/changelog.yaml has no release: run `make changelog`"
    assert max(Version(v) for v in releases) <= Version(str(galaxy_metadata()["version"]))
