"""A broken receiver for the crash test: the reference receiver, but it answers 2xx before its inbox
write reaches the disk (the write follows half a second later), as a receiver that acknowledges and then
enqueues in memory does. Run as ``python acks_before_storing.py --port N``."""

from __future__ import annotations

import asyncio

from reference_receiver.__main__ import main
from reference_receiver.core import Record
from reference_receiver.inbox import GroupCommit

_store = GroupCommit.store


async def _acknowledge_first(self: GroupCommit, record: Record) -> bool:
    async def later() -> None:
        await asyncio.sleep(0.5)
        await _store(self, record)

    _pending.add(asyncio.create_task(later()))
    return True


_pending: set[asyncio.Task[None]] = set()
GroupCommit.store = _acknowledge_first  # type: ignore[method-assign]

if __name__ == "__main__":
    raise SystemExit(main())
