"""Writing the reports a run asked for, and the job summary on GitHub Actions."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping

from harness.config.settings import Settings
from harness.output import matrix, render
from harness.output.fleet import FleetReport
from harness.output.report import RunReport

__all__ = ["write_fleet_reports", "write_reports"]


def write_reports(report: RunReport, settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Write the report files asked for, and the job summary on GitHub Actions; one line per file, to print."""
    writers: dict[str, Callable[[], str]] = {
        "report-json": lambda: json.dumps(report.to_json(), indent=2) + "\n",
        "report-md": lambda: render.markdown(report),
        "report-html": lambda: render.html(report),
    }
    return _write_all(writers, settings, environ)


def write_fleet_reports(fleet: FleetReport, settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """The same for a fleet: its JSON (every target's report inside), and the matrix as Markdown and HTML."""
    writers: dict[str, Callable[[], str]] = {
        "report-json": lambda: json.dumps(fleet.to_dict(), indent=2) + "\n",
        "report-md": lambda: matrix.markdown(fleet),
        "report-html": lambda: matrix.html(fleet),
    }
    return _write_all(writers, settings, environ)


def _write_all(writers: Mapping[str, Callable[[], str]], settings: Settings, environ: Mapping[str, str]) -> list[str]:
    # GitHub Actions shows this file on the run's page; it is appended to, as other steps may write it too.
    summary = environ.get("GITHUB_STEP_SUMMARY")
    lines = []
    for kind, path in settings.reports().items():
        if summary and kind == "report-md" and os.path.abspath(path) == os.path.abspath(summary):
            continue  # --webhook-report-md "$GITHUB_STEP_SUMMARY": appended below, not written over
        lines.append(_write(path, writers[kind](), append=False))
    if summary:
        lines.append(_write(summary, writers["report-md"](), append=True))
    return lines


def _write(path: str, text: str, *, append: bool) -> str:
    try:
        with open(path, "a" if append else "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        return f"webhook conformance: could not write {path}: {exc.strerror or exc}"
    return f"webhook conformance: {'summary appended to' if append else 'report written to'} {path}"
