"""The bad-input corpus of scenario 7, and the playbook that runs it.

For every module: invalid values of the shared auth options, invalid values of the module's own
options (wrong types, malformed GUIDs and URIs, unknown clouds, quotes, '#', '&', unicode, very long
strings, missing required options, an empty value where none is allowed, unknown options), each on
the module's valid base arguments, and pairs of them. Malformed GUIDs are generated from a seeded
random GUID. Each argument set comes with what its failure message must mention (a regular
expression, searched without case): usually the option's name.

The corpus runs as one ansible-playbook: one inventory host per argument set (its `case_args`), one
play per module whose single task takes `args: "{{ case_args }}"`, so that forks run the cases side by
side; the recording callback gives each host's result.
"""
from __future__ import annotations

import itertools
import json
import random
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FQCN = "partnercenter.national_cloud"
MODULES = ("pc_aad_app", "pc_aad_permissions", "pc_app_secret", "pc_register_webapp", "pc_aad_app_info")
TARGET = "bad-input-target"  # an application that exists (made before the corpus runs)
TARGET_DISPLAY_NAME = "Bad input target"
ABSENT = object()  # a value meaning "remove this option from the base arguments"
MIN_CASES_PER_MODULE = 100
# Secret values the corpus hands to modules (no_log options, a secret file): never to be shown.
INLINE_SECRET = "not-the-secret-but-well-formed-0123456789"
FILE_SECRET = "s3cr3t-of-another-application"


@dataclass
class Case:
    """One invalid argument set of one module."""

    module: str
    name: str
    args: dict[str, Any]
    expect: str

    @property
    def host(self) -> str:
        return self.name


def malformed_guids(rng: random.Random) -> list[str]:
    """GUID look-alikes that are not GUIDs, from a seeded random GUID."""
    good = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return [good[:-1], good + "0", good.replace("-", ""), "{%s}" % good, good[:8] + "_" + good[9:], good[:-1] + "g",
            good + " ", good[:-1] + "'", good.replace("-", "--", 1), "%s#%s" % (good[:18], good[19:]), good[:35] + "\u0660",
            good + "\n"]  # issue 14: "$" let a trailing newline through


