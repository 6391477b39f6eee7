"""check-many --queue on a real Redis server with real ``rq worker`` processes: the same verdict per target as
``check`` alone, a hundred receivers on two workers, and no secret in Redis at any moment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fleet_receivers import UNREACHABLE_URL, Served, check_many, serving, targets_file
from redis_queue import everything_in, redis_server, rq_workers

import gallery
import tools
from harness.config.exitcodes import ExitCode
from harness.config.secret import Secret
from harness.judging.catalogue import catalogue

MUSTS = frozenset(r.id for r in catalogue().values() if r.level == "MUST")
#: Every gallery secret under every name a fleet of this module gives it (all the gallery's are one value).
WORKER_SECRETS = {f"FLEET_SECRET_{n}": gallery.SECRET for n in range(1, 201)}


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server(tools.require("redis-server")) as url:
        yield url


@pytest.fixture(scope="module")
def workers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two workers on the default queue, with every secret the fleets of this module name; yields their logs."""
    logs = tmp_path_factory.mktemp("workers")
    with rq_workers(redis_url, 2, WORKER_SECRETS, logs=logs):
        yield logs


def targets_of(report: Path) -> dict[str, dict[str, object]]:
    return {t["url"]: t for t in json.loads(report.read_text())["targets"]}


def test_queue_gives_every_target_the_verdict_check_gives_it_alone(
    mixed_fleet: list[Served], alone: dict[str, tuple[object, ...]], redis_url: str, workers: Path, tmp_path: Path
) -> None:
    report = tmp_path / "fleet.json"
    csv = targets_file(tmp_path / "targets.csv", mixed_fleet, (UNREACHABLE_URL, ""))
    # The collector holds no secret: the workers do.
    run = check_many(str(csv), "--queue", redis_url, "--report-json", str(report))
    found = targets_of(report)
    verdicts = {url: (t["status"], t["failed"], t["should_failed"], t["exit_code"]) for url, t in found.items()}
    assert verdicts == alone
    assert run.returncode == ExitCode.REQUIREMENT_FAILED, run.stdout + run.stderr
    assert len({t["worker"] for t in found.values()}) == 2  # both workers took jobs
    assert json.loads(report.read_text())["mode"] == "queue"


def test_a_hundred_receivers_on_two_workers(redis_url: str, workers: Path, tmp_path: Path) -> None:
    # Every gallery receiver that runs with the default settings, each of which must fail exactly what the gallery
    # says it breaks (as its own test shows it does alone), then receivers that get everything right, up to 100.
    kinds = [b for b in gallery.GALLERY if not b.args]
    right = [gallery.Broken(handler, frozenset()) for handler in (gallery.correct, *gallery.TWINS)]
    fleet = kinds + (right * 100)[: 100 - len(kinds)]
    assert len(fleet) >= 100
    with serving(fleet) as served:
        csv = targets_file(tmp_path / "targets.csv", served)
        report = tmp_path / "fleet.json"
        run = check_many(str(csv), "--queue", redis_url, "--report-json", str(report))
    found = targets_of(report)
    assert len(found) == len(served)
    wrong = {
        s.broken.name: (sorted(found[s.url]["failed"] + found[s.url]["should_failed"]), sorted(s.broken.fails))
        for s in served
        if set(found[s.url]["failed"]) | set(found[s.url]["should_failed"]) != s.broken.fails
    }
    assert wrong == {}
    assert sum(t["ready"] for t in found.values()) == sum(not s.broken.fails & MUSTS for s in served)
    assert run.returncode == ExitCode.REQUIREMENT_FAILED


def test_no_secret_travels_through_or_rests_in_redis(redis_url: str, tmp_path: Path) -> None:
    """A queue no worker listens on yet: the jobs wait in Redis, and nothing in Redis holds a secret; then a
    worker runs them, and once the results are collected no job is left."""
    own = "queue-own-secret-3c9d5f1a7e"
    other = "queue-other-secret-6a2e8b4c0d"

    def echoes_both(request: gallery.Request, seen: list[str]) -> gallery.Response:
        got = request.headers.get("X-Webhook-Secret")
        body = f"expected {own} or {other} ({other.encode().hex()}); got {got}"
        return gallery.Response(body, 200 if got == own else 401)

    secrets = {"FLEET_SECRET_1": own, "FLEET_SECRET_2": other}
    with serving([gallery.Broken(echoes_both, frozenset())] * 2) as served:
        csv = targets_file(tmp_path / "targets.csv", served)
        report = tmp_path / "fleet.json"
        command = [sys.executable, "-m", "harness", "check-many", str(csv), "--queue", redis_url]
        command += ["--queue-name", "leak-test", "--report-json", str(report)]
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "FLEET_SECRET_"))}
        collector = subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            waiting = _wait_for_jobs(redis_url, "leak-test", 2)
            with rq_workers(redis_url, 1, secrets, queue="leak-test"):
                out, err = collector.communicate(timeout=300)
        finally:
            collector.kill()
        left = everything_in(redis_url)
    assert "webhook conformance: target 1" in waiting  # the jobs were there to be searched
    for text in (waiting, left, out, err, report.read_text()):
        for secret in (Secret(own), Secret(other)):
            assert not secret.leaked_in(text)
    assert "rq:job:" not in left
    assert "no rq worker listens on the queue 'leak-test' yet" in out
    assert collector.returncode == ExitCode.REQUIREMENT_FAILED


