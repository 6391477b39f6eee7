"""Payloads generated from the event schemas (DLV-6), and a bounded search for one a receiver fails.

Each try is a real request to someone's receiver, so the search is deterministic for a seed, sends at most
``budget`` payloads (shrinking included), and reports only a payload that really failed when it was sent.

hypothesis and hypothesis_jsonschema are imported inside the functions: importing them would cost every
run start-up time, and only DLV-6 needs them.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urldefrag, urljoin

from harness.payloads.events import DOCUMENT_EVENTS, slug
from harness.payloads.schemas import load, schema_dir, schema_files

if TYPE_CHECKING:
    from hypothesis import settings
    from hypothesis.strategies import SearchStrategy

__all__ = ["Exploration", "cloud_shaped_schema", "explore", "payloads"]

T = TypeVar("T")

#: Keywords that constrain nothing; dropped so the generator sees only what does.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "examples", "default"})

#: Frappe's Int is a signed 32-bit column (int(11)): the sender cannot send a larger integer, and an
#: unbounded one would fail receivers that store it in an INTEGER column, for a value the Cloud never sends.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

# ---------------------------------------------------------------------------------------------------------
# The schema


def cloud_shaped_schema(event: str) -> dict[str, Any]:
    """The ``data`` schema of a document event, self-contained and closed to what today's sender sends.

    Every ``$ref`` is inlined, every listed property (the 8 Frappe default fields included) is required,
    no other is allowed, integers stay within Frappe's Int, and annotations are dropped. Raises KeyError
    for an event that is not a document event. A fresh copy: callers may change it.
    """
    return copy.deepcopy(_cloud_shaped(event))


@cache
def _cloud_shaped(event: str) -> dict[str, Any]:
    if event not in DOCUMENT_EVENTS:
        raise KeyError(f"no document event {event!r}: one of {', '.join(DOCUMENT_EVENTS)}")
    schema = load(f"events/{slug(event)}")
    closed: dict[str, Any] = _close(_inline(schema, schema["$id"]))
    return closed


@cache
def _documents() -> dict[str, Mapping[str, Any]]:
    # Every shipped schema by its $id: the base its relative references resolve against.
    names = (str(path.relative_to(schema_dir())).removesuffix(".schema.json") for path in schema_files())
    return {load(name)["$id"]: load(name) for name in names}


def _inline(node: Any, base: str) -> Any:
    """``node`` without annotations, each ``$ref`` replaced by its target merged with the keywords beside it."""
    if isinstance(node, list):
        return [_inline(item, base) for item in node]
    if not isinstance(node, Mapping):
        return node
    own = {key: _inline(value, base) for key, value in node.items() if key not in {*_ANNOTATIONS, "$ref", "$defs"}}
    if "$ref" not in node:
        return own
    uri, fragment = urldefrag(urljoin(base, node["$ref"]))
    target: Any = _documents()[uri]
    for part in fragment.split("/")[1:]:
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return _merge(_inline(target, uri), own)


def _merge(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Both schemas at once, for the keywords the shipped schemas combine; any other clash is refused, not guessed."""
    merged = dict(first)
    for key, value in second.items():
        if key not in merged or merged[key] == value:
            merged[key] = value
        elif key == "properties":
            mine = merged[key]
            merged[key] = {**mine, **{k: _merge(mine[k], v) if k in mine else v for k, v in value.items()}}
        elif key == "required":
            merged[key] = [*merged[key], *(k for k in value if k not in merged[key])]
        else:
            raise ValueError(f"cannot merge {key!r}: {merged[key]!r} and {value!r}")
    return merged


def _close(node: Any) -> Any:
    if isinstance(node, list):
        return [_close(item) for item in node]
    if not isinstance(node, dict):
        return node
    closed = {key: _close(value) for key, value in node.items()}
    if "properties" in closed:
        # Today's sender sends every listed key, and no other.
        closed["required"] = list(closed["properties"])
        closed["additionalProperties"] = False
    types = closed.get("type")
    if types == "integer" or (isinstance(types, list) and "integer" in types):
        closed["minimum"] = max(closed.get("minimum", _INT_MIN), _INT_MIN)
        closed["maximum"] = min(closed.get("maximum", _INT_MAX), _INT_MAX)
    return closed


# ---------------------------------------------------------------------------------------------------------
# The payloads


def payloads(event: str) -> SearchStrategy[dict[str, Any]]:
    """A hypothesis strategy for the ``data`` of a document event, from :func:`cloud_shaped_schema`.

    Every payload validates against the event's schema and encodes with ``json.dumps(allow_nan=False)``;
    text is UTF-8 without lone surrogates or NUL. Keys come in the schema's order, which is the sender's.
    Datetimes, dates and durations are real ones, rendered with ``str()`` like the sender renders them.
    """
    import hypothesis

    with _isolated():
        # Cached per hypothesis module: pytester's in-process runs unload and re-import it, and a strategy of
        # the old module is not a SearchStrategy to the new one.
        return _payloads(event, id(hypothesis))


