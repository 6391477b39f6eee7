"""check-many on one machine: the targets file, the fleet's verdict and exit code, every target's verdict the
same as ``check`` gives it alone, a hung target holding up no other, and no secret in any output."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from fleet_receivers import UNREACHABLE_URL, Served, check_many, dies_first, secrets_environment, serving, targets_file

import gallery
from harness.config.exitcodes import ExitCode
from harness.config.secret import Secret
from harness.config.settings import resolve
from harness.output.fleet import TargetResult
from harness.payloads.schemas import schema_dir
from harness.run import fleet
from harness.run.fleet import TargetsError, cross_masked, fleet_exit_code, fleet_verdict, read_targets

# --- the targets file ---

GOOD_FILES = {
    "plain": ("url,secret_env\nhttps://a.example/hook,SECRET_A\nhttps://b.example/hook,\n", 2),
    "columns in another order, spaces, CRLF": (" secret_env , URL \r\nSECRET_A, https://a.example/hook\r\n", 1),
    "byte-order mark, blank lines and comments": (
        "\ufeffurl,secret_env\n\n# the shop\nhttps://a.example/hook,SECRET_A\n,\n",
        1,
    ),
    "a quoted URL with a comma in its path": ('url,secret_env\n"https://a.example/a,b",\n', 1),
}


@pytest.mark.parametrize(("text", "count"), GOOD_FILES.values(), ids=list(GOOD_FILES))
def test_targets_file_is_read(tmp_path: Path, text: str, count: int) -> None:
    path = tmp_path / "targets.csv"
    path.write_bytes(text.encode())
    targets = read_targets(str(path))
    assert len(targets) == count
    assert [t.index for t in targets] == list(range(1, count + 1))
    assert targets[0].url.startswith("https://a.example/")


PASTED_SECRET = "s3cr3t-value-pasted-in-the-wrong-column"
BAD_FILES = {
    # (the file's text, what the message must say)
    "empty": ("", "is empty"),
    "no header": ("https://a.example/hook,SECRET_A\n", "the header must name the columns url,secret_env"),
    "a misspelt column": ("url,secret-env\nhttps://a.example/hook,A\n", "the header must name the columns"),
    "a missing field": ("url,secret_env\nhttps://a.example/hook\n", "line 2: 1 fields, where the header has 2"),
    "no URL": ("url,secret_env\n,SECRET_A\n", "line 2: the url must be an http:// or https:// URL"),
    "not http": ("url,secret_env\nftp://a.example/hook,\n", "line 2: the url must be an http:// or https:// URL"),
    "no host": ("url,secret_env\nhttps:///hook,\n", "the url must be an http:// or https:// URL with a host"),
    "the secret pasted for its name": (
        f"url,secret_env\nhttps://a.example/hook,{PASTED_SECRET}!\n",
        "secret_env must be the name of an environment variable",
    ),
    "a mixed-case secret pasted for its name": (
        "url,secret_env\nhttps://a.example/hook,whsec_Abc123Def456Ghi789Jkl\n",
        "secret_env must be the name of an environment variable (upper-case",
    ),
    "no header, and a password in the first target": (
        "https://admin:hunter2pass@a.example/hook,SECRET_A\n",
        "(is the header row missing?)",
    ),
    "a URL whose host cannot be parsed": (
        "url,secret_env\nhttp://user:pa\uff03ssw0rd@127.0.0.1/webhook,\n",
        "line 2: the url cannot be parsed",
    ),
    "a target twice": (
        "url,secret_env\nhttps://a.example/hook,A\n\nhttps://a.example/hook,B\n",
        "line 4: the same URL as line 2",
    ),
    "only a header": ("url,secret_env\n", "lists no targets"),
    "not UTF-8": ("url,secret_env\nhttps://a.example/caf\xe9,\n", "is not UTF-8"),
    "a NUL byte": ("url,secret_env\nhttps://a.example/\0,\n", "line 2: the url holds a space or a control character"),
}


@pytest.mark.parametrize(("text", "says"), BAD_FILES.values(), ids=list(BAD_FILES))
def test_bad_targets_file_is_a_clear_error(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "targets.csv"
    path.write_bytes(text.encode("latin-1") if text.isascii() or "\xe9" in text else text.encode())
    with pytest.raises(TargetsError, match=None) as raised:
        read_targets(str(path))
    assert says in str(raised.value)
    for pasted in (PASTED_SECRET, "whsec_Abc123Def456Ghi789Jkl", "hunter2pass", "ssw0rd"):
        assert pasted not in str(raised.value)


def test_missing_targets_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="cannot read"):
        read_targets(str(tmp_path / "nowhere.csv"))


# --- the fleet's answer ---


def result(index: int, status: str, code: int, failed: tuple[str, ...] = ()) -> TargetResult:
    return TargetResult(
        index=index,
        url=f"https://{index}.example/hook",
        secret_env="",
        ready=status == "READY",
        status=status,  # type: ignore[arg-type]
        verdict=f"{status}: ...",
        failed=list(failed),
        should_failed=[],
        exit_code=code,
    )


READY, NOT_READY = result(1, "READY", 0), result(2, "NOT READY", 1, ("AUTH-1",))
UNREACHABLE, HARNESS = result(3, "NO VERDICT", 69), result(4, "NO VERDICT", 3)
NO_SECRET, STOPPED = result(5, "NO VERDICT", 4), result(6, "NO VERDICT", 2)
EXIT_CODES = {
    "all ready": ([READY, READY], ExitCode.OK),
    "one not ready": ([READY, NOT_READY, UNREACHABLE, HARNESS], ExitCode.REQUIREMENT_FAILED),
    "one unreachable, none failed": ([READY, UNREACHABLE, NO_SECRET, HARNESS], ExitCode.TARGET_UNREACHABLE),
    "a worker without the secret": ([READY, NO_SECRET, HARNESS], ExitCode.USAGE_ERROR),
    "a harness failure": ([READY, HARNESS, STOPPED], ExitCode.INTERNAL_ERROR),
    "a run stopped": ([READY, STOPPED], ExitCode.INTERRUPTED),
}


@pytest.mark.parametrize(("results", "code"), EXIT_CODES.values(), ids=list(EXIT_CODES))
def test_fleet_exit_code(results: list[TargetResult], code: ExitCode) -> None:
    assert fleet_exit_code(results) == code


def test_interrupted_fleet_is_never_ok_and_a_failure_stands() -> None:
    assert fleet_exit_code([READY, UNREACHABLE], interrupted=True) == ExitCode.INTERRUPTED
    assert fleet_exit_code([READY, NOT_READY], interrupted=True) == ExitCode.REQUIREMENT_FAILED


def test_fleet_verdict_names_the_targets_that_keep_it_from_ready() -> None:
    assert fleet_verdict([READY, READY]).startswith("READY: all 2 targets")
    line = fleet_verdict([READY, NOT_READY, UNREACHABLE])
    assert line.startswith("NOT READY: 1 of 3 targets READY")
    assert "1 NOT READY (#2)" in line
    assert "1 NO VERDICT (#3)" in line
    assert fleet_verdict([READY, UNREACHABLE]).startswith("NO VERDICT")
    assert not fleet_verdict([READY], interrupted=True).startswith("READY")


# --- the other targets' secrets ---

OTHER = Secret("another-webhooks-secret-7f3e91c2")


def test_cross_masking_masks_another_targets_secret_wherever_a_receiver_put_it() -> None:
    leaked = OTHER.reveal().encode().hex()
    data = result(1, "NOT READY", 1).to_dict()
    data["report"] = {"records": [{"message": f"got {OTHER.reveal()}", "exchange": {"response_body": leaked}}]}
    masked = cross_masked(data, [OTHER])
    shown = json.dumps(masked)
    assert not OTHER.leaked_in(shown)
    assert "[Filtered]" in shown


def test_cross_masking_masks_the_start_of_another_secret_where_an_excerpt_was_cut() -> None:
    # The engine masks its own secret before it cuts an excerpt; another's, only in the cut text.
    data = result(1, "NOT READY", 1).to_dict()
    data["report"] = {
        "records": [{"exchange": {"response_body": f"AAAA{OTHER.reveal()[:11]} ... (30 more characters)"}}]
    }
    masked = cross_masked(data, [OTHER])
    assert masked["report"]["records"][0]["exchange"]["response_body"] == "AAAA[Filtered] ... (30 more characters)"


def test_cross_masking_leaves_a_clean_result_as_it_is() -> None:
    data = result(1, "READY", 0).to_dict()
    assert cross_masked(data, [OTHER]) is data


def test_a_job_carries_the_name_of_the_secret_never_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_A", OTHER.reveal())
    settings = resolve({}, {"WEBHOOK_SECRET": OTHER.reveal()}, {"timeout": "2", "strict": True})
    targets = [fleet.FleetTarget(1, 2, "https://a.example/hook", "SECRET_A")]
    (job,) = fleet.jobs_for(targets, settings)
    assert job["secret_env"] == "SECRET_A"
    assert job["settings"] == {"timeout": 2.0, "strict": True}
    assert not OTHER.leaked_in(json.dumps(job))


# --- whole runs ---


def targets_in(report: Path) -> dict[str, dict[str, object]]:
    data = json.loads(report.read_text())
    schema = json.loads((schema_dir() / "fleet-report.schema.json").read_text())
    registry = fleet_schemas()
    jsonschema.Draft202012Validator(schema, registry=registry).validate(data)
    return {t["url"]: t for t in data["targets"]}


def fleet_schemas():  # type: ignore[no-untyped-def]
    from referencing import Registry, Resource

    resources = []
    for name in ("report.schema.json", "fleet-report.schema.json"):
        schema = json.loads((schema_dir() / name).read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def verdict_of(target: dict[str, object]) -> tuple[object, ...]:
    return (target["status"], target["failed"], target["should_failed"], target["exit_code"])


def test_every_target_gets_the_verdict_check_gives_it_alone(
    mixed_fleet: list[Served], alone: dict[str, tuple[object, ...]], tmp_path: Path
) -> None:
    report = tmp_path / "fleet.json"
    csv = targets_file(tmp_path / "targets.csv", mixed_fleet, (UNREACHABLE_URL, ""))
    run = check_many(str(csv), "--report-json", str(report), env=secrets_environment(mixed_fleet))
    found = targets_in(report)
    assert {url: verdict_of(t) for url, t in found.items()} == alone
    assert run.returncode == ExitCode.REQUIREMENT_FAILED, run.stderr
    # One line per target as it ends, then the counts, the report, and the verdict last.
    lines = run.stdout.splitlines()
    assert len([line for line in lines if line.startswith("[")]) == len(alone)
    assert lines[-2] == "-- webhook conformance fleet verdict --"
    assert lines[-1].startswith("NOT READY: ")
    assert run.stderr == ""


@pytest.fixture
def hung() -> Iterator[str]:
    """A receiver that takes every connection into its backlog and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=256) as sock:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/webhook"


