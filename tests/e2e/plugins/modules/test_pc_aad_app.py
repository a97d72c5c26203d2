"""pc_aad_app end to end: ansible-playbook against the emulator, asserting on the emulator's
state and request log, not only on `changed`."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import COLLECTIONS_PATH, Runner

MODULE = "partnercenter.national_cloud.pc_aad_app"


def app_task(**params) -> dict:
    return {"name": "Ensure the app registration", MODULE: params}


def web_app(**extra) -> dict:
    return app_task(unique_name="pc-web", display_name="Partner Center web app",
                    web={"redirect_uris": ["https://app.contoso.example/signin"]}, **extra)


def graph_apps(runner: Runner, tenant: dict, **filters: str) -> list[dict]:
    params = {"$filter": " and ".join(f"{k} eq '{v}'" for k, v in filters.items())} if filters else {}
    return runner.emulator.graph(tenant).get("/applications", params=params).json()["value"]


@pytest.mark.parametrize("cloud", ["public", "usgov", "usgov_dod", "china"])
def test_create_then_rerun_changes_nothing(runner, cloud):
    tenant = runner.emulator.tenant(cloud)
    first = runner.run(runner.play([web_app()], runner.auth(tenant)))
    assert first.rc == 0, first.stdout
    assert first.last.changed
    [app] = graph_apps(runner, tenant, uniqueName="pc-web")
    assert app["web"]["redirectUris"] == ["https://app.contoso.example/signin"]
    sp = runner.emulator.graph(tenant).get(f"/servicePrincipals(appId='{app['appId']}')").json()
    assert first.last.result["app_id"] == app["appId"] and first.last.result["service_principal_id"] == sp["id"]
    assert [(w["method"], w["status"]) for w in first.graph_writes()] == [("PATCH", 201), ("POST", 201)]
    assert all(r["user_agent"].startswith("partnercenter.national_cloud/") for r in first.requests)
    assert all(r["client_request_id"] for r in first.requests)

    second = runner.run(runner.play([web_app()], runner.auth(tenant)))
    assert second.rc == 0 and not second.last.changed
    assert second.graph_writes() == []
    assert second.identity_requests() == []  # the token cache of the first run is warm
    for path in runner.token_cache.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(runner.token_cache.stat().st_mode) == 0o700


def test_second_task_in_a_playbook_reuses_the_token(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([web_app(), web_app(), app_task(display_name="Second app")], runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    tokens = [r for r in run.identity_requests() if r["method"] == "POST"]
    assert len(tokens) == 1
    assert len(run.identity_requests()) == 2  # plus one OIDC discovery, for the whole playbook


def test_a_cached_token_the_service_refuses_is_replaced_once(runner):
    tenant = runner.emulator.tenant("public")
    assert runner.run(runner.play([web_app()], runner.auth(tenant))).rc == 0
    # Spoil the cached access token (as a revoked token or a rolled signing key would).
    [cache_file] = runner.token_cache.glob("*.tokens.json")
    cache = json.loads(cache_file.read_text(encoding="utf-8"))
    for entry in cache["AccessToken"].values():
        entry["secret"] = entry["secret"][:-10] + "AAAAAAAAAA"
    cache_file.write_text(json.dumps(cache), encoding="utf-8")
    run = runner.run(runner.play([web_app()], runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    statuses = [(r["service"], r["status"]) for r in run.requests]
    assert statuses.count(("graph", 401)) == 1
    assert [r["method"] for r in run.identity_requests()] == ["POST"]


def test_update_one_property_patches_only_that_property(runner):
    tenant = runner.emulator.tenant("public")
    assert runner.run(runner.play([web_app()], runner.auth(tenant))).rc == 0
    run = runner.run(runner.play([web_app(notes="Managed by Ansible")], runner.auth(tenant)), "--diff")
    assert run.rc == 0 and run.last.changed
    [write] = run.graph_writes()
    assert write["method"] == "PATCH" and write["body"] == {"notes": "Managed by Ansible"}
    assert graph_apps(runner, tenant, uniqueName="pc-web")[0]["notes"] == "Managed by Ansible"
    diff = run.last.result["diff"]
    assert diff["before"]["notes"] is None and diff["after"]["notes"] == "Managed by Ansible"
    assert '+    "notes": "Managed by Ansible"' in run.stdout or '"notes": "Managed by Ansible"' in run.stdout


def test_lists_compare_as_sets(runner):
    tenant = runner.emulator.tenant("public")
    uris = ["https://a.contoso.example/cb", "https://b.contoso.example/cb"]
    assert runner.run(runner.play([app_task(display_name="sets", web={"redirect_uris": uris}, tags=["x", "y"])],
                                  runner.auth(tenant))).rc == 0
    run = runner.run(runner.play([app_task(display_name="sets", web={"redirect_uris": list(reversed(uris))},
                                           tags=["y", "x", "y"])], runner.auth(tenant)))
    assert run.rc == 0 and not run.last.changed and run.graph_writes() == []


def test_check_mode_makes_no_write(runner):
    tenant = runner.emulator.tenant("usgov")
    created = runner.run(runner.play([web_app()], runner.auth(tenant)), "--check", "--diff")
    assert created.rc == 0 and created.last.changed
    assert created.graph_writes() == [] and graph_apps(runner, tenant, uniqueName="pc-web") == []
    assert runner.run(runner.play([web_app()], runner.auth(tenant))).rc == 0
    changed = runner.run(runner.play([web_app(notes="would change")], runner.auth(tenant)), "--check", "--diff")
    assert changed.rc == 0 and changed.last.changed and changed.graph_writes() == []
    assert graph_apps(runner, tenant, uniqueName="pc-web")[0]["notes"] is None
    assert "would change" in changed.stdout


def test_absent(runner):
    tenant = runner.emulator.tenant("china")
    assert runner.run(runner.play([web_app()], runner.auth(tenant))).rc == 0
    removed = runner.run(runner.play([app_task(unique_name="pc-web", state="absent")], runner.auth(tenant)))
    assert removed.rc == 0 and removed.last.changed
    assert [w["method"] for w in removed.graph_writes()] == ["DELETE"]
    assert graph_apps(runner, tenant, uniqueName="pc-web") == []
    again = runner.run(runner.play([app_task(unique_name="pc-web", state="absent")], runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []


def test_display_name_ambiguity_lists_the_matches(runner):
    tenant = runner.emulator.tenant("public")
    graph = runner.emulator.graph(tenant)
    ids = [graph.post("/applications", json={"displayName": "Twin"}).json()["appId"] for dummy in range(2)]
    other_case = graph.post("/applications", json={"displayName": "TWIN"}).json()["appId"]
    run = runner.run(runner.play([app_task(display_name="Twin", notes="x")], runner.auth(tenant)))
    assert run.rc != 0 and run.last.failed
    assert all(app_id in run.last.msg for app_id in ids)
    assert other_case not in run.last.msg  # Graph matches without case; the module wants the exact name
    assert run.graph_writes() == []
    assert "Traceback" not in run.stdout + run.stderr


def test_forbidden_names_the_missing_permission(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([web_app()], runner.auth(tenant, who="limited")))
    assert run.rc != 0
    message = run.last.msg
    assert "Authorization_RequestDenied" in message and "Application.ReadWrite" in message
    denied = next(r for r in run.requests if r["status"] == 403)
    assert denied["request_id"] in message
    assert run.last.result["error"]["status"] == 403
    assert "Traceback" not in run.stdout + run.stderr


def test_override_of_another_clouds_endpoint_is_refused_before_any_request(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([web_app()], runner.auth(tenant, graph_endpoint="https://graph.microsoft.us")))
    assert run.rc != 0 and "graph_endpoint" in run.last.msg and "usgov" in run.last.msg
    assert run.requests == []


def test_tenant_of_another_cloud_gets_a_clear_message(runner):
    usgov = runner.emulator.tenant("usgov")
    public_endpoints = runner.emulator.endpoints("public")
    auth = runner.auth(usgov, cloud="public", authority_host=public_endpoints["authority_host"],
                       graph_endpoint=public_endpoints["graph_endpoint"])
    run = runner.run(runner.play([web_app()], auth))
    assert run.rc != 0 and "AADSTS900382" in run.last.msg
    assert "cloud" in run.last.msg
    assert run.graph_writes() == []


@pytest.mark.parametrize("name", ["germany", "AzureGermanCloud"])
def test_germany_is_refused(runner, name):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([web_app()], runner.auth(tenant, cloud=name)))
    assert run.rc != 0
    assert "2021-10-29" in run.last.msg and "public" in run.last.msg
    assert run.requests == []


def test_malformed_app_id_fails_before_any_request(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([app_task(app_id="not-a-guid", notes="x")], runner.auth(tenant)))
    assert run.rc != 0 and "app_id must be a GUID" in run.last.msg
    assert run.requests == []


def test_invalid_redirect_uri_fails_before_any_request(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([app_task(display_name="bad", web={"redirect_uris": ["http://contoso.example/cb"]})],
                                 runner.auth(tenant)))
    assert run.rc != 0 and "http://contoso.example/cb" in run.last.msg
    assert run.requests == []
    assert "Traceback" not in run.stdout + run.stderr


def test_an_http_logout_url_is_refused_even_on_localhost_and_nothing_is_written(runner):
    """Front-channel logout URLs are https only (supported-accounts-validation); https://localhost works (issue 15)."""
    tenant = runner.emulator.tenant("usgov")

    def with_logout(url: str) -> dict:
        return app_task(unique_name="pc-web", display_name="Partner Center web app",
                        web={"redirect_uris": ["https://app.contoso.example/signin"], "logout_url": url})

    https = runner.run(runner.play([with_logout("https://localhost:5001/signout-oidc")], runner.auth(tenant)))
    assert https.rc == 0 and https.last.changed, https.stdout
    [app] = graph_apps(runner, tenant, uniqueName="pc-web")
    assert app["web"]["logoutUrl"] == "https://localhost:5001/signout-oidc"
    for check in ((), ("--check",)):
        refused = runner.run(runner.play([with_logout("http://localhost:5001/signout-oidc")], runner.auth(tenant)), *check)
        assert refused.rc != 0 and refused.last.failed
        assert refused.last.msg == (
            "web.logout_url must use https, got 'http://localhost:5001/signout-oidc': Entra ID accepts only https "
            "front-channel logout URLs, even for localhost. Serve the logout page over https and set "
            "https://localhost:5001/signout-oidc (https://localhost is allowed).")
        assert refused.requests == []  # refused before any request: no token, no read, no write
        assert "Traceback" not in refused.stdout + refused.stderr
    assert graph_apps(runner, tenant, uniqueName="pc-web")[0]["web"]["logoutUrl"] == "https://localhost:5001/signout-oidc"


