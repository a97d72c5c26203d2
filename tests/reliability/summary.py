"""The summary table of the reliability and security suite.

Tests put their support.Record (JSON) in their report's user_properties under RECORD_KEY; `Summary`,
registered on the pytest-xdist controller (or the only process), adds them up per scenario, prints the
table at the end of the session and, when $PC_RELIABILITY_SUMMARY names a file, writes it there as
Markdown (with the notes under it).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

RECORD_KEY = "reliability_record"
SUMMARY_ENV = "PC_RELIABILITY_SUMMARY"
SCENARIOS = ("1. Fault storm", "2. Crash and rerun", "3. Concurrency", "4. Outage", "5. Credentials",
             "6. Secret hygiene", "7. Bad input", "8. Secret custody")
FINDINGS = ("duplicates", "lost_secrets", "leaks", "tracebacks")
COLUMNS = ("scenario", "tests", "result", "runs", "converged", "duplicates", "lost secrets", "leaks", "tracebacks",
           "cases", "seeds")


class Summary:
    """Adds up the records per scenario on the pytest-xdist controller (or the only process)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}

    def _row(self, scenario: str) -> dict[str, Any]:
        counters = dict.fromkeys(("tests", "passed", "failed", "xfailed", "runs", "checks", "converged", "cases"), 0)
        counters.update(dict.fromkeys(FINDINGS, 0))
        counters.update(dict.fromkeys((f"known_{key}" for key in (*FINDINGS, "checks", "converged")), 0))
        return self.rows.setdefault(scenario, {**counters, "seeds": [], "notes": []})

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if hasattr(report, "wasxfail"):
                self.outcomes[report.nodeid] = "xfailed"
            else:
                self.outcomes[report.nodeid] = "passed" if report.passed else "failed"
        if report.when == "teardown":
            if report.failed:
                self.outcomes[report.nodeid] = "failed"
            for key, value in report.user_properties:
                if key == RECORD_KEY:
                    self._add(report.nodeid, json.loads(value))

    def _add(self, nodeid: str, data: dict[str, Any]) -> None:
        if not data["scenario"]:  # a check of the suite itself, not a scenario
            return
        row = self._row(data["scenario"])
        outcome = self.outcomes.get(nodeid, "failed")
        row["tests"] += 1
        row[outcome] += 1
        for key in ("runs", "cases"):
            row[key] += data[key]
        for key in ("checks", "converged"):
            row[f"known_{key}" if outcome == "xfailed" else key] += data[key]
        # What strict-xfail tests find is a known collection bug: shown apart, as "(+N known)".
        for key in FINDINGS:
            row[f"known_{key}" if outcome == "xfailed" else key] += data[key]
        row["seeds"].extend(data["seeds"])
        row["notes"].extend(data["notes"])

    def table(self) -> list[list[str]]:
        """The rows, in scenario order, as text cells."""
        lines = []
        for scenario in sorted(self.rows, key=lambda s: (SCENARIOS.index(s) if s in SCENARIOS else 99, s)):
            row = self.rows[scenario]
            parts = [f"{row['passed']} pass"] if row["passed"] else []
            parts += [f"{row['failed']} FAILED"] if row["failed"] else []
            parts += [f"{row['xfailed']} xfail (collection bug)"] if row["xfailed"] else []
            result = ", ".join(parts)
            seeds = row["seeds"]
            shown = ", ".join(map(str, seeds[:3])) + (f" (+{len(seeds) - 3})" if len(seeds) > 3 else "")
            findings = [str(row[key]) + (f" (+{row['known_' + key]} known)" if row["known_" + key] else "") for key in FINDINGS]
            converged = f"{row['converged']}/{row['checks']}" if row["checks"] else "n/a"
            if row["known_checks"] - row["known_converged"]:
                converged += f" (+{row['known_checks'] - row['known_converged']} not, known)"
            lines.append([scenario, str(row["tests"]), result, str(row["runs"]), converged, *findings, str(row["cases"] or ""),
                          shown or "-"])
        return lines

    def markdown(self) -> str:
        """The table in Markdown."""
        out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        out += ["| " + " | ".join(cells) + " |" for cells in self.table()]
        return "\n".join(out) + "\n"

    def text(self) -> str:
        """The table aligned for a terminal."""
        rows = [list(COLUMNS)] + self.table()
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
        return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip() for r in rows) + "\n"

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        terminalreporter.section("reliability and security summary")
        terminalreporter.write(self.text())
        notes = [f"{scenario}: {note}" for scenario, row in self.rows.items() for note in dict.fromkeys(row["notes"])]
        for note in notes:
            terminalreporter.write_line(f"  note: {note}")
        target = os.environ.get(SUMMARY_ENV)
        if target:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            body = self.markdown() + "".join(f"\n- {note}" for note in notes) + ("\n" if notes else "")
            path.write_text(body, encoding="utf-8")
            terminalreporter.write_line(f"summary written to {path}")
