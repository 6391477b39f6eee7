"""An oracle for the project's tests: the Cloud's own delivery call, run by the requests the Cloud pins.

Independent of the harness (imports nothing from it): tests/oracle_sender.py is the sender's call and its
reading of the answer, run by a separate venv with requests==2.31.0 (frappe/press pins ``requests<2.32`` and
no urllib3, so urllib3 is whatever pip resolves). The venv is built once (in the pytest cache when the cache
plugin is on, else in a session temp dir); ``CLOUD_ORACLE_VENV`` names an existing one to use instead.

Use the ``cloud_oracle`` fixture (session scope)::

    def test_x(cloud_oracle: CloudOracle) -> None:
        assert cloud_oracle.activation(url, secret)
        [[first], [second, third]] = cloud_oracle.deliveries(url, secret, [[p1], [p2, p3]])
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REQUESTS_PIN = "requests==2.31.0"
SCRIPT = Path(__file__).with_name("oracle_sender.py")
VALIDATE = {"event": "Webhook Validate", "data": {}}
# What the oracle's subprocess must not inherit: production has no proxy, no .netrc, and verifies TLS against
# certifi's bundle (pass a test CA through ``extra_env={"REQUESTS_CA_BUNDLE": ...}``).
_DROPPED_ENV = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NETRC")


@dataclass(frozen=True)
class SendResult:
    """One send as the Cloud sees it."""

    status: int  # the final response's status; 0 when there is none
    ok: bool  # 2xx, and (for an event) the attempt can be saved: the Cloud records it as Sent
    error: str | None  # why not ok: the sender's own text when status is 0
    note: str | None  # context: redirects followed, a secret sent elsewhere, what the Cloud is left with


@dataclass
class CloudOracle:
    python: Path  # the venv's interpreter
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def _env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if k.upper() not in _DROPPED_ENV and not k.lower().endswith("_proxy")
        }
        env["NETRC"] = os.devnull
        env.update(self.extra_env)
        return env

    def _call(self, scenario: dict[str, Any], backstop: float) -> dict[str, Any]:
        proc = subprocess.run(
            [str(self.python), "-I", str(SCRIPT)],
            input=json.dumps(scenario),
            capture_output=True,
            text=True,
            timeout=backstop,
            env=self._env(),
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"oracle_sender.py exited {proc.returncode}: {proc.stderr.strip()}")
        answer: dict[str, Any] = json.loads(proc.stdout)
        return answer

    def versions(self) -> dict[str, str]:
        """The requests and urllib3 versions the oracle sends with."""
        answer = self._call({"url": "", "secret": "", "steps": []}, backstop=60)
        return {"requests": answer["requests"], "urllib3": answer["urllib3"]}

    def run(
        self,
        url: str,
        secret: str,
        steps: Sequence[Sequence[Any]],
        timeout: float = 5.0,
        deadline: float | None = None,
    ) -> list[list[SendResult]]:
        """Send each step's payloads at once (a step of one is a sequential send), the steps in order.

        ``deadline`` (per step, default 3 x timeout + 5 s) is when an answer that has not ended counts as one
        that never ends; the Cloud's worker would read on until its job's timeout."""
        if deadline is None:
            deadline = 3 * timeout + 5  # per step, enforced by the script; the subprocess timeout is a backstop
        scenario = {"url": url, "secret": secret, "timeout": timeout, "deadline": deadline, "steps": steps}
        answer = self._call(scenario, backstop=30 + deadline * len(steps))
        return [[SendResult(**send) for send in step] for step in answer["results"]]

    def activation(self, url: str, secret: str, timeout: float = 5.0) -> bool:
        """The dashboard's Validate then Activate: two Webhook Validate posts, the second sent only after a 2xx
        to the first (ActivateWebhookDialog.vue shows Activate once validated). Nothing is stored, so only the
        status counts."""
        return all(self.run(url, secret, [[VALIDATE]], timeout)[0][0].ok for _ in range(2))

    def deliveries(
        self,
        url: str,
        secret: str,
        payloads_by_step: Sequence[Sequence[Any]],
        timeout: float = 5.0,
        deadline: float | None = None,
    ) -> list[list[SendResult]]:
        """Event deliveries: ``ok`` means the Cloud saves a Sent attempt."""
        for step in payloads_by_step:
            for payload in step:
                if isinstance(payload, dict) and payload.get("event") == VALIDATE["event"]:
                    raise ValueError("a Webhook Validate post is no delivery: use activation()")
        return self.run(url, secret, payloads_by_step, timeout, deadline)


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _has_pin(venv: Path) -> bool:
    python = _venv_python(venv)
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-I", "-c", "import requests; print(requests.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0 and probe.stdout.strip() == REQUESTS_PIN.split("==")[1]


def build_venv(venv: Path) -> Path:
    """Make ``venv`` a venv with requests pinned, unless it already is one; returns its python."""
    if _has_pin(venv):
        return _venv_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and renamed into place, so that a half-built venv is never taken for a whole one.
    staging = Path(tempfile.mkdtemp(prefix=venv.name + ".", dir=venv.parent))
    try:
        subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True, capture_output=True, timeout=300)
        pip = [str(_venv_python(staging)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
        done = subprocess.run([*pip, REQUESTS_PIN], capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pip install {REQUESTS_PIN} failed:\n{done.stdout}\n{done.stderr}")
        if venv.exists():
            shutil.rmtree(venv)
        try:
            staging.rename(venv)
        except OSError:  # another process put one there first
            if not _has_pin(venv):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return _venv_python(venv)


_built: dict[str, CloudOracle] = {}  # one venv per process, however many fixtures ask for it


def session_oracle(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> CloudOracle:
    """The process's oracle, its venv built on first use."""
    if not _built:
        chosen = os.environ.get("CLOUD_ORACLE_VENV")
        if chosen:
            venv = Path(chosen)
        elif getattr(config, "cache", None) is not None:
            tag = f"py{sys.version_info[0]}{sys.version_info[1]}-{REQUESTS_PIN}"
            venv = config.cache.mkdir("cloud-oracle") / tag
        else:
            venv = tmp_path_factory.mktemp("cloud-oracle") / "venv"
        _built["oracle"] = CloudOracle(build_venv(venv))
    return _built["oracle"]


@pytest.fixture(scope="session")
def cloud_oracle(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CloudOracle:
    """The Cloud's delivery call, run by requests==2.31.0 in a venv of its own."""
    return session_oracle(request.config, tmp_path_factory)
