"""The Markdown and HTML forms of a :class:`~harness.output.report.RunReport`, for people rather than tools.

Both are pure: they take a report and return text. The only thing read is the packaged requirement
catalogue, for its order. Everything that came from the target (messages, excerpts, headers, even the
URL) is treated as hostile: control characters are shown escaped, one-line Markdown text is entity- and
backslash-escaped, free text goes in fences longer than any backtick run inside, and all HTML text goes
through ``html.escape``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

from harness.judging.catalogue import Level, catalogue
from harness.output.report import WORST_FIRST, CheckRecord, ExchangeRecord, Outcome, RunReport, Status
from harness.wire.untrusted import printable

__all__ = [
    "STATUS_CSS",
    "STATUS_MARKERS",
    "STYLE",
    "html",
    "html_check",
    "html_dl",
    "html_pre",
    "html_text",
    "judgement_text",
    "markdown",
    "md_fence",
    "md_text",
]

INSECURE = "TLS verification was off (--webhook-insecure): these results say nothing about the certificate"

#: How many failed checks the Markdown shows in full; a CI job summary should stay short.
MARKDOWN_FAILURES = 20
#: Per-message cap in the Markdown; GitHub refuses job summaries over 1 MiB.
MARKDOWN_MESSAGE_CHARS = 4000

_SHOWN: dict[Outcome, str] = {
    "error": "ERROR",
    "failed": "FAIL",
    "should-failed": "SHOULD-FAIL",
    "info": "INFO",
    "passed": "pass",
    "skipped": "skipped",
}
_MARKER: dict[Status, str] = {"READY": "PASS", "NOT READY": "FAIL", "PARTIAL RUN": "PARTIAL", "NO VERDICT": "ERROR"}
_CSS_STATUS: dict[Status, str] = {"READY": "ok", "NOT READY": "bad", "PARTIAL RUN": "warn", "NO VERDICT": "warn"}
#: Outcomes shown in full (judgement, exchange, reproduction), in the order the reports show them: what
#: blocks activation first, then the harness's own errors, then what the Cloud does not need but advises.
_DETAILED: tuple[Outcome, ...] = ("failed", "error", "should-failed", "info")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


@dataclass
class _Requirement:
    """One requirement's checks in this run, counted by outcome."""

    id: str
    level: Level
    statement: str
    fix: str
    counts: Counter[Outcome] = field(default_factory=Counter)

    @property
    def outcome(self) -> Outcome:
        """The worst outcome among its checks: one failed check fails the requirement."""
        return next((o for o in WORST_FIRST if self.counts[o]), "skipped")

    def tally(self) -> str:
        return ", ".join(f"{self.counts[o]} {o}" for o in WORST_FIRST if self.counts[o])


def _visible(text: str, newlines: bool = False) -> str:
    """Control characters shown as Python escapes, never obeyed; CI runner commands broken (a report can
    end up in a CI log: ``cat report.md``)."""
    return printable(text, newlines)


def _status(report: RunReport) -> tuple[Status, str]:
    if report.verdict is None:
        return "NO VERDICT", f"NO VERDICT: the run did not finish. Target: {report.target}"
    return report.verdict.status, report.verdict.line


def _outcome_rank(outcome: Outcome) -> int:
    return {"error": 0, "failed": 0, "should-failed": 1, "info": 2}.get(outcome, 3)


def _requirements(records: Sequence[CheckRecord]) -> list[_Requirement]:
    """Records aggregated per requirement: failures first, then by family and id in catalogue order."""
    by_id: dict[str, _Requirement] = {}
    for record in records:
        row = by_id.setdefault(record.requirement, _Requirement(record.requirement, record.level, record.statement, ""))
        row.counts[record.outcome] += 1
        row.fix = row.fix or record.fix
    # Ids the catalogue does not know (a newer suite, a hand-made report) go last, in run order.
    order = [*catalogue(), *by_id]
    families = [rid.split("-")[0] for rid in order]

    def key(row: _Requirement) -> tuple[int, int, int]:
        return _outcome_rank(row.outcome), families.index(row.id.split("-")[0]), order.index(row.id)

    return sorted(by_id.values(), key=key)


def _failures(records: Sequence[CheckRecord]) -> list[tuple[int, CheckRecord]]:
    """The checks shown in full, with their place in the run: by outcome as in ``_DETAILED`` (failed MUSTs
    first), then by requirement as in the requirements table, then in run order."""
    order = [row.id for row in _requirements(records)]
    shown = [(index, r) for index, r in enumerate(records) if r.outcome in _DETAILED]
    return sorted(shown, key=lambda pair: (_DETAILED.index(pair[1].outcome), order.index(pair[1].requirement)))