def test_concurrent_runs_with_the_same_unique_name_create_one_app(runner):
    tenant = runner.emulator.tenant("public")
    playbook = runner.play([web_app()], runner.auth(tenant))
    runs = []
    threads = [threading.Thread(target=lambda: runs.append(runner.run(playbook, clear_log=False))) for dummy in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.rc for r in runs] == [0, 0, 0], [r.stdout for r in runs]
    assert len(graph_apps(runner, tenant, uniqueName="pc-web")) == 1
    assert len(runner.emulator.graph(tenant).get("/servicePrincipals", params={
        "$filter": f"appId eq '{graph_apps(runner, tenant, uniqueName='pc-web')[0]['appId']}'"}).json()["value"]) == 1


def test_converges_under_replication_lag_and_throttling(runner):
    tenant = runner.emulator.tenant("usgov")
    runner.emulator.set_faults(seed=5, replication_lag_min_seconds=1, replication_lag_max_seconds=2,
                               throttle_probability=0.3, retry_after=1, server_error_probability=0.1,
                               server_error_statuses=[503], services=["graph"])
    run = runner.run(runner.play([web_app()], runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    faults = {r["fault"] for r in run.requests}
    assert {"throttle", "server_error"} <= faults or "throttle" in faults
    runner.emulator.set_faults()
    time.sleep(2)  # objects created under the lag become visible to our own reads
    [app] = graph_apps(runner, tenant, uniqueName="pc-web")
    assert runner.emulator.graph(tenant).get(f"/servicePrincipals(appId='{app['appId']}')").status_code == 200
    again = runner.run(runner.play([web_app()], runner.auth(tenant)))
    assert again.rc == 0 and not again.last.changed and again.graph_writes() == []


def test_docs_render_with_ansible_doc():
    completed = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), MODULE], capture_output=True, text=True,
                               env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH)}, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "unique_name" in completed.stdout and "client_secret" in completed.stdout


