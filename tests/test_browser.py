"""The HTML report in a real browser: headless Chromium loads it offline, shows every record, and puts what
failed on the first screen."""

from __future__ import annotations

import html
import json
import re
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import html5lib
import pytest

import tools
from conftest import SuiteRun
from gallery import SECRET, Handler, answers_403, redirects_to_another_origin

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


#: What a screenshot shows: the first screen of a laptop.
SCREEN = (1280, 800)


def find_browser() -> str:
    return tools.require("chromium")


def browse(page: Path, profile: Path, *args: str) -> str:
    """Run headless Chromium on ``page`` with ``args``; its standard output."""
    command = [find_browser(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True).stdout


def rgb_rows(png: bytes) -> list[bytes]:
    """The rows of an 8-bit RGB or RGBA PNG (what Chromium writes) as RGB bytes: the scanlines unfiltered."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at : at + 4]), png[at + 4 : at + 8]
        chunks[kind] = chunks.get(kind, b"") + png[at + 8 : at + 8 + length]
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) in ((8, 2, 0), (8, 6, 0)), "a PNG layout this reader does not know"
    size = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(chunks[b"IDAT"]), width * size
    assert len(raw) == height * (stride + 1)
    rows, above = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left, up = line[i - size] if i >= size else 0, above[i]
            corner = above[i - size] if i >= size else 0
            line[i] = (line[i] + _predicted(kind, left, up, corner)) & 0xFF
        rows.append(b"".join(line[x : x + 3] for x in range(0, stride, size)))
        above = line
    return rows


def _predicted(kind: int, left: int, up: int, corner: int) -> int:
    """PNG's filter types 0-4 (None, Sub, Up, Average, Paeth): what a byte was stored relative to."""
    if kind == 4:
        guess = left + up - corner
        return min((left, up, corner), key=lambda v: abs(guess - v))  # ties go left, up, corner: as the spec says
    return (0, left, up, (left + up) // 2)[kind]


def detailed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in report["records"] if r["outcome"] in ("failed", "error", "should-failed", "info")]


def reports_of(url: str, run_suite: Callable[..., SuiteRun], pytester: pytest.Pytester) -> dict[str, Any]:
    """Run the suite against ``url``, writing r.html beside r.json; returns the JSON report."""
    run_suite("--target-url", url, "--webhook-report-html=r.html", "--webhook-report-json=r.json", secret=SECRET)
    report: dict[str, Any] = json.loads((pytester.path / "r.json").read_text())
    return report


def test_html_report_renders_offline_with_every_record(
    serve: Callable[[Handler], str], run_suite: Callable[..., SuiteRun], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    report = reports_of(serve(redirects_to_another_origin), run_suite, pytester)
    shown = browse((pytester.path / "r.html").resolve(), tmp_path / "profile", "--dump-dom")
    assert report["verdict"]["line"].startswith(
        "NOT READY for activation: HS-1, HS-2, EVT-1, EVT-3, DLV-1, DLV-2, DLV-3"
    )
    assert html.escape(report["verdict"]["line"], quote=False) in shown
    for record in report["records"]:
        assert record["nodeid"] in shown
    assert shown.count('<article class="check') == len(detailed(report))
    assert SECRET not in shown


def test_first_screen_shows_the_failed_must(
    serve: Callable[[Handler], str], run_suite: Callable[..., SuiteRun], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    report = reports_of(serve(answers_403), run_suite, pytester)
    assert report["verdict"]["must_failed"] == ["AUTH-1", "AUTH-2"]
    assert report["verdict"]["should_failed"] == ["AUTH-4"]
    page, shot = (pytester.path / "r.html").resolve(), tmp_path / "first-screen.png"
    dom = browse(page, tmp_path / "profile", "--dump-dom")
    browse(page, tmp_path / "profile", f"--screenshot={shot}", f"--window-size={SCREEN[0]},{SCREEN[1]}")

    body = html5lib.parse(dom, namespaceHTMLElements=False).find("body")
    assert body is not None
    sections = [section.get("id") for section in body.iter("section")]
    # Right under the verdict (and the links to the sections): the failed MUSTs, the SHOULDs, then the rest.
    assert [child.tag for child in body][:3] == ["header", "nav", "section"]
    assert sections[:2] == ["must-failed", "should-failed"]
    assert sections.index("should-failed") < sections.index("checks")
    must = body.find("section[@id='must-failed']")
    assert must is not None
    statements = {r["requirement"]: r["statement"] for r in report["records"]}
    assert [h3.text for h3 in must.iter("h3")] == [
        f"FAIL {rid} (MUST): {statements[rid]}" for rid in ("AUTH-1", "AUTH-2")
    ]
    # Each failed check's reproduction once in the page (where two checks judged the same request, twice).
    blocks = ["".join(pre.itertext()) for pre in body.iter("pre")]
    carried = [r["exchange"]["curl"] for r in detailed(report) if r["exchange"]]
    assert carried
    for curl in carried:
        assert sum(curl in block for block in blocks) == carried.count(curl)
    assert SECRET not in dom

    # The screenshot: a PNG of the first screen, not blank, with a failed MUST check's mark on it.
    rows = rgb_rows(shot.read_bytes())
    assert (len(rows[0]) // 3, len(rows)) == SCREEN
    pixels = [row[x : x + 3] for row in rows for x in range(0, len(row), 3)]
    assert len(set(pixels)) > 50, "the screenshot is (nearly) blank"
    found = re.search(r"\.check\{border-left:(\d+)px solid #([0-9a-f]{6})", dom)
    assert found is not None, "the report's stylesheet no longer marks a failed check"
    width, mark = int(found.group(1)), bytes.fromhex(found.group(2))
    marked = [y for y, row in enumerate(rows) if mark * width in row]
    # The mark is a bar down the left of each failed MUST check: the first begins in the upper half of the
    # screen (a long Run section above it would push it down), and at least 200 px of it are on the screen.
    assert marked, "no failed MUST check on the first screen"
    assert marked[0] < SCREEN[1] // 2
    assert len(marked) >= 200
