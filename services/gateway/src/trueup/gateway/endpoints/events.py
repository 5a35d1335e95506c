"""`GET /api/v1/events`: live card changes for the caller's tenant (server-sent events)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from trueup.gateway.identity.dependencies import Viewer
from trueup.gateway.live import LiveHub, event_stream

router = APIRouter(prefix="/api/v1", tags=["live"])


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
    summary="Live card changes",
)
async def events(request: Request, principal: Viewer) -> StreamingResponse:
    """`event: cards.changed` with `data: {"card_ids": [...], "reason": "..."}` as usage, PSA
    and writeback events arrive."""
    hub: LiveHub = request.app.state.live

    async def frames() -> AsyncIterator[str]:
        async with hub.subscribe(principal.tenant_id) as queue:
            async for frame in event_stream(queue):
                if await request.is_disconnected():
                    return
                yield frame

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