MISSING_ID = "0badc0de-0000-4000-8000-000000000000"


@pytest.mark.parametrize("option", ["app_id", "object_id"])
def test_an_id_that_is_not_found_is_an_error_and_creates_nothing(runner, option):
    """A typo in an id, or an id from another tenant, must not create an app under display_name (issue 14)."""
    tenant = runner.emulator.tenant("usgov")
    task = app_task(display_name="Typo app", web={"redirect_uris": ["https://typo.contoso.example/cb"]}, **{option: MISSING_ID})
    for dummy in range(2):  # it used to create one more application on every run
        run = runner.run(runner.play([task], runner.auth(tenant)))
        assert run.rc != 0 and run.last.failed, run.stdout
        assert run.graph_writes() == []
        message = run.last.msg
        assert MISSING_ID in message and option in message
        assert tenant["tenant_id"] in message and "usgov" in message
        assert "unique_name" in message and "display_name" in message
        assert "Traceback" not in run.stdout + run.stderr
    assert graph_apps(runner, tenant, displayName="Typo app") == []


@pytest.mark.parametrize("option", ["app_id", "object_id"])
def test_an_id_that_is_not_found_is_ok_when_absent(runner, option):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([app_task(state="absent", display_name="Typo app", **{option: MISSING_ID})], runner.auth(tenant)))
    assert run.rc == 0 and not run.last.changed, run.stdout
    assert run.graph_writes() == []


