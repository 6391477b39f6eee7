"""Writing the reports a run asked for, and the job summary on GitHub Actions."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping

from harness.config.settings import Settings
from harness.output import render
from harness.output.report import RunReport

__all__ = ["write_reports"]


def write_reports(report: RunReport, settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """Write the report files asked for, and the job summary on GitHub Actions; one line per file, to print."""
    writers: dict[str, Callable[[RunReport], str]] = {
        "report-json": lambda r: json.dumps(r.to_json(), indent=2) + "\n",
        "report-md": render.markdown,
        "report-html": render.html,
    }
    # GitHub Actions shows this file on the run's page; it is appended to, as other steps may write it too.
    summary = environ.get("GITHUB_STEP_SUMMARY")
    lines = []
    for kind, path in settings.reports().items():
        if summary and kind == "report-md" and os.path.abspath(path) == os.path.abspath(summary):
            continue  # --webhook-report-md "$GITHUB_STEP_SUMMARY": appended below, not written over
        lines.append(_write(path, writers[kind](report), append=False))
    if summary:
        lines.append(_write(summary, render.markdown(report), append=True))
    return lines


def _write(path: str, text: str, *, append: bool) -> str:
    try:
        with open(path, "a" if append else "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        return f"webhook conformance: could not write {path}: {exc.strerror or exc}"
    return f"webhook conformance: {'summary appended to' if append else 'report written to'} {path}"