@cache
def _payloads(event: str, generation: int) -> SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    schema = _cloud_shaped(event)
    # A closed object whose keys are all required is a fixed dictionary. hypothesis-jsonschema 0.23.1
    # cannot draw objects with this hypothesis (it calls many().more(), which is gone): it draws the values.
    unexpected = set(schema) - {"type", "properties", "required", "additionalProperties"}
    if schema.get("type") != "object" or unexpected:
        raise ValueError(f"{event}: keywords a fixed dictionary would ignore: {sorted(unexpected)}")
    values = _rendered_values(generation)
    fields = {key: _field(key, value, values) for key, value in schema["properties"].items()}
    order = tuple(fields)

    def ordered(data: dict[str, Any]) -> dict[str, Any]:
        # fixed_dictionaries draws its keys in a shuffled order.
        return {key: data[key] for key in order}

    return st.fixed_dictionaries(fields).map(ordered)


def _field(key: str, schema: dict[str, Any], values: Mapping[str, SearchStrategy[str]]) -> SearchStrategy[Any]:
    from hypothesis import strategies as st
    from hypothesis_jsonschema import from_schema

    rendered = values.get(schema.get("pattern", ""))
    if rendered is None:
        # utf-8: no lone surrogates (the Cloud's database is utf8mb4); no NUL, which it cannot store either.
        return from_schema(schema, allow_x00=False, codec="utf-8")
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if set(schema) - {"type", "pattern", "format"} or set(types) - {"string", "null"}:
        raise ValueError(f"{key}: keywords a rendered value would ignore: {schema}")
    return st.none() | rendered if "null" in types else rendered


@cache
def _rendered_values(generation: int) -> dict[str, SearchStrategy[str]]:
    """Strategies for the common value types, by their pattern.

    The patterns admit what the sender never renders ("0000-01-01", November 31, "99:00:00"), which a
    receiver parsing ``modified`` rightly rejects: the sender renders real values with ``str()``.
    """
    from hypothesis import strategies as st

    defs = load("common")["$defs"]
    # Dates a record of the Cloud can hold (saved since the platform exists, trial ends a few years out),
    # not MariaDB's whole range: a receiver storing them in a TIMESTAMP column is right to expect these.
    # Durations: MariaDB's TIME range.
    low, high = dt.datetime(2015, 1, 1), dt.datetime(2035, 12, 31, 23, 59, 59, 999999)
    span = dt.timedelta(hours=838, minutes=59, seconds=59)
    return {
        defs["datetime"]["pattern"]: st.datetimes(low, high).map(str),
        defs["date"]["pattern"]: st.dates(low.date(), high.date()).map(str),
        defs["timedelta"]["pattern"]: st.timedeltas(-span, span).map(str),
    }


# ---------------------------------------------------------------------------------------------------------
# The search


@dataclass(frozen=True)
class Exploration(Generic[T]):
    """What :func:`explore` found."""

    #: How many times ``send`` was called.
    sent: int
    #: ``send``'s result for ``payload``, from its last send; None when no payload failed.
    failure: T | None
    #: The smallest failing payload found, as it was sent; None when none failed.
    payload: dict[str, Any] | None
    #: The budget refused a send, so the search stopped early; ``payload`` is still a real failure.
    budget_exhausted: bool