def wait_for_visible_apps(runner: Runner, tenant: dict, seconds: float = 12, **filters: str) -> list[dict]:
    """The applications matching filters once every object created under replication lag is visible."""
    time.sleep(seconds)
    return graph_apps(runner, tenant, **filters)


def test_a_lost_create_response_under_replication_lag_leaves_one_app_after_a_rerun(runner):
    """Without unique_name: the create took effect but its answer was lost, and the new app stays invisible for 5-8 s.
    The run must find it (not report "may have been created"), and an immediate rerun must not create a second one."""
    tenant = runner.emulator.tenant("public")
    runner.emulator.set_faults(seed=14, services=["graph"], match=r"^POST [^ ]*/applications$", max_faults_per_request=1,
                               drop_probability=1.0, drop_after_processing=1.0,
                               replication_lag_min_seconds=5, replication_lag_max_seconds=8)
    task = app_task(display_name="Lost response app", notes="kept", web={"redirect_uris": ["https://lost.contoso.example/cb"]})
    first = runner.run(runner.play([task], runner.auth(tenant)))
    assert [r["fault"] for r in first.requests if r["method"] == "POST" and r["path"].endswith("/applications")][:1] == ["drop_after"]
    rerun = runner.run(runner.play([task], runner.auth(tenant)))
    runner.emulator.set_faults()
    apps = wait_for_visible_apps(runner, tenant, displayName="Lost response app")
    assert len(apps) == 1, [a["appId"] for a in apps]
    assert first.rc == 0 and first.last.changed, first.stdout
    assert rerun.rc == 0 and not rerun.last.changed, rerun.stdout
    # The service principal created by the first run may still be invisible: the rerun's POST of it gets 409 (it exists).
    assert [(w["method"], w["path"].rsplit("/", 1)[-1], w["status"]) for w in rerun.graph_writes()] in (
        [], [("POST", "servicePrincipals", 409)])
    assert first.last.result["app_id"] == apps[0]["appId"] == rerun.last.result["app_id"]
    assert apps[0]["notes"] == "kept" and apps[0]["web"]["redirectUris"] == ["https://lost.contoso.example/cb"]
    assert runner.emulator.graph(tenant).get(f"/servicePrincipals(appId='{apps[0]['appId']}')").status_code == 200
    assert any("response" in w and "lost" in w for w in first.last.result.get("warnings", [])), first.last.result


# Token cache poisoning (issue 14): a token of another tenant must never be used for this task's writes.

def poison(cache_dir: Path, token: str) -> None:
    """Replace every cached access token (same msal keys: client, tenant, host, scope) with ``token``."""
    for cache_file in cache_dir.glob("*.tokens.json"):
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
        for entry in cache["AccessToken"].values():
            entry["secret"] = token
        cache_file.write_text(json.dumps(cache), encoding="utf-8")


