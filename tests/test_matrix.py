"""The fleet matrix, in Markdown and HTML: every failing cell links to its checks, the anchors are unique and
safe, hostile receiver text shows only escaped, the columns follow the catalogue, and a 200-target Markdown
stays well under GitHub's 1 MiB for a job summary."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from xml.etree import ElementTree

import html5lib
import pytest
from markdown_text import cells, fenced

import harness
from gallery import SECRET, Handler, accepts_any_secret, answers_json, correct, redirects_to_another_origin
from harness.judging.catalogue import catalogue
from harness.output import matrix
from harness.output.fleet import FleetReport, TargetResult, requirement_outcomes
from harness.output.report import CheckRecord, ExchangeRecord, RunReport, Verdict

ORDER = list(catalogue())
#: What a hostile receiver might send: terminal escapes, a forged line, CI runner commands, markup that
#: would close a table cell and open a script, a Markdown cell break and fence breakers.
HOSTILE = (
    "\x1b[31mred\x1b[0m\x07\r\n::error::forged ##vso[task.setvariable variable=x]1 "
    "</td></tr><script>alert(1)</script><img src=x onerror=alert(2)> | a|b ```` `` ` \\| ~~x~~ [l](http://e.x)"
)
HOSTILE_URL = "http://recv.example/<script>alert(3)</script>|x?`q`"
MIB = 1024 * 1024
LINKED_SYMBOLS = {matrix.SYMBOLS[o] for o in ("failed", "should-failed", "error")}


# --- Building fleets ---------------------------------------------------------------------------


def exchange(body: str = "OK", **fields: Any) -> ExchangeRecord:
    values: dict[str, Any] = {
        "method": "POST",
        "url": "http://127.0.0.1:9/webhook",
        "description": "'Webhook Validate' with a wrong secret",
        "request_body": '{"event": "Webhook Validate", "data": {}}',
        "status": 200,
        "reason": "OK",
        "headers": {"Content-Type": "text/plain", "Server": "srv"},
        "response_body": body,
        "elapsed_ms": 1.5,
        "error": None,
        "curl": "curl -sS -i http://127.0.0.1:9/webhook --data-binary '{}'",
    }
    return ExchangeRecord(**{**values, **fields})


def record(requirement: str, outcome: str, case: str = "", **fields: Any) -> CheckRecord:
    known = catalogue().get(requirement)
    values: dict[str, Any] = {
        "nodeid": f"conformance_tests/test_x.py::test_{requirement.lower()}[{requirement}{case}]",
        "requirement": requirement,
        "level": known.level if known else "MUST",
        "statement": known.statement if known else f"The statement of {requirement}.",
        "outcome": outcome,
        "duration_ms": 2.0,
    }
    if outcome in ("failed", "should-failed", "error"):
        values |= {"expected": "a 401", "actual": "200 OK", "hint": "Compare the secret.", "exchange": exchange()}
    return CheckRecord(**{**values, **fields})


def result(index: int, report: RunReport | None, url: str = "", problem: str | None = None) -> TargetResult:
    """A target's result as ``check-many`` makes it from a run report (or from its absence)."""
    if report is None:
        return TargetResult(
            index, url, "WEBHOOK_SECRET", False, "NO VERDICT", "NO VERDICT", [], [], 69, problem=problem
        )
    data = report.to_dict()
    verdict = report.verdict
    assert verdict is not None
    return TargetResult(
        index=index,
        url=url or report.target,
        secret_env=f"SECRET_{index}",
        ready=report.ready,
        status=verdict.status,
        verdict=verdict.line,
        failed=list(verdict.must_failed),
        should_failed=list(verdict.should_failed),
        exit_code=0 if report.ready else 1,
        requirements=requirement_outcomes(data["records"], ORDER),
        problem=problem,
        report=data,
    )


def run_report(records: list[CheckRecord], target: str = "http://127.0.0.1:9/webhook") -> RunReport:
    must = sorted({r.requirement for r in records if r.outcome == "failed"})
    should = sorted({r.requirement for r in records if r.outcome == "should-failed"})
    status = "NOT READY" if must else "READY"
    line = f"{status}: {', '.join(must) or 'none'} failed. Target: {target}"
    built = RunReport(target=target, embedded=False, settings="timeout: 5 s", started="2025-01-01T00:00:00+00:00")
    built.records = records
    built.verdict = Verdict(status, not must, must, should, line)  # type: ignore[arg-type]
    return built


