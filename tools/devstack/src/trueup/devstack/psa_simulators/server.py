"""Run a simulator in a background thread, and drive its `/_simulator` endpoints.

For tests and benchmarks of anything that talks to a PSA:

    with SimulatorServer(create_app()) as server:
        control = SimulatorControl(server.url)
        await control.set_faults(fail_next=2)
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Self

import httpx
import uvicorn
from fastapi import FastAPI


class SimulatorServer:
    """A uvicorn server on 127.0.0.1 (a free port unless given) in a daemon thread."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._config = uvicorn.Config(
            app, host=host, port=port, log_level="critical", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(self._config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321`."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start serving and wait until the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator server did not start")
            time.sleep(0.01)
        sockets = self._server.servers[0].sockets
        self.port = int(sockets[0].getsockname()[1])

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SimulatorControl:
    """Async client of a simulator's control endpoints (faults, write log, edits)."""

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._transport = transport

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(
            base_url=self._base_url, transport=self._transport, timeout=10
        ) as http:
            response = await http.request(method, f"/_simulator{path}", json=body)
            response.raise_for_status()
            return response.json() if response.content else None

    async def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault settings (unnamed settings go back to their defaults)."""
        result: dict[str, Any] = await self._call("PUT", "/faults", faults)
        return result

    async def writes(self) -> list[dict[str, Any]]:
        """Every write the simulator accepted, oldest first."""
        result: list[dict[str, Any]] = await self._call("GET", "/writes")
        return result

    async def clear_writes(self) -> None:
        """Forget the write log."""
        await self._call("DELETE", "/writes")

    async def stats(self) -> dict[str, Any]:
        """Request count, responses by status, write count."""
        result: dict[str, Any] = await self._call("GET", "/stats")
        return result

    async def edit(self, line_item_id: str, field: str, value: Any) -> Any:
        """Change a line item behind the client's back (as a person in the PSA would)."""
        return await self._call(
            "POST", "/edit", {"line_item_id": line_item_id, "field": field, "value": value}
        )