def test_a_hung_target_holds_up_no_other(hung: str, tmp_path: Path) -> None:
    correct = [gallery.Broken(gallery.correct, frozenset())] * 2
    with serving(correct) as served:
        # The hung one first, with one other slot: every other target is checked while it waits out its timeouts
        # (about ten seconds of them at 2 s; a correct receiver takes one or two).
        csv = targets_file(tmp_path / "targets.csv", [], (hung, ""), *((s.url, s.secret_env) for s in served))
        run = check_many(str(csv), "--targets-at-once", "2", "--timeout", "2", env=secrets_environment(served))
    lines = [line for line in run.stdout.splitlines() if line.startswith("[")]
    assert [hung in line for line in lines] == [False, False, True], run.stdout
    assert all("READY" in line for line in lines[:2])
    assert "NOT READY" in lines[2]
    assert "HS-1" in lines[2]
    assert run.returncode == ExitCode.REQUIREMENT_FAILED


def test_a_target_that_kills_its_process_is_reported_and_the_rest_go_on() -> None:
    jobs = [{"index": n, "url": UNREACHABLE_URL, "secret_env": ""} for n in (1, 2)]
    full = fleet.jobs_for([fleet.FleetTarget(1, 2, UNREACHABLE_URL, "")], resolve({}, {}, {}))[0]
    results, interrupted = fleet.run_local([{**full, **job} for job in jobs], 2, lambda r: None, work=dies_first)
    assert not interrupted
    assert results[0].problem == "the process checking it ended without a result (exit code 9)"
    assert results[0].exit_code == ExitCode.INTERNAL_ERROR
    assert results[1].exit_code == ExitCode.TARGET_UNREACHABLE


