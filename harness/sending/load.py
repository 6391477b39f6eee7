"""Opt-in load runs: N deliveries at bounded concurrency, and the latency summary a SHOULD check reports.

Off by default (only ``--webhook-load`` starts one): a conformance tool pointed at someone else's URL must
never be a load generator by surprise. Hence the hard caps, and the early stop once the receiver looks hung
or out of reach: a dead receiver costs about two deadlines, not N x timeout / C.

A load run keeps no exchanges, only their timings, classes and error kinds: 10 000 bodies of up to 64 KiB
each would be 640 MB. So whole-session checks (LEAK-1, REDIR-1) do not judge load deliveries.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from harness.config.secret import Secret
from harness.payloads.deliveries import delivery, fresh, right_secret
from harness.wire import transport

__all__ = [
    "CLASSES",
    "EVENT",
    "MAX_CONCURRENCY",
    "MAX_DELIVERIES",
    "NO_ANSWER_KINDS",
    "Latency",
    "LoadResult",
    "check_plan",
    "deliveries",
    "percentile",
    "run_load",
    "status_class",
]

#: Hard caps, whatever the settings say: enough to measure a receiver, not enough to flood one.
MAX_DELIVERIES = 10_000
MAX_CONCURRENCY = 64

#: What a load run sends: the Cloud's most frequent event.
EVENT = "Site Status Update"

#: Transport errors that mean the receiver is silent or out of reach. A run of them in a row stops the load;
#: "protocol" (a broken or cut answer) does not count: the receiver is there, and each one is quick.
NO_ANSWER_KINDS = frozenset({"read-timeout", "deadline", "connect-timeout", "connect", "dns", "tls"})

#: The keys of :attr:`LoadResult.by_class`, always all present. "other" is a final status outside 200-599
#: (a 1xx such as 103, which http.client returns as the answer, or 600-999): an answer, but not an HTTP class.
CLASSES = ("2xx", "3xx", "4xx", "5xx", "other", "no response")


def check_plan(n: int, concurrency: int) -> None:
    """Refuse a load plan outside the hard caps (run_load clips the concurrency to ``n`` itself)."""
    if not 1 <= n <= MAX_DELIVERIES:
        raise ValueError(
            f"a load run sends from 1 to {MAX_DELIVERIES} deliveries (MAX_DELIVERIES, a hard cap), not {n}"
        )
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"a load run keeps from 1 to {MAX_CONCURRENCY} deliveries in flight (MAX_CONCURRENCY, a hard cap), "
            f"not {concurrency}"
        )


# --- latency -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``q`` percent of the values at or below it.

    That is ``sorted(values)[ceil(q / 100 * len) - 1]``, computed exactly (no float rounding of the rank), and
    always one of the values, never an interpolation; ``q`` 0 gives the minimum, 100 the maximum.
    """
    if not values:
        raise ValueError("a percentile of no values is undefined")
    return _nearest_rank(sorted(values), q)


def _nearest_rank(ordered: Sequence[float], q: float) -> float:
    if not 0 <= q <= 100:  # also refuses NaN
        raise ValueError(f"a percentile is from 0 to 100, not {q}")
    rank = math.ceil(Fraction(q) * len(ordered) / 100)
    return ordered[max(rank, 1) - 1]


def _duration(seconds: float) -> str:
    # Rounded for reading: two significant digits below 10 ms, whole milliseconds below 1 s, then seconds.
    ms = seconds * 1000
    if ms < 9.95:
        return f"{ms:.1f} ms"
    if ms < 999.5:
        return f"{ms:.0f} ms"
    return f"{seconds:.2f} s"