class _FailedError(Exception):
    """Tells hypothesis the example failed; carries the send it stands for."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class _Stop(BaseException):
    """Stops hypothesis at once: not an ``Exception``, so it is not taken for a failing example."""


@dataclass(frozen=True)
class _Sent(Generic[T]):
    payload: dict[str, Any]
    result: T
    failed: bool


def explore(
    event: str,
    send: Callable[[dict[str, Any]], T],
    failed: Callable[[T], bool],
    *,
    examples: int,
    seed: int = 0,
    budget: int | None = None,
) -> Exploration[T]:
    """Send up to ``examples`` generated payloads of ``event``; shrink the first one ``failed`` judges failing.

    ``send`` gets a copy of each payload. ``budget`` (default ``examples + 200``) caps the calls of ``send``,
    shrinking and hypothesis's final replay of the smallest failure included. Past it nothing is sent: a
    payload sent before is answered from its recorded result, any other stops the search, which then
    reports the smallest failing payload sent. An exception from ``send`` or ``failed`` stops the search and
    propagates; it never counts as a failure. The same seed sends the same payloads in the same order.
    Nothing is printed, and no ``.hypothesis`` folder is written to the working directory.
    """
    from hypothesis import given
    from hypothesis import seed as seeded
    from hypothesis.errors import Flaky

    if examples < 1:
        raise ValueError(f"examples must be at least 1, not {examples}")
    limit = examples + 200 if budget is None else budget
    if limit < 0:
        raise ValueError(f"budget must not be negative, not {limit}")
    sends: list[_Sent[T]] = []
    last_send: dict[str, int] = {}  # canonical body -> index of its last send
    last_failure: dict[str, int] = {}  # canonical body -> index of its last failing send
    errors: list[Exception] = []
    refused = False

    def attempt(payload: dict[str, Any]) -> None:
        nonlocal refused
        body = _canonical(payload)
        if len(sends) < limit:
            try:
                # A copy: the caller may change what it gets, and the report must show what was sent.
                result = send(copy.deepcopy(payload))
                failing = bool(failed(result))
            except Exception as error:
                errors.append(error)
                raise _Stop from None
            sends.append(_Sent(payload, result, failing))
            last_send[body] = len(sends) - 1
            if failing:
                last_failure[body] = len(sends) - 1
        elif body not in last_send:
            refused = True
            raise _Stop
        index = last_send[body]
        if sends[index].failed:
            # One raise site: hypothesis tells bugs apart by where they were raised.
            raise _FailedError(index)

    with _isolated():
        test = seeded(seed)(_settings(examples)(given(payloads(event))(attempt)))
        final: int | None = None
        try:
            test()
        except _FailedError as failure:
            final = failure.index
        except (_Stop, Flaky):
            # Stopped, or the receiver answered the final replay differently: judge from what was sent.
            pass
    if errors:
        raise errors[0]
    if final is None:
        failures = [i for i, sent in enumerate(sends) if sent.failed]
        final = min(failures, key=lambda i: _size(sends[i].payload), default=None)
    if final is None:
        return Exploration(sent=len(sends), failure=None, payload=None, budget_exhausted=refused)
    # Its last failing send: a flaky receiver may have passed it since.
    chosen = sends[last_failure[_canonical(sends[final].payload)]]
    payload = copy.deepcopy(chosen.payload)
    return Exploration(sent=len(sends), failure=chosen.result, payload=payload, budget_exhausted=refused)


def _canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, allow_nan=False, sort_keys=True)


def _size(payload: dict[str, Any]) -> tuple[int, str]:
    # Smallest first: the shortest body, then the first in text order, so the choice is deterministic.
    text = json.dumps(payload, allow_nan=False)
    return len(text), text


def _settings(examples: int) -> settings:
    from hypothesis import settings

    return settings(**_setting_values(examples))


def _setting_values(examples: int) -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, Verbosity

    # Every setting is given, so no profile (the user's, or hypothesis's own "ci") changes a run.
    return {
        "max_examples": examples,
        "derandomize": False,  # the seed decides
        "database": None,
        "verbosity": Verbosity.quiet,
        "phases": (Phase.explicit, Phase.generate, Phase.shrink),
        "stateful_step_count": 1,
        "report_multiple_bugs": False,
        "suppress_health_check": list(HealthCheck),
        "deadline": None,  # the transport has its own
        "print_blob": False,
        "backend": "hypothesis",
    }


@contextmanager
def _isolated() -> Iterator[None]:
    """hypothesis's process-wide state, set for the kit and restored after.

    Its caches go to the user's cache folder, not to ``.hypothesis/`` in the working directory (the UTF-8
    table alone takes 2 s to build). Its "local constants" (strings and numbers it collects from every
    loaded module that is not installed) are switched off: they make payloads depend on what else the
    process imported, and would send text from the user's own code to the receiver.
    """
    from hypothesis import configuration
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    home = configuration.storage_directory(intent_to_write=False).home_directory
    local = getattr(providers, "_get_local_constants", None)
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        configuration.set_hypothesis_home_dir(_cache_dir())
    if local is not None:
        providers._get_local_constants = Constants
    _clear_constants(providers)
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(home)
        if local is not None:
            providers._get_local_constants = local
        _clear_constants(providers)


def _clear_constants(providers: Any) -> None:
    # hypothesis caches the constants a kind of draw may use, local ones included.
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if cache is not None:
        cache.cache.clear()


@cache
def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    try:
        root = Path(base) if base else Path.home() / ".cache"
    except RuntimeError:
        # No home folder: a private one for this process (a shared one could be planted by another user).
        root = Path(tempfile.mkdtemp(prefix="cloud-webhook-conformance-"))
    return root / "cloud-webhook-conformance" / "hypothesis"
