"""A real PostgreSQL server for tests and benchmarks: initdb in a temporary directory, loopback only, stopped
at the end. Debian's ``postgresql`` package provides the binaries (``.ci/run`` installs it when missing).

``initdb`` refuses to run as root, so as root the cluster belongs to the ``postgres`` user. Authentication is
``trust`` on 127.0.0.1 only, for a server that lives as long as a test session in a private directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["MISSING", "PostgresServer", "binaries", "running_postgres"]

MISSING = "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql"


def binaries() -> Path | None:
    """The directory of initdb and pg_ctl: PATH first, then Debian's /usr/lib/postgresql/N/bin, newest."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


class PostgresServer:
    def __init__(self, directory: Path, port: int, bindir: Path, user: str | None) -> None:
        self.directory, self.port, self._bindir, self._user = directory, port, bindir, user

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str, schema: str | None = None) -> str:
        options = f"?options=-csearch_path%3D{schema}" if schema else ""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}{options}"

    def fresh_schema(self) -> str:
        """A URL whose tables land in a new, empty schema: a fresh inbox without a new database."""
        import psycopg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {schema}")
        return self.url_for("postgres", schema)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self._bindir / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, timeout=timeout, capture_output=True)

    def start(self) -> None:
        data = self.directory / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        settings = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=300"
        self._run("pg_ctl", "-D", str(data), "-o", settings, "-l", str(self.directory / "log"), "-w", "start")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop", timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the length of the block. RuntimeError if none can be run."""
    bindir = binaries()
    if bindir is None:
        raise RuntimeError(MISSING)
    user = "postgres" if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="webhook-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(directory, _free_port(), bindir, user)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
