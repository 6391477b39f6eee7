"""What both front doors print: the header, the sections after the checks, and the verdict line.

Texts only, as (title, colour, lines): pytest's terminal reporter and the command line each print them their
own way. Everything here comes from a :class:`RunReport`, which holds nothing unmasked or unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.output.report import RunReport

__all__ = ["INSECURE_BANNER", "Header", "Section", "header_lines", "sections"]

INSECURE_BANNER = (
    "TLS VERIFICATION IS OFF (--webhook-insecure): the Cloud verifies certificates; this run does not, "
    "and TLS-1 fails on a certificate that does not verify"
)


@dataclass(frozen=True)
class Header:
    """What the header says beyond the report: facts about the opened target."""

    #: The embedded receiver's generated secret's length; None for a target of the user's.
    embedded_secret_length: int | None
    #: A secret was configured, but there is no target to use it with.
    secret_unused: bool
    #: An http target on another machine.
    in_clear: bool


@dataclass(frozen=True)
class Section:
    title: str
    colour: str
    lines: list[str]
    #: Each entry's name, printed as a rule above its text (None: plain lines).
    entries: list[tuple[str, str]] | None = None


def header_lines(report: RunReport, header: Header) -> list[str]:
    lines = [f"webhook conformance: target {report.target}", f"  settings: {report.settings}"]
    if header.embedded_secret_length is not None:
        lines.append(f"  the embedded receiver has a generated secret ({header.embedded_secret_length} characters)")
        if header.secret_unused:
            lines.append("  note: a secret is set but no target, so it is not used: set --target-url to check yours")
    lines += [f"  warning: the Cloud's dashboard would refuse this URL: {w}" for w in report.url_warnings]
    if header.in_clear:
        lines.append(
            "  warning: an http target on another machine: the secret and every payload cross the network in clear"
        )
    if report.insecure:
        lines.append(f"  {INSECURE_BANNER}")
    return lines


def sections(report: RunReport, *, strict: bool) -> list[Section]:
    """The sections printed after the checks, before the verdict. In strict mode a SHOULD finding is a
    failure, printed with the failures: not again here."""
    found = []
    kinds = [("info", "INFO notes (never fatal)", "cyan")]
    if not strict:
        kinds.insert(0, ("should-failed", "SHOULD findings (not fatal without --webhook-strict)", "purple"))
    for outcome, title, colour in kinds:
        entries = [(r.nodeid, r.message) for r in report.records if r.outcome == outcome]
        if entries:
            found.append(Section(title, colour, [], entries))
    if report.cloud_lines or report.load_lines:
        found.append(
            Section("webhook conformance: what the Cloud would do", "", [*report.cloud_lines, *report.load_lines])
        )
    if report.insecure:
        found.append(Section("", "red", [INSECURE_BANNER]))
    if report.setup_error is not None:
        found.append(Section("webhook conformance: setup error", "red", [report.setup_error]))
    return found
