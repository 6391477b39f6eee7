"""The secret never leaks: not in output, test ids, reports, caches or logs."""

from __future__ import annotations

import base64
import hmac
import html
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug import Request, Response

from conftest import SuiteRun
from gallery import (
    SECRET,
    Handler,
    accepts_prefix,
    echoes_part_of_secret,
    echoes_secret,
    echoes_secret_lowercased,
    redirects_to_another_origin,
    unauthorized,
)
from harness.config.secret import ENCODINGS, Encoding, Secret
from harness.payloads.deliveries import variant_values

RunSuite = Callable[..., SuiteRun]
Serve = Callable[[Handler], str]

#: Every flag that makes pytest write more, and every artefact it can write.
VERBOSE = (
    "-l",
    "-vv",
    "-rA",
    "--tb=long",
    "--log-level=DEBUG",
    "--log-cli-level=DEBUG",
    "-o",
    "junit_logging=all",
)


def needles() -> list[str]:
    """The secret in either case, its base64 form, the wrong values derived from it, and its halves."""
    values = [SECRET, SECRET.lower(), SECRET.upper(), base64.b64encode(SECRET.encode()).decode()]
    half = len(SECRET) // 2 + 1
    values += [SECRET[:half], SECRET[-half:]]
    return values + [v.reveal() for v in variant_values(Secret(SECRET))]


def artefact_texts(root: Path) -> dict[str, str]:
    return {str(p): p.read_text("utf-8", "replace") for p in root.rglob("*") if p.is_file()}


def assert_nowhere(texts: dict[str, str]) -> None:
    for name, text in texts.items():
        for needle in needles():
            assert needle not in text, f"a secret-derived value appears in {name}"


REPORTS = ("--webhook-report-json=r.json", "--webhook-report-md=r.md", "--webhook-report-html=r.html")


LEAKY = [echoes_secret, echoes_secret_lowercased, echoes_part_of_secret, accepts_prefix, redirects_to_another_origin]


@pytest.mark.parametrize("handler", LEAKY, ids=lambda h: h.__name__)
def test_failing_run_leaks_nothing(
    handler: Handler, serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "github_step_summary.md"))
    run = run_suite(
        "--target-url",
        serve(handler),
        *VERBOSE,
        "--junitxml=report.xml",
        "--log-file=run.log",
        *REPORTS,
        "-p",
        "cacheprovider",
        secret=SECRET,
    )
    assert run.ret == 1
    texts = artefact_texts(pytester.path)
    written = {Path(name).name for name in texts}
    assert {"report.xml", "run.log", "r.json", "r.md", "r.html", "github_step_summary.md"} <= written
    assert any(".pytest_cache" in name for name in texts)
    assert_nowhere({"stdout": run.result.stdout.str(), "stderr": run.result.stderr.str(), **texts})