def fleet(targets: list[TargetResult], verdict: str = "NOT READY: 1 of 3 targets READY") -> FleetReport:
    return FleetReport(
        targets,
        source="targets.toml",
        mode="local",
        settings="timeout: 5 s; strict: no",
        started="2025-01-01T00:00:00+00:00",
        finished="2025-01-01T00:03:00+00:00",
        verdict=verdict,
    )


def passing() -> list[CheckRecord]:
    return [record(rid, "passed") for rid in ORDER]


def hostile_fleet() -> FleetReport:
    """A fleet whose receivers sent the worst text they could, everywhere a receiver's text is shown."""
    evil = exchange(
        body=HOSTILE,
        url=HOSTILE_URL,
        reason=HOSTILE,
        headers={"Server": HOSTILE, HOSTILE[:20]: "v"},
        description=HOSTILE,
        curl=f"curl '{HOSTILE_URL}' # {HOSTILE}",
    )
    with_fields = record("AUTH-1", "failed", actual=HOSTILE, hint=HOSTILE, exchange=evil)
    # No expected/actual: the message (a traceback, an older report) is shown instead, its reproduction once.
    message = f"{HOSTILE}\nReproduce with:\n  {evil.curl}"
    as_message = record("AUTH-2", "failed", expected=None, actual=None, hint=None, message=message, exchange=evil)
    should = record("HS-3", "should-failed", actual=HOSTILE, exchange=evil)
    # An id the catalogue does not know, with characters no anchor may hold.
    odd = record("X|<b>`1`", "failed", statement=HOSTILE, fix=HOSTILE)
    records = [*(r for r in passing() if r.requirement not in ("AUTH-1", "AUTH-2", "HS-3")), with_fields]
    records += [as_message, should, odd]
    bad = result(2, run_report(records, HOSTILE_URL), url=HOSTILE_URL)
    bad = replace(bad, verdict=HOSTILE, worker=HOSTILE)
    return fleet(
        [
            result(1, run_report(passing())),
            bad,
            result(3, None, url=HOSTILE_URL, problem=HOSTILE),
        ],
        verdict=HOSTILE,
    )


def ordered_fleet() -> FleetReport:
    """READY with a SHOULD finding, NOT READY with MUSTs and a SHOULD, NOT READY with a MUST: in file order."""
    should_only = [r for r in passing() if r.requirement != "HS-3"] + [record("HS-3", "should-failed")]
    mixed = [r for r in passing() if r.requirement not in ("HS-3", "AUTH-1", "LEAK-1")]
    mixed += [record("HS-3", "should-failed"), record("LEAK-1", "failed"), record("AUTH-1", "failed")]
    one = [r for r in passing() if r.requirement != "DLV-2"] + [record("DLV-2", "failed")]
    return fleet([result(1, run_report(should_only)), result(2, run_report(mixed)), result(3, run_report(one))])


def huge_fleet(targets: int = 200) -> FleetReport:
    """Every target fails every MUST and SHOULD (and has a note for each INFO), 20 checks each, with big
    bodies, hints and reproductions."""
    body = ("\x1b" + "x" * 60) * 60  # each ESC shown as four characters
    big = exchange(body=body, curl="curl " + "-H 'X: y' " * 450, headers={f"H{n}": "v" * 200 for n in range(6)})
    outcome = {"MUST": "failed", "SHOULD": "should-failed", "INFO": "info"}
    records = [
        record(rid, outcome[catalogue()[rid].level], f"-{n}", exchange=big, hint="h" * 3000, actual="a" * 3000)
        for rid in ORDER
        for n in range(20)
    ]
    one = result(1, run_report(records))  # one report's data, shared: to_dict() of each would take seconds
    urls = [f"https://receiver-{i}.example/" + "p" * 100 for i in range(1, targets + 1)]
    return fleet([replace(one, index=i, url=url) for i, url in enumerate(urls, 1)])


_GALLERY: dict[str, RunReport] = {}


