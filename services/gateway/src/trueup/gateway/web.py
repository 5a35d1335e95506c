"""Serves the built web UI (Vite output) from the gateway, with SPA fallback."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from trueup.gateway.problems import ProblemError

STATIC = Path(__file__).parent / "static"

_NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>TrueUp</title></head><body style="font-family:system-ui;margin:3rem">
<h1>TrueUp</h1><p>The web UI has not been built. <code>./task up</code> builds it
(it needs Node.js); the API is at <a href="/docs">/docs</a>.</p></body></html>"""


def mount_web_app(app: FastAPI) -> None:
    """Serve `static/` at `/`; unknown non-API paths get `index.html` (client routing)."""
    assets = STATIC / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="assets")

    @app.get("/{path:path}", include_in_schema=False)
    async def web_app(path: str) -> Response:
        if path.startswith(("api/", "webhooks/")):
            raise ProblemError(404, "Not Found", f"No such endpoint: /{path}")
        candidate = (STATIC / path).resolve()
        if path and candidate.is_file() and STATIC.resolve() in candidate.parents:
            return FileResponse(candidate)
        index = STATIC / "index.html"
        if index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(_NOT_BUILT)
