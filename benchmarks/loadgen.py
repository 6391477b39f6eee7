"""The load: a distinct event per request, sent by wrk, or by a fallback generator on a machine without wrk.

The fallback is one asyncio loop in one Python process: at 50 keep-alive connections it may well be slower
than the server it measures, so its figures are a lower bound on the server's throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import median, percentile

from harness.payloads.deliveries import encode
from harness.payloads.schemas import sample_data

__all__ = ["CONNECTIONS", "Load", "body_parts", "parse_wrk", "python_load", "site_name", "wrk_load"]

CONNECTIONS = 50
_NAME = "@@NAME@@"
#: wrk's default: a request not answered within 2 s is counted as a timeout.
TIMEOUT = 2.0


@dataclass(frozen=True)
class Load:
    """What one load run measured; latencies in seconds."""

    tool: str
    requests: int
    seconds: float
    p50: float
    p99: float
    non2xx: int
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors


def body_parts() -> tuple[str, str]:
    """A Site Status Update as the Cloud encodes it, split around its site name: put a new name between."""
    data = {**sample_data("Site Status Update"), "name": _NAME, "modified": "2025-03-01 10:09:34.381793"}
    prefix, suffix = encode("Site Status Update", data).decode("ascii").split(_NAME)
    return prefix, suffix


def site_name(tag: str, connection: int, n: int) -> str:
    return f"bench-{tag}-{connection}-{n}.example.com"


# --- wrk ---------------------------------------------------------------------------------------------

LUA = """-- written by benchmarks/loadgen.py: a distinct Site Status Update per request
local prefix = [==[%(prefix)s]==]
local suffix = [==[%(suffix)s]==]
local headers = {["Content-Type"] = "application/json", ["X-Webhook-Secret"] = "%(secret)s"%(close)s}
local threads, next_id = {}, 0

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  sent, non2xx = 0, 0
end

function request()
  sent = sent + 1
  local name = "bench-%(tag)s-" .. id .. "-" .. sent .. ".example.com"
  return wrk.format("POST", "/webhook", headers, prefix .. name .. suffix)
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad, built = 0, 0
  for _, thread in ipairs(threads) do
    bad, built = bad + thread:get("non2xx"), built + thread:get("sent")
  end
  io.write(string.format("BENCH non2xx=%%d built=%%d\\n", bad, built))
end
"""


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> Load:
    """The figures of wrk's report (``--latency``) and of our Lua ``done()``."""
    found = re.search(r"(\d+) requests in ([\d.]+\w+),", output)
    if not found:
        raise RuntimeError(f"wrk printed no summary:\n{output[-2000:]}")
    quantiles = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", output, re.MULTILINE))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    lua = re.search(r"BENCH non2xx=(\d+)", output)
    return Load(
        "wrk",
        int(found[1]),
        _duration(found[2]),
        _duration(quantiles["50"]),
        _duration(quantiles["99"]),
        max(int(non2xx[1]) if non2xx else 0, int(lua[1]) if lua else 0),
        sum(map(int, socket_errors.groups())) if socket_errors else 0,
    )


def wrk_load(port: int, secret: str, tag: str, seconds: float, tmp: Path, close: bool = False) -> Load:
    """wrk -t2 -c50 for ``seconds``; with ``close``, each request says ``Connection: close``, so the receiver
    closes after each answer and wrk opens a new connection for the next (as the Cloud does, without the header)."""
    prefix, suffix = body_parts()
    script = tmp / f"{tag}.lua"
    header = ', ["Connection"] = "close"' if close else ""
    script.write_text(LUA % {"prefix": prefix, "suffix": suffix, "secret": secret, "tag": tag, "close": header})
    script.chmod(0o600)
    argv = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency", "-s", str(script)]
    done = subprocess.run(  # noqa: S603 - wrk, on loopback
        [*argv, f"http://127.0.0.1:{port}/webhook"], capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited with {done.returncode}: {done.stderr[-1000:]}")
    return parse_wrk(done.stdout)


# --- the fallback ------------------------------------------------------------------------------------


@dataclass
class _Tally:
    latencies: list[float]
    non2xx: int = 0
    socket_errors: int = 0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server closes the connection); the body is read and dropped."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower().split("\r\n")
    version, status = head[0].split(" ")[:2]
    fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
    await reader.readexactly(int(fields.get("content-length", "0")))
    closes = fields.get("connection", "").strip() == "close" or version == "http/1.0"
    return int(status), closes


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connection(port: int, secret: str, tag: str, index: int, until: float, tally: _Tally) -> None:
    """One keep-alive connection sending deliveries one after the other until ``until``; reopened if closed."""
    prefix, suffix = body_parts()
    stream: Stream | None = None
    n = 0
    while time.monotonic() < until:
        n += 1
        data = _request(port, secret, f"{prefix}{site_name(tag, index, n)}{suffix}".encode())
        started = time.perf_counter()
        try:
            if stream is None:
                stream = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
            reader, writer = stream
            writer.write(data)
            status, closes = await asyncio.wait_for(_read_response(reader), TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            tally.socket_errors += 1
            stream = _closed(stream)
            await asyncio.sleep(0.01)
            continue
        tally.latencies.append(time.perf_counter() - started)
        tally.non2xx += not 200 <= status < 300
        if closes:
            stream = _closed(stream)
    _closed(stream)


def _request(port: int, secret: str, body: bytes) -> bytes:
    return (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"X-Webhook-Secret: {secret}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _closed(stream: Stream | None) -> Stream | None:
    """Close the connection, if any, and return the stream to use next: none, so a new one is opened."""
    if stream is not None:
        with contextlib.suppress(OSError, RuntimeError):
            stream[1].close()
    return None


async def _load(port: int, secret: str, tag: str, connections: int, seconds: float) -> tuple[_Tally, float]:
    tally = _Tally([])
    started = time.monotonic()
    until = started + seconds
    tasks = [_connection(port, secret, tag, i, until, tally) for i in range(connections)]
    await asyncio.wait_for(asyncio.gather(*tasks), seconds + 3 * TIMEOUT)
    return tally, time.monotonic() - started


def python_load(port: int, secret: str, tag: str, connections: int, seconds: float) -> Load:
    """POST a distinct delivery on each of ``connections`` keep-alive connections for ``seconds``."""
    tally, elapsed = asyncio.run(_load(port, secret, tag, connections, seconds))
    latencies = tally.latencies or [0.0]
    return Load(
        "python fallback (may itself be the bottleneck)",
        len(tally.latencies),
        elapsed,
        median(latencies),
        percentile(latencies, 0.99),
        tally.non2xx,
        tally.socket_errors,
    )
