"""A unix-socket relay that holds every connection until it is released: a server that answers
late, for tests of what its clients do meanwhile. Released, it relays both ways."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path


class HeldProxy:
    """Listens on ``listen``; each connection waits, unanswered, until `release`, then is
    relayed to the unix socket ``target``. ``held`` counts the connections that waited."""

    def __init__(self, listen: Path, target: Path) -> None:
        self.listen = listen
        self.target = target
        self.held = 0
        self._loop = asyncio.new_event_loop()
        self._released = asyncio.Event()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="held-proxy", daemon=True)

    def start(self) -> HeldProxy:
        self._thread.start()
        if not self._started.wait(10):
            raise AssertionError("the proxy did not start")
        return self

    def release(self) -> None:
        self._loop.call_soon_threadsafe(self._released.set)

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def __enter__(self) -> HeldProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_unix_server(self._handle, path=str(self.listen))
        self._started.set()
        async with server:
            await self._stop.wait()
        with contextlib.suppress(FileNotFoundError):
            self.listen.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held += 1
        try:
            await self._released.wait()
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.target))
        except (OSError, asyncio.CancelledError):
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()
