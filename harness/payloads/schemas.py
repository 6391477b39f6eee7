"""The JSON Schemas: where they live, how they reference each other, how a delivery is validated.

The files sit in ``schemas/`` at the top of a checkout and are installed as ``harness/_schemas``;
both layouts are found, so a checkout works without installing.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "delivery_errors",
    "event_schema",
    "examples",
    "load",
    "sample_data",
    "schema_dir",
    "schema_files",
    "slug",
    "validator",
]


@cache
def schema_dir() -> Path:
    """The folder holding the schemas: the installed copy, else the checkout's."""
    here = Path(__file__).resolve().parent.parent  # harness/
    for candidate in (here / "_schemas", here.parent / "schemas"):
        if (candidate / "envelope.schema.json").is_file():
            return candidate
    raise FileNotFoundError(f"no schemas found next to {here}: the installation is incomplete")


def schema_files() -> Iterator[Path]:
    """Every ``*.schema.json`` file, in a stable order."""
    yield from sorted(schema_dir().rglob("*.schema.json"))


@cache
def load(name: str) -> Mapping[str, Any]:
    """A schema by its path below the schema folder, without the suffix: ``envelope``, ``events/site-plan-change``."""
    path = schema_dir() / f"{name}.schema.json"
    schema: Mapping[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def _registry() -> Registry[Any]:
    resources: dict[str, Resource[Any]] = {}
    for path in schema_files():
        contents = json.loads(path.read_text(encoding="utf-8"))
        uri = contents.get("$id")
        if not uri or uri in resources:
            raise ValueError(f"{path}: every schema needs its own $id, and {uri!r} is missing or taken")
        resources[uri] = Resource.from_contents(contents, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resources(resources.items())
    return registry


def validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A draft 2020-12 validator that resolves references between the shipped schemas."""
    return Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def event_schema(event: str) -> Mapping[str, Any] | None:
    """The schema of ``data`` for a known event, or None for an event the Cloud does not send."""
    if event not in load("envelope")["properties"]["event"]["examples"]:  # the catalogue (harness.payloads.events)
        return None
    return load(f"events/{slug(event)}")


def slug(event: str) -> str:
    """The file-name and test-id form of an event name: ``Site Plan Change`` -> ``site-plan-change``."""
    return "-".join(event.lower().split())


def sample_data(event: str) -> dict[str, Any]:
    """The first example of an event's ``data``: the realistic payload the harness delivers."""
    schema = event_schema(event)
    if schema is None:
        raise KeyError(f"no schema for event {event!r}")
    # A deep copy: the schema is cached, and callers may change the payload they get.
    return copy.deepcopy(dict(schema["examples"][0]))


def examples(event: str) -> list[dict[str, Any]]:
    """Every example of an event's ``data``: the realistic corpus of shapes the Cloud sends (copies)."""
    schema = event_schema(event)
    if schema is None:
        raise KeyError(f"no schema for event {event!r}")
    return [copy.deepcopy(dict(example)) for example in schema["examples"]]


def delivery_errors(payload: object) -> list[str]:
    """Why a parsed delivery does not conform: the envelope first, then the ``data`` of a known event.

    An empty list means it conforms. An unknown event with a valid envelope conforms: receivers
    must acknowledge events they do not know.
    """
    errors = [_describe(e) for e in validator(load("envelope")).iter_errors(payload)]
    if errors or not isinstance(payload, dict):
        return errors
    schema = event_schema(payload["event"])
    if schema is None:
        return []
    return [_describe(e, prefix="data") for e in validator(schema).iter_errors(payload["data"])]


def _describe(error: Any, prefix: str = "") -> str:
    path = "/".join(str(p) for p in (prefix, *error.absolute_path) if p != "")
    return f"{path or '(root)'}: {error.message}"
