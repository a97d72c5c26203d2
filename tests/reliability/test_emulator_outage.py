"""Scenario 4, the whole emulator goes down: playbooks/rollout.yml runs, and as the first web app
secret is created every endpoint of every cloud goes away (the emulator stops, keeping its state in
a state file). The hosts must fail with a message naming the endpoint they could not reach, and once
the emulator is back (same state, ports, CA and token signing key) a rerun must complete and converge."""
from __future__ import annotations

import random
import socket
import time

from tests.emulator.client import EmulatorProcess
from tests.emulator.inventory import host_name
from tests.reliability.support import failures, hosts_ok, matching, scenario_seed, wait_until

SCENARIO = "4. Outage"
BUDGET = {"retry_timeout": 8, "request_timeout": 4}
PORTS_PER_EMULATOR = 4 * 3 + 1  # (identity, Graph, Partner Center) per cloud, and the control API


def free_port_range(count: int, rng: random.Random) -> int:
    """The first of `count` consecutive free ports on 127.0.0.1."""
    for dummy in range(200):
        base = rng.randrange(20000, 60000 - count)
        sockets = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no free port range")


def test_rollout_fails_clearly_while_the_emulator_is_down_and_converges_after(make_lab, record, tmp_path):
    record.scenario = SCENARIO
    seed = scenario_seed(f"{SCENARIO}, emulator down")
    record.seeds.append(seed)
    base = free_port_range(PORTS_PER_EMULATOR, random.Random(seed))
    args = ("--tenants", "1", "--seed", str(seed % 1000 + 1), "--pc-auto-register-after", "0", "--port", str(base),
            "--state-file", str(tmp_path / "emulator-state.json"))
    lab = make_lab(*args)
    tenants = lab.emulator.info["tenants"]
    hosts = [host_name(t) for t in tenants]
    record.cases = len(hosts)
    inventory = lab.inventory(auth=BUDGET)

    lab.emulator.clear_log()
    started = lab.start_rollout(inventory=inventory, label="rollout while the emulator goes down")
    assert wait_until(lambda: matching(lab.emulator.requests_log(service="graph", method="POST"), path=r"/addPassword$")
                      or not started.running(), 600)
    lab.collect_requests()
    lab.emulator.stop()
    down_at = time.monotonic()
    run = started.wait()
    print(f"[reliability] the rollout ended {time.monotonic() - down_at:.0f} s after the emulator stopped")
    failed = failures(run)
    assert run.rc != 0 and failed, "no host failed although the emulator was down"
    for host, msg in failed.items():
        print(f"[reliability] {host}: {msg}")
        assert "Could not reach" in msg and "127.0.0.1:" in msg, f"{host}: the message names no endpoint: {msg}"

    lab.runner.emulator = back = EmulatorProcess(*args).start()
    try:
        assert back.info["clouds"] == lab.emulator.info["clouds"]
        rerun = lab.rollout(inventory=inventory, label="rerun with the emulator back")
        assert not hosts_ok(rerun, hosts), (hosts_ok(rerun, hosts), failures(rerun))
        converged = lab.converged(tenants)
        lab.finish()
        assert converged.ok, str(converged)
    finally:
        back.stop()