@pytest.fixture
def gallery_fleet(serve: Callable[[Handler], str]) -> FleetReport:
    """Real runs of the whole suite against gallery receivers (about a second each, run once per session),
    and a target that never ran."""
    handlers = (correct, accepts_any_secret, redirects_to_another_origin, answers_json)
    for handler in handlers:
        if handler.__name__ not in _GALLERY:
            _GALLERY[handler.__name__] = harness.check(serve(handler), secret=SECRET, timeout=0.5)
    targets = [result(i, _GALLERY[h.__name__]) for i, h in enumerate(handlers, 1)]
    targets.append(
        result(len(targets) + 1, None, url="https://down.example/hook", problem="the worker lacked SECRET_5")
    )
    return fleet(targets, verdict="NOT READY: 2 of 5 targets READY")


# --- Reading what was rendered -------------------------------------------------------------------


def md_table(text: str) -> list[list[str]]:
    """The matrix's rows (the head first, then the rule), as cells."""
    return [[cell.strip() for cell in cells(line)] for line in text.split("\n") if line.startswith("|")]


def md_anchors(text: str) -> list[str]:
    return re.findall(r'<a id="([^"]*)"></a>', text)


def parse(text: str) -> ElementTree.Element:
    tree: ElementTree.Element = html5lib.parse(text, namespaceHTMLElements=False)
    return tree


def elements(tree: ElementTree.Element) -> Iterator[ElementTree.Element]:
    yield from tree.iter()


def html_ids(tree: ElementTree.Element) -> list[str]:
    return [e.get("id", "") for e in elements(tree) if e.get("id") is not None]


def matrix_cells(tree: ElementTree.Element) -> list[list[ElementTree.Element]]:
    table = next(e for e in elements(tree) if e.tag == "table" and e.get("class") == "matrix")
    body = table.find("tbody")
    assert body is not None
    return [list(tr) for tr in body.findall("tr")]


def text_of(element: ElementTree.Element) -> str:
    return "".join(element.itertext())


def assert_md_links_resolve(text: str) -> None:
    """Every FAIL, S and E cell is a link, to an anchor the document holds; anchors are unique and safe."""
    anchors = md_anchors(text)
    assert len(anchors) == len(set(anchors)), "an anchor is repeated"
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", a) for a in anchors), anchors
    rows = md_table(text)[2:]
    assert rows
    linked = 0
    for row in rows:
        for cell in row[3:]:
            assert cell not in LINKED_SYMBOLS, f"a failing cell without a link: {row[:3]}"
            found = re.fullmatch(r"\[(FAIL|S|E)\]\(#([^)]*)\)", cell)
            if found:
                assert found.group(2) in anchors, found.group(0)
                linked += 1
    links = re.findall(r"\]\(#([^)]*)\)", text)
    assert all(link in anchors for link in links)
    assert linked > 0


def assert_html_links_resolve(text: str) -> None:
    tree = parse(text)
    ids = html_ids(tree)
    assert len(ids) == len(set(ids)), "an id is repeated"
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", i) for i in ids), ids
    linked = 0
    for row in matrix_cells(tree):
        for td in row[3:]:
            outcome = (td.get("class") or "").removeprefix("o-")
            if outcome in ("failed", "should-failed", "error", "info"):
                link = td.find("a")
                assert link is not None, f"a {outcome} cell without a link"
                assert link.get("href", "").removeprefix("#") in ids
                linked += 1
    assert all(a.get("href", "#").removeprefix("#") in ids for a in elements(tree) if a.tag == "a")
    assert linked > 0


# --- Links and anchors ---------------------------------------------------------------------------


def test_every_failing_cell_links_to_an_anchor_that_exists_on_real_runs(gallery_fleet: FleetReport) -> None:
    assert_md_links_resolve(matrix.markdown(gallery_fleet))
    assert_html_links_resolve(matrix.html(gallery_fleet))


def test_every_failing_cell_links_to_an_anchor_that_exists_on_hostile_and_huge_fleets() -> None:
    for built in (hostile_fleet(), ordered_fleet(), huge_fleet(12)):
        assert_md_links_resolve(matrix.markdown(built))
        assert_html_links_resolve(matrix.html(built))


def test_cells_show_each_requirements_worst_outcome(gallery_fleet: FleetReport) -> None:
    rows = md_table(matrix.markdown(gallery_fleet))[2:]
    html_rows = matrix_cells(parse(matrix.html(gallery_fleet)))
    for target, row, html_row in zip(gallery_fleet.targets, rows, html_rows, strict=True):
        if target.problem:
            continue
        for rid, cell, td in zip(ORDER, row[3:], html_row[3:], strict=True):
            outcome = target.requirements.get(rid)
            expected = matrix.NOT_CHECKED if outcome is None else matrix.SYMBOLS[outcome]
            assert re.sub(r"^\[(.*)\]\(#.*\)$", r"\1", cell) == expected, (target.index, rid)
            assert text_of(td) == expected, (target.index, rid)