# Invalid values of the shared auth options: (option, value, expect). "settings" merges more options.
def auth_atoms(rng: random.Random, workdir: Path) -> list[tuple[dict[str, Any], str]]:
    atoms: list[tuple[dict[str, Any], str]] = [
        ({"cloud": "mars"}, "cloud"), ({"cloud": "AzureMarsCloud"}, "cloud"), ({"cloud": "germany"}, "closed"),
        ({"cloud": "AzureGermanCloud"}, "closed"), ({"cloud": "public' or '1'='1"}, "cloud"), ({"cloud": ["public"]}, "cloud"),
        ({"cloud": {"name": "public"}}, "cloud"), ({"cloud": "public#usgov"}, "cloud"), ({"cloud": "clöud"}, "cloud"),
        ({"cloud": "x" * 5000}, "cloud"),
        ({"tenant_id": "not a tenant"}, "tenant_id"), ({"tenant_id": "common"}, "tenant_id"),
        ({"tenant_id": "a" * 300}, "tenant_id"), ({"tenant_id": "contoso.onmicrosoft.com/../evil"}, "tenant_id"),
        ({"tenant_id": "tenant#frag"}, "tenant_id"), ({"tenant_id": "tenant&x=1"}, "tenant_id"),
        ({"tenant_id": "ténant.onmicrosoft.com"}, "tenant_id"), ({"tenant_id": "o'brien.onmicrosoft.com"}, "tenant_id"),
        ({"tenant_id": ["a", "b"]}, "tenant_id"),
        ({"client_id": "not-a-guid"}, "client_id"), ({"client_id": "x" * 2000}, "client_id"),
        ({"client_id": {"id": 1}}, "client_id"),
        ({"authority_host": "http://127.0.0.1:1"}, "authority_host"), ({"authority_host": "ftp://login.example"}, "authority_host"),
        ({"authority_host": "https://login.microsoftonline.us"}, "another cloud"),
        ({"authority_host": "https://127.0.0.1:1/tenant-path"}, "authority_host"),
        ({"authority_host": "https://user:pw@127.0.0.1:1"}, "authority_host"),
        ({"authority_host": "https://127.0.0.1:99999"}, "authority_host"),
        ({"graph_endpoint": "http://127.0.0.1:1"}, "graph_endpoint"), ({"graph_endpoint": "https://graph.microsoft.us"}, "another cloud"),
        ({"graph_endpoint": "https://127.0.0.1:1?x=1"}, "graph_endpoint"), ({"graph_endpoint": "https://127.0.0.1:1#frag"}, "graph_endpoint"),
        ({"partner_center_endpoint": "http://127.0.0.1:1"}, "partner_center_endpoint"),
        ({"partner_center_endpoint": "https://partner.partnercenterapi.microsoftonline.cn"}, "another cloud"),
        ({"ca_bundle": str(workdir / "no-such-ca.pem")}, "ca_bundle"),
        ({"request_timeout": "soon"}, "request_timeout"), ({"request_timeout": 0}, "request_timeout"),
        ({"retry_timeout": -1}, "retry_timeout"), ({"consistency_timeout": "later"}, "consistency_timeout"),
        ({"consistency_timeout": -5}, "consistency_timeout"), ({"token_cache": [1]}, "token_cache"),
        ({"token_cache": {"dir": "x"}}, "token_cache"), ({"auth_method": "password"}, "auth_method"),
        ({"auth_method": "client_certificate"}, "client_certificate_path"),
        ({"auth_method": "managed_identity"}, "managed_identity"),
        ({"auth_method": "managed_identity", "managed_identity": "not-an-identity"}, "managed_identity"),
        ({"auth_method": "workload_identity", "federated_token_file": str(workdir / "no-such-token")}, "federated_token_file|token"),
        ({"client_certificate_path": str(workdir / "no-such-cert.pem")}, "client_certificate"),
    ]
    atoms += [({"tenant_id": guid}, "tenant") for guid in malformed_guids(rng)[:4]]
    atoms += [({"client_id": guid}, "client_id") for guid in malformed_guids(rng)]
    # Issue 14: a tenant GUID or domain with a trailing newline, a cache location that cannot hold files, a negative budget.
    atoms += [({"tenant_id": str(uuid.UUID(int=rng.getrandbits(128))) + "\n"}, "tenant"),
              ({"tenant_id": "contoso.onmicrosoft.com\n"}, "tenant"), ({"token_cache": "/proc/self"}, "token_cache"),
              ({"connect_retry_timeout": -1}, "connect_retry_timeout"), ({"connect_retry_timeout": "soon"}, "connect_retry_timeout")]
    return atoms


URI_BAD = ["http://example.com/cb", "https://example.com/cb#frag", "https://example.com/it's", "https://example.com/a;b",
           "javascript:alert(1)", "https://", "https://example.com/" + "a" * 300, " https://example.com/cb", "",
           "https://example.com:99999/cb", "https://exa mple.com/cb", "http://[::1]/cb", "https://example.com/(x)"]


