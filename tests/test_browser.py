"""The HTML report in a real browser: headless Chromium loads it offline and shows every record."""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SuiteRun
from gallery import SECRET, Handler, redirects_to_another_origin

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# No network, no first-run chores: the report must render from the file alone.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


def find_browser() -> str:
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:  # a failure, not a skip: CI installs Chromium so that this runs
        pytest.fail("this test needs Chromium (Debian: apt-get install chromium)")
    return found


def test_html_report_renders_offline_with_every_record(
    serve: Callable[[Handler], str], run_suite: Callable[..., SuiteRun], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    run_suite(
        "--target-url",
        serve(redirects_to_another_origin),
        "--webhook-report-html=r.html",
        "--webhook-report-json=r.json",
        secret=SECRET,
    )
    report = json.loads((pytester.path / "r.json").read_text())
    page = (pytester.path / "r.html").resolve()
    shown = subprocess.run(
        [find_browser(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    assert report["verdict"]["line"].startswith(
        "NOT READY for activation: HS-1, HS-2, EVT-1, EVT-3, DLV-1, DLV-2, DLV-3"
    )
    assert html.escape(report["verdict"]["line"], quote=False) in shown
    for record in report["records"]:
        assert record["nodeid"] in shown
    assert shown.count("<details") >= len([r for r in report["records"] if r["outcome"] == "failed"])
    assert SECRET not in shown