def test_secret_printed_or_logged_by_a_test_is_masked(
    serve: Serve, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A test of the user's that prints and logs the secret, then fails with it in a local and the message.
    pytester.makepyfile(
        test_own="""
        import logging
        def test_uses_secret(webhook_target):
            value = webhook_target.secret.reveal()
            print("printed", value)
            logging.getLogger("own").warning("logged %s", value)
            try:
                raise ValueError("bad token " + value)
            except ValueError:
                logging.getLogger("own").exception("with a traceback")
            assert value == "something else"
        """
    )
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    result = pytester.runpytest_inprocess(
        "--target-url", serve(echoes_secret), *VERBOSE, "--junitxml=report.xml", "--log-file=run.log"
    )
    assert result.ret == 1
    texts = artefact_texts(pytester.path)
    texts.pop(str(pytester.path / "test_own.py"))
    assert_nowhere({"stdout": result.stdout.str(), "stderr": result.stderr.str(), **texts})
    assert "[Filtered]" in result.stdout.str()


def test_secret_from_the_command_line_or_a_file_is_masked_in_the_header(
    serve: Serve, run_suite: RunSuite, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    for args in (("--webhook-secret", SECRET), ("--webhook-secret-file", str(secret_file))):
        run = run_suite("--target-url", serve(echoes_secret), *args, "-vv")
        assert run.failed_requirements() == {"LEAK-1", "AUTH-5"}
        assert "secret=[Filtered] (35 characters, from command-line option" in run.output
        assert_nowhere({"output": run.output})


def test_password_in_the_target_url_is_masked(serve: Serve, run_suite: RunSuite, pytester: pytest.Pytester) -> None:
    url = serve(echoes_secret).replace("http://", "http://deploy:url-password-0123456789@")
    run = run_suite("--target-url", url, *REPORTS, "-vv", secret=SECRET)
    texts = {"output": run.output, **artefact_texts(pytester.path)}
    for name, text in texts.items():
        assert "url-password-0123456789" not in text, name
    assert "deploy:[Filtered]@" in run.output


# --- the secret in other spellings: LEAK-1 fails, and no report shows the spelling ---------------------------

#: With characters that HTML, JSON and URLs escape, and one beyond ASCII: the settings take any Latin-1.
SPELLED = 'spelled-Ab3+Cd4/Ef5="Gh6&Ij7<é Kl8>Mn9~~~?Op0'
SPELLINGS = [
    pytest.param(encoding, reflect, id=f"{encoding.name}-{name}")
    for encoding in ENCODINGS
    for name, reflect in encoding.reflections
]
#: Enough for LEAK-1 and the reports: the whole suite takes ten times longer (one run of it is below).
LEAK_AND_BODY = ("-k", "LEAK-1 or HS-3")


def reflecting(reflect: Callable[[str], str]) -> Handler:
    """A receiver that checks the secret as it should, then answers 2xx with the secret it received spelled
    by ``reflect`` ('a debug echo, encoded so that it is not the secret')."""

    def handler(request: Request, seen: list[str]) -> Response:
        received = request.headers.get("X-Webhook-Secret", "")
        if not hmac.compare_digest(received.encode("latin-1"), SPELLED.encode("latin-1")):
            return unauthorized()
        return Response(f"OK, received {reflect(received)}", 200, content_type="text/plain")

    return handler


def strings(found: object) -> Iterator[str]:
    """Every string in parsed JSON, keys too."""
    if isinstance(found, str):
        yield found
    elif isinstance(found, dict):
        for key, value in found.items():
            yield key
            yield from strings(value)
    elif isinstance(found, list):
        for value in found:
            yield from strings(value)


def as_read(name: str, text: str) -> list[str]:
    """A text as written and as its reader sees it: character references decoded (HTML, XML, Markdown shown
    on GitHub), and a JSON report's strings unescaped (its ``\\u`` escapes are not the receiver's)."""
    views = [text, html.unescape(text)]
    if name.endswith(".json"):
        views.append("\n".join(strings(json.loads(text))))
    return views


def leak_actual(report: Path) -> str:
    records = [r for r in json.loads(report.read_text("utf-8"))["records"] if r["requirement"] == "LEAK-1"]
    return str(records[0]["actual"])


@pytest.mark.parametrize(("encoding", "reflect"), SPELLINGS)
def test_a_spelled_secret_in_a_2xx_body_fails_leak_1_and_shows_nowhere(
    encoding: Encoding,
    reflect: Callable[[str], str],
    serve: Serve,
    run_suite: RunSuite,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "github_step_summary.md"))
    url = serve(reflecting(reflect))
    run = run_suite("--target-url", url, *LEAK_AND_BODY, *VERBOSE, "--junitxml=report.xml", *REPORTS, secret=SPELLED)
    assert run.failed_requirements() == {"LEAK-1", "HS-3"}
    assert leak_actual(pytester.path / "r.json").startswith(f"{encoding.described}, in the response body")
    texts = {"output": run.output, **artefact_texts(pytester.path)}
    assert {"report.xml", "r.json", "r.md", "r.html", "github_step_summary.md"} <= {Path(n).name for n in texts}
    spelled = reflect(SPELLED)[4:-4]  # the ends of a base64'd neighbour are not the secret's alone
    for name, text in texts.items():
        for view in as_read(name, text):
            assert spelled not in view, f"the secret spelled {encoding.name} appears in {name}"
            assert SPELLED not in view, f"the secret appears in {name}"


def test_a_receiver_answering_with_the_secret_hex_encoded_is_not_ready(serve: Serve, run_suite: RunSuite) -> None:
    # The whole suite, as a user runs it: this receiver used to be READY.
    run = run_suite("--target-url", serve(reflecting(lambda v: v.encode("latin-1").hex())), secret=SPELLED)
    assert run.failed_requirements() == {"LEAK-1", "HS-3", "EVT-2"}
    assert "NOT READY for activation: LEAK-1 failed" in run.output
    assert SPELLED.encode("latin-1").hex() not in run.output
