"""pc_register_webapp end to end: prerequisites, Partner Center's view, waiting for the operator."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.e2e.conftest import Runner

MODULE = "partnercenter.national_cloud.pc_register_webapp"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
PARTNER_CENTER_APP_ID = "fa3d9a0c-3fb0-42cc-9193-47c7ecd2edbd"
PORTALS = {"public": "https://partner.microsoft.com", "usgov": "https://partnercenter.microsoft.com",
           "china": "https://partner.partnercenter.microsoftonline.cn"}


def web_app(runner: Runner, tenant: dict, consent: bool = True, name: str = "pc web app") -> tuple[dict, str]:
    """A web app as the procedure leaves it before the portal step: SP, Read directory data, a secret."""
    graph = runner.emulator.graph(tenant)
    app = graph.post("/applications", json={"displayName": name}).json()
    sp = graph.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    if consent:
        resource = graph.get(f"/servicePrincipals(appId='{GRAPH_APP_ID}')").json()
        role = next(r["id"] for r in resource["appRoles"] if r["value"] == "Directory.Read.All")
        graph.post(f"/servicePrincipals/{resource['id']}/appRoleAssignedTo",
                   json={"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": role})
    secret = graph.post(f"/applications/{app['id']}/addPassword", json={"passwordCredential": {"displayName": "pc"}}).json()
    return app, secret


def task(app: dict, **params) -> dict:
    return {"name": "Check the Partner Center registration", MODULE: {"app_id": app["appId"], **params}}


@pytest.mark.parametrize("cloud", ["public", "usgov", "china"])
def test_not_registered_then_registered(runner, cloud):
    tenant = runner.emulator.tenant(cloud)
    app, secret = web_app(runner, tenant)
    run = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"])], runner.auth(tenant)), "-v")
    assert run.rc != 0 and run.last.failed
    message = run.last.msg
    assert PORTALS[cloud] in message and "Register existing app" in message and app["appId"] in message
    assert run.last.result["registered"] is False and run.last.result["missing"] == []
    # The only write: Microsoft Partner Center's service principal, missing in a new tenant.
    assert [(w["method"], w["body"]) for w in run.graph_writes()] == [("POST", {"appId": PARTNER_CENTER_APP_ID})]
    assert run.last.changed
    pc_calls = [r for r in run.requests if r["service"] == "partner_center"]
    assert pc_calls and pc_calls[-1]["status"] == 403 and pc_calls[-1]["client_id"] == app["appId"]
    assert secret["secretText"] not in run.stdout + run.stderr

    registration = {"tenant_id": tenant["tenant_id"], "app_id": app["appId"]}
    runner.emulator.control("POST", "/partner-center/registrations", json=registration)
    done = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"])], runner.auth(tenant)))
    assert done.rc == 0 and done.last.result["registered"] is True and not done.last.changed
    assert done.graph_writes() == [] and done.last.result["instructions"] is None


def test_check_mode_reports_and_never_fails_or_writes(runner):
    tenant = runner.emulator.tenant("public")
    app, secret = web_app(runner, tenant)
    run = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"])], runner.auth(tenant)), "--check")
    assert run.rc == 0 and run.graph_writes() == []
    result = run.last.result
    assert result["registered"] is None  # Partner Center's service principal would be created first
    assert {p["name"]: p["ok"] for p in result["prerequisites"]}["partner_center_service_principal"] is None
    runner.emulator.graph(tenant).post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID})
    run = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"])], runner.auth(tenant)), "--check")
    assert run.rc == 0 and run.last.result["registered"] is False and not run.last.changed
    assert app["appId"] in run.last.result["instructions"] and run.graph_writes() == []


def test_waits_while_the_operator_registers(runner):
    tenant = runner.emulator.tenant("usgov")
    app, secret = web_app(runner, tenant)
    runner.emulator.control("PUT", "/partner-center/settings", json={"auto_register_after": 3})
    run = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"], wait_timeout=60)],
                                 runner.auth(tenant)))
    assert run.rc == 0, run.stdout
    result = run.last.result
    assert result["registered"] is True and result["polls"] >= 2 and 2.5 <= result["waited_seconds"] < 60
    registrations = runner.emulator.control("GET", "/partner-center/registrations")
    assert [(r["app_id"], r["registered_by"]) for r in registrations] == [(app["appId"], "auto")]


def test_gives_up_after_wait_timeout(runner):
    tenant = runner.emulator.tenant("public")
    app, secret = web_app(runner, tenant)
    run = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"], wait_timeout=4)],
                                 runner.auth(tenant)))
    assert run.rc != 0 and "after waiting" in run.last.msg and "Register existing app" in run.last.msg
    assert run.last.result["polls"] >= 2


def test_missing_prerequisites_are_each_reported(runner):
    tenant = runner.emulator.tenant("public")
    app, secret = web_app(runner, tenant, consent=False)
    runner.emulator.control("PATCH", f"/tenants/{tenant['tenant_id']}/password-credentials/{secret['keyId']}",
                            json={"endDateTime": "2020-01-01T00:00:00Z", "startDateTime": "2019-01-01T00:00:00Z"})
    run = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"],
                                       create_partner_center_service_principal=False)], runner.auth(tenant)))
    assert run.rc != 0
    assert run.last.result["missing"] == ["application_permission", "credential", "partner_center_service_principal"]
    assert "Directory.Read.All" in run.last.msg and "client secret" in run.last.msg
    assert run.graph_writes() == [] and not [r for r in run.requests if r["service"] == "partner_center"]
    checked = runner.run(runner.play([task(app, webapp_client_secret=secret["secretText"])], runner.auth(tenant)), "--check")
    assert checked.rc == 0 and "application_permission" in checked.last.result["missing"]


def test_secret_file_written_by_pc_app_secret(runner, tmp_path):
    tenant = runner.emulator.tenant("public")
    app, secret = web_app(runner, tenant)
    registration = {"tenant_id": tenant["tenant_id"], "app_id": app["appId"]}
    runner.emulator.control("POST", "/partner-center/registrations", json=registration)
    secret_file = tmp_path / "web.json"
    secret_file.write_text(json.dumps({"tenant_id": tenant["tenant_id"], "cloud": "public", "app_id": app["appId"],
                                       "key_id": secret["keyId"], "secret": secret["secretText"]}), encoding="utf-8")
    run = runner.run(runner.play([task(app, webapp_secret_file=str(secret_file))], runner.auth(tenant)), "-vvv")
    assert run.rc == 0 and run.last.result["registered"] is True
    assert secret["secretText"] not in run.stdout + run.stderr
    other, dummy = web_app(runner, tenant, name="other")
    wrong = runner.run(runner.play([task(other, webapp_secret_file=str(secret_file))], runner.auth(tenant)))
    assert wrong.rc != 0 and "holds a secret of application" in wrong.last.msg
    assert wrong.graph_writes() == [] and not [r for r in wrong.requests if r["service"] == "partner_center"]


def test_wrong_secret_fails_clearly(runner):
    tenant = runner.emulator.tenant("public")
    app, dummy = web_app(runner, tenant)
    runner.emulator.graph(tenant).post("/servicePrincipals", json={"appId": PARTNER_CENTER_APP_ID})
    run = runner.run(runner.play([task(app, webapp_client_secret="not-the-secret")], runner.auth(tenant)))
    assert run.rc != 0 and run.last.result["missing"] == ["credential"]
    assert "none of the application's valid secrets" in run.last.msg
    assert run.identity_requests() == [] or all(r["client_id"] != app["appId"] for r in run.identity_requests())
    assert "Traceback" not in run.stdout + run.stderr


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_secret_file_that_is_not_a_regular_file_fails_clearly_at_once(runner, tmp_path, special):
    """/dev/zero got the module killed for memory, a FIFO hung it: both are refused before reading."""
    tenant = runner.emulator.tenant("public")
    app, dummy = web_app(runner, tenant)
    path = "/dev/zero" if special == "/dev/zero" else str(tmp_path / "fifo")
    if special == "fifo":
        os.mkfifo(path)
    started = time.monotonic()
    run = runner.run(runner.play([task(app, webapp_secret_file=path)], runner.auth(tenant)), timeout=120)
    assert run.rc != 0 and "is not a regular file" in run.last.msg and path in run.last.msg
    assert time.monotonic() - started < 60 and "Traceback" not in run.stdout + run.stderr
    assert run.graph_writes() == []