def module_atoms(module: str, rng: random.Random, workdir: Path) -> list[tuple[dict[str, Any], str]]:
    """Invalid values of a module's own options (merged into its base arguments)."""
    guids = malformed_guids(rng)
    other = {"unique_name": ABSENT}
    ident = [({**other, "app_id": g}, "app_id") for g in guids[:5]] + [({**other, "object_id": g}, "object_id") for g in guids[5:9]]
    ident += [({**other, "app_id": guids[-1]}, "app_id"), ({**other, "object_id": guids[-1]}, "object_id")]  # GUID + newline
    ident += [({**other, "app_id": "'; drop table applications --"}, "app_id"), ({**other, "object_id": "ü" * 36}, "object_id"),
              ({**other, "app_id": "a" * 5000}, "app_id"), ({"colour": "red"}, "colour"), ({"state_": "present"}, "state_")]
    if module == "pc_aad_app":
        atoms = [({"web": {"redirect_uris": [uri]}}, "redirect_uris") for uri in URI_BAD]
        atoms += [({"public_client_redirect_uris": [uri]}, "public_client_redirect_uris")
                  for uri in ("http://example.com/cb", "no-scheme-here", "file:///etc/passwd", "javascript:alert(1)",
                              "https://example.com/cb#x", "myapp://cb'")]
        atoms += [
            ({"sign_in_audience": "AzureADMyOrgs"}, "sign_in_audience"), ({"sign_in_audience": 7}, "sign_in_audience"),
            ({"state": "gone"}, "state"), ({"state": ["present"]}, "state"), ({"service_principal": "maybe"}, "service_principal"),
            ({"is_fallback_public_client": "perhaps"}, "is_fallback_public_client"), ({"web": "https://example.com/cb"}, "web"),
            ({"web": ["https://example.com/cb"]}, "web"), ({"web": {"redirect_urls": ["https://example.com/cb"]}}, "redirect_urls"),
            ({"web": {"home_page_url": "not a url"}}, "home_page_url"), ({"web": {"home_page_url": "javascript:alert(1)"}}, "home_page_url"),
            ({"web": {"logout_url": "http://example.com/logout"}}, "logout_url"), ({"web": {"implicit_grant": "yes"}}, "implicit_grant"),
            ({"web": {"implicit_grant": {"id_token": "maybe"}}}, "id_token"),
            ({"public_client_redirect_uris": {"uri": "https://example.com"}}, "public_client_redirect_uris"),
            ({"identifier_uris": ["no-colon-here"]}, "identifier_uris"), ({"identifier_uris": [" api://x"]}, "identifier_uris"),
            ({"tags": {"a": "b"}}, "tags"), ({"unique_name": ""}, "unique_name"),
            ({"unique_name": ABSENT, "display_name": ABSENT}, "unique_name|display_name|app_id"),
            ({"sign_in_audience": "PersonalMicrosoftAccount", "web": {"redirect_uris": ["https://example.com/cb?x=1"]}}, "query"),
            ({"display_name": ""}, "display_name"),
        ]
    elif module == "pc_aad_permissions":
        graph = "Microsoft Graph"
        atoms = [
            ({"permissions": "Directory.Read.All"}, "permissions"), ({"permissions": [{}]}, "api"), ({"permissions": [{"api": ""}]}, "api"),
            ({"permissions": [{"application": ["Directory.Read.All"]}]}, "api"),
            ({"permissions": [{"api": graph, "roles": ["x"]}]}, "roles"),
            ({"permissions": [{"api": graph, "application": {"x": 1}}]}, "application"),
            ({"permissions": ["Microsoft Graph"]}, "permissions"), ({"permissions": [["Microsoft Graph"]]}, "permissions"),
            ({"permissions": {"api": graph}}, "permissions"),
            ({"permissions": [{"api": "Microsoft Grpah", "application": ["Directory.Read.All"]}]}, "Microsoft Grpah"),
            ({"permissions": [{"api": graph, "application": ["Directory.Read.Al"]}]}, "Directory.Read.Al"),
            ({"permissions": [{"api": graph, "application": ["User.Read"]}]}, "User.Read"),
            ({"permissions": [{"api": graph, "delegated": ["Directory.Read.All'"]}]}, "Directory.Read.All'"),
            ({"permissions": [{"api": graph, "delegated": ["Group.Read.All#x"]}]}, "Group.Read.All#x"),
            ({"permissions": [{"api": graph, "delegated": ["Read & write"]}]}, "Read & write"),
            ({"permissions": [{"api": graph, "delegated": ["Lire les données ü"]}]}, "Lire les données"),
            ({"permissions": [{"api": graph, "application": ["x" * 3000]}]}, "xxxxxxxx"),
            ({"permissions": [{"api": guids[0], "application": ["Directory.Read.All"]}]}, "api|" + guids[0][:8]),
            ({"permissions": [{"api": "ü" * 50, "delegated": ["x"]}]}, "ü"),
            ({"permissions": ABSENT}, "permissions"), ({"mode": "replace"}, "mode"), ({"mode": ["exact"]}, "mode"),
            ({"admin_consent": "maybe"}, "admin_consent"), ({"unique_name": ABSENT}, "unique_name|app_id|object_id|display_name"),
        ]
    elif module == "pc_app_secret":
        afile = workdir / "a-regular-file"
        afile.write_text("x", encoding="utf-8")
        atoms = [({"expires_in": value}, "expires_in") for value in
                 ("forever", "0d", "-1", "1w", "101y", "1.5y", True, [1], {"days": 1}, 0, "", "1y #", "1y & 2y", "ü")]
        atoms += [({"end_date_time": value}, "end_date_time") for value in
                  ("2020-01-01", "tomorrow", "2027-13-01", "2027-02-30", 20300101, "2030-01-01T25:00:00Z", "2030-01-01'",
                   "2030-01-01T00:00:00+25:00", "2030-01-01T00:00:00+01:60", "2030-01-01T00:00:00 Z", "2030-01-01+01:00")]
        atoms += [
            ({"end_date_time": "2030-01-01", "expires_in": "1y"}, "expires_in|end_date_time"),
            ({"renew_before_days": -1}, "renew_before_days"), ({"renew_before_days": "soon"}, "renew_before_days"),
            ({"renew_before_days": 800}, "renew_before_days"), ({"renew_before_days": [30]}, "renew_before_days"),
            ({"key_id": guids[0], "state": "absent"}, "key_id"), ({"key_id": str(uuid.UUID(int=rng.getrandbits(128)))}, "key_id"),
            ({"state": "absent", "display_name": ABSENT}, "display_name|key_id"), ({"rotate": True, "state": "absent"}, "rotate"),
            ({"rotate": "maybe"}, "rotate"), ({"retire_previous": "perhaps"}, "retire_previous"), ({"state": "expired"}, "state"),
            ({"dest": ""}, "dest"), ({"dest": str(workdir)}, "dest"), ({"dest": "/dev/null"}, "dest"),
            ({"dest": str(afile / "secret.json")}, "dest"), ({"display_name": ""}, "display_name"), ({"display_name": "   "}, "display_name"),
            ({"display_name": ABSENT}, "display_name"),
        ]
    elif module == "pc_register_webapp":
        def secret_file(name: str, content: str) -> str:
            path = workdir / name
            path.write_text(content, encoding="utf-8")
            path.chmod(0o600)
            return str(path)
        atoms = [
            ({"wait_timeout": -1}, "wait_timeout"), ({"wait_timeout": "forever"}, "wait_timeout"), ({"wait_timeout": [1]}, "wait_timeout"),
            ({"webapp_client_secret": ABSENT, "webapp_secret_file": str(workdir / "no-such-secret.json")}, "webapp_secret_file"),
            ({"webapp_client_secret": ABSENT, "webapp_secret_file": secret_file("not-json.json", "not json")}, "webapp_secret_file"),
            ({"webapp_client_secret": ABSENT, "webapp_secret_file": secret_file("no-secret.json", '{"key_id": "x"}')}, "webapp_secret_file"),
            ({"webapp_client_secret": ABSENT, "webapp_secret_file": secret_file("list.json", "[1, 2]")}, "webapp_secret_file"),
            ({"webapp_client_secret": ABSENT, "webapp_secret_file": secret_file("other-app.json", json.dumps(
                {"app_id": str(uuid.UUID(int=rng.getrandbits(128))), "secret": FILE_SECRET, "key_id": "k"}))},
             "webapp_secret_file"),
            ({"webapp_client_secret": ABSENT, "webapp_secret_file": str(workdir)}, "webapp_secret_file"),
            ({"webapp_client_secret": ABSENT, "webapp_certificate_path": str(workdir / "no-such-cert.pem")},
             "webapp_certificate_path|certificate"),
            ({"webapp_client_secret": ABSENT}, "webapp_client_secret|webapp_secret_file|webapp_certificate_path"),
            ({"application_permission": "Not.A.Permission"}, "application_permission|Not.A.Permission"),
            ({"application_permission": ""}, "application_permission"),
            ({"create_partner_center_service_principal": "maybe"}, "create_partner_center_service_principal"),
            ({"unique_name": ABSENT}, "unique_name|app_id|object_id|display_name"),
        ]
    else:  # pc_aad_app_info
        not_a_record = workdir / "audit-not-a-record.json"
        not_a_record.write_text("not json", encoding="utf-8")
        not_a_record.chmod(0o600)
        atoms = [
            ({"secret_expiry_days": -1}, "secret_expiry_days"), ({"secret_expiry_days": "soon"}, "secret_expiry_days"),
            ({"filter": "displayName eq 'x'"}, "filter"), ({"unique_name": ABSENT, "filter": "displayName eq 'x"}, "filter"),
            ({"unique_name": ABSENT, "filter": "displayName eq 'x' & 1"}, "filter"),
            ({"expected_permissions": "Directory.Read.All"}, "expected_permissions"),
            ({"expected_permissions": [{}]}, "api"), ({"expected_permissions": [{"api": ""}]}, "api"),
            ({"expected_permissions": [{"api": "Microsoft Graph", "roles": ["x"]}]}, "roles"),
            # A missing file is no bad input for the audit: it reports the registration as not checked (issue 15).
            # A file that is not a secret record still is.
            ({"webapp_client_secret": ABSENT, "webapp_secret_file": str(not_a_record)}, "webapp_secret_file"),
            ({"expected_permissions": [{"api": "Microsoft Graph", "delegate": ["User.Read"]}]}, "delegate"),
            ({"webapp_certificate_path": str(workdir / "no-such-cert.pem")}, "webapp_certificate_path|certificate"),
        ]
    return atoms + ident