def _wait_for_jobs(url: str, queue: str, count: int, timeout: float = 60) -> str:
    import redis
    from rq import Queue

    queued = Queue(queue, connection=redis.Redis.from_url(url))
    deadline = time.monotonic() + timeout
    while queued.count < count:
        assert time.monotonic() < deadline, f"{count} jobs never reached the queue {queue!r}"
        time.sleep(0.05)
    return everything_in(url)


def test_the_search_of_redis_finds_a_secret_in_a_job(redis_url: str) -> None:
    """The search above can fail: a job that did carry a secret in its arguments is found."""
    import redis
    from rq import Queue

    planted = "a-secret-a-job-must-never-carry-0123"
    job = Queue("planted", connection=redis.Redis.from_url(redis_url)).enqueue("os.getcwd", {"secret": planted})
    try:
        assert Secret(planted).leaked_in(everything_in(redis_url))
    finally:
        job.delete()


def test_a_worker_without_the_secret_says_so(redis_url: str, tmp_path: Path) -> None:
    with serving([gallery.Broken(gallery.correct, frozenset())]) as served, rq_workers(redis_url, 1, {}, "bare"):
        csv = targets_file(tmp_path / "targets.csv", served)
        report = tmp_path / "fleet.json"
        run = check_many(str(csv), "--queue", redis_url, "--queue-name", "bare", "--report-json", str(report))
    (target,) = targets_of(report).values()
    assert target["status"] == "NO VERDICT"
    assert "FLEET_SECRET_1 is not set in the environment of" in str(target["problem"])
    assert run.returncode == ExitCode.USAGE_ERROR


def test_jobs_no_worker_takes_are_cancelled_after_the_wait(redis_url: str, tmp_path: Path) -> None:
    csv = targets_file(tmp_path / "targets.csv", [], (UNREACHABLE_URL, ""))
    run = check_many(str(csv), "--queue", redis_url, "--queue-name", "nobody", "--queue-wait", "1")
    assert "no worker finished its job within 1 s (--queue-wait); the job was cancelled" in run.stdout
    assert run.returncode == ExitCode.INTERRUPTED
    assert "rq:job:" not in everything_in(redis_url).replace("rq:job:planted", "")


def test_redis_that_cannot_be_reached_is_a_clear_error(tmp_path: Path) -> None:
    csv = targets_file(tmp_path / "targets.csv", [], (UNREACHABLE_URL, ""))
    for url, shown in [
        ("redis://:a-redis-password-0123@127.0.0.1:9/0", "redis://:[Filtered]@127.0.0.1:9/0"),
        ("redis://127.0.0.1:9/0?password=a-redis-password-0123", "redis://127.0.0.1:9/0?[Filtered]"),
    ]:
        run = check_many(str(csv), "--queue", url)
        assert run.returncode == ExitCode.TARGET_UNREACHABLE
        assert f"cannot use the Redis server at {shown}" in run.stderr
        assert "a-redis-password-0123" not in run.stdout + run.stderr


def test_a_run_past_the_time_limit_on_a_worker_is_reported_as_stopped(redis_url: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=64) as hung, rq_workers(redis_url, 1, {}, "slow"):
        url = f"http://127.0.0.1:{hung.getsockname()[1]}/webhook"
        csv = targets_file(tmp_path / "targets.csv", [], (url, ""))
        report = tmp_path / "fleet.json"
        options = ["--queue-name", "slow", "--target-time-limit", "2", "--report-json", str(report)]
        run = check_many(str(csv), "--queue", redis_url, *options)
    (target,) = targets_of(report).values()
    assert target["problem"] == "its run took longer than 2 s and was stopped (--target-time-limit)"
    assert run.returncode == ExitCode.INTERRUPTED


def test_ctrl_c_stops_the_jobs_running_and_leaves_none(redis_url: str, tmp_path: Path) -> None:
    import signal

    with socket.create_server(("127.0.0.1", 0), backlog=64) as hung, rq_workers(redis_url, 1, {}, "stopped"):
        url = f"http://127.0.0.1:{hung.getsockname()[1]}/webhook"
        csv = targets_file(tmp_path / "targets.csv", [], (url, ""), (UNREACHABLE_URL.replace("9/", "9/other/"), ""))
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "FLEET_SECRET_"))}
        command = [sys.executable, "-m", "harness", "check-many", str(csv), "--queue", redis_url]
        collector = subprocess.Popen(
            [*command, "--queue-name", "stopped"],
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _wait_for_a_started_job(redis_url, "stopped")
        collector.send_signal(signal.SIGINT)
        out, err = collector.communicate(timeout=60)
        time.sleep(1)  # what a work horse still running would write now
        left = everything_in(redis_url)
    assert collector.returncode == ExitCode.INTERRUPTED, err
    assert "not checked: the fleet run was interrupted" in out
    assert "rq:job:" not in left.replace("rq:job:planted", "")
    assert "rq:results:" not in left


def _wait_for_a_started_job(url: str, queue: str, timeout: float = 60) -> None:
    import redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    registry = StartedJobRegistry(queue=Queue(queue, connection=redis.Redis.from_url(url)))
    deadline = time.monotonic() + timeout
    while not registry.get_job_ids():
        assert time.monotonic() < deadline, "no job started"
        time.sleep(0.05)
