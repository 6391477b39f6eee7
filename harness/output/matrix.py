"""The fleet report for people: one matrix of targets (rows) by requirements (columns), in Markdown and HTML.

Both are pure, like :mod:`harness.output.render`: a :class:`~harness.output.fleet.FleetReport` in, text out.
Everything a receiver sent (and its URL) is hostile, and is shown through render's helpers, by the same
rules as a single target's report. Each failing cell links to that target's checks of that requirement
further down; the anchors are made of the target's index and the requirement's id (or its column, for an id
the catalogue does not know), never of text a receiver chose, so they are unique and inert.

The Markdown is a CI job summary, which GitHub refuses over 1 MiB: it shows a bounded number of checks in
full and says where the rest is (the HTML and JSON fleet reports). The HTML shows more, collapsed per target.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from harness.judging.catalogue import Level, catalogue
from harness.output import render
from harness.output.fleet import FleetReport, TargetResult, requirement_outcomes
from harness.output.report import WORST_FIRST, CheckRecord, ExchangeRecord, Outcome, Status

__all__ = ["MARKDOWN_BYTES", "NOT_CHECKED", "SYMBOLS", "html", "markdown"]

#: A cell's symbol for its requirement's worst outcome on that target: short, so that 30 columns fit.
SYMBOLS: dict[Outcome, str] = {
    "passed": "✓",
    "failed": "FAIL",
    "should-failed": "S",
    "error": "E",
    "info": "i",
    "skipped": "-",
}
#: The cell of a requirement the target's run has no check of (an interrupted or narrowed run).
NOT_CHECKED = "·"
#: The legend's order: from the good news to the absent.
_LEGEND: tuple[Outcome, ...] = ("passed", "failed", "should-failed", "error", "info", "skipped")
_MEANING: dict[Outcome, str] = {
    "passed": "passed",
    "failed": "a MUST failed",
    "should-failed": "a SHOULD not met",
    "error": "harness error (no verdict)",
    "info": "a note (INFO)",
    "skipped": "skipped",
}
#: How a finding's checks are counted: "28 failed checks".
_COUNTED: dict[Outcome, str] = {
    "failed": "failed",
    "error": "harness error",
    "should-failed": "SHOULD not met",
    "info": "note",
    "passed": "passed",
    "skipped": "skipped",
}
#: The cells that link to their checks. The Markdown leaves the notes out (size), the HTML keeps them.
_LINKED_MARKDOWN: tuple[Outcome, ...] = ("failed", "error", "should-failed")
_LINKED_HTML: tuple[Outcome, ...] = ("failed", "error", "should-failed", "info")
#: The order of the details: what keeps a target from activation first, then advice, then notes.
_GROUP: dict[Outcome, int] = {"failed": 0, "error": 0, "should-failed": 1, "info": 2}
#: Targets in the details: those the Cloud would not activate first.
_STATUS_ORDER: dict[str, int] = {"NOT READY": 0, "NO VERDICT": 1, "PARTIAL RUN": 2, "READY": 3}

#: The Markdown's budget: half of GitHub's 1 MiB for a job summary, whatever the fleet (other steps may add to it).
MARKDOWN_BYTES = 512 * 1024
#: The Markdown matrix's share of it: rows beyond are left to the HTML, which has every target. A row
#: takes 200 to 1000 bytes, so a fleet of several hundred fits.
MARKDOWN_TABLE_BYTES = 320 * 1024
#: What the budget keeps for the few lines written after the details are measured.
_RESERVE = 2048
#: Checks the Markdown shows in full, over the whole fleet, per target and per requirement of a target.
MARKDOWN_CHECKS = 30
MARKDOWN_TARGET_CHECKS = 3
MARKDOWN_REQUIREMENT_CHECKS = 1
#: Caps on one piece of target text in the Markdown (a body, a hint, a URL, a problem).
MARKDOWN_FIELD_CHARS = 1000
MARKDOWN_URL_CHARS = 120
#: A problem under its URL in the matrix: the findings and the JSON have it whole.
MARKDOWN_PROBLEM_CHARS = 300
#: A longer reproduction is not cut (a cut command is a broken one) but left to the HTML.
MARKDOWN_CURL_CHARS = 5000
#: Checks the HTML shows in full, over the whole fleet and per requirement of a target; the others of a
#: finding are listed by name and answer.
HTML_CHECKS = 300
HTML_REQUIREMENT_CHECKS = 3
#: Of the other checks of a finding, how many are named (with what the receiver did), and how much of that.
HTML_LISTED = 10
HTML_LISTED_TOTAL = 4000
HTML_ACTUAL_CHARS = 160
#: Caps on one piece of target text in a check shown in full (a body, a hint); records already cap bodies
#: at a few hundred characters, so this bounds only hand-made or future reports.
HTML_FIELD_CHARS = 2000
#: A problem (a setup error can be a long story) in the matrix; the JSON fleet report has it whole.
HTML_PROBLEM_CHARS = 1000
#: The anchor of the note saying where the findings are that the Markdown leaves out.
_REST = "fleet-rest"
_SAFE_ID = re.compile(r"[A-Z]+-[0-9]+")
_ELSEWHERE = "see the HTML or JSON fleet report"


# --- The data, as the matrix reads it ------------------------------------------------------------


@dataclass
class _Finding:
    """One failing (or noted) cell: a target's checks of one requirement, and the anchor of their details."""

    rid: str
    outcome: Outcome
    anchor: str
    records: list[CheckRecord]