def test_a_run_past_the_time_limit_is_stopped_and_the_rest_go_on(hung: str, tmp_path: Path) -> None:
    with serving([gallery.Broken(gallery.correct, frozenset())]) as served:
        csv = targets_file(tmp_path / "targets.csv", served, (hung, ""))
        report = tmp_path / "fleet.json"
        # A correct receiver's run takes a second or two; the hung one's waits out 5 s timeouts for far longer.
        run = check_many(
            str(csv), "--target-time-limit", "8", "--report-json", str(report), env=secrets_environment(served)
        )
    found = targets_in(report)
    assert found[served[0].url]["status"] == "READY"
    assert found[hung]["status"] == "NO VERDICT"
    assert "took longer than 8 s and was stopped" in str(found[hung]["problem"])
    assert run.returncode == ExitCode.INTERRUPTED


def test_no_secret_of_any_target_shows_anywhere(tmp_path: Path) -> None:
    """Each receiver echoes every secret it was told, its own and another target's (misconfigured with it), in
    several spellings: none of them may show in the terminal, the JSON, the Markdown or the HTML."""
    own, other = "fleet-own-secret-4b7d0e2a9c", "fleet-other-secret-81f6c3d5ae"

    def echoes_both(request: gallery.Request, seen: list[str]) -> gallery.Response:
        body = (
            f"expected {own} or {other.upper()} ({other.encode().hex()}); got {request.headers.get('X-Webhook-Secret')}"
        )
        ok = request.headers.get("X-Webhook-Secret") == own
        return gallery.Response(body, 200 if ok else 401)

    with serving([gallery.Broken(echoes_both, frozenset())] * 2) as served:
        csv = targets_file(tmp_path / "targets.csv", served)
        paths = {kind: tmp_path / f"fleet.{kind}" for kind in ("json", "md", "html")}
        options = [f"--report-{kind}={path}" for kind, path in paths.items()]
        env = {"FLEET_SECRET_1": own, "FLEET_SECRET_2": other, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
        run = check_many(str(csv), *options, env=env)
    shown = {"stdout": run.stdout, "stderr": run.stderr, "summary": (tmp_path / "summary.md").read_text()}
    shown |= {kind: path.read_text() for kind, path in paths.items()}
    for where, text in shown.items():
        for secret in (Secret(own), Secret(other)):
            assert not secret.leaked_in(text), where
    assert "LEAK-1" in json.loads(shown["json"])["targets"][0]["failed"]


# --- usage errors: before anything is sent ---


def test_a_secret_not_set_is_named_before_anything_runs(tmp_path: Path) -> None:
    csv = tmp_path / "targets.csv"
    csv.write_text("url,secret_env\nhttp://127.0.0.1:9/webhook,SHOP_SECRET\nhttp://127.0.0.1:9/other,\n")
    run = check_many(str(csv))
    assert run.returncode == ExitCode.USAGE_ERROR
    assert "not set in this environment: SHOP_SECRET" in run.stderr
    assert run.stdout == ""


def test_a_secret_in_clear_is_refused_as_check_refuses_it(tmp_path: Path) -> None:
    csv = tmp_path / "targets.csv"
    csv.write_text("url,secret_env\nhttp://shop.example/webhook,SHOP_SECRET\n")
    run = check_many(str(csv), env={"SHOP_SECRET": "a-secret-for-the-shop-0123"})
    assert run.returncode == ExitCode.USAGE_ERROR
    assert "target 1 (line 2): the target is http://shop.example, on another machine" in run.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--targets-at-once", "0"], "is not a whole number from 1 to 64"),
        (["--target-time-limit", "nan"], "is not a number of seconds above 0"),
        (
            ["--queue", "redis://127.0.0.1:9/0", "--targets-at-once", "2"],
            "--targets-at-once is for a run on this machine",
        ),
        (["--target-url", "https://a.example/hook"], "unrecognized arguments: --target-url"),
        (["--queue", " "], "the --queue URL is empty"),
    ],
    ids=[
        "no targets at once",
        "a time limit that is not a number",
        "both modes",
        "a target on the command line",
        "an empty queue URL",
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, args: list[str], says: str) -> None:
    csv = tmp_path / "targets.csv"
    csv.write_text("url,secret_env\nhttp://127.0.0.1:9/webhook,\n")
    run = check_many(str(csv), *args)
    assert run.returncode == ExitCode.USAGE_ERROR
    assert says in run.stderr