def base_args(module: str) -> list[dict[str, Any]]:
    """Valid arguments of a module (the atoms make them invalid), on the existing target app."""
    if module == "pc_aad_app":
        return [{"unique_name": TARGET, "display_name": TARGET_DISPLAY_NAME},
                {"unique_name": TARGET, "display_name": TARGET_DISPLAY_NAME, "sign_in_audience": "AzureADMyOrg",
                 "web": {"redirect_uris": ["https://example.com/callback"]}}]
    if module == "pc_aad_permissions":
        return [{"unique_name": TARGET, "permissions": [{"api": "Microsoft Graph", "application": ["Directory.Read.All"]}]},
                {"unique_name": TARGET, "mode": "merge", "admin_consent": True,
                 "permissions": [{"api": "Microsoft Graph", "delegated": ["User.Read"]}]}]
    if module == "pc_app_secret":
        return [{"unique_name": TARGET, "display_name": "Bad input"}, {"unique_name": TARGET, "display_name": "Bad input",
                                                                       "expires_in": "2y"}]
    if module == "pc_register_webapp":
        return [{"unique_name": TARGET, "webapp_client_secret": INLINE_SECRET},
                {"unique_name": TARGET, "wait_timeout": 0, "webapp_client_secret": INLINE_SECRET}]
    return [{"unique_name": TARGET}, {"unique_name": TARGET, "secret_expiry_days": 30}]


