"""What a fleet run found, as data: one :class:`TargetResult` per target, each with its whole run report inside.

A target is checked in a process of its own (``check-many``) or by an RQ worker (``--queue``), so its report
arrives as the JSON form of :class:`~harness.output.report.RunReport` (``RunReport.to_dict()``), already masked
with that target's secret; :func:`harness.run.fleet.cross_masked` masks the other targets' secrets in it.
The renderers (``harness.output.matrix``) read a :class:`FleetReport`: targets as rows, requirements as columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import harness
from harness.output.report import WORST_FIRST, Outcome, Status

__all__ = ["FLEET_FORMAT", "FleetReport", "TargetResult", "requirement_outcomes"]

FLEET_FORMAT = 1
Mode = Literal["local", "queue"]


@dataclass
class TargetResult:
    """One target's run, as the matrix shows it; ``report`` is its whole run report (None when it never ran)."""

    #: The target's place in the targets file (1 for the first target), and its row in the matrix.
    index: int
    #: The URL, masked (a password in it never shows).
    url: str
    #: The name of the environment variable holding its secret; empty for a webhook without one. Never the value.
    secret_env: str
    ready: bool
    status: Status
    #: The target's verdict line, as ``webhook-conformance check`` prints it last.
    verdict: str
    #: MUST requirements that failed: what keeps the Cloud from activating or delivering to it.
    failed: list[str]
    #: SHOULD requirements that failed (they fail the run only with --strict).
    should_failed: list[str]
    #: What ``webhook-conformance check`` on this target alone would exit with (harness.config.exitcodes).
    exit_code: int
    #: The worst outcome of each requirement's checks, by requirement id, in catalogue order.
    requirements: dict[str, Outcome] = field(default_factory=dict)
    #: Why there is no verdict from a run: a worker without the secret, a process that died, a job never done.
    problem: str | None = None
    #: Which machine and process checked it: ``host:pid`` of the worker (or of the local process).
    worker: str = ""
    elapsed_s: float = 0.0
    report: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetResult:
        return cls(**data)


@dataclass
class FleetReport:
    """Every target's result, in the targets file's order."""

    targets: list[TargetResult]
    #: Where the targets came from, and how they were run.
    source: str
    mode: Mode
    #: The settings every target was checked with, as flags (no secret in them).
    settings: str
    started: str
    finished: str = ""
    #: The fleet's exit code: 0 all READY, 1 any NOT READY, 69 any unreachable and none failed...
    exit_code: int = 0
    #: The last line: how many targets are ready.
    verdict: str = ""
    harness_version: str = harness.__version__

    @property
    def ready(self) -> bool:
        return bool(self.targets) and all(t.ready for t in self.targets)

    def counts(self) -> dict[Status, int]:
        """Targets by status, in the order the summary names them."""
        order: tuple[Status, ...] = ("READY", "NOT READY", "PARTIAL RUN", "NO VERDICT")
        return {status: sum(t.status == status for t in self.targets) for status in order}

    def to_dict(self) -> dict[str, Any]:
        """The fleet report as JSON-ready data, in the shape of ``schemas/fleet-report.schema.json``."""
        return {
            "format": FLEET_FORMAT,
            "harness_version": self.harness_version,
            "source": self.source,
            "mode": self.mode,
            "settings": self.settings,
            "started": self.started,
            "finished": self.finished,
            "ready": self.ready,
            "exit_code": self.exit_code,
            "verdict": self.verdict,
            "counts": self.counts(),
            "targets": [t.to_dict() for t in self.targets],
        }


def requirement_outcomes(records: Sequence[Mapping[str, Any]], order: Sequence[str]) -> dict[str, Outcome]:
    """The worst outcome of each requirement's checks (one failed check fails the requirement), in ``order``
    (the catalogue's), then any id the catalogue does not know, in run order."""
    worst: dict[str, Outcome] = {}
    for record in records:
        rid, outcome = record["requirement"], record["outcome"]
        if rid not in worst or WORST_FIRST.index(outcome) < WORST_FIRST.index(worst[rid]):
            worst[rid] = outcome
    ids = [rid for rid in order if rid in worst] + [rid for rid in worst if rid not in order]
    return {rid: worst[rid] for rid in ids}
