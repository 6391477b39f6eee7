"""Reports from real runs: JSON valid against its schema, Markdown in the job summary, HTML offline."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import html5lib
import pytest
from jsonschema import Draft202012Validator

from conftest import SuiteRun, free_port
from gallery import SECRET, Handler, answers_json, compares_case_insensitively, correct
from harness.config.exitcodes import ExitCode
from harness.judging.catalogue import catalogue
from harness.payloads import schemas

RunSuite = Callable[..., SuiteRun]
Serve = Callable[[Handler], str]
REPORTS = ("--webhook-report-json=r.json", "--webhook-report-md=r.md", "--webhook-report-html=r.html")


def load_reports(root: Path) -> tuple[dict[str, Any], str, str]:
    return (
        json.loads((root / "r.json").read_text()),
        (root / "r.md").read_text(),
        (root / "r.html").read_text(),
    )


def assert_valid_json_report(report: dict[str, Any]) -> None:
    validator = Draft202012Validator(schemas.load("report"), format_checker=Draft202012Validator.FORMAT_CHECKER)
    validator.validate(report)


def test_ready_run_writes_three_valid_reports(serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    run = run_suite("--target-url", serve(correct), *REPORTS, secret=SECRET)
    assert run.ret == ExitCode.OK
    report, markdown, html = load_reports(pytester.path)
    assert_valid_json_report(report)
    assert report["verdict"]["status"] == "READY"
    assert report["verdict"]["ready"] is True
    assert len(report["records"]) == 130
    assert {r["requirement"] for r in report["records"]} == set(catalogue())
    # These judge the session's exchanges (or the URL), so they have none of their own.
    whole_session = ("URL-1", "LEAK-1", "LEAK-2", "REDIR-1", "DLV-7", "TLS-2", "SRV-1")
    single = [r for r in report["records"] if r["outcome"] == "passed" and r["requirement"] not in whole_session]
    assert all(r["exchange"] for r in single)
    assert markdown.lstrip().splitlines()[0].count("READY") == 1
    assert_valid_offline_html(html, report)
    for name in ("r.json", "r.md", "r.html"):
        assert f"webhook conformance: report written to {name}" in run.output


def test_failing_run_reports_failures_with_exchange_and_reproduction(
    serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester
) -> None:
    run_suite("--target-url", serve(compares_case_insensitively), *REPORTS, secret=SECRET)
    report, markdown, html = load_reports(pytester.path)
    assert_valid_json_report(report)
    assert report["verdict"]["status"] == "NOT READY"
    assert report["verdict"]["must_failed"] == ["AUTH-1", "AUTH-2"]
    failed = [r for r in report["records"] if r["outcome"] == "failed"]
    assert len(failed) == 5
    for record in failed:
        assert record["exchange"]["status"] == 200
        assert " && curl -sS -i -g --http1.1" in record["exchange"]["curl"]
        assert "tr a-zA-Z A-Za-z" in record["exchange"]["curl"]
        assert record["message"].startswith(record["requirement"])
    assert markdown.index("AUTH-1") < markdown.index("HS-1")  # failures first
    assert_valid_offline_html(html, report)


def test_should_findings_are_counted_apart(serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    run_suite("--target-url", serve(answers_json), *REPORTS, secret=SECRET)
    report, _, _ = load_reports(pytester.path)
    assert_valid_json_report(report)
    assert report["verdict"] == {
        "status": "READY",
        "ready": True,
        "must_failed": [],
        "should_failed": ["HS-3", "EVT-2"],
        "line": report["verdict"]["line"],
    }
    assert {r["outcome"] for r in report["records"]} >= {"should-failed", "passed", "skipped"}


def test_unreachable_target_reports_no_verdict(run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    run = run_suite("--target-url", f"http://127.0.0.1:{free_port()}/webhook", *REPORTS)
    assert run.ret == ExitCode.TARGET_UNREACHABLE
    report, markdown, html = load_reports(pytester.path)
    assert_valid_json_report(report)
    assert report["verdict"]["status"] == "NO VERDICT"
    assert report["setup_error"].startswith("cannot reach the target")
    assert report["records"] == []
    assert "cannot reach the target" in markdown
    assert_valid_offline_html(html, report)


def test_partial_run_is_not_ready(run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    run_suite("-k", "HS", *REPORTS)
    report, _, _ = load_reports(pytester.path)
    assert_valid_json_report(report)
    assert report["verdict"]["status"] == "PARTIAL RUN"
    assert report["verdict"]["ready"] is False


@pytest.mark.parametrize("as_report_too", [False, True], ids=["summary", "report-md-is-the-summary"])
def test_markdown_summary_is_appended_once_for_github_actions(
    run_suite: RunSuite, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, as_report_too: bool
) -> None:
    summary = pytester.path / "step_summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # Pointing --webhook-report-md at the summary too must neither wipe earlier steps nor write twice.
    run = run_suite(*([f"--webhook-report-md={summary}"] if as_report_too else []))
    text = summary.read_text()
    assert text.startswith("# earlier step\n")
    assert text.count("READY for activation") == 1
    assert f"webhook conformance: summary appended to {summary}" in run.output


def test_url_the_dashboard_refuses_is_warned_about(
    serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester
) -> None:
    run = run_suite("--target-url", serve(correct), "--webhook-report-json=r.json", secret=SECRET)
    assert "warning: the Cloud's dashboard would refuse this URL: the host 127.0.0.1" in run.output
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["url_warnings"]


def test_verdict_is_the_last_line(serve: Serve, run_suite: RunSuite) -> None:
    run = run_suite("--target-url", serve(compares_case_insensitively), secret=SECRET)
    lines = [line for line in run.result.outlines if line.strip()]
    assert lines[-1].startswith("NOT READY for activation: AUTH-1, AUTH-2 failed.")
    assert re.match(r"=+ \d+ failed", lines[-3])


def test_report_in_a_missing_directory_is_a_usage_error(run_suite: RunSuite) -> None:
    run = run_suite("--webhook-report-json=no/such/dir/r.json")
    assert run.ret == ExitCode.USAGE_ERROR
    assert "the directory 'no/such/dir' does not exist" in run.output


def assert_valid_offline_html(html: str, report: dict[str, Any]) -> None:
    html5lib.HTMLParser(strict=True).parse(html)  # raises on any parse error
    for record in report["records"]:
        assert record["nodeid"] in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert "url(" not in html


def test_setup_error_is_an_errored_case_in_junit(run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    run = run_suite("--target-url", f"http://127.0.0.1:{free_port()}/webhook", "--junitxml=out.xml")
    assert run.ret == ExitCode.TARGET_UNREACHABLE
    suite = ET.parse(pytester.path / "out.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None
    assert "cannot reach the target" in (error.get("message", "") + (error.text or ""))