def _judgement_text(record: CheckRecord) -> tuple[str, str]:
    """The failure text without its closing reproduction, which the reports show once (the exchange's), and
    the words that introduced it there: "Reproduce with", and why a leak's saves the answer to a file."""
    message, exchange = record.message, record.exchange
    cut = message.rfind("\nReproduce with")
    if exchange is None or cut == -1 or exchange.curl not in message[cut:]:
        return message, "Reproduce with"
    return message[:cut], message[cut + 1 :].split(":\n", 1)[0]


# --- Markdown ---------------------------------------------------------------------------------


def _md(text: str) -> str:
    """Text safe in a table cell, heading or list item: one line, no markup, no HTML, no cell break."""
    flat = _visible(text.replace("\r\n", " ").replace("\n", " "))
    # Entities for HTML's characters, so no renderer can take them for a tag; backslashes for the rest.
    return _MD_SPECIAL.sub(r"\\\1", escape(flat, quote=False))


def _fence(text: str, info: str = "text") -> str:
    """A fenced block that nothing inside can close: the fence outruns every backtick run."""
    body = _visible(text, newlines=True)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _md_header(report: RunReport) -> list[str]:
    status, line = _status(report)
    lines = [f"## `{_MARKER[status]}` {_md(line)}", ""]
    lines.append(f"- **Target:** {_md(report.target)}")  # it says when it is the embedded receiver
    finished = f" to {_md(report.finished)}" if report.finished else ""
    lines.append(f"- **Run:** {_md(report.started)}{finished}, harness {_md(report.harness_version)}")
    lines += [f"- **URL warning:** {_md(warning)}" for warning in report.url_warnings]
    if report.insecure:
        lines.append(f"- **{_md(INSECURE)}**")
    lines += [f"- **What the Cloud would do:** {_md(line)}" for line in [*report.cloud_lines, *report.load_lines]]
    lines += ["", "Settings:", "", _fence(report.settings)]
    if report.setup_error is not None:
        lines += ["", "**Setup error** (not a verdict on the receiver):", "", _fence(report.setup_error)]
    return lines


def _md_table(rows: Sequence[_Requirement]) -> list[str]:
    if not rows:
        return ["No checks were recorded."]
    lines = ["| Requirement | Level | Outcome | Checks | Statement | Fix |", "|---|---|---|---|---|---|"]
    for row in rows:
        failing = row.outcome in _DETAILED
        cells = [row.id, row.level, _SHOWN[row.outcome], row.tally(), row.statement, row.fix if failing else ""]
        lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    return lines


def _md_failure(record: CheckRecord) -> list[str]:
    message, reproduce = _judgement_text(record)
    if len(message) > MARKDOWN_MESSAGE_CHARS:
        message = message[:MARKDOWN_MESSAGE_CHARS] + f"\n... ({len(message) - MARKDOWN_MESSAGE_CHARS} more characters)"
    # An HTML block ends at a blank line, so the fences below are Markdown again, inside the details.
    nodeid = escape(_visible(record.nodeid))
    summary = f"{_SHOWN[record.outcome]} {record.requirement} ({record.level}): <code>{nodeid}</code>"
    lines = ["<details>", f"<summary>{summary}</summary>", "", _fence(message or "(no message)")]
    if record.exchange is not None:
        lines += ["", f"{_md(reproduce)}:", "", _fence(record.exchange.curl, "sh")]
    return [*lines, "", "</details>", ""]


def markdown(report: RunReport) -> str:
    """GitHub-flavoured Markdown for a CI job summary: verdict, requirements table, failed checks."""
    lines = [*_md_header(report), "", "### Requirements", "", *_md_table(_requirements(report.records))]
    failures = _failures(report.records)
    if failures:
        lines += ["", f"### Failed checks and notes ({len(failures)})", ""]
        for _, record in failures[:MARKDOWN_FAILURES]:
            lines += _md_failure(record)
        if len(failures) > MARKDOWN_FAILURES:
            more = len(failures) - MARKDOWN_FAILURES
            lines.append(f"... and {more} more failed checks: see the HTML or JSON report.")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- HTML -------------------------------------------------------------------------------------

