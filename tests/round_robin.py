"""A loopback TCP load balancer for tests and benchmarks: each new connection goes to the next backend in
turn, and to the one after it when that one refuses, as a load balancer's retry on connect errors does.

It forwards bytes, nothing else: the replicas see what the client sent. One asyncio loop on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator, Sequence

__all__ = ["RoundRobin", "round_robin"]


class RoundRobin:
    def __init__(self, backends: Sequence[int]) -> None:
        self.backends = list(backends)
        self._turn = itertools.count()
        self.port = 0
        #: Connections sent to each backend port.
        self.sent: dict[int, int] = dict.fromkeys(self.backends, 0)

    async def _pick(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        first = next(self._turn)
        for step in range(len(self.backends)):
            port = self.backends[(first + step) % len(self.backends)]
            try:
                opened = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
            except (OSError, TimeoutError):
                continue
            self.sent[port] += 1
            return opened
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._pick()
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                if sink.can_write_eof():
                    sink.write_eof()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:  # the balancer is stopping: the connection ends with it
            pass
        finally:
            for w in (writer, up_writer):
                w.close()

    def serve(self, started: threading.Event, stop: threading.Event) -> None:
        async def main() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=2048)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            server.close()

        asyncio.run(main())


@contextlib.contextmanager
def round_robin(backends: Sequence[int]) -> Iterator[RoundRobin]:
    """A balancer on 127.0.0.1 in front of ``backends`` (ports) for the length of the block."""
    balancer = RoundRobin(backends)
    started, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=balancer.serve, args=(started, stop), name="round-robin", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the round-robin balancer did not start")
    try:
        yield balancer
    finally:
        stop.set()
        thread.join(10)