def test_a_link_leads_to_that_targets_checks_of_that_requirement(gallery_fleet: FleetReport) -> None:
    tree = parse(matrix.html(gallery_fleet))
    by_id = {e.get("id"): e for e in elements(tree) if e.get("id")}
    checked = 0
    for target, row in zip(gallery_fleet.targets, matrix_cells(tree), strict=True):
        if target.report is None:
            continue
        for rid, td in zip(ORDER, row[3:], strict=True):
            link = td.find("a")
            if link is None:
                continue
            section = by_id[link.get("href", "").removeprefix("#")]
            shown = text_of(section)
            failing = [r for r in target.report["records"] if r["requirement"] == rid and r["outcome"] != "passed"]
            assert failing
            assert f" {rid} (" in shown
            assert failing[0]["nodeid"] in shown
            # ... and the section is inside that target's details, not another's.
            holder = next(d for d in elements(tree) if d.tag == "details" and section in list(d.iter()))
            assert f"Target {target.index}:" in text_of(holder.find("summary"))  # type: ignore[arg-type]
            checked += 1
    assert checked > 10


def test_anchors_are_unique_even_when_indexes_repeat() -> None:
    built = ordered_fleet()
    built.targets[2] = replace(built.targets[2], index=2)  # a hand-made report: two targets numbered 2
    md, page = matrix.markdown(built), matrix.html(built)
    assert_md_links_resolve(md)
    assert_html_links_resolve(page)
    assert len(set(md_anchors(md))) == len(md_anchors(md))


def test_anchors_come_from_the_index_and_the_requirement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix, "MARKDOWN_TARGET_CHECKS", 10)  # every finding of the target in full
    md, page = matrix.markdown(hostile_fleet()), matrix.html(hostile_fleet())
    assert {"t2", "t2-auth-1", "t2-auth-2", "t2-hs-3"} <= set(md_anchors(md))
    ids = set(html_ids(parse(page)))
    assert {"t2", "t2-auth-1", "t2-auth-2", "t2-hs-3"} <= ids
    # The unknown id's anchor is its column's number, not its text.
    assert f"t2-col{len(ORDER) + 1}" in ids


# --- Columns, rows, header ------------------------------------------------------------------------


def test_columns_follow_the_catalogue_and_unknown_ids_come_last() -> None:
    built = hostile_fleet()
    head = md_table(matrix.markdown(built))[0]
    assert head[:3] == ["#", "Status", "URL"]
    assert head[3:-1] == ORDER
    assert head[-1] == "X\\|&lt;b&gt;\\`1\\`"  # the unknown id, escaped
    tree = parse(matrix.html(built))
    table = next(e for e in elements(tree) if e.tag == "table")
    heads = table.findall("thead/tr/th")
    assert [text_of(th) for th in heads[3:]] == [*ORDER, "X|<b>`1`"]
    # The statement is the tooltip.
    first = catalogue()[ORDER[0]]
    assert first.statement in (heads[3].get("title") or "")


def test_every_row_has_as_many_cells_as_the_head() -> None:
    for built in (hostile_fleet(), ordered_fleet(), huge_fleet(3)):
        rows = md_table(matrix.markdown(built))
        assert all(len(row) == len(rows[0]) for row in rows), [len(row) for row in rows]
        html_rows = matrix_cells(parse(matrix.html(built)))
        width = 3 + len(ORDER) + (1 if built.targets[1].requirements.get("X|<b>`1`") else 0)
        for row in html_rows:
            assert sum(int(td.get("colspan", "1")) for td in row) == width


def test_a_target_without_a_run_shows_its_problem_across_the_row(gallery_fleet: FleetReport) -> None:
    md = matrix.markdown(gallery_fleet)
    row = md_table(md)[-1]
    assert row[0] == "5"
    assert "No run:** the worker lacked SECRET\\_5" in row[2]
    assert row[3:] == [""] * len(ORDER)
    cells_ = matrix_cells(parse(matrix.html(gallery_fleet)))[-1]
    assert len(cells_) == 4
    assert cells_[3].get("colspan") == str(len(ORDER))
    assert text_of(cells_[3]) == "No run: the worker lacked SECRET_5"