@dataclass(frozen=True)
class Latency:
    """Nearest-rank percentiles of exchange durations, in seconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency | None:
        """The summary of ``seconds``; None when there are no samples."""
        if not seconds:
            return None
        ordered = sorted(seconds)
        return cls(
            count=len(ordered),
            p50=_nearest_rank(ordered, 50),
            p95=_nearest_rank(ordered, 95),
            p99=_nearest_rank(ordered, 99),
            max=ordered[-1],
        )

    def describe(self) -> str:
        """``p50 12 ms, p95 30 ms, p99 41 ms, max 55 ms over 120 deliveries``."""
        noun = "delivery" if self.count == 1 else "deliveries"
        return (
            f"p50 {_duration(self.p50)}, p95 {_duration(self.p95)}, p99 {_duration(self.p99)}, "
            f"max {_duration(self.max)} over {self.count} {noun}"
        )

    def as_json(self) -> dict[str, Any]:
        """Milliseconds rounded to 0.1 ms: finer would be noise from the harness itself."""
        return {
            "count": self.count,
            "p50_ms": round(self.p50 * 1000, 1),
            "p95_ms": round(self.p95 * 1000, 1),
            "p99_ms": round(self.p99 * 1000, 1),
            "max_ms": round(self.max * 1000, 1),
        }


# --- the load run ------------------------------------------------------------------------------


def status_class(exchange: transport.Exchange) -> str:
    """The :data:`CLASSES` key of one exchange."""
    if exchange.response is None:
        return "no response"
    status = exchange.response.status
    return f"{status // 100}xx" if 200 <= status <= 599 else "other"


@dataclass(frozen=True)
class LoadResult:
    """What a load run measured.

    ``sent`` counts the deliveries whose exchange ended (every one started ends: run_load waits for them).
    ``latency`` is over all of them, failures included at the time they took: a timeout is what the sender
    waited. ``throughput`` is ``sent / elapsed``, the wall time from the first start to the last end.
    ``stopped`` says why fewer than ``planned`` were sent, else None.
    """

    planned: int
    sent: int
    #: The number of deliveries in flight at most: the requested concurrency clipped to ``planned``.
    concurrency: int
    elapsed: float
    throughput: float
    latency: Latency | None
    by_class: dict[str, int]
    #: Counts per :attr:`transport.TransportError.kind`, only the kinds that occurred.
    errors: dict[str, int]
    stopped: str | None

    def lines(self) -> list[str]:
        """The load section of a terminal report, without its title."""
        shown = [c for c in CLASSES if c != "other" or self.by_class.get(c)]
        lines = [
            f"{self.sent} of {self.planned} deliveries in {self.elapsed:.2f} s, at most {self.concurrency} at a "
            f"time: {self.throughput:.1f} deliveries/s",
            f"latency: {self.latency.describe() if self.latency else 'no delivery completed'}",
            "status: " + ", ".join(f"{c} {self.by_class.get(c, 0)}" for c in shown),
        ]
        if self.errors:
            lines.append("transport errors: " + ", ".join(f"{kind} {count}" for kind, count in self.errors.items()))
        if self.stopped:
            lines.append(f"stopped early: {self.stopped}")
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "sent": self.sent,
            "concurrency": self.concurrency,
            "elapsed_s": round(self.elapsed, 3),
            "throughput_per_s": round(self.throughput, 1),
            "latency": self.latency.as_json() if self.latency else None,
            "by_class": dict(self.by_class),
            "errors": dict(self.errors),
            "stopped": self.stopped,
        }


class _Run:
    """The state the workers share; every change happens under one lock."""

    def __init__(self, send: Callable[[int], transport.Exchange], n: int, stop_after: int) -> None:
        self._send = send
        self._n = n
        self._stop_after = stop_after
        self._lock = threading.Lock()
        self._next = 0
        # Kinds of the no-answer failures since the last answer, in completion order.
        self._streak: Counter[str] = Counter()
        self.stop = threading.Event()
        self.elapsed: list[float] = []
        self.by_class: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.reason: str | None = None
        self.failure: BaseException | None = None
        self.more_failures = 0

    def _take(self) -> int | None:
        with self._lock:
            if self.stop.is_set() or self._next >= self._n:
                return None
            self._next += 1
            return self._next - 1

    def work(self) -> None:
        while (i := self._take()) is not None:
            try:
                exchange = self._send(i)
            except BaseException as exc:  # a harness bug, not the receiver's: run_load re-raises it
                self._fail(exc)
                return
            self._record(exchange)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = exc
            else:
                self.more_failures += 1
            self.stop.set()

    def _record(self, exchange: transport.Exchange) -> None:
        with self._lock:
            self.elapsed.append(exchange.elapsed)
            self.by_class[status_class(exchange)] += 1
            kind = exchange.error.kind if exchange.error is not None else None
            if kind is not None:
                self.errors[kind] += 1
            if exchange.response is not None:
                self._streak.clear()
            elif kind in NO_ANSWER_KINDS:
                self._streak[kind] += 1
                if self._streak.total() >= self._stop_after and self.reason is None:
                    kinds = ", ".join(f"{k} {c}" for k, c in self._streak.most_common())
                    self.reason = (
                        f"the receiver looks hung or unreachable: {self._streak.total()} deliveries in a row got "
                        f"no answer ({kinds})"
                    )
                    self.stop.set()


def run_load(
    send: Callable[[int], transport.Exchange],
    n: int,
    concurrency: int,
    *,
    stop_after_timeouts: int | None = None,
) -> LoadResult:
    """Call ``send(i)`` for ``i`` in ``range(n)``, at most ``concurrency`` at a time, and measure.

    Stops starting deliveries after ``stop_after_timeouts`` (default ``max(3, concurrency)``) exchanges in a
    row, in completion order, failed with a :data:`NO_ANSWER_KINDS` error; any response resets the count.
    The default lets one whole round of in-flight deliveries time out before judging the receiver hung, since
    a busy receiver can drop a few under load. Deliveries in flight then end within their deadline.

    An exception from ``send`` is a harness bug: no delivery starts after it, and the first one is raised
    once the deliveries in flight have ended. On KeyboardInterrupt (or any exception in the waiting thread)
    nothing new starts and it propagates at once; the workers are daemon threads, each ending with its
    exchange in flight, so none outlives the interpreter.
    """
    check_plan(n, concurrency)
    workers = min(concurrency, n)
    stop_after = max(3, workers) if stop_after_timeouts is None else stop_after_timeouts
    if stop_after < 1:
        raise ValueError(f"stop_after_timeouts must be at least 1, not {stop_after}")
    run = _Run(send, n, stop_after)
    # One worker per slot, pulling the next index: never more than ``workers`` deliveries pending at once.
    threads = [threading.Thread(target=run.work, name=f"webhook-load-{k}", daemon=True) for k in range(workers)]
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)  # a short wait, so Ctrl-C is seen at once on every platform
    except BaseException:
        run.stop.set()
        raise
    elapsed = time.monotonic() - started
    if run.failure is not None:
        if run.more_failures:
            run.failure.add_note(f"{run.more_failures} more load deliveries raised too")
        raise run.failure
    sent = len(run.elapsed)
    stopped = None
    if sent < n:
        stopped = f"{run.reason}, so the other {n - sent} were not sent"
    return LoadResult(
        planned=n,
        sent=sent,
        concurrency=workers,
        elapsed=elapsed,
        throughput=sent / elapsed if elapsed > 0 else 0.0,
        latency=Latency.of(run.elapsed),
        by_class={c: run.by_class[c] for c in CLASSES},
        errors=dict(sorted(run.errors.items())),
        stopped=stopped,
    )


def deliveries(url: str, secret: Secret) -> Callable[[int], transport.Request]:
    """The ``i``-th load delivery: a :data:`EVENT` with the right secret, its own site and a fresh ``modified``,
    so a receiver that deduplicates does not collapse them. Built on demand: 10 000 bodies are not kept."""
    header = right_secret(secret)

    def build(i: int) -> transport.Request:
        site = f"load-{i}.example.com"
        request = delivery(url, EVENT, header, data=fresh(EVENT, offset=i, name=site, host_name=site))
        return replace(request, description=f"load delivery {i}: {request.description}")

    return build
