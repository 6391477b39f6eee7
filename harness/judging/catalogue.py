"""The requirement catalogue: stable ids, levels and one-line statements, kept as data.

The data lives beside its schema (``schemas/requirements.json``, ``schemas/requirements.schema.json``),
and ships inside the installed library: the library owns its catalogue, not the test package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from harness.payloads.schemas import schema_dir

__all__ = ["Requirement", "catalogue", "requirement"]

Level = Literal["MUST", "SHOULD", "INFO"]
JudgedWith = Literal["a-secret", "no-secret"]
Activation = Literal["validate", "activate"]
Reproduce = Literal["save-answer", "burst"]


@dataclass(frozen=True)
class Requirement:
    """One entry of the catalogue; the fields are those of ``schemas/requirements.schema.json``."""

    id: str
    level: Level
    statement: str
    source: str
    fix: str
    #: The refusals that meet it, the preferred first (a requirement met by one of several statuses).
    accepts: tuple[int, ...] = ()
    #: The hint shown when the answer is none of ``accepts``.
    hint: str = ""
    #: Judged only with a secret configured, or only without one.
    judged_with: JudgedWith | None = None
    #: Its role in activation: a failure means the dashboard never activates the webhook.
    activation: Activation | None = None
    #: How its reproduction runs, when not as one plain request.
    reproduce: Reproduce | None = None

    @property
    def title(self) -> str:
        """``AUTH-2 (MUST) With a secret configured, ...``: how a requirement is named in output."""
        return f"{self.id} ({self.level}) {self.statement}"


def _catalogue_path() -> Path:
    return schema_dir() / "requirements.json"


@cache
def catalogue() -> Mapping[str, Requirement]:
    """Every requirement by id, in catalogue order."""
    data = json.loads(_catalogue_path().read_text(encoding="utf-8"))
    return {
        entry["id"]: Requirement(**{**entry, "accepts": tuple(entry.get("accepts", ()))})
        for entry in data["requirements"]
    }


def requirement(requirement_id: str) -> Requirement:
    """The requirement with this id; a KeyError names the id when it is not in the catalogue."""
    try:
        return catalogue()[requirement_id]
    except KeyError:
        raise KeyError(f"{requirement_id!r} is not in the requirement catalogue") from None