def test_an_unreachable_target_with_an_empty_report_shows_its_problem() -> None:
    report = run_report([])
    down = replace(result(2, report), problem="ConnectionRefused: nothing listens on 127.0.0.1:9", status="NO VERDICT")
    built = fleet([result(1, run_report(passing())), down])
    assert "**No run:** ConnectionRefused" in md_table(matrix.markdown(built))[-1][2]
    assert "No run: ConnectionRefused" in text_of(matrix_cells(parse(matrix.html(built)))[-1][3])


def test_header_names_the_verdict_counts_and_run() -> None:
    built = ordered_fleet()
    for text in (matrix.markdown(built), text_of(parse(matrix.html(built)))):
        for fact in ("NOT READY: 1 of 3 targets READY", "3 targets: 1 READY, 2 NOT READY", "targets.toml", "local"):
            assert fact in text
        for fact in ("timeout: 5 s; strict: no", "2025-01-01T00:00:00+00:00", "2025-01-01T00:03:00+00:00"):
            assert fact in text
        assert harness.__version__ in text
    assert matrix.markdown(built).startswith("## `FAIL` NOT READY: 1 of 3 targets READY\n")
    assert '<header class="verdict bad">' in matrix.html(built)


def test_symbols_are_the_documented_ones_and_distinct() -> None:
    documented = {"passed": "✓", "failed": "FAIL", "should-failed": "S", "error": "E", "info": "i", "skipped": "-"}
    assert len(set(documented.values())) == len(documented)
    assert dict(matrix.SYMBOLS) == documented
    assert matrix.NOT_CHECKED not in documented.values()


def test_legend_names_every_symbol() -> None:
    md, page = matrix.markdown(ordered_fleet()), matrix.html(ordered_fleet())
    for symbol in [*matrix.SYMBOLS.values(), matrix.NOT_CHECKED]:
        assert f"`{symbol}`" in md
        assert f"{symbol}</b>" in page


# --- Details ---------------------------------------------------------------------------------------


def test_details_put_not_ready_targets_first_and_musts_before_shoulds() -> None:
    built = ordered_fleet()
    md = matrix.markdown(built)
    anchors = md_anchors(md)
    assert anchors == ["t2", "t2-auth-1", "t2-leak-1", "t2-hs-3", "t3", "t3-dlv-2", "t1", "t1-hs-3"]
    ids = [i for i in html_ids(parse(matrix.html(built))) if i.startswith("t")]
    assert ids == anchors


def test_details_show_expected_actual_hint_exchange_and_the_curl_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix, "MARKDOWN_TARGET_CHECKS", 10)
    built = hostile_fleet()
    md = matrix.markdown(built)
    page = matrix.html(built)
    tree = parse(page)
    section = next(e for e in elements(tree) if e.get("id") == "t2-auth-1")
    shown = text_of(section)
    for fact in ("Expected", "a 401", "Actual", "Hint", "Sent", "POST", "Status", "Server", "Response body"):
        assert fact in shown
    # The reproduction of each check once, though the message of AUTH-2 holds it too.
    assert page.count("curl &#x27;http://recv.example/&lt;script&gt;") == 3  # AUTH-1, AUTH-2, HS-3
    blocks, _ = fenced(md)
    assert sum("curl 'http://recv.example/<script>" in block for block in blocks) == 3


# --- Hostile text ----------------------------------------------------------------------------------

ALLOWED_TAGS = {
    *("html", "head", "meta", "title", "style", "body", "header", "nav", "section", "article", "details"),
    *("summary", "h1", "h2", "h3", "h4", "p", "a", "b", "span", "br", "code", "pre", "dl", "dt", "dd"),
    *("div", "table", "thead", "tbody", "tr", "th", "td", "ul", "li"),
}


def assert_inert_for_ci(text: str) -> None:
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text), "a control character reached the report"
    assert not re.search(r"^\s*::", text, re.MULTILINE), "a GitHub runner command"
    assert "##vso[" not in text.lower()
    assert "##[" not in text


