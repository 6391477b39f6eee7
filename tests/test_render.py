"""The Markdown and HTML reports: well-formed, offline, ordered, and proof against hostile target text."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from xml.etree import ElementTree

import html5lib
import pytest
from markdown_text import cells, fenced

from harness.output import render
from harness.output.report import CheckRecord, ExchangeRecord, RunReport, Verdict

TARGET = "http://127.0.0.1:18082/webhook"
SETTINGS = "target: http://127.0.0.1:18082/webhook; secret: [Filtered] (32 chars, from WEBHOOK_SECRET); timeout: 5 s"
#: What a hostile receiver might answer: markup, a cell break, a fence breaker, an ANSI escape, a newline.
HOSTILE = "<script>alert(1)</script> | ```` ``` `code` \x1b[31mred\r\n```\nforged line"
SECRET = "s3cr3t-never-in-a-report-0123456789"


def exchange(
    response_body: str = "OK", status: int | None = 200, error: str | None = None, path: str = ""
) -> ExchangeRecord:
    return ExchangeRecord(
        method="POST",
        url=TARGET + path,
        description="'Webhook Validate' with a wrong secret of the same length",
        request_body='{"event": "Webhook Validate", "data": {}}',
        status=status,
        reason="OK" if status else "",
        headers={"Content-Type": "text/html", "Server": HOSTILE},
        response_body=response_body,
        elapsed_ms=1.3,
        error=error,
        curl=f"curl -sS -i '{TARGET}{path}' \\\n    -H 'Content-Type: application/json' \\\n    --data-binary '{{}}'",
    )


def record(requirement: str, outcome: str, case: str = "", **fields: object) -> CheckRecord:
    levels = {"HS-3": "SHOULD", "EVT-2": "SHOULD"}
    values: dict[str, object] = {
        "nodeid": f"conformance_tests/test_x.py::test_{requirement.lower()}[{requirement}{case}]",
        "requirement": requirement,
        "level": levels.get(requirement, "MUST"),
        "statement": f"The statement of {requirement}.",
        "outcome": outcome,
        "duration_ms": 2.5,
        "fix": f"The fix for {requirement}.",
    }
    return CheckRecord(**{**values, **fields})  # type: ignore[arg-type]


def report(status: str, line: str, records: list[CheckRecord], **fields: object) -> RunReport:
    built = RunReport(target=TARGET, embedded=False, settings=SETTINGS, started="2025-01-01T00:00:00+00:00")
    built.finished, built.records = "2025-01-01T00:00:07+00:00", records
    built.verdict = Verdict(status, status == "READY", [], [], f"{line} Target: {TARGET}")  # type: ignore[arg-type]
    return replace(built, **fields)  # type: ignore[arg-type]


def judged(requirement: str, outcome: str, case: str, sent: ExchangeRecord, **fields: object) -> CheckRecord:
    """A failed check as the engine records it: expected, actual and hint apart, and a failure text that
    repeats the exchange, its time and its reproduction, as the terminal shows it."""
    values = {"expected": "401", "actual": "200 OK", "hint": f"The hint for {requirement}.", **fields}
    built = record(requirement, outcome, case, exchange=sent, reproduction=sent.curl, **values)
    message = (
        f"{built.requirement} ({built.level}) {built.statement}\nSent:     POST {sent.url}\n"
        f"Expected: {built.expected}\nActual:   {built.actual}\nTime:     7 ms\nReproduce with:\n  {sent.curl}"
    )
    return replace(built, message=message)


def ready() -> RunReport:
    records = [record(r, "passed") for r in ("HS-1", "HS-2", "HS-3", "AUTH-1", "EVT-1", "LEAK-1", "REDIR-1")]
    records.append(record("AUTH-3", "skipped", message="a secret is configured"))
    return report("READY", "READY for activation: every MUST requirement passed.", records)


def not_ready() -> RunReport:
    hostile = exchange(response_body=HOSTILE, path="/auth-1")
    reset = exchange(status=None, error="reset", path="/redir-1")
    records = [
        record("HS-1", "passed", exchange=exchange(path="/hs-1")),
        judged("HS-3", "should-failed", "", exchange("Fine", path="/hs-3"), actual="'Fine'"),
        record("AUTH-1", "passed", "-missing", exchange=exchange(path="/auth-1-missing")),
        judged("AUTH-1", "failed", "-case-changed", hostile, actual=HOSTILE, hint=HOSTILE),
        record("EVT-1", "passed"),
        # As an older report has it: the failure text alone, its reproduction at the end.
        record(
            "REDIR-1", "failed", message=f"Actual: connection reset\nReproduce with:\n  {reset.curl}", exchange=reset
        ),
        # An id the catalogue does not know, with hostile text where a cell would show it.
        record("ZZ-9", "failed", statement=HOSTILE, fix=HOSTILE, message=HOSTILE),
    ]
    line = "NOT READY for activation: AUTH-1, REDIR-1 failed; SHOULD not met: EVT-2 (1 check)."
    return report("NOT READY", line, records)


def no_verdict() -> RunReport:
    error = f"ConnectionRefused: {HOSTILE}"
    return report("NO VERDICT", "NO VERDICT: the target could not be reached.", [], setup_error=error)


def partial() -> RunReport:
    records = [record("HS-1", "passed"), record("HS-3", "should-failed", message="Actual: 'Fine'")]
    warnings = ["the URL has a query string | <b>bold</b>"]
    return report("PARTIAL RUN", "PARTIAL RUN: no MUST failed among the 2 of 10.", records, url_warnings=warnings)


REPORTS = {"ready": ready, "not-ready": not_ready, "no-verdict": no_verdict, "partial": partial}


@pytest.fixture(params=list(REPORTS))
def any_report(request: pytest.FixtureRequest) -> RunReport:
    return REPORTS[request.param]()


# --- HTML ---------------------------------------------------------------------------------------


def test_html_parses_strictly(any_report: RunReport) -> None:
    # strict=True raises on the first parse error, bad nesting and invalid characters included.
    html5lib.HTMLParser(strict=True).parse(render.html(any_report))


def test_html_holds_every_nodeid_and_the_verdict(any_report: RunReport) -> None:
    text = render.html(any_report)
    assert any_report.verdict is not None
    assert any_report.verdict.status in text
    for each in any_report.records:
        assert each.nodeid.replace("'", "&#x27;") in text


@pytest.mark.parametrize(("name", "css"), [("ready", "ok"), ("not-ready", "bad"), ("no-verdict", "warn")])
def test_html_verdict_coloured_by_status(name: str, css: str) -> None:
    assert f'class="verdict {css}"' in render.html(REPORTS[name]())


def test_html_is_offline_and_scriptless(any_report: RunReport) -> None:
    text = render.html(any_report)
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.IGNORECASE)
    assert "url(" not in text.lower()
    assert "@import" not in text.lower()


def test_html_shows_hostile_text_only_escaped() -> None:
    text = render.html(not_ready())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text
    assert "\x1b" not in text
    assert "\\x1b[31m" in text
    assert "\r" not in text


def test_html_expands_failures_with_their_exchange() -> None:
    text = render.html(not_ready())
    assert text.count('<article class="check') == 4  # AUTH-1, REDIR-1, ZZ-9, HS-3; passes get none
    assert text.count("<details>") == 1  # the table of every check, collapsed
    assert "curl -sS -i" in text
    assert "Error</dt><dd>reset" in text
    assert "Fix: The fix for AUTH-1." in text
    assert "Hint</dt><dd>The hint for HS-3." in text


def parsed(text: str) -> ElementTree.Element:
    tree: ElementTree.Element = html5lib.parse(text, namespaceHTMLElements=False)
    return tree


def test_html_failed_musts_come_first_under_the_verdict() -> None:
    body = parsed(render.html(not_ready())).find("body")
    assert body is not None
    # The verdict, links to the sections, the failed MUSTs, then the SHOULD findings, then the rest.
    assert [child.tag for child in body][:3] == ["header", "nav", "section"]
    sections = {section.get("id"): section for section in body.iter("section")}
    assert list(sections) == ["must-failed", "should-failed", "requirements", "run", "checks"]
    headings = ["".join(h3.itertext()) for h3 in sections["must-failed"].iter("h3")]
    assert headings[:2] == [
        "FAIL AUTH-1 (MUST): The statement of AUTH-1.",
        "FAIL REDIR-1 (MUST): The statement of REDIR-1.",
    ]
    assert headings[2].startswith("FAIL ZZ-9 (MUST): <script>")  # text, shown escaped
    nodeid = "conformance_tests/test_x.py::test_{}[{}]".format
    assert [code.text for code in sections["must-failed"].iter("code")] == [
        nodeid("auth-1", "AUTH-1-case-changed"),
        nodeid("redir-1", "REDIR-1"),
        nodeid("zz-9", "ZZ-9"),
    ]
    assert [code.text for code in sections["should-failed"].iter("code")] == [nodeid("hs-3", "HS-3")]


def test_html_shows_each_reproduction_once_and_the_table_links_to_it() -> None:
    shown = not_ready()
    page = parsed(render.html(shown))
    blocks = [pre.text or "" for pre in page.iter("pre")]
    for each in shown.records:
        if each.exchange is not None and each.outcome != "passed":
            # Once in all, and in its check's article: not in the failure text, not in the table.
            assert sum(each.exchange.curl in block for block in blocks) == 1, each.nodeid
    anchors = {a.get("id") for a in page.iter("article")}
    links = [a.get("href") for a in page.iter("a") if a.text and a.text.endswith("see above")]
    assert len(links) == 4
    assert {link.removeprefix("#") for link in links if link} == anchors
    table = page.find(".//section[@id='checks']")
    assert table is not None
    assert table.find(".//pre") is None
    assert table.find(".//dl") is None


def test_a_leaks_reproduction_keeps_its_note_in_both_reports() -> None:
    sent = exchange(path="/leak-1")
    leak = judged("LEAK-1", "failed", "", sent)
    note = "Reproduce with (the answer holds the secret, so it goes to leaked-response.txt)"
    leak = replace(leak, message=leak.message.replace("Reproduce with:", f"{note}:"))
    shown = report("NOT READY", "NOT READY for activation: LEAK-1 failed.", [leak])
    assert f"<dt>{note}</dt><dd><pre>\n{html.escape(sent.curl)}</pre>" in render.html(shown)
    text = render.markdown(shown)
    assert f"{note}:\n\n```sh\n{sent.curl}\n```" in text
    assert text.count(sent.curl) == 1


def test_html_setup_error_comes_right_under_the_verdict() -> None:
    body = parsed(render.html(no_verdict())).find("body")
    assert body is not None
    first = body.find("section")
    assert first is not None
    assert first.get("id") == "setup-error"
    assert "ConnectionRefused: <script>" in "".join(first.itertext())


def test_html_shows_one_time_per_exchange_and_says_which() -> None:
    text = render.html(not_ready())
    # The exchange's own time, named; not the failure text's rounding of it, nor the check's duration.
    assert text.count("<dt>Time</dt>") == 3  # the AUTH-1, REDIR-1 and HS-3 exchanges
    assert text.count("1.3 ms, from sending the request to reading its answer") == 3
    assert "elapsed_ms" in text
    assert "7 ms" not in text
    articles = text[text.index('<section id="must-failed">') : text.index('<section id="requirements">')]
    assert "2.5 ms" not in articles


def test_html_requirements_failures_first() -> None:
    text = render.html(not_ready())
    positions = [text.index(f"<tr><td>{rid}</td>") for rid in ("AUTH-1", "REDIR-1", "ZZ-9", "HS-3", "HS-1", "EVT-1")]
    assert positions == sorted(positions)


# --- Markdown -----------------------------------------------------------------------------------


def table(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.startswith("|")]


def test_markdown_verdict_line_comes_first(any_report: RunReport) -> None:
    first = render.markdown(any_report).split("\n")[0]
    assert any_report.verdict is not None
    assert first.startswith("## `")
    assert any_report.verdict.status in first
    assert "Target:" in first


def test_markdown_table_rows_have_as_many_cells_as_the_header(any_report: RunReport) -> None:
    rows = table(render.markdown(any_report))
    if not any_report.records:
        assert rows == []
        return
    width = len(cells(rows[0]))
    assert width == 6
    assert all(len(cells(row)) == width for row in rows), rows


def test_markdown_failing_requirements_first() -> None:
    rows = [cells(row) for row in table(render.markdown(not_ready()))[2:]]
    ids = [row[0].strip() for row in rows]
    outcomes = [row[2].strip() for row in rows]
    # MUST failures in catalogue order (the unknown id last), then SHOULD findings, then passes.
    assert ids == ["AUTH-1", "REDIR-1", "ZZ-9", "HS-3", "HS-1", "EVT-1"]
    assert outcomes == ["FAIL", "FAIL", "FAIL", "SHOULD-FAIL", "pass", "pass"]
    assert rows[0][5].strip() == "The fix for AUTH-1."
    assert rows[-1][5].strip() == ""  # no fix shown for a pass


def test_markdown_counts_checks_per_requirement() -> None:
    rows = {cells(row)[0].strip(): cells(row) for row in table(render.markdown(not_ready()))[2:]}
    assert rows["AUTH-1"][3].strip() == "1 failed, 1 passed"


def test_markdown_hostile_text_cannot_break_out() -> None:
    text = render.markdown(not_ready())
    blocks, outside = fenced(text)
    # Inside fences the text is shown as is, control characters escaped; nothing closed the fence early.
    assert any("<script>alert(1)</script> | ```` ```" in block and "forged line" in block for block in blocks)
    assert all("\x1b" not in block and "\r" not in block for block in blocks)
    assert "\x1b" not in text
    outside[0] = outside[0].replace("## `FAIL`", "##")  # the harness's own status marker
    for line in outside:
        # Outside fences: no tag but the harness's own <details>/<summary>/<code>, no unescaped backtick.
        assert not re.search(r"<(?!/?(details|summary|code)>)", line), line
        assert not re.search(r"(?<!\\)`", line), line
    assert not any(line.startswith("forged line") for line in outside)


def test_markdown_shows_curl_and_fix_for_failures() -> None:
    text = render.markdown(not_ready())
    blocks, _ = fenced(text)
    assert any(block.startswith("curl -sS -i") for block in blocks)
    assert "```sh\ncurl -sS -i" in text
    assert "### Failed checks and notes (4)" in text
    assert text.index("[AUTH-1-case-changed]") < text.index("HS-3 (SHOULD)")


def test_markdown_shows_each_reproduction_once() -> None:
    shown = not_ready()
    text = render.markdown(shown)
    for each in shown.records:
        if each.exchange is not None and each.outcome != "passed":
            assert text.count(each.exchange.curl) == 1, each.nodeid
            assert f"```sh\n{each.exchange.curl}\n```" in text


def test_markdown_caps_failed_checks() -> None:
    many = [record("EVT-1", "failed", f"-{n}", message=f"failure {n}") for n in range(25)]
    text = render.markdown(report("NOT READY", "NOT READY for activation: EVT-1 failed.", many))
    assert text.count("<details>") == render.MARKDOWN_FAILURES
    assert "... and 5 more failed checks" in text


def test_markdown_setup_error_and_url_warnings() -> None:
    text = render.markdown(no_verdict())
    assert "**Setup error**" in text
    assert "No checks were recorded." in text
    warned = render.markdown(partial())
    assert "the URL has a query string \\| &lt;b&gt;bold&lt;/b&gt;" in warned


# --- Both ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("write", [render.html, render.markdown])
def test_no_secret_appears_when_the_records_hold_none(any_report: RunReport, write: object) -> None:
    assert callable(write)
    assert SECRET not in write(any_report)


@pytest.mark.parametrize("write", [render.html, render.markdown])
def test_zero_records_and_no_verdict_render(write: object) -> None:
    empty = RunReport(target=TARGET, embedded=True, settings="", started="2025-01-01T00:00:00+00:00")
    assert callable(write)
    text = write(empty)
    assert "NO VERDICT" in text
    assert "No checks were recorded." in text
    if write is render.html:
        html5lib.HTMLParser(strict=True).parse(text)


def test_insecure_runs_and_the_clouds_conclusions_are_in_both_reports() -> None:
    lines = ["activation: would succeed: Webhook Validate got a 2xx twice", "auto-disable: 0 of 9 deliveries failed"]
    noted = record("SRV-1", "info", level="INFO", message="SRV-1 (INFO) the Server header names Werkzeug")
    shown = report("READY", "READY for activation.", [*ready().records, noted], insecure=True, cloud_lines=lines)
    text, page = render.markdown(shown), render.html(shown)
    for output in (text, page):
        assert "TLS verification was off (--webhook-insecure)" in output
        assert "activation: would succeed" in output
        assert "auto-disable: 0 of 9 deliveries failed" in output
        assert "INFO" in output
    assert "the Server header names Werkzeug" in text  # a note is shown in full, like a finding
    assert 'class="o-info"' in page
    plain = replace(shown, insecure=False)
    assert "--webhook-insecure" not in render.markdown(plain)
    assert "--webhook-insecure" not in render.html(plain)


def test_the_embedded_receiver_is_named_once_per_line() -> None:
    target = "http://127.0.0.1:1/webhook (embedded reference receiver)"
    report = RunReport(target=target, embedded=True, settings="", started="2025-01-01T00:00:00+00:00")
    for text in (render.markdown(report), render.html(report)):
        assert "embedded reference receiver" in text
        assert not [line for line in text.splitlines() if line.count("embedded reference receiver") > 1]
