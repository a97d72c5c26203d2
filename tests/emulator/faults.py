"""Fault injection: throttling, server errors, dropped connections, replication lag and slow answers.

Every decision is seeded and keyed by (fault kind, tenant, client, method, path, n-th
occurrence of that key), so a run with the same seed and the same requests sees the same
faults, whatever the interleaving of concurrent clients. Shapes of the faults follow
https://learn.microsoft.com/graph/throttling (429 + Retry-After + x-ms-throttle-* headers),
https://learn.microsoft.com/graph/throttling-limits (token bucket per app and tenant) and
https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/
(replication lag).
"""
from __future__ import annotations

import hashlib
import math
import random
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .clouds import SERVICES


@dataclass
class FaultSettings:
    """What to inject. All probabilities are per request, between 0 and 1; everything off by default."""

    seed: int = 0
    # Services the faults (throttling, rate limit, server errors, drops) apply to.
    services: list[str] = field(default_factory=lambda: list(SERVICES))
    # And only to requests whose "METHOD /path" (plus "?query", raw, when there is one) matches this
    # regular expression (searched in it; empty: every request), e.g. "addPassword$" or, to spare
    # them, "^(?!POST .*/addPassword$)".
    match: str = ""
    # At most this many random faults (throttle, server error, drop) for the same request (tenant,
    # client, method, path); later attempts go through. 0: no limit. With probability 1 and limit 1,
    # "the first attempt of every such request fails" is deterministic whatever the timing.
    max_faults_per_request: int = 0
    throttle_probability: float = 0.0
    retry_after: int = 1
    # Token bucket per (tenant, client): capacity requests, refilled at refill_per_second. 0 = off.
    rate_limit_capacity: int = 0
    rate_limit_refill_per_second: float = 0.0
    server_error_probability: float = 0.0
    server_error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503, 504])
    drop_probability: float = 0.0
    # Share of dropped connections that are dropped after the request took effect (response lost).
    drop_after_processing: float = 0.5
    # Each object or credential created is invisible to reads for a time in [min, max] seconds.
    replication_lag_min_seconds: float = 0.0
    replication_lag_max_seconds: float = 0.0
    # Slow answers: requests whose "METHOD /path[?query]" matches delay_match (searched, as match;
    # empty: every request) are processed at once, but their answer is held delay_seconds.
    # They appear in the request log when processed, while the client still waits: a test can act in
    # that window (e.g. kill the client after a secret was created, before it could see its value).
    delay_seconds: float = 0.0
    delay_match: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FaultSettings":
        """Settings from the control API / CLI; unknown keys and bad values are errors."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        settings = cls(**data)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ValueError for values the emulator cannot honour."""
        for name in ("throttle_probability", "server_error_probability", "drop_probability", "drop_after_processing"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        unknown_services = sorted(set(self.services) - set(SERVICES))
        if unknown_services:
            raise ValueError(f"unknown service(s) {', '.join(unknown_services)}; known: {', '.join(SERVICES)}")
        if any(status not in (500, 502, 503, 504) for status in self.server_error_statuses) or not self.server_error_statuses:
            raise ValueError("server_error_statuses must be a non-empty list of 500, 502, 503, 504")
        if isinstance(self.max_faults_per_request, bool) or not isinstance(self.max_faults_per_request, int) \
                or self.max_faults_per_request < 0:
            raise ValueError(f"max_faults_per_request must be an integer >= 0, got {self.max_faults_per_request!r}")
        if self.retry_after < 0 or self.rate_limit_capacity < 0 or self.rate_limit_refill_per_second < 0:
            raise ValueError("retry_after, rate_limit_capacity and rate_limit_refill_per_second must not be negative")
        if not 0 <= self.replication_lag_min_seconds <= self.replication_lag_max_seconds:
            raise ValueError("need 0 <= replication_lag_min_seconds <= replication_lag_max_seconds")
        if isinstance(self.delay_seconds, bool) or not isinstance(self.delay_seconds, (int, float)) \
                or not 0 <= self.delay_seconds <= 600:
            raise ValueError(f"delay_seconds must be a number of seconds between 0 and 600, got {self.delay_seconds!r}")
        for name in ("match", "delay_match"):
            pattern = getattr(self, name)
            if not isinstance(pattern, str):
                raise ValueError(f"{name} must be a regular expression (a string), got {pattern!r}")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{name} is not a valid regular expression: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        """The settings as the control API shows them."""
        return asdict(self)


@dataclass
class Fault:
    """A fault chosen for one request."""

    kind: str  # "throttle", "rate_limit", "server_error", "drop_before", "drop_after"
    status: int = 0
    retry_after: int = 0


class FaultInjector:
    """Decides, reproducibly, which requests fail and how long new objects stay invisible."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.settings = FaultSettings()
        self._occurrences: Counter[tuple[str, ...]] = Counter()
        self._faulted: Counter[tuple[str, ...]] = Counter()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def configure(self, settings: FaultSettings) -> None:
        """Replace the settings and restart the seeded sequences."""
        with self._lock:
            self.settings = settings
            self._occurrences.clear()
            self._faulted.clear()
            self._buckets.clear()

    def _draw(self, *key: str) -> float:
        """A reproducible number in [0, 1) for the n-th occurrence of this key."""
        with self._lock:
            self._occurrences[key] += 1
            occurrence = self._occurrences[key]
        material = "\x1f".join((str(self.settings.seed), *key, str(occurrence))).encode()
        return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") / 2**64

    def before_request(self, service: str, tenant: str, client: str, method: str, path: str, now: float,
                       query: str = "") -> Fault | None:
        """The fault to answer with instead of processing this request, if any."""
        settings = self.settings
        if service not in settings.services or (settings.match and not re.search(settings.match, _target(method, path, query))):
            return None
        bucket_fault = self._take_token(tenant, client, now)
        if bucket_fault:
            return bucket_fault
        key = (tenant, client, method, path)
        fault = self._random_fault(key)
        if fault is not None and settings.max_faults_per_request:
            with self._lock:
                if self._faulted[key] >= settings.max_faults_per_request:
                    return None
                self._faulted[key] += 1
        return fault

    def _random_fault(self, key: tuple[str, str, str, str]) -> Fault | None:
        settings = self.settings
        if settings.throttle_probability and self._draw("throttle", *key) < settings.throttle_probability:
            return Fault("throttle", 429, settings.retry_after)
        if settings.server_error_probability and self._draw("error", *key) < settings.server_error_probability:
            statuses = settings.server_error_statuses
            status = statuses[int(self._draw("status", *key) * len(statuses))]
            return Fault("server_error", status, settings.retry_after if status == 503 else 0)
        if settings.drop_probability and self._draw("drop", *key) < settings.drop_probability:
            after = self._draw("drop-after", *key) < settings.drop_after_processing
            return Fault("drop_after" if after else "drop_before")
        return None

    def _take_token(self, tenant: str, client: str, now: float) -> Fault | None:
        settings = self.settings
        if not settings.rate_limit_capacity:
            return None
        with self._lock:
            tokens, last = self._buckets.get((tenant, client), (float(settings.rate_limit_capacity), now))
            tokens = min(settings.rate_limit_capacity, tokens + (now - last) * settings.rate_limit_refill_per_second)
            if tokens >= 1:
                self._buckets[(tenant, client)] = (tokens - 1, now)
                return None
            self._buckets[(tenant, client)] = (tokens, now)
            refill = settings.rate_limit_refill_per_second
            wait = math.ceil((1 - tokens) / refill) if refill else 60
            return Fault("rate_limit", 429, max(1, wait))

    def response_delay(self, service: str, method: str, path: str, query: str = "") -> float:
        """Seconds to hold the answer to this (already processed) request."""
        settings = self.settings
        if not settings.delay_seconds or service not in settings.services:
            return 0.0
        if settings.delay_match and not re.search(settings.delay_match, _target(method, path, query)):
            return 0.0
        return float(settings.delay_seconds)

    def replication_lag(self, tenant: str, kind: str) -> float:
        """Seconds a new object of this kind stays invisible to reads."""
        low, high = self.settings.replication_lag_min_seconds, self.settings.replication_lag_max_seconds
        if high <= 0:
            return 0.0
        return low + (high - low) * self._draw("lag", tenant, kind)


def _target(method: str, path: str, query: str) -> str:
    """What match and delay_match search: "METHOD /path", plus "?query" (raw) when there is one."""
    return f"{method} {path}?{query}" if query else f"{method} {path}"


def random_seed() -> int:
    """A seed for runs that ask for faults without choosing one (printed, so it can be replayed)."""
    return random.SystemRandom().randrange(1, 2**31)