def test_html_shows_hostile_text_only_escaped() -> None:
    page = matrix.html(hostile_fleet())
    html5lib.HTMLParser(strict=True).parse(page)
    tree = parse(page)
    tags = {e.tag for e in elements(tree) if isinstance(e.tag, str)}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    assert not [a for e in elements(tree) for a in e.attrib if a.startswith("on") or a == "src"]
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\x1b[31m" in page
    assert_inert_for_ci(page)


def test_html_is_offline_and_scriptless(gallery_fleet: FleetReport) -> None:
    page = matrix.html(gallery_fleet)
    html5lib.HTMLParser(strict=True).parse(page)
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "url(" not in page.lower()
    assert "@import" not in page.lower()


def test_markdown_shows_hostile_text_only_escaped() -> None:
    md = matrix.markdown(hostile_fleet())
    assert_inert_for_ci(md)
    blocks, outside = fenced(md)
    # Markup only inside fences, where it is code (as in the single report): nowhere else.
    assert "<script" not in "\n".join(outside).lower()
    assert "<img" not in "\n".join(outside).lower()
    # Inside fences, the text as is (control characters escaped); no backtick run closed the fence early.
    assert any("</td></tr><script>alert(1)</script>" in block and "```` `` `" in block for block in blocks)
    for line in outside:
        # Outside fences: only the matrix's own tags, no backtick the text brought, no link it made.
        assert not re.search(r"<(?!/?(details|summary|code|br)>|a id=\"[a-z0-9-]+\"></a>|/a>)", line), line
        assert not re.search(r"(?<!\\)\]\(http", line), line
    assert not any(line.startswith("::") or line.lstrip().startswith("forged") for line in md.split("\n"))


# --- Size ------------------------------------------------------------------------------------------


def test_200_failing_targets_stay_well_under_a_job_summarys_mib() -> None:
    built = huge_fleet(200)
    md = matrix.markdown(built)
    size = len(md.encode())
    assert size <= matrix.MARKDOWN_BYTES < MIB * 3 // 4, size
    assert_md_links_resolve(md)
    # It says how much it left out, and where that is.
    assert "**Where the rest is:**" in md
    assert "HTML fleet report" in md
    assert "JSON fleet report" in md
    # Every target still has its row.
    assert len(md_table(md)) == 2 + 200
    # The HTML has room for more, and is still bounded (its links are checked on smaller fleets: parsing
    # megabytes takes long).
    assert len(matrix.html(built).encode()) < 10 * MIB


def test_markdown_shows_a_bounded_number_of_checks_musts_first_across_the_fleet() -> None:
    built = huge_fleet(40)
    md = matrix.markdown(built)
    shown = re.findall(r"<summary>(FAIL|S|E) <code>", md)
    assert len(shown) == matrix.MARKDOWN_CHECKS
    assert set(shown) == {"FAIL"}  # MUST findings across the fleet outnumber the budget: no SHOULD gets one
    sections = md.split("\n#### ")[1:]
    per_target = [section.count("<summary>") for section in sections]
    assert max(per_target) == matrix.MARKDOWN_TARGET_CHECKS
    # Spread over the first targets, each with its requirements' first checks.
    assert per_target[: matrix.MARKDOWN_CHECKS // matrix.MARKDOWN_TARGET_CHECKS] == [3] * 10
    assert all(section.count("<summary>") <= matrix.MARKDOWN_REQUIREMENT_CHECKS for section in md.split("##### ")[1:])


def test_html_caps_a_huge_body_but_not_the_reproduction() -> None:
    huge = exchange(body="b" * 100_000, curl="curl " + "-H 'X: y' " * 1000)
    records = [*(r for r in passing() if r.requirement != "HS-1"), record("HS-1", "failed", exchange=huge)]
    page = matrix.html(fleet([result(1, run_report(records))]))
    assert f"... ({100_000 - matrix.HTML_FIELD_CHARS} more characters)" in page
    assert len(page) < 60_000
    assert huge.curl.replace("'", "&#x27;") in page


def test_markdown_rows_stop_at_the_tables_share_of_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matrix, "MARKDOWN_TABLE_BYTES", 4000)
    built = huge_fleet(8)
    md = matrix.markdown(built)
    lines = [line for line in md.split("\n") if line.startswith("| [")]
    assert 0 < len(lines) < 8
    assert sum(len(line.encode()) + 1 for line in lines) <= 4000
    assert f"... and {8 - len(lines)} more target" in md
    assert_md_links_resolve(md)
    assert len(matrix_cells(parse(matrix.html(built)))) == 8


def test_a_small_fleet_is_shown_whole_with_no_note() -> None:
    md = matrix.markdown(ordered_fleet())
    assert "Where the rest is" not in md
    assert "Not detailed here" not in md
