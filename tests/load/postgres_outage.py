"""A PostgreSQL restart as its clients see it, without owning the server.

The suites share one PostgreSQL server, so the load suite cannot restart it. What a
restart does to a service is what this proxy does on `restart()`: every open connection
is cut mid-conversation (PostgreSQL aborts the transactions they held, exactly as on a
restart) and new connections are refused until the server is "back up". What was
committed stays committed, as it does across a real restart.

The proxy runs its own event loop in a thread, so a busy test loop never slows the
service's database traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future

from sqlalchemy.engine import make_url

from trueup.devstack.runtime.nats_server import free_port


class PostgresOutage:
    """A TCP proxy to PostgreSQL that can go down and come back like a restarted server."""

    def __init__(self, database_url: str) -> None:
        target = make_url(database_url)
        self._target = (target.host or "127.0.0.1", target.port or 5432)
        self.port = free_port()
        self.restarts = 0
        self.cut_connections = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._pending: list[Future[None]] = []

    def through(self, database_url: str) -> str:
        """`database_url` (on the proxied server) as reached through the proxy."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def __enter__(self) -> PostgresOutage:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        for pending in self._pending:
            pending.cancel()
        asyncio.run_coroutine_threadsafe(self._down(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def restart(self, down_seconds: float) -> None:
        """Cut every connection and refuse new ones for `down_seconds`; returns at once."""
        self._pending.append(
            asyncio.run_coroutine_threadsafe(self._restart(down_seconds), self._loop)
        )

    def wait(self) -> None:
        """Wait for restarts in progress; raises what went wrong in one."""
        for pending in self._pending:
            pending.result(timeout=60)
        self._pending.clear()

    async def _restart(self, down_seconds: float) -> None:
        await self._down()
        await asyncio.sleep(down_seconds)
        await self._listen()
        self.restarts += 1

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._open):
            # An abort, not a polite close: the client sees the connection reset.
            writer.transport.abort()
            self.cut_connections += 1
        self._open.clear()

    async def _connect(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        try:
            server_in, server = await asyncio.open_connection(*self._target)
        except OSError:
            client.transport.abort()
            return
        pair = {client, server}
        self._open |= pair
        pipes = [
            asyncio.create_task(_pipe(client_in, server)),
            asyncio.create_task(_pipe(server_in, client)),
        ]
        try:
            # Either side hanging up ends the conversation for both.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._open -= pair
            for writer in pair:
                writer.transport.abort()
            for pipe in pipes:
                pipe.cancel()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
