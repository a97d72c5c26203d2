"""Secret hygiene of the end-to-end runs (issue 7, scenario 6).

`Secrets` knows secret values (seeded client secrets and passwords, the tokens in a token cache, the
values in dest files, values returned as secret_text) and finds them in text.

With $PC_E2E_HYGIENE_DIR set (tests/reliability/test_e2e_hygiene.py sets it and runs the whole
end-to-end suite), every ansible-playbook run of a Runner runs at -vvv, and after each run everything
it printed, its callback results and the emulator's request log are searched for every value the
runner's Secrets knows by then. The one allowed place of a value is the run that returned it as
secret_text (the documented return; pc_app_secret without dest). What is found goes to
<dir>/<pid>.jsonl, one line per run, with labels and places, never values.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

HYGIENE_ENV = "PC_E2E_HYGIENE_DIR"


class Secrets:
    """Secret values the suite knows, and a search for them in text."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def add(self, label: str, value: Any) -> None:
        """Remember a secret value (values too short to be a credential are ignored)."""
        if isinstance(value, str) and len(value) >= 12:
            self.values.setdefault(value, label)

    def add_emulator_credentials(self, info: dict[str, Any]) -> None:
        """The seeded client secrets and user passwords of every tenant."""
        for tenant in info["tenants"]:
            for who in ("admin", "limited"):
                self.add(f"seeded {who} client secret of {tenant['domain']}", tenant[who]["client_secret"])
            self.add(f"password of {tenant['user']['username']}", tenant["user"]["password"])

    def add_token_cache(self, directory: Path) -> int:
        """The access, refresh and ID tokens in msal token cache files; returns how many."""
        count = 0
        for path in sorted(directory.glob("*.tokens.json")) if directory.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            for section in ("AccessToken", "RefreshToken", "IdToken"):
                for entry in (data.get(section) or {}).values():
                    if isinstance(entry, dict) and entry.get("secret"):
                        self.add(f"{section} from {path.name}", entry["secret"])
                        count += 1
        return count

    def add_dest_files(self, directory: Path) -> int:
        """The client secret values stored in dest files; returns how many."""
        count = 0
        for path in sorted(directory.rglob("*")) if directory.is_dir() else []:
            if not path.is_file():
                continue
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            if isinstance(data, dict) and isinstance(data.get("secret"), str):
                self.add(f"created secret value ({path.name})", data["secret"])
                count += 1
        return count

    def find(self, text: str) -> list[str]:
        """Labels of the secret values that occur in text."""
        return [label for value, label in self.values.items() if value in text]

    def context(self, text: str, value: str, width: int = 100) -> str:
        """Where `value` first occurs in text: the text around it, every known value masked."""
        at = text.find(value)
        around = text[max(0, at - width):at + len(value) + width].replace(value, "<SECRET>")
        for other in self.values:
            around = around.replace(other, "<SECRET>")
        return around.replace("\n", "\\n")


class HygieneScan:
    """The scan of one Runner's runs (see the module docstring)."""

    def __init__(self, directory: Path, emulator_info: dict[str, Any]) -> None:
        self.log = directory / f"{os.getpid()}.jsonl"
        self.secrets = Secrets()
        self.secrets.add_emulator_credentials(emulator_info)

    @classmethod
    def from_environment(cls, emulator_info: dict[str, Any]) -> HygieneScan | None:
        """A scan when $PC_E2E_HYGIENE_DIR is set, else None."""
        directory = os.environ.get(HYGIENE_ENV)
        return cls(Path(directory), emulator_info) if directory else None

    def after_run(self, workdir: Path, token_cache: Path, run: Any, results_text: str) -> None:
        """Learn the values this run made known, then search what it printed and sent for all of them."""
        self.secrets.add_token_cache(token_cache)
        self.secrets.add_dest_files(workdir)
        returned = {task.result["secret_text"] for task in run.tasks if isinstance(task.result.get("secret_text"), str)}
        for value in returned:
            self.secrets.add("secret_text returned by a run", value)
        places = {"stdout": run.stdout, "stderr": run.stderr, "callback results": results_text,
                  "emulator request log": json.dumps(run.requests)}
        leaks = []
        for where, text in places.items():
            for value, label in self.secrets.values.items():
                if value in text and not (value in returned and where in ("stdout", "callback results")):
                    leaks.append({"secret": label, "where": where, "context": self.secrets.context(text, value, 60)})
        entry = {"test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0], "bytes": sum(map(len, places.values())),
                 "secrets_known": len(self.secrets.values), "leaks": leaks,
                 "traceback": "Traceback (most recent call last)" in run.stdout + run.stderr}
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
