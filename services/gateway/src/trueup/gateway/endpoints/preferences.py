"""The caller's own saved views: read, replace, reset. Nobody reads another's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from trueup.gateway.identity.dependencies import Viewer
from trueup.gateway.preferences import repository
from trueup.gateway.preferences.schemas import MAX_BYTES, ListView, PreferenceName
from trueup.gateway.problems import ProblemError

router = APIRouter(prefix="/api/v1/me/preferences", tags=["preferences"])


async def _bounded_body(request: Request) -> None:
    # The gateway's own limit is for imports' sake far larger; a view is a few hundred
    # bytes. FastAPI has read the body already, so this costs no second read.
    if len(await request.body()) > MAX_BYTES:
        raise ProblemError(
            413, "Content Too Large", f"A preference is at most {MAX_BYTES} bytes of JSON."
        )


@router.get("/{name}", response_model=ListView)
async def preference(name: PreferenceName, request: Request, principal: Viewer) -> ListView:
    """The caller's saved view, or the default when none is saved.

    Not a 404 for "none saved": every first visit would log a failed request in the
    browser's console, and the default is a correct answer.
    """
    async with request.app.state.database.transaction(
        principal.tenant_id, readonly=True
    ) as session:
        value = await repository.get_preference(
            session, principal.tenant_id, principal.subject_id, name
        )
    if value is None:
        return ListView()
    try:
        return ListView.model_validate(value)
    except ValidationError:
        # Saved under an older schema: the default serves better than an error.
        return ListView()


@router.put("/{name}", response_model=ListView)
async def save_preference(
    name: PreferenceName,
    body: ListView,
    request: Request,
    principal: Viewer,
    _bounded: Annotated[None, Depends(_bounded_body)],
) -> ListView:
    """Replace the caller's view (last write wins between devices)."""
    async with request.app.state.database.transaction(principal.tenant_id) as session:
        await repository.save_preference(
            session, principal.tenant_id, principal.subject_id, name, body.model_dump(mode="json")
        )
    return body


@router.delete("/{name}", status_code=204)
async def reset_preference(name: PreferenceName, request: Request, principal: Viewer) -> Response:
    """Forget the caller's view: the default applies again, on every device."""
    async with request.app.state.database.transaction(principal.tenant_id) as session:
        await repository.delete_preference(session, principal.tenant_id, principal.subject_id, name)
    return Response(status_code=204)