def as_nobody(script: str, stdin: str = "") -> None:
    """Run a Python snippet as the unprivileged user nobody (the tests run as root)."""
    import pwd  # pylint: disable=import-outside-toplevel

    nobody = pwd.getpwnam("nobody")

    def drop() -> None:
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable  # the venv may be private to root
    subprocess.run([python, "-c", script], input=stdin, text=True, check=True, preexec_fn=drop,  # noqa: PLW1509
                   cwd="/", env={"PATH": os.environ.get("PATH", "")})


@pytest.fixture
def shared_folder():
    """A folder every local user can create folders in, like /tmp (pytest's tmp_path is private to root)."""
    import shutil  # pylint: disable=import-outside-toplevel
    import tempfile  # pylint: disable=import-outside-toplevel

    folder = Path(tempfile.mkdtemp(prefix="pc-shared-", dir="/tmp"))
    os.chmod(folder, 0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def tenants_of(run) -> set:
    return {r["tenant_id"] for r in run.requests if r["service"] == "graph"}


def test_a_cached_token_of_another_tenant_is_discarded(runner):
    victim, other = runner.emulator.tenant("public"), runner.emulator.tenant("public", 1)
    assert runner.run(runner.play([web_app()], runner.auth(victim))).rc == 0
    poison(runner.token_cache, runner.emulator.token(other))
    run = runner.run(runner.play([web_app(notes="after poisoning")], runner.auth(victim)))
    assert run.rc == 0, run.stdout
    assert tenants_of(run) == {victim["tenant_id"]}
    assert [w["tenant_id"] for w in run.graph_writes()] == [victim["tenant_id"]]
    assert graph_apps(runner, other, uniqueName="pc-web") == []
    assert [r["method"] for r in run.identity_requests()] == ["POST"]  # a fresh token of the right tenant
    assert any("discarded" in w and other["tenant_id"] in w for w in run.last.result.get("warnings", []))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second user (nobody)")
def test_a_cache_folder_of_another_user_is_never_used(runner, shared_folder):
    """Another local user (nobody) creates the cache folder (0755) and plants a cache whose tokens are for their tenant."""
    victim, other = runner.emulator.tenant("public"), runner.emulator.tenant("public", 1)
    assert runner.run(runner.play([web_app()], runner.auth(victim))).rc == 0  # learn the file names the victim uses
    poison(runner.token_cache, runner.emulator.token(other))
    files = {p.name: p.read_bytes().decode("latin-1") for p in runner.token_cache.iterdir() if not p.name.endswith(".lock")}
    shared = shared_folder
    planted = shared / "partnercenter.national_cloud"
    as_nobody("import json, os, sys\nfolder = %r\nos.mkdir(folder, 0o755)\n"
              "for name, text in json.load(sys.stdin).items():\n"
              "    fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT, 0o600)\n"
              "    os.write(fd, text.encode('latin-1'))\n    os.close(fd)\n" % str(planted), json.dumps(files))
    assert planted.stat().st_uid != 0 and stat.S_IMODE(planted.stat().st_mode) == 0o755

    # Chosen explicitly: the task fails before any request, and says why.
    refused = runner.run(runner.play([web_app(notes="explicit")], runner.auth(victim, token_cache=str(planted))))
    assert refused.rc != 0 and refused.requests == []
    assert str(planted) in refused.last.msg and "nobody" in refused.last.msg
    assert "Traceback" not in refused.stdout + refused.stderr

    # The default location ($XDG_CACHE_HOME/partnercenter.national_cloud): not used, with a warning; all writes in the victim's tenant.
    run = runner.run(runner.play([web_app(notes="default")], runner.auth(victim, token_cache=True)),
                     env={"XDG_CACHE_HOME": str(shared)})
    assert run.rc == 0, run.stdout
    assert tenants_of(run) == {victim["tenant_id"]} and run.graph_writes()
    assert graph_apps(runner, other, uniqueName="pc-web") == []
    assert any("nobody" in w and "not used" in w for w in run.last.result.get("warnings", [])), run.last.result


def test_a_token_cache_that_cannot_be_written_is_a_clear_message(runner):
    tenant = runner.emulator.tenant("public")
    run = runner.run(runner.play([web_app()], runner.auth(tenant, token_cache="/proc/self")))
    assert run.rc != 0 and "token_cache" in run.last.msg and "/proc/self" in run.last.msg
    assert "Unexpected error" not in run.last.msg and "Traceback" not in run.stdout + run.stderr
    assert run.graph_writes() == []
