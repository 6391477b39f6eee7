"""The secret never leaks: not in output, test ids, reports, caches or logs."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SuiteRun
from gallery import (
    SECRET,
    Handler,
    accepts_prefix,
    echoes_part_of_secret,
    echoes_secret,
    echoes_secret_lowercased,
    redirects_to_another_origin,
)
from harness.config.secret import Secret
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
