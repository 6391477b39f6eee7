"""The reference receiver's health check, start-up and file modes tell the truth about its inbox.

``GET /healthz`` answers 503 whenever a delivery could not be stored (the inbox file or its -wal removed
or replaced, a file it must write not writable, the disk full), and 200 again as soon as it could; its
body says no more than ``{"status": "unavailable"}``, the reason goes to the log. A receiver that cannot
write its inbox does not start, and says why. The inbox's files are the owner's alone.

Real files, real served receivers; a small tmpfs for the full and read-only disks (root only: skipped
otherwise), and the receiver run as ``nobody`` (through setpriv) where a file mode must be tested as root,
since root may write any file whatever its mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import free_port, stop, stored_names, wait_for_port
from harness.payloads.schemas import sample_data
from reference_receiver import Config, Record, RunningServer, SqliteInbox, WebhookApp, start_in_thread

SECRET = "Zq8vN3kP0wLr5TbX2mYc7HdJ4sFa9G"
OK = (200, b'{"status": "ok"}')
UNAVAILABLE = (503, b'{"status": "unavailable"}')
#: Root without the capabilities that let it read and write any file whatever its mode: it obeys file modes
#: as their owner does, and still reads the interpreter's environment (tox keeps its venvs 0700, so another
#: user such as nobody could not even import uvicorn).
WITHOUT_ROOTS_OVERRIDES = ["--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]


def delivery(name: str, **change: object) -> bytes:
    return json.dumps(
        {"event": "Site Status Update", "data": {**sample_data("Site Status Update"), "name": name, **change}}
    ).encode()


def post(server: RunningServer, body: bytes) -> int:
    headers = {"X-Webhook-Secret": SECRET, "Content-Type": "application/json"}
    return requests.post(server.url, data=body, headers=headers, timeout=5, allow_redirects=False).status_code


def health(url: str) -> tuple[int, bytes]:
    response = requests.get(url.replace("/webhook", "/healthz"), timeout=5)
    return response.status_code, response.content


def app_for(inbox: Path) -> WebhookApp:
    # No handlers and a long order window: nothing but the deliveries writes to the inbox.
    return WebhookApp(Config(secret=SECRET, inbox=str(inbox), order_window=60), handlers={})


@contextlib.contextmanager
def serving(inbox: Path) -> Iterator[RunningServer]:
    with start_in_thread(app_for(inbox)) as server:
        yield server


def reasons(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [str(getattr(r, "reason", "")) for r in caplog.records if r.name == "reference_receiver"]


# --- Health follows the inbox -------------------------------------------------------------------------------


def test_health_is_ok_while_the_inbox_can_be_written(tmp_path: Path) -> None:
    with serving(tmp_path / "inbox.sqlite3") as server:
        assert post(server, delivery("kept.example.com")) == 200
        assert health(server.url) == OK


def test_a_deleted_inbox_file_makes_health_503_with_the_reason_in_the_log_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "reference_receiver")
    inbox = tmp_path / "inbox.sqlite3"
    with serving(inbox) as server:
        inbox.unlink()  # its -wal and -shm stay: SQLite would go on writing to the unlinked file
        status, body = health(server.url)
        assert (status, body) == UNAVAILABLE
        assert str(tmp_path).encode() not in body
        assert post(server, delivery("lost.example.com")) == 503
    assert any("removed or replaced" in reason and str(inbox) in reason for reason in reasons(caplog))


def test_a_replaced_inbox_file_makes_health_503(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    SqliteInbox(str(tmp_path / "other.sqlite3")).close()
    with serving(inbox) as server:
        os.replace(tmp_path / "other.sqlite3", inbox)  # a restore from a backup, under a running receiver
        assert health(server.url) == UNAVAILABLE
        assert post(server, delivery("lost.example.com")) == 503


def test_a_deleted_write_ahead_log_is_noticed_before_an_event_goes_into_it(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    with serving(inbox) as server:
        assert post(server, delivery("kept.example.com")) == 200
        Path(f"{inbox}-wal").unlink()  # what was committed there is still readable through SQLite's open file
        assert health(server.url) == UNAVAILABLE
        assert post(server, delivery("lost.example.com")) == 503  # not acknowledged into an unlinked file


def test_an_inbox_behind_a_symbolic_link_is_watched_where_sqlite_writes(tmp_path: Path) -> None:
    (tmp_path / "volume").mkdir()
    link = tmp_path / "inbox.sqlite3"
    link.symlink_to(tmp_path / "volume" / "inbox.sqlite3")
    with serving(link) as server:
        assert post(server, delivery("kept.example.com")) == 200
        assert health(server.url) == OK
        (tmp_path / "volume" / "inbox.sqlite3-wal").unlink()  # SQLite keeps it beside the file, not the link
        assert health(server.url) == UNAVAILABLE


def test_health_answers_again_after_a_reason_was_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "reference_receiver")
    inbox = tmp_path / "inbox.sqlite3"
    with serving(inbox) as server:
        inbox.unlink()
        assert [health(server.url) for _ in range(5)] == [UNAVAILABLE] * 5
    assert sum("removed or replaced" in reason for reason in reasons(caplog)) == 1  # not once per poll


# --- A full disk, a read-only disk (a small tmpfs, mounted as root) -----------------------------------------


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of its own, unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = run("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(disk))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        if run("umount", str(disk)).returncode != 0:
            run("umount", "-l", str(disk))


def write_blocks(fd: int, count: int) -> None:
    for _ in range(count):
        os.write(fd, b"\0" * 4096)


def fill(disk: Path) -> Path:
    """Fill the file system with one file, until no block is left; the file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space left") as full:
            write_blocks(fd, 4096)  # 2 MiB in 4 KiB writes, and some to spare
        assert full.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_makes_health_503_and_space_coming_back_makes_it_ok_at_once(small_disk: Path) -> None:
    inbox = small_disk / "inbox.sqlite3"
    with serving(inbox) as server:
        assert health(server.url) == OK
        filler = fill(small_disk)
        answers = {}
        for i in range(300):  # SQLite first fills the room left in its -wal, then cannot grow it
            name = f"full-{i}.example.com"
            answers[name] = post(server, delivery(name, label="x" * 8000))
            if answers[name] == 503:
                break
        assert 503 in answers.values(), "the disk never refused a write"
        assert health(server.url) == UNAVAILABLE
        filler.unlink()
        assert health(server.url) == OK  # at once: no write needed to find out
        assert post(server, delivery("after.example.com")) == 200
    acknowledged = {name for name, status in answers.items() if status == 200} | {"after.example.com"}
    assert set(stored_names(inbox)) == acknowledged


