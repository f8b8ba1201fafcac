"""Fault injection for the local catalogue: the bad days of a real one, on demand.

All knobs are off by default. Rates draw from a seeded generator so that a failing test run can
be replayed; bursts fail the next N requests outright, which is what a restarting backend does.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields, replace

__all__ = ["FaultPlan", "Faults", "Verdict"]

ROUTES = frozenset({"collections", "products", "stac", "download", "auth"})
GARBLES = ("html", "truncated", "mangled")


@dataclass(frozen=True)
class FaultPlan:
    """What to break, and how often.

    Attributes
    ----------
    latency : float
        seconds added before answering every request in scope
    bandwidth : float or None
        bytes per second per connection for download bodies
    error_rate, error_burst, error_status :
        a fraction of requests (or the next ``error_burst`` ones) answered with ``error_status``
    throttle_rate, throttle_burst, retry_after :
        likewise answered ``429 Too Many Requests`` with ``Retry-After: retry_after``
    cut_rate, cut_burst, cut_fraction :
        a fraction of download bodies (or the next ``cut_burst`` ones) whose connection is closed
        after ``cut_fraction`` of the body
    garble_rate, garble_burst, garble_kind :
        a fraction of pages (or the next ``garble_burst`` ones) answered ``200`` with a broken body:
        ``html`` (a proxy's error page), ``truncated`` (half the JSON, consistently framed),
        ``mangled`` (valid JSON of the wrong shape: features without ids, a text total), or ``any``
    total_jitter :
        ``totalResults`` of each page shifted by up to this many (a catalogue being ingested into)
    routes :
        the endpoints affected: ``collections``, ``products``, ``stac`` (every STAC API
        endpoint), ``download``, ``auth``
    seed :
        seed of the generator behind the rates
    """

    latency: float = 0.0
    bandwidth: float | None = None
    error_rate: float = 0.0
    error_burst: int = 0
    error_status: int = 503
    throttle_rate: float = 0.0
    throttle_burst: int = 0
    retry_after: int = 1
    cut_rate: float = 0.0
    cut_burst: int = 0
    cut_fraction: float = 0.5
    garble_rate: float = 0.0
    garble_burst: int = 0
    garble_kind: str = "any"
    total_jitter: int = 0
    routes: frozenset[str] = field(default=ROUTES)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.retry_after, int) or self.retry_after < 0:
            raise ValueError(
                f"retry_after must be whole seconds (HTTP's delay-seconds), got {self.retry_after!r}"
            )
        if self.garble_kind not in (*GARBLES, "any"):
            raise ValueError(
                f"garble_kind must be one of {[*GARBLES, 'any']}, got {self.garble_kind!r}"
            )
        for name in ("error_rate", "throttle_rate", "cut_rate", "cut_fraction", "garble_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0 and 1, got {value!r}")
        unknown = set(self.routes) - ROUTES
        if unknown:
            raise ValueError(f"unknown routes {sorted(unknown)}; choose from {sorted(ROUTES)}")
        object.__setattr__(self, "routes", frozenset(self.routes))


@dataclass(frozen=True)
class Verdict:
    """What the server does to one request."""

    status: int | None = None  # answer this status instead of the real answer
    retry_after: int | None = None
    cut_after: float | None = None  # fraction of the body after which the connection is cut
    latency: float = 0.0
    bandwidth: float | None = None
    total_shift: int = 0
    garble: str | None = None  # how to break a page's body (see FaultPlan.garble_kind)


class Faults:
    """The live fault plan of one server; thread-safe, changeable while it serves."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._set(plan or FaultPlan())

    def _set(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._random = random.Random(plan.seed)
        self._error_burst = plan.error_burst
        self._throttle_burst = plan.throttle_burst
        self._cut_burst = plan.cut_burst
        self._garble_burst = plan.garble_burst
        self.injected: dict[str, int] = {"error": 0, "throttle": 0, "cut": 0, "garble": 0}

    def set(self, plan: FaultPlan | None = None, **changes: object) -> FaultPlan:
        """Replace the plan (and reset its counters); keyword arguments change single knobs."""
        with self._lock:
            base = plan or FaultPlan()
            self._set(replace(base, **changes) if changes else base)  # type: ignore[arg-type]
            return self.plan

    def clear(self) -> None:
        self.set(FaultPlan())

    def judge(self, route: str) -> Verdict:
        """Decide the fate of one request to ``route``."""
        with self._lock:
            plan = self.plan
            if route not in plan.routes:
                return Verdict()
            status = retry_after = cut_after = garble = None
            if self._error_burst > 0 or self._random.random() < plan.error_rate:
                self._error_burst = max(0, self._error_burst - 1)
                status = plan.error_status
                self.injected["error"] += 1
            elif self._throttle_burst > 0 or self._random.random() < plan.throttle_rate:
                self._throttle_burst = max(0, self._throttle_burst - 1)
                status, retry_after = 429, plan.retry_after
                self.injected["throttle"] += 1
            elif route != "auth" and (self._cut_burst > 0 or self._random.random() < plan.cut_rate):
                self._cut_burst = max(0, self._cut_burst - 1)
                cut_after = plan.cut_fraction
                self.injected["cut"] += 1
            elif route in ("products", "collections", "stac") and (
                self._garble_burst > 0 or self._random.random() < plan.garble_rate
            ):
                self._garble_burst = max(0, self._garble_burst - 1)
                kind = plan.garble_kind
                garble = self._random.choice(GARBLES) if kind == "any" else kind
                self.injected["garble"] += 1
            shift = (
                self._random.randint(-plan.total_jitter, plan.total_jitter)
                if plan.total_jitter
                else 0
            )
            return Verdict(
                status, retry_after, cut_after, plan.latency, plan.bandwidth, shift, garble
            )


KNOBS = tuple(f.name for f in fields(FaultPlan))
