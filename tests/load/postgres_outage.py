"""A PostgreSQL restart as its clients see it, without owning the server.

The suites share one PostgreSQL server, so the load suite cannot restart it. What a
restart does to a service is what this proxy does on `restart()`: every open connection
is cut mid-conversation (PostgreSQL aborts the transactions they held, exactly as on a
restart) and new connections are refused until the server is "back up". What was
committed stays committed, as it does across a real restart.

Every database round trip of every service passes through the proxy, so it runs in a
process of its own and relays with asyncio protocols (no task per chunk). In a thread of
the test's process it shared that process's GIL with the load generator, so a relayed
message could wait for the generator (up to the interpreter's 5 ms switch interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy.engine import make_url

from trueup.devstack.runtime.nats_server import free_port

START_SECONDS = 30.0


class PostgresOutage:
    """A TCP proxy to PostgreSQL that can go down and come back like a restarted server."""

    def __init__(self, database_url: str) -> None:
        target = make_url(database_url)
        self._target = (target.host or "127.0.0.1", target.port or 5432)
        self.port = free_port()
        self.restarts = 0
        self.cut_connections = 0
        self._requested = 0
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(self._target, self.port, child), daemon=True
        )

    def through(self, database_url: str) -> str:
        """`database_url` (on the proxied server) as reached through the proxy."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def __enter__(self) -> PostgresOutage:
        self._process.start()
        if not self._control.poll(START_SECONDS):
            self._process.kill()
            raise TimeoutError("the PostgreSQL proxy did not start")
        assert self._control.recv() == ("listening",)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._control.send(("stop",))
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)

    def restart(self, down_seconds: float) -> None:
        """Cut every connection and refuse new ones for `down_seconds`; returns at once."""
        self._control.send(("restart", down_seconds))
        self._requested += 1

    def wait(self) -> None:
        """Wait for restarts in progress; raises when one does not finish."""
        while self._requested:
            if not self._control.poll(60):
                raise TimeoutError("a PostgreSQL restart did not finish within 60 s")
            kind, cut = self._control.recv()
            assert kind == "restarted", kind
            self.cut_connections += cut
            self.restarts += 1
            self._requested -= 1


def _serve(target: tuple[str, int], port: int, control: Connection) -> None:
    asyncio.run(_Proxy(target, port, control).run())


class _Proxy:
    def __init__(self, target: tuple[str, int], port: int, control: Connection) -> None:
        self.target = target
        self.port = port
        self.control = control
        self.server: asyncio.Server | None = None
        self.open: set[_Side] = set()
        """The client side of every proxied connection."""

    async def run(self) -> None:
        await self.listen()
        self.control.send(("listening",))
        restarts: set[asyncio.Task[None]] = set()
        while True:
            command = await asyncio.to_thread(self.control.recv)
            if command[0] == "stop":
                break
            task = asyncio.create_task(self.restart(float(command[1])))
            restarts.add(task)
            task.add_done_callback(restarts.discard)
        for task in restarts:
            task.cancel()
        self.down()

    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Side(self, client=True), "127.0.0.1", self.port
        )

    def down(self) -> int:
        if self.server is not None:
            self.server.close()
            self.server = None
        cut = len(self.open)
        for side in list(self.open):
            side.cut()
        self.open.clear()
        return cut

    async def restart(self, down_seconds: float) -> None:
        cut = self.down()
        await asyncio.sleep(down_seconds)
        await self.listen()
        self.control.send(("restarted", cut))

    async def connect_upstream(self, client: _Side) -> None:
        loop = asyncio.get_running_loop()
        try:
            _transport, server = await loop.create_connection(
                lambda: _Side(self, client=False), *self.target
            )
        except OSError:
            client.cut()
            return
        client.peer, server.peer = server, client
        client.flush()


class _Side(asyncio.Protocol):
    """One end of a proxied connection; what it receives goes out of its peer."""

    def __init__(self, proxy: _Proxy, *, client: bool) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.early: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.client:
            self.proxy.open.add(self)
            asyncio.get_running_loop().create_task(self.proxy.connect_upstream(self))

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            self.early.append(data)
        else:
            peer.transport.write(data)

    def flush(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            for data in self.early:
                self.peer.transport.write(data)
        self.early.clear()

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        # Either side hanging up ends the conversation for both.
        self.proxy.open.discard(self)
        if self.peer is not None:
            self.peer.peer = None
            self.peer.cut()
        self.peer = None

    def cut(self) -> None:
        """An abort, not a polite close: the other end sees the connection reset."""
        self.proxy.open.discard(self)
        if self.transport is not None:
            self.transport.abort()
        if self.peer is not None:
            peer, self.peer = self.peer, None
            peer.peer = None
            peer.cut()
