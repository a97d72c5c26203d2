"""`python -m tests.emulator`: run the local emulator of the Microsoft identity platform,
Microsoft Graph and Partner Center. Prints one line of JSON (endpoints, CA bundle, seeded
credentials) when ready, serves until SIGTERM/SIGINT, then exits 0.
"""
from __future__ import annotations

import argparse
import json
import sys

from .clouds import CLOUDS, DEFAULT_CLOUDS
from .faults import FaultSettings, random_seed
from .server import Options, serve


def parse_args(argv: list[str]) -> Options:
    """Command-line options -> Options; exits with a usage message on bad input."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--clouds", default=",".join(DEFAULT_CLOUDS),
                        help=f"comma-separated clouds to emulate (default: %(default)s; known: {', '.join(CLOUDS)})")
    parser.add_argument("--tenants", type=int, default=2, help="tenants per cloud (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed for ids and seeded credentials (default: %(default)s)")
    parser.add_argument("--state-file", help="keep state in this file (read at start, written while running and at stop)")
    parser.add_argument("--workdir", help="where the CA and server certificate live (default: next to the state file, "
                                          "or a temporary directory)")
    parser.add_argument("--port", type=int, default=0, help="first port of a consecutive range (default: free ports)")
    parser.add_argument("--info-file", help="also write the ready line to this file (mode 0600)")
    parser.add_argument("--pc-auto-register-after", type=float, metavar="SECONDS",
                        help="play the operator: register a web app in Partner Center this long after its first "
                             "unregistered call (0: registered from the first call)")
    parser.add_argument("--access-token-lifetime", type=int, default=3599, metavar="SECONDS",
                        help="lifetime of issued access tokens (default: %(default)s, as Entra ID's minimum default)")
    parser.add_argument("--no-pc-bom", action="store_true", help="omit the UTF-8 BOM Partner Center puts before JSON bodies")
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    faults = parser.add_argument_group("faults (all off by default; decisions are seeded and reproducible)")
    faults.add_argument("--faults", metavar="JSON", help="fault settings as JSON (same keys as PUT /_emulator/faults)")
    faults.add_argument("--fault-seed", type=int, help="seed of fault decisions (default: random, printed as fault_seed)")
    faults.add_argument("--throttle-probability", type=float, help="share of requests answered 429 with Retry-After")
    faults.add_argument("--retry-after", type=int, help="Retry-After seconds of injected 429/503")
    faults.add_argument("--rate-limit", type=float, nargs=2, metavar=("CAPACITY", "REFILL_PER_S"),
                        help="token bucket per tenant and client")
    faults.add_argument("--server-error-probability", type=float, help="share of requests answered 500/502/503/504")
    faults.add_argument("--drop-probability", type=float, help="share of requests whose connection is dropped")
    faults.add_argument("--replication-lag", type=float, nargs=2, metavar=("MIN_S", "MAX_S"),
                        help="new objects stay invisible to reads for this long")
    args = parser.parse_args(argv)

    clouds = [c.strip() for c in args.clouds.split(",") if c.strip()]
    unknown = [c for c in clouds if c not in CLOUDS]
    if unknown or not clouds:
        parser.error(f"unknown cloud(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(CLOUDS)}")
    if args.access_token_lifetime < 1:
        parser.error("--access-token-lifetime must be at least 1 second")
    if not 0 <= args.tenants <= 1000:
        parser.error("--tenants must be between 0 and 1000")
    try:
        settings = json.loads(args.faults) if args.faults else {}
        if not isinstance(settings, dict):
            raise ValueError("--faults must be a JSON object")
        for key, value in (("throttle_probability", args.throttle_probability), ("retry_after", args.retry_after),
                           ("server_error_probability", args.server_error_probability),
                           ("drop_probability", args.drop_probability)):
            if value is not None:
                settings[key] = value
        if args.rate_limit:
            settings["rate_limit_capacity"] = int(args.rate_limit[0])
            settings["rate_limit_refill_per_second"] = args.rate_limit[1]
        if args.replication_lag:
            settings["replication_lag_min_seconds"], settings["replication_lag_max_seconds"] = args.replication_lag
        settings.setdefault("seed", args.fault_seed if args.fault_seed is not None else random_seed())
        fault_settings = FaultSettings.from_json(settings)
    except (TypeError, ValueError) as exc:
        parser.error(f"invalid fault settings: {exc}")
    return Options(clouds=clouds, tenants_per_cloud=args.tenants, seed=args.seed, state_file=args.state_file,
                   workdir=args.workdir, base_port=args.port, faults=fault_settings,
                   pc_auto_register_after=args.pc_auto_register_after, pc_utf8_bom=not args.no_pc_bom,
                   access_token_lifetime=args.access_token_lifetime, info_file=args.info_file, log_level=args.log_level)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    return serve(parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