# Colours pass WCAG AA on their backgrounds; the status is always written out too.
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem;margin:0}.verdict{border:3px solid;border-radius:6px;padding:1rem 1.25rem;margin-bottom:.75rem}
.verdict p{margin:.4rem 0 0;font-size:1.1rem}.verdict.ok{background:#e7f5ea;border-color:#1e7b34;color:#0f4a1f}
.verdict.bad{background:#fdecea;border-color:#b3261e;color:#7a1610}
.verdict.warn{background:#fff4e0;border-color:#a35f00;color:#5c3600}.verdict p.caveat{font-size:1rem}
nav{margin:0 0 1rem}nav a{margin-right:1rem}h2{margin:1.25rem 0 .5rem}h3{font-size:1.1rem;margin:.75rem 0 .25rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #c8c8c8;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f0f0f0}td.n{text-align:right;white-space:nowrap}
.o-failed,.o-error{color:#b3261e;font-weight:bold}.o-should-failed{color:#8a4b00;font-weight:bold}.o-passed{color:#1e6b30}
.o-info{color:#1f4f7a;font-weight:bold}.o-skipped{color:#555}
.check{border-left:6px solid #c62828;padding:.1rem 0 .1rem .9rem;margin:.5rem 0 1rem}.check h4{margin:.2rem 0}
.check.should-failed{border-color:#8a4b00}.check.info{border-color:#1f4f7a}
.fix{margin:.3rem 0 0;color:#333}code,pre{font:13px/1.4 ui-monospace,monospace}
pre{background:#f6f6f6;border:1px solid #ddd;padding:.5rem;margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:.3rem 0}dt{font-weight:bold}dd{margin:0}
summary{cursor:pointer}.reason{color:#555;font-size:.9em}
"""
#: The findings sections, one per outcome of ``_DETAILED``: anchor, link text and heading.
_SECTIONS: dict[Outcome, tuple[str, str, str]] = {
    "failed": ("must-failed", "Failed MUSTs", "Failed MUST requirements"),
    "error": ("harness-errors", "Harness errors", "Harness errors (not findings about the receiver)"),
    "should-failed": ("should-failed", "SHOULDs not met", "SHOULD requirements not met"),
    "info": ("notes", "Notes", "Notes (INFO)"),
}
#: Which time an exchange shows: the one its record carries, said once so that no other can be taken for it.
_TIME = "from sending the request to reading its answer, redirects included (the exchange's elapsed_ms)"


def _h(text: str, newlines: bool = False) -> str:
    return escape(_visible(text, newlines), quote=True)


def _pre(text: str) -> str:
    # A leading newline inside <pre> is swallowed by HTML parsers; a blank first line must survive.
    return f"<pre>\n{_h(text, newlines=True)}</pre>"


def _dl(facts: Sequence[tuple[str, str]]) -> str:
    """Facts as a definition list; the values are HTML already (escaped by the caller)."""
    return "<dl>" + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts) + "</dl>"


def _anchor(index: int) -> str:
    """The id of a check shown in full: its place in the run, so that it is unique and safe whatever the ids."""
    return f"check-{index}"


def _html_verdict(report: RunReport, status: Status, line: str) -> str:
    # Caveats on what the verdict means belong with it, on the first screen.
    caveats = [*report.url_warnings, *([INSECURE] if report.insecure else [])]
    notes = "".join(f'<p class="caveat">Warning: {_h(caveat)}</p>' for caveat in caveats)
    verdict = f'<header class="verdict {_CSS_STATUS[status]}"><h1>{_h(status)}</h1><p>{_h(line)}</p>{notes}</header>'
    if report.setup_error is None:
        return verdict
    heading = "<h2>Setup error (not a verdict on the receiver)</h2>"
    return f'{verdict}\n<section id="setup-error">{heading}{_pre(report.setup_error)}</section>'


def _html_nav(failures: Sequence[tuple[int, CheckRecord]], records: Sequence[CheckRecord]) -> str:
    counts = Counter(record.outcome for _, record in failures)
    links = [(_SECTIONS[o][0], f"{_SECTIONS[o][1]} ({counts[o]})") for o in _DETAILED if counts[o]]
    links += [("requirements", "Requirements"), ("run", "Run"), ("checks", f"All checks ({len(records)})")]
    return "<nav>" + "".join(f'<a href="#{anchor}">{text}</a>' for anchor, text in links) + "</nav>"


def _exchange_facts(exchange: ExchangeRecord, reproduce: str) -> list[tuple[str, str]]:
    if exchange.error is not None:
        answer = exchange.error
    else:
        answer = "(no response)" if exchange.status is None else f"{exchange.status} {exchange.reason}"
    headers = "".join(f"{_h(name)}: {_h(value)}<br>" for name, value in exchange.headers.items()) or "(none shown)"
    return [
        ("Sent", _h(f"{exchange.method} {exchange.url}: {exchange.description}")),
        ("Error" if exchange.error is not None else "Status", _h(answer)),
        ("Response headers", headers),
        ("Request body (excerpt)", _pre(exchange.request_body) if exchange.request_body else "(empty)"),
        ("Response body (excerpt)", _pre(exchange.response_body) if exchange.response_body else "(empty)"),
        ("Time", f"{exchange.elapsed_ms:.1f} ms, {_TIME}"),
        (_h(reproduce), _pre(exchange.curl)),
    ]


def _html_check(index: int, record: CheckRecord) -> str:
    return html_check(record, _anchor(index))


def _html_requirement_findings(checks: Sequence[tuple[int, CheckRecord]]) -> str:
    """One requirement's checks of one outcome, under its statement and fix, which they share."""
    first = checks[0][1]
    title = f"{_SHOWN[first.outcome]} {first.requirement} ({first.level}): {first.statement}"
    fix = f'<p class="fix">Fix: {_h(first.fix)}</p>' if first.fix else ""
    shown = "\n".join(_html_check(index, record) for index, record in checks)
    return f'<h3 class="o-{first.outcome}">{_h(title)}</h3>{fix}\n{shown}'


def _html_findings(failures: Sequence[tuple[int, CheckRecord]]) -> str:
    """A section per outcome, failed MUSTs first; in each, a group per requirement (they come sorted so)."""
    sections = []
    for outcome in _DETAILED:
        checks = [(index, record) for index, record in failures if record.outcome == outcome]
        if not checks:
            continue
        groups: dict[str, list[tuple[int, CheckRecord]]] = {}
        for index, record in checks:
            groups.setdefault(record.requirement, []).append((index, record))
        anchor, _, heading = _SECTIONS[outcome]
        body = "\n".join(_html_requirement_findings(group) for group in groups.values())
        counted = f"{len(checks)} check{'s' if len(checks) != 1 else ''}"
        sections.append(f'<section id="{anchor}"><h2>{heading} ({counted})</h2>\n{body}</section>')
    return "\n".join(sections)


def _html_requirements(rows: Sequence[_Requirement]) -> str:
    if not rows:
        return '<section id="requirements"><h2>Requirements</h2><p>No checks were recorded.</p></section>'
    head = "<tr><th>Requirement</th><th>Level</th><th>Outcome</th><th>Pass</th><th>Fail</th>"
    head += "<th>SHOULD fail</th><th>Skip</th><th>Statement</th></tr>"
    body = []
    for row in rows:
        counts = [row.counts[o] for o in ("passed", "failed", "should-failed", "skipped")]
        failing = row.outcome in _DETAILED
        fix = f'<p class="fix">Fix: {_h(row.fix)}</p>' if failing and row.fix else ""
        body.append(
            f"<tr><td>{_h(row.id)}</td><td>{_h(row.level)}</td>"
            f'<td class="o-{row.outcome}">{_SHOWN[row.outcome]}</td>'
            + "".join(f'<td class="n">{n}</td>' for n in counts)
            + f"<td>{_h(row.statement)}{fix}</td></tr>"
        )
    table = f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
    return f'<section id="requirements"><h2>Requirements</h2>{table}</section>'


def _html_run(report: RunReport) -> str:
    facts = [
        ("Target", report.target),  # it says when it is the embedded receiver
        ("Harness version", report.harness_version),
        ("Started", report.started),
        ("Finished", report.finished or "(not finished)"),
        *(("What the Cloud would do", line) for line in [*report.cloud_lines, *report.load_lines]),
    ]
    items = [(name, _h(value)) for name, value in facts] + [("Settings", _pre(report.settings))]
    return f'<section id="run"><h2>Run</h2>{_dl(items)}</section>'


def _html_record(index: int, record: CheckRecord) -> str:
    reason = f'<div class="reason">{_h(record.message)}</div>' if record.outcome == "skipped" and record.message else ""
    outcome = _SHOWN[record.outcome]
    if record.outcome in _DETAILED:  # shown in full above: a link, not a second copy
        outcome = f'<a href="#{_anchor(index)}">{outcome}: see above</a>'
    return (
        f"<tr><td><code>{_h(record.nodeid)}</code>{reason}</td><td>{_h(record.requirement)}</td>"
        f'<td>{_h(record.level)}</td><td class="o-{record.outcome}">{outcome}</td>'
        f'<td class="n">{record.duration_ms:.1f} ms</td></tr>'
    )


def _html_records(records: Sequence[CheckRecord]) -> str:
    if not records:
        return '<section id="checks"><h2>Checks</h2><p>No checks were recorded.</p></section>'
    # The check's own time, all its requests and its judging: not the time of any one exchange.
    head = "<tr><th>Check</th><th>Requirement</th><th>Level</th><th>Outcome</th><th>Check duration</th></tr>"
    body = "\n".join(_html_record(index, record) for index, record in enumerate(records))
    table = f"<table><thead>{head}</thead><tbody>\n{body}\n</tbody></table>"
    summary = f"<summary>All {len(records)} checks, in run order</summary>"
    return f'<section id="checks"><h2>Checks</h2><details>{summary}{table}</details></section>'


def html(report: RunReport) -> str:
    """One self-contained HTML5 page: no script, nothing fetched, readable offline in any browser.

    What failed comes first: the verdict, then each failed MUST check in full (judgement, exchange,
    reproduction), then harness errors, SHOULD findings and notes; the requirements, the run and the
    collapsed table of every check follow, the table linking to the checks shown above rather than
    repeating them.
    """
    status, line = _status(report)
    failures = _failures(report.records)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Webhook conformance: {_h(status)}: {_h(report.target)}</title>",
        f"<style>{_STYLE}</style></head>",
        "<body>",
        _html_verdict(report, status, line),
        _html_nav(failures, report.records),
        _html_findings(failures),
        _html_requirements(_requirements(report.records)),
        _html_run(report),
        _html_records(report.records),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --- The escaping rules, for the other reports ---------------------------------------------
# The fleet matrix (``harness.output.matrix``) shows the same hostile text, and must show it the same way:
# these are the helpers above under public names, unchanged.

#: The marker of each status, as the Markdown headline shows it (``PASS``, ``FAIL``...).
STATUS_MARKERS = _MARKER
#: The CSS class of each status's verdict box.
STATUS_CSS = _CSS_STATUS
#: The stylesheet of the HTML report, for pages that should look like it.
STYLE = _STYLE


def md_text(text: str) -> str:
    """Target text safe in a Markdown table cell, heading or list item (see ``_md``)."""
    return _md(text)


def md_fence(text: str, info: str = "text") -> str:
    """Target text in a Markdown fence that nothing inside can close (see ``_fence``)."""
    return _fence(text, info)


def html_text(text: str, newlines: bool = False) -> str:
    """Target text safe in HTML text and quoted attribute values (see ``_h``)."""
    return _h(text, newlines)


def html_pre(text: str) -> str:
    """Target text as an HTML ``<pre>`` block (see ``_pre``)."""
    return _pre(text)


def html_dl(facts: Sequence[tuple[str, str]]) -> str:
    """Facts as a definition list; the values are HTML already, escaped by the caller (see ``_dl``)."""
    return _dl(facts)


def judgement_text(record: CheckRecord) -> tuple[str, str]:
    """A failure's text without its closing reproduction, and the words that introduced it (see
    ``_judgement_text``)."""
    return _judgement_text(record)


def html_check(record: CheckRecord, anchor: str | None = None) -> str:
    """A check in full: expected, actual and hint when the record keeps them, else its text (a traceback,
    an older report), then the exchange it judged, each shown once; ``anchor`` is its id, made by the caller
    from nothing the target chose."""
    judgement, reproduce = _judgement_text(record)
    if record.expected is None:
        text, facts = _pre(judgement or "(no message)"), []
    else:
        text, facts = "", [("Expected", _h(record.expected)), ("Actual", _h(record.actual or ""))]
        facts += [("Hint", _h(record.hint))] if record.hint else []
    if record.exchange is not None:
        facts += _exchange_facts(record.exchange, reproduce)
    shown = _dl(facts) if facts else ""
    if record.exchange is None:
        shown += "<p>No exchange recorded.</p>"
    heading = f"<h4><code>{_h(record.nodeid)}</code></h4>"
    ident = "" if anchor is None else f' id="{anchor}"'
    return f'<article class="check {record.outcome}"{ident}>{heading}{text}{shown}</article>'