def test_a_password_in_a_url_never_goes_to_redis(tmp_path: Path) -> None:
    csv = tmp_path / "targets.csv"
    csv.write_text("url,secret_env\nhttp://user:a-long-url-password-0123@127.0.0.1:9/webhook,\n")
    run = check_many(str(csv), "--queue", "redis://127.0.0.1:9/0")
    assert run.returncode == ExitCode.USAGE_ERROR
    assert "its URL holds a password, which would travel through Redis" in run.stderr
    assert "a-long-url-password-0123" not in run.stderr


def test_the_environment_s_target_and_secret_apply_to_no_target(tmp_path: Path) -> None:
    with serving([gallery.Broken(gallery.correct, frozenset())]) as served:
        csv = targets_file(tmp_path / "targets.csv", served)
        report = tmp_path / "fleet.json"
        env = {
            **secrets_environment(served),
            "WEBHOOK_TARGET_URL": "http://127.0.0.1:9/elsewhere",
            "WEBHOOK_SECRET": "a-secret-meant-for-one-check-run",
        }
        run = check_many(str(csv), "--report-json", str(report), env=env)
    assert run.returncode == ExitCode.OK, run.stdout
    assert list(targets_in(report)) == [served[0].url]


def test_ctrl_c_stops_every_target_and_still_gives_a_verdict(hung: str, tmp_path: Path) -> None:
    import signal

    csv = targets_file(tmp_path / "targets.csv", [], (hung, ""), (UNREACHABLE_URL, ""))
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "FLEET_SECRET_"))}
    command = [sys.executable, "-m", "harness", "check-many", str(csv), "--report-json", str(tmp_path / "f.json")]
    process = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = ""
    while not line.startswith("["):  # the header lines, then the unreachable target's line
        line = process.stdout.readline()
        assert line, "check-many ended before a target's line"
    assert "NO VERDICT" in line
    process.send_signal(signal.SIGINT)  # the hung target is still waiting out its 5 s timeouts
    out, err = process.communicate(timeout=30)
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert "not checked: the fleet run was interrupted" in out
    assert out.splitlines()[-1].endswith("; the run was interrupted")
    assert "Traceback" not in err
    assert json.loads((tmp_path / "f.json").read_text())["exit_code"] == ExitCode.INTERRUPTED
