"""``check-many --queue redis://...``: the fleet's targets as RQ jobs, run by ``rq worker`` processes anywhere.

One job per target, calling :func:`harness.run.fleet.check_target`, the same function a local fleet run calls
in its own processes: a worker's verdict on a target is ``check``'s. A job carries the name of the variable
that holds the target's secret, never the value: each worker reads it from its own environment, and masks
its result with every secret of the fleet it holds before the result is written to Redis. The command waits
for the results, gathers them into the fleet's report, and deletes the jobs it made.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from harness.config.exitcodes import ExitCode
from harness.config.fleet import QUEUE_NAME, TIME_LIMIT
from harness.config.secret import Secret
from harness.output.fleet import TargetResult
from harness.run.fleet import Job, OnResult, cross_masked, not_checked, overran, without_password
from harness.wire.untrusted import printable

if TYPE_CHECKING:
    from rq.job import Job as RQJob

__all__ = ["JOB_FUNCTION", "QueueError", "run_queue"]

#: What every job runs: by name, so that a worker imports it, as RQ does.
JOB_FUNCTION = "harness.run.fleet.check_target"
#: How long a result may rest in Redis when nobody collects it (a collector stopped with kill -9); a collected
#: job is deleted at once. Results hold no secret, but no reason to keep them.
RESULT_TTL = 24 * 3600
#: How often the collector asks Redis for the jobs' states.
POLL_SECONDS = 0.25


class QueueError(Exception):
    """Redis cannot be reached or used; the message says where, without a password."""


def run_queue(
    url: str,
    jobs: Sequence[Job],
    on_result: OnResult,
    *,
    queue_name: str = QUEUE_NAME,
    wait: float = TIME_LIMIT,
    time_limit: float = TIME_LIMIT,
    held: Sequence[Secret] = (),
    on_note: Callable[[str], None] = lambda line: None,
) -> tuple[list[TargetResult], bool]:
    """Enqueue one job per target, wait up to ``wait`` seconds for all of them, and return the results in the
    targets' order and whether the run was interrupted. A job no worker finished in time is cancelled and
    counts as not checked. Each result is masked again with the ``held`` secrets, those this process has."""
    import redis
    from rq import Queue, Worker

    try:
        connection = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        connection.ping()
        queue = Queue(queue_name, connection=connection)
        if Worker.count(queue=queue) == 0:
            on_note(
                f"no rq worker listens on the queue {queue_name!r} yet: the jobs wait for one. Start workers with "
                f"the secrets in their environment: rq worker --url {without_password(url)} {queue_name}"
            )
        enqueued = queue.enqueue_many(
            [
                Queue.prepare_data(
                    JOB_FUNCTION,
                    args=(job,),
                    timeout=int(time_limit),
                    # Waiting much longer than the collector does, it would run for nobody.
                    ttl=int(wait) + 60,
                    result_ttl=RESULT_TTL,
                    failure_ttl=RESULT_TTL,
                    # The default is the call with its arguments; a short one keeps `rq info` readable.
                    description=f"webhook conformance: target {job['index']}",
                )
                for job in jobs
            ]
        )
    except (redis.RedisError, ValueError) as exc:
        raise QueueError(f"cannot use the Redis server at {without_password(url)}: {printable(str(exc))}") from None
    by_id = {job.id: data for job, data in zip(enqueued, jobs, strict=True)}
    return _collect(connection, by_id, on_result, wait, held, time_limit)


def _collect(
    connection: Any,
    by_id: dict[str, Job],
    on_result: OnResult,
    wait: float,
    held: Sequence[Secret],
    time_limit: float,
) -> tuple[list[TargetResult], bool]:
    import redis
    from rq.job import Job as RQJob

    results: list[TargetResult] = []
    pending = dict(by_id)
    deadline = time.monotonic() + wait
    interrupted = False

    def done(job_id: str, result: TargetResult) -> None:
        pending.pop(job_id)
        masked = TargetResult.from_dict(cross_masked(result.to_dict(), held)) if held else result
        results.append(masked)
        on_result(masked)

    try:
        while pending:
            for job_id, job in zip(list(pending), RQJob.fetch_many(list(pending), connection=connection), strict=True):
                result = _finished(job, pending[job_id], time_limit)
                if result is not None:
                    done(job_id, result)
                    if job is not None:
                        job.delete()
            if pending and time.monotonic() > deadline:
                for job_id in list(pending):
                    message = f"no worker finished its job within {wait:g} s (--queue-wait); the job was cancelled"
                    _cancel(connection, job_id)
                    done(job_id, not_checked(pending[job_id], message, ExitCode.INTERRUPTED))
            if pending:
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        interrupted = True
    except redis.RedisError as exc:
        message = f"the Redis server stopped answering while the results were collected: {printable(str(exc))}"
        for job_id in list(pending):
            done(job_id, not_checked(pending[job_id], message, ExitCode.INTERRUPTED))
    for job_id in list(pending):  # interrupted: the jobs not yet run must not run for nobody
        _cancel(connection, job_id)
        done(job_id, not_checked(pending[job_id], "not checked: the fleet run was interrupted", ExitCode.INTERRUPTED))
    return sorted(results, key=lambda r: r.index), interrupted


def _finished(job: RQJob | None, data: Job, time_limit: float) -> TargetResult | None:
    """The target's result once its job has ended, however it ended; None while it waits or runs."""
    from rq.job import JobStatus

    if job is None:
        return not_checked(data, "its job disappeared from Redis before it was collected", ExitCode.INTERRUPTED)
    status = job.get_status(refresh=False)
    if status == JobStatus.FINISHED:
        value = job.return_value()
        if isinstance(value, dict):
            return TargetResult.from_dict(value)
        return not_checked(data, "its job finished without a result", ExitCode.INTERNAL_ERROR)
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        # The job function returns for every finding and setup problem: failing is the worker's end (killed,
        # out of memory, its job timeout). Only the last line is shown; the traceback stays with the worker.
        latest = job.latest_result()
        last = (latest.exc_string or "").strip().splitlines()[-1:] if latest is not None else []
        if last and "JobTimeoutException" in last[0]:
            return not_checked(data, overran(time_limit), ExitCode.INTERRUPTED)
        why = f": {printable(last[0][:300])}" if last else ""
        return not_checked(data, f"its job {status.value} on the worker{why}", ExitCode.INTERNAL_ERROR)
    return None


def _cancel(connection: Any, job_id: str) -> None:
    """Cancel a job not run yet; stop one running (its work horse is killed), so that it sends nothing more and
    leaves no result behind; then delete it."""
    from rq.command import send_stop_job_command
    from rq.job import Job as RQJob
    from rq.job import JobStatus

    with contextlib.suppress(Exception):  # gone already, or Redis gone: nothing left to cancel
        job = RQJob.fetch(job_id, connection=connection)
        if job.get_status() == JobStatus.STARTED:
            send_stop_job_command(connection, job_id)
            deadline = time.monotonic() + 10
            while job.get_status() == JobStatus.STARTED and time.monotonic() < deadline:
                time.sleep(0.1)
        else:
            job.cancel()
        job.delete()
