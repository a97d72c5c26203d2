"""Serving the emulator: TLS material, one listening socket per (cloud, service), uvicorn,
the ready line, periodic state saving and a clean stop on SIGTERM/SIGINT.

msal accepts only https authorities, so everything is HTTPS with a CA made at start
(trustme). Sockets bind 127.0.0.1 only, on free ports unless told otherwise.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import trustme
import uvicorn

from .app import Emulator
from .clouds import SERVICES
from .control import emulator_info
from .faults import FaultSettings
from .store import Store
from .tokens import ACCESS_TOKEN_LIFETIME

LOOPBACK = "127.0.0.1"


@dataclass
class Options:
    """How to run one emulator."""

    clouds: list[str]
    tenants_per_cloud: int = 2
    seed: int = 1
    state_file: str | None = None
    workdir: str | None = None
    base_port: int = 0
    faults: FaultSettings = field(default_factory=FaultSettings)
    pc_auto_register_after: float | None = None
    pc_utf8_bom: bool = True
    access_token_lifetime: int = ACCESS_TOKEN_LIFETIME
    info_file: str | None = None
    log_level: str = "warning"


def tls_material(workdir: Path) -> tuple[str, str]:
    """CA bundle and server certificate+key for 127.0.0.1, reused when the workdir has them."""
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_path, server_path = workdir / "ca.pem", workdir / "server.pem"
    if not (ca_path.exists() and server_path.exists()):
        ca = trustme.CA(organization_name="partnercenter.national_cloud emulator")
        certificate = ca.issue_cert(LOOPBACK, "localhost")
        ca.cert_pem.write_to_path(str(ca_path))
        fd = os.open(server_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(certificate.private_key_and_cert_chain_pem.bytes())
    return str(ca_path), str(server_path)


def bind_sockets(emulator: Emulator, clouds: list[str], base_port: int) -> list[socket.socket]:
    """One listening socket per (cloud, service) and one for the control API."""
    sockets = []
    plan = [(cloud, service) for cloud in clouds for service in SERVICES] + [("-", "control")]
    for index, (cloud, service) in enumerate(plan):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, base_port + index if base_port else 0))
        sock.listen(512)
        sock.set_inheritable(True)
        emulator.bind(sock.getsockname()[1], cloud, service)
        sockets.append(sock)
    return sockets


class _Server(uvicorn.Server):
    """uvicorn, plus a callback once every socket listens and a background state saver."""

    def __init__(self, config: uvicorn.Config, store: Store, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._store = store
        self._on_ready = on_ready
        self._saver: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._saver = asyncio.create_task(self._save_periodically())
            self._on_ready()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._saver:
            self._saver.cancel()
        await super().shutdown(sockets=sockets)
        self._store.save()

    async def _save_periodically(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self._store.dirty:
                await asyncio.to_thread(self._store.save)


def serve(options: Options) -> int:
    """Run until SIGTERM/SIGINT; prints one JSON line when ready; returns the exit code."""
    temporary = None
    if options.workdir:
        workdir = Path(options.workdir)
    elif options.state_file:
        workdir = Path(f"{options.state_file}.tls")
    else:
        temporary = tempfile.TemporaryDirectory(prefix="pc-emulator-")
        workdir = Path(temporary.name)
    try:
        ca_bundle, server_pem = tls_material(workdir)
        store = Store(options.clouds, options.tenants_per_cloud, options.seed, options.state_file)
        emulator = Emulator(store, pc_auto_register_after=options.pc_auto_register_after, pc_utf8_bom=options.pc_utf8_bom,
                            access_token_lifetime=options.access_token_lifetime)
        emulator.ca_bundle = ca_bundle
        emulator.faults.configure(options.faults)
        sockets = bind_sockets(emulator, store.clouds, options.base_port)
        config = uvicorn.Config(emulator, ssl_certfile=server_pem, log_level=options.log_level, access_log=False,
                                lifespan="off", timeout_keep_alive=30, server_header=False, date_header=True,
                                # Idle keep-alive TLS connections would hold a graceful stop for ssl_shutdown_timeout.
                                timeout_graceful_shutdown=1)

        def ready() -> None:
            info = emulator_info(emulator)
            line = json.dumps(info)
            if options.info_file:
                fd = os.open(options.info_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        # uvicorn re-raises the signal that stopped it once it has shut down; handlers that
        # do nothing make that a no-op, so a requested stop ends with exit code 0.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, _ignore)
        _Server(config, store, ready).run(sockets=sockets)
        return 0
    finally:
        if temporary is not None:
            temporary.cleanup()


def _ignore(_signum: int, _frame: Any) -> None:
    """Signal handler that leaves stopping to uvicorn's own handler."""