def merge(base: dict[str, Any], *changes: dict[str, Any]) -> dict[str, Any]:
    """base with the changes applied (ABSENT removes an option)."""
    args = dict(base)
    for change in changes:
        for key, value in change.items():
            if value is ABSENT:
                args.pop(key, None)
            else:
                args[key] = value
    return args


def corpus(seed: int, workdir: Path) -> list[Case]:
    """Every module's invalid argument sets (at least MIN_CASES_PER_MODULE each)."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for module in MODULES:
        bases = base_args(module)
        own = module_atoms(module, rng, workdir)
        sets: list[tuple[dict[str, Any], str]] = []
        for index, (change, expect) in enumerate(auth_atoms(rng, workdir)):
            sets.append((merge(bases[index % len(bases)], change), expect))
        for change, expect in own:
            sets += [(merge(base, change), expect) for base in bases]
        # Pairs of the module's own atoms on different options: either complaint will do.
        pairs = [(a, b) for a, b in itertools.combinations(own, 2) if not set(a[0]) & set(b[0])]
        rng.shuffle(pairs)
        for (first, expect_first), (second, expect_second) in pairs[:max(0, MIN_CASES_PER_MODULE + 10 - len(sets))]:
            sets.append((merge(bases[0], first, second), f"{expect_first}|{expect_second}"))
        for number, (args, expect) in enumerate(sets, 1):
            cases.append(Case(module, f"{module}-{number:03d}", args, expect))
    return cases


def inventory(cases: list[Case], auth: dict[str, Any], python: str) -> dict[str, Any]:
    """One group per module, one host per case; the auth options as pc_auth (module_defaults)."""
    groups: dict[str, Any] = {}
    for case in cases:
        groups.setdefault(case.module, {"hosts": {}})["hosts"][case.host] = {"case_args": case.args, "case_expect": case.expect}
    return {"bad_input": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": python, "pc_auth": auth},
                          "children": groups}}


def playbook(modules: list[str]) -> list[dict[str, Any]]:
    """One play per module: its single task takes each host's case_args."""
    return [{"name": f"Bad input for {module}", "hosts": module, "gather_facts": False,
             "module_defaults": {f"group/{FQCN}.all": "{{ pc_auth }}"},
             "tasks": [{"name": f"{module} with invalid arguments", f"{FQCN}.{module}": None, "args": "{{ case_args }}",
                        "ignore_errors": True}]}
            for module in modules]