@dataclass
class _Row:
    """One target: its cells by requirement id, and its findings in the order the details show them."""

    target: TargetResult
    position: int
    anchor: str
    cells: dict[str, Outcome]
    findings: list[_Finding] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        """Whether there is anything to show across the row; else it shows why not (``problem``: a worker
        without the secret, an unreachable target, whose report holds no check)."""
        return bool(self.cells)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _optional(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _outcome(value: object) -> Outcome:
    # A report from another version may carry an outcome this one does not know: no verdict can be read from it.
    return value if value in WORST_FIRST else "error"


def _exchange(data: object) -> ExchangeRecord | None:
    if not isinstance(data, Mapping):
        return None
    headers = data.get("headers")
    status, elapsed = data.get("status"), data.get("elapsed_ms")
    return ExchangeRecord(
        method=_text(data, "method"),
        url=_text(data, "url"),
        description=_text(data, "description"),
        request_body=_text(data, "request_body"),
        status=status if isinstance(status, int) else None,
        reason=_text(data, "reason"),
        headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {},
        response_body=_text(data, "response_body"),
        elapsed_ms=float(elapsed) if isinstance(elapsed, int | float) else 0.0,
        error=_optional(data, "error"),
        curl=_text(data, "curl"),
    )


def _record(data: Mapping[str, Any]) -> CheckRecord:
    """A record of the JSON report back as a :class:`CheckRecord`, so that render's helpers show it; what is
    missing or malformed is shown empty rather than failing the whole fleet's report."""
    duration = data.get("duration_ms")
    return CheckRecord(
        nodeid=_text(data, "nodeid"),
        requirement=_text(data, "requirement"),
        level=cast(Level, _text(data, "level")),
        statement=_text(data, "statement"),
        outcome=_outcome(data.get("outcome")),
        duration_ms=float(duration) if isinstance(duration, int | float) else 0.0,
        message=_text(data, "message"),
        fix=_text(data, "fix"),
        exchange=_exchange(data.get("exchange")),
        id=_text(data, "id"),
        expected=_optional(data, "expected"),
        actual=_optional(data, "actual"),
        hint=_optional(data, "hint"),
        reproduction=_optional(data, "reproduction"),
    )


def _raw_records(target: TargetResult) -> list[Mapping[str, Any]]:
    raw = (target.report or {}).get("records")
    return [r for r in raw if isinstance(r, Mapping)] if isinstance(raw, list) else []


def _target_anchors(targets: Sequence[TargetResult]) -> list[str]:
    """``t3`` for the target of index 3; its row's place when the index is repeated (a hand-made report)."""
    anchors: list[str] = []
    seen: set[str] = set()
    for position, target in enumerate(targets, 1):
        anchor = f"t{target.index}" if type(target.index) is int else f"row{position}"
        anchor = f"row{position}" if anchor in seen else anchor
        seen.add(anchor)
        anchors.append(anchor)
    return anchors


def _columns(cells: Sequence[Mapping[str, Outcome]]) -> list[str]:
    """Requirement ids in catalogue order, then any id the catalogue does not know, in the order met."""
    order = list(catalogue())
    for outcomes in cells:
        order += [rid for rid in outcomes if rid not in order]
    return order


def _rows(fleet: FleetReport, linked: Sequence[Outcome]) -> tuple[list[_Row], list[str]]:
    """The targets as rows, with the findings of the ``linked`` outcomes, and the requirement columns."""
    order = list(catalogue())
    raw = [_raw_records(target) for target in fleet.targets]
    cells = [
        {rid: _outcome(o) for rid, o in target.requirements.items()}
        if target.requirements
        else requirement_outcomes(
            [{"requirement": _text(r, "requirement"), "outcome": _outcome(r.get("outcome"))} for r in checks], order
        )
        for target, checks in zip(fleet.targets, raw, strict=True)
    ]
    # Only the checks a cell links to are read in full: a fleet holds hundreds of passes per target.
    records = [[_record(r) for r in checks if _outcome(r.get("outcome")) in linked] for checks in raw]
    columns = _columns(cells)
    rows = []
    for position, (target, anchor) in enumerate(zip(fleet.targets, _target_anchors(fleet.targets), strict=True)):
        row = _Row(target, position, anchor, cells[position])
        for column, rid in enumerate(columns, 1):
            outcome = row.cells.get(rid)
            if outcome is None or outcome not in linked:
                continue
            part = rid.lower() if _SAFE_ID.fullmatch(rid) else f"col{column}"
            shown = [r for r in records[position] if r.requirement == rid and r.outcome in linked]
            shown.sort(key=lambda r: WORST_FIRST.index(r.outcome))
            row.findings.append(_Finding(rid, outcome, f"{anchor}-{part}", shown))
        row.findings.sort(key=lambda f: _GROUP[f.outcome])  # stable: catalogue order within a group
        rows.append(row)
    return rows, columns


def _detail_order(rows: Sequence[_Row]) -> list[_Row]:
    """Targets with findings, NOT READY first, then in the targets file's order."""
    found = [row for row in rows if row.findings]
    return sorted(found, key=lambda row: (_STATUS_ORDER.get(row.target.status, 4), row.position))


def _allocate(order: Sequence[_Row], total: int, per_finding: int, per_target: int | None) -> dict[str, int]:
    """How many checks of each finding are shown in full, by its anchor: a first check of every finding
    (failed MUSTs across the fleet first, then SHOULD findings, then notes), then a second, and so on, within
    the caps. A finding absent here is only named; one with no check shows its heading alone (0)."""
    full = {f.anchor: 0 for row in order for f in row.findings if not f.records}
    per: Counter[str] = Counter()
    left = total
    for depth in range(1, per_finding + 1):
        for group in sorted(set(_GROUP.values())):
            for row in order:
                for finding in row.findings:
                    if _GROUP[finding.outcome] != group or len(finding.records) < depth or left <= 0:
                        continue
                    if depth > 1 and full.get(finding.anchor) != depth - 1:
                        continue
                    if per_target is not None and per[row.anchor] >= per_target:
                        continue
                    full[finding.anchor] = depth
                    per[row.anchor] += 1
                    left -= 1
    return full


def _fleet_status(fleet: FleetReport) -> Status:
    """The status the fleet's verdict line names (the marker beside it must agree), else the worst found."""
    named: tuple[Status, ...] = ("NOT READY", "NO VERDICT", "PARTIAL RUN", "READY")
    said = next((status for status in named if fleet.verdict.startswith(status)), None)
    if said is not None:
        return said
    if fleet.ready:
        return "READY"
    return "NOT READY" if fleet.counts()["NOT READY"] else "NO VERDICT"


def _counts(fleet: FleetReport) -> str:
    counted = ", ".join(f"{n} {status}" for status, n in fleet.counts().items() if n)
    total = f"{len(fleet.targets)} target{'s' if len(fleet.targets) != 1 else ''}"
    return f"{total}: {counted}" if counted else total


def _verdict(fleet: FleetReport) -> str:
    return fleet.verdict or f"{_counts(fleet)}."


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _capped(text: str, limit: int) -> str:
    """At most ``limit`` characters, saying how many were left out."""
    return text if len(text) <= limit else f"{text[:limit]} ... ({len(text) - limit} more characters)"


# --- Markdown --------------------------------------------------------------------------------------


def _md_header(fleet: FleetReport) -> list[str]:
    status = _fleet_status(fleet)
    md = render.md_text
    finished = f" to {md(fleet.finished)}" if fleet.finished else ""
    return [
        f"## `{render.STATUS_MARKERS[status]}` {md(_verdict(fleet))}",
        "",
        f"- **Targets:** {md(_counts(fleet))}",
        f"- **Source:** {md(fleet.source)} ({md(fleet.mode)} run)",
        f"- **Run:** {md(fleet.started)}{finished}, harness {md(fleet.harness_version)}",
        "",
        "Settings:",
        "",
        render.md_fence(fleet.settings),
    ]


def _md_legend() -> list[str]:
    symbols = " · ".join(f"`{SYMBOLS[o]}` {_MEANING[o]}" for o in _LEGEND)
    return [
        f"Legend: {symbols} · `{NOT_CHECKED}` not checked. Each `FAIL`, `S` and `E` links to its checks below. "
        "A target with no run shows why under its URL.",
    ]


def _md_key(columns: Sequence[str]) -> list[str]:
    """The statements behind the short column heads, collapsed: the table stays narrow."""
    known = catalogue()
    lines = ["<details>", f"<summary>The {len(columns)} requirements</summary>", ""]
    for rid in columns:
        if rid in known:
            lines.append(f"- **{render.md_text(rid)}** ({known[rid].level}) {render.md_text(known[rid].statement)}")
        else:
            lines.append(f"- **{render.md_text(rid)}** (not in this harness's catalogue)")
    return [*lines, "", "</details>"]


def _md_cell(row: _Row, rid: str, link: Callable[[_Row, _Finding], str]) -> str:
    outcome = row.cells.get(rid)
    if outcome is None:
        return NOT_CHECKED
    finding = next((f for f in row.findings if f.rid == rid), None)
    return SYMBOLS[outcome] if finding is None else f"[{SYMBOLS[outcome]}](#{link(row, finding)})"


def _md_row(row: _Row, columns: Sequence[str], link: Callable[[_Row, _Finding], str], linked: set[str]) -> str:
    target, md = row.target, render.md_text
    index = md(str(target.index))
    if row.anchor in linked:
        index = f"[{index}](#{row.anchor})"
    status = md(target.status) if target.status == "READY" else f"**{md(target.status)}**"
    url = md(_capped(target.url, MARKDOWN_URL_CHARS))
    if target.problem or not row.ran:
        # No colspan in a Markdown table: the reason goes under the URL, where it does not widen the grid.
        problem = md(_capped(target.problem or "no check was recorded", MARKDOWN_PROBLEM_CHARS))
        url += f"<br>**{'Problem' if row.ran else 'No run'}:** {problem}"
    cells = [_md_cell(row, rid, link) for rid in columns] if row.ran else [""] * len(columns)
    return "| " + " | ".join([index, status, url, *cells]) + " |"


def _md_table(
    rows: Sequence[_Row], columns: Sequence[str], link: Callable[[_Row, _Finding], str], linked: set[str]
) -> list[str]:
    head = "| # | Status | URL | " + " | ".join(render.md_text(rid) for rid in columns) + " |"
    rule = "|---:|---|---|" + ":-:|" * len(columns)
    return [head, rule, *(_md_row(row, columns, link, linked) for row in rows)]


def _md_check(record: CheckRecord) -> list[str]:
    """One check in full: its judgement, the exchange it judged, and its reproduction, each once."""
    md = render.md_text
    judgement, reproduce = render.judgement_text(record)
    nodeid = render.html_text(record.nodeid)  # inside an HTML block, where Markdown escapes do not apply
    lines = ["<details>", f"<summary>{SYMBOLS[record.outcome]} <code>{nodeid}</code></summary>", ""]
    if record.expected is None:
        lines += [render.md_fence(_capped(judgement, MARKDOWN_FIELD_CHARS) or "(no message)"), ""]
    else:
        lines.append(f"- **Expected:** {md(_capped(record.expected, MARKDOWN_FIELD_CHARS))}")
        lines.append(f"- **Actual:** {md(_capped(record.actual or '', MARKDOWN_FIELD_CHARS))}")
        if record.hint:
            lines.append(f"- **Hint:** {md(_capped(record.hint, MARKDOWN_FIELD_CHARS))}")
    exchange = record.exchange
    if exchange is None:
        return [*lines, "- No exchange recorded.", "", "</details>", ""]
    sent = f"{exchange.method} {exchange.url}: {exchange.description}"
    if exchange.error is not None:
        answer = f"- **Error:** {md(_capped(exchange.error, MARKDOWN_FIELD_CHARS))}"
    else:
        status = "(no response)" if exchange.status is None else f"{exchange.status} {exchange.reason}"
        answer = f"- **Status:** {md(status)}, after {exchange.elapsed_ms:.1f} ms"
    headers = "; ".join(f"{name}: {value}" for name, value in exchange.headers.items()) or "(none shown)"
    lines += [f"- **Sent:** {md(_capped(sent, MARKDOWN_FIELD_CHARS))}", answer]
    lines += [f"- **Response headers:** {md(_capped(headers, MARKDOWN_FIELD_CHARS))}", ""]
    if exchange.response_body:
        body = _capped(exchange.response_body, MARKDOWN_FIELD_CHARS)
        lines += ["Response body (excerpt):", "", render.md_fence(body), ""]
    if len(exchange.curl) > MARKDOWN_CURL_CHARS:
        lines += [f"{md(reproduce)}: the command is {len(exchange.curl)} characters long: {_ELSEWHERE}.", ""]
    else:
        lines += [f"{md(reproduce)}:", "", render.md_fence(exchange.curl, "sh"), ""]
    return [*lines, "</details>", ""]


def _md_finding(finding: _Finding, full: int) -> list[str]:
    md = render.md_text
    first = finding.records[0] if finding.records else None
    known = catalogue().get(finding.rid)
    level = known.level if known else (first.level if first else "")
    statement = known.statement if known else (first.statement if first else "")
    fix = known.fix if known else (first.fix if first else "")
    checks = _plural(len(finding.records), f"{_COUNTED[finding.outcome]} check")
    heading = f'##### <a id="{finding.anchor}"></a>{SYMBOLS[finding.outcome]} {md(finding.rid)} ({md(level)}): {checks}'
    lines = [heading, "", md(statement) + (f" **Fix:** {md(fix)}" if fix else ""), ""]
    for record in finding.records[:full]:
        lines += _md_check(record)
    if not finding.records:
        lines += ["The run report holds no check of it.", ""]
    elif len(finding.records) > full:
        lines += [
            f"... and {_plural(len(finding.records) - full, 'more check')} of {md(finding.rid)}: {_ELSEWHERE}.",
            "",
        ]
    return lines


def _md_target(row: _Row, full: Mapping[str, int]) -> list[str]:
    target, md = row.target, render.md_text
    lines = [f'#### <a id="{row.anchor}"></a>Target {md(str(target.index))}: {md(target.status)}', ""]
    lines.append(f"- **URL:** {md(_capped(target.url, MARKDOWN_FIELD_CHARS))}")
    lines.append(f"- **Verdict:** {md(_capped(target.verdict, MARKDOWN_FIELD_CHARS))}")
    if target.problem:
        lines.append(f"- **Problem:** {md(_capped(target.problem, MARKDOWN_FIELD_CHARS))}")
    lines.append("")
    rest = []
    for finding in row.findings:
        if finding.anchor in full:
            lines += _md_finding(finding, full[finding.anchor])
        else:
            rest.append(f"{md(finding.rid)} {SYMBOLS[finding.outcome]} ({_plural(len(finding.records), 'check')})")
    if rest:
        lines += [f"Not detailed here ({_ELSEWHERE}): {', '.join(rest)}.", ""]
    return lines


def _md_details(rows: Sequence[_Row], budget: int) -> tuple[list[str], set[str]]:
    """The findings, target by target, within ``budget`` bytes: their lines and the anchors they hold; what
    is left out is counted in a note, which the links of the left-out cells lead to."""
    order = _detail_order(rows)
    full = _allocate(order, MARKDOWN_CHECKS, MARKDOWN_REQUIREMENT_CHECKS, MARKDOWN_TARGET_CHECKS)
    lines: list[str] = []
    anchors: set[str] = set()
    used, left_out = 0, 0
    for row in order:
        section = _md_target(row, full)
        size = len("\n".join(section).encode()) + 1
        if left_out or used + size > budget:
            left_out += 1
            continue
        lines += section
        used += size
        anchors.add(row.anchor)
        anchors.update(f.anchor for f in row.findings if f.anchor in full)
    shown_checks = sum(
        full[f.anchor] for row in order if row.anchor in anchors for f in row.findings if f.anchor in full
    )
    all_checks = sum(len(f.records) for row in order for f in row.findings)
    partial = left_out > 0 or shown_checks < all_checks
    if partial:
        note = f"{_plural(shown_checks, 'check')} of {all_checks} are shown in full here"
        if left_out:
            note += (
                f", and {_plural(left_out, 'target')} with findings not at all (a job summary must stay under 1 MiB)"
            )
        lines += [
            f'<a id="{_REST}"></a>**Where the rest is:** {note}: every finding is in the HTML fleet report, '
            "every check in the JSON fleet report.",
            "",
        ]
    return lines, anchors


def _md_fitting(rows: Sequence[_Row], columns: Sequence[str]) -> list[_Row]:
    """The first rows that fit in ``MARKDOWN_TABLE_BYTES``, each measured at its longest (every link to its
    finding)."""
    room, fitting = MARKDOWN_TABLE_BYTES, []
    for row in rows:
        room -= len(_md_row(row, columns, lambda _, finding: finding.anchor, {row.anchor}).encode()) + 1
        if room < 0:
            break
        fitting.append(row)
    return fitting


def markdown(fleet: FleetReport) -> str:
    """GitHub-flavoured Markdown for a CI job summary: the fleet's verdict, the matrix, then the failed checks
    of the targets the Cloud would not activate first, bounded in size."""
    rows, columns = _rows(fleet, _LINKED_MARKDOWN)
    shown = _md_fitting(rows, columns)
    head = [*_md_header(fleet), "", "### Matrix", "", *_md_legend(), ""]
    tail = ["", *_md_key(columns)]
    if len(rows) > len(shown):
        tail = [
            "",
            f"... and {_plural(len(rows) - len(shown), 'more target')}: see the HTML or JSON fleet report.",
            *tail,
        ]
    # The matrix at its longest (every link to its finding) bounds what is left for the details.
    longest = _md_table(shown, columns, lambda _, finding: finding.anchor, {row.anchor for row in shown})
    budget = MARKDOWN_BYTES - _RESERVE - len("\n".join([*head, *longest, *tail]).encode())
    details, anchors = _md_details(rows, max(budget, 0))

    def link(row: _Row, finding: _Finding) -> str:
        # The finding if it is shown, else its target's section, else the note saying where it is.
        return next(a for a in (finding.anchor, row.anchor, _REST) if a in anchors or a == _REST)

    lines = [*head, *_md_table(shown, columns, link, anchors), *tail]
    if details:
        lines += ["", "### Findings", "", *details]
    return "\n".join(lines).rstrip("\n") + "\n"


# --- HTML ------------------------------------------------------------------------------------------

# Render's look, with a wider page for the matrix and a compact grid.
_STYLE = (
    render.STYLE
    + """
body{max-width:110rem}.scroll{overflow-x:auto}table.matrix{width:auto;font-size:13px}
table.matrix th,table.matrix td{padding:.15rem .35rem;text-align:center;white-space:nowrap}
table.matrix td.url{text-align:left;white-space:normal;min-width:16rem;max-width:28rem;overflow-wrap:anywhere}
table.matrix td.problem{text-align:left;white-space:normal;background:#fff4e0;color:#5c3600}
table.matrix thead th{position:sticky;top:0}table.matrix td a{color:inherit}
.s-ok{color:#1e6b30}.s-bad{color:#b3261e;font-weight:bold}.s-warn{color:#8a4b00;font-weight:bold}
.legend span{margin-right:1rem;white-space:nowrap}
details.target{border:1px solid #ccc;border-radius:4px;padding:.3rem .7rem;margin:.5rem 0}
details.target>summary{font-weight:bold}.finding{margin:.5rem 0 1rem}ul.more{margin:.3rem 0}
"""
)


def _html_run(fleet: FleetReport) -> str:
    h = render.html_text
    facts = [
        ("Targets", h(_counts(fleet))),
        ("Source", h(fleet.source)),
        ("Mode", h(fleet.mode)),
        ("Started", h(fleet.started)),
        ("Finished", h(fleet.finished or "(not finished)")),
        ("Harness version", h(fleet.harness_version)),
        ("Settings", render.html_pre(fleet.settings)),
    ]
    return f'<section id="run"><h2>Run</h2>{render.html_dl(facts)}</section>'


def _html_legend() -> str:
    spans = [f'<span><b class="o-{o}">{SYMBOLS[o]}</b> {_MEANING[o]}</span>' for o in _LEGEND]
    spans.append(f"<span><b>{NOT_CHECKED}</b> not checked</span>")
    note = "Each FAIL, S, E and i links to its checks below; hover a column head for its requirement."
    return f'<p class="legend">Legend: {"".join(spans)}</p><p>{note}</p>'


def _html_cell(row: _Row, rid: str) -> str:
    outcome = row.cells.get(rid)
    where = f"Target {row.target.index}, {rid}"
    if outcome is None:
        return f'<td title="{render.html_text(where)}: not checked">{NOT_CHECKED}</td>'
    title = render.html_text(f"{where}: {outcome}")
    finding = next((f for f in row.findings if f.rid == rid), None)
    symbol = SYMBOLS[outcome] if finding is None else f'<a href="#{finding.anchor}">{SYMBOLS[outcome]}</a>'
    return f'<td class="o-{outcome}" title="{title}">{symbol}</td>'


def _html_matrix(rows: Sequence[_Row], columns: Sequence[str]) -> str:
    h, known = render.html_text, catalogue()
    heads = []
    for rid in columns:
        title = f"{rid} ({known[rid].level}) {known[rid].statement}" if rid in known else f"{rid}: not in the catalogue"
        heads.append(f'<th scope="col" title="{h(title)}">{h(rid)}</th>')
    body = []
    for row in rows:
        target = row.target
        css = render.STATUS_CSS.get(target.status, "warn")
        problem = target.problem or "no check was recorded"
        index = h(str(target.index))
        index = f'<a href="#{row.anchor}">{index}</a>' if row.findings else index
        cells = (
            "".join(_html_cell(row, rid) for rid in columns)
            if row.ran
            else f'<td class="problem" colspan="{len(columns)}">No run: {h(_capped(problem, HTML_PROBLEM_CHARS))}</td>'
        )
        note = f"<br>Problem: {h(_capped(problem, HTML_PROBLEM_CHARS))}" if target.problem and row.ran else ""
        body.append(
            f'<tr><td class="n">{index}</td><td class="s-{css}">{h(target.status)}</td>'
            f'<td class="url">{h(target.url)}{note}</td>{cells}</tr>'
        )
    head = '<tr><th scope="col">#</th><th scope="col">Status</th><th scope="col">URL</th>' + "".join(heads) + "</tr>"
    table = f'<div class="scroll"><table class="matrix"><thead>{head}</thead><tbody>\n' + "\n".join(body)
    return f'<section id="matrix"><h2>Matrix</h2>{_html_legend()}{table}\n</tbody></table></div></section>'


def _html_capped(record: CheckRecord) -> CheckRecord:
    """The record with its longest texts capped (not the reproduction: a cut command is a broken one)."""
    cap = HTML_FIELD_CHARS

    def capped(text: str | None) -> str | None:
        return None if text is None else _capped(text, cap)

    exchange = record.exchange
    if exchange is not None:
        headers = {name: _capped(value, cap) for name, value in exchange.headers.items()}
        body, sent = _capped(exchange.response_body, cap), _capped(exchange.request_body, cap)
        exchange = replace(exchange, response_body=body, request_body=sent, headers=headers)
    return replace(
        record,
        message=_capped(record.message, cap * 4),  # a traceback, read whole more often
        expected=capped(record.expected),
        actual=capped(record.actual),
        hint=capped(record.hint),
        exchange=exchange,
    )


def _html_finding(finding: _Finding, full: int, listed: list[int]) -> str:
    """One cell's checks: the first ``full`` in full, the others by name and answer while the fleet's
    ``listed`` budget lasts (a one-item list, counted down)."""
    h, known = render.html_text, catalogue().get(finding.rid)
    first = finding.records[0] if finding.records else None
    level = known.level if known else (first.level if first else "")
    statement = known.statement if known else (first.statement if first else "")
    fix = known.fix if known else (first.fix if first else "")
    checks = _plural(len(finding.records), f"{_COUNTED[finding.outcome]} check")
    # The statement and fix with the checks shown in full; beyond the fleet's budget the column head's
    # tooltip holds the statement, and a finding is a heading and a list (its size multiplies by the fleet's).
    said = f": {statement}" if full or not finding.records else ""
    title = f"{SYMBOLS[finding.outcome]} {finding.rid} ({level}){said} ({checks})"
    parts = [f'<h3 class="o-{finding.outcome}">{h(title)}</h3>']
    parts += [f'<p class="fix">Fix: {h(fix)}</p>'] if fix and said else []
    parts += [render.html_check(_html_capped(record)) for record in finding.records[:full]]
    others = finding.records[full:]
    named = min(len(others), HTML_LISTED, listed[0])
    listed[0] -= named
    if others:
        items = "".join(
            f"<li><code>{h(r.nodeid)}</code>: {h(_capped(r.actual or r.message, HTML_ACTUAL_CHARS))}</li>"
            for r in others[:named]
        )
        parts.append(f"<p>{_plural(len(others), 'other check')} of it, in full in the JSON fleet report:</p>")
        parts += [f'<ul class="more">{items}</ul>'] if items else []
        parts += [f"<p>... and {len(others) - named} more.</p>"] if len(others) > named else []
    if not finding.records:
        parts.append("<p>The run report holds no check of it.</p>")
    return f'<section class="finding" id="{finding.anchor}">{"".join(parts)}</section>'


def _html_findings(rows: Sequence[_Row]) -> str:
    order = _detail_order(rows)
    if not order:
        return '<section id="findings"><h2>Findings</h2><p>No target has a finding.</p></section>'
    h = render.html_text
    full = _allocate(order, HTML_CHECKS, HTML_REQUIREMENT_CHECKS, None)
    listed = [HTML_LISTED_TOTAL]
    targets = []
    for row in order:
        target = row.target
        css = render.STATUS_CSS.get(target.status, "warn")
        counted = Counter(f.outcome for f in row.findings)
        tally = ", ".join(f"{counted[o]} {SYMBOLS[o]}" for o in _LINKED_HTML if counted[o])
        summary = (
            f'<summary><span class="s-{css}">{h(target.status)}</span> Target {h(str(target.index))}: '
            f"{h(target.url)} ({tally})</summary>"
        )
        facts = [("Verdict", h(target.verdict))]
        facts += [("Problem", h(target.problem))] if target.problem else []
        facts += [("Checked by", h(f"{target.worker}, {target.elapsed_s:.1f} s"))] if target.worker else []
        body = "\n".join(_html_finding(finding, full.get(finding.anchor, 0), listed) for finding in row.findings)
        targets.append(f'<details class="target" id="{row.anchor}">{summary}{render.html_dl(facts)}\n{body}</details>')
    intro = "<p>Targets the Cloud would not activate first; in each, failed MUSTs first, then SHOULDs, then notes.</p>"
    return f'<section id="findings"><h2>Findings</h2>{intro}\n' + "\n".join(targets) + "</section>"


def html(fleet: FleetReport) -> str:
    """One self-contained HTML5 page: no script, nothing fetched. The fleet's verdict and run, the matrix
    (every failing or noted cell a link), then each target's findings, collapsed, NOT READY first."""
    h = render.html_text
    rows, columns = _rows(fleet, _LINKED_HTML)
    status = _fleet_status(fleet)
    verdict = (
        f'<header class="verdict {render.STATUS_CSS[status]}"><h1>{h(status)}</h1><p>{h(_verdict(fleet))}</p></header>'
    )
    nav = '<nav><a href="#matrix">Matrix</a><a href="#findings">Findings</a><a href="#run">Run</a></nav>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Webhook conformance fleet: {h(status)}: {h(_counts(fleet))}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        verdict,
        nav,
        _html_run(fleet),
        _html_matrix(rows, columns),
        _html_findings(rows),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"