@pytest.fixture
def read_only_inbox(tmp_path: Path) -> Iterator[Path]:
    """An existing inbox this process cannot write: 0400 for a user, on a read-only mount for root."""
    if os.geteuid() != 0:
        inbox = tmp_path / "inbox.sqlite3"
        SqliteInbox(str(inbox)).close()
        inbox.chmod(0o400)
        yield inbox
        return
    disk = tmp_path / "disk"
    disk.mkdir()
    if run("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)).returncode != 0:
        pytest.skip("root may write a file of any mode, and no file system can be mounted read-only here")
    try:
        SqliteInbox(str(disk / "inbox.sqlite3")).close()
        remounted = run("mount", "-o", "remount,ro", str(disk))
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remounted.stderr.strip()}")
        yield disk / "inbox.sqlite3"
    finally:
        run("umount", "-l", str(disk))


async def lifespan_startup(app: WebhookApp) -> list[dict[str, Any]]:
    """The messages the app sends for a server's lifespan start-up (then shutdown, if it started)."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app({"type": "lifespan"}, receive, send), 10)
    return sent


def test_startup_fails_naming_an_inbox_it_cannot_write(read_only_inbox: Path) -> None:
    [message] = asyncio.run(lifespan_startup(app_for(read_only_inbox)))
    assert message["type"] == "lifespan.startup.failed"
    assert f"the inbox file {read_only_inbox} is not writable" in message["message"]


# --- As its own process, as a user other than root ---------------------------------------------------------------


@pytest.fixture
def user_dir() -> Iterator[tuple[Path, list[str]]]:
    """A directory of the user the receiver runs as, and the command prefix that runs it so: root without
    its file overrides when the tests run as root (root may write any file whatever its mode), else this
    user."""
    directory = Path(tempfile.mkdtemp(prefix="reference-inbox-"))
    try:
        prefix: list[str] = []
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: a file's mode cannot be tested without root's overrides")
            prefix = [setpriv, *WITHOUT_ROOTS_OVERRIDES]
        yield directory, prefix
    finally:
        os.chmod(directory, 0o700)
        shutil.rmtree(directory, ignore_errors=True)


def receiver_command(prefix: list[str], port: int) -> list[str]:
    return [*prefix, sys.executable, "-m", "reference_receiver", "--port", str(port)]


def environment(inbox: Path) -> dict[str, str]:
    return {**os.environ, "WEBHOOK_SECRET": SECRET, "WEBHOOK_INBOX": str(inbox), "PYTHONDONTWRITEBYTECODE": "1"}


def start_up_output(prefix: list[str], inbox: Path) -> tuple[int, str]:
    """Run ``python -m reference_receiver`` on ``inbox``: its exit code and output, once it has given up.
    One that starts all the same is stopped, and fails the test."""
    process = subprocess.Popen(
        receiver_command(prefix, free_port()), env=environment(inbox), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        stop(process, timeout=10)
        raise AssertionError("the receiver started on an inbox it cannot write") from None
    return process.returncode, output.decode("utf-8", "replace")


def test_the_module_exits_non_zero_naming_a_read_only_inbox_file(user_dir: tuple[Path, list[str]]) -> None:
    directory, prefix = user_dir
    inbox = directory / "inbox.sqlite3"
    with contextlib.closing(SqliteInbox(str(inbox))):
        pass
    inbox.chmod(0o400)
    code, output = start_up_output(prefix, inbox)
    assert code != 0
    assert f"cannot start: the inbox file {inbox} is not writable" in output


def test_the_module_exits_non_zero_naming_a_directory_it_cannot_create_the_inbox_in(
    user_dir: tuple[Path, list[str]],
) -> None:
    directory, prefix = user_dir
    locked = directory / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    code, output = start_up_output(prefix, locked / "inbox.sqlite3")
    assert code != 0
    assert f"cannot start: cannot create the inbox {locked / 'inbox.sqlite3'}: permission denied" in output


def test_health_follows_the_mode_of_the_inbox_file(user_dir: tuple[Path, list[str]]) -> None:
    directory, prefix = user_dir
    inbox, port = directory / "inbox.sqlite3", free_port()
    process = subprocess.Popen(
        receiver_command(prefix, port), env=environment(inbox), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, process)
        url = f"http://127.0.0.1:{port}/webhook"
        assert health(url) == OK
        inbox.chmod(0o400)  # the next start, or a new connection, could not write it
        assert health(url) == UNAVAILABLE
        inbox.chmod(0o600)
        assert health(url) == OK
    finally:
        stop(process, timeout=10)


# --- File modes ---------------------------------------------------------------------------------------------------


def modes(inbox: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in sorted(inbox.parent.glob(inbox.name + "*"))}


def a_record() -> Record:
    return Record(key="k", event="Site Status Update", resource="Site:a", occurred_at="", payload="{}")


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o277], ids=oct)
def test_a_new_inbox_its_wal_and_its_shm_are_0600_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    with umask(mask):
        store = SqliteInbox(str(inbox))
    try:
        assert store.put_many([a_record()]) == [True]
        assert modes(inbox) == {"inbox.sqlite3": 0o600, "inbox.sqlite3-shm": 0o600, "inbox.sqlite3-wal": 0o600}
    finally:
        store.close()


def test_an_existing_inbox_open_to_others_is_made_owner_only(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    SqliteInbox(str(inbox)).close()
    inbox.chmod(0o644)  # as the receiver left it before, under the usual umask
    for leftover in ("-wal", "-shm"):  # as a crash leaves them
        Path(f"{inbox}{leftover}").touch()
        Path(f"{inbox}{leftover}").chmod(0o666)
    store = SqliteInbox(str(inbox))
    try:
        assert store.put_many([a_record()]) == [True]
        assert set(modes(inbox).values()) == {0o600}
    finally:
        store.close()


def test_an_owner_only_mode_is_never_loosened(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox.sqlite3"
    SqliteInbox(str(inbox)).close()
    inbox.chmod(0o400)
    with contextlib.suppress(OSError):  # a user cannot write it, and the inbox says so; root can
        SqliteInbox(str(inbox)).close()
    assert stat.S_IMODE(inbox.stat().st_mode) == 0o400