def make_target(lab: Any) -> dict[str, Any]:
    """The emulator's only tenant, with the target application and its service principal."""
    tenant = lab.emulator.info["tenants"][0]
    graph = lab.emulator.graph(tenant)
    app = graph.patch(f"/applications(uniqueName='{TARGET}')", json={"displayName": TARGET_DISPLAY_NAME},
                      headers={"Prefer": "create-if-missing"})
    assert app.status_code == 201, app.text
    assert graph.post("/servicePrincipals", json={"appId": app.json()["appId"]}).status_code == 201
    return tenant


def run_corpus(lab: Any, cases: list[Case], forks: int = 8) -> list[str]:
    """Run the cases (their modules' plays) and return what is wrong: a case that did not fail, a
    message that does not say what is wrong, a traceback, or any write request."""
    tenant = make_target(lab)
    for label, value in (("webapp_client_secret given inline", INLINE_SECRET), ("secret in a webapp_secret_file", FILE_SECRET)):
        lab.secrets.add(label, value)
    auth = {**lab.runner.auth(tenant), "retry_timeout": 10}
    path = lab.workdir / "bad-input-inventory.yml"
    path.write_text(json.dumps(inventory(cases, auth, lab.runner.env(path)["ANSIBLE_PYTHON_INTERPRETER"]), indent=1),
                    encoding="utf-8")
    path.chmod(0o600)
    modules = [m for m in MODULES if any(c.module == m for c in cases)]
    run = lab.run(playbook(modules), "--forks", str(forks), inventory=path, label="bad input corpus", per_host=True)
    results = {task.host: task for task in run.tasks}
    problems = []
    for case in cases:
        task = results.get(case.host)
        shown = json.dumps(case.args, ensure_ascii=False, default=str)[:300]
        if task is None:
            problems.append(f"{case.name} {shown}: no result")
        elif not task.failed:
            problems.append(f"{case.name} {shown}: did not fail ({task.status}, changed={task.changed})")
        elif not task.msg.strip():
            problems.append(f"{case.name} {shown}: failed without a message")
        elif not re.search(case.expect, task.msg, re.IGNORECASE):
            problems.append(f"{case.name} {shown}: the message does not mention {case.expect!r}: {task.msg[:400]}")
    from tests.reliability.support import describe, task_has_traceback, writes  # pylint: disable=import-outside-toplevel
    problems += [f"{task.host}: traceback: {task.msg[:300]}" for task in run.tasks if task_has_traceback(task)]
    problems += [f"write request: {line}" for line in describe(writes(run.requests))]
    return problems
