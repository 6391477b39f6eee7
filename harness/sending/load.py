"""Opt-in load runs: N deliveries at bounded concurrency, and the latency summary a SHOULD check reports.

Off by default (only ``--webhook-load`` starts one): a conformance tool pointed at someone else's URL must
never be a load generator by surprise. Hence the hard caps, and the early stop once the receiver looks hung
or out of reach: a dead receiver costs about two deadlines, not N x timeout / C.

A load run keeps no exchanges, only their timings, classes and error kinds: 10 000 bodies of up to 64 KiB
each would be 640 MB. So whole-session checks (LEAK-1, REDIR-1) do not judge load deliveries.

Two ways of sending, one bookkeeping (:class:`_Tally`: the caps, the early stop, the counts, the progress):

- :func:`drill` sends the Cloud's deliveries itself, from one event loop (uvloop when installed) on a thread of
  its own. Each delivery is a new TCP (and TLS) connection carrying the bytes ``transport.send`` would write,
  captured once from urllib3 itself (only the body and its Content-Length change); the answer's status line and
  head are parsed with http.client's rules and its body read up to ``max_response_bytes``, not decoded, since
  only the status class counts. Threads around ``transport.send`` spent ~1.2 ms of Python per delivery
  (requests' preparation, urllib3, http.client), and the GIL serialises that work: ~800 deliveries/s at most.
  What the fast path does not do as the Cloud would goes to ``transport.send``: the whole drill when a proxy
  from the environment applies (or the request cannot be prepared), a delivery answered with a redirect (sent
  again, so the receiver sees that POST twice, and followed as the Cloud's requests follows it).
- :func:`run_load` calls any ``send(i)`` from one thread per slot: the drill's fallback, and tests' fakes.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from harness.config.secret import Secret
from harness.payloads.deliveries import delivery, encode, right_secret, sent_now
from harness.payloads.schemas import sample_data
from harness.wire import transport

__all__ = [
    "CLASSES",
    "EVENT",
    "MAX_CONCURRENCY",
    "MAX_DELIVERIES",
    "NO_ANSWER_KINDS",
    "PROGRESS_INTERVAL",
    "Latency",
    "LoadResult",
    "Progress",
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

#: Seconds between two progress reports, at least.
PROGRESS_INTERVAL = 0.1


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

    def describe(self, nouns: tuple[str, str] = ("delivery", "deliveries")) -> str:
        """``p50 12 ms, p95 30 ms, p99 41 ms, max 55 ms over 120 deliveries`` (``nouns``: singular, plural)."""
        noun = nouns[0] if self.count == 1 else nouns[1]
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
    return _class(exchange.response.status)


def _class(status: int) -> str:
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


# --- progress and the bookkeeping both ways share ------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A load in progress: reported at most every :data:`PROGRESS_INTERVAL` s, and once more at the end."""

    planned: int
    #: Deliveries whose exchange ended.
    sent: int
    #: Of those, the ones that got no answer (a transport error): ``by_class["no response"]``.
    errors: int
    by_class: Mapping[str, int]
    #: Seconds since the first delivery started (to the last end, in the final report).
    elapsed: float

    @property
    def rate(self) -> float:
        """Deliveries ended per second, so far."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        """``load: 1,234 of 5,000 deliveries, 812/s, 0 errors, 2xx 1,234``: the answers by class, when any."""
        answers = "".join(f", {c} {n:,}" for c in CLASSES if c != "no response" and (n := self.by_class.get(c, 0)))
        errors = "1 error" if self.errors == 1 else f"{self.errors:,} errors"
        return f"load: {self.sent:,} of {self.planned:,} deliveries, {self.rate:,.0f}/s, {errors}{answers}"


class _Tally:
    """What a load run counts, shared by its senders and the thread that waits; every change under one lock."""

    def __init__(self, n: int, stop_after: int) -> None:
        self.n = n
        self._stop_after = stop_after
        self._lock = threading.Lock()
        self._next = 0
        # Kinds of the no-answer failures since the last answer, in completion order.
        self._streak: Counter[str] = Counter()
        self.stop = threading.Event()  # start no more deliveries
        self.done = threading.Event()  # and every one started has ended
        self.elapsed: list[float] = []
        self.by_class: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.reason: str | None = None
        self.failure: BaseException | None = None
        self.more_failures = 0
        self.started = time.monotonic()
        self.ended: float | None = None

    def take(self) -> int | None:
        with self._lock:
            if self.stop.is_set() or self._next >= self.n:
                return None
            self._next += 1
            return self._next - 1

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = exc
            else:
                self.more_failures += 1
            self.stop.set()

    def record(self, seconds: float, klass: str, kind: str | None) -> None:
        """One delivery ended: its time, its :data:`CLASSES` key, and its transport error kind if it has one."""
        with self._lock:
            self.elapsed.append(seconds)
            self.by_class[klass] += 1
            if kind is not None:
                self.errors[kind] += 1
            if klass != "no response":
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

    def restart_clock(self) -> None:
        with self._lock:
            self.started = time.monotonic()

    def finish(self) -> None:
        with self._lock:
            self.ended = time.monotonic()
        self.done.set()

    def progress(self) -> Progress:
        with self._lock:
            end = self.ended if self.ended is not None else time.monotonic()
            by_class = {c: self.by_class[c] for c in CLASSES}
            return Progress(self.n, len(self.elapsed), by_class["no response"], by_class, end - self.started)

    def result(self, concurrency: int) -> LoadResult:
        elapsed = (self.ended if self.ended is not None else time.monotonic()) - self.started
        sent = len(self.elapsed)
        return LoadResult(
            planned=self.n,
            sent=sent,
            concurrency=concurrency,
            elapsed=elapsed,
            throughput=sent / elapsed if elapsed > 0 else 0.0,
            latency=Latency.of(self.elapsed),
            by_class={c: self.by_class[c] for c in CLASSES},
            errors=dict(sorted(self.errors.items())),
            stopped=f"{self.reason}, so the other {self.n - sent} were not sent" if sent < self.n else None,
        )


def _plan(n: int, concurrency: int, stop_after_timeouts: int | None) -> tuple[_Tally, int]:
    check_plan(n, concurrency)
    workers = min(concurrency, n)
    stop_after = max(3, workers) if stop_after_timeouts is None else stop_after_timeouts
    if stop_after < 1:
        raise ValueError(f"stop_after_timeouts must be at least 1, not {stop_after}")
    return _Tally(n, stop_after), workers


def _supervise(
    tally: _Tally,
    start: Callable[[], None],
    on_progress: Callable[[Progress], None] | None,
    abort: Callable[[], None] = lambda: None,
) -> None:
    """``start()`` the senders and wait, in the calling thread, for the run to end, calling ``on_progress`` there;
    then raise the first exception a delivery raised. On any exception here (Ctrl-C, or one raised by
    ``on_progress``) no delivery starts any more, ``abort()`` ends those in flight if it can, and the exception
    propagates at once."""
    try:
        start()
        while not tally.done.wait(PROGRESS_INTERVAL):  # a short wait, so Ctrl-C is seen at once on every platform
            if on_progress is not None:
                on_progress(tally.progress())
    except BaseException:
        tally.stop.set()
        abort()
        raise
    if tally.failure is not None:
        if tally.more_failures:
            tally.failure.add_note(f"{tally.more_failures} more load deliveries raised too")
        raise tally.failure
    if on_progress is not None:
        on_progress(tally.progress())


def _start_threads(tally: _Tally, send: Callable[[int], transport.Exchange], workers: int) -> None:
    """One daemon thread per slot, pulling the next index: never more than ``workers`` deliveries at once."""
    left = [workers]
    lock = threading.Lock()

    def work() -> None:
        try:
            while (i := tally.take()) is not None:
                try:
                    exchange = send(i)
                except BaseException as exc:  # a harness bug, not the receiver's: re-raised by the waiting thread
                    tally.fail(exc)
                    return
                tally.record(exchange.elapsed, status_class(exchange), exchange.error.kind if exchange.error else None)
        finally:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                tally.finish()

    for k in range(workers):
        threading.Thread(target=work, name=f"webhook-load-{k}", daemon=True).start()


def run_load(
    send: Callable[[int], transport.Exchange],
    n: int,
    concurrency: int,
    *,
    stop_after_timeouts: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> LoadResult:
    """Call ``send(i)`` for ``i`` in ``range(n)``, at most ``concurrency`` at a time, and measure.

    Stops starting deliveries after ``stop_after_timeouts`` (default ``max(3, concurrency)``) exchanges in a
    row, in completion order, failed with a :data:`NO_ANSWER_KINDS` error; any response resets the count.
    The default lets one whole round of in-flight deliveries time out before judging the receiver hung, since
    a busy receiver can drop a few under load. Deliveries in flight then end within their deadline.

    An exception from ``send`` is a harness bug: no delivery starts after it, and the first one is raised
    once the deliveries in flight have ended. On KeyboardInterrupt (or any exception in the waiting thread)
    nothing new starts and it propagates at once; the workers are daemon threads, each ending with its
    exchange in flight, so none outlives the interpreter. ``on_progress`` is as for :func:`drill`.
    """
    tally, workers = _plan(n, concurrency, stop_after_timeouts)
    _supervise(tally, lambda: _start_threads(tally, send, workers), on_progress)
    return tally.result(workers)


# --- what a load sends ---------------------------------------------------------------------------


class _Events:
    """The load's events: delivery ``i``'s data is ``fresh(EVENT, offset=i, name=site, host_name=site)``, at a
    fraction of its cost: the sample is copied once, only its date fields are re-dated each time, and the body is
    the sample's encoding with the changed values put in (tests/test_load.py checks it is ``encode``'s, byte for
    byte)."""

    def __init__(self) -> None:
        self._base = sample_data(EVENT)
        moved = sent_now(EVENT, self._base)
        self._dates = [key for key, value in self._base.items() if moved[key] != value or key == "modified"]
        changed = [*self._dates, "name", "host_name"]
        marked = encode(EVENT, {**self._base, **{key: f"@@{key}@@" for key in changed}})
        # Literal bytes at even places, the key whose encoded value goes there at odd ones.
        self._pieces: list[bytes] | None = re.split(rb'"@@([a-z_]+)@@"', marked)
        if sorted(p.decode() for p in self._pieces[1::2]) != sorted(changed):
            self._pieces = None  # a marker did not come out once, verbatim: encode each body whole

    def data(self, i: int) -> dict[str, Any]:
        return {**self._base, **self._changes(i)}

    def body(self, i: int) -> bytes:
        changes = self._changes(i)
        if self._pieces is None or not all(isinstance(v, str) for v in changes.values()):
            return encode(EVENT, {**self._base, **changes})
        return b"".join(
            _json_string(changes[piece.decode()]) if k % 2 else piece for k, piece in enumerate(self._pieces)
        )

    def _changes(self, i: int) -> dict[str, Any]:
        site = f"load-{i}.example.com"
        dates = sent_now(EVENT, {key: self._base[key] for key in self._dates}, offset=i)
        return {**dates, "name": site, "host_name": site}


def _json_string(value: str) -> bytes:
    # What json.dumps writes for a str, with its default ensure_ascii.
    return json.encoder.encode_basestring_ascii(value).encode("ascii")


def _builder(url: str, secret: Secret) -> Callable[[int], transport.Request]:
    header = right_secret(secret)
    events = _Events()

    def build(i: int) -> transport.Request:
        request = delivery(url, EVENT, header, data=events.data(i))
        return replace(request, description=f"load delivery {i}: {request.description}")

    return build


def deliveries(url: str, secret: Secret) -> Callable[[int], transport.Request]:
    """The ``i``-th load delivery: a :data:`EVENT` with the right secret, its own site and a fresh ``modified``,
    so a receiver that deduplicates does not collapse them. Built on demand: 10 000 bodies are not kept."""
    return _builder(url, secret)
